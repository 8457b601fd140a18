//! Our GOST R 34.10-2012 check against an independent implementation:
//! OpenSSL's GOST engine (Debian `libengine-gost-openssl`) makes a key on
//! every paramset it knows, signs random digests, and each signature must
//! verify here exactly when OpenSSL says it does, and fail once a bit of
//! the digest or the signature changes.
//!
//! Without the engine the test says so and returns; under CI (`CI` set)
//! that is a failure, since `.ci/run` installs it.

use std::path::{Path, PathBuf};
use std::process::Command;
use tapline_signature::gost::{self, Failure, ParamSet};

fn openssl(dir: &Path, args: &[&str]) -> std::process::Output {
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/gost.cnf");
    Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .env("OPENSSL_CONF", conf)
        .output()
        .expect("openssl runs")
}

fn engine_available(dir: &Path) -> bool {
    let out = openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "gost2012_256",
            "-pkeyopt",
            "paramset:A",
            "-out",
            "probe.pem",
        ],
    );
    out.status.success()
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tapline-gost-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn openssl_signatures_verify_on_every_paramset() {
    let dir = scratch();
    if !engine_available(&dir) {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs OpenSSL's GOST engine (apt-get install libengine-gost-openssl)"
        );
        eprintln!("OpenSSL's GOST engine is not installed: cross-check not run");
        return;
    }
    let cases: &[(&str, &str, ParamSet)] = &[
        ("gost2012_256", "A", ParamSet::CryptoProA),
        ("gost2012_256", "B", ParamSet::CryptoProB),
        ("gost2012_256", "C", ParamSet::CryptoProC),
        ("gost2012_256", "XA", ParamSet::CryptoProA),
        ("gost2012_256", "XB", ParamSet::CryptoProC),
        ("gost2012_256", "TCA", ParamSet::Tc26_256A),
        ("gost2012_256", "TCB", ParamSet::CryptoProA),
        ("gost2012_256", "TCC", ParamSet::CryptoProB),
        ("gost2012_256", "TCD", ParamSet::CryptoProC),
        ("gost2012_512", "A", ParamSet::Tc26_512A),
        ("gost2012_512", "B", ParamSet::Tc26_512B),
        ("gost2012_512", "C", ParamSet::Tc26_512C),
    ];
    for (round, (alg, paramset, set)) in cases.iter().enumerate() {
        let key = format!("k{round}.pem");
        let out = openssl(
            &dir,
            &[
                "genpkey",
                "-algorithm",
                alg,
                "-pkeyopt",
                &format!("paramset:{paramset}"),
                "-out",
                &key,
            ],
        );
        assert!(
            out.status.success(),
            "{alg} {paramset}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pub_der = format!("k{round}.pub");
        let out = openssl(
            &dir,
            &[
                "pkey", "-in", &key, "-pubout", "-outform", "DER", "-out", &pub_der,
            ],
        );
        assert!(out.status.success());
        let spki = std::fs::read(dir.join(&pub_der)).unwrap();
        let n = set.size();
        // The SubjectPublicKeyInfo ends with the key's OCTET STRING: X‖Y.
        let public_key = &spki[spki.len() - 2 * n..];
        for i in 0..4 {
            let digest: Vec<u8> = (0..n)
                .map(|j| (j * 31 + i * 7 + round * 13) as u8 ^ 0x5a)
                .collect();
            let (d, s) = (format!("d{round}-{i}"), format!("s{round}-{i}"));
            std::fs::write(dir.join(&d), &digest).unwrap();
            let out = openssl(
                &dir,
                &["pkeyutl", "-sign", "-inkey", &key, "-in", &d, "-out", &s],
            );
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let sig = std::fs::read(dir.join(&s)).unwrap();
            assert_eq!(
                gost::verify(*set, &digest, &sig, public_key),
                Ok(()),
                "{alg} paramset {paramset}: OpenSSL's signature refused"
            );
            let mut changed = digest.clone();
            changed[i] ^= 0x10;
            assert_eq!(
                gost::verify(*set, &changed, &sig, public_key),
                Err(Failure::Mismatch)
            );
            let mut flipped = sig.clone();
            flipped[n + i] ^= 0x01;
            assert!(gost::verify(*set, &digest, &flipped, public_key).is_err());
            // OpenSSL agrees on both.
            let out = openssl(
                &dir,
                &[
                    "pkeyutl", "-verify", "-inkey", &key, "-in", &d, "-sigfile", &s,
                ],
            );
            assert!(out.status.success());
            std::fs::write(dir.join(&d), &changed).unwrap();
            let out = openssl(
                &dir,
                &[
                    "pkeyutl", "-verify", "-inkey", &key, "-in", &d, "-sigfile", &s,
                ],
            );
            assert!(!out.status.success(), "OpenSSL took a changed digest");
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}
