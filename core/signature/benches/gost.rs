//! One GOST R 34.10-2012 verification on 256-bit paramset A and on 512-bit
//! paramset A, ours and OpenSSL's GOST engine's side by side in the same
//! run: OpenSSL makes a key and signs a digest, our code verifies it under
//! criterion, and `benches/openssl_verify.c` (built here with the system's
//! cc and libcrypto) verifies the same signature in a C loop and prints its
//! median. Without the engine or a C compiler only our figure is printed,
//! on fixed data.
//!
//! Beside them: one RSA-2048 PKCS#1 v1.5 SHA-256 verification (the rsa
//! crate's, as `cms` uses it) of a signature OpenSSL made, and one whole
//! CMS check through `policy::verify` (signature, a three-certificate
//! chain to the anchor, a CRL for each link) on the test PKI of
//! `tests/pki/mkpki.sh`, skipped with a message when OpenSSL's GOST engine
//! is missing.

use criterion::{Criterion, criterion_group, criterion_main};
use std::path::{Path, PathBuf};
use std::process::Command;
use tapline_signature::gost::{self, ParamSet};
use tapline_signature::policy;
use x509_cert::Certificate;

struct Case {
    name: &'static str,
    set: ParamSet,
    digest: Vec<u8>,
    sig: Vec<u8>,
    key: Vec<u8>,
    /// OpenSSL's microseconds per verification of the same signature.
    openssl_us: Option<String>,
}

const FIXED: &[(&str, ParamSet, &str, &str, &str)] = &[
    (
        "gost2012-256 paramset A",
        ParamSet::CryptoProA,
        "9c0f796f5a5e0ac6025b79c670fafcd2ccd2e4662929aa94c6aec175f514c4c5",
        "38512f86e0ab5832cdeab96a2457993939f87acb558e4233bdc395cff942f68686d3a801e83213e28db40aedb1b4d3eaba8734e56aaecc73d4aa81ec691f902d",
        "c0f7d2abf382b9def317b7d75179dd14954464331d33cb30df13cbff502824f14336aa473a8a1bda05a646c1f8c9fd32ffdc7c9dd4ed037fd142c15585204dc5",
    ),
    (
        "gost2012-512 paramset A",
        ParamSet::Tc26_512A,
        "2ace56934782659bc5d329e2eac363754a7b6ada9112a7dbf4cc6c5045db6f09b334542c8a8607e76153a13c544d1aedd5b32fa5a32be1ace449bcbe8c3c1ac8",
        "c3d9325c653254551c4614dcc41f65c4669b512680e18233d941f317256341910ea113b6fe5956d3f97288904415be449dae120f2a02f053ccd037249255ebd24a0649881fd0e428fb6e308584a358f0666c49f0f39382c29c909d39d633e7d22a07d2874fd9206526859d24c21640c3f0183008561dc580ac6609279946d0d5",
        "bdfa7097aab22e5e113d5308dc78614f9723be1caa5f6d987db57f91061a960b7738449226a58d836ba913fbfbfeef72f42f2a31349d713847cf4d113fd23ecb2fe97f7e509a049482b0032e0c350badee13c9e2759780622d19b5b5d4f30fae4859dd0dd4d4a940502100478fbee55c24871e42a40bf7fc151c81bdd4ec855d",
    ),
];

fn run(dir: &Path, prog: &str, args: &[&str]) -> Option<Vec<u8>> {
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/gost.cnf");
    let out = Command::new(prog)
        .args(args)
        .current_dir(dir)
        .env("OPENSSL_CONF", conf)
        .output()
        .ok()?;
    out.status.success().then_some(out.stdout)
}

/// A fresh key and signature from OpenSSL, and OpenSSL's own timing.
fn with_openssl(dir: &Path, name: &'static str, set: ParamSet, alg: &str) -> Option<Case> {
    let n = set.size();
    let digest: Vec<u8> = (0..n).map(|i| (i * 37 + 11) as u8).collect();
    std::fs::write(dir.join("d.bin"), &digest).ok()?;
    let key = format!("{alg}.pem");
    run(
        dir,
        "openssl",
        &[
            "genpkey",
            "-algorithm",
            alg,
            "-pkeyopt",
            "paramset:A",
            "-out",
            &key,
        ],
    )?;
    run(
        dir,
        "openssl",
        &[
            "pkeyutl", "-sign", "-inkey", &key, "-in", "d.bin", "-out", "s.bin",
        ],
    )?;
    let spki = run(
        dir,
        "openssl",
        &["pkey", "-in", &key, "-pubout", "-outform", "DER"],
    )?;
    let sig = std::fs::read(dir.join("s.bin")).ok()?;
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/openssl_verify.c");
    let bin = dir.join("openssl_verify");
    let built = Command::new("cc")
        .arg("-O2")
        .arg("-o")
        .arg(&bin)
        .arg(&src)
        .arg("-lcrypto")
        .status()
        .is_ok_and(|s| s.success());
    let rounds = if n == 32 { "2000" } else { "500" };
    let openssl_us = built
        .then(|| run(dir, bin.to_str()?, &[&key, "d.bin", "s.bin", rounds]))
        .flatten()
        .map(|o| String::from_utf8_lossy(&o).trim().to_string());
    Some(Case {
        name,
        set,
        digest,
        sig,
        key: spki[spki.len() - 2 * n..].to_vec(),
        openssl_us,
    })
}

