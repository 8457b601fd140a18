//! The applicant's side of the portal in a real browser (headless Chromium
//! through chromedriver), where the defects were in what a person sees or
//! does: files upload as soon as they are chosen and nothing chosen is lost
//! on sending; «Мои заявки» shows each status on a phone's first screen;
//! an application's facts read as a table on a desktop and a list on a
//! phone. Screenshots go to `target/screenshots/`.
//!
//! Needs Debian's `chromium` and `chromium-driver`; see tests/browser.rs.

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tapline_e2e::{PASSWORD, TestApp, repo};

struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chromedriver() -> Option<Driver> {
    let bin = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    let Some(bin) = bin else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs chromium-driver (apt-get install chromium chromium-driver)"
        );
        eprintln!("chromedriver not installed: browser test not run");
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(bin)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    Some(Driver { child, port })
}

/// A browser whose window is `width`×`height` CSS pixels; `phone` emulates
/// a phone's screen of that size (a headless window is at least 500 wide).
async fn connect(
    port: u16,
    profile: &std::path::Path,
    width: u32,
    height: u32,
    phone: bool,
) -> Client {
    let mut caps = serde_json::Map::new();
    let mut options = serde_json::json!({
        "binary": "/usr/bin/chromium",
        "args": [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.display()),
        ]
    });
    if phone {
        options["mobileEmulation"] = serde_json::json!({
            "deviceMetrics": { "width": width, "height": height, "pixelRatio": 3.0, "touch": true },
        });
    }
    caps.insert("goog:chromeOptions".into(), options);
    for _ in 0..50 {
        match ClientBuilder::native()
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(c) => return c,
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    panic!("could not open a WebDriver session with chromedriver");
}

async fn fill(c: &Client, id: &str, value: &str) {
    let el = c
        .find(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("#{id}: {e}"));
    el.clear().await.unwrap();
    el.send_keys(value).await.unwrap();
}

async fn text(c: &Client) -> String {
    match c.find(Locator::Css("body")).await {
        Ok(body) => body.text().await.unwrap_or_default(),
        Err(_) => c.source().await.unwrap_or_default(),
    }
}

