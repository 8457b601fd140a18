//! `tapline signature verify` on files OpenSSL made with the test PKI of
//! `core/signature/tests/pki/mkpki.sh`: the verdict for people and as
//! JSON, exit 0 valid, 1 refused, 2 usage error; a tenant's trust folder.
//!
//! Without OpenSSL's GOST engine the test says so and returns; under CI
//! (`CI` set) that is a failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn pki(kind: &str) -> Option<PathBuf> {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("signature/tests");
    let dir = std::env::temp_dir().join(format!(
        "tapline-cli-pki-{}-{}",
        kind.replace(':', "-"),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new("bash")
        .arg(here.join("pki/mkpki.sh"))
        .arg(&dir)
        .arg(kind)
        .env("OPENSSL_CONF", here.join("gost.cnf"))
        // Certificates that name no CRL or OCSP address: what the checks
        // below see comes only from the files and evidence they are given.
        .env_remove("ONLINE_CRL_BASE")
        .env_remove("ONLINE_OCSP_INTER")
        .env_remove("ONLINE_OCSP_ROOT")
        .output()
        .expect("bash runs");
    if !out.status.success() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs openssl with the GOST engine"
        );
        eprintln!("no GOST engine: signature CLI test not run");
        return None;
    }
    Some(dir)
}

fn tapline(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tapline"))
        .args(["signature", "verify"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("tapline runs")
}

#[test]
fn verify_prints_the_verdict_and_exits_by_it() {
    let Some(dir) = pki("gost256:A") else { return };
    let common = [
        "--trust",
        "root.pem",
        "--crl",
        "inter.crl",
        "--crl",
        "root.crl",
    ];

    let out = tapline(
        &dir,
        &[
            &["--content", "data.txt", "--signature", "ee.data.p7s"][..],
            &common,
        ]
        .concat(),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("действительна"), "{text}");
    assert!(text.contains("Иванов Иван Иванович"), "{text}");
    assert!(
        text.contains("7703123457")
            && text.contains("1027700123450")
            && text.contains("12345678964")
    );
    assert!(
        text.contains("Tapline Test Root"),
        "the chain up to the root: {text}"
    );
    assert!(text.contains("CRL"), "how revocation was checked: {text}");

    // JSON, refused: the content changed.
    let out = tapline(
        &dir,
        &[
            &[
                "--content",
                "data.tampered.txt",
                "--signature",
                "ee.data.p7s",
                "--json",
            ][..],
            &common,
        ]
        .concat(),
    );
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON alone on stdout");
    assert_eq!(v["valid"], false);
    assert_eq!(v["reason"], "content_changed");

    // Revoked, and the base64 a browser plug-in returns.
    let out = tapline(
        &dir,
        &[
            &[
                "--content",
                "data.txt",
                "--signature",
                "revoked.data.p7s",
                "--json",
            ][..],
            &common,
        ]
        .concat(),
    );
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["reason"], "certificate_revoked");
    let out = tapline(
        &dir,
        &[
            &[
                "--content",
                "data.txt",
                "--signature",
                "ee.data.p7s.b64",
                "--json",
            ][..],
            &common,
        ]
        .concat(),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Judged at a time before the certificate: refused with that reason.
    let out = tapline(
        &dir,
        &[
            &[
                "--content",
                "data.txt",
                "--signature",
                "ee.data.p7s",
                "--json",
                "--at",
                "2018-01-01T00:00:00Z",
            ][..],
            &common,
        ]
        .concat(),
    );
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["reason"], "certificate_not_yet_valid");

    // Evidence kept with the verdict judges the same again, with no CRL
    // files given: the stored CRLs are what counts.
    let args = [
        &[
            "--content",
            "data.txt",
            "--signature",
            "ee.data.p7s",
            "--json",
        ][..],
        &common,
    ]
    .concat();
    let first = tapline(
        &dir,
        &[&args[..], &["--save-evidence", "evidence.json"]].concat(),
    );
    assert_eq!(first.status.code(), Some(0));
    let again = tapline(
        &dir,
        &[
            "--content",
            "data.txt",
            "--signature",
            "ee.data.p7s",
            "--json",
            "--trust",
            "root.pem",
            "--evidence",
            "evidence.json",
        ],
    );
    assert_eq!(
        again.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
    let (a, b): (serde_json::Value, serde_json::Value) = (
        serde_json::from_slice(&first.stdout).unwrap(),
        serde_json::from_slice(&again.stdout).unwrap(),
    );
    assert_eq!(a["revocation"], b["revocation"]);
    assert!(
        a["revocation"].as_array().is_some_and(|r| r.len() == 2),
        "both links checked: {a}"
    );
    // Without evidence, the same check refuses: the evidence did the work.
    let bare = tapline(
        &dir,
        &[
            "--content",
            "data.txt",
            "--signature",
            "ee.data.p7s",
            "--json",
            "--trust",
            "root.pem",
            "--offline",
        ],
    );
    assert_eq!(bare.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&bare.stdout).unwrap();
    assert_eq!(v["reason"], "revocation_unavailable");
    // OCSP demanded and none to be had (the certificates name no responder).
    let out = tapline(&dir, &[&args[..], &["--revocation", "ocsp"]].concat());
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["reason"], "revocation_unavailable");
    assert_eq!(v["policy"]["revocation"], "ocsp");

    // A tenant's trust folder, in a copy of the demo tenant, loaded the way
    // the server loads it.
    let tenants = dir.join("tenants");
    std::fs::create_dir_all(&tenants).unwrap();
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tenants/kvadra");
    assert!(
        Command::new("cp")
            .arg("-r")
            .arg(&demo)
            .arg(&tenants)
            .status()
            .unwrap()
            .success()
    );
    std::fs::create_dir_all(tenants.join("kvadra/trust")).unwrap();
    for f in ["root.pem", "inter.crl", "root.crl"] {
        std::fs::copy(dir.join(f), tenants.join("kvadra/trust").join(f)).unwrap();
    }
    let out = tapline(
        &dir,
        &[
            "--tenant",
            "kvadra",
            "--tenants",
            "tenants",
            "--content",
            "data.txt",
            "--signature",
            "ee.data.p7s",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Usage errors: 2, with the reason on stderr.
    for args in [
        &["--content", "data.txt", "--signature", "ee.data.p7s"][..],
        &[
            "--content",
            "missing.txt",
            "--signature",
            "ee.data.p7s",
            "--trust",
            "root.pem",
        ][..],
        &[
            "--content",
            "data.txt",
            "--signature",
            "ee.data.p7s",
            "--trust",
            "data.txt",
        ][..],
        &[
            "--content",
            "data.txt",
            "--signature",
            "ee.data.p7s",
            "--trust",
            "root.pem",
            "--at",
            "yesterday",
        ][..],
        &[
            "--content",
            "data.txt",
            "--signature",
            "ee.data.p7s",
            "--tenant",
            "nosuch",
            "--tenants",
            "tenants",
        ][..],
    ] {
        let out = tapline(&dir, args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(!out.stderr.is_empty(), "{args:?}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
