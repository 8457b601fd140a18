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
    "signing",
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

/// Every module path a file's code names, resolved from the crate root:
/// `crate::a::b`, `super::…` (from where the file sits), and the items of
/// `use crate::{a, b::c}` groups, nested ones included. `here` is the
/// file's own module path (`["office", "card"]`; a `mod.rs` is its folder).
fn paths_used(text: &str, here: &[String]) -> Vec<Vec<String>> {
    let bytes: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let ident_at = |i: usize| -> (String, usize) {
        let mut j = i;
        while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == '_') {
            j += 1;
        }
        (bytes[i..j].iter().collect(), j)
    };
    let skip_ws = |mut i: usize| {
        while i < bytes.len() && bytes[i].is_whitespace() {
            i += 1;
        }
        i
    };
    let sep = |i: usize| -> Option<usize> {
        let i = skip_ws(i);
        (i + 1 < bytes.len() && bytes[i] == ':' && bytes[i + 1] == ':').then(|| skip_ws(i + 2))
    };
    // The items of a `{…}` group starting at `i` (just after `{`), each as
    // its path segments, prefixed by `base`.
    fn group(bytes: &[char], mut i: usize, base: &[String], out: &mut Vec<Vec<String>>) -> usize {
        let mut path: Vec<String> = Vec::new();
        loop {
            while i < bytes.len() && (bytes[i].is_whitespace() || bytes[i] == ',') {
                if bytes[i] == ',' && !path.is_empty() {
                    out.push([base, &path[..]].concat());
                    path.clear();
                }
                i += 1;
            }
            if i >= bytes.len() {
                return i;
            }
            match bytes[i] {
                '}' => {
                    if !path.is_empty() {
                        out.push([base, &path[..]].concat());
                    }
                    return i + 1;
                }
                '{' => {
                    let inner: Vec<String> = [base, &path[..]].concat();
                    i = group(bytes, i + 1, &inner, out);
                    path.clear();
                }
                ':' => i += 1,
                c if c.is_ascii_alphanumeric() || c == '_' => {
                    let start = i;
                    while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == '_') {
                        i += 1;
                    }
                    let word: String = bytes[start..i].iter().collect();
                    if word == "as" {
                        // `x as y`: the alias is not a path.
                        while i < bytes.len() && bytes[i].is_whitespace() {
                            i += 1;
                        }
                        while i < bytes.len()
                            && (bytes[i].is_ascii_alphanumeric() || bytes[i] == '_')
                        {
                            i += 1;
                        }
                    } else if word != "self" {
                        path.push(word);
                    }
                }
                _ => i += 1,
            }
        }
    }
    let mut i = 0;
    while i < bytes.len() {
        let boundary = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == '_');
        let (word, end) = ident_at(i);
        if !boundary || (word != "crate" && word != "super") {
            i = if word.is_empty() { i + 1 } else { end };
            continue;
        }
        // Resolve the start: crate root, or up from here once per super.
        let mut base: Vec<String> = if word == "crate" {
            Vec::new()
        } else {
            here[..here.len().saturating_sub(1)].to_vec()
        };
        let mut j = end;
        while let Some(k) = sep(j) {
            if bytes.get(k) == Some(&'{') {
                j = group(&bytes, k + 1, &base, &mut out);
                base.clear();
                break;
            }
            let (next, e) = ident_at(k);
            if next.is_empty() {
                break;
            }
            if next == "super" {
                base.pop();
                j = e;
                continue;
            }
            base.push(next);
            j = e;
        }
        if !base.is_empty() {
            out.push(base);
        }
        i = j.max(end);
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
        let mut here: Vec<String> = rel
            .with_extension("")
            .components()
            .filter_map(|c| c.as_os_str().to_str().map(str::to_string))
            .collect();
        if here.last().is_some_and(|l| l == "mod") {
            here.pop();
        }
        let Some(module) = here.first().cloned() else {
            continue;
        };
        if module == "lib" || module == "main" || module == "server" {
            continue;
        }
        let text = code(f);
        let mut seen = BTreeSet::new();
        for path in paths_used(&text, &here) {
            let Some(u) = path.first() else { continue };
            let known = LOWER.contains(&u.as_str())
                || DOMAIN.contains(&u.as_str())
                || u == "web"
                || u == "server";
            if *u != module && known {
                let allowed = if LOWER.contains(&module.as_str()) {
                    lower_may_use(&module).contains(&u.as_str())
                } else if DOMAIN.contains(&module.as_str()) {
                    LOWER.contains(&u.as_str()) || DOMAIN.contains(&u.as_str())
                } else if module == "web" {
                    u != "server"
                } else {
                    false
                };
                if !allowed && seen.insert(format!("{module}->{u}")) {
                    bad.push(format!("{}: {module} uses crate::{u}", rel.display()));
                }
            }
            // Inside web, one web file naming another.
            if module == "web" && *u == "web" && here.len() >= 2 {
                let me = &here[1];
                if let Some(other) = path.get(1)
                    && other != me
                    && web_files.contains(other)
                    && other != "mod"
                    && !WEB_SHARED.contains(&other.as_str())
                    && seen.insert(format!("web/{me}->web/{other}"))
                {
                    bad.push(format!("{}: web/{me} uses web/{other}", rel.display()));
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

/// The checker itself sees climbing imports in every spelling the code
/// could use, so the test above cannot pass by reading nothing.
#[test]
fn the_checker_sees_an_import() {
    let here = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let firsts = |text: &str, at: &[&str]| -> BTreeSet<String> {
        paths_used(text, &here(at))
            .into_iter()
            .filter_map(|p| p.first().cloned())
            .collect()
    };
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(
        firsts(
            "use crate::web::templates;\nlet x = crate::store::now();",
            &["tenant"]
        ),
        set(&["web", "store"])
    );
    assert_eq!(
        firsts("use crate::{store, web::x};", &["tenant"]),
        set(&["store", "web"])
    );
    assert_eq!(
        firsts("use crate::{a::{b, c}, web::{x, y}};", &["tenant"]),
        set(&["a", "web"])
    );
    // From office/card.rs, super is office and super::super the root.
    assert_eq!(
        firsts("use super::super::web::x;", &["office", "card"]),
        set(&["web"])
    );
    assert_eq!(
        firsts("use super::queue::Row;", &["office", "card"]),
        set(&["office"])
    );
    // From web/office.rs, super is web: the second segment names the file.
    let p = paths_used(
        "use super::{shared::render, applications::x};",
        &here(&["web", "office"]),
    );
    assert!(p.contains(&here(&["web", "applications", "x"])), "{p:?}");
    let p = paths_used("crate :: web :: applications::x", &here(&["web", "office"]));
    assert!(p.contains(&here(&["web", "applications", "x"])), "{p:?}");
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    assert!(files.len() > 30, "read {} files", files.len());
}

/// A handler parses, calls and renders: the use case it calls owns the
/// transaction, so no web file opens one (`Db::begin`, or the pool's).
#[test]
fn no_handler_opens_a_transaction() {
    let mut files = Vec::new();
    rust_files(&src().join("web"), &mut files);
    assert!(files.len() > 5, "the web files are read");
    let opening: Vec<String> = files
        .iter()
        .filter(|p| code(p).contains(".begin()"))
        .map(|p| p.display().to_string())
        .collect();
    assert!(
        opening.is_empty(),
        "web files opening a transaction: {opening:?}"
    );
}

/// The functions of a file's code, each with its length in lines: from
/// the `fn` line to the closing brace at the same indentation.
fn function_lengths(code: &str) -> Vec<(String, usize)> {
    let lines: Vec<&str> = code.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let indent = &line[..line.len() - line.trim_start().len()];
        let mut head = line.trim_start();
        // Visibility (`pub`, `pub(crate)`, `pub(super)`…) and qualifiers.
        loop {
            let before = head;
            if let Some(r) = head.strip_prefix("pub(") {
                head = r.split_once(") ").map_or(r, |(_, rest)| rest);
            }
            for q in ["pub ", "const ", "async ", "unsafe ", "extern \"C\" "] {
                head = head.strip_prefix(q).unwrap_or(head);
            }
            if head == before {
                break;
            }
        }
        if let Some(rest) = head.strip_prefix("fn ") {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let end = format!("{indent}}}");
            // A declaration without a body (a trait's) ends at its `;`.
            let len = lines[i..]
                .iter()
                .position(|l| *l == end || (l.ends_with(';') && !l.contains('{') && *l == line))
                .unwrap_or_else(|| panic!("no end found for `fn {name}`"));
            out.push((name, len + 1));
            i += len;
        }
        i += 1;
    }
    out
}

/// Handlers parse, call and render: no function of a web file is longer
/// than 60 lines (comments not counted).
#[test]
fn no_web_function_is_longer_than_sixty_lines() {
    let sample = "fn a() {\n    x();\n}\n    async fn b(\n        y: u8,\n    ) {\n        z();\n    }\n\
                  pub(super) async fn c() {\n}\n";
    assert_eq!(
        function_lengths(sample),
        [
            ("a".to_string(), 3),
            ("b".to_string(), 5),
            ("c".to_string(), 2)
        ]
    );
    let mut files = Vec::new();
    rust_files(&src().join("web"), &mut files);
    let mut long = Vec::new();
    let mut seen = 0;
    for p in &files {
        for (name, len) in function_lengths(&code(p)) {
            seen += 1;
            if len > 60 {
                long.push(format!("{}::{name}: {len} lines", p.display()));
            }
        }
    }
    assert!(seen > 100, "the web files' functions are read ({seen})");
    assert!(long.is_empty(), "too long: {long:?}");
}
