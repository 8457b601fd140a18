//! The test PKI of `tests/pki/mkpki.sh`, made by OpenSSL with its GOST
//! engine in a fresh folder per kind.
#![allow(dead_code)] // each test file uses its own share of these

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn here() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

/// Runs openssl in `dir` with the GOST engine loaded.
pub fn openssl(dir: &Path, args: &[&str], env: &[(&str, String)]) -> Output {
    let mut cmd = Command::new("openssl");
    cmd.args(args)
        .current_dir(dir)
        .env("OPENSSL_CONF", here().join("gost.cnf"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("openssl runs")
}

/// Makes the PKI of one kind; None (outside CI) without the engine.
pub fn pki(kind: &str, tag: &str) -> Option<PathBuf> {
    pki_env(kind, tag, &[])
}

/// [`pki`] with variables for mkpki.sh (the online revocation URLs).
pub fn pki_env(kind: &str, tag: &str, env: &[(&str, String)]) -> Option<PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "tapline-pki-{tag}-{}-{}",
        kind.replace(':', "-"),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new("bash")
        .arg(here().join("pki/mkpki.sh"))
        .arg(&dir)
        .arg(kind)
        .env("OPENSSL_CONF", here().join("gost.cnf"))
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("bash runs");
    if !out.status.success() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs openssl with the GOST engine and faketime: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("could not make the test PKI (GOST engine missing?): not run");
        return None;
    }
    Some(dir)
}
