//! Time to write the office's export of 10,000 queue rows as CSV and as
//! XLSX, cells already made (`cargo bench -p tapline --bench export`): the
//! part of an export that is the format's own, apart from reading the rows.

use criterion::{Criterion, criterion_group, criterion_main};
use tapline::office::export;

/// Cells the size and script of a real queue row.
fn rows() -> Vec<Vec<String>> {
    (0..10_000)
        .map(|i| {
            vec![
                format!("ТС-2026-{i:06}"),
                "Подключение к сетям теплоснабжения".into(),
                "Казань".into(),
                format!("г. Казань, ул. Баумана, д. {}, кв. {}", i % 97, i % 13),
                format!("Иванов Иван Иванович {i}"),
                "Физическое лицо".into(),
                format!("СНИЛС 123-456-789 {:02}", i % 100),
                format!("applicant{i}@example.ru"),
                "+7 (900) 123-45-67".into(),
                "На рассмотрении".into(),
                "2026-11-30".into(),
                "2026-12-14".into(),
                if i % 7 == 0 {
                    "да".into()
                } else {
                    String::new()
                },
                "Оператор 3".into(),
            ]
        })
        .collect()
}

fn export(c: &mut Criterion) {
    let rows = rows();
    let mut g = c.benchmark_group("export_10k_rows");
    g.sample_size(20);
    g.bench_function("csv", |b| {
        b.iter(|| export::write_csv(&mut std::io::sink(), rows.iter().cloned()).unwrap())
    });
    g.bench_function("xlsx", |b| {
        b.iter(|| export::write_xlsx(&mut std::io::sink(), rows.iter().cloned()).unwrap())
    });
    g.finish();
}

criterion_group!(benches, export);
criterion_main!(benches);
