//! A fake NCALayer for the tests: a websocket server on loopback that
//! greets as NCALayer does, speaks both of its JSON protocols (the newer
//! `kz.gov.pki.knca.basics` and the older `kz.gov.pki.knca.commonUtils`)
//! and signs for real with OpenSSL, with keys of a Kazakh-profile RSA test
//! PKI ([`KzPki`]): subject `serialNumber=IIN…`, `OU=BIN…`, the KZ extended
//! key usages. Its [`Mode`] makes it cancel, fail, stay silent, drop the
//! socket, or know only the older module, as the real program may.
//!
//! The websocket is the few lines of RFC 6455 the page needs (a handshake,
//! text frames, close), so the tests need no websocket crate.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use sha1::{Digest, Sha1};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

// ------------------------------------------------------------------ the PKI

/// One end-entity key with its certificate (PEM files).
#[derive(Clone, Debug)]
pub struct Key {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A Kazakh-profile RSA test PKI, made once per test process.
#[derive(Debug)]
pub struct KzPki {
    pub dir: PathBuf,
    /// The root to trust (PEM) and its CRL (DER), which revokes `revoked`.
    pub root: PathBuf,
    pub crl: PathBuf,
    /// ТОО «Ромашка», its head: the authentication and the signing key.
    pub org_auth: Key,
    pub org_sign: Key,
    /// A sole proprietor's personal keys (IIN only).
    pub person_auth: Key,
    pub person_sign: Key,
    /// An employee of ТОО «Ромашка» (no right to sign for it).
    pub employee_auth: Key,
    /// The head's authentication key, revoked; and one expired in 2020.
    pub revoked_auth: Key,
    pub expired_auth: Key,
    /// The same subject under a root nobody trusts.
    pub foreign_auth: Key,
    /// Another organisation's head (ТОО «Лютик»).
    pub other_org_sign: Key,
}

pub const ORG_BIN: &str = "120540012302";
pub const HEAD_IIN: &str = "880101300111";
pub const PERSON_IIN: &str = "900202400409";
pub const OTHER_BIN: &str = "150340098704";
pub const ORG_NAME: &str = "ТОО «Ромашка»";
pub const HEAD_NAME: &str = "Иванов Иван Иванович";
pub const PERSON_NAME: &str = "Сейтказиева Айгерим Болатовна";

const EXTENSIONS: &str = "
[auth_org]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth,1.2.398.3.3.4.1.2,1.2.398.3.3.4.1.2.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[sign_org]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature,nonRepudiation
extendedKeyUsage = emailProtection,1.2.398.3.3.4.1.2,1.2.398.3.3.4.1.2.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[auth_person]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth,1.2.398.3.3.4.1.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[sign_person]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature,nonRepudiation
extendedKeyUsage = emailProtection,1.2.398.3.3.4.1.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[auth_employee]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth,1.2.398.3.3.4.1.2,1.2.398.3.3.4.1.2.5
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
";

fn openssl(dir: &Path, cadir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .env("CADIR", cadir)
        .env("MD", "sha256")
        .env_remove("OPENSSL_CONF")
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A root CA in `dir` named `name`, with its `openssl ca` database.
fn root(dir: &Path, name: &str) -> PathBuf {
    let cadir = dir.join(format!("db-{name}"));
    std::fs::create_dir_all(cadir.join("newcerts")).unwrap();
    std::fs::write(cadir.join("index.txt"), "").unwrap();
    std::fs::write(cadir.join("serial"), "1000\n").unwrap();
    std::fs::write(cadir.join("crlnumber"), "01\n").unwrap();
    let key = format!("{name}.key");
    openssl(
        dir,
        &cadir,
        &[
            "genpkey",
            "-quiet",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            &key,
        ],
    );
    let subj = format!("/C=KZ/O=Tapline Test/CN=Tapline Test НУЦ РК {name}");
    openssl(
        dir,
        &cadir,
        &[
            "req",
            "-x509",
            "-new",
            "-utf8",
            "-key",
            &key,
            "-subj",
            &subj,
            "-days",
            "7300",
            "-sha256",
            "-addext",
            "basicConstraints=critical,CA:true",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-out",
            &format!("{name}.pem"),
        ],
    );
    cadir
}

fn subject(iin: &str, bin: Option<(&str, &str)>, name: &str) -> String {
    let surname = name.split(' ').next().unwrap();
    let mut s = format!("/C=KZ/CN={name}/SN={surname}/serialNumber=IIN{iin}");
    if let Some((bin, org)) = bin {
        s.push_str(&format!("/O={org}/OU=BIN{bin}"));
    }
    s
}

/// An end-entity key issued by the CA `ca` with the extensions `ext`.
fn issue(dir: &Path, ca: &str, name: &str, subj: &str, ext: &str, dates: &[&str]) -> Key {
    let cadir = dir.join(format!("db-{ca}"));
    let key = format!("{name}.key");
    openssl(
        dir,
        &cadir,
        &[
            "genpkey",
            "-quiet",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            &key,
        ],
    );
    let csr = format!("{name}.csr");
    openssl(
        dir,
        &cadir,
        &[
            "req", "-new", "-utf8", "-key", &key, "-subj", subj, "-out", &csr,
        ],
    );
    let ca_cnf = crate::repo().join("core/signature/tests/pki/ca.cnf");
    let mut args = vec![
        "ca",
        "-batch",
        "-utf8",
        "-preserveDN",
        "-config",
        ca_cnf.to_str().unwrap(),
        "-extfile",
        "kz.cnf",
        "-extensions",
        ext,
        "-cert",
        &format!("{ca}.pem"),
        "-keyfile",
        &format!("{ca}.key"),
        "-notext",
        "-in",
        &csr,
        "-out",
        &format!("{name}.pem"),
    ]
    .into_iter()
    .map(String::from)
    .collect::<Vec<_>>();
    args.extend(dates.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    openssl(dir, &cadir, &args);
    Key {
        cert: dir.join(format!("{name}.pem")),
        key: dir.join(key),
    }
}

impl KzPki {
    /// The PKI of this test process, made on first use (a few seconds).
    pub fn get() -> &'static KzPki {
        static PKI: OnceLock<KzPki> = OnceLock::new();
        PKI.get_or_init(KzPki::make)
    }

    fn make() -> KzPki {
        let dir = crate::scratch().join("kzpki");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("kz.cnf"), EXTENSIONS).unwrap();
        let cadir = root(&dir, "nca");
        root(&dir, "foreign");
        let days = ["-days", "825"];
        let org = Some((ORG_BIN, ORG_NAME));
        let head = subject(HEAD_IIN, org, HEAD_NAME);
        let org_auth = issue(&dir, "nca", "org_auth", &head, "auth_org", &days);
        let org_sign = issue(&dir, "nca", "org_sign", &head, "sign_org", &days);
        let person = subject(PERSON_IIN, None, PERSON_NAME);
        let person_auth = issue(&dir, "nca", "person_auth", &person, "auth_person", &days);
        let person_sign = issue(&dir, "nca", "person_sign", &person, "sign_person", &days);
        let employee = subject("950505300706", org, "Петров Пётр Петрович");
        let employee_auth = issue(
            &dir,
            "nca",
            "employee_auth",
            &employee,
            "auth_employee",
            &days,
        );
        let revoked_auth = issue(&dir, "nca", "revoked_auth", &head, "auth_org", &days);
        let expired_auth = issue(
            &dir,
            "nca",
            "expired_auth",
            &head,
            "auth_org",
            &[
                "-startdate",
                "20200101000000Z",
                "-enddate",
                "20201231235959Z",
            ],
        );
        let foreign_auth = issue(&dir, "foreign", "foreign_auth", &head, "auth_org", &days);
        let other = subject(
            "770707300101",
            Some((OTHER_BIN, "ТОО «Лютик»")),
            "Сидоров Сидор Сидорович",
        );
        let other_org_sign = issue(&dir, "nca", "other_org_sign", &other, "sign_org", &days);
        let ca_cnf = crate::repo().join("core/signature/tests/pki/ca.cnf");
        let ca_cnf = ca_cnf.to_str().unwrap();
        openssl(
            &dir,
            &cadir,
            &[
                "ca",
                "-config",
                ca_cnf,
                "-cert",
                "nca.pem",
                "-keyfile",
                "nca.key",
                "-revoke",
                "revoked_auth.pem",
                "-crl_reason",
                "keyCompromise",
            ],
        );
        openssl(
            &dir,
            &cadir,
            &[
                "ca",
                "-config",
                ca_cnf,
                "-cert",
                "nca.pem",
                "-keyfile",
                "nca.key",
                "-gencrl",
                "-out",
                "nca.crl.pem",
            ],
        );
        openssl(
            &dir,
            &cadir,
            &[
                "crl",
                "-in",
                "nca.crl.pem",
                "-outform",
                "DER",
                "-out",
                "nca.crl",
            ],
        );
        KzPki {
            root: dir.join("nca.pem"),
            crl: dir.join("nca.crl"),
            dir,
            org_auth,
            org_sign,
            person_auth,
            person_sign,
            employee_auth,
            revoked_auth,
            expired_auth,
            foreign_auth,
            other_org_sign,
        }
    }

    /// Puts the trusted root and its CRL in a tenant's `trust/`.
    pub fn install(&self, tenant_dir: &Path) {
        let trust = tenant_dir.join("trust");
        std::fs::create_dir_all(&trust).unwrap();
        std::fs::copy(&self.root, trust.join("nca.pem")).unwrap();
        std::fs::copy(&self.crl, trust.join("nca.crl")).unwrap();
    }
}

/// A detached CMS of `data` by `key`, made by OpenSSL: DER.
pub fn sign(key: &Key, data: &[u8], attach: bool) -> Vec<u8> {
    let dir = crate::scratch();
    let input = dir.join("data");
    let output = dir.join("data.p7s");
    std::fs::write(&input, data).unwrap();
    let (i, o, c, k) = (
        input.to_str().unwrap(),
        output.to_str().unwrap(),
        key.cert.to_str().unwrap(),
        key.key.to_str().unwrap(),
    );
    let mut args = vec![
        "cms",
        "-sign",
        "-binary",
        "-in",
        i,
        "-signer",
        c,
        "-inkey",
        k,
        "-md",
        "sha256",
        "-nosmimecap",
        "-cades",
        "-outform",
        "DER",
        "-out",
        o,
    ];
    if attach {
        args.push("-nodetach");
    }
    openssl(&dir, &dir, &args);
    let der = std::fs::read(&output).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    der
}

// ------------------------------------------------------------- the program

/// How the fake NCALayer behaves to the next signing request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Signs with the key the request's key type names.
    Sign,
    /// The user closes the key window.
    Cancel,
    /// The program fails (a wrong password, a broken token).
    Error,
    /// Greets, takes the request and never answers.
    Silent,
    /// Closes the socket when a request comes.
    Close,
    /// An old NCALayer: the `basics` module is unknown, `commonUtils` signs.
    OldOnly,
}

