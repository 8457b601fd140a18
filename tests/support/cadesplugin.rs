//! A fake CryptoPro ЭЦП Browser plug-in whose signatures are real: a small
//! HTTP server plays the tenant's `cadesplugin_api` address and serves a
//! `window.cadesplugin` with the plug-in's async API
//! (`cadesplugin.js`); the page's signing requests are taken from the
//! browser by [`Pump`], signed by OpenSSL with the GOST test PKI
//! (`core/signature/tests/pki/mkpki.sh`) and answered as base64 in
//! 64-character lines, as CryptoPro returns them. Modes: a working
//! plug-in, none installed, no certificates, the user cancels, an error.

pub use crate::pki::Pki;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use fantoccini::Client;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

/// The ООО «Ромашка» of mkpki.sh's end-entity certificates.
pub const ROMASHKA_INN: &str = "7703123457";
pub const ROMASHKA_OGRN: &str = "1027700123450";

/// Another company's certificate, issued by the same test CA.
pub const VEKTOR_INN: &str = "1650123450";
pub const VEKTOR_OGRN: &str = "1021600123456";
const VEKTOR_SUBJECT: &str = "/C=RU/L=Казань/O=ООО Вектор/CN=Петров Пётр Петрович/SN=Петров/GN=Пётр Петрович/INN=165012345680/OGRN=1021600123456/SNILS=11223344595/INNLE=1650123450";

fn gost_cnf() -> PathBuf {
    crate::repo().join("core/signature/tests/gost.cnf")
}

fn openssl(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .env("OPENSSL_CONF", gost_cnf())
        .envs(env.iter().copied())
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A certificate of the test PKI as the plug-in lists it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Cert {
    /// The file stem in the PKI folder: `ee`, `vektor`, `expired`.
    #[serde(skip)]
    pub name: String,
    pub thumbprint: String,
    /// The subject as CryptoPro writes it.
    pub subject: String,
    pub from: String,
    pub to: String,
    #[serde(rename = "hasKey")]
    pub has_key: bool,
    pub oid: String,
}

/// The test PKI's certificates as the plug-in on a computer lists them.
/// `ee` is mkpki.sh's ООО «Ромашка»; `vektor` is issued here on first use.
pub struct Certs<'a> {
    pub pki: &'a Pki,
}

impl Certs<'_> {
    /// Certificate `name` of the PKI folder as the plug-in lists it.
    pub fn cert(&self, name: &str, subject: &str) -> Cert {
        let pem = format!("{name}.pem");
        let out = openssl(
            &self.pki.dir,
            &[
                "x509",
                "-in",
                &pem,
                "-noout",
                "-fingerprint",
                "-sha1",
                "-startdate",
                "-enddate",
                "-dateopt",
                "iso_8601",
            ],
            &[],
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let field = |prefix: &str| {
            text.lines()
                .find_map(|l| l.split_once('=').filter(|(k, _)| k.ends_with(prefix)))
                .map(|(_, v)| v.trim().to_string())
                .unwrap_or_else(|| panic!("{prefix} in {text}"))
        };
        Cert {
            name: name.into(),
            thumbprint: field("Fingerprint").replace(':', ""),
            subject: subject.into(),
            from: field("notBefore").replace(' ', "T"),
            to: field("notAfter").replace(' ', "T"),
            has_key: true,
            oid: "1.2.643.7.1.1.1.1".into(),
        }
    }

    /// ООО «Ромашка»'s valid certificate (mkpki.sh's `ee`).
    pub fn romashka(&self) -> Cert {
        self.cert(
            "ee",
            "ИНН ЮЛ=7703123457, ОГРН=1027700123450, СНИЛС=12345678964, ИНН=770312345678, \
             C=RU, L=Москва, O=\"ООО \"\"Ромашка\"\"\", CN=Иванов Иван Иванович, SN=Иванов, \
             G=Иван Иванович",
        )
    }

    /// ООО «Вектор»'s valid certificate, issued by the same CA.
    pub fn vektor(&self) -> Cert {
        if !self.pki.dir.join("vektor.pem").exists() {
            self.pki.issue("vektor", VEKTOR_SUBJECT);
        }
        self.cert(
            "vektor",
            "ИНН ЮЛ=1650123450, ОГРН=1021600123456, СНИЛС=11223344595, ИНН=165012345680, \
             C=RU, L=Казань, O=ООО Вектор, CN=Петров Пётр Петрович, SN=Петров, G=Пётр Петрович",
        )
    }

    /// ООО «Ромашка»'s certificate that ran out in 2020.
    pub fn expired(&self) -> Cert {
        let subject = self.romashka().subject;
        self.cert("expired", &subject)
    }

    /// Ромашка's certificate whose private key is not on this computer.
    pub fn keyless(&self) -> Cert {
        let subject = self.romashka().subject;
        Cert {
            has_key: false,
            ..self.cert("revoked", &subject)
        }
    }
}

