//! Plugin host benchmarks (`cargo bench -p tapline --bench plugins`):
//! a validate-profile call with 20 fields on a fresh instance and on a
//! reused one, loading a plugin from the precompiled cache, and the
//! resident memory of a host with the five demo tenants' plugins loaded.
//!
//! Needs the plugins built (any `cargo build -p tapline` does it).

use criterion::{Criterion, criterion_group};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tapline::plugin::types::{Hook, Profile};
use tapline::plugin::{CallContext, HostConfig, MemorySequences, PluginHost};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn wasm(name: &str) -> PathBuf {
    root()
        .join("target/wasm/wasm32-wasip2/release")
        .join(format!("{name}.wasm"))
}

fn ctx() -> CallContext {
    CallContext {
        tenant: "bench".into(),
        settings: Arc::new(BTreeMap::new()),
        sequences: Arc::new(MemorySequences::default()),
        timeout: Duration::from_millis(200),
        memory: 32 << 20,
        clock: None,
    }
}

fn profile20() -> Hook {
    Hook::ValidateProfile(Profile {
        applicant_type: "legal".into(),
        fields: (0..20)
            .map(|i| (format!("field_{i:02}"), format!("значение {i}")))
            .collect(),
    })
}

fn calls(c: &mut Criterion) {
    let host = PluginHost::new(HostConfig::default()).unwrap();
    let loaded = host.load(&wasm("test_echo")).unwrap();
    let ctx = ctx();
    let hook = profile20();
    c.bench_function("validate_profile_20_fields_fresh_instance", |b| {
        b.iter(|| host.call_blocking(&loaded, &ctx, &hook).unwrap())
    });
    let mut live = host.instantiate(&loaded, &ctx).unwrap();
    c.bench_function("validate_profile_20_fields_reused_instance", |b| {
        b.iter(|| live.call(&hook).unwrap())
    });
    // The floor of a call: what the 20 fields add is the canonical ABI
    // moving 40 strings (one guest allocation each) and freeing them.
    let empty = Hook::ValidateProfile(Profile {
        applicant_type: "legal".into(),
        fields: BTreeMap::new(),
    });
    c.bench_function("validate_profile_0_fields_reused_instance", |b| {
        b.iter(|| live.call(&empty).unwrap())
    });
}

fn loading(c: &mut Criterion) {
    let cache = root().join("target/bench-plugin-cache");
    let host = PluginHost::new(HostConfig {
        cache_dir: Some(cache),
        ..HostConfig::default()
    })
    .unwrap();
    let file = wasm("setevaya");
    host.load(&file).unwrap(); // fills the cache
    c.bench_function("load_plugin_from_precompiled_cache", |b| {
        b.iter(|| host.load(&file).unwrap())
    });
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

/// Not a timing: how much resident memory the engine and five loaded
/// plugins (each run once) take.
fn resident_memory() {
    let before = rss_kib();
    let host = PluginHost::new(HostConfig {
        cache_dir: Some(root().join("target/bench-plugin-cache")),
        ..HostConfig::default()
    })
    .unwrap();
    let after_engine = rss_kib();
    let mut keep = Vec::new();
    for slug in [
        "kazenergo",
        "kvadra",
        "vodokanal",
        "setevaya",
        "almatyenergosbyt",
    ] {
        let l = host.load(&wasm(slug)).unwrap();
        host.call_blocking(&l, &ctx(), &profile20()).unwrap();
        keep.push(l);
    }
    let after = rss_kib();
    println!(
        "resident memory: engine {} KiB, five demo plugins loaded and called once {} KiB more (process RSS {} KiB)",
        after_engine.saturating_sub(before),
        after.saturating_sub(after_engine),
        after
    );
}

criterion_group!(benches, calls, loading);

fn main() {
    resident_memory();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