/// One request the program received: module, method, key type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub module: String,
    pub method: String,
    pub key_type: String,
    pub extended_key_usages: Vec<String>,
}

struct State {
    mode: Mode,
    auth: Key,
    sign: Key,
    requests: Vec<Request>,
}

#[derive(Clone)]
pub struct FakeNcaLayer {
    pub port: u16,
    state: Arc<Mutex<State>>,
}

impl FakeNcaLayer {
    /// Starts on a free loopback port, holding `auth` and `sign` as the
    /// user's keys.
    pub async fn start(auth: Key, sign: Key) -> FakeNcaLayer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State {
            mode: Mode::Sign,
            auth,
            sign,
            requests: Vec::new(),
        }));
        let s = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let s = s.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, s).await;
                });
            }
        });
        FakeNcaLayer { port, state }
    }

    /// The address the page connects to.
    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    pub fn set_mode(&self, mode: Mode) {
        self.state.lock().unwrap().mode = mode;
    }

    /// The keys the user picks in the program's window.
    pub fn set_keys(&self, auth: Key, sign: Key) {
        let mut s = self.state.lock().unwrap();
        s.auth = auth;
        s.sign = sign;
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().requests.clone()
    }
}

/// A port nothing listens on: NCALayer not running.
pub fn closed_port_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("ws://127.0.0.1:{port}")
}

