//! Test support: start a real Tapline server on a loopback port with a
//! fresh database, and drive it like a browser (cookies, CSRF tokens,
//! redirects) over HTTP.
//!
//! The database is SQLite in a temporary folder, or a fresh PostgreSQL
//! database when `TAPLINE_TEST_PG` holds a server URL
//! (e.g. `postgres://postgres@127.0.0.1:5433/postgres`), so the same suite
//! runs on both.

pub mod cadesplugin;
pub mod chrome;
pub mod logs;
pub mod ncalayer;
pub mod pki;
pub mod smsc;
pub mod smtp;

pub use logs::{capture_logs, logged};
use sqlx::Executor;
use std::path::{Path, PathBuf};
use tapline::notify::OutboxRow;
use tapline::security::captcha::AnswerSource;
use tapline::server::{Options, Running, SmsConfig};

/// The answer every captcha has in tests.
pub const CAPTCHA: &str = "40731";
/// The captcha's proof of work in tests: real, but a few thousand hashes.
pub const CAPTCHA_BITS: u32 = 12;
pub const PASSWORD: &str = "Secret-pass-1";

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A few random characters for a file name.
pub fn random_suffix() -> String {
    tapline::security::random_token()[..12].to_string()
}

fn scratch() -> PathBuf {
    let d = repo()
        .join("target")
        .join("test-data")
        .join(&tapline::security::random_token()[..16]);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A database URL for one test: SQLite in `dir`, or a new PostgreSQL database.
pub async fn database_url(dir: &Path) -> String {
    match std::env::var("TAPLINE_TEST_PG") {
        Ok(server) if !server.is_empty() => {
            sqlx::any::install_default_drivers();
            let name = format!(
                "t_{}",
                tapline::security::random_token()[..12]
                    .to_lowercase()
                    .replace(['-', '_'], "x")
            );
            let pool = sqlx::AnyPool::connect(&server)
                .await
                .expect("connect to TAPLINE_TEST_PG");
            pool.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .await
                .expect("create test database");
            pool.close().await;
            let base = server.rsplit_once('/').map(|(b, _)| b).unwrap_or(&server);
            format!("{base}/{name}")
        }
        _ => format!("sqlite://{}/tapline.db", dir.display()),
    }
}

pub struct TestApp {
    pub addr: std::net::SocketAddr,
    pub running: Option<Running>,
    pub dir: PathBuf,
}

pub struct Setup {
    pub tenants: PathBuf,
    pub smtp_url: Option<String>,
    pub sms: SmsConfig,
    /// Database connections; one shows a request that holds a transaction
    /// and waits for a second connection (it hangs).
    pub db_pool: Option<u32>,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            tenants: repo().join("tenants"),
            smtp_url: None,
            sms: SmsConfig::Dev,
            db_pool: None,
        }
    }
}

