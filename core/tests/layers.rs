//! The crate's dependencies point down: server → web → domain → the
//! lower modules (tenant, notify, document, plugin, security, store). The
//! test reads every source file and fails on a `crate::` reference that
//! climbs, and on a web file that reaches into another web file other
//! than the shared views and extractors.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const LOWER: &[&str] = &[
    "store", "security", "document", "tenant", "notify", "plugin",
];
const DOMAIN: &[&str] = &[
    "account",
    "appeal",
    "application",
    "content",
    "office",
    "workflow",
];
/// What each lower module may use: its own layer is ordered too, so no
/// circle forms among them.
fn lower_may_use(module: &str) -> &'static [&'static str] {
    match module {
        "store" => &[],
        "security" => &["store"],
        "document" => &["security", "store"],
        "tenant" => &["document", "security", "store"],
        "notify" => &["tenant", "security", "store"],
        "plugin" => &["tenant", "security", "store"],
        _ => &[],
    }
}
/// Web files another web file may import: the shared views, the posted
/// form reader and the error type (and `web/mod.rs` itself, as `super::`).
const WEB_SHARED: &[&str] = &["shared", "posted", "error"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("readable src").flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The code of a file without its comments' lines, so a doc link is not
/// taken for an import.
fn code(p: &Path) -> String {
    std::fs::read_to_string(p)
        .expect("readable file")
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The names following `prefix` (`crate::` or `super::`) in `text`.
fn uses_after(text: &str, prefix: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find(prefix) {
        let before = rest[..i].chars().next_back();
        rest = &rest[i + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            out.insert(name);
        }
    }
    out
}

/// `use super::{a, b::c}` lists: the first segment of each item.
fn super_group_uses(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("super::{") {
        rest = &rest[i + "super::{".len()..];
        let Some(end) = rest.find('}') else { break };
        for item in rest[..end].split(',') {
            let first: String = item
                .trim()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !first.is_empty() {
                out.insert(first);
            }
        }
    }
    out
}

fn violations() -> Vec<String> {
    let root = src();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    files.sort();
    let web_files: BTreeSet<String> = std::fs::read_dir(root.join("web"))
        .expect("web folder")
        .flatten()
        .filter_map(|e| {
            e.path()
                .file_stem()
                .and_then(|s| s.to_str())
                .map(str::to_string)
        })
        .collect();
    let mut bad = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(&root).unwrap();
        let module = rel
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .unwrap_or("")
            .trim_end_matches(".rs")
            .to_string();
        if module == "lib" || module == "main" || module == "server" {
            continue;
        }
        let text = code(f);
        let used = uses_after(&text, "crate::");
        for u in &used {
            if *u == module
                || !(LOWER.contains(&u.as_str())
                    || DOMAIN.contains(&u.as_str())
                    || u == "web"
                    || u == "server")
            {
                continue;
            }
            let allowed = if LOWER.contains(&module.as_str()) {
                lower_may_use(&module).contains(&u.as_str())
            } else if DOMAIN.contains(&module.as_str()) {
                LOWER.contains(&u.as_str()) || DOMAIN.contains(&u.as_str())
            } else if module == "web" {
                u != "server"
            } else {
                false
            };
            if !allowed {
                bad.push(format!("{}: {module} uses crate::{u}", rel.display()));
            }
        }
        // Inside web, a file's `super::x` naming another web file.
        if module == "web" && rel.components().count() == 2 {
            let me = f.file_stem().and_then(|s| s.to_str()).unwrap_or("");
            let mut sup = uses_after(&text, "super::");
            sup.extend(super_group_uses(&text));
            for s in sup {
                if s != me
                    && web_files.contains(&s)
                    && s != "mod"
                    && !WEB_SHARED.contains(&s.as_str())
                {
                    bad.push(format!("{}: web/{me} uses web/{s}", rel.display()));
                }
            }
        }
    }
    bad
}

#[test]
fn dependencies_point_down() {
    let bad = violations();
    assert!(
        bad.is_empty(),
        "imports that climb or cross:\n{}",
        bad.join("\n")
    );
}

/// The checker itself sees a climbing import, so the test above cannot
/// pass by reading nothing.
#[test]
fn the_checker_sees_an_import() {
    let found = uses_after(
        "use crate::web::templates;\nlet x = crate::store::now();",
        "crate::",
    );
    assert_eq!(
        found,
        BTreeSet::from(["web".to_string(), "store".to_string()])
    );
    let grouped = super_group_uses("use super::{office::render, shared, posted::read};");
    assert!(grouped.contains("office") && grouped.contains("shared"));
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    assert!(files.len() > 30, "read {} files", files.len());
}
