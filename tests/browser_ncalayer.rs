//! NCALayer at almatyenergosbyt (seed 004): logging in with a key and
//! signing the application when it is sent, in a real browser against a
//! fake NCALayer that signs for real with OpenSSL (tests/support/ncalayer.rs),
//! and the server's refusals over HTTP with signatures made by OpenSSL.
//!
//! The browser tests need Debian's `chromium` and `chromium-driver`; see
//! tests/browser.rs.

use fantoccini::Locator;
use tapline_e2e::chrome::{arrive, chromedriver, js, open as connect, until};
use tapline_e2e::ncalayer::{
    self, FakeNcaLayer, HEAD_NAME, Key, KzPki, Mode, ORG_BIN, ORG_NAME, PERSON_IIN,
};
use tapline_e2e::{Browser, Setup, TestApp, unescape};

async fn app(slug: &str, ncalayer_url: &str) -> TestApp {
    TestApp::spawn_with(Setup {
        tenants: ncalayer::aes_tenants(slug, ncalayer_url),
        ..Setup::default()
    })
    .await
}

/// The login page's challenge for this browser.
async fn challenge(b: &mut Browser) -> String {
    let page = b.get("/login/key").await;
    assert_eq!(page.status, 200, "{}", page.body);
    unescape(&page.hidden("challenge").expect("a challenge on the page"))
}

/// Signs this browser's challenge with `key` and posts it.
async fn log_in(b: &mut Browser, key: &Key) -> tapline_e2e::Page {
    let text = challenge(b).await;
    let sig = ncalayer::sign_base64(key, text.as_bytes());
    b.post("/login/key", &[("challenge", &text), ("signature", &sig)])
        .await
}

async fn accounts(app: &TestApp, slug: &str) -> Vec<(i64, String, Option<String>, String)> {
    sqlx::query_as(
        "SELECT id, applicant_type, login, profile FROM accounts WHERE tenant_id = $1 ORDER BY id",
    )
    .bind(slug)
    .fetch_all(&app.db().pool)
    .await
    .unwrap()
}

// ------------------------------------------------------------------ HTTP

#[tokio::test]
async fn the_first_key_login_makes_the_account_and_the_next_finds_it() {
    let slug = "aeskeyfirst";
    let app = app(slug, "wss://127.0.0.1:13579").await;
    let pki = KzPki::get();
    let mut b = app.browser(slug);
    let login = b.get("/login").await;
    assert!(login.has("id=\"key-login-link\""), "{}", login.body);
    let r = log_in(&mut b, &pki.org_auth).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let home = b.get("/").await;
    assert!(home.has(ORG_NAME), "{}", home.body);
    let made = accounts(&app, slug).await;
    assert_eq!(made.len(), 1);
    let (id, kind, login, profile) = &made[0];
    assert_eq!(kind, "legal");
    assert_eq!(login.as_deref(), Some(format!("bin:{ORG_BIN}").as_str()));
    let profile: serde_json::Value = serde_json::from_str(profile).unwrap();
    assert_eq!(profile["bin"], ORG_BIN);
    assert_eq!(profile["org_name"], ORG_NAME);
    assert_eq!(profile["head_name"], HEAD_NAME);

    // Another browser, another challenge: the same account.
    let mut again = app.browser(slug);
    let r = log_in(&mut again, &pki.org_auth).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let after = accounts(&app, slug).await;
    assert_eq!(after.len(), 1, "no second account");
    assert_eq!(after[0].0, *id);

    // A sole proprietor's personal key: an account by IIN.
    let mut person = app.browser(slug);
    let r = log_in(&mut person, &pki.person_auth).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let all = accounts(&app, slug).await;
    assert_eq!(all.len(), 2);
    assert_eq!(all[1].1, "entrepreneur");
    assert_eq!(
        all[1].2.as_deref(),
        Some(format!("iin:{PERSON_IIN}").as_str())
    );
}