/// A passing test's files go with it; a failing test's stay for a look.
impl Drop for TestApp {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(Setup::default()).await
    }

    pub async fn spawn_with(setup: Setup) -> TestApp {
        let dir = scratch();
        let opts = Options {
            listen: "127.0.0.1:0".parse().unwrap(),
            database_url: database_url(&dir).await,
            tenants: setup.tenants,
            data_dir: dir.clone(),
            smtp_url: setup.smtp_url,
            sms: setup.sms,
            captcha: AnswerSource::Fixed(CAPTCHA.into()),
            captcha_bits: CAPTCHA_BITS,
            // Shared by every test: each plugin is compiled once per build.
            plugin_cache: Some(repo().join("target").join("test-plugin-cache")),
            db_pool: setup.db_pool,
            ..Options::defaults()
        };
        capture_logs();
        let running = tapline::server::start(opts).await.expect("server starts");
        TestApp {
            addr: running.addr,
            running: Some(running),
            dir,
        }
    }

    pub fn state(&self) -> &tapline::web::AppState {
        &self.running.as_ref().expect("a running server").state
    }

    pub fn db(&self) -> &tapline::store::Db {
        &self.running.as_ref().unwrap().state.db
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// A fresh browser on a tenant's `/t/<slug>` portal.
    pub fn browser(&self, slug: &str) -> Browser {
        Browser::new(format!("http://{}/t/{slug}", self.addr))
    }

    pub async fn outbox(&self, tenant: &str) -> Vec<OutboxRow> {
        tapline::notify::undelivered(self.db(), Some(tenant))
            .await
            .unwrap()
    }

    /// All outbox rows of a tenant, delivered or not.
    pub async fn all_messages(&self, tenant: &str) -> Vec<(String, String, String, String)> {
        sqlx::query_as("SELECT channel, recipient, body_text, status FROM outbox WHERE tenant_id = $1 ORDER BY id")
            .bind(tenant)
            .fetch_all(&self.db().pool)
            .await
            .unwrap()
    }

    /// The code of the newest SMS to `phone`.
    pub async fn last_sms_code(&self, tenant: &str, phone: &str) -> String {
        let msg = self
            .outbox(tenant)
            .await
            .into_iter()
            .rev()
            .find(|m| m.channel == "sms" && m.recipient == phone)
            .unwrap_or_else(|| panic!("no SMS to {phone}"));
        digits6(&msg.body_text).unwrap_or_else(|| panic!("no code in {:?}", msg.body_text))
    }

    /// The first link in the newest email to `to` (path part after the tenant base).
    pub async fn last_link(&self, tenant: &str, to: &str) -> String {
        let msg = self
            .outbox(tenant)
            .await
            .into_iter()
            .rev()
            .find(|m| m.channel == "email" && m.recipient == to)
            .unwrap_or_else(|| panic!("no email to {to}"));
        let start = msg.body_text.find("http").expect("a link in the email");
        let link: String = msg.body_text[start..]
            .chars()
            .take_while(|c| !c.is_whitespace())
            .collect();
        let marker = format!("/t/{tenant}");
        link[link.find(&marker).expect("tenant link") + marker.len()..].to_string()
    }

    pub async fn count(&self, sql: &'static str, tenant: &str) -> i64 {
        let (n,): (i64,) = sqlx::query_as(sql)
            .bind(tenant)
            .fetch_one(&self.db().pool)
            .await
            .unwrap();
        n
    }

    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
    }
}

fn digits6(s: &str) -> Option<String> {
    let b: Vec<char> = s.chars().collect();
    for i in 0..b.len() {
        let run: String = b[i..].iter().take_while(|c| c.is_ascii_digit()).collect();
        if run.len() == 6 && (i == 0 || !b[i - 1].is_ascii_digit()) {
            return Some(run);
        }
    }
    None
}

/// What a request returned.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
}

impl Page {
    /// The text of the error shown under field `id`, if any.
    pub fn field_error(&self, id: &str) -> Option<String> {
        let marker = format!("class=\"field-error\" id=\"e-{id}\">");
        let start = self.body.find(&marker)? + marker.len();
        let end = self.body[start..].find("</div>")? + start;
        Some(unescape(self.body[start..end].trim()))
    }

    pub fn has(&self, text: &str) -> bool {
        unescape(&self.body).contains(text)
    }

    /// The value of hidden input `name`.
    pub fn hidden(&self, name: &str) -> Option<String> {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self.body.find(&marker)? + marker.len();
        let end = self.body[start..].find('"')? + start;
        Some(self.body[start..end].to_string())
    }

    #[track_caller]
    pub fn assert_redirect(&self, to: &str) {
        assert!(
            (300..400).contains(&self.status)
                && self.location.as_deref().is_some_and(|l| l.ends_with(to)),
            "expected a redirect to {to}, got {} {:?}",
            self.status,
            self.location
        );
    }
}