fn cases() -> Vec<Case> {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("tapline-gost-bench-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let made: Vec<Case> = [
        (
            "gost2012-256 paramset A",
            ParamSet::CryptoProA,
            "gost2012_256",
        ),
        (
            "gost2012-512 paramset A",
            ParamSet::Tc26_512A,
            "gost2012_512",
        ),
    ]
    .into_iter()
    .filter_map(|(name, set, alg)| with_openssl(&dir, name, set, alg))
    .collect();
    let _ = std::fs::remove_dir_all(&dir);
    if made.len() == 2 {
        return made;
    }
    eprintln!("OpenSSL's GOST engine is not available: our figures only, on fixed data");
    FIXED
        .iter()
        .map(|(name, set, d, s, k)| Case {
            name,
            set: *set,
            digest: hex::decode(d).unwrap(),
            sig: hex::decode(s).unwrap(),
            key: hex::decode(k).unwrap(),
            openssl_us: None,
        })
        .collect()
}

fn verify(c: &mut Criterion) {
    for case in cases() {
        assert_eq!(
            gost::verify(case.set, &case.digest, &case.sig, &case.key),
            Ok(()),
            "{}",
            case.name
        );
        if let Some(us) = &case.openssl_us {
            println!(
                "openssl {}: {us} µs per verification (median of five C loops)",
                case.name
            );
        }
        c.bench_function(&format!("verify {}", case.name), |b| {
            b.iter(|| gost::verify(case.set, &case.digest, &case.sig, &case.key))
        });
    }
}

/// An RSA-2048 key and a PKCS#1 v1.5 SHA-256 signature from OpenSSL:
/// (SubjectPublicKeyInfo DER, SHA-256 digest, signature).
fn rsa_case(dir: &Path) -> Option<(Vec<u8>, Vec<u8>, Vec<u8>)> {
    use sha2::Digest;
    let data = b"Tapline RSA-2048 bench".to_vec();
    let digest = sha2::Sha256::digest(&data).to_vec();
    std::fs::write(dir.join("rsa.d"), &digest).ok()?;
    run(
        dir,
        "openssl",
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "rsa.pem",
        ],
    )?;
    run(
        dir,
        "openssl",
        &[
            "pkeyutl",
            "-sign",
            "-inkey",
            "rsa.pem",
            "-pkeyopt",
            "digest:sha256",
            "-in",
            "rsa.d",
            "-out",
            "rsa.sig",
        ],
    )?;
    let spki = run(
        dir,
        "openssl",
        &["pkey", "-in", "rsa.pem", "-pubout", "-outform", "DER"],
    )?;
    Some((spki, digest, std::fs::read(dir.join("rsa.sig")).ok()?))
}

fn rsa(c: &mut Criterion) {
    use rsa::pkcs8::DecodePublicKey;
    let dir = std::env::temp_dir().join(format!("tapline-rsa-bench-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let made = rsa_case(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    let Some((spki, digest, sig)) = made else {
        eprintln!("openssl could not make an RSA key: RSA-2048 not measured");
        return;
    };
    let key = rsa::RsaPublicKey::from_public_key_der(&spki).expect("an RSA key");
    let scheme = || rsa::Pkcs1v15Sign::new::<sha2::Sha256>();
    key.verify(scheme(), &digest, &sig)
        .expect("OpenSSL's RSA signature verifies");
    c.bench_function("verify rsa-2048 pkcs1v15 sha256", |b| {
        b.iter(|| key.verify(scheme(), &digest, &sig).is_ok())
    });
}

/// The test PKI's files for a whole CMS check.
struct Pki {
    signature: Vec<u8>,
    content: Vec<u8>,
    anchors: Vec<Certificate>,
    evidence: policy::Evidence,
}

fn make_pki(kind: &str) -> Option<Pki> {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let dir = std::env::temp_dir().join(format!(
        "tapline-pki-bench-{}-{}",
        kind.replace(':', "-"),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let made = Command::new("bash")
        .arg(here.join("pki/mkpki.sh"))
        .arg(&dir)
        .arg(kind)
        .env("OPENSSL_CONF", here.join("gost.cnf"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|_| {
            let read = |f: &str| std::fs::read(dir.join(f)).ok();
            Some(Pki {
                signature: read("ee.data.p7s")?,
                content: read("data.txt")?,
                anchors: policy::certificates_from(&read("root.pem")?).ok()?,
                evidence: policy::Evidence {
                    crls: policy::crl_files_from(&read("trust+crls.pem")?).ok()?,
                    ..policy::Evidence::default()
                },
            })
        });
    let _ = std::fs::remove_dir_all(&dir);
    made
}

/// The one call of `policy::verify`: whether the signature is valid,
/// chained to the anchors and unrevoked at `at`.
fn check_cms(pki: &Pki, at: u64) -> bool {
    policy::verify(
        &pki.signature,
        Some(&pki.content),
        &pki.anchors,
        &policy::Policy {
            revocation: policy::Revocation::Crl,
            purpose: policy::Purpose::Sign,
        },
        &pki.evidence,
        at,
    )
    .valid
}

fn whole_cms(c: &mut Criterion) {
    let kind = "gost256:A";
    let Some(pki) = make_pki(kind) else {
        eprintln!(
            "could not make the test PKI (OpenSSL's GOST engine or faketime missing?): whole CMS check not measured"
        );
        return;
    };
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    assert!(check_cms(&pki, at), "the test PKI's signature is valid");
    c.bench_function(
        &format!("whole CMS check {kind}, three-certificate chain, CRLs"),
        |b| b.iter(|| check_cms(&pki, at)),
    );
}

criterion_group!(benches, verify, rsa, whole_cms);
criterion_main!(benches);
