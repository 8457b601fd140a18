//! The fuzz target's corpus, replayed on stable Rust: every file of
//! `fuzz/seeds/` (real GOST-256, GOST-512 and RSA signatures, certificates
//! and CRLs of `tests/pki/mkpki.sh`) and `fuzz/corpus/signature/` (what
//! `cargo fuzz` found and `cargo fuzz cmin` kept) goes through the same
//! `fuzz_one` as the fuzz target. None may panic, none may take long; the
//! seeds must still be what their names say, so the fixtures cannot go
//! stale without this failing. How to fuzz: `fuzz/README.md`.

#[path = "../fuzz/src/lib.rs"]
mod fuzz;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tapline_signature::cms::Refusal;
use tapline_signature::policy::{Distrust, Reason};

fn files(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz").join(dir);
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

/// Generous beside the fuzzer's (one input there is milliseconds): an
/// unoptimised build on a busy CI machine.
const SLOW: Duration = Duration::from_secs(10);

fn run(path: &Path) -> fuzz::Outcome {
    let data = std::fs::read(path).unwrap();
    let start = Instant::now();
    let outcome = fuzz::fuzz_one(&data);
    let took = start.elapsed();
    assert!(took < SLOW, "{}: {took:?}", path.display());
    outcome
}

#[test]
fn seeds_are_what_they_say() {
    let seeds = files("seeds");
    assert!(seeds.len() >= 30, "{} seeds", seeds.len());
    for path in &seeds {
        let name = path.file_name().unwrap().to_str().unwrap();
        let o = run(path);
        let reason = o.verdict.reason;
        if name.starts_with("valid-") {
            assert!(o.verdict.valid, "{name}: {reason:?}");
        } else if name.starts_with("revoked-") {
            assert_eq!(reason, Some(Reason::Trust(Distrust::Revoked)), "{name}");
        } else if name.starts_with("expired-") {
            assert_eq!(reason, Some(Reason::Trust(Distrust::Expired)), "{name}");
        } else if name.starts_with("badsig-") {
            assert_eq!(
                reason,
                Some(Reason::Crypto(Refusal::BadSignature)),
                "{name}"
            );
        } else if name.starts_with("root-") || name.starts_with("cert-") {
            // A certificate of a PKI's chain, as the only anchor, anchors
            // that PKI's signature (an anchor is trusted as configured,
            // even an intermediate or the signer's own) and no other.
            assert_eq!(o.certificates, 1, "{name}");
            assert_eq!(o.as_anchors.iter().filter(|v| **v).count(), 1, "{name}");
        } else if name.starts_with("crl-") {
            // One DER CRL, or a trust file (root, root CRL, intermediate
            // CRL), whose certificate `certificates_from` does not take
            // among CRLs.
            let want = if name.ends_with(".pem") { 2 } else { 1 };
            assert_eq!(o.crls, want, "{name}");
        } else {
            panic!("{name}: a seed's name says what it is (valid-, cert-, …)");
        }
    }
}

#[test]
fn fuzz_corpus_never_panics() {
    let corpus = files("corpus/signature");
    for path in &corpus {
        run(path);
    }
    eprintln!("{} corpus inputs replayed", corpus.len());
}

#[test]
fn fixtures_are_the_three_pkis() {
    let t = fuzz::trust();
    assert_eq!((t.anchors.len(), t.evidence.crls.len()), (3, 6));
}