#[tokio::test]
async fn a_signed_challenge_opens_one_session_once() {
    let slug = "aeskeyonce";
    let app = app(slug, "wss://127.0.0.1:13579").await;
    let pki = KzPki::get();
    let mut b = app.browser(slug);
    let text = challenge(&mut b).await;
    let sig = ncalayer::sign_base64(&pki.org_auth, text.as_bytes());
    // Forty posts of the same signed challenge at once, from the browser
    // it was issued to.
    let posts = (0..40).map(|_| {
        let mut b = b.clone();
        let (text, sig) = (text.clone(), sig.clone());
        async move {
            b.post("/login/key", &[("challenge", &text), ("signature", &sig)])
                .await
        }
    });
    let pages = futures_join(posts).await;
    let ok = pages.iter().filter(|p| p.status == 303).count();
    assert_eq!(ok, 1, "exactly one login");
    assert!(
        pages
            .iter()
            .filter(|p| p.status != 303)
            .all(|p| p.status == 422 && p.has("уже использована")),
        "the others are told the signature was used"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sessions WHERE tenant_id = $1", slug)
            .await,
        1
    );
    assert_eq!(accounts(&app, slug).await.len(), 1);

    // Later, the same again: refused.
    b.refresh_csrf().await;
    let r = b
        .post("/login/key", &[("challenge", &text), ("signature", &sig)])
        .await;
    assert_eq!(r.status, 422);
    assert!(
        r.has("Эта подпись уже использована для входа"),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn first_logins_at_once_make_one_account() {
    let slug = "aeskeytwins";
    let app = app(slug, "wss://127.0.0.1:13579").await;
    let key = &KzPki::get().org_auth;
    // Twenty browsers, each with its own signed challenge, at once.
    let mut ready = Vec::new();
    for _ in 0..20 {
        let mut b = app.browser(slug);
        let text = challenge(&mut b).await;
        let sig = ncalayer::sign_base64(key, text.as_bytes());
        ready.push((b, text, sig));
    }
    let pages = futures_join(ready.into_iter().map(|(mut b, text, sig)| async move {
        b.post("/login/key", &[("challenge", &text), ("signature", &sig)])
            .await
    }))
    .await;
    assert!(
        pages.iter().all(|p| p.status == 303),
        "{:?}",
        pages.iter().map(|p| p.status).collect::<Vec<_>>()
    );
    assert_eq!(accounts(&app, slug).await.len(), 1, "one account");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sessions WHERE tenant_id = $1", slug)
            .await,
        20
    );
}

async fn futures_join<F>(fs: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = fs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn keys_the_portal_must_not_accept_are_refused_with_the_reason() {
    let slug = "aeskeyrefused";
    let app = app(slug, "wss://127.0.0.1:13579").await;
    let pki = KzPki::get();
    let cases: [(&Key, &str); 5] = [
        (&pki.foreign_auth, "которому портал не доверяет"),
        (&pki.revoked_auth, "Сертификат отозван"),
        (&pki.expired_auth, "Срок действия сертификата истёк"),
        (&pki.org_sign, "не подходит для входа"),
        (&pki.employee_auth, "Ключ сотрудника не даёт права"),
    ];
    for (key, said) in cases {
        let mut b = app.browser(slug);
        let r = log_in(&mut b, key).await;
        assert_eq!(r.status, 422, "{said}: {}", r.body);
        assert!(r.has(said), "{said}: {}", r.body);
        assert!(r.has("id=\"key-login-error\""));
    }
    assert!(accounts(&app, slug).await.is_empty());
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sessions WHERE tenant_id = $1", slug)
            .await,
        0
    );

    // Something else signed than the challenge: the challenge is not signed.
    let mut b = app.browser(slug);
    let text = challenge(&mut b).await;
    let sig = ncalayer::sign_base64(&pki.org_auth, b"another text");
    let r = b
        .post("/login/key", &[("challenge", &text), ("signature", &sig)])
        .await;
    assert_eq!(r.status, 422);
    assert!(r.has("Ключ не принят"), "{}", r.body);

    // A challenge issued to another browser is worthless here.
    let mut other = app.browser(slug);
    let theirs = challenge(&mut other).await;
    let sig = ncalayer::sign_base64(&pki.org_auth, theirs.as_bytes());
    let mut b = app.browser(slug);
    b.get("/login/key").await;
    let r = b
        .post("/login/key", &[("challenge", &theirs), ("signature", &sig)])
        .await;
    assert_eq!(r.status, 422);
    assert!(r.has("Страница входа устарела"), "{}", r.body);
    // …and still good in its own browser.
    let r = other
        .post("/login/key", &[("challenge", &theirs), ("signature", &sig)])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);

    // An expired challenge.
    let mut b = app.browser(slug);
    let text = challenge(&mut b).await;
    sqlx::query("UPDATE key_challenges SET expires_at = '2020-01-01T00:00:00.000000Z' WHERE used_at IS NULL")
        .execute(&app.db().pool)
        .await
        .unwrap();
    let sig = ncalayer::sign_base64(&pki.org_auth, text.as_bytes());
    let r = b
        .post("/login/key", &[("challenge", &text), ("signature", &sig)])
        .await;
    assert_eq!(r.status, 422);
    assert!(r.has("Время на вход истекло"), "{}", r.body);
}

