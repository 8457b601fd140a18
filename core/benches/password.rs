//! Time per password hash with the production argon2id parameters
//! (`cargo bench -p tapline --bench password`).

use criterion::{Criterion, criterion_group, criterion_main};

fn hash(c: &mut Criterion) {
    let mut g = c.benchmark_group("password");
    g.sample_size(20);
    g.bench_function("argon2id_hash", |b| {
        b.iter(|| tapline::account::password::hash_blocking("correct horse battery staple 1"))
    });
    g.finish();
}

criterion_group!(benches, hash);
criterion_main!(benches);
