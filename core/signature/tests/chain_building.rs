//! Chain building when more than one issuer fits: a re-issued root (the
//! same name and key, an expired and a current certificate, as a tenant
//! keeps both after a CA renews) must not make the first one tried decide.
//! Every path is tried until one passes; when none does, the failure of
//! the first complete path is reported. Beside `openssl verify`.

mod common;

use common::{here, openssl, pki};
use std::path::Path;
use tapline_signature::policy::{self, CrlSource, Distrust, Evidence, Policy, Reason, Verdict};
use x509_cert::Certificate;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn openssl_verify(dir: &Path, cafile: &str) -> bool {
    openssl(
        dir,
        &[
            "verify",
            "-CAfile",
            cafile,
            "-untrusted",
            "inter.pem",
            "ee.pem",
        ],
        &[],
    )
    .status
    .success()
}

#[test]
fn a_renewed_root_is_found_whichever_comes_first() {
    for (kind, md) in [("rsa", "sha256"), ("gost256:A", "md_gost12_256")] {
        let Some(dir) = pki(kind, "chain") else {
            return;
        };
        let read = |f: &str| std::fs::read(dir.join(f)).unwrap();
        // The root's certificate again, same name and key, expired in 2020.
        let subject = format!("/C=RU/O=Tapline Test/CN=Tapline Test Root {kind}");
        let out = openssl(
            &dir,
            &[
                "req", "-new", "-utf8", "-key", "root.key", "-subj", &subject, "-out", "root.csr",
            ],
            &[],
        );
        assert!(out.status.success());
        let ca_cnf = here().join("pki/ca.cnf").display().to_string();
        let env = [
            ("CADIR", dir.join("db-root").display().to_string()),
            ("MD", md.to_string()),
        ];
        let out = openssl(
            &dir,
            &[
                "ca",
                "-batch",
                "-selfsign",
                "-config",
                &ca_cnf,
                "-extensions",
                "v3_ca",
                "-keyfile",
                "root.key",
                "-in",
                "root.csr",
                "-startdate",
                "20190101000000Z",
                "-enddate",
                "20200101000000Z",
                "-notext",
                "-out",
                "root-old.pem",
            ],
            &env,
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let old = policy::certificates_from(&read("root-old.pem")).unwrap();
        let new = policy::certificates_from(&read("root.pem")).unwrap();
        assert_eq!(
            old[0].tbs_certificate.subject,
            new[0].tbs_certificate.subject
        );
        let crls = policy::crls_from(&read("trust+crls.pem"), CrlSource::File).unwrap();
        let evidence = Evidence {
            crls,
            ..Evidence::default()
        };
        let data = read("data.txt");
        let at = now();
        let judge = |anchors: &[Certificate]| -> Verdict {
            policy::verify(
                &read("ee.data.p7s"),
                Some(&data),
                anchors,
                &Policy::default(),
                &evidence,
                at,
            )
        };

        for anchors in [
            [old.clone(), new.clone()].concat(),
            [new.clone(), old.clone()].concat(),
        ] {
            let v = judge(&anchors);
            assert!(v.valid, "{kind}: {:?}", v.reason);
            assert_eq!(v.chain.len(), 3);
        }
        let mut both = read("root-old.pem");
        both.extend(read("root.pem"));
        std::fs::write(dir.join("both-roots.pem"), both).unwrap();
        assert!(openssl_verify(&dir, "both-roots.pem"));

        // Only the expired one: that path's own failure, not "untrusted".
        let v = judge(&old);
        assert_eq!(v.reason, Some(Reason::Trust(Distrust::Expired)), "{kind}");
        assert_eq!(v.chain.len(), 3, "the failed path is shown");
        assert!(!openssl_verify(&dir, "root-old.pem"));
        std::fs::remove_dir_all(&dir).ok();
    }
}

/// (tag, header length, contents length) of the DER element at the start.
fn header(b: &[u8]) -> (u8, usize, usize) {
    let first = b[1] as usize;
    if first < 0x80 {
        return (b[0], 2, first);
    }
    let n = first & 0x7f;
    let len = b[2..2 + n].iter().fold(0usize, |a, &x| a << 8 | x as usize);
    (b[0], 2 + n, len)
}

fn wrap(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = body.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes: Vec<u8> = n
            .to_be_bytes()
            .into_iter()
            .skip_while(|&x| x == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(body);
    out
}

/// The elements inside a constructed element.
fn children(b: &[u8]) -> Vec<Vec<u8>> {
    let (_, h, len) = header(b);
    let mut body = &b[h..h + len];
    let mut out = Vec::new();
    while !body.is_empty() {
        let (_, h, len) = header(body);
        out.push(body[..h + len].to_vec());
        body = &body[h + len..];
    }
    out
}

/// `name`.pem again with an explicit `critical FALSE` in its
/// subjectKeyIdentifier, re-signed (RSA, SHA-256) by `key`: valid BER
/// that a DER encoder writes otherwise. Writes NAME-ber.pem; returns the DER.
fn craft(dir: &Path, name: &str, key: &str) -> Vec<u8> {
    let read = |f: &str| std::fs::read(dir.join(f)).unwrap();
    let der = format!("{name}.der");
    let out = openssl(
        dir,
        &[
            "x509",
            "-in",
            &format!("{name}.pem"),
            "-outform",
            "DER",
            "-out",
            &der,
        ],
        &[],
    );
    assert!(out.status.success());
    let cert = read(&der);
    let parts = children(&cert);
    let ski = [0x06, 0x03, 0x55, 0x1d, 0x0e];
    let mut changed = false;
    let tbs_parts: Vec<Vec<u8>> = children(&parts[0])
        .into_iter()
        .map(|p| {
            if p[0] != 0xa3 {
                return p;
            }
            let exts: Vec<u8> = children(&children(&p)[0])
                .into_iter()
                .flat_map(|e| {
                    let inner = children(&e);
                    if inner[0] == ski {
                        changed = true;
                        let body =
                            [inner[0].clone(), vec![0x01, 0x01, 0x00], inner[1].clone()].concat();
                        wrap(0x30, &body)
                    } else {
                        e
                    }
                })
                .collect();
            wrap(0xa3, &wrap(0x30, &exts))
        })
        .collect();
    assert!(changed, "{name} has a subjectKeyIdentifier");
    let tbs = wrap(0x30, &tbs_parts.concat());
    std::fs::write(dir.join("tbs.der"), &tbs).unwrap();
    let out = openssl(
        dir,
        &[
            "dgst", "-sha256", "-sign", key, "-out", "tbs.sig", "tbs.der",
        ],
        &[],
    );
    assert!(out.status.success());
    let sig = [vec![0u8], read("tbs.sig")].concat();
    let crafted = wrap(0x30, &[tbs, parts[1].clone(), wrap(0x03, &sig)].concat());
    let ber = format!("{name}-ber.der");
    std::fs::write(dir.join(&ber), &crafted).unwrap();
    let decoded = <Certificate as der::Decode>::from_der(&crafted).expect("x509-cert takes it");
    assert_ne!(
        der::Encode::to_der(&decoded).unwrap(),
        crafted,
        "a re-encoding differs from what was signed"
    );
    let out = openssl(
        dir,
        &[
            "x509",
            "-inform",
            "DER",
            "-in",
            &ber,
            "-out",
            &format!("{name}-ber.pem"),
        ],
        &[],
    );
    assert!(out.status.success());
    crafted
}

/// Certificates signed over a TBS that is valid BER but not what a DER
/// encoder writes (an explicit `critical FALSE`, as some CAs issue): their
/// signatures, and the signer's hash in signingCertificateV2, hold only
/// over the bytes as received. Checked over a re-encoding, the
/// intermediate would not chain and the signer would not be bound.
#[test]
fn certificate_signatures_are_checked_over_the_bytes_received() {
    let Some(dir) = pki("rsa", "rawtbs") else {
        return;
    };
    let read = |f: &str| std::fs::read(dir.join(f)).unwrap();
    let inter = craft(&dir, "inter", "root.key");
    let ee = craft(&dir, "ee", "inter.key");
    let out = openssl(
        &dir,
        &[
            "verify",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "inter-ber.pem",
            "ee-ber.pem",
        ],
        &[],
    );
    assert!(out.status.success(), "OpenSSL accepts them");
    let out = openssl(
        &dir,
        &[
            "cms",
            "-sign",
            "-binary",
            "-in",
            "data.txt",
            "-signer",
            "ee-ber.pem",
            "-inkey",
            "ee.key",
            "-md",
            "sha256",
            "-nosmimecap",
            "-cades",
            "-certfile",
            "inter-ber.pem",
            "-outform",
            "DER",
            "-out",
            "ber.data.p7s",
        ],
        &[],
    );
    assert!(out.status.success());
    let p7s = read("ber.data.p7s");
    for c in [&inter, &ee] {
        assert!(
            p7s.windows(c.len()).any(|w| w == c.as_slice()),
            "the CMS carries the certificates as crafted"
        );
    }
    let out = openssl(
        &dir,
        &[
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            "ber.data.p7s",
            "-content",
            "data.txt",
            "-CAfile",
            "root.pem",
            "-purpose",
            "any",
            "-out",
            "/dev/null",
        ],
        &[],
    );
    assert!(out.status.success(), "OpenSSL accepts the signature");
    let evidence = Evidence {
        crls: policy::crls_from(&read("trust+crls.pem"), CrlSource::File).unwrap(),
        ..Evidence::default()
    };
    let anchors = policy::certificates_from(&read("root.pem")).unwrap();
    let v = policy::verify(
        &p7s,
        Some(&read("data.txt")),
        &anchors,
        &Policy::default(),
        &evidence,
        now(),
    );
    assert!(v.valid, "{:?}", v.reason);
    std::fs::remove_dir_all(&dir).ok();
}