/// Streebog-256 of `content` in hex, as OpenSSL computes it.
pub fn streebog256(pki: &Pki, content: &[u8]) -> String {
    let file = pki.dir.join(format!("hash-{}", crate::random_suffix()));
    std::fs::write(&file, content).unwrap();
    let out = openssl(
        &pki.dir,
        &["dgst", "-md_gost12_256", "-r", file.to_str().unwrap()],
        &[],
    );
    let _ = std::fs::remove_file(&file);
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// How the fake plug-in behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Installed and signs.
    Ok,
    /// Not installed: `cadesplugin` rejects.
    Missing,
    /// Installed, but no certificates on this computer.
    NoCertificates,
    /// The user presses «Отмена» in CryptoPro's window (0x8010006E).
    Cancel,
    /// Signing fails on the computer (CryptoPro cannot build the chain).
    Error,
}

impl Mode {
    fn id(self) -> &'static str {
        match self {
            Mode::Ok => "ok",
            Mode::Missing => "missing",
            Mode::NoCertificates => "none",
            Mode::Cancel => "cancel",
            Mode::Error => "error",
        }
    }
}

struct Shared {
    mode: Mode,
    certs: Vec<Cert>,
    /// Times the api script was fetched: the page took it from the
    /// tenant's configured address.
    served: usize,
    /// Extra routes' answers for a test page of the widget: path → (type, body).
    pages: Vec<(String, &'static str, Vec<u8>)>,
    posted: Vec<Vec<(String, String)>>,
}

/// The fake's HTTP server: `/cadesplugin_api.js` and any test pages.
pub struct FakeCades {
    pub addr: std::net::SocketAddr,
    shared: Arc<Mutex<Shared>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeCades {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeCades {
    pub async fn start(certs: Vec<Cert>) -> FakeCades {
        use axum::extract::{Form, Path as UrlPath, State};
        use axum::http::header;
        use axum::response::IntoResponse;
        type St = Arc<Mutex<Shared>>;
        let shared: St = Arc::new(Mutex::new(Shared {
            mode: Mode::Ok,
            certs,
            served: 0,
            pages: Vec::new(),
            posted: Vec::new(),
        }));
        async fn api(State(s): State<St>) -> impl IntoResponse {
            let mut s = s.lock().unwrap();
            s.served += 1;
            let config = serde_json::json!({ "mode": s.mode.id(), "certs": s.certs });
            let body = format!(
                "window.__fakeCadesConfig = {config};\n{}",
                include_str!("cadesplugin.js")
            );
            (
                [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
                body,
            )
        }
        async fn page(State(s): State<St>, UrlPath(path): UrlPath<String>) -> impl IntoResponse {
            let s = s.lock().unwrap();
            match s.pages.iter().find(|(p, _, _)| *p == path) {
                Some((_, ty, body)) => {
                    ([(header::CONTENT_TYPE, *ty)], body.clone()).into_response()
                }
                None => axum::http::StatusCode::NOT_FOUND.into_response(),
            }
        }
        async fn posted(State(s): State<St>, Form(f): Form<Vec<(String, String)>>) -> &'static str {
            s.lock().unwrap().posted.push(f);
            "posted"
        }
        let router = axum::Router::new()
            .route("/cadesplugin_api.js", axum::routing::get(api))
            .route("/posted", axum::routing::post(posted))
            .route("/page/{*path}", axum::routing::get(page))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        FakeCades { addr, shared, task }
    }

    /// The address a tenant's `cadesplugin_api` names.
    pub fn api_url(&self) -> String {
        format!("http://{}/cadesplugin_api.js", self.addr)
    }

    pub fn set_mode(&self, mode: Mode) {
        self.shared.lock().unwrap().mode = mode;
    }

    /// The certificates on the "computer" from the next page load on.
    pub fn set_certs(&self, certs: Vec<Cert>) {
        self.shared.lock().unwrap().certs = certs;
    }

    /// How many times a page loaded the api script from here.
    pub fn served(&self) -> usize {
        self.shared.lock().unwrap().served
    }

    /// Serve `body` at `/page/<path>`.
    pub fn page(&self, path: &str, content_type: &'static str, body: Vec<u8>) -> String {
        self.shared
            .lock()
            .unwrap()
            .pages
            .push((path.into(), content_type, body));
        format!("http://{}/page/{path}", self.addr)
    }

    /// The address a test page's form posts to, and what was posted there.
    pub fn posted_url(&self) -> String {
        format!("http://{}/posted", self.addr)
    }

    pub fn posted(&self) -> Vec<Vec<(String, String)>> {
        self.shared.lock().unwrap().posted.clone()
    }
}

/// What the fake plug-in was asked to sign and by whom.
#[derive(Clone, Debug)]
pub struct Signed {
    pub thumbprint: String,
    /// `cades` (the content itself) or `hash` (SignHash over its digest).
    pub kind: String,
    /// The parts the page fed `HashedData.Hash` (none when it set the hash).
    pub parts: usize,
    pub content: Vec<u8>,
}

/// Takes the page's signing requests from the browser and answers them
/// with OpenSSL's signatures, until dropped. Documents signed by hash must
/// be registered with [`Pump::document`] so the pump can sign the content
/// whose digest the page handed over (the CMS is the same either way).
pub struct Pump {
    task: tokio::task::JoinHandle<()>,
    signed: Arc<Mutex<Vec<Signed>>>,
    documents: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Drop for Pump {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Pump {
    pub fn start(c: &Client, pki: Arc<Pki>, certs: Vec<Cert>) -> Pump {
        let signed = Arc::new(Mutex::new(Vec::new()));
        let documents: Arc<Mutex<Vec<Vec<u8>>>> = Arc::new(Mutex::new(Vec::new()));
        let (c, s, docs) = (c.clone(), signed.clone(), documents.clone());
        let task = tokio::spawn(async move {
            loop {
                // Mid-navigation the page has no fake yet: an error is "nothing".
                let taken = c
                    .execute(
                        "return window.__fakeCades ? window.__fakeCades.take() : [];",
                        vec![],
                    )
                    .await;
                if let Ok(serde_json::Value::Array(reqs)) = taken {
                    for r in reqs {
                        let (script, value) = match answer(&pki, &certs, &docs, &r) {
                            Ok((content, cms)) => {
                                s.lock().unwrap().push(Signed {
                                    thumbprint: r["thumbprint"].as_str().unwrap_or("").into(),
                                    kind: r["kind"].as_str().unwrap_or("").into(),
                                    parts: r["parts"].as_array().map_or(0, Vec::len),
                                    content,
                                });
                                (
                                    "window.__fakeCades.answer(arguments[0], arguments[1]);",
                                    cms,
                                )
                            }
                            Err(e) => ("window.__fakeCades.fail(arguments[0], arguments[1]);", e),
                        };
                        let id = r["id"].clone();
                        let _ = c.execute(script, vec![id, value.into()]).await;
                    }
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        });
        Pump {
            task,
            signed,
            documents,
        }
    }

    /// A document the page may sign by hash.
    pub fn document(&self, bytes: Vec<u8>) {
        self.documents.lock().unwrap().push(bytes);
    }

    pub fn signed(&self) -> Vec<Signed> {
        self.signed.lock().unwrap().clone()
    }
}

/// The content signed and the CMS in CryptoPro's shape, or the plug-in's
/// error text.
fn answer(
    pki: &Pki,
    certs: &[Cert],
    docs: &Mutex<Vec<Vec<u8>>>,
    r: &serde_json::Value,
) -> Result<(Vec<u8>, String), String> {
    let thumb = r["thumbprint"].as_str().unwrap_or("");
    let cert = certs
        .iter()
        .find(|c| c.thumbprint == thumb)
        .ok_or("Сертификат не найден. (0x80092004)")?;
    let content = match r["kind"].as_str() {
        Some("cades") => B64
            .decode(r["content"].as_str().unwrap_or(""))
            .map_err(|e| format!("fake: content is not base64: {e}"))?,
        Some("hash") => {
            if r["alg"] != 101 {
                return Err(format!("fake: test keys hash with 101, not {}", r["alg"]));
            }
            match r["hash"].as_str() {
                // The page gave the server's hash: sign the document it is of.
                Some(want) => {
                    let want = want.to_lowercase();
                    docs.lock()
                        .unwrap()
                        .iter()
                        .find(|d| streebog256(pki, d) == want)
                        .cloned()
                        .ok_or_else(|| format!("fake: no registered document hashes to {want}"))?
                }
                // The page fed the file in parts, as HashedData.Hash takes it.
                None => {
                    let mut content = Vec::new();
                    for part in r["parts"].as_array().into_iter().flatten() {
                        content.extend(
                            B64.decode(part.as_str().unwrap_or(""))
                                .map_err(|e| format!("fake: a part is not base64: {e}"))?,
                        );
                    }
                    content
                }
            }
        }
        _ => return Err("fake: unknown request".into()),
    };
    Ok((content.clone(), pki.sign(&cert.name, &content)))
}

/// Point `tenant_dir`'s `[signature] cadesplugin_api` at `url` (adding the
/// section if the tenant has none).
pub fn point_tenant_at(tenant_dir: &Path, url: &str) {
    let path = tenant_dir.join("tenant.toml");
    let toml = std::fs::read_to_string(&path).unwrap();
    let line = format!("cadesplugin_api = \"{url}\"");
    let mut out = Vec::new();
    let mut done = false;
    let mut in_section = false;
    for l in toml.lines() {
        let t = l.trim();
        if t.starts_with('[') {
            in_section = t == "[signature]";
        }
        if in_section && t.starts_with("cadesplugin_api") {
            continue;
        }
        out.push(l.to_string());
        if t == "[signature]" {
            out.push(line.clone());
            done = true;
        }
    }
    if !done {
        out.push(String::new());
        out.push("[signature]".into());
        out.push(line);
    }
    std::fs::write(path, out.join("\n") + "\n").unwrap();
}
