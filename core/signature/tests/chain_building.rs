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
