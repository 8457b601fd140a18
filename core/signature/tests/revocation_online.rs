//! Revocation over the network, as the portal does it: the test PKI's
//! certificates name an OCSP responder (a real `openssl ocsp` on loopback,
//! one per CA, each signing with a certificate its CA gave the OCSPSigning
//! usage) and a CRL distribution point (a small HTTP server in this test).
//! The fetch step gathers the evidence, the pure verification judges it,
//! and each case is set beside what OpenSSL's own `ocsp` client and
//! `verify -crl_download` say of the same certificates.

mod common;

use common::{here, openssl, pki_env};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tapline_signature::fetch;
use tapline_signature::ocsp::{self, OcspEvidence, Unusable};
use tapline_signature::policy::{
    self, Distrust, Evidence, Policy, Purpose, Reason, Revocation, RevocationPolicy, SourceKind,
    Verdict,
};
use x509_cert::Certificate;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A static file server over `www`; while `down` is set it drops every
/// connection unanswered.
fn serve(www: PathBuf, port: u16, down: Arc<AtomicBool>) {
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            if down.load(Ordering::SeqCst) {
                continue;
            }
            let mut buf = Vec::new();
            let mut chunk = [0u8; 1024];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let head = String::from_utf8_lossy(&buf);
            let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
            let file = www.join(path.trim_start_matches('/'));
            let reply = match std::fs::read(&file) {
                // A redirect to another scheme, which the fetch step must
                // not follow.
                _ if path == "/elsewhere.crl" => {
                    b"HTTP/1.1 302 Found\r\nLocation: https://127.0.0.1:1/inter.crl\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        .to_vec()
                }
                Ok(body) if !path.contains("..") => {
                    let mut r = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    r.extend(body);
                    r
                }
                _ => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_vec(),
            };
            let _ = s.write_all(&reply);
        }
    });
}

/// An `openssl ocsp` responder, stopped when dropped.
struct Responder(Child);

