//! The applicant's side of the portal in a real browser (headless Chromium
//! through chromedriver), where the defects were in what a person sees or
//! does: files upload as soon as they are chosen and nothing chosen is lost
//! on sending; «Мои заявки» shows each status on a phone's first screen;
//! an application's facts read as a table on a desktop and a list on a
//! phone. Screenshots go to `target/screenshots/`.
//!
//! Needs Debian's `chromium` and `chromium-driver`; see tests/browser.rs.

use fantoccini::Locator;
use serde_json::Value;
use tapline_e2e::chrome::{arrive, chromedriver, fill, js, login, open as connect, until};
use tapline_e2e::{TestApp, repo};

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
    // And a background save is on its way at the press, its answer slow (6 s,
    // well after the upload's 1.5 s): the press waits for the version that
    // answer gives, or the server would take it for another tab's save.
    js(
        &c,
        "var f = window.fetch; window.autosaves = 0; \
         window.fetch = function (u, o) { var p = f.apply(this, arguments); \
           if (!(o && o.body && String(o.body).includes('action=autosave'))) return p; \
           window.autosaves++; \
           return p.then(function (r) { return new Promise(function (ok) { setTimeout(function () { ok(r); }, 6000); }); }); }; \
         return true;",
    )
    .await;
    fill(&c, "f-comment", "Подключить до холодов").await;
    until(&c, "return window.autosaves > 0", "a background save").await;
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
    let comment = js(&c, &slot("comment")).await;
    assert!(
        comment.as_str().unwrap().contains("Подключить до холодов"),
        "{comment}"
    );
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
    assert!(status.contains("Ожидает подписанный оригинал"), "{status}");
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
