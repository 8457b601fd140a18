//! A tenant's signature trust, read once when the tenant loads: anchors,
//! the operator's CRL files and the revocation policy of `[signature]`.
//! Everything wrong with them is a [`super::Problem`] for `tapline check`.

use super::config::TenantFile;
use std::ops::Range;
use std::path::{Path, PathBuf};
use tapline_signature::policy::{self, Crl, RevocationPolicy};
use tapline_signature::{Certificate, anchors};

/// What signatures of this tenant are judged against.
#[derive(Clone, Debug, Default)]
pub struct Trust {
    pub anchors: Vec<Certificate>,
    /// The operator's CRL files, used beside what is fetched.
    pub crls: Vec<Crl>,
    pub revocation: RevocationPolicy,
}

const CERT_EXTS: &[&str] = &["pem", "crt", "cer"];
const CRL_EXTS: &[&str] = &["crl"];

/// Files in `dir` whose extension is one of `exts`, in name order; none
/// when the folder does not exist.
fn files_in(dir: &Path, exts: &[&str]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| exts.contains(&x.to_ascii_lowercase().as_str()))
        })
        .collect();
    out.sort();
    out
}

/// The files a `[signature]` list names, or the matching files of
/// `trust/` when the list is empty; each with the span to blame.
fn listed(
    dir: &Path,
    key: &str,
    list: &[toml::Spanned<String>],
    exts: &[&str],
    err: &mut impl FnMut(Range<usize>, String),
) -> Vec<(PathBuf, Range<usize>)> {
    if list.is_empty() {
        return files_in(&dir.join("trust"), exts)
            .into_iter()
            .map(|p| (p, 0..0))
            .collect();
    }
    let mut out = Vec::new();
    for f in list {
        match super::safe_relative(f.get_ref()) {
            Some(p) => out.push((dir.join(p), f.span())),
            None => err(
                f.span(),
                format!(
                    "{key}: `{}` must be a path inside the tenant folder",
                    f.get_ref()
                ),
            ),
        }
    }
    out
}

/// Everything of one kind in the listed files; a file that cannot be
/// read, does not parse or holds nothing is a problem.
fn read_all<T, E: std::fmt::Display>(
    dir: &Path,
    key: &str,
    list: &[toml::Spanned<String>],
    exts: &[&str],
    what: &str,
    parse: impl Fn(&[u8]) -> Result<Vec<T>, E>,
    err: &mut impl FnMut(Range<usize>, String),
) -> Vec<(T, PathBuf, Range<usize>)> {
    let mut out = Vec::new();
    for (path, span) in listed(dir, key, list, exts, err) {
        let name = path
            .strip_prefix(dir)
            .unwrap_or(&path)
            .display()
            .to_string();
        match std::fs::read(&path) {
            Err(e) => err(span, format!("{key}: cannot read {name}: {e}")),
            Ok(bytes) => match parse(&bytes) {
                Ok(items) if items.is_empty() => {
                    err(span, format!("{key}: {name} holds no {what}"))
                }
                Ok(items) => out.extend(items.into_iter().map(|t| (t, path.clone(), span.clone()))),
                Err(e) => err(
                    span,
                    format!("{key}: {name} is not a {what} (PEM or DER): {e}"),
                ),
            },
        }
    }
    out
}

/// Reads the tenant's trust. `at` is the time anchors must be valid at
/// (now, for a server start or `tapline check`).
pub fn load(
    dir: &Path,
    c: &TenantFile,
    at: u64,
    err: &mut impl FnMut(Range<usize>, String),
) -> Trust {
    let s = &c.signature;
    let mut trust = Trust {
        revocation: RevocationPolicy {
            method: s.revocation,
            fetch: s.fetch,
        },
        ..Trust::default()
    };
    let key = "signature.trust";
    for (cert, path, span) in read_all(
        dir,
        key,
        &s.trust,
        CERT_EXTS,
        "certificate",
        policy::certificates_from,
        err,
    ) {
        if let Some(why) = anchors::unusable(&cert, at) {
            let name = path
                .strip_prefix(dir)
                .unwrap_or(&path)
                .display()
                .to_string();
            err(
                span,
                format!("{key}: {name} ({}) {why}", anchors::subject(&cert)),
            );
        }
        trust.anchors.push(cert);
    }
    trust.crls = read_all(
        dir,
        "signature.crls",
        &s.crls,
        CRL_EXTS,
        "CRL",
        policy::crl_files_from,
        err,
    )
    .into_iter()
    .map(|(crl, _, _)| crl)
    .collect();
    trust
}
