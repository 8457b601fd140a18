//! Trust decisions on the test PKI, each next to what OpenSSL's
//! `cms -verify -crl_check_all` says of the same files: valid, revoked,
//! expired, a foreign root, a missing CRL, a stale CRL, a digest that does
//! not fit the key; and the identity read from the certificate.

mod common;

use common::{openssl, pki};
use std::path::Path;
use tapline_signature::cms::Refusal;
use tapline_signature::identity::{self, Applicant};
use tapline_signature::policy::{
    self, Crl, CrlSource, Distrust, Evidence, Policy, Reason, Verdict,
};
use x509_cert::Certificate;

/// The default policy (documents; OCSP if at hand, else a CRL) with these
/// CRLs as configured files.
fn verify(
    sig: &[u8],
    data: Option<&[u8]>,
    anchors: &[Certificate],
    crls: &[Crl],
    at: u64,
) -> Verdict {
    let evidence = Evidence {
        crls: crls.to_vec(),
        ..Evidence::default()
    };
    policy::verify(sig, data, anchors, &Policy::default(), &evidence, at)
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn openssl_valid(dir: &Path, sig: &str, crl_file: &str) -> bool {
    openssl(
        dir,
        &[
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            sig,
            "-content",
            "data.txt",
            "-CAfile",
            crl_file,
            "-crl_check_all",
            "-purpose",
            "any",
            "-out",
            "/dev/null",
        ],
        &[],
    )
    .status
    .success()
}

#[test]
fn trust_decisions_agree_with_openssl() {
    for (kind, md) in [
        ("gost256:A", "md_gost12_256"),
        ("gost512:A", "md_gost12_512"),
        ("rsa", "sha256"),
    ] {
        let Some(dir) = pki(kind, "policy") else {
            return;
        };
        let Some(foreign) = pki(kind, "foreign") else {
            return;
        };
        let read = |f: &str| std::fs::read(dir.join(f)).unwrap();
        let data = read("data.txt");
        let anchors = policy::certificates_from(&read("root.pem")).unwrap();
        let crls = policy::crls_from(&read("trust+crls.pem"), CrlSource::File).unwrap();
        assert_eq!(crls.len(), 2, "{kind}: root and intermediate CRLs");
        let at = now();

        // Valid, with the chain, revocation and identity.
        let v = verify(&read("ee.data.p7s"), Some(&data), &anchors, &crls, at);
        assert!(v.valid, "{kind}: {:?}", v.reason);
        assert!(openssl_valid(&dir, "ee.data.p7s", "trust+crls.pem"));
        assert_eq!(v.chain.len(), 3, "{kind}: {:?}", v.chain);
        assert!(v.chain[2].contains("Tapline Test Root"), "{:?}", v.chain);
        assert_eq!(v.revocation.len(), 2, "{kind}: both links checked by CRL");
        let id = v.signer.clone().unwrap();
        assert_eq!(id.inn.as_deref(), Some("770312345678"));
        assert_eq!(id.inn_le.as_deref(), Some("7703123457"));
        assert_eq!(id.ogrn.as_deref(), Some("1027700123450"));
        assert_eq!(id.snils.as_deref(), Some("12345678964"));
        assert_eq!(id.organisation.as_deref(), Some("ООО Ромашка"));
        assert_eq!(id.person_name().as_deref(), Some("Иванов Иван Иванович"));
        assert!(identity::matches(
            &id,
            &Applicant::Legal {
                inn: "7703123457",
                ogrn: "1027700123450"
            }
        ));
        assert!(!identity::matches(
            &id,
            &Applicant::Legal {
                inn: "7703123458",
                ogrn: "1027700123450"
            }
        ));
        // A portal that asks no OGRN binds by the INN alone, and a known
        // OGRN still has to agree.
        assert!(identity::matches(
            &id,
            &Applicant::Legal {
                inn: "7703123457",
                ogrn: ""
            }
        ));
        assert!(!identity::matches(
            &id,
            &Applicant::Legal {
                inn: "7703123457",
                ogrn: "1027700123461"
            }
        ));
        assert!(identity::matches(
            &id,
            &Applicant::Individual {
                snils: Some("123-456-789 64"),
                inn: None
            }
        ));
        assert!(!identity::matches(
            &id,
            &Applicant::Entrepreneur {
                inn: "770312345678",
                ogrnip: "304770000000001"
            }
        ));
        assert!(!identity::matches(
            &id,
            &Applicant::KzPerson {
                iin: "770312345678"
            }
        ));

        // Revoked by the intermediate's CRL.
        let v = verify(&read("revoked.data.p7s"), Some(&data), &anchors, &crls, at);
        assert_eq!(v.reason, Some(Reason::Trust(Distrust::Revoked)), "{kind}");
        assert!(!openssl_valid(&dir, "revoked.data.p7s", "trust+crls.pem"));

        // Expired in 2020, signed now.
        let v = verify(&read("expired.data.p7s"), Some(&data), &anchors, &crls, at);
        assert_eq!(v.reason, Some(Reason::Trust(Distrust::Expired)), "{kind}");
        assert!(!openssl_valid(&dir, "expired.data.p7s", "trust+crls.pem"));

        // Another PKI's root: the same kind of certificate, not ours.
        let other =
            policy::certificates_from(&std::fs::read(foreign.join("root.pem")).unwrap()).unwrap();
        let v = verify(&read("ee.data.p7s"), Some(&data), &other, &crls, at);
        assert_eq!(
            v.reason,
            Some(Reason::Trust(Distrust::UntrustedChain)),
            "{kind}"
        );
        assert!(!openssl_valid(
            &dir,
            "ee.data.p7s",
            &foreign.join("trust+crls.pem").display().to_string()
        ));

        // No CRL at all, or only the root's: refused, never passed.
        let v = verify(&read("ee.data.p7s"), Some(&data), &anchors, &[], at);
        assert_eq!(
            v.reason,
            Some(Reason::Trust(Distrust::RevocationUnavailable))
        );
        let root_only = policy::crls_from(&read("root.crl"), CrlSource::File).unwrap();
        let v = verify(&read("ee.data.p7s"), Some(&data), &anchors, &root_only, at);
        assert_eq!(
            v.reason,
            Some(Reason::Trust(Distrust::RevocationUnavailable))
        );
        let mut no_inter_crl = read("root.pem");
        no_inter_crl.extend(read("root.crl.pem"));
        std::fs::write(dir.join("root+rootcrl.pem"), &no_inter_crl).unwrap();
        assert!(!openssl_valid(&dir, "ee.data.p7s", "root+rootcrl.pem"));

        // A stale CRL: issued in 2021 for one day.
        let env = [
            ("CADIR", dir.join("db-inter").display().to_string()),
            ("MD", md.to_string()),
        ];
        let ca_cnf = common::here().join("pki/ca.cnf").display().to_string();
        let out = std::process::Command::new("faketime")
            .args([
                "2021-01-01 00:00:00",
                "openssl",
                "ca",
                "-config",
                &ca_cnf,
                "-cert",
                "inter.pem",
            ])
            .args([
                "-keyfile",
                "inter.key",
                "-gencrl",
                "-crldays",
                "1",
                "-out",
                "stale.crl.pem",
            ])
            .current_dir(&dir)
            .env("OPENSSL_CONF", common::here().join("gost.cnf"))
            .envs(env.iter().map(|(k, v)| (*k, v.clone())))
            .output()
            .expect("faketime runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut stale = policy::crls_from(&read("stale.crl.pem"), CrlSource::File).unwrap();
        stale.extend(policy::crls_from(&read("root.crl"), CrlSource::File).unwrap());
        let v = verify(&read("ee.data.p7s"), Some(&data), &anchors, &stale, at);
        assert_eq!(
            v.reason,
            Some(Reason::Trust(Distrust::RevocationUnavailable)),
            "{kind}"
        );
        let mut stale_file = read("root.pem");
        stale_file.extend(read("stale.crl.pem"));
        stale_file.extend(read("root.crl.pem"));
        std::fs::write(dir.join("stale+trust.pem"), &stale_file).unwrap();
        assert!(!openssl_valid(&dir, "ee.data.p7s", "stale+trust.pem"));

        // The same signature judged before the certificates existed.
        let v = verify(
            &read("ee.data.p7s"),
            Some(&data),
            &anchors,
            &crls,
            1_500_000_000,
        );
        assert_eq!(v.reason, Some(Reason::Trust(Distrust::NotYetValid)));

        // A digest the key's algorithm does not use: OpenSSL will not make
        // one, so the Streebog-256 identifiers become Streebog-512 (the
        // signed attributes, and so the signature, stay as they were).
        if kind.starts_with("gost256") {
            let streebog_256 = [0x06, 0x08, 0x2a, 0x85, 0x03, 0x07, 0x01, 0x01, 0x02, 0x02];
            let mut der = read("ee.data.p7s");
            let mut swapped = 0;
            for i in 0..der.len().saturating_sub(streebog_256.len()) {
                if der[i..i + streebog_256.len()] == streebog_256 {
                    der[i + streebog_256.len() - 1] = 0x03;
                    swapped += 1;
                }
            }
            assert!(swapped >= 2, "digestAlgorithms and the SignerInfo's digest");
            std::fs::write(dir.join("wrongmd.p7s"), &der).unwrap();
            let v = verify(&der, Some(&data), &anchors, &crls, at);
            assert_eq!(v.reason, Some(Reason::Crypto(Refusal::DigestDoesNotFitKey)));
            assert!(!openssl_valid(&dir, "wrongmd.p7s", "trust+crls.pem"));
        }
        std::fs::remove_dir_all(&dir).ok();
        std::fs::remove_dir_all(&foreign).ok();
    }
}

/// A corpus run in CI in place of a fuzzer's: thousands of mutations of
/// real signatures (bit flips, byte changes, cuts, inserted bytes, in the
/// DER and in its base64) go through the whole verification. None may
/// panic, and none of the cuts or flips inside the signed part may pass.
#[test]
fn mutated_signatures_never_panic_and_never_pass_unnoticed() {
    for kind in ["gost256:TCA", "gost512:C", "rsa"] {
        let Some(dir) = pki(kind, "mutate") else {
            return;
        };
        let read = |f: &str| std::fs::read(dir.join(f)).unwrap();
        let data = read("data.txt");
        let anchors = policy::certificates_from(&read("root.pem")).unwrap();
        let crls = policy::crls_from(&read("trust+crls.pem"), CrlSource::File).unwrap();
        let good = read("ee.data.p7s");
        let at = now();
        assert!(verify(&good, Some(&data), &anchors, &crls, at).valid);
        // xorshift: the same mutations on every run, so a failure repeats.
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut passed_with_flip = Vec::new();
        for round in 0..3000 {
            let mut m = good.clone();
            let at_byte = (next() as usize) % m.len();
            match round % 5 {
                0 => m[at_byte] ^= 1 << (next() % 8),
                1 => m[at_byte] = next() as u8,
                2 => m.truncate(at_byte),
                3 => m.insert(at_byte, next() as u8),
                _ => {
                    let b64 = base64_of(&m);
                    let mut t = b64.into_bytes();
                    let i = (next() as usize) % t.len();
                    t[i] = b"AZaz09+/=\n -"[(next() % 12) as usize];
                    m = t;
                }
            }
            let v = verify(&m, Some(&data), &anchors, &crls, at);
            if v.valid && round % 5 < 3 && m != good {
                passed_with_flip.push(at_byte);
            }
        }
        // A change that still verifies may only sit outside what is signed
        // and checked: the outer digestAlgorithms list, which RFC 5652 makes
        // informational, lies within the first hundred bytes.
        assert!(
            passed_with_flip.iter().all(|&i| i < 100),
            "{kind}: changes that passed at {passed_with_flip:?}"
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}

fn base64_of(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The fuzz target's first find: an empty trust file (or one of line
/// breaks only) overflowed inside x509-cert's PEM chain reader, a panic in
/// debug builds. It is an error, as release builds said.
#[test]
fn an_empty_trust_file_is_an_error_not_a_panic() {
    for input in [&b""[..], b"\n", b"\r\n\r\n"] {
        assert!(policy::certificates_from(input).is_err(), "{input:?}");
        assert!(policy::crl_files_from(input).is_ok_and(|c| c.is_empty()));
    }
}