async fn arrive(c: &Client, what: Locator<'_>) -> fantoccini::elements::Element {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        match c.find(what).await {
            Ok(el) => return el,
            Err(e) if std::time::Instant::now() > deadline => panic!(
                "page did not show {what:?}: {e}\nat {:?}\n{}",
                c.current_url().await.map(|u| u.to_string()),
                text(c).await
            ),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

async fn js(c: &Client, script: &str) -> Value {
    c.execute(script, vec![]).await.unwrap()
}

async fn until(c: &Client, script: &str, what: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while js(c, script).await != Value::Bool(true) {
        assert!(
            std::time::Instant::now() < deadline,
            "{what} did not happen\n{}",
            text(c).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn login(c: &Client, base: &str, identifier: &str) {
    c.goto(&format!("{base}/login")).await.unwrap();
    fill(c, "f-identifier", identifier).await;
    fill(c, "f-password", PASSWORD).await;
    c.find(Locator::Css("form[action$='/login'] button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    arrive(c, Locator::Css("[data-testid=user-box]")).await;
}

fn screenshot(name: &str, png: Vec<u8>) {
    std::fs::create_dir_all(repo().join("target/screenshots")).unwrap();
    std::fs::write(repo().join("target/screenshots").join(name), png).unwrap();
}

fn pdf(app: &TestApp, name: &str) -> String {
    let p = app.dir.join(name);
    std::fs::write(&p, b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n").unwrap();
    p.display().to_string()
}

#[tokio::test]
async fn a_chosen_file_uploads_at_once_and_sending_waits_for_it() {
    let Some(driver) = chromedriver() else { return };
    let app = TestApp::spawn().await;
    let _http = tapline_e2e::setevaya_applicant(&app, "upload@example.ru", "+79002000070").await;
    let c = connect(
        driver.port,
        &app.dir.join("chromium-profile"),
        412,
        1400,
        false,
    )
    .await;
    let base = app.url("/t/setevaya");
    login(&c, &base, "upload@example.ru").await;
    c.goto(&format!("{base}/applications/new")).await.unwrap();
    arrive(&c, Locator::Id("start-connection"))
        .await
        .click()
        .await
        .unwrap();
    arrive(&c, Locator::Css("form[data-autosave]")).await;
    fill(&c, "f-object_address", "ул. Загрузочная, 3").await;
    fill(&c, "f-power_kw", "12").await;
    fill(&c, "f-line_length_m", "40").await;
    // The price follows the autosaved values, before anything is sent.
    let fee_has = |t: &str| {
        format!(
            "var f = document.getElementById('fee'); return !!f && f.textContent.includes('{t}')"
        )
    };
    until(
        &c,
        &fee_has("Строительство линии, 40 м"),
        "the fee after autosave",
    )
    .await;
    fill(&c, "f-line_length_m", "80").await;
    until(
        &c,
        &fee_has("Строительство линии, 80 м"),
        "the fee to follow the change",
    )
    .await;

    // One step: choosing the file uploads it, with its progress bar; there
    // is no «Загрузить» to forget.
    let hidden = js(
        &c,
        "return Array.prototype.every.call(document.querySelectorAll('.upload-button'), function (b) { return b.offsetParent === null; })",
    )
    .await;
    assert_eq!(
        hidden,
        Value::Bool(true),
        "the upload button is still shown"
    );
    c.find(Locator::Id("u-site_plan"))
        .await
        .unwrap()
        .send_keys(&pdf(&app, "план.pdf"))
        .await
        .unwrap();
    until(
        &c,
        "var s = document.querySelector('#slot-site_plan .upload-status').textContent; \
         var p = document.querySelector('#slot-site_plan progress'); \
         return s.includes('загружен') && !p.hidden && p.value === 100 \
           && document.querySelector('#slot-site_plan .file-list').textContent.includes('план.pdf')",
        "the upload on choosing",
    )
    .await;

    // The documents come before the send button.
    let order = js(
        &c,
        "var d = document.getElementById('slot-ownership_doc').getBoundingClientRect().top; \
         var s = document.querySelector('button[value=submit]').getBoundingClientRect().top; return d < s",
    )
    .await;
    assert_eq!(
        order,
        Value::Bool(true),
        "documents sit above «Отправить заявку»"
    );

    // A slow connection: the next file is still on its way when «Отправить
    // заявку» is pressed. Sending waits for it instead of leaving it out.
    js(
        &c,
        "var send = XMLHttpRequest.prototype.send; \
         XMLHttpRequest.prototype.send = function (d) { var x = this; setTimeout(function () { send.call(x, d); }, 1500); }; \
         return true;",
    )
    .await;
    c.find(Locator::Id("u-ownership_doc"))
        .await
        .unwrap()
        .send_keys(&pdf(&app, "егрн.pdf"))
        .await
        .unwrap();
    c.find(Locator::Css("button[value=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let done = arrive(&c, Locator::Id("submitted")).await;
    assert!(done.text().await.unwrap().contains("Заявка отправлена"));
    // Both files are with the sent application, each in its own slot.
    let slot =
        |id: &str| format!("return document.querySelector('[data-field={id}] dd').textContent");
    let own = js(&c, &slot("ownership_doc")).await;
    assert!(own.as_str().unwrap().contains("егрн.pdf"), "{own}");
    let plan = js(&c, &slot("site_plan")).await;
    assert!(plan.as_str().unwrap().contains("план.pdf"), "{plan}");
    screenshot("portal-upload-sent.png", c.screenshot().await.unwrap());
    c.close().await.unwrap();
    app.stop().await;
}

#[tokio::test]
async fn a_phone_shows_each_status_on_the_first_screen_and_facts_stack() {
    let Some(driver) = chromedriver() else { return };
    let app = TestApp::spawn().await;
    let mut http = tapline_e2e::kazenergo_legal(&app, "phone@example.ru", "+79002000071").await;
    let (id, _) =
        tapline_e2e::kazenergo_submit(&mut http, "phone@example.ru", "+79002000071").await;
    let c = connect(
        driver.port,
        &app.dir.join("chromium-profile"),
        390,
        844,
        true,
    )
    .await;
    let base = app.url("/t/kazenergo");
    login(&c, &base, "phone@example.ru").await;
    c.goto(&format!("{base}/applications")).await.unwrap();
    arrive(&c, Locator::Id("applications")).await;
    let width = js(&c, "return window.innerWidth").await;
    assert_eq!(width, 390, "the test needs a 390 px wide viewport");

    // The first application's status is on the first screen, whole, and
    // nothing scrolls sideways.
    let seen = js(
        &c,
        "var r = document.querySelector('#applications tbody tr .cell-status').getBoundingClientRect(); \
         return [r.top >= 0, r.bottom <= window.innerHeight, r.right <= window.innerWidth, r.width > 0, \
                 document.documentElement.scrollWidth <= window.innerWidth, r.bottom, window.innerHeight]",
    )
    .await;
    assert_eq!(
        &seen.as_array().unwrap()[..5],
        &[const { Value::Bool(true) }; 5],
        "[top, bottom, right, shown, no sideways scroll, bottom px, screen px] = {seen}"
    );
    let status = c
        .find(Locator::Css("#applications tbody tr .cell-status"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(status.contains("Подана"), "{status}");
    // The filters are folded, one tap away.
    let open = js(&c, "return document.getElementById('filters').open").await;
    assert_eq!(open, Value::Bool(false));
    c.find(Locator::Css("#filters > summary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until(
        &c,
        "return document.getElementById('f-status').offsetParent !== null",
        "the filters to open",
    )
    .await;
    screenshot("portal-list-phone.png", c.screenshot().await.unwrap());

    // The application's facts: label above value on a phone…
    c.goto(&format!("{base}/applications/{id}")).await.unwrap();
    arrive(&c, Locator::Id("facts")).await;
    let layout = "var dt = document.querySelector('#facts .fact dt').getBoundingClientRect(); \
                  var dd = document.querySelector('#facts .fact dd').getBoundingClientRect(); \
                  return [dd.top >= dt.bottom - 1, Math.abs(dd.top - dt.top) < 4 && dd.left > dt.right]";
    let phone = js(&c, layout).await;
    assert_eq!(
        phone,
        serde_json::json!([true, false]),
        "stacked on a phone"
    );
    screenshot("portal-facts-phone.png", c.screenshot().await.unwrap());
    c.close().await.unwrap();
    // …and side by side, as a two-column table, on a desktop.
    let c = connect(
        driver.port,
        &app.dir.join("chromium-desktop"),
        1280,
        900,
        false,
    )
    .await;
    login(&c, &base, "phone@example.ru").await;
    c.goto(&format!("{base}/applications/{id}")).await.unwrap();
    arrive(&c, Locator::Id("facts")).await;
    let desk = js(&c, layout).await;
    assert_eq!(
        desk,
        serde_json::json!([false, true]),
        "two columns on a desktop"
    );
    screenshot("portal-facts-desktop.png", c.screenshot().await.unwrap());
    // On a desktop the list opens its filters by itself.
    c.goto(&format!("{base}/applications")).await.unwrap();
    arrive(&c, Locator::Id("applications")).await;
    let open = js(&c, "return document.getElementById('filters').open").await;
    assert_eq!(open, Value::Bool(true));
    c.close().await.unwrap();
    app.stop().await;
}