impl Responder {
    fn start(dir: &Path, port: u16, index: &str, signer: &str, ca: &str) -> Responder {
        let child = Command::new("openssl")
            .args(["ocsp", "-index", index, "-port", &port.to_string()])
            .args(["-rsigner", &format!("{signer}.pem")])
            .args(["-rkey", &format!("{signer}.key")])
            .args(["-CA", ca, "-nmin", "5", "-ignore_err"])
            .current_dir(dir)
            .env("OPENSSL_CONF", here().join("gost.cnf"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("openssl ocsp runs");
        // Not a probe connection: an empty one stalls OpenSSL 3.0's
        // responder. It says when it listens; the rest of what it says is
        // drained so it never blocks on a full pipe.
        let mut child = child;
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        for line in lines.by_ref() {
            if line.unwrap_or_default().contains("waiting for OCSP client") {
                break;
            }
        }
        std::thread::spawn(move || lines.for_each(drop));
        Responder(child)
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What OpenSSL's client says of `cert` at the responder: good, revoked,
/// unknown, or an error.
fn openssl_ocsp(dir: &Path, cert: &str, port: u16) -> String {
    let out = openssl(
        dir,
        &[
            "ocsp",
            "-issuer",
            "inter.pem",
            "-cert",
            cert,
            "-url",
            &format!("http://127.0.0.1:{port}"),
            "-CAfile",
            "root.pem",
            "-timeout",
            "5",
        ],
        &[],
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    for status in ["good", "revoked", "unknown"] {
        if text.contains(&format!("{cert}: {status}")) {
            return status.into();
        }
    }
    "error".into()
}

/// Whether `openssl verify` accepts `cert` with its CRL downloaded from
/// its distribution point (and the purpose, if given). Only the leaf's:
/// OpenSSL's download callback would want one for the root too, which
/// names no distribution point.
fn openssl_verify_crl(dir: &Path, cert: &str, purpose: Option<&str>) -> bool {
    let mut args = vec![
        "verify",
        "-crl_check",
        "-crl_download",
        "-CAfile",
        "root.pem",
        "-untrusted",
        "inter.pem",
    ];
    if let Some(p) = purpose {
        args.extend(["-purpose", p]);
    }
    args.push(cert);
    openssl(dir, &args, &[]).status.success()
}

struct Case {
    dir: PathBuf,
    data: Vec<u8>,
    anchors: Vec<Certificate>,
    at: u64,
}

impl Case {
    fn read(&self, f: &str) -> Vec<u8> {
        std::fs::read(self.dir.join(f)).unwrap()
    }

    fn cert(&self, f: &str) -> Certificate {
        policy::certificates_from(&self.read(f)).unwrap().remove(0)
    }

    async fn gather(&self, sig: &str, method: Revocation) -> Evidence {
        let rp = RevocationPolicy {
            method,
            fetch: true,
        };
        fetch::gather(&self.read(sig), &self.anchors, &rp, self.at).await
    }

    fn judge(&self, sig: &str, method: Revocation, purpose: Purpose, e: &Evidence) -> Verdict {
        let p = Policy {
            revocation: method,
            purpose,
        };
        policy::verify(
            &self.read(sig),
            Some(&self.data),
            &self.anchors,
            &p,
            e,
            self.at,
        )
    }

    async fn run(&self, sig: &str, method: Revocation, purpose: Purpose) -> Verdict {
        let e = self.gather(sig, method).await;
        let v = self.judge(sig, method, purpose, &e);
        if !v.valid {
            // What was fetched, for whoever reads a failure.
            eprintln!(
                "{sig} {method:?}: {:?}; failures {:?}",
                v.reason, e.failures
            );
            for o in &e.ocsp {
                for (c, i) in [("ee.pem", "inter.pem"), ("inter.pem", "root.pem")] {
                    let got = ocsp::check(o, &self.cert(c), &self.cert(i), self.at);
                    eprintln!("  {} for {c}: {got:?}", o.url);
                }
            }
        }
        v
    }
}

fn trust(d: Distrust) -> Option<Reason> {
    Some(Reason::Trust(d))
}

/// An OCSP answer made by `openssl ocsp` offline for our own request (so
/// with our nonce), signed by `signer`.
fn offline_answer(c: &Case, cert: &str, signer: &str, nonce: &[u8]) -> OcspEvidence {
    let req = ocsp::request(&c.cert(cert), &c.cert("inter.pem"), nonce).unwrap();
    std::fs::write(c.dir.join("req.der"), &req).unwrap();
    let out = openssl(
        &c.dir,
        &[
            "ocsp",
            "-index",
            "db-inter/index.txt",
            "-rsigner",
            &format!("{signer}.pem"),
            "-rkey",
            &format!("{signer}.key"),
            "-CA",
            "inter.pem",
            "-nmin",
            "5",
            "-reqin",
            "req.der",
            "-respout",
            "resp.der",
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    OcspEvidence {
        url: "offline".into(),
        nonce: nonce.to_vec(),
        response: c.read("resp.der"),
        fetched_at: c.at,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ocsp_and_crl_over_http_agree_with_openssl() {
    for kind in ["rsa", "gost256:A", "gost512:C"] {
        let (crl_port, root_port, inter_port) = (free_port(), free_port(), free_port());
        let env = [
            ("ONLINE_CRL_BASE", format!("http://127.0.0.1:{crl_port}")),
            ("ONLINE_OCSP_ROOT", format!("http://127.0.0.1:{root_port}")),
            (
                "ONLINE_OCSP_INTER",
                format!("http://127.0.0.1:{inter_port}"),
            ),
        ];
        let Some(dir) = pki_env(kind, "online", &env) else {
            return;
        };
        let www = dir.join("www");
        std::fs::create_dir_all(&www).unwrap();
        for f in ["root.crl", "inter.crl"] {
            std::fs::copy(dir.join(f), www.join(f)).unwrap();
        }
        let crl_down = Arc::new(AtomicBool::new(false));
        serve(www.clone(), crl_port, crl_down.clone());
        let _root = Responder::start(
            &dir,
            root_port,
            "db-root/index.txt",
            "ocsp-root",
            "root.pem",
        );
        let inter = Responder::start(
            &dir,
            inter_port,
            "db-inter/index.txt",
            "ocsp-inter",
            "inter.pem",
        );
        let c = Case {
            data: std::fs::read(dir.join("data.txt")).unwrap(),
            anchors: policy::certificates_from(&std::fs::read(dir.join("root.pem")).unwrap())
                .unwrap(),
            at: now(),
            dir: dir.clone(),
        };
        use Purpose::{Authenticate, Sign};
        use Revocation::{Both, Crl, Either, Ocsp};

        // OCSP: good, revoked, unknown; as OpenSSL's client hears them.
        let v = c.run("ee.data.p7s", Ocsp, Sign).await;
        assert!(v.valid, "{kind}: {:?}", v.reason);
        assert_eq!(openssl_ocsp(&dir, "ee.pem", inter_port), "good");
        assert_eq!(v.revocation.len(), 2, "{kind}: signer and intermediate");
        assert!(v.revocation.iter().all(|r| r.kind == SourceKind::OcspUrl));
        assert_eq!(
            v.revocation[0].url.as_deref(),
            Some(format!("http://127.0.0.1:{inter_port}").as_str())
        );
        assert_eq!(
            v.revocation[1].url.as_deref(),
            Some(format!("http://127.0.0.1:{root_port}").as_str())
        );
        let r = &v.revocation[0];
        assert!(r.produced_at.is_some() && r.next_update.is_some_and(|n| n > r.this_update));

        let v = c.run("revoked.data.p7s", Ocsp, Sign).await;
        assert_eq!(v.reason, trust(Distrust::Revoked), "{kind}");
        assert_eq!(openssl_ocsp(&dir, "revoked.pem", inter_port), "revoked");

        let v = c.run("unknown.data.p7s", Ocsp, Sign).await;
        assert_eq!(v.reason, trust(Distrust::StatusUnknown), "{kind}");
        assert_eq!(openssl_ocsp(&dir, "unknown.pem", inter_port), "unknown");

        // CRLs from the distribution points.
        let v = c.run("ee.data.p7s", Crl, Sign).await;
        assert!(v.valid, "{kind}: {:?}", v.reason);
        assert!(v.revocation.iter().all(|r| r.kind == SourceKind::CrlUrl));
        assert!(
            v.revocation[0]
                .url
                .as_deref()
                .unwrap()
                .ends_with("/inter.crl")
        );
        assert!(openssl_verify_crl(&dir, "ee.pem", None));
        let v = c.run("revoked.data.p7s", Crl, Sign).await;
        assert_eq!(v.reason, trust(Distrust::Revoked), "{kind}");
        assert!(!openssl_verify_crl(&dir, "revoked.pem", None));
        // The unknown certificate is not on the CRL: by CRL it passes, as
        // OpenSSL says too; only its responder knows it is not the CA's.
        assert!(c.run("unknown.data.p7s", Crl, Sign).await.valid);
        assert!(openssl_verify_crl(&dir, "unknown.pem", None));

        // Both: two words per certificate.
        let v = c.run("ee.data.p7s", Both, Sign).await;
        assert!(v.valid, "{kind}: {:?}", v.reason);
        assert_eq!(v.revocation.len(), 4);
        let v = c.run("unknown.data.p7s", Both, Sign).await;
        assert_eq!(v.reason, trust(Distrust::StatusUnknown), "{kind}");

        // Purpose: a login key signs no documents, and logs in.
        let v = c.run("auth.data.p7s", Ocsp, Sign).await;
        assert_eq!(v.reason, trust(Distrust::WrongPurpose), "{kind}");
        assert!(!openssl_verify_crl(&dir, "auth.pem", Some("smimesign")));
        let v = c.run("auth.data.p7s", Ocsp, Authenticate).await;
        assert!(v.valid, "{kind}: {:?}", v.reason);
        assert!(openssl_verify_crl(&dir, "auth.pem", Some("sslclient")));
        assert!(c.run("ee.data.p7s", Ocsp, Authenticate).await.valid);

        // The evidence is re-judged later from what was kept: the same
        // verdict at the same time; past nextUpdate (5 minutes) or before
        // thisUpdate (beyond the skew) the answer no longer counts.
        let e = c.gather("ee.data.p7s", Ocsp).await;
        assert!(c.judge("ee.data.p7s", Ocsp, Sign, &e).valid);
        // Stored as JSON beside the signature and read back: the same
        // verdict, CRLs included.
        let both = c.gather("ee.data.p7s", Both).await;
        let stored = serde_json::to_string(&both).unwrap();
        let back: Evidence = serde_json::from_str(&stored).unwrap();
        assert_eq!(back.crls.len(), both.crls.len());
        let (v1, v2) = (
            c.judge("ee.data.p7s", Both, Sign, &both),
            c.judge("ee.data.p7s", Both, Sign, &back),
        );
        assert!(v1.valid && v2.valid, "{:?} {:?}", v1.reason, v2.reason);
        assert_eq!(v1.revocation, v2.revocation);
        let verdict_json = serde_json::to_value(&v2.revocation).unwrap();
        assert_eq!(verdict_json[0]["kind"], "ocsp_url");
        assert_eq!(verdict_json[1]["kind"], "crl_url");
        let ee = c.cert("ee.pem");
        let issuer = c.cert("inter.pem");
        let mine = e
            .ocsp
            .iter()
            .find(|x| x.url.ends_with(&inter_port.to_string()))
            .unwrap()
            .clone();
        let answer = ocsp::check(&mine, &ee, &issuer, c.at).unwrap();
        assert_eq!(answer.status, ocsp::Status::Good);
        let late = answer.next_update.unwrap();
        assert_eq!(
            ocsp::check(&mine, &ee, &issuer, late),
            Err(Unusable::NotCurrent)
        );
        // Before thisUpdate beyond the skew: an answer the intermediate
        // signed itself (its responder's certificate is only minutes old).
        let own = offline_answer(&c, "ee.pem", "inter", &[9; ocsp::NONCE_LEN]);
        let own_answer = ocsp::check(&own, &ee, &issuer, c.at).unwrap();
        let early = own_answer.this_update - ocsp::SKEW - 60;
        assert_eq!(
            ocsp::check(&own, &ee, &issuer, early),
            Err(Unusable::NotCurrent)
        );
        let within_skew = own_answer.this_update - ocsp::SKEW + 60;
        assert!(ocsp::check(&own, &ee, &issuer, within_skew).is_ok());
        let later = Case {
            at: late,
            ..clone_case(&c)
        };
        assert_eq!(
            later.judge("ee.data.p7s", Ocsp, Sign, &e).reason,
            trust(Distrust::RevocationUnavailable)
        );
        // A different certificate's answer does not vouch for this one.
        assert_eq!(
            ocsp::check(&mine, &c.cert("revoked.pem"), &issuer, c.at),
            Err(Unusable::NotForThisCertificate)
        );

        // A replayed answer: OpenSSL's client got it with its own nonce.
        let out = openssl(
            &dir,
            &[
                "ocsp",
                "-issuer",
                "inter.pem",
                "-cert",
                "ee.pem",
                "-url",
                &format!("http://127.0.0.1:{inter_port}"),
                "-respout",
                "replayed.der",
                "-noverify",
            ],
            &[],
        );
        assert!(out.status.success());
        let replayed = OcspEvidence {
            response: c.read("replayed.der"),
            ..mine.clone()
        };
        assert_eq!(
            ocsp::check(&replayed, &ee, &issuer, c.at),
            Err(Unusable::NonceMismatch)
        );
        let other_nonce = OcspEvidence {
            nonce: vec![7; ocsp::NONCE_LEN],
            ..mine.clone()
        };
        assert_eq!(
            ocsp::check(&other_nonce, &ee, &issuer, c.at),
            Err(Unusable::NonceMismatch)
        );
        let with = |x: OcspEvidence| {
            let mut e2 = e.clone();
            e2.ocsp.retain(|o| o.url != mine.url);
            e2.ocsp.push(x);
            c.judge("ee.data.p7s", Ocsp, Sign, &e2).reason
        };
        assert_eq!(with(replayed), trust(Distrust::RevocationUnavailable));

        // Who may answer: the issuer itself and its OCSP responder; not a
        // certificate of the issuer without OCSPSigning, nor the root's
        // responder speaking for the intermediate's certificates.
        let nonce = [0x42; ocsp::NONCE_LEN];
        for (signer, ok) in [
            ("ocsp-inter", true),
            ("inter", true),
            ("ee", false),
            ("ocsp-root", false),
        ] {
            let x = offline_answer(&c, "ee.pem", signer, &nonce);
            let got = ocsp::check(&x, &ee, &issuer, c.at);
            if ok {
                assert_eq!(
                    got.map(|a| a.status),
                    Ok(ocsp::Status::Good),
                    "{kind} {signer}"
                );
                assert_eq!(with(x), None, "{kind} {signer}");
            } else {
                assert_eq!(got, Err(Unusable::UnauthorisedResponder), "{kind} {signer}");
                assert_eq!(
                    with(x),
                    trust(Distrust::RevocationUnavailable),
                    "{kind} {signer}"
                );
            }
        }

        // CRL trouble: stale, missing, garbage, server down.
        let stale = dir.join("stale.crl");
        let ca_cnf = here().join("pki/ca.cnf").display().to_string();
        let md = match kind {
            "rsa" => "sha256",
            k if k.starts_with("gost256") => "md_gost12_256",
            _ => "md_gost12_512",
        };
        let out = Command::new("faketime")
            .args(["2021-01-01 00:00:00", "openssl", "ca", "-config", &ca_cnf])
            .args(["-cert", "inter.pem", "-keyfile", "inter.key", "-gencrl"])
            .args(["-crldays", "1", "-out", "stale.crl.pem"])
            .current_dir(&dir)
            .env("OPENSSL_CONF", here().join("gost.cnf"))
            .env("CADIR", dir.join("db-inter"))
            .env("MD", md)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = openssl(
            &dir,
            &[
                "crl",
                "-in",
                "stale.crl.pem",
                "-outform",
                "DER",
                "-out",
                &stale.display().to_string(),
            ],
            &[],
        );
        assert!(out.status.success());
        std::fs::copy(&stale, www.join("inter.crl")).unwrap();
        let v = c.run("ee.data.p7s", Crl, Sign).await;
        assert_eq!(v.reason, trust(Distrust::RevocationUnavailable), "{kind}");
        assert!(!openssl_verify_crl(&dir, "ee.pem", None));
        std::fs::write(www.join("inter.crl"), b"not a CRL").unwrap();
        let v = c.run("ee.data.p7s", Crl, Sign).await;
        assert_eq!(v.reason, trust(Distrust::RevocationUnavailable), "{kind}");
        std::fs::remove_file(www.join("inter.crl")).unwrap();
        let e = c.gather("ee.data.p7s", Crl).await;
        assert!(
            e.failures.iter().any(|f| f.error.contains("404")),
            "{:?}",
            e.failures
        );
        assert_eq!(
            c.judge("ee.data.p7s", Crl, Sign, &e).reason,
            trust(Distrust::RevocationUnavailable)
        );
        assert!(!openssl_verify_crl(&dir, "ee.pem", None));
        std::fs::write(www.join("inter.crl"), vec![0x30; fetch::MAX_BODY + 1]).unwrap();
        let e = c.gather("ee.data.p7s", Crl).await;
        assert!(
            e.failures.iter().any(|f| f.error == "too large"),
            "{:?}",
            e.failures
        );
        let fetcher = fetch::Fetcher::new().unwrap();
        let moved = fetcher
            .crl(&format!("http://127.0.0.1:{crl_port}/elsewhere.crl"))
            .await;
        assert_eq!(moved.unwrap_err(), "HTTP 302 Found");
        std::fs::copy(dir.join("inter.crl"), www.join("inter.crl")).unwrap();
        assert!(c.run("ee.data.p7s", Crl, Sign).await.valid);

        // The intermediate's responder goes down: OCSP alone refuses,
        // Either falls back to the CRL, Both needs both.
        drop(inter);
        assert_eq!(openssl_ocsp(&dir, "ee.pem", inter_port), "error");
        let v = c.run("ee.data.p7s", Ocsp, Sign).await;
        assert_eq!(v.reason, trust(Distrust::RevocationUnavailable), "{kind}");
        let v = c.run("ee.data.p7s", Either, Sign).await;
        assert!(v.valid, "{kind}: {:?}", v.reason);
        assert_eq!(v.revocation[0].kind, SourceKind::CrlUrl);
        assert_eq!(
            v.revocation[1].kind,
            SourceKind::OcspUrl,
            "the root's responder answers"
        );
        let v = c.run("revoked.data.p7s", Either, Sign).await;
        assert_eq!(v.reason, trust(Distrust::Revoked), "{kind}");
        let v = c.run("ee.data.p7s", Both, Sign).await;
        assert_eq!(v.reason, trust(Distrust::RevocationUnavailable), "{kind}");
        // And the CRL server too: nothing left, nothing passes.
        crl_down.store(true, Ordering::SeqCst);
        let v = c.run("ee.data.p7s", Either, Sign).await;
        assert_eq!(v.reason, trust(Distrust::RevocationUnavailable), "{kind}");
        crl_down.store(false, Ordering::SeqCst);

        // Fetching switched off: only configured files count.
        let off = RevocationPolicy {
            method: Crl,
            fetch: false,
        };
        let e = fetch::gather(&c.read("ee.data.p7s"), &c.anchors, &off, c.at).await;
        assert!(e.crls.is_empty() && e.ocsp.is_empty());
        std::fs::remove_dir_all(&dir).ok();
    }
}

fn clone_case(c: &Case) -> Case {
    Case {
        dir: c.dir.clone(),
        data: c.data.clone(),
        anchors: c.anchors.clone(),
        at: c.at,
    }
}