pub fn unescape(s: &str) -> String {
    s.replace("&#x2f;", "/")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// A cookie-keeping client bound to one tenant's base URL.
/// A browser session: clones share the cookie jar, as tabs do.
#[derive(Clone)]
pub struct Browser {
    pub client: reqwest::Client,
    pub base: String,
    csrf: Option<String>,
}

impl Browser {
    pub fn new(base: String) -> Browser {
        Browser::behind_proxy(base, None)
    }

    /// A browser whose requests come through a proxy that names `ip` as the
    /// client (`X-Forwarded-For`), for a server run with `--trust-proxy`.
    pub fn behind_proxy(base: String, ip: Option<&str>) -> Browser {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(ip) = ip {
            headers.insert("x-forwarded-for", ip.parse().expect("an IP address"));
        }
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Browser {
            client,
            base,
            csrf: None,
        }
    }

    async fn page(&mut self, resp: reqwest::Response) -> Page {
        // The CSRF token is bound to the sessions: a new or ended session
        // makes a page's earlier token stale, as in a real browser.
        if resp.headers().get_all("set-cookie").iter().any(|c| {
            let c = c.to_str().unwrap_or("");
            c.starts_with("tl_session=") || c.starts_with("tl_staff=")
        }) {
            self.csrf = None;
        }
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_string());
        let body = resp.text().await.unwrap();
        let p = Page {
            status,
            location,
            body,
        };
        if let Some(t) = p.hidden("csrf_token") {
            self.csrf = Some(t);
        }
        p
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let resp = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        self.page(resp).await
    }

    /// Load a page carrying a CSRF token if the browser holds none: the login
    /// page, or where it sends someone already logged in.
    async fn ensure_csrf(&mut self) {
        if self.csrf.is_some() {
            return;
        }
        let mut p = self.get("/login").await;
        for _ in 0..5 {
            if self.csrf.is_some() || p.location.is_none() {
                break;
            }
            p = self.follow(&p).await;
        }
    }

    /// Take a fresh CSRF token, after a session was opened or closed behind
    /// this helper's back (by a request sent on `client` directly).
    pub async fn refresh_csrf(&mut self) {
        self.csrf = None;
        self.ensure_csrf().await;
    }

    /// POST a form with this browser's CSRF token (fetching a page first if none).
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        self.ensure_csrf().await;
        let mut form: Vec<(&str, &str)> = vec![("csrf_token", self.csrf.as_deref().unwrap())];
        form.extend_from_slice(fields);
        let body = serde_urlencoded(&form);
        self.post_raw(path, body).await
    }

    pub async fn post_raw(&mut self, path: &str, body: String) -> Page {
        let resp = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        self.page(resp).await
    }

    /// Upload a file as the page's form does: multipart, CSRF token first.
    /// `json` asks for the script's JSON answer instead of a redirect.
    pub async fn upload(&mut self, path: &str, file_name: &str, bytes: &[u8], json: bool) -> Page {
        self.ensure_csrf().await;
        let boundary = "----taplineTestBoundary7MA4YWxkTrZu0gW";
        let mut body = Vec::new();
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{}\r\n",
                self.csrf.as_deref().unwrap()
            )
            .as_bytes(),
        );
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let mut req = self.client.post(format!("{}{path}", self.base)).header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        );
        if json {
            req = req.header("accept", "application/json");
        }
        let resp = req.body(body).send().await.unwrap();
        self.page(resp).await
    }

    /// Post a multipart form: the CSRF token, `fields`, then the file (if any).
    pub async fn post_multipart(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        file: Option<(&str, &[u8])>,
    ) -> Page {
        self.ensure_csrf().await;
        let boundary = "----taplineTestBoundaryQ8mZ2";
        let mut body = Vec::new();
        let csrf = self.csrf.clone().unwrap();
        let mut all = vec![("csrf_token", csrf.as_str())];
        all.extend_from_slice(fields);
        for (k, v) in all {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
                )
                .as_bytes(),
            );
        }
        if let Some((name, bytes)) = file {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let resp = self
            .client
            .post(format!("{}{path}", self.base))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        self.page(resp).await
    }

    /// Follow a redirect (relative to the server root).
    pub async fn follow(&mut self, p: &Page) -> Page {
        let loc = p.location.as_deref().expect("a redirect");
        let origin = &self.base[..self.base.find("/t/").unwrap_or(self.base.len())];
        let resp = self
            .client
            .get(format!("{origin}{loc}"))
            .send()
            .await
            .unwrap();
        self.page(resp).await
    }
}

