//! A test PKI for the portals' signatures, made by OpenSSL with its GOST
//! engine (`core/signature/tests/pki/mkpki.sh`): a root, an issuing CA,
//! end-entity certificates carrying Russian identity attributes (valid,
//! revoked, expired) and the CAs' CRLs. Certificates of other holders are
//! issued on demand; signatures are real detached CAdES-BES made by
//! `openssl cms`, as CryptoPro's plug-in would return them.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Pki {
    pub dir: PathBuf,
    md: &'static str,
}

fn signature_tests() -> PathBuf {
    super::repo().join("core/signature/tests")
}

impl Pki {
    /// A GOST R 34.10-2012 256 PKI in a fresh folder; None outside CI when
    /// OpenSSL's GOST engine is missing (CI installs it).
    pub fn gost256(tag: &str) -> Option<Pki> {
        let dir =
            std::env::temp_dir().join(format!("tapline-e2e-pki-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let out = Command::new("bash")
            .arg(signature_tests().join("pki/mkpki.sh"))
            .arg(&dir)
            .arg("gost256")
            .env("OPENSSL_CONF", signature_tests().join("gost.cnf"))
            .output()
            .expect("bash runs");
        if !out.status.success() {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI needs openssl with the GOST engine: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            eprintln!("could not make the test PKI (GOST engine missing?): not run");
            return None;
        }
        Some(Pki {
            dir,
            md: "md_gost12_256",
        })
    }

    fn openssl(&self, args: &[&str]) -> std::process::Output {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(&self.dir)
            .env("OPENSSL_CONF", signature_tests().join("gost.cnf"))
            .env("CADIR", self.dir.join("db-inter"))
            .env("MD", self.md)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// A certificate `name` of another holder (`subject` in OpenSSL's
    /// `/K=V/…` form), issued by the same CA as `ee`, with `ee`'s usages.
    pub fn issue(&self, name: &str, subject: &str) {
        self.issue_with_eku(name, subject, "clientAuth,emailProtection");
    }

    /// As [`Pki::issue`], with the extended key usages `eku` (OpenSSL's
    /// list: names or OIDs), e.g. a Kazakh head of organisation's key.
    pub fn issue_with_eku(&self, name: &str, subject: &str, eku: &str) {
        let ext = self.dir.join(format!("{name}.ext.cnf"));
        std::fs::write(
            &ext,
            format!(
                "[ext]\nbasicConstraints = critical,CA:false\nkeyUsage = critical,digitalSignature,nonRepudiation\n\
                 extendedKeyUsage = {eku}\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid:always\n"
            ),
        )
        .unwrap();
        self.openssl(&[
            "genpkey",
            "-quiet",
            "-algorithm",
            "gost2012_256",
            "-pkeyopt",
            "paramset:A",
            "-out",
            &format!("{name}.key"),
        ]);
        self.openssl(&[
            "req",
            "-new",
            "-utf8",
            "-key",
            &format!("{name}.key"),
            "-subj",
            subject,
            "-out",
            &format!("{name}.csr"),
        ]);
        let cnf = signature_tests().join("pki/ca.cnf");
        self.openssl(&[
            "ca",
            "-batch",
            "-utf8",
            "-preserveDN",
            "-config",
            cnf.to_str().unwrap(),
            "-extfile",
            ext.to_str().unwrap(),
            "-extensions",
            "ext",
            "-cert",
            "inter.pem",
            "-keyfile",
            "inter.key",
            "-days",
            "825",
            "-notext",
            "-in",
            &format!("{name}.csr"),
            "-out",
            &format!("{name}.pem"),
        ]);
    }

    /// A detached CAdES-BES signature of `content` by certificate `name`
    /// (`ee`, `revoked`, `expired` or one [`Pki::issue`]d), base64 in
    /// 64-character lines as CryptoPro returns it.
    pub fn sign(&self, name: &str, content: &[u8]) -> String {
        let data = self.dir.join(format!("content-{}.bin", rand_tag()));
        std::fs::write(&data, content).unwrap();
        let out = self.openssl(&[
            "cms",
            "-sign",
            "-binary",
            "-in",
            data.to_str().unwrap(),
            "-signer",
            &format!("{name}.pem"),
            "-inkey",
            &format!("{name}.key"),
            "-md",
            self.md,
            "-nosmimecap",
            "-cades",
            "-certfile",
            "inter.pem",
            "-outform",
            "DER",
        ]);
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&out.stdout);
        b64.as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join("\r\n")
    }

    /// The files a tenant trusting this PKI keeps in `trust/`: the root and
    /// both CRLs.
    pub fn install(&self, tenant_dir: &Path) {
        let trust = tenant_dir.join("trust");
        std::fs::create_dir_all(&trust).unwrap();
        for f in ["root.pem", "inter.crl", "root.crl"] {
            std::fs::copy(self.dir.join(f), trust.join(f)).unwrap();
        }
    }
}

fn rand_tag() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed).to_string()
}