#[tokio::test]
async fn an_account_registered_with_a_password_is_found_by_its_bin() {
    let slug = "aeskeyearlier";
    let app = app(slug, "wss://127.0.0.1:13579").await;
    let phone = "+77010000101";
    tapline_e2e::ready(
        &app,
        slug,
        "legal",
        phone,
        &[
            ("email", "romashka@example.kz"),
            ("phone", phone),
            ("org_name", "ТОО «Ромашка» (по паролю)"),
            ("bin", ORG_BIN),
        ],
        &[],
    )
    .await;
    let before = accounts(&app, slug).await;
    assert_eq!(before.len(), 1);
    let mut b = app.browser(slug);
    let r = log_in(&mut b, &KzPki::get().org_auth).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let after = accounts(&app, slug).await;
    assert_eq!(after.len(), 1, "the registered account, not a new one");
    assert_eq!(after[0].0, before[0].0);
    assert!(b.get("/").await.has("ТОО «Ромашка» (по паролю)"));
}

// --------------------------------------------------------------- browser

/// A headless window on the key login page.
async fn key_page(app: &TestApp, driver_port: u16, slug: &str, name: &str) -> fantoccini::Client {
    let c = connect(driver_port, &app.dir.join(name), 1000, 900, false).await;
    c.goto(&app.url(&format!("/t/{slug}/login/key")))
        .await
        .unwrap();
    arrive(&c, Locator::Css(".sign-start")).await;
    c
}

