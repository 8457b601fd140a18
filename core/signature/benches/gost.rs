//! One GOST R 34.10-2012 verification on 256-bit paramset A and on 512-bit
//! paramset A, ours and OpenSSL's GOST engine's side by side in the same
//! run: OpenSSL makes a key and signs a digest, our code verifies it under
//! criterion, and `benches/openssl_verify.c` (built here with the system's
//! cc and libcrypto) verifies the same signature in a C loop and prints its
//! median. Without the engine or a C compiler only our figure is printed,
//! on fixed data.

use criterion::{Criterion, criterion_group, criterion_main};
use std::path::{Path, PathBuf};
use std::process::Command;
use tapline_signature::gost::{self, ParamSet};

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

criterion_group!(benches, verify);
criterion_main!(benches);
