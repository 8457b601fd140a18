//! Signing with CryptoPro in a real browser (headless Chromium through
//! chromedriver): `templates/static/cryptopro.js` against a fake
//! `window.cadesplugin` (tests/support/cadesplugin.rs) whose signatures
//! OpenSSL makes with the GOST test PKI, verified by our engine.
//!
//! Needs Debian's `chromium`, `chromium-driver` and
//! `libengine-gost-openssl`; each test skips (outside CI) without them.

use fantoccini::{Client, Locator};
use serde_json::Value;
use std::sync::Arc;
use tapline_e2e::cadesplugin::{self, Cert, Certs, FakeCades, Mode, Pki, Pump};
use tapline_e2e::chrome::{arrive, chromedriver, connect, js, until};
use tapline_e2e::{Browser, Setup, TestApp, tenants_copy};
use tapline_signature::policy::{self, Evidence, Policy, Purpose, Revocation};

/// Our engine's verdict on `cms` over `content`, with the test root and CRLs.
fn verify(pki: &Pki, cms: &str, content: &[u8]) -> policy::Verdict {
    let anchors =
        policy::certificates_from(&std::fs::read(pki.dir.join("root.pem")).unwrap()).unwrap();
    let mut crls = Vec::new();
    for f in ["root.crl", "inter.crl"] {
        crls.extend(policy::crl_files_from(&std::fs::read(pki.dir.join(f)).unwrap()).unwrap());
    }
    let evidence = Evidence {
        crls,
        ..Default::default()
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let policy = Policy {
        revocation: Revocation::Crl,
        purpose: Purpose::Sign,
    };
    policy::verify(
        cms.as_bytes(),
        Some(content),
        &anchors,
        &policy,
        &evidence,
        now,
    )
}

/// The signing widget's markup as SIGNING.md fixes it, on the fake's
/// server, with cryptopro.js from the portal: the script's contract on its
/// own, before any portal page uses it.
fn widget_page(
    app: &TestApp,
    fake: &FakeCades,
    name: &str,
    size: usize,
    hashes: (&str, &str),
) -> String {
    let html = format!(
        r#"<!doctype html><html lang="ru"><head><meta charset="utf-8"><title>Подпись</title></head><body>
<form method="post" action="{action}" class="sign-form" data-scheme="cryptopro"
      data-content-url="/page/doc.bin" data-size="{size}"
      data-streebog256="{s256}" data-streebog512="{s512}"
      data-plugin-api="{api}">
  <input type="hidden" name="csrf_token" value="t">
  <input type="hidden" name="signature" value="">
  <div class="sign-certs"></div>
  <button type="button" class="sign-start">Подписать</button>
  <p class="sign-status" role="status" aria-live="polite"></p>
  <p class="sign-error field-error" role="alert"></p>
</form>
<script src="{js}" defer></script>
</body></html>"#,
        action = fake.posted_url(),
        api = fake.api_url(),
        js = app.url("/t/kvadra/static/cryptopro.js"),
        s256 = hashes.0,
        s512 = hashes.1,
    );
    fake.page(name, "text/html; charset=utf-8", html.into_bytes())
}

/// The certificates the widget offers: (value, text) of each option.
async fn offered(c: &Client) -> Vec<(String, String)> {
    arrive(c, Locator::Css(".sign-certs select[name=thumbprint]")).await;
    let v = js(
        c,
        "return [...document.querySelectorAll('.sign-certs option')].map(o => [o.value, o.textContent]);",
    )
    .await;
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p[0].as_str().unwrap().to_string(),
                p[1].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

async fn error_text(c: &Client) -> String {
    until(
        c,
        "return document.querySelector('.sign-error').textContent.trim() !== ''",
        "an error shown",
    )
    .await;
    js(
        c,
        "return document.querySelector('.sign-error').textContent",
    )
    .await
    .as_str()
    .unwrap()
    .to_string()
}

/// The certificates on the fake's "computer": Ромашка's and Вектор's valid
/// ones, Ромашка's expired one, and one whose key is not here.
fn computer(pki: &Pki) -> (Cert, Cert, Vec<Cert>) {
    let certs = Certs { pki };
    let romashka = certs.romashka();
    let vektor = certs.vektor();
    let all = vec![
        certs.expired(),
        romashka.clone(),
        certs.keyless(),
        vektor.clone(),
    ];
    (romashka, vektor, all)
}

#[tokio::test]
async fn the_widget_lists_usable_certificates_and_posts_a_detached_cades_of_the_exact_bytes() {
    let Some(driver) = chromedriver() else { return };
    let app = TestApp::spawn().await;
    let Some(pki) = Pki::gost256("widget1") else {
        return;
    };
    let pki = Arc::new(pki);
    let (romashka, vektor, all) = computer(&pki);
    let fake = FakeCades::start(all.clone()).await;
    let doc = "Заявка № 17 на технологическое присоединение\n"
        .repeat(50)
        .into_bytes();
    fake.page("doc.bin", "application/octet-stream", doc.clone());
    let page = widget_page(&app, &fake, "sign.html", doc.len(), ("", ""));

    let c = connect(driver.port, &app.dir.join("chromium"), 1280, 800).await;
    let pump = Pump::start(&c, pki.clone(), all);
    c.goto(&page).await.unwrap();
    let options = offered(&c).await;
    // Valid now and with a key here: the expired and the keyless are left out.
    assert_eq!(
        options
            .iter()
            .map(|o| o.0.clone())
            .collect::<Vec<_>>()
            .len(),
        2,
        "{options:?}"
    );
    let (_, label) = options
        .iter()
        .find(|o| o.0 == romashka.thumbprint)
        .expect("Ромашка's certificate offered");
    assert!(
        label.starts_with("Иванов Иван Иванович — ООО «Ромашка», до "),
        "{label}"
    );
    assert!(options.iter().any(|o| o.0 == vektor.thumbprint));

    c.execute(
        "const s = document.querySelector('select[name=thumbprint]'); s.value = arguments[0];",
        vec![Value::String(romashka.thumbprint.clone())],
    )
    .await
    .unwrap();
    c.find(Locator::Css(".sign-start"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while fake.posted().is_empty() {
        assert!(std::time::Instant::now() < deadline, "nothing posted");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let posted = fake.posted().remove(0);
    let field = |k: &str| {
        posted
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(field("csrf_token"), "t", "the form's own fields go too");
    assert_eq!(field("thumbprint"), romashka.thumbprint);
    let cms = field("signature");
    assert!(
        cms.contains("\r\n"),
        "CryptoPro's line breaks reach the server as they are"
    );

    // What was signed is the document itself, by the chosen certificate.
    let signed = pump.signed();
    assert_eq!(signed.len(), 1);
    assert_eq!(signed[0].kind, "cades");
    assert_eq!(signed[0].thumbprint, romashka.thumbprint);
    assert_eq!(signed[0].content, doc);
    let verdict = verify(&pki, &cms, &doc);
    assert!(verdict.valid, "{:?}", verdict.reason);
    let signer = verdict.signer.unwrap();
    assert_eq!(signer.inn_le.as_deref(), Some(cadesplugin::ROMASHKA_INN));
    assert_eq!(signer.ogrn.as_deref(), Some(cadesplugin::ROMASHKA_OGRN));
    // The same signature over other bytes is worthless: it covers these.
    let mut other = doc.clone();
    other[0] ^= 1;
    assert!(!verify(&pki, &cms, &other).valid);
    assert!(
        fake.served() >= 1,
        "the api came from the configured address"
    );
    c.close().await.unwrap();
    app.stop().await;
}

/// Wait until the fake's server has `n` posted forms.
async fn posted(c: &Client, fake: &FakeCades, n: usize) -> Vec<(String, String)> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while fake.posted().len() < n {
        assert!(
            std::time::Instant::now() < deadline,
            "nothing posted: {}",
            tapline_e2e::chrome::text(c).await
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    fake.posted().remove(n - 1)
}

#[tokio::test]
async fn a_large_file_is_signed_over_its_streebog_hash() {
    let Some(driver) = chromedriver() else { return };
    let app = TestApp::spawn().await;
    let Some(pki) = Pki::gost256("widget-large") else {
        return;
    };
    let pki = Arc::new(pki);
    let (romashka, _, all) = computer(&pki);
    let fake = FakeCades::start(all.clone()).await;
    // Over 10 MB: CryptoPro gets a hash, not the whole file in one message.
    let doc: Vec<u8> = (0..11 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let hash = cadesplugin::streebog256(&pki, &doc);
    let with_hash = widget_page(&app, &fake, "hashed.html", doc.len(), (&hash, "00"));
    let c = connect(driver.port, &app.dir.join("chromium"), 1280, 800).await;
    let pump = Pump::start(&c, pki.clone(), all);
    pump.document(doc.clone());

    // The server's hash for the key's family, set as it is.
    c.goto(&with_hash).await.unwrap();
    choose_and_sign(&c, &romashka).await;
    let form = posted(&c, &fake, 1).await;
    let signed = pump.signed();
    assert_eq!((signed[0].kind.as_str(), signed[0].parts), ("hash", 0));
    let cms = &form.iter().find(|(k, _)| k == "signature").unwrap().1;
    assert!(verify(&pki, cms, &doc).valid);

    // No hash from the server: the file goes to HashedData in parts.
    fake.page("doc.bin", "application/octet-stream", doc.clone());
    let without = widget_page(&app, &fake, "parts.html", doc.len(), ("", ""));
    c.goto(&without).await.unwrap();
    choose_and_sign(&c, &romashka).await;
    let form = posted(&c, &fake, 2).await;
    let signed = pump.signed();
    assert_eq!(signed[1].kind, "hash");
    assert_eq!(signed[1].parts, doc.len().div_ceil(3 * 256 * 1024));
    assert_eq!(signed[1].content, doc, "the parts are the file, in order");
    let cms = &form.iter().find(|(k, _)| k == "signature").unwrap().1;
    assert!(verify(&pki, cms, &doc).valid);
    c.close().await.unwrap();
    app.stop().await;
}

#[tokio::test]
async fn without_the_plugin_a_certificate_or_with_a_cancel_the_page_says_so_and_posts_nothing() {
    let Some(driver) = chromedriver() else { return };
    let app = TestApp::spawn().await;
    let Some(pki) = Pki::gost256("widget3") else {
        return;
    };
    let pki = Arc::new(pki);
    let (romashka, _, all) = computer(&pki);
    let fake = FakeCades::start(all.clone()).await;
    let doc = b"short document".to_vec();
    fake.page("doc.bin", "application/octet-stream", doc.clone());
    let page = widget_page(&app, &fake, "sign.html", doc.len(), ("", ""));
    let c = connect(driver.port, &app.dir.join("chromium"), 1280, 800).await;
    let all_certs = all.clone();
    let pump = Pump::start(&c, pki.clone(), all);

    fake.set_mode(Mode::Missing);
    c.goto(&page).await.unwrap();
    let e = error_text(&c).await;
    assert!(e.contains("Не найден КриптоПро ЭЦП Browser plug-in"), "{e}");
    let href = js(&c, "return document.querySelector('.sign-error a').href").await;
    assert_eq!(href, "https://www.cryptopro.ru/products/cades/plugin");
    assert_eq!(
        js(&c, "return document.querySelector('.sign-start').disabled").await,
        Value::Bool(true)
    );

    fake.set_mode(Mode::NoCertificates);
    c.goto(&page).await.unwrap();
    let e = error_text(&c).await;
    assert!(
        e.contains("нет действующего сертификата с закрытым ключом"),
        "{e}"
    );

    // Certificates, but none usable: one ran out, one has no key here.
    fake.set_mode(Mode::Ok);
    let certs = Certs { pki: &pki };
    fake.set_certs(vec![certs.expired(), certs.keyless()]);
    c.goto(&page).await.unwrap();
    let e = error_text(&c).await;
    assert!(
        e.contains("нет действующего сертификата с закрытым ключом"),
        "{e}"
    );
    fake.set_certs(all_certs);

    fake.set_mode(Mode::Cancel);
    c.goto(&page).await.unwrap();
    offered(&c).await;
    c.execute(
        "document.querySelector('select[name=thumbprint]').value = arguments[0];",
        vec![Value::String(romashka.thumbprint.clone())],
    )
    .await
    .unwrap();
    c.find(Locator::Css(".sign-start"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let e = error_text(&c).await;
    assert!(e.contains("Подписание отменено"), "{e}");
    // The button works again for another try.
    assert_eq!(
        js(&c, "return document.querySelector('.sign-start').disabled").await,
        Value::Bool(false)
    );

    // Any other failure on the computer: CryptoPro's own words.
    fake.set_mode(Mode::Error);
    c.goto(&page).await.unwrap();
    choose_and_sign(&c, &romashka).await;
    let e = error_text(&c).await;
    assert_eq!(
        e,
        "КриптоПро не смог подписать документ: Не удается построить цепочку сертификатов \
         для доверенного корневого центра. (0x800B010A)"
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(fake.posted().is_empty(), "nothing posted");
    assert!(pump.signed().is_empty(), "nothing signed");
    c.close().await.unwrap();
    app.stop().await;
}

// ------------------------------------------------------------ the portals

const STAFF_PASSWORD: &str = "office-pass-123";

/// A copy of demo tenant `demo` trusting the test PKI (its CRL files only:
/// the test certificates name no distribution points), whose pages load
/// `cadesplugin_api.js` from the fake.
fn tenant_for(pki: &Pki, fake: &FakeCades, demo: &str) -> std::path::PathBuf {
    let tenants = tenants_copy(&[(demo, demo, None)]);
    let dir = tenants.join(demo);
    pki.install(&dir);
    let toml_path = dir.join("tenant.toml");
    let toml = std::fs::read_to_string(&toml_path)
        .unwrap()
        .replace("revocation = \"either\"\n", "")
        .replace(
            "[signature]\n",
            "[signature]\nrevocation = \"crl\"\nfetch = false\n",
        );
    std::fs::write(&toml_path, toml).unwrap();
    cadesplugin::point_tenant_at(&dir, &fake.api_url());
    tenants
}

async fn add_staff(app: &TestApp, tenant: &str, email: &str) {
    tapline::office::add_staff(
        app.db(),
        tenant,
        email,
        "Петров Пётр Петрович",
        tapline::office::StaffRole::Operator,
        STAFF_PASSWORD,
        None,
    )
    .await
    .unwrap();
}

async fn staff_browser(app: &TestApp, tenant: &str, email: &str) -> Browser {
    add_staff(app, tenant, email).await;
    let mut b = app.browser(tenant);
    b.get("/office/login").await;
    let r = b
        .post(
            "/office/login",
            &[("email", email), ("password", STAFF_PASSWORD)],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    b
}

/// ООО «Ромашка» at kvadra with an application the staff moved to
/// «Ожидает подписи ЭЦП»: its id and the document to sign's page.
async fn kvadra_awaiting_signature(app: &TestApp) -> (Browser, String, String) {
    let phone = "+79003000091";
    let mut a = tapline_e2e::ready(
        app,
        "kvadra",
        "legal",
        phone,
        &[
            ("org_name", "ООО Ромашка"),
            ("email", "romashka@example.ru"),
            ("phone", phone),
        ],
        &[
            ("org_name", "ООО Ромашка"),
            ("inn", cadesplugin::ROMASHKA_INN),
            ("ogrn", cadesplugin::ROMASHKA_OGRN),
            ("representative", "Иванов Иван Иванович"),
            ("city", "Белгород"),
            ("postal_address", "Белгород, ул. Мира, 1"),
        ],
    )
    .await;
    let r = a
        .post(
            "/applications/new",
            &[("city", "Белгород"), ("kind", "connection")],
        )
        .await;
    let id = tapline_e2e::id_of(r.location.as_deref().unwrap());
    let v = a
        .get(&format!("/applications/{id}"))
        .await
        .hidden("version")
        .unwrap();
    let r = a
        .post(
            &format!("/applications/{id}"),
            &[
                ("action", "submit"),
                ("version", &v),
                ("city", "Белгород"),
                ("object_address", "ул. Мира, 5"),
                ("supply_type", "Теплоснабжение"),
                ("load_gcal_h", "0,25"),
                ("phone", phone),
                ("email", "romashka@example.ru"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let mut op = staff_browser(app, "kvadra", "op@kvadra.ru").await;
    let r = op
        .post(
            &format!("/office/applications/{id}/status"),
            &[("to", "awaiting_signature")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    // The application page makes the document to sign on first sight.
    a.get(&format!("/applications/{id}")).await;
    let (file,): (i64,) = sqlx::query_as(
        "SELECT id FROM application_files WHERE tenant_id = 'kvadra' AND slot = '_application'",
    )
    .fetch_one(&app.db().pool)
    .await
    .unwrap();
    (
        a,
        id.clone(),
        format!("/applications/{id}/documents/{file}"),
    )
}

/// The exact bytes behind a signing widget's `data-content-url`.
async fn content_of(b: &Browser, c: &Client) -> Vec<u8> {
    let url = js(
        c,
        "return document.querySelector('.sign-form').dataset.contentUrl",
    )
    .await;
    let origin = &b.base[..b.base.find("/t/").unwrap()];
    b.client
        .get(format!("{origin}{}", url.as_str().unwrap()))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec()
}

async fn choose_and_sign(c: &Client, cert: &Cert) {
    offered(c).await;
    c.execute(
        "document.querySelector('select[name=thumbprint]').value = arguments[0];",
        vec![Value::String(cert.thumbprint.clone())],
    )
    .await
    .unwrap();
    c.find(Locator::Css(".sign-start"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn signatures(app: &TestApp, tenant: &str) -> i64 {
    app.count(
        "SELECT COUNT(*) FROM signatures WHERE tenant_id = $1",
        tenant,
    )
    .await
}

#[tokio::test]
async fn kvadra_a_company_signs_with_cryptopro_in_the_browser_and_the_application_moves_on() {
    let Some(driver) = chromedriver() else { return };
    let Some(pki) = Pki::gost256("kvadra-browser") else {
        return;
    };
    let pki = Arc::new(pki);
    let (romashka, vektor, all) = computer(&pki);
    let fake = FakeCades::start(all.clone()).await;
    let app = TestApp::spawn_with(Setup {
        tenants: tenant_for(&pki, &fake, "kvadra"),
        ..Setup::default()
    })
    .await;
    let (a, id, doc) = kvadra_awaiting_signature(&app).await;

    // Only the signing page lets the configured origin's script in.
    let origin = format!("http://{}", fake.addr);
    let csp = |path: String| {
        let a = a.clone();
        async move {
            let r = a
                .client
                .get(format!("{}{path}", a.base))
                .send()
                .await
                .unwrap();
            r.headers()["content-security-policy"]
                .to_str()
                .unwrap()
                .to_string()
        }
    };
    assert!(csp(doc.clone()).await.contains(&origin));
    assert!(!csp(format!("/applications/{id}")).await.contains(&origin));
    assert!(!csp("/".into()).await.contains(&origin));

    let c = connect(driver.port, &app.dir.join("chromium"), 1280, 900).await;
    let pump = Pump::start(&c, pki.clone(), all);
    tapline_e2e::chrome::login(&c, &a.base, "romashka@example.ru").await;
    c.goto(&format!("{}{doc}", a.base)).await.unwrap();
    let options = offered(&c).await;
    assert_eq!(options.len(), 2, "{options:?}");
    assert!(fake.served() >= 1, "the api came from the tenant's address");
    js(
        &c,
        "document.querySelector('.sign-form').scrollIntoView(); return 1",
    )
    .await;
    let dir = tapline_e2e::repo().join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("sign-cryptopro-kvadra.png"),
        c.screenshot().await.unwrap(),
    )
    .unwrap();
    let bytes = content_of(&a, &c).await;

    // Another company's certificate: the server says whose it is, and no move.
    choose_and_sign(&c, &vektor).await;
    let e = error_text(&c).await;
    assert!(e.contains("ООО Вектор"), "{e}");
    assert!(e.contains(cadesplugin::VEKTOR_INN), "{e}");
    assert_eq!(signatures(&app, "kvadra").await, 0);

    choose_and_sign(&c, &romashka).await;
    until(
        &c,
        "return document.body.innerText.includes('Подписано: ООО Ромашка (Иванов Иван Иванович)')",
        "the signature shown",
    )
    .await;
    let signed = pump.signed();
    assert_eq!(signed.len(), 2);
    assert!(
        signed
            .iter()
            .all(|s| s.content == bytes && s.kind == "cades"),
        "the exact bytes of the document were signed"
    );
    c.goto(&format!("{}/applications/{id}", a.base))
        .await
        .unwrap();
    until(
        &c,
        "return document.body.innerText.includes('В работе у филиала')",
        "the application moved on",
    )
    .await;
    assert_eq!(signatures(&app, "kvadra").await, 1);
    c.close().await.unwrap();
    app.stop().await;
}

#[tokio::test]
async fn kvadra_without_the_plugin_the_page_links_to_its_installer_and_a_cancel_records_nothing() {
    let Some(driver) = chromedriver() else { return };
    let Some(pki) = Pki::gost256("kvadra-modes") else {
        return;
    };
    let pki = Arc::new(pki);
    let (romashka, _, all) = computer(&pki);
    let fake = FakeCades::start(all.clone()).await;
    let app = TestApp::spawn_with(Setup {
        tenants: tenant_for(&pki, &fake, "kvadra"),
        ..Setup::default()
    })
    .await;
    let (a, id, doc) = kvadra_awaiting_signature(&app).await;
    let c = connect(driver.port, &app.dir.join("chromium"), 1280, 900).await;
    let pump = Pump::start(&c, pki.clone(), all);
    tapline_e2e::chrome::login(&c, &a.base, "romashka@example.ru").await;

    fake.set_mode(Mode::Missing);
    c.goto(&format!("{}{doc}", a.base)).await.unwrap();
    let e = error_text(&c).await;
    assert!(e.contains("Не найден КриптоПро ЭЦП Browser plug-in"), "{e}");
    let href = js(&c, "return document.querySelector('#sign-error a').href").await;
    assert_eq!(href, "https://www.cryptopro.ru/products/cades/plugin");

    fake.set_mode(Mode::NoCertificates);
    c.goto(&format!("{}{doc}", a.base)).await.unwrap();
    let e = error_text(&c).await;
    assert!(e.contains("нет действующего сертификата"), "{e}");

    fake.set_mode(Mode::Cancel);
    c.goto(&format!("{}{doc}", a.base)).await.unwrap();
    choose_and_sign(&c, &romashka).await;
    let e = error_text(&c).await;
    assert!(e.contains("Подписание отменено"), "{e}");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(pump.signed().is_empty());
    assert_eq!(signatures(&app, "kvadra").await, 0);
    let view = a.clone().get(&format!("/applications/{id}")).await;
    assert!(view.has("Ожидает подписи ЭЦП"), "{}", view.body);
    c.close().await.unwrap();
    app.stop().await;
}

/// A setevaya company's sent application: the applicant and its id.
async fn setevaya_company_application(app: &TestApp) -> (Browser, String) {
    let phone = "+79003000092";
    let who = [
        ("org_name", "ООО Ромашка"),
        ("surname", "Иванов"),
        ("first_name", "Иван"),
        ("patronymic", "Иванович"),
        ("inn", cadesplugin::ROMASHKA_INN),
        ("ogrn", cadesplugin::ROMASHKA_OGRN),
        ("kpp", "770301001"),
    ];
    let mut reg = who.to_vec();
    reg.extend([("email", "romashka@example.ru"), ("phone", phone)]);
    let mut profile = who.to_vec();
    profile.push(("postal_address", "Казань, ул. Сетевая, 2"));
    let mut a = tapline_e2e::ready(app, "setevaya", "legal", phone, &reg, &profile).await;
    let r = a.post("/applications/new", &[("kind", "connection")]).await;
    let id = tapline_e2e::id_of(r.location.as_deref().unwrap());
    let pdf = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";
    a.upload(
        &format!("/applications/{id}/files/ownership_doc"),
        "егрн.pdf",
        pdf,
        true,
    )
    .await;
    let v = a
        .get(&format!("/applications/{id}"))
        .await
        .hidden("version")
        .unwrap();
    let r = a
        .post(
            &format!("/applications/{id}"),
            &[
                ("action", "submit"),
                ("version", &v),
                ("object_address", "ул. Сетевая, 2"),
                ("power_kw", "120"),
                ("line_length_m", "80"),
                ("metering_points", "2"),
                ("phone", phone),
                ("email", "romashka@example.ru"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    (a, id)
}

#[tokio::test]
async fn setevaya_staff_sign_in_the_office_then_the_company_signs_with_cryptopro() {
    let Some(driver) = chromedriver() else { return };
    let Some(pki) = Pki::gost256("setevaya-browser") else {
        return;
    };
    let pki = Arc::new(pki);
    let (romashka, vektor, all) = computer(&pki);
    let fake = FakeCades::start(all.clone()).await;
    let app = TestApp::spawn_with(Setup {
        tenants: tenant_for(&pki, &fake, "setevaya"),
        ..Setup::default()
    })
    .await;
    let (a, id) = setevaya_company_application(&app).await;
    let mut op = staff_browser(&app, "setevaya", "op@setevaya.ru").await;
    let card = format!("/office/applications/{id}");
    let contract = b"%PDF-1.4\n% a contract both sides sign\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";
    let r = op
        .post_multipart(
            &format!("{card}/document"),
            &[("title", "Договор"), ("body", "Подпишите, пожалуйста")],
            Some(("договор.pdf", contract)),
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let (file,): (i64,) = sqlx::query_as(
        "SELECT id FROM application_files WHERE tenant_id = 'setevaya' AND file_name = 'договор.pdf'",
    )
    .fetch_one(&app.db().pool)
    .await
    .unwrap();
    let r = op
        .post(
            &format!("{card}/documents/{file}/ask"),
            &[("asked", "both")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);

    // The utility signs first: staff in the office, with their own key.
    let c = connect(driver.port, &app.dir.join("chromium"), 1280, 900).await;
    let pump = Pump::start(&c, pki.clone(), all);
    c.goto(&app.url("/t/setevaya/office/login")).await.unwrap();
    tapline_e2e::chrome::fill(&c, "f-email", "op@setevaya.ru").await;
    tapline_e2e::chrome::fill(&c, "f-password", STAFF_PASSWORD).await;
    tapline_e2e::chrome::submit(&c, "/office/login").await;
    arrive(&c, Locator::Css("[data-testid=staff-box]")).await;
    c.goto(&format!("{}{card}/documents/{file}", a.base))
        .await
        .unwrap();
    choose_and_sign(&c, &vektor).await;
    until(
        &c,
        "return document.body.innerText.includes('Подписано: ООО Вектор (Петров Пётр Петрович)')",
        "the utility's signature shown",
    )
    .await;
    assert_eq!(pump.signed()[0].content, contract, "the document's bytes");

    // Then the company, with its own.
    tapline_e2e::chrome::login(&c, &a.base, "romashka@example.ru").await;
    c.goto(&format!("{}/applications/{id}/documents/{file}", a.base))
        .await
        .unwrap();
    choose_and_sign(&c, &romashka).await;
    until(
        &c,
        "return document.body.innerText.includes('Подписано: ООО Ромашка (Иванов Иван Иванович)')",
        "the company's signature shown",
    )
    .await;
    let text = tapline_e2e::chrome::text(&c).await;
    assert!(
        text.contains("Подписано: ООО Вектор (Петров Пётр Петрович)"),
        "both signatures side by side: {text}"
    );
    assert_eq!(signatures(&app, "setevaya").await, 2);
    assert!(pump.signed().iter().all(|s| s.content == contract));
    c.close().await.unwrap();
    app.stop().await;
}
