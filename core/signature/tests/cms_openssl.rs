//! CMS signatures made by OpenSSL (with its GOST engine for GOST) on the
//! test PKI of `tests/pki/mkpki.sh`: our check agrees with OpenSSL's
//! `cms -verify` on the good, changed-content and flipped-signature cases,
//! for GOST 2012-256, GOST 2012-512 and RSA, in DER and in the base64 a
//! browser plug-in returns.
//!
//! Without the engine the test says so and returns; under CI (`CI` set)
//! that is a failure.

mod common;

use common::{here, pki};
use std::path::Path;
use std::process::Command;
use tapline_signature::cms::{self, Refusal};

fn openssl_says_valid(dir: &Path, sig: &str, content: &str) -> bool {
    Command::new("openssl")
        .args([
            "cms", "-verify", "-binary", "-inform", "DER", "-in", sig, "-content", content,
        ])
        .args([
            "-CAfile",
            "root.pem",
            "-purpose",
            "any",
            "-out",
            "/dev/null",
        ])
        .current_dir(dir)
        .env("OPENSSL_CONF", here().join("gost.cnf"))
        .output()
        .unwrap()
        .status
        .success()
}

#[test]
fn openssl_made_signatures_check_as_openssl_says() {
    for kind in ["gost256:A", "gost256:TCA", "gost512:A", "gost512:C", "rsa"] {
        let Some(dir) = pki(kind, "cms") else { return };
        let read = |f: &str| std::fs::read(dir.join(f)).unwrap();
        let data = read("data.txt");

        let der = cms::decode_input(&read("ee.data.p7s")).unwrap();
        let signed = cms::check(&der, Some(&data)).unwrap_or_else(|e| panic!("{kind}: {e:?}"));
        assert!(
            openssl_says_valid(&dir, "ee.data.p7s", "data.txt"),
            "{kind}"
        );
        let ee = x509_der(&dir.join("ee.pem"));
        assert_eq!(der_of(&signed.signer), ee, "{kind}: the signer is ee.pem");
        assert!(signed.signing_time.is_some(), "{kind}: signingTime read");
        let want = if kind.starts_with("rsa") {
            "RSA"
        } else {
            "ГОСТ Р 34.10-2012"
        };
        assert!(
            signed.algorithm.starts_with(want),
            "{kind}: {}",
            signed.algorithm
        );

        // The base64 a plug-in returns, with CryptoPro's line breaks.
        let b64 = String::from_utf8(read("ee.data.p7s.b64")).unwrap();
        let split: String = b64
            .as_bytes()
            .chunks(64)
            .map(|c| format!("{}\r\n", std::str::from_utf8(c).unwrap()))
            .collect();
        assert_eq!(cms::decode_input(split.as_bytes()).unwrap(), der);
        let pem = format!("-----BEGIN CMS-----\n{split}-----END CMS-----\n");
        assert_eq!(cms::decode_input(pem.as_bytes()).unwrap(), der);

        let tampered = read("data.tampered.txt");
        assert_eq!(
            cms::check(&der, Some(&tampered)).err(),
            Some(Refusal::ContentChanged),
            "{kind}"
        );
        assert!(
            !openssl_says_valid(&dir, "ee.data.p7s", "data.tampered.txt"),
            "{kind}"
        );

        let flipped = read("ee.data.sigflip.p7s");
        assert_eq!(
            cms::check(&flipped, Some(&data)).err(),
            Some(Refusal::BadSignature),
            "{kind}"
        );
        assert!(
            !openssl_says_valid(&dir, "ee.data.sigflip.p7s", "data.txt"),
            "{kind}"
        );

        // Without -cades OpenSSL leaves out signingCertificateV2: nothing
        // binds the certificate to the signature, so it could be swapped for
        // another of the same key; CAdES-BES requires it and so do we.
        let md = if kind.starts_with("gost256") {
            "md_gost12_256"
        } else if kind.starts_with("gost512") {
            "md_gost12_512"
        } else {
            "sha256"
        };
        let out = Command::new("openssl")
            .args([
                "cms", "-sign", "-binary", "-in", "data.txt", "-signer", "ee.pem", "-inkey",
                "ee.key",
            ])
            .args([
                "-md",
                md,
                "-nosmimecap",
                "-certfile",
                "inter.pem",
                "-outform",
                "DER",
                "-out",
                "plain.p7s",
            ])
            .current_dir(&dir)
            .env("OPENSSL_CONF", here().join("gost.cnf"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            openssl_says_valid(&dir, "plain.p7s", "data.txt"),
            "OpenSSL takes it"
        );
        assert_eq!(
            cms::check(&read("plain.p7s"), Some(&data)).err(),
            Some(Refusal::NoSignedAttributes),
            "{kind}"
        );

        // No content at all for a detached signature.
        assert_eq!(cms::check(&der, None).err(), Some(Refusal::ContentMissing));
        std::fs::remove_dir_all(&dir).ok();
    }
}

#[test]
fn garbage_is_refused_without_a_panic() {
    assert_eq!(
        cms::decode_input(b"not base64 at all!").err(),
        Some(Refusal::Malformed)
    );
    assert_eq!(
        cms::decode_input(&vec![b'A'; cms::MAX_INPUT + 1]).err(),
        Some(Refusal::TooLarge)
    );
    for bytes in [
        &b"\x30"[..],
        b"\x30\x80\x00\x00",
        b"\x30\x03\x02\x01\x01",
        b"\x30\x84\xff\xff\xff\xff",
    ] {
        assert_eq!(
            cms::check(bytes, Some(b"x")).err(),
            Some(Refusal::Malformed)
        );
    }
}

fn x509_der(pem: &Path) -> Vec<u8> {
    let text = std::fs::read_to_string(pem).unwrap();
    cms::decode_input(text.as_bytes()).unwrap()
}

fn der_of(c: &x509_cert::Certificate) -> Vec<u8> {
    use der::Encode;
    c.to_der().unwrap()
}
