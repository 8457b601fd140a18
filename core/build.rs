//! Embeds `templates/` and `migrations/` into the binary, so one `tapline`
//! file runs anywhere; tenants still override templates from their folders.

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
}
