//! A real browser: headless Chromium driven through chromedriver
//! (WebDriver) registers an applicant (the captcha passed by the browser's
//! proof of work, nothing typed), confirms the phone, logs out and
//! logs back in; and fills a draft that autosaves through a dropped
//! connection, uploads a file with its progress bar and submits. Each
//! leaves screenshots under `target/screenshots/`.
//!
//! Needs Debian's `chromium` and `chromium-driver`. Under CI (`CI` set)
//! their absence fails the test; on a developer machine without them the
//! test says so and returns.

use fantoccini::{Client, Locator};
use tapline_e2e::chrome::{arrive, chromedriver, fill, js, login, submit, text, until};
use tapline_e2e::{PASSWORD, TestApp, repo};

/// The window these tests were written for: a phone-sized width, tall.
async fn connect(port: u16, profile: &std::path::Path) -> Client {
    tapline_e2e::chrome::connect(port, profile, 412, 1400).await
}

#[tokio::test]
async fn a_person_registers_confirms_the_phone_and_logs_in_with_chromium() {
    let Some(driver) = chromedriver() else { return };
    let app = TestApp::spawn().await;
    let c = connect(driver.port, &app.dir.join("chromium-profile")).await;
    let base = app.url("/t/kvadra");

    c.goto(&format!("{base}/register?type=individual"))
        .await
        .unwrap();
    assert!(c.title().await.unwrap().contains("Регистрация"));
    // With scripts the captcha asks nothing of the eyes (WCAG 2.1 1.1.1):
    // the browser proves work, the picture and its field are hidden, and
    // a status line says what happens.
    until(
        &c,
        "return document.querySelector('input[name=captcha_proof]').value !== ''",
        "the proof of work",
    )
    .await;
    let shown: serde_json::Value = js(
        &c,
        "var v = document.querySelector('.captcha-visual'); var n = document.querySelector('.captcha-auto'); \
         return [v.offsetParent === null, n.offsetParent !== null, n.getAttribute('role'), n.textContent]",
    )
    .await;
    assert_eq!(shown[0], true, "the picture is still shown: {shown}");
    assert_eq!(shown[1], true, "the status line is hidden: {shown}");
    assert_eq!(shown[2], "status");
    assert!(
        shown[3].as_str().unwrap().contains("Проверка пройдена"),
        "{shown}"
    );

    // First a mistake: the passwords differ; the error sits under its field
    // and what was typed is kept.
    fill(&c, "f-surname", "Браузеров").await;
    fill(&c, "f-first_name", "Хром").await;
    fill(&c, "f-email", "chrome@example.ru").await;
    fill(&c, "f-phone", "+7 900 555-44-33").await;
    fill(&c, "f-password", PASSWORD).await;
    fill(&c, "f-password2", "something-else-1").await;
    c.find(Locator::Id("f-consent"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    submit(&c, "/register").await;
    let err = arrive(&c, Locator::Id("e-password2")).await;
    assert!(!err.text().await.unwrap().is_empty());
    let kept = c
        .find(Locator::Id("f-surname"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(kept.as_deref(), Some("Браузеров"));

    fill(&c, "f-password", PASSWORD).await;
    fill(&c, "f-password2", PASSWORD).await;
    let consent = c.find(Locator::Id("f-consent")).await.unwrap();
    if consent.prop("checked").await.unwrap().as_deref() != Some("true") {
        consent.click().await.unwrap();
    }
    // Nothing typed for the captcha: the new challenge of the returned form
    // is solved by the script again, and the form waits for it if need be.
    submit(&c, "/register").await;

    // The SMS code page; the code is read from the outbox as a person would with `tapline outbox`.
    arrive(&c, Locator::Id("f-code")).await;
    assert!(
        c.current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/confirm-phone")
    );
    let code = app.last_sms_code("kvadra", "+79005554433").await;
    fill(&c, "f-code", &code).await;
    submit(&c, "/confirm-phone").await;
    arrive(&c, Locator::Css("[data-testid=user-box]")).await;
    let home = text(&c).await;
    assert!(home.contains("Телефон подтверждён"), "{home}");
    assert!(home.contains("Браузеров"), "the header names the user");

    std::fs::create_dir_all(repo().join("target/screenshots")).unwrap();
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"));
    std::fs::write(repo().join("target/screenshots/registered.png"), png).unwrap();

    submit(&c, "/logout").await;
    arrive(&c, Locator::Id("f-identifier")).await;
    c.goto(&format!("{base}/login")).await.unwrap();
    fill(&c, "f-identifier", "chrome@example.ru").await;
    fill(&c, "f-password", PASSWORD).await;
    submit(&c, "/login").await;
    arrive(&c, Locator::Css("[data-testid=user-box]")).await;
    let home = text(&c).await;
    assert!(home.contains("Браузеров"), "{home}");
    let png = c.screenshot().await.unwrap();
    std::fs::write(repo().join("target/screenshots/logged-in.png"), png).unwrap();

    c.close().await.unwrap();
    app.stop().await;
}

const STATUS: &str = "return document.querySelector('.autosave-status').textContent";

#[tokio::test]
async fn a_draft_autosaves_through_a_dropped_connection_uploads_with_progress_and_submits() {
    let Some(driver) = chromedriver() else { return };
    let app = TestApp::spawn().await;
    // The account is made over HTTP; the browser only logs in.
    let mut http = tapline_e2e::setevaya_applicant(&app, "draft@example.ru", "+79002000090").await;

    let c = connect(driver.port, &app.dir.join("chromium-profile")).await;
    let base = app.url("/t/setevaya");
    login(&c, &base, "draft@example.ru").await;

    // A draft at once.
    c.goto(&format!("{base}/applications/new")).await.unwrap();
    arrive(&c, Locator::Id("start-connection"))
        .await
        .click()
        .await
        .unwrap();
    arrive(&c, Locator::Css("form[data-autosave]")).await;
    let draft_url = c.current_url().await.unwrap();
    let id: String = draft_url.path().rsplit('/').next().unwrap().to_string();

    // Typing saves by itself.
    fill(&c, "f-object_address", "ул. Сетевая, 7").await;
    fill(&c, "f-power_kw", "12").await;
    until(
        &c,
        &format!("{STATUS}.includes('сохранён автоматически')"),
        "autosave",
    )
    .await;
    let saved = http.get(&format!("/applications/{id}")).await;
    assert!(
        saved.has("value=\"ул. Сетевая, 7\""),
        "the server has the typed address"
    );

    // A proxy answers 502 with its own page: the copy is kept and sent
    // again once the server answers.
    js(&c, "window.realFetch = window.fetch; window.fetch = function () { return Promise.resolve(new Response('<h1>Bad Gateway</h1>', { status: 502 })); }; return true;").await;
    fill(&c, "f-power_kw", "13").await;
    until(
        &c,
        &format!("{STATUS}.includes('повторим попытку')"),
        "the retry notice",
    )
    .await;
    js(
        &c,
        "window.fetch = window.realFetch; window.dispatchEvent(new Event('online')); return true;",
    )
    .await;
    until(
        &c,
        &format!("{STATUS}.includes('сохранён автоматически')"),
        "the save after the 502",
    )
    .await;
    assert!(
        http.get(&format!("/applications/{id}"))
            .await
            .has("value=\"13\"")
    );

    // The connection drops: what is typed next stays in the browser and
    // the user is told so.
    js(&c, "window.fetch = function () { return Promise.reject(new TypeError('offline')); }; return true;").await;
    fill(&c, "f-line_length_m", "45").await;
    until(
        &c,
        &format!("{STATUS}.includes('Нет связи')"),
        "the offline notice",
    )
    .await;
    assert!(
        !http
            .get(&format!("/applications/{id}"))
            .await
            .has("value=\"45\"")
    );
    // The tab is reloaded (the connection is back): the copy is restored and sent.
    c.refresh().await.unwrap();
    arrive(&c, Locator::Css("form[data-autosave]")).await;
    until(
        &c,
        "return document.getElementById('f-line_length_m').value === '45'",
        "restore",
    )
    .await;
    until(
        &c,
        &format!("{STATUS}.includes('сохранён автоматически')"),
        "the restored copy to save",
    )
    .await;
    assert!(
        http.get(&format!("/applications/{id}"))
            .await
            .has("value=\"45\"")
    );

    // Upload on choosing, with a progress bar and a confirmation, in place.
    let pdf = app.dir.join("егрн.pdf");
    std::fs::write(&pdf, b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n").unwrap();
    c.find(Locator::Id("u-ownership_doc"))
        .await
        .unwrap()
        .send_keys(&pdf.display().to_string())
        .await
        .unwrap();
    // Choosing is enough: the upload starts by itself.
    until(
        &c,
        "var s = document.querySelector('#slot-ownership_doc .upload-status').textContent; \
         var p = document.querySelector('#slot-ownership_doc progress'); \
         return s.includes('загружен') && !p.hidden && p.value === 100",
        "the upload's progress and confirmation",
    )
    .await;
    let listed = text(&c).await;
    assert!(listed.contains("егрн.pdf"), "{listed}");
    // Still the same draft page: nothing typed was lost by the upload.
    assert_eq!(c.current_url().await.unwrap(), draft_url);
    std::fs::create_dir_all(repo().join("target/screenshots")).unwrap();
    std::fs::write(
        repo().join("target/screenshots/draft-uploaded.png"),
        c.screenshot().await.unwrap(),
    )
    .unwrap();

    c.find(Locator::Css("button[value=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let done = arrive(&c, Locator::Id("submitted")).await;
    assert!(done.text().await.unwrap().contains("Заявка отправлена"));
    let status = c.find(Locator::Id("status")).await.unwrap();
    assert_eq!(
        status.text().await.unwrap(),
        "Ожидание ответа электросетевой"
    );
    assert!(
        js(&c, "return localStorage.length === 0").await == serde_json::Value::Bool(true),
        "no stale copy is left behind"
    );
    std::fs::write(
        repo().join("target/screenshots/submitted.png"),
        c.screenshot().await.unwrap(),
    )
    .unwrap();
    c.close().await.unwrap();
    app.stop().await;
}

#[tokio::test]
async fn staff_set_a_status_and_the_applicant_sees_it_and_is_told_by_email_and_sms() {
    let Some(driver) = chromedriver() else { return };
    let app = TestApp::spawn().await;
    let mut http = tapline_e2e::kazenergo_legal(&app, "seen@example.ru", "+79002000091").await;
    let (id, _) = tapline_e2e::kazenergo_submit(&mut http, "seen@example.ru", "+79002000091").await;
    tapline_e2e::kazenergo_original_received(&app, &id).await;
    tapline::office::add_staff(
        app.db(),
        "kazenergo",
        "op@kazenergo.ru",
        "Оператор Браузеров",
        tapline::office::StaffRole::Operator,
        "office-pass-123",
        None,
    )
    .await
    .unwrap();

    let c = connect(driver.port, &app.dir.join("chromium-profile")).await;
    let base = app.url("/t/kazenergo");
    c.goto(&format!("{base}/office/")).await.unwrap();
    fill(&c, "f-email", "op@kazenergo.ru").await;
    fill(&c, "f-password", "office-pass-123").await;
    submit(&c, "/office/login").await;
    arrive(&c, Locator::Css("[data-testid=staff-box]")).await;
    arrive(&c, Locator::Css(&format!("tr[data-id='{id}'] a")))
        .await
        .click()
        .await
        .unwrap();
    let select = arrive(&c, Locator::Id("f-to")).await;
    select.select_by_value("accepted").await.unwrap();
    fill(&c, "f-note", "Документы в порядке").await;
    submit(&c, &format!("/office/applications/{id}/status")).await;
    let done = arrive(&c, Locator::Id("done")).await;
    assert!(done.text().await.unwrap().contains("Сохранено"));
    let status = c.find(Locator::Id("status")).await.unwrap();
    assert_eq!(status.text().await.unwrap(), "Принята к рассмотрению");
    std::fs::create_dir_all(repo().join("target/screenshots")).unwrap();
    std::fs::write(
        repo().join("target/screenshots/office-card.png"),
        c.screenshot().await.unwrap(),
    )
    .unwrap();
    submit(&c, "/office/logout").await;
    arrive(&c, Locator::Id("f-email")).await;

    // The applicant, in the same browser, sees the new status and the note.
    c.goto(&format!("{base}/login")).await.unwrap();
    fill(&c, "f-identifier", "seen@example.ru").await;
    fill(&c, "f-password", PASSWORD).await;
    submit(&c, "/login").await;
    arrive(&c, Locator::Css("[data-testid=user-box]")).await;
    c.goto(&format!("{base}/applications/{id}")).await.unwrap();
    let status = arrive(&c, Locator::Id("status")).await;
    assert_eq!(status.text().await.unwrap(), "Принята к рассмотрению");
    assert!(text(&c).await.contains("Документы в порядке"));
    std::fs::write(
        repo().join("target/screenshots/applicant-sees-status.png"),
        c.screenshot().await.unwrap(),
    )
    .unwrap();
    // And was told by email and by SMS.
    let told: Vec<_> = app
        .all_messages("kazenergo")
        .await
        .into_iter()
        .filter(|m| m.2.contains("Принята к рассмотрению"))
        .collect();
    assert!(
        told.iter()
            .any(|m| m.0 == "email" && m.1 == "seen@example.ru"),
        "{told:?}"
    );
    assert!(
        told.iter().any(|m| m.0 == "sms" && m.1 == "+79002000091"),
        "{told:?}"
    );
    c.close().await.unwrap();
    app.stop().await;
}

/// «Сформировать» on an application whose number the applicant already has
/// asks first; ticked and clicked again, it replaces the number and the
/// history shows both.
#[tokio::test]
async fn staff_confirm_before_a_given_number_is_replaced() {
    let Some(driver) = chromedriver() else { return };
    let app = TestApp::spawn().await;
    let mut http = tapline_e2e::kazenergo_legal(&app, "num@example.ru", "+79002000092").await;
    let (id, _) = tapline_e2e::kazenergo_submit(&mut http, "num@example.ru", "+79002000092").await;
    tapline::office::add_staff(
        app.db(),
        "kazenergo",
        "num@kazenergo.ru",
        "Оператор Номеров",
        tapline::office::StaffRole::Operator,
        "office-pass-123",
        None,
    )
    .await
    .unwrap();
    let yy = &tapline::store::now_ts()[2..4];
    let (given, next) = (format!("КЭ-00001/{yy}"), format!("КЭ-00002/{yy}"));

    let c = connect(driver.port, &app.dir.join("chromium-profile")).await;
    let base = app.url("/t/kazenergo");
    c.goto(&format!("{base}/office/")).await.unwrap();
    fill(&c, "f-email", "num@kazenergo.ru").await;
    fill(&c, "f-password", "office-pass-123").await;
    submit(&c, "/office/login").await;
    arrive(&c, Locator::Css("[data-testid=staff-box]")).await;
    c.goto(&format!("{base}/office/applications/{id}"))
        .await
        .unwrap();
    let generate =
        format!("form[action$='/office/applications/{id}/number'] button[name=generate]");
    arrive(&c, Locator::Css(&generate))
        .await
        .click()
        .await
        .unwrap();
    let error = arrive(&c, Locator::Id("e-number")).await;
    assert!(
        error
            .text()
            .await
            .unwrap()
            .contains(&format!("уже есть номер {given}")),
        "{}",
        text(&c).await
    );
    assert!(
        c.find(Locator::Css("h1"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
            .contains(&given),
        "nothing replaced without the confirmation"
    );
    c.find(Locator::Id("f-replace"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.find(Locator::Css(&generate))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    arrive(&c, Locator::Id("done")).await;
    let h1 = c.find(Locator::Css("h1")).await.unwrap();
    assert!(
        h1.text().await.unwrap().contains(&next),
        "{}",
        text(&c).await
    );
    let history = c.find(Locator::Id("history")).await.unwrap();
    assert!(
        history
            .text()
            .await
            .unwrap()
            .contains(&format!("{given} → {next}")),
        "{}",
        text(&c).await
    );
    c.close().await.unwrap();
    app.stop().await;
}

/// The plugin's word on a draft reaches the page while the applicant types:
/// the autosave's answer puts it under its field, and a fixed value takes
/// it away; the draft is saved either way.
#[tokio::test]
async fn an_autosave_shows_the_plugins_error_under_its_field() {
    let Some(driver) = chromedriver() else { return };
    let app = TestApp::spawn().await;
    let mut http = tapline_e2e::setevaya_applicant(&app, "advice@example.ru", "+79002000091").await;

    let c = connect(driver.port, &app.dir.join("chromium-profile")).await;
    let base = app.url("/t/setevaya");
    login(&c, &base, "advice@example.ru").await;
    c.goto(&format!("{base}/applications/new")).await.unwrap();
    arrive(&c, Locator::Id("start-connection"))
        .await
        .click()
        .await
        .unwrap();
    arrive(&c, Locator::Css("form[data-autosave]")).await;
    let id: String = c
        .current_url()
        .await
        .unwrap()
        .path()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();

    fill(&c, "f-power_kw", "много").await;
    until(
        &c,
        "var e = document.getElementById('e-power_kw'); \
         return !!e && e.textContent.includes('Укажите мощность числом') \
           && document.getElementById('f-power_kw').getAttribute('aria-invalid') === 'true' \
           && document.getElementById('f-power_kw').getAttribute('aria-describedby').includes('e-power_kw')",
        "the plugin's error under the power field",
    )
    .await;
    assert!(
        http.get(&format!("/applications/{id}"))
            .await
            .has("value=\"много\""),
        "the draft is saved all the same"
    );
    fill(&c, "f-power_kw", "12").await;
    until(
        &c,
        "return !document.getElementById('e-power_kw') \
           && !document.getElementById('f-power_kw').hasAttribute('aria-invalid')",
        "the error to go once the value is fixed",
    )
    .await;
    c.close().await.unwrap();
    app.stop().await;
}