async fn press(c: &fantoccini::Client) {
    c.find(Locator::Css(".sign-start"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

fn error_has(text: &str) -> String {
    format!(
        "var e = document.querySelector('.sign-error'); return !!e && e.textContent.includes('{text}')"
    )
}

#[tokio::test]
async fn a_company_logs_in_with_its_key_through_ncalayer() {
    let Some(driver) = chromedriver() else { return };
    let pki = KzPki::get();
    let nca = FakeNcaLayer::start(pki.org_auth.clone(), pki.org_sign.clone()).await;
    let slug = "aesbrowserlogin";
    let app = app(slug, &nca.url()).await;

    let c = key_page(&app, driver.port, slug, "p1").await;
    press(&c).await;
    arrive(&c, Locator::Css("[data-testid=user-box]")).await;
    let box_text = c
        .find(Locator::Css("[data-testid=user-box]"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(box_text.contains("Ромашка"), "{box_text}");
    let asked = nca.requests();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].module, "kz.gov.pki.knca.basics");
    assert_eq!(asked[0].extended_key_usages, ["1.3.6.1.5.5.7.3.2"]);
    assert_eq!(accounts(&app, slug).await.len(), 1);
    c.close().await.unwrap();

    // An older NCALayer without the newer module: the page falls back to
    // commonUtils, and the same account opens.
    nca.set_mode(Mode::OldOnly);
    let c = key_page(&app, driver.port, slug, "p2").await;
    press(&c).await;
    arrive(&c, Locator::Css("[data-testid=user-box]")).await;
    let asked = nca.requests();
    assert_eq!(asked.len(), 3);
    assert_eq!(asked[2].module, "kz.gov.pki.knca.commonUtils");
    assert_eq!(asked[2].method, "createCAdESFromBase64");
    assert_eq!(asked[2].key_type, "AUTHENTICATION");
    assert_eq!(accounts(&app, slug).await.len(), 1, "found, not made again");
    c.close().await.unwrap();

    // A signing key where the login key is asked for: the server says why.
    nca.set_mode(Mode::Sign);
    nca.set_keys(pki.org_sign.clone(), pki.org_sign.clone());
    let c = key_page(&app, driver.port, slug, "p3").await;
    press(&c).await;
    until(
        &c,
        &error_has("не подходит для входа"),
        "the wrong key refused",
    )
    .await;
    c.close().await.unwrap();
}

#[tokio::test]
async fn the_page_says_what_went_wrong_with_ncalayer() {
    let Some(driver) = chromedriver() else { return };
    let pki = KzPki::get();
    let nca = FakeNcaLayer::start(pki.org_auth.clone(), pki.org_sign.clone()).await;
    let slug = "aesbrowserfailures";
    let app = app(slug, &nca.url()).await;
    let c = key_page(&app, driver.port, slug, "p").await;

    nca.set_mode(Mode::Cancel);
    press(&c).await;
    until(&c, &error_has("Подписание отменено"), "the cancel").await;

    nca.set_mode(Mode::Error);
    press(&c).await;
    until(&c, &error_has("ключ не принят"), "the program's failure").await;

    nca.set_mode(Mode::Close);
    press(&c).await;
    until(&c, &error_has("прервал связь"), "the dropped socket").await;

    nca.set_mode(Mode::Silent);
    js(
        &c,
        "document.querySelector('.sign-form').dataset.timeout = '1500'; return true;",
    )
    .await;
    press(&c).await;
    until(&c, &error_has("NCALayer не ответил"), "the silence").await;

    // Nothing listens: NCALayer is not running; the page says how to get it.
    let gone = "aesbrowsergone";
    let app2 = self::app(gone, &ncalayer::closed_port_url()).await;
    let c2 = key_page(&app2, driver.port, gone, "p2").await;
    press(&c2).await;
    until(&c2, &error_has("Запустите NCALayer"), "not running").await;
    let link = js(
        &c2,
        "var a = document.querySelector('.sign-error a'); return a ? a.getAttribute('href') : null",
    )
    .await;
    assert_eq!(link, serde_json::json!("https://pki.gov.kz/ncalayer/"));
    c2.close().await.unwrap();
    assert!(accounts(&app, slug).await.is_empty());
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sessions WHERE tenant_id = $1", slug)
            .await,
        0
    );
    c.close().await.unwrap();
}

// ------------------------------------------------- signing on sending

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";

fn draft_values(power: &str) -> Vec<(&'static str, String)> {
    vec![
        ("object_address", "г. Алматы, ул. Толе би, 5".into()),
        ("power_kw", power.into()),
        ("phone", "+77010000202".into()),
        ("email", "romashka@example.kz".into()),
        ("comment", String::new()),
    ]
}

/// ТОО «Ромашка» logged in by its key, its profile complete, and a draft
/// with its documents: the browser and the application's id.
async fn company_with_draft(app: &TestApp, slug: &str) -> (Browser, String) {
    let mut b = app.browser(slug);
    let r = log_in(&mut b, &KzPki::get().org_auth).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let r = b
        .post(
            "/profile",
            &[
                ("org_name", ORG_NAME),
                ("bin", ORG_BIN),
                ("head_name", HEAD_NAME),
                ("legal_address", "г. Алматы, пр. Абая, 1"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let r = b.post("/applications/new", &[("kind", "connection")]).await;
    let id = tapline_e2e::id_of(r.location.as_deref().expect("a new draft"));
    let v = b.follow(&r).await.hidden("version").unwrap();
    let mut form: Vec<(&str, &str)> = vec![("action", "save"), ("version", &v)];
    let values = draft_values("150");
    form.extend(values.iter().map(|(k, v)| (*k, v.as_str())));
    let r = b.post(&format!("/applications/{id}"), &form).await;
    assert_eq!(r.status, 303, "{}", r.body);
    for slot in ["registration_certificate", "title_document"] {
        let r = b
            .upload(
                &format!("/applications/{id}/files/{slot}"),
                "справка.pdf",
                PDF,
                false,
            )
            .await;
        assert!(r.status < 400, "{slot}: {}", r.body);
    }
    (b, id)
}

/// The application's Word file as the page fetches it.
async fn docx(b: &Browser, id: &str) -> Vec<u8> {
    let r = b
        .client
        .get(format!("{}/applications/{id}/application.docx", b.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.bytes().await.unwrap().to_vec()
}

async fn send(b: &mut Browser, id: &str, power: &str, signature: &str) -> tapline_e2e::Page {
    let page = b.get(&format!("/applications/{id}")).await;
    let v = page.hidden("version").unwrap();
    let mut form: Vec<(&str, &str)> = vec![("action", "submit"), ("version", &v)];
    let values = draft_values(power);
    form.extend(values.iter().map(|(k, v)| (*k, v.as_str())));
    form.push(("signature", signature));
    b.post(&format!("/applications/{id}"), &form).await
}

async fn status_of(app: &TestApp, id: &str) -> String {
    let (s,): (String,) = sqlx::query_as("SELECT status FROM applications WHERE id = $1")
        .bind(id.parse::<i64>().unwrap())
        .fetch_one(&app.db().pool)
        .await
        .unwrap();
    s
}

#[tokio::test]
async fn sending_checks_the_signature_of_the_application_as_saved() {
    let slug = "aessend";
    let app = app(slug, "wss://127.0.0.1:13579").await;
    let pki = KzPki::get();
    let (mut b, id) = company_with_draft(&app, slug).await;
    // The same values make the same bytes: the page's copy is the server's.
    let bytes = docx(&b, &id).await;
    assert_eq!(bytes, docx(&b, &id).await, "the Word file is byte-stable");

    // Without a signature it does not go.
    let r = send(&mut b, &id, "150", "").await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.has("Заявка отправляется с подписью"), "{}", r.body);

    // Signed, then changed before sending: the signature is of other bytes.
    let sig = ncalayer::sign_base64(&pki.org_sign, &bytes);
    let r = send(&mut b, &id, "175", &sig).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.has("Заявка изменилась после подписи — подпишите ещё раз"),
        "{}",
        r.body
    );
    assert_eq!(status_of(&app, &id).await, "draft");

    // Another company's key: refused with whose it is.
    let changed = docx(&b, &id).await;
    let theirs = ncalayer::sign_base64(&pki.other_org_sign, &changed);
    let r = send(&mut b, &id, "175", &theirs).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.has("ключом другого владельца"), "{}", r.body);
    assert!(r.has("ТОО «Лютик»"), "{}", r.body);

    // The login key is not a signing key.
    let auth = ncalayer::sign_base64(&pki.org_auth, &changed);
    let r = send(&mut b, &id, "175", &auth).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.has("Подпись не принята"), "{}", r.body);
    assert_eq!(status_of(&app, &id).await, "draft");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM signatures WHERE tenant_id = $1", slug)
            .await,
        0
    );

    // Its own signing key over the bytes as saved: sent, and recorded.
    let good = ncalayer::sign_base64(&pki.org_sign, &changed);
    let r = send(&mut b, &id, "175", &good).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(status_of(&app, &id).await, "under_review");
    let (name, scheme, valid, sha): (String, String, i64, String) = sqlx::query_as(
        "SELECT signer_name, scheme, valid, sha256 FROM signatures WHERE tenant_id = $1",
    )
    .bind(slug)
    .fetch_one(&app.db().pool)
    .await
    .unwrap();
    assert_eq!(scheme, "ncalayer");
    assert_eq!(valid, 1);
    assert!(
        name.contains(ORG_NAME) && name.contains(HEAD_NAME),
        "{name}"
    );
    assert_eq!(sha, sha256(&app, &changed), "the bytes signed are recorded");
    let (slot, file_sha): (String, String) = sqlx::query_as(
        "SELECT slot, sha256 FROM application_files WHERE tenant_id = $1 AND slot LIKE '\\_%' ESCAPE '\\'",
    )
    .bind(slug)
    .fetch_one(&app.db().pool)
    .await
    .unwrap();
    assert_eq!(slot, "_application");
    assert_eq!(file_sha, sha);
}

fn sha256(app: &TestApp, bytes: &[u8]) -> String {
    let p = app.dir.join("signed.docx");
    std::fs::write(&p, bytes).unwrap();
    let out = std::process::Command::new("sha256sum")
        .arg(&p)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn a_company_signs_its_application_when_sending_it() {
    let Some(driver) = chromedriver() else { return };
    let pki = KzPki::get();
    let nca = FakeNcaLayer::start(pki.org_auth.clone(), pki.org_sign.clone()).await;
    let slug = "aesbrowsersend";
    let app = app(slug, &nca.url()).await;
    let (_http, id) = company_with_draft(&app, slug).await;

    let c = key_page(&app, driver.port, slug, "p").await;
    press(&c).await;
    arrive(&c, Locator::Css("[data-testid=user-box]")).await;
    c.goto(&app.url(&format!("/t/{slug}/applications/{id}")))
        .await
        .unwrap();
    arrive(&c, Locator::Css("form[data-autosave]")).await;
    // A value changed on the page just before pressing: it is saved first,
    // so what is signed is what is sent.
    tapline_e2e::chrome::fill(&c, "f-power_kw", "220").await;
    c.find(Locator::Css("button.sign-start"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until(
        &c,
        "return location.search.indexOf('submitted=1') >= 0",
        "the application sent",
    )
    .await;
    assert_eq!(status_of(&app, &id).await, "under_review");
    let asked = nca.requests();
    assert_eq!(asked.last().unwrap().key_type, "SIGNATURE");
    assert_eq!(
        asked.last().unwrap().extended_key_usages,
        ["1.3.6.1.5.5.7.3.4"]
    );
    let (values,): (String,) =
        sqlx::query_as("SELECT field_values FROM applications WHERE id = $1")
            .bind(id.parse::<i64>().unwrap())
            .fetch_one(&app.db().pool)
            .await
            .unwrap();
    assert!(
        values.contains("220"),
        "the value changed on the page was sent: {values}"
    );
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM signatures WHERE tenant_id = $1 AND valid = 1",
            slug
        )
        .await,
        1
    );
    c.close().await.unwrap();
}

// ---------------------------------------------------------- the contract

#[tokio::test]
async fn a_company_signs_the_contract_through_ncalayer_after_the_utility() {
    let Some(driver) = chromedriver() else { return };
    let pki = KzPki::get();
    let nca = FakeNcaLayer::start(pki.org_auth.clone(), pki.org_sign.clone()).await;
    let slug = "aesbrowsercontract";
    let app = app(slug, &nca.url()).await;
    let (mut http, id) = company_with_draft(&app, slug).await;
    let values = draft_values("150");
    let values: Vec<(&str, &str)> = values.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = ncalayer::send_signed(&mut http, &id, &values).await;
    assert_eq!(r.status, 303, "{}", r.body);

    // The operator agrees and the utility signs the contract first.
    let password = "correct horse battery staple";
    tapline::office::add_staff(
        app.db(),
        slug,
        "op@aes.kz",
        "Петров Пётр Петрович",
        tapline::office::StaffRole::Operator,
        password,
        None,
    )
    .await
    .unwrap();
    let mut op = app.browser(slug);
    op.get("/office/login").await;
    let r = op
        .post(
            "/office/login",
            &[("email", "op@aes.kz"), ("password", password)],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let card = format!("/office/applications/{id}");
    let r = op
        .post(&format!("{card}/status"), &[("to", "consumer_signing")])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    // The contract is made on first sight.
    http.get(&format!("/applications/{id}")).await;
    let (file,): (i64,) = sqlx::query_as(
        "SELECT id FROM application_files WHERE tenant_id = $1 AND slot = '_contract'",
    )
    .bind(slug)
    .fetch_one(&app.db().pool)
    .await
    .unwrap();
    let bytes = op
        .client
        .get(format!("{}{card}/file/{file}", op.base))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec();
    let utility = ncalayer::sign_base64(&pki.other_org_sign, &bytes);
    let r = op
        .post(
            &format!("{card}/documents/{file}/sign"),
            &[("signature", &utility)],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);

    // The company: «Подписать договор», NCALayer signs, «Договор подписан».
    let c = key_page(&app, driver.port, slug, "p").await;
    press(&c).await;
    arrive(&c, Locator::Css("[data-testid=user-box]")).await;
    c.goto(&app.url(&format!("/t/{slug}/applications/{id}")))
        .await
        .unwrap();
    arrive(&c, Locator::LinkText("Подписать договор"))
        .await
        .click()
        .await
        .unwrap();
    arrive(
        &c,
        Locator::Css(".sign-form[data-scheme=ncalayer] .sign-start"),
    )
    .await
    .click()
    .await
    .unwrap();
    until(
        &c,
        "return document.body.textContent.indexOf('Подписано: ТОО «Ромашка»') >= 0",
        "the company's signature shown",
    )
    .await;
    assert_eq!(status_of(&app, &id).await, "signed");
    c.goto(&app.url(&format!("/t/{slug}/applications/{id}")))
        .await
        .unwrap();
    until(
        &c,
        "return document.body.textContent.indexOf('Договор подписан') >= 0",
        "«Договор подписан»",
    )
    .await;
    let asked = nca.requests();
    assert_eq!(asked.last().unwrap().key_type, "SIGNATURE");
    c.close().await.unwrap();
}

#[tokio::test]
async fn only_a_tenant_with_key_login_offers_it() {
    let app = TestApp::spawn().await;
    let mut aes = app.browser("almatyenergosbyt");
    assert!(aes.get("/login").await.has("Войти с ЭЦП"));
    let page = aes.get("/login/key").await;
    assert_eq!(page.status, 200);
    // The page may talk to NCALayer on the user's machine, and only there.
    let mut kvadra = app.browser("kvadra");
    assert!(!kvadra.get("/login").await.has("Войти с ЭЦП"));
    assert_eq!(kvadra.get("/login/key").await.status, 404);
    let csp = reqwest::get(app.url("/t/almatyenergosbyt/login/key"))
        .await
        .unwrap()
        .headers()
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("connect-src 'self' wss://127.0.0.1:13579"),
        "{csp}"
    );
    app.stop().await;
}
