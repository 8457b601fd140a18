//! Embeds `templates/` and `migrations/` into the binary, so one `tapline`
//! file runs anywhere; tenants still override templates from their folders.
//!
//! Also builds the guest crates under `plugins/` for wasm32-wasip2 (their
//! own workspace and target folder) and puts each demo tenant's plugin at
//! `tenants/<slug>/plugin.wasm`, so `cargo run -p tapline -- serve` needs no
//! manual step. `TAPLINE_SKIP_PLUGIN_BUILD=1` skips it.

use std::fmt::Write;
use std::path::{Path, PathBuf};

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn embed(root: &Path, name: &str, code: &mut String) {
    let mut files = Vec::new();
    walk(root, &mut files);
    files.sort();
    writeln!(code, "pub static {name}: &[(&str, &str)] = &[").unwrap();
    for f in files {
        let rel = f
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        writeln!(
            code,
            "    ({rel:?}, include_str!({:?})),",
            f.canonicalize().unwrap()
        )
        .unwrap();
    }
    writeln!(code, "];").unwrap();
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest.parent().unwrap();
    let mut code = String::new();
    for (dir, name) in [
        ("templates", "TEMPLATES"),
        ("migrations/sqlite", "MIGRATIONS_SQLITE"),
        ("migrations/postgres", "MIGRATIONS_POSTGRES"),
    ] {
        let p = root.join(dir);
        println!("cargo:rerun-if-changed={}", p.display());
        embed(&p, name, &mut code);
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("embedded.rs");
    std::fs::write(out, code).unwrap();
    build_plugins(root);
}

const WASM_TARGET: &str = "wasm32-wasip2";

/// Whether the toolchain building us has the guest target's standard library.
fn wasm_target_installed() -> bool {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = std::process::Command::new(rustc)
        .args(["--print", "target-libdir", "--target", WASM_TARGET])
        .output()
    else {
        return false;
    };
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    std::fs::read_dir(dir).is_ok_and(|rd| {
        rd.flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("libstd-"))
    })
}

/// rustup (1.29) installs a toolchain file's `targets` only with a toolchain
/// it installs, not for one already there, so a fresh clone usually lacks
/// the guest target. Without it the nested build fails only after the host
/// crates have compiled; adding it here (this script has no dependencies
/// and runs before `core` compiles) costs seconds instead.
fn ensure_wasm_target() {
    if wasm_target_installed() {
        return;
    }
    println!(
        "cargo:warning=the {WASM_TARGET} target is missing; adding it with `rustup target add {WASM_TARGET}`"
    );
    // RUSTUP_TOOLCHAIN, set by rustup's cargo proxy, points rustup at the
    // toolchain this build runs on.
    let added = std::process::Command::new("rustup")
        .args(["target", "add", WASM_TARGET])
        .status()
        .is_ok_and(|s| s.success());
    if !added || !wasm_target_installed() {
        panic!(
            "the demo plugins build for {WASM_TARGET}, and that target is not installed for this toolchain.\n\
             Install it with `rustup target add {WASM_TARGET}` (or build with TAPLINE_SKIP_PLUGIN_BUILD=1 \
             and bring your own tenants/<slug>/plugin.wasm)."
        );
    }
}

const DEMO_TENANTS: &[&str] = &[
    "kazenergo",
    "kvadra",
    "vodokanal",
    "setevaya",
    "almatyenergosbyt",
];

fn build_plugins(root: &Path) {
    println!("cargo:rerun-if-env-changed=TAPLINE_SKIP_PLUGIN_BUILD");
    for dir in ["plugins", "sdk/rust", "sdk/wit", "sdk/ids/src"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    if std::env::var_os("TAPLINE_SKIP_PLUGIN_BUILD").is_some() {
        return;
    }
    ensure_wasm_target();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target_dir = root.join("target").join("wasm");
    let mut cmd = std::process::Command::new(cargo);
    cmd.current_dir(root.join("plugins"))
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(&target_dir);
    // The outer build's settings (wrappers, flags, jobserver, profile) are
    // for the host; the guests get their own.
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().to_string();
        if (k.starts_with("CARGO_") && k != "CARGO_HOME")
            || k.starts_with("RUSTC")
            || k == "RUSTFLAGS"
            || k == "RUSTDOCFLAGS"
        {
            cmd.env_remove(&k);
        }
    }
    let out = cmd.output().expect("running cargo for the plugins");
    if !out.status.success() {
        panic!(
            "building plugins/ for wasm32-wasip2 failed (is the target installed? `rustup target add wasm32-wasip2`):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let built = target_dir.join("wasm32-wasip2").join("release");
    for slug in DEMO_TENANTS {
        let from = built.join(format!("{slug}.wasm"));
        let to = root.join("tenants").join(slug).join("plugin.wasm");
        let new = std::fs::read(&from).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
        // Rewritten only when changed: a running server reloads on change.
        if std::fs::read(&to).ok().as_deref() != Some(&new[..]) {
            std::fs::write(&to, new).unwrap();
        }
    }
}
