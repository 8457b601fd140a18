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
    /// Where each anchor was configured, in the order of `anchors`.
    pub sources: Vec<super::Problem>,
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

impl Trust {
    /// Anchors that anchor nothing at `at`: expired or not yet valid. A
    /// running server only warns (the signatures under them are refused
    /// anyway); `tapline check` reports them as problems. Each comes
    /// located where the anchor was configured.
    pub fn out_of_date(&self, at: u64) -> Vec<super::Problem> {
        self.anchors
            .iter()
            .zip(&self.sources)
            .filter_map(|(cert, source)| {
                let why = anchors::out_of_date(cert, at)?;
                Some(super::Problem {
                    message: format!("{} ({}) {why}", source.message, anchors::subject(cert)),
                    ..source.clone()
                })
            })
            .collect()
    }
}

/// Reads the tenant's trust from the folder `dir` whose `tenant.toml`
/// (text `src`) configured it. What can never work (an unreadable file, no
/// certificate, a path outside the folder, an anchor that is not a CA) is
/// a problem; expiry, which comes with time, is [`Trust::out_of_date`].
pub fn load(
    dir: &Path,
    c: &TenantFile,
    src: &str,
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
        let name = path
            .strip_prefix(dir)
            .unwrap_or(&path)
            .display()
            .to_string();
        if let Some(why) = anchors::not_an_anchor(&cert) {
            err(
                span.clone(),
                format!("{key}: {name} ({}) {why}", anchors::subject(&cert)),
            );
        }
        // A listed anchor is located at its line of tenant.toml; one found
        // in trust/ at its own file.
        let source = if s.trust.is_empty() {
            super::Problem {
                file: path.clone(),
                line: 0,
                message: format!("{key}: {name}"),
            }
        } else {
            super::Problem {
                file: dir.join("tenant.toml"),
                line: super::line_of(src, span),
                message: format!("{key}: {name}"),
            }
        };
        trust.anchors.push(cert);
        trust.sources.push(source);
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