async fn serve(mut stream: TcpStream, state: Arc<Mutex<State>>) -> std::io::Result<()> {
    handshake(&mut stream).await?;
    send_text(&mut stream, r#"{"result":{"version":"1.4"}}"#).await?;
    loop {
        let Some(text) = read_message(&mut stream).await? else {
            return Ok(());
        };
        let Ok(req) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        let module = req["module"].as_str().unwrap_or("").to_string();
        let method = req["method"].as_str().unwrap_or("").to_string();
        let (key_type, data, attach, ekus) = if module == "kz.gov.pki.knca.basics" {
            let a = &req["args"];
            let ekus: Vec<String> = a["signerParams"]["extKeyUsageOids"]
                .as_array()
                .map(|v| {
                    v.iter()
                        .filter_map(|o| o.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            // The newer module picks the key by the usages asked for.
            let kt = if ekus.iter().any(|o| o == "1.3.6.1.5.5.7.3.2") {
                "AUTHENTICATION"
            } else {
                "SIGNATURE"
            };
            let attach = a["signingParams"]["encapsulate"].as_bool().unwrap_or(false);
            (
                kt.to_string(),
                a["data"].as_str().unwrap_or("").to_string(),
                attach,
                ekus,
            )
        } else {
            let a = &req["args"];
            (
                a[1].as_str().unwrap_or("").to_string(),
                a[2].as_str().unwrap_or("").to_string(),
                a[3].as_bool().unwrap_or(false),
                Vec::new(),
            )
        };
        let (mode, key) = {
            let mut s = state.lock().unwrap();
            s.requests.push(Request {
                module: module.clone(),
                method: method.clone(),
                key_type: key_type.clone(),
                extended_key_usages: ekus,
            });
            let key = if key_type == "AUTHENTICATION" {
                s.auth.clone()
            } else {
                s.sign.clone()
            };
            (s.mode, key)
        };
        let basics = module == "kz.gov.pki.knca.basics";
        let reply = match mode {
            Mode::Silent => continue,
            Mode::Close => {
                let _ = stream.write_all(&[0x88, 0x02, 0x03, 0xe8]).await;
                return Ok(());
            }
            Mode::OldOnly if basics => serde_json::json!({
                "code": "500",
                "message": "module kz.gov.pki.knca.basics not found"
            }),
            Mode::Cancel if basics => serde_json::json!({"status": true, "body": {}}),
            Mode::Cancel => serde_json::json!({"code": "500", "message": "action.canceled"}),
            Mode::Error if basics => serde_json::json!({
                "status": false, "code": "INVOCATION_ERROR",
                "details": "java.security.UnrecoverableKeyException: Password verification failed"
            }),
            Mode::Error => serde_json::json!({
                "code": "500",
                "message": "java.security.UnrecoverableKeyException: Password verification failed"
            }),
            Mode::Sign | Mode::OldOnly => {
                let Ok(bytes) = B64.decode(data.as_bytes()) else {
                    send_text(&mut stream, r#"{"code":"500","message":"bad data"}"#).await?;
                    continue;
                };
                let der = tokio::task::spawn_blocking(move || sign(&key, &bytes, attach))
                    .await
                    .unwrap();
                let b64 = B64.encode(der);
                if basics {
                    let pem = format!(
                        "-----BEGIN CMS-----\n{}\n-----END CMS-----\n",
                        b64.as_bytes()
                            .chunks(64)
                            .map(|c| std::str::from_utf8(c).unwrap())
                            .collect::<Vec<_>>()
                            .join("\n")
                    );
                    serde_json::json!({"status": true, "body": {"result": [pem]}})
                } else {
                    serde_json::json!({"code": "200", "responseObject": b64})
                }
            }
        };
        send_text(&mut stream, &reply.to_string()).await?;
    }
}

async fn handshake(stream: &mut TcpStream) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await? == 0 || buf.len() > 16_384 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf);
    let key = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("sec-websocket-key")
                .then(|| v.trim().to_string())
        })
        .ok_or(std::io::ErrorKind::InvalidData)?;
    let mut h = Sha1::new();
    h.update(key.as_bytes());
    h.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    let accept = B64.encode(h.finalize());
    let resp = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    stream.write_all(resp.as_bytes()).await
}

async fn send_text(stream: &mut TcpStream, text: &str) -> std::io::Result<()> {
    let payload = text.as_bytes();
    let mut frame = vec![0x81u8];
    match payload.len() {
        n if n < 126 => frame.push(n as u8),
        n if n < 65_536 => {
            frame.push(126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(payload);
    stream.write_all(&frame).await
}

/// The next text message (fragments joined), or `None` once the page
/// closes the socket.
async fn read_message(stream: &mut TcpStream) -> std::io::Result<Option<String>> {
    let mut message = Vec::new();
    loop {
        let mut head = [0u8; 2];
        if stream.read_exact(&mut head).await.is_err() {
            return Ok(None);
        }
        let (fin, opcode) = (head[0] & 0x80 != 0, head[0] & 0x0f);
        let mut len = (head[1] & 0x7f) as u64;
        if len == 126 {
            let mut b = [0u8; 2];
            stream.read_exact(&mut b).await?;
            len = u16::from_be_bytes(b) as u64;
        } else if len == 127 {
            let mut b = [0u8; 8];
            stream.read_exact(&mut b).await?;
            len = u64::from_be_bytes(b);
        }
        if len > 64 << 20 {
            return Ok(None);
        }
        let mut mask = [0u8; 4];
        if head[1] & 0x80 != 0 {
            stream.read_exact(&mut mask).await?;
        }
        let mut payload = vec![0u8; len as usize];
        stream.read_exact(&mut payload).await?;
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= mask[i % 4];
        }
        match opcode {
            0x8 => {
                let _ = stream.write_all(&[0x88, 0x00]).await;
                return Ok(None);
            }
            0x9 => {
                let mut pong = vec![0x8a, payload.len() as u8];
                pong.extend_from_slice(&payload);
                stream.write_all(&pong).await?;
            }
            0xa => {}
            _ => {
                message.extend_from_slice(&payload);
                if fin {
                    return Ok(Some(String::from_utf8_lossy(&message).into_owned()));
                }
            }
        }
    }
}

// ------------------------------------------------------------- the tenant

/// A copy of almatyenergosbyt as `slug`, trusting the test PKI's root (and
/// nothing fetched: its CRL file decides revocation), its page pointed at
/// the NCALayer at `ncalayer`.
pub fn aes_tenants(slug: &str, ncalayer: &str) -> PathBuf {
    let root = crate::tenants_copy(&[(slug, "almatyenergosbyt", None)]);
    let dir = root.join(slug);
    KzPki::get().install(&dir);
    let toml = std::fs::read_to_string(dir.join("tenant.toml")).unwrap();
    let toml = toml.replace(
        "ncalayer = \"wss://127.0.0.1:13579\"",
        &format!("ncalayer = \"{ncalayer}\"\nfetch = false"),
    );
    assert!(
        toml.contains("fetch = false"),
        "almatyenergosbyt has [signature]"
    );
    std::fs::write(dir.join("tenant.toml"), toml).unwrap();
    root
}

/// A base64 detached CMS of `text` by `key`, as NCALayer's older module
/// returns it.
pub fn sign_base64(key: &Key, text: &[u8]) -> String {
    B64.encode(sign(key, text, false))
}

/// A server whose almatyenergosbyt (under its own slug) trusts the test
/// PKI, for tests that send its applications: sending signs them.
pub async fn almaty_app() -> crate::TestApp {
    crate::TestApp::spawn_with(crate::Setup {
        tenants: aes_tenants("almatyenergosbyt", "wss://127.0.0.1:13579"),
        ..crate::Setup::default()
    })
    .await
}

/// What NCALayer returns for the application's Word file as it is saved
/// now, signed with ТОО «Ромашка»'s signing key (BIN [`ORG_BIN`]): the
/// `signature` its sending needs.
pub async fn sign_application(b: &crate::Browser, id: &str) -> String {
    let r = b
        .client
        .get(format!("{}/applications/{id}/application.docx", b.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the application's Word file");
    let bytes = r.bytes().await.unwrap();
    let key = KzPki::get().org_sign.clone();
    tokio::task::spawn_blocking(move || sign_base64(&key, &bytes))
        .await
        .unwrap()
}

/// Sends an almatyenergosbyt application as its page does: `fields` (the
/// form's values; an `action` or `version` among them is ignored) saved as
/// the draft, its Word file signed as saved ([`sign_application`]), then
/// sent with the signature. The answer to the sending.
pub async fn send_signed(b: &mut crate::Browser, id: &str, fields: &[(&str, &str)]) -> crate::Page {
    let values: Vec<(&str, &str)> = fields
        .iter()
        .copied()
        .filter(|(k, _)| *k != "action" && *k != "version")
        .collect();
    let path = format!("/applications/{id}");
    let v = b
        .get(&path)
        .await
        .hidden("version")
        .expect("the draft's version");
    let mut form = vec![("action", "save"), ("version", v.as_str())];
    form.extend(values.iter().copied());
    let r = b.post(&path, &form).await;
    assert!(r.status < 400, "saving before signing: {}", r.body);
    let signature = sign_application(b, id).await;
    let v = b
        .get(&path)
        .await
        .hidden("version")
        .expect("the draft's version");
    let mut form = vec![("action", "submit"), ("version", v.as_str())];
    form.extend(values.iter().copied());
    form.push(("signature", signature.as_str()));
    b.post(&path, &form).await
}