fn serde_urlencoded(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// Register through the form, solving the captcha, and return the response.
pub async fn register(b: &mut Browser, kind: &str, fields: &[(&str, &str)]) -> Page {
    let page = b.get(&format!("/register?type={kind}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let captcha_id = page.hidden("captcha_id");
    let mut form: Vec<(&str, &str)> = vec![
        ("type", kind),
        ("password", PASSWORD),
        ("password2", PASSWORD),
        ("consent", "on"),
    ];
    let cid;
    if let Some(c) = captcha_id {
        cid = c;
        form.push(("captcha_id", &cid));
        form.push(("captcha", CAPTCHA));
    }
    // Later entries win, so callers can override the defaults.
    form.extend_from_slice(fields);
    b.post("/register", &form).await
}

/// A built plugin: a demo tenant's (`setevaya`) or a test one (`test_loop`).
pub fn wasm(name: &str) -> PathBuf {
    repo()
        .join("target/wasm/wasm32-wasip2/release")
        .join(format!("{name}.wasm"))
}

/// A fresh tenants folder holding copies of demo tenants under new slugs,
/// each optionally with another plugin file: `(new_slug, demo_slug, plugin)`.
/// Distinct slugs keep one test's log lines apart from another's.
pub fn tenants_copy(specs: &[(&str, &str, Option<&Path>)]) -> PathBuf {
    let root = scratch().join("tenants");
    for (slug, demo, plugin) in specs {
        let from = repo().join("tenants").join(demo);
        let to = root.join(slug);
        copy_dir(&from, &to);
        let toml = std::fs::read_to_string(to.join("tenant.toml")).unwrap();
        let toml = toml
            .replace(&format!("slug = \"{demo}\""), &format!("slug = \"{slug}\""))
            .lines()
            .map(|l| {
                if l.starts_with("hosts = ") {
                    format!("hosts = [\"{slug}.localhost\"]")
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(to.join("tenant.toml"), toml).unwrap();
        if let Some(p) = plugin {
            std::fs::copy(p, to.join("plugin.wasm")).unwrap();
        }
    }
    root
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

// ------------------------------------------------ applicants ready to apply

/// Register as `kind` with `fields` (holding `phone`), confirm the phone,
/// and save `profile` when given: an applicant who may submit.
pub async fn ready(
    app: &TestApp,
    tenant: &str,
    kind: &str,
    phone: &str,
    fields: &[(&str, &str)],
    profile: &[(&str, &str)],
) -> Browser {
    let mut b = app.browser(tenant);
    register(&mut b, kind, fields).await;
    let code = app.last_sms_code(tenant, phone).await;
    b.post("/confirm-phone", &[("code", &code)]).await;
    if !profile.is_empty() {
        let r = b.post("/profile", profile).await;
        assert_eq!(r.status, 303, "{}", r.body);
    }
    b
}

/// The application id in a `/applications/<id>?…` location.
pub fn id_of(location: &str) -> String {
    location
        .split("/applications/")
        .nth(1)
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_string()
}

/// A kazenergo legal entity with the profile its submission needs.
pub async fn kazenergo_legal(app: &TestApp, email: &str, phone: &str) -> Browser {
    ready(
        app,
        "kazenergo",
        "legal",
        phone,
        &[("email", email), ("phone", phone)],
        &[
            ("org_name", "ООО «Тепло»"),
            ("inn", "7707083893"),
            ("ogrn", "1027700132195"),
            ("surname", "Директоров"),
            ("first_name", "Иван"),
            ("patronymic", "Иванович"),
            ("contact_email", "office@example.ru"),
            ("postal_address", "Казань, ул. Баумана, 1"),
        ],
    )
    .await
}

/// Create and submit a kazenergo application; its id and the submit reply.
pub async fn kazenergo_submit(b: &mut Browser, email: &str, phone: &str) -> (String, Page) {
    kazenergo_submit_object(b, email, phone, "ул. Баумана, 1", "Магазин").await
}

/// [`kazenergo_submit`] for an object of the given address and name.
pub async fn kazenergo_submit_object(
    b: &mut Browser,
    email: &str,
    phone: &str,
    address: &str,
    name: &str,
) -> (String, Page) {
    let r = b
        .post("/applications/new", &[("kind", "tech_conditions")])
        .await;
    let id = id_of(r.location.as_deref().unwrap());
    let v = b.follow(&r).await.hidden("version").unwrap();
    let r = b
        .post(
            &format!("/applications/{id}"),
            &[
                ("action", "submit"),
                ("version", &v),
                ("city", "Казань"),
                ("object_address", address),
                ("object_name", name),
                ("load_gcal_h", "0,1"),
                ("phone", phone),
                ("email", email),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    (id, r)
}

/// The office password of the staff [`operator`] adds.
pub const OPERATOR_PASSWORD: &str = "office-pass-123";

/// A new operator of `tenant`, signed in to its office.
pub async fn operator(app: &TestApp, tenant: &str, email: &str) -> Browser {
    tapline::office::add_staff(
        app.db(),
        tenant,
        email,
        "Оператор",
        tapline::office::StaffRole::Operator,
        OPERATOR_PASSWORD,
        None,
    )
    .await
    .unwrap();
    let mut b = app.browser(tenant);
    b.get("/office/login").await;
    b.post(
        "/office/login",
        &[("email", email), ("password", OPERATOR_PASSWORD)],
    )
    .await
    .assert_redirect(&format!("/t/{tenant}/office/"));
    b
}

/// kazenergo files an organisation's application once the signed original
/// arrives through EDO (seed 000): its desk marks it received, as staff do,
/// and the application is «Подана» with its deadline.
pub async fn kazenergo_original_received(app: &TestApp, id: &str) {
    const EMAIL: &str = "edo-desk@kazenergo.localhost";
    const PASS: &str = "edo-desk-pass-123";
    // The desk is made once per server; later calls find it there.
    let _ = tapline::office::add_staff(
        app.db(),
        "kazenergo",
        EMAIL,
        "Приёмная ЭДО",
        tapline::office::StaffRole::Operator,
        PASS,
        None,
    )
    .await;
    let mut desk = app.browser("kazenergo");
    desk.get("/office/login").await;
    let r = desk
        .post("/office/login", &[("email", EMAIL), ("password", PASS)])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let r = desk
        .post(
            &format!("/office/applications/{id}/status"),
            &[("to", "submitted")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
}

/// A setevaya individual with a complete profile.
pub async fn setevaya_applicant(app: &TestApp, email: &str, phone: &str) -> Browser {
    ready(
        app,
        "setevaya",
        "individual",
        phone,
        &[
            ("surname", "Сетев"),
            ("first_name", "Пётр"),
            ("patronymic", "Ильич"),
            ("snils", "112-233-445 95"),
            ("email", email),
            ("phone", phone),
        ],
        &[
            ("surname", "Сетев"),
            ("first_name", "Пётр"),
            ("patronymic", "Ильич"),
            ("snils", "112-233-445 95"),
            ("postal_address", "Казань, ул. Сетевая, 1"),
        ],
    )
    .await
}
