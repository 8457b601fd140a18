//! The office over HTTP: staff sign-in with the second factor, roles, the
//! queue, every card action reaching the applicant, and isolation between
//! tenants, staff and applicants.

use calamine::Reader;
use tapline::office::{self, StaffRole};
use tapline_e2e::{
    Browser, TestApp, kazenergo_legal, kazenergo_original_received, kazenergo_submit,
    setevaya_applicant,
};

const STAFF_PASSWORD: &str = "office-pass-123";

async fn staff(app: &TestApp, tenant: &str, email: &str, role: StaffRole) -> i64 {
    office::add_staff(
        app.db(),
        tenant,
        email,
        &format!("Сотрудник {email}"),
        role,
        STAFF_PASSWORD,
        None,
    )
    .await
    .unwrap()
}

/// Sign in at `tenant`'s office; the browser holds the office session.
async fn sign_in(app: &TestApp, tenant: &str, email: &str) -> Browser {
    let mut b = app.browser(tenant);
    b.get("/office/login").await;
    let r = b
        .post(
            "/office/login",
            &[("email", email), ("password", STAFF_PASSWORD)],
        )
        .await;
    r.assert_redirect(&format!("/t/{tenant}/office/"));
    b
}

#[tokio::test]
async fn staff_sign_in_with_a_second_factor_that_works_once() {
    let app = TestApp::spawn().await;
    staff(&app, "kazenergo", "op@kazenergo.ru", StaffRole::Operator).await;
    let mut b = app.browser("kazenergo");
    // The office needs a sign-in.
    b.get("/office/")
        .await
        .assert_redirect("/t/kazenergo/office/login");
    let r = b
        .post(
            "/office/login",
            &[("email", "op@kazenergo.ru"), ("password", "wrong-password")],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.has("Неверная почта или пароль"));

    let mut b = sign_in(&app, "kazenergo", "op@kazenergo.ru").await;
    let page = b.get("/office/security").await;
    let secret = page.hidden("secret").unwrap();
    let r = b
        .post(
            "/office/security",
            &[("secret", &secret), ("code", "000000")],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(
        r.field_error("code").is_some(),
        "the error sits under the code field"
    );
    let r = b
        .post(
            "/office/security",
            &[("secret", &secret), ("code", &office::totp_now(&secret))],
        )
        .await;
    r.assert_redirect("/t/kazenergo/office/security?on=1");
    assert!(b.follow(&r).await.has("Код при входе включён"));
    b.post("/office/logout", &[]).await;
    b.get("/office/")
        .await
        .assert_redirect("/t/kazenergo/office/login");

    // Now the password alone is not enough.
    let r = b
        .post(
            "/office/login",
            &[("email", "op@kazenergo.ru"), ("password", STAFF_PASSWORD)],
        )
        .await;
    r.assert_redirect("/t/kazenergo/office/login/code");
    b.get("/office/")
        .await
        .assert_redirect("/t/kazenergo/office/login/code");
    let r = b.post("/office/login/code", &[("code", "123456")]).await;
    assert_eq!(r.status, 422);
    let code = office::totp_now(&secret);
    b.post("/office/login/code", &[("code", &code)])
        .await
        .assert_redirect("/t/kazenergo/office/");
    assert_eq!(b.get("/office/").await.status, 200);

    // The same code cannot open a second session.
    let mut other = app.browser("kazenergo");
    other
        .post(
            "/office/login",
            &[("email", "op@kazenergo.ru"), ("password", STAFF_PASSWORD)],
        )
        .await;
    let r = other.post("/office/login/code", &[("code", &code)]).await;
    assert_eq!(r.status, 422, "a used code is refused");

    // Ten wrong passwords for one person lock their sign-in for a while,
    // even with the right password, and say so.
    staff(
        &app,
        "kazenergo",
        "locked@kazenergo.ru",
        StaffRole::Operator,
    )
    .await;
    let mut guesser = app.browser("kazenergo");
    for _ in 0..10 {
        let r = guesser
            .post(
                "/office/login",
                &[
                    ("email", "locked@kazenergo.ru"),
                    ("password", "guess-guess-1"),
                ],
            )
            .await;
        assert_eq!(r.status, 422);
    }
    let r = guesser
        .post(
            "/office/login",
            &[
                ("email", "locked@kazenergo.ru"),
                ("password", STAFF_PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status, 429);
    assert!(r.has("Слишком много неудачных попыток"));

    // Turning the second factor off takes a fresh code from it: a session
    // alone (or a code already used) is not enough.
    let r = b.post("/office/security", &[("off", "1")]).await;
    assert_eq!(r.status, 422);
    assert!(r.field_error("code").is_some());
    let r = b
        .post("/office/security", &[("off", "1"), ("code", &code)])
        .await;
    assert_eq!(r.status, 422, "a used code");
    // The next time step gives a fresh code.
    let next = tapline::office::totp_at(
        &secret,
        std::time::SystemTime::now() + std::time::Duration::from_secs(30),
    );
    let r = b
        .post("/office/security", &[("off", "1"), ("code", &next)])
        .await;
    r.assert_redirect("/t/kazenergo/office/security?off=1");
    assert!(b.follow(&r).await.has("Код при входе отключён."));
    let mut again = app.browser("kazenergo");
    again
        .post(
            "/office/login",
            &[("email", "op@kazenergo.ru"), ("password", STAFF_PASSWORD)],
        )
        .await
        .assert_redirect("/t/kazenergo/office/");
    app.stop().await;
}

#[tokio::test]
async fn the_queue_filters_searches_counts_and_assigns() {
    let app = TestApp::spawn().await;
    let tenant_today = || app.state().tenants.by_slug("kazenergo").unwrap().today();
    let first_day = tenant_today();
    let mut a = kazenergo_legal(&app, "q1@example.ru", "+79003000001").await;
    let (first, _) = kazenergo_submit(&mut a, "q1@example.ru", "+79003000001").await;
    kazenergo_original_received(&app, &first).await;
    let (second, _) = kazenergo_submit(&mut a, "q1@example.ru", "+79003000001").await;
    kazenergo_original_received(&app, &second).await;
    // A draft is the applicant's own: staff never see it.
    a.post("/applications/new", &[("kind", "tech_conditions")])
        .await;
    let op = staff(&app, "kazenergo", "op@kazenergo.ru", StaffRole::Operator).await;
    let mut b = sign_in(&app, "kazenergo", "op@kazenergo.ru").await;

    let q = b.get("/office/").await;
    assert!(q.has("Найдено: 2"), "{}", q.body);
    assert!(q.has("data-status=\"submitted\">2<"), "counts per status");
    assert!(
        q.has("ООО «Тепло»") && q.has("ИНН 7707083893"),
        "the applicant and identifiers"
    );
    // Search by INN, by address, by a number that is not there.
    assert!(b.get("/office/?q=7707083893").await.has("Найдено: 2"));
    assert!(b.get("/office/?q=Баумана").await.has("Найдено: 2"));
    assert!(
        b.get("/office/?q=баумана").await.has("Найдено: 2"),
        "case does not matter"
    );
    assert!(
        b.get("/office/?q=ДИРЕКТОРОВ").await.has("Найдено: 2"),
        "the applicant's name"
    );
    assert!(
        b.get("/office/?q=nothing-like-this")
            .await
            .has("Найдено: 0")
    );
    assert!(b.get("/office/?status=accepted").await.has("Найдено: 0"));
    assert!(
        b.get("/office/?page=abc").await.has("Найдено: 2"),
        "a mangled page is the first"
    );
    assert!(b.get("/office/?overdue=1").await.has("Найдено: 0"));
    // The city comes from the form's city field (kazenergo asks it in the form).
    assert!(b.get("/office/?city=Казань").await.has("Найдено: 2"));
    assert!(b.get("/office/?city=Уфа").await.has("Найдено: 0"));
    assert!(
        b.get("/office/?kind=tech_conditions")
            .await
            .has("Найдено: 2")
    );
    assert!(b.get("/office/?kind=connection").await.has("Найдено: 0"));
    let today = tenant_today();
    assert!(
        b.get(&format!("/office/?from={first_day}&to={today}"))
            .await
            .has("Найдено: 2")
    );
    assert!(
        b.get("/office/?from=2000-01-01&to=2000-01-31")
            .await
            .has("Найдено: 0")
    );

    // Assign the first to me: "mine" and "nobody" split the queue.
    let r = b
        .post(
            &format!("/office/applications/{first}/assign"),
            &[("staff", "me")],
        )
        .await;
    r.assert_redirect(&format!(
        "/t/kazenergo/office/applications/{first}?done=assign"
    ));
    let mine = b.get("/office/?assignee=me").await;
    assert!(mine.has("Найдено: 1") && mine.has(&format!("data-id=\"{first}\"")));
    let nobody = b.get("/office/?assignee=none").await;
    assert!(nobody.has("Найдено: 1") && nobody.has(&format!("data-id=\"{second}\"")));
    assert!(
        b.get(&format!("/office/?assignee={op}"))
            .await
            .has("Найдено: 1")
    );
    // Sorting by deadline keeps both.
    assert!(b.get("/office/?sort=due").await.has("Найдено: 2"));

    // The filtered queue as a spreadsheet.
    let csv = b.get("/office/export.csv?assignee=me").await;
    assert_eq!(csv.status, 200);
    let lines: Vec<&str> = csv.body.lines().collect();
    assert_eq!(
        lines.len(),
        2,
        "a header and my one application: {}",
        csv.body
    );
    assert!(lines[0].contains("Номер;Вид заявки"));
    assert!(lines[1].contains("ООО «Тепло»") && lines[1].contains("7707083893"));
    assert!(
        lines[1].contains("Баумана") && lines[1].contains("Сотрудник op@kazenergo.ru"),
        "the object's address from the form and who works it: {}",
        lines[1]
    );
    let xlsx = b.get("/office/export.xlsx").await;
    assert_eq!(xlsx.status, 200);
    assert!(xlsx.body.starts_with("PK"), "an XLSX file");
    // The watchdog held both streamed answers on its list until their last
    // byte, and let them go then (given a moment: the client may read the
    // end before the server's task drops the body).
    let mut waited = 0;
    while !app.state().inflight.is_empty() && waited < 200 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        waited += 1;
    }
    assert_eq!(
        app.state().inflight.len(),
        0,
        "a sent export stays in flight"
    );

    // Sorting: by deadline the nearer comes first, by number in order,
    // by submission the newer first.
    let order = |p: &tapline_e2e::Page| -> Vec<String> {
        p.body
            .split("<tr data-id=\"")
            .skip(1)
            .map(|s| s[..s.find('"').unwrap()].to_string())
            .collect()
    };
    for (id, due, number) in [
        (&first, "2030-01-02", "А-1"),
        (&second, "2030-01-01", "Б-2"),
    ] {
        sqlx::query("UPDATE applications SET due_on = $1, number = $2 WHERE id = $3")
            .bind(due)
            .bind(number)
            .bind(id.parse::<i64>().unwrap())
            .execute(&app.db().pool)
            .await
            .unwrap();
    }
    assert_eq!(
        order(&b.get("/office/?sort=due").await),
        [second.as_str(), first.as_str()]
    );
    assert_eq!(
        order(&b.get("/office/?sort=number").await),
        [first.as_str(), second.as_str()]
    );
    assert_eq!(
        order(&b.get("/office/").await),
        [second.as_str(), first.as_str()]
    );

    // Pages of 25, the filter kept across them.
    for _ in 0..24 {
        kazenergo_submit(&mut a, "q1@example.ru", "+79003000001").await;
    }
    let p1 = b.get("/office/?kind=tech_conditions").await;
    assert!(
        p1.has("Найдено: 26") && p1.has("Страница 1 из 2"),
        "{}",
        p1.body
    );
    assert_eq!(order(&p1).len(), 25);
    assert!(
        p1.has("kind=tech_conditions&page=1\" rel=\"next\""),
        "{}",
        p1.body
    );
    let p2 = b.get("/office/?kind=tech_conditions&page=1").await;
    assert_eq!(order(&p2).len(), 1);
    assert!(!order(&p1).contains(&order(&p2)[0]));
    app.stop().await;
}

#[tokio::test]
async fn card_actions_are_history_reach_the_applicant_and_respect_roles() {
    let app = TestApp::spawn().await;
    let mut a = kazenergo_legal(&app, "card@example.ru", "+79003000002").await;
    let (id, _) = kazenergo_submit(&mut a, "card@example.ru", "+79003000002").await;
    kazenergo_original_received(&app, &id).await;
    let op_id = staff(&app, "kazenergo", "op@kazenergo.ru", StaffRole::Operator).await;
    staff(&app, "kazenergo", "boss@kazenergo.ru", StaffRole::Manager).await;
    let mut op = sign_in(&app, "kazenergo", "op@kazenergo.ru").await;
    let card = format!("/office/applications/{id}");

    // Status from the vocabulary: an event, an SMS and an email.
    let r = op
        .post(&format!("{card}/status"), &[("to", "accepted")])
        .await;
    r.assert_redirect(&format!("/t/kazenergo{card}?done=status"));
    let view = a.get(&format!("/applications/{id}")).await;
    assert!(
        view.has("<dd id=\"status\">Принята к рассмотрению</dd>"),
        "{}",
        view.body
    );
    let msgs = app.all_messages("kazenergo").await;
    let told: Vec<_> = msgs
        .iter()
        .filter(|m| m.2.contains("Принята к рассмотрению"))
        .collect();
    assert!(
        told.iter().any(|m| m.0 == "email") && told.iter().any(|m| m.0 == "sms"),
        "{msgs:?}"
    );

    // Rejecting is the manager's; the operator is told next to the field.
    let r = op
        .post(
            &format!("{card}/status"),
            &[("to", "rejected"), ("note", "нет")],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.field_error("to").is_some(), "{}", r.body);

    // A registration number typed by hand replaces the one the applicant
    // was given only once staff confirm it.
    let r = op
        .post(&format!("{card}/number"), &[("number", "ТУ-2026/77")])
        .await;
    assert_eq!(r.status, 422);
    assert!(
        r.field_error("number").unwrap().contains("Заменить номер"),
        "{}",
        r.body
    );
    assert!(
        r.has("name=\"replace\""),
        "the card offers the confirmation"
    );
    assert!(
        !a.get(&format!("/applications/{id}"))
            .await
            .has("ТУ-2026/77")
    );
    let r = op
        .post(
            &format!("{card}/number"),
            &[("number", "ТУ-2026/77"), ("replace", "1")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(
        a.get(&format!("/applications/{id}"))
            .await
            .has("ТУ-2026/77")
    );
    // A number another application holds is refused at the field.
    let (other_id, _) = kazenergo_submit(&mut a, "card@example.ru", "+79003000002").await;
    kazenergo_original_received(&app, &other_id).await;
    let r = op
        .post(
            &format!("/office/applications/{other_id}/number"),
            &[("number", "ТУ-2026/77")],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.field_error("number").unwrap().contains("уже присвоен"));

    // A message with markup: what is safe stays, scripts go; plain text
    // keeps its paragraphs and shows "<" as the text it was.
    op.post(
        &format!("{card}/message"),
        &[("body", "Добрый <b>день</b>!<script>alert(1)</script><a href=\"javascript:alert(2)\">ссылка</a>")],
    )
    .await;
    op.post(
        &format!("{card}/message"),
        &[("body", "Мощность < 15 кВт\n\nВторой абзац")],
    )
    .await;
    let view = a.get(&format!("/applications/{id}")).await;
    assert!(view.has("от организации") && view.body.contains("Добрый <b>день</b>!"));
    assert!(
        !view.body.contains("<script>alert(1)") && !view.body.contains("javascript:alert"),
        "{}",
        view.body
    );
    assert!(
        view.body
            .contains("Мощность &lt; 15 кВт</p><p>Второй абзац"),
        "{}",
        view.body
    );
    // The email about it carries the text itself, as plain text.
    let told = app
        .all_messages("kazenergo")
        .await
        .into_iter()
        .rfind(|m| m.0 == "email" && m.2.contains("Новое сообщение от организации"))
        .expect("an email about the message");
    assert!(
        told.2.contains("Мощность < 15 кВт\n\nВторой абзац") && !told.2.contains("<p>"),
        "{}",
        told.2
    );

    // Asking for documents stops the clock until the applicant answers;
    // an empty request is told under its own box.
    let r = op.post(&format!("{card}/request"), &[("body", " ")]).await;
    assert_eq!(r.status, 422);
    assert!(r.field_error("request").is_some() && r.field_error("body").is_none());
    // Make it overdue first, so the pause has something to hide.
    sqlx::query("UPDATE applications SET due_on = '2020-01-01' WHERE id = $1")
        .bind(id.parse::<i64>().unwrap())
        .execute(&app.db().pool)
        .await
        .unwrap();
    assert!(op.get("/office/?overdue=1").await.has("Найдено: 1"));
    assert!(
        a.get(&format!("/applications/{id}"))
            .await
            .has("срок истёк")
    );
    op.post(
        &format!("{card}/request"),
        &[("body", "Приложите ситуационный план")],
    )
    .await;
    let c = op.get(&card).await;
    assert!(c.has("срок остановлен"), "{}", c.body);
    assert!(op.get("/office/?overdue=1").await.has("Найдено: 0"));
    let view = a.get(&format!("/applications/{id}")).await;
    assert!(
        view.has("id=\"paused\"") && !view.has("срок истёк"),
        "{}",
        view.body
    );
    // The applicant's history names each step, and not who works on it.
    assert!(
        view.has("Запрос документов или сведений") && view.has("Присвоен регистрационный номер"),
        "{}",
        view.body
    );
    let r = a
        .post(
            &format!("/applications/{id}/message"),
            &[("body", "План приложил к письму")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(
        a.follow(&r).await.has("id=\"sent\""),
        "the applicant is told it went"
    );
    let c = op.get(&card).await;
    assert!(!c.has("срок остановлен"));
    let reply = c
        .body
        .split("<li class=\"msg ")
        .find(|li| li.contains("План приложил к письму"))
        .expect("the reply is in the correspondence");
    assert!(
        reply.starts_with("msg-applicant"),
        "from the applicant: {reply}"
    );

    // A document from the utility: a title, a comment and a file the
    // applicant downloads; bad files and missing titles are told at the field.
    let pdf = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";
    let r = op
        .post_multipart(
            &format!("{card}/document"),
            &[("title", ""), ("body", "")],
            Some(("ту.pdf", pdf)),
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.field_error("doc_title").is_some());
    let r = op
        .post_multipart(
            &format!("{card}/document"),
            &[("title", "Письмо")],
            Some(("a.pdf", b"MZ\x90\x00 program")),
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.field_error("file").unwrap().contains("тип файла"));
    assert!(r.has("value=\"Письмо\""), "the title is kept");
    let r = op
        .post_multipart(
            &format!("{card}/document"),
            &[
                ("title", "Технические условия"),
                ("body", "Срок действия — 3 года"),
            ],
            Some(("ту.pdf", pdf)),
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    // The email about it carries the comment, as a message's does.
    let msgs = app.all_messages("kazenergo").await;
    assert!(
        msgs.iter().any(|m| m.0 == "email"
            && m.2.contains("Новый документ: Технические условия")
            && m.2.contains("Срок действия — 3 года")),
        "{msgs:?}"
    );
    let view = a.get(&format!("/applications/{id}")).await;
    assert!(view.has("Технические условия") && view.has("Срок действия — 3 года"));
    let link = tapline_e2e::unescape(&view.body)
        .split(&format!("/t/kazenergo/applications/{id}/file/"))
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_string();
    let file = a.get(&format!("/applications/{id}/file/{link}")).await;
    assert_eq!(file.status, 200);
    assert!(file.body.starts_with("%PDF"));
    // The applicant's reply errors sit under their fields and keep what was typed.
    let r = a
        .post(&format!("/applications/{id}/message"), &[("body", " ")])
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(
        r.field_error("body").as_deref(),
        Some("Напишите сообщение.")
    );
    let r = a
        .post_multipart(
            &format!("/applications/{id}/document"),
            &[("body", "Скан договора")],
            Some(("a.pdf", b"MZ\x90\x00 program")),
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.field_error("file").unwrap().contains("тип файла"));
    assert!(r.has(">Скан договора</textarea>"), "{}", r.body);
    // The applicant sends a document back.
    let r = a
        .post_multipart(
            &format!("/applications/{id}/document"),
            &[("body", "Подписанные ТУ")],
            Some(("подписано.pdf", pdf)),
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(op.get(&card).await.has("подписано.pdf"));
    // The applicant's ZIP names the correspondence folders in words.
    let zip = a
        .client
        .get(app.url(&format!("/t/kazenergo/applications/{id}/files.zip")))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(zip.to_vec())).unwrap();
    let mut names: Vec<String> = (0..zip.len())
        .map(|i| zip.by_index(i).unwrap().name().unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["От заявителя/подписано.pdf", "От организации/ту.pdf"]
    );

    // Progress stages form the applicant's timeline.
    op.post(
        &format!("{card}/stage"),
        &[("title", "Ведётся проектирование")],
    )
    .await;
    let view = a.get(&format!("/applications/{id}")).await;
    assert!(view.has("id=\"stages\"") && view.has("Ведётся проектирование"));

    // An empty message is refused next to its field, and nothing is written;
    // one too long says so and keeps what was typed.
    let r = op.post(&format!("{card}/message"), &[("body", "  ")]).await;
    assert_eq!(r.status, 422);
    assert!(r.field_error("body").is_some());
    let long = "Длинно. ".repeat(3000);
    let r = op
        .post(&format!("{card}/message"), &[("body", &long)])
        .await;
    assert_eq!(r.status, 422);
    assert!(r.field_error("body").unwrap().contains("Не длиннее"));
    assert!(r.has(long.trim_end()), "the text is kept");

    // Custom status texts are only for tenants that allow them.
    let r = op
        .post(&format!("{card}/custom_status"), &[("text", "Что-то своё")])
        .await;
    assert_eq!(r.status, 403);

    // The manager rejects, with the reason the applicant sees.
    let mut boss = sign_in(&app, "kazenergo", "boss@kazenergo.ru").await;
    let r = boss
        .post(&format!("{card}/status"), &[("to", "rejected")])
        .await;
    assert_eq!(r.status, 422);
    assert!(r.field_error("note").is_some(), "a reason is required");
    // The form comes back with the status still chosen, so saving again
    // with the reason cannot set another status by accident.
    assert!(r.has("<option value=\"rejected\" selected>"), "{}", r.body);
    boss.post(
        &format!("{card}/status"),
        &[
            ("to", "rejected"),
            ("note", "Объект вне зоны теплоснабжения"),
        ],
    )
    .await;
    let view = a.get(&format!("/applications/{id}")).await;
    assert!(
        view.has("<dd id=\"status\">Отклонена</dd>") && view.has("Объект вне зоны теплоснабжения")
    );
    // History names who did what.
    let c = boss.get(&card).await;
    let history = c.body.split("id=\"history\"").nth(1).unwrap();
    assert!(
        history.contains("Сотрудник op@kazenergo.ru")
            && history.contains("Сотрудник boss@kazenergo.ru")
    );
    // A final status accepts no more messages from the applicant.
    let r = a
        .post(&format!("/applications/{id}/message"), &[("body", "ещё")])
        .await;
    assert!(r.location.unwrap().contains("step_error"));

    // The tenant admin reads each of these actions in words, with a link
    // to the application and the statuses by their titles.
    staff(&app, "kazenergo", "adm@kazenergo.ru", StaffRole::Admin).await;
    let mut adm = sign_in(&app, "kazenergo", "adm@kazenergo.ru").await;
    let audit = adm.get("/office/audit").await;
    for said in [
        "Смена статуса",
        "Регистрационный номер",
        "Сообщение заявителю",
        "Запрос документов",
        "Документ заявителю",
        "Этап работ",
        "→ Принята к рассмотрению",
        "→ Отклонена",
    ] {
        assert!(audit.has(said), "{said} in {}", audit.body);
    }
    // The application by its registration number, never the platform's id.
    let number = c
        .body
        .split("<h1>Заявка № ")
        .nth(1)
        .and_then(|h| h.split("</h1>").next())
        .map(tapline_e2e::unescape)
        .expect("the card's number");
    assert!(
        audit.has(&format!(
            "/t/kazenergo/office/applications/{id}\">заявка № {number}</a>"
        )),
        "{}",
        audit.body
    );
    assert!(!audit.has(&format!(">заявка {id}<")));
    assert!(!audit.has(">status<") && !audit.has("application:"));

    // Operators and managers do not manage staff, read the audit or edit
    // the portal's pages, by link or by a crafted form.
    let people = "SELECT COUNT(*) FROM staff WHERE tenant_id = 'kazenergo'";
    let count = || sqlx::query_scalar::<_, i64>(people).fetch_one(&app.db().pool);
    let before = count().await.unwrap();
    let add = [
        ("name", "Захватчик"),
        ("email", "x@kazenergo.ru"),
        ("password", STAFF_PASSWORD),
        ("role", "admin"),
    ];
    for b in [&mut op, &mut boss] {
        for page in ["/office/staff", "/office/audit", "/office/content"] {
            assert_eq!(b.get(page).await.status, 403, "{page}");
        }
        assert_eq!(b.post("/office/staff", &add).await.status, 403);
        let lock = format!("/office/staff/{op_id}/active");
        assert_eq!(b.post(&lock, &[("active", "0")]).await.status, 403);
        let page = [("help", "<p>Чужой текст</p>")];
        assert_eq!(b.post("/office/content", &page).await.status, 403);
    }
    assert_eq!(count().await.unwrap(), before);
    assert_eq!(op.get("/office/").await.status, 200, "still signed in");
    assert!(
        !app.browser("kazenergo")
            .get("/help")
            .await
            .has("Чужой текст")
    );
    app.stop().await;
}

#[tokio::test]
async fn setevaya_staff_type_their_own_status_and_generate_a_number() {
    let app = TestApp::spawn().await;
    let mut a = setevaya_applicant(&app, "set@example.ru", "+79003000003").await;
    let r = a.post("/applications/new", &[("kind", "connection")]).await;
    let id = tapline_e2e::id_of(r.location.as_deref().unwrap());
    let pdf =
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";
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
                ("object_address", "ул. Сетевая, 1"),
                ("power_kw", "12"),
                ("line_length_m", "50"),
                ("metering_points", "1"),
                ("phone", "+79003000003"),
                ("email", "set@example.ru"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    staff(&app, "setevaya", "op@setevaya.ru", StaffRole::Operator).await;
    let mut op = sign_in(&app, "setevaya", "op@setevaya.ru").await;
    let card = format!("/office/applications/{id}");
    // The SNILS is on the card, and the queue finds the person by it typed
    // as bare digits, or by surname and name together in any case.
    assert!(op.get(&card).await.has("112-233-445 95"));
    for q in ["11223344595", "112-233-445 95", "сетев пётр", "Пётр Сетев"] {
        let found = op.get(&format!("/office/?q={q}")).await;
        assert!(found.has("Найдено: 1"), "{q}: {}", found.body);
    }
    assert!(op.get("/office/?q=Сетев Иван").await.has("Найдено: 0"));
    let r = op
        .post(
            &format!("{card}/custom_status"),
            &[("text", "Ведутся строительно-монтажные работы")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let view = a.get(&format!("/applications/{id}")).await;
    assert!(
        view.has("<dd id=\"status\">Ведутся строительно-монтажные работы</dd>"),
        "{}",
        view.body
    );
    assert!(
        app.all_messages("setevaya")
            .await
            .iter()
            .any(|m| m.0 == "email" && m.2.contains("Ведутся строительно-монтажные работы"))
    );
    assert!(
        a.get("/applications")
            .await
            .has("Ведутся строительно-монтажные работы"),
        "my applications show it too"
    );
    // A vocabulary status replaces the custom text.
    op.post(&format!("{card}/status"), &[("to", "under_review")])
        .await;
    let view = a.get(&format!("/applications/{id}")).await;
    assert!(view.has("<dd id=\"status\">Заявка на рассмотрении сетевой организацией</dd>"));
    // "Generate" on an application that has its number already asks first:
    // the applicant was told that number. Nothing is drawn until confirmed.
    let year = &tapline::store::now_ts()[..4];
    let r = op
        .post(&format!("{card}/number"), &[("generate", "1")])
        .await;
    assert_eq!(r.status, 422);
    assert!(
        r.field_error("number")
            .unwrap()
            .contains(&format!("уже есть номер ТП-{year}-000001")),
        "{}",
        r.body
    );
    let c = op.get(&card).await;
    assert!(c.has(&format!("Заявка № ТП-{year}-000001")), "{}", c.body);
    // Confirmed, it asks the plugin: submission drew the first number,
    // "generate" draws the next one, and the history keeps both.
    let r = op
        .post(
            &format!("{card}/number"),
            &[("generate", "1"), ("replace", "1")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let c = op.get(&card).await;
    assert!(c.has(&format!("Заявка № ТП-{year}-000002")), "{}", c.body);
    assert!(
        c.has(&format!("ТП-{year}-000001 → ТП-{year}-000002")),
        "{}",
        c.body
    );
    app.stop().await;
}

#[tokio::test]
async fn tenants_staff_and_applicants_are_kept_apart() {
    let app = TestApp::spawn().await;
    let mut a = kazenergo_legal(&app, "iso@example.ru", "+79003000004").await;
    let (id, _) = kazenergo_submit(&mut a, "iso@example.ru", "+79003000004").await;
    kazenergo_original_received(&app, &id).await;
    staff(&app, "kazenergo", "op@kazenergo.ru", StaffRole::Operator).await;
    staff(&app, "kvadra", "op@kvadra.ru", StaffRole::Admin).await;

    // An applicant's session does not open the office.
    a.get("/office/")
        .await
        .assert_redirect("/t/kazenergo/office/login");
    let r = a
        .post(
            &format!("/office/applications/{id}/status"),
            &[("to", "accepted")],
        )
        .await;
    r.assert_redirect("/t/kazenergo/office/login");

    // Kvadra's admin cannot sign in to kazenergo, nor see its applications.
    let mut k = app.browser("kazenergo");
    let r = k
        .post(
            "/office/login",
            &[("email", "op@kvadra.ru"), ("password", STAFF_PASSWORD)],
        )
        .await;
    assert_eq!(r.status, 422);
    let mut kv = sign_in(&app, "kvadra", "op@kvadra.ru").await;
    assert_eq!(
        kv.get(&format!("/office/applications/{id}")).await.status,
        404
    );
    let r = kv
        .post(
            &format!("/office/applications/{id}/message"),
            &[("body", "x")],
        )
        .await;
    assert_eq!(r.status, 404);
    assert!(kv.get("/office/").await.has("Найдено: 0"));
    // Nor in its export or its dashboard.
    let csv = kv.get("/office/export.csv").await;
    assert_eq!(csv.body.lines().count(), 1, "a header only: {}", csv.body);
    let dash = kv.get("/office/dashboard").await;
    assert_eq!(dash.status, 200);
    assert!(
        dash.has("<p class=\"big\" id=\"open\">0</p>"),
        "{}",
        dash.body
    );
    // Kvadra's staff list does not show kazenergo's people.
    assert!(!kv.get("/office/staff").await.has("op@kazenergo.ru"));

    // A platform operator works in any office.
    office::add_staff(
        app.db(),
        office::PLATFORM,
        "root@tapline.ru",
        "Платформа",
        StaffRole::Platform,
        STAFF_PASSWORD,
        None,
    )
    .await
    .unwrap();
    let mut p = sign_in(&app, "kazenergo", "root@tapline.ru").await;
    assert_eq!(
        p.get(&format!("/office/applications/{id}")).await.status,
        200
    );
    assert_eq!(p.get("/office/audit").await.status, 200);
    sign_in(&app, "kvadra", "root@tapline.ru").await;
    app.stop().await;
}

#[tokio::test]
async fn a_tenant_admin_adds_and_locks_out_staff_and_reads_the_audit() {
    let app = TestApp::spawn().await;
    staff(&app, "vodokanal", "admin@vodokanal.ru", StaffRole::Admin).await;
    let mut adm = sign_in(&app, "vodokanal", "admin@vodokanal.ru").await;
    let r = adm
        .post(
            "/office/staff",
            &[
                ("name", "Новый Оператор"),
                ("email", "new@vodokanal.ru"),
                ("password", "short"),
                ("role", "operator"),
            ],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.field_error("password").is_some(), "{}", r.body);
    assert!(
        r.has("value=\"new@vodokanal.ru\""),
        "what was typed is kept"
    );
    let r = adm
        .post(
            "/office/staff",
            &[
                ("name", "Новый Оператор"),
                ("email", "new@vodokanal.ru"),
                ("password", STAFF_PASSWORD),
                ("role", "operator"),
            ],
        )
        .await;
    r.assert_redirect("/t/vodokanal/office/staff?done=added");
    assert!(adm.follow(&r).await.has("Сотрудник добавлен"));
    // A platform role cannot be handed out from a tenant's office.
    let r = adm
        .post(
            "/office/staff",
            &[
                ("name", "Хакер"),
                ("email", "x@vodokanal.ru"),
                ("password", STAFF_PASSWORD),
                ("role", "platform"),
            ],
        )
        .await;
    assert_eq!(r.status, 422);
    let mut new = sign_in(&app, "vodokanal", "new@vodokanal.ru").await;
    assert_eq!(new.get("/office/").await.status, 200);

    let list = adm.get("/office/staff").await;
    let new_id = list
        .body
        .split("data-id=\"")
        .skip(1)
        .find(|row| row.contains("new@vodokanal.ru"))
        .and_then(|row| row.split('"').next())
        .unwrap()
        .to_string();
    adm.post(
        &format!("/office/staff/{new_id}/active"),
        &[("active", "0")],
    )
    .await;
    // Locked out: the open session ends and signing in fails.
    new.get("/office/")
        .await
        .assert_redirect("/t/vodokanal/office/login");
    let r = new
        .post(
            "/office/login",
            &[("email", "new@vodokanal.ru"), ("password", STAFF_PASSWORD)],
        )
        .await;
    assert_eq!(r.status, 422);

    // An operator cannot hand out accounts.
    let make_admin = [
        ("name", "X"),
        ("email", "x@v.ru"),
        ("password", STAFF_PASSWORD),
        ("role", "admin"),
    ];
    let r = new.post("/office/staff", &make_admin).await;
    assert_eq!(r.status, 303, "the locked-out operator is sent to sign in");
    // Access given back.
    adm.post(
        &format!("/office/staff/{new_id}/active"),
        &[("active", "1")],
    )
    .await;
    let mut back = sign_in(&app, "vodokanal", "new@vodokanal.ru").await;
    let r = back.post("/office/staff", &make_admin).await;
    assert_eq!(r.status, 403, "an operator cannot create staff");

    let audit = adm.get("/office/audit").await;
    for action in [
        "Добавлен сотрудник",
        "Доступ сотрудника закрыт",
        "Вход",
        "Неудачный вход",
    ] {
        assert!(
            audit.has(&format!("<td>{action}</td>")),
            "{action} in {}",
            audit.body
        );
    }
    assert!(audit.has("127.0.0.1"), "where from");
    app.stop().await;
}

#[tokio::test]
async fn almaty_returns_an_application_for_corrections_and_gets_it_back() {
    // Sending signs the application: the tenant trusts the test PKI.
    let app = tapline_e2e::ncalayer::almaty_app().await;
    let mut a = tapline_e2e::ready(
        &app,
        "almatyenergosbyt",
        "legal",
        "+77013000001",
        &[
            ("org_name", "ТОО «Тест»"),
            ("bin", tapline_e2e::ncalayer::ORG_BIN),
            ("email", "ret@example.kz"),
            ("phone", "+77013000001"),
        ],
        &[
            ("org_name", "ТОО «Тест»"),
            ("bin", tapline_e2e::ncalayer::ORG_BIN),
            ("head_name", "Директоров Д. Д."),
            ("legal_address", "Алматы, пр. Абая, 1"),
        ],
    )
    .await;
    let r = a.post("/applications/new", &[("kind", "connection")]).await;
    let id = tapline_e2e::id_of(r.location.as_deref().unwrap());
    let pdf =
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";
    for slot in ["registration_certificate", "title_document"] {
        a.upload(
            &format!("/applications/{id}/files/{slot}"),
            "doc.pdf",
            pdf,
            true,
        )
        .await;
    }
    let v = a
        .get(&format!("/applications/{id}"))
        .await
        .hidden("version")
        .unwrap();
    let submit = |v: String, power: &'static str| {
        vec![
            ("action", "submit".to_string()),
            ("version", v),
            ("object_address", "Алматы, пр. Абая, 1".into()),
            ("power_kw", power.into()),
            ("phone", "+77013000001".into()),
            ("email", "ret@example.kz".into()),
        ]
    };
    let f = submit(v, "20");
    let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = tapline_e2e::ncalayer::send_signed(&mut a, &id, &f).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let number = {
        let view = a.get(&format!("/applications/{id}")).await;
        view.body
            .split("Заявка № ")
            .nth(1)
            .unwrap()
            .split('<')
            .next()
            .unwrap()
            .to_string()
    };

    staff(&app, "almatyenergosbyt", "op@aes.kz", StaffRole::Operator).await;
    let mut op = sign_in(&app, "almatyenergosbyt", "op@aes.kz").await;
    let card = format!("/office/applications/{id}");
    // The utility's letter stays part of the record whatever happens next.
    op.post_multipart(
        &format!("{card}/document"),
        &[("title", "Замечания")],
        Some(("замечания.pdf", pdf)),
    )
    .await;
    // Returning needs the reason, which the applicant reads.
    let r = op
        .post(&format!("{card}/status"), &[("to", "returned")])
        .await;
    assert_eq!(r.status, 422);
    op.post(
        &format!("{card}/status"),
        &[
            ("to", "returned"),
            ("note", "Укажите мощность по техусловиям: 25 кВт"),
        ],
    )
    .await;
    // Returned, the form's own files may be removed, the utility's may not;
    // and a bare status change cannot skip the form's checks.
    let (letter,): (i64,) =
        sqlx::query_as("SELECT id FROM application_files WHERE slot = '_utility'")
            .fetch_one(&app.db().pool)
            .await
            .unwrap();
    let form = a.get(&format!("/applications/{id}")).await;
    assert!(
        form.has("Замечания"),
        "the correspondence is shown beside the form"
    );
    let r = a
        .post(&format!("/applications/{id}/file/{letter}/delete"), &[])
        .await;
    assert_eq!(r.status, 404);
    let r = a
        .post(
            &format!("/applications/{id}/status"),
            &[("to", "under_review")],
        )
        .await;
    assert!(r.location.unwrap().contains("step_error=not_allowed"));

    // The applicant gets the form again, with the reason and the values.
    let form = a.get(&format!("/applications/{id}")).await;
    assert!(
        form.has("Заявка возвращена на доработку") && form.has("25 кВт"),
        "{}",
        form.body
    );
    assert!(form.has("value=\"20\"") && form.has("Подписать и отправить повторно"));
    // Its history, its Word file and its documents stay in view while it is edited.
    let history = form.body.split("id=\"history\"").nth(1).unwrap_or("");
    assert!(history.contains("Заявка подана"), "{}", form.body);
    assert!(form.has("id=\"docx\"") && form.has("id=\"zip\""));
    assert!(
        !form.has("Удалить черновик"),
        "a sent application is not a draft to delete"
    );
    let v = form.hidden("version").unwrap();
    let f = submit(v, "25");
    let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = tapline_e2e::ncalayer::send_signed(&mut a, &id, &f).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let view = a.get(&format!("/applications/{id}")).await;
    assert!(
        view.has("<dd id=\"status\">На рассмотрении</dd>"),
        "{}",
        view.body
    );
    assert!(view.has(&format!("Заявка № {number}")), "the number stays");
    let c = op.get(&card).await;
    assert!(c.has("Отправлена повторно после доработки"));
    assert!(
        c.has("<dt>Требуемая мощность</dt><dd>25 кВт</dd>"),
        "the corrected value: {}",
        c.body
    );
    // Under review again, it cannot be edited any more: sending it again
    // only says it was sent.
    let r = a.post(&format!("/applications/{id}"), &f).await;
    r.assert_redirect(&format!(
        "/t/almatyenergosbyt/applications/{id}?submitted=1"
    ));
    app.stop().await;
}

#[tokio::test]
async fn appeals_go_from_draft_to_answer_with_an_email() {
    let app = TestApp::spawn().await;
    let mut a = setevaya_applicant(&app, "ap@example.ru", "+79003000010").await;
    // Four tabs create at once: one draft, where every tab lands.
    a.get("/appeals").await;
    let tabs: Vec<_> = (0..4)
        .map(|_| {
            let mut tab = a.clone();
            tokio::spawn(async move { tab.post("/appeals/new", &[]).await })
        })
        .collect();
    let mut landed = Vec::new();
    for t in tabs {
        let url = t.await.unwrap().location.unwrap();
        landed.push(
            url.split('?')
                .next()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_string(),
        );
    }
    landed.dedup();
    assert_eq!(landed.len(), 1, "{landed:?}");
    let id = landed.pop().unwrap();
    let path = format!("/appeals/{id}");
    // One draft at a time: "create" reopens it.
    let r = a.post("/appeals/new", &[]).await;
    r.assert_redirect(&format!("/t/setevaya{path}?reopened=1"));

    // Sending without text keeps the draft and says what is missing.
    let r = a
        .post_multipart(
            &path,
            &[("topic", "Другое"), ("body", ""), ("action", "send")],
            None,
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.field_error("body").is_some());
    // A topic not in the tenant's list.
    let r = a
        .post_multipart(
            &path,
            &[("topic", "Выдуманная"), ("body", "x"), ("action", "save")],
            None,
        )
        .await;
    assert!(r.field_error("topic").is_some());
    // A form of endless small fields is cut off, not read into memory.
    let many: Vec<(String, String)> = (0..40)
        .map(|i| (format!("f{i}"), "x".repeat(100)))
        .collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = a.post_multipart(&path, &many, None).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.field_error("file").is_some());
    // A refused file keeps the topic and text typed with it.
    let r = a
        .post_multipart(
            &path,
            &[
                ("topic", "Документы по заявке"),
                ("body", "Текст, который жалко потерять"),
                ("action", "save"),
            ],
            Some(("a.pdf", b"MZ\x90\x00 program")),
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.field_error("file").is_some());
    assert!(
        r.has("Текст, который жалко потерять")
            && r.has("<option selected>Документы по заявке</option>")
    );
    let pdf = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";
    let r = a
        .post_multipart(
            &path,
            &[
                ("topic", "Документы по заявке"),
                ("body", "Когда будут готовы ТУ?"),
                ("action", "send"),
            ],
            Some(("вопрос.pdf", pdf)),
        )
        .await;
    r.assert_redirect("/t/setevaya/appeals?sent=1");
    let list = a.get("/appeals").await;
    assert!(
        list.has("Документы по заявке") && list.has("Ожидание ответа электросетевой"),
        "{}",
        list.body
    );

    // Nobody else sees it.
    let mut other = setevaya_applicant(&app, "ap2@example.ru", "+79003000011").await;
    assert_eq!(other.get(&path).await.status, 404);
    assert_eq!(other.get(&format!("{path}/file")).await.status, 404);

    // Another utility's staff reach nothing of it, by list or by id.
    staff(&app, "kvadra", "admin@kvadra.ru", StaffRole::Admin).await;
    let mut kv = sign_in(&app, "kvadra", "admin@kvadra.ru").await;
    assert!(
        !kv.get("/office/appeals")
            .await
            .has(&format!("data-id=\"{id}\""))
    );
    for page in [format!("/office{path}"), format!("/office{path}/file")] {
        assert_eq!(kv.get(&page).await.status, 404, "{page}");
    }
    let r = kv
        .post(
            &format!("/office{path}/answer"),
            &[("answer", "чужой ответ")],
        )
        .await;
    assert_eq!(r.status, 404);

    staff(&app, "setevaya", "op@setevaya.ru", StaffRole::Operator).await;
    let mut op = sign_in(&app, "setevaya", "op@setevaya.ru").await;
    let inbox = op.get("/office/appeals").await;
    assert!(inbox.has(&format!("data-id=\"{id}\"")));
    // The list says who wrote, as the card does.
    let row = inbox
        .body
        .split(&format!("data-id=\"{id}\""))
        .nth(1)
        .and_then(|r| r.split("</tr>").next())
        .map(tapline_e2e::unescape)
        .unwrap();
    assert!(
        row.contains("Сетев Пётр Ильич") && row.contains("СНИЛС 112-233-445 95"),
        "{row}"
    );
    let card = op.get(&format!("/office{path}")).await;
    assert!(
        card.has("Когда будут готовы ТУ?")
            && card.has("вопрос.pdf")
            && card.has("СНИЛС 112-233-445 95")
    );
    assert!(
        op.get(&format!("/office{path}/file"))
            .await
            .body
            .starts_with("%PDF")
    );
    op.post(&format!("/office{path}/take"), &[]).await;
    assert!(a.get(&path).await.has("В работе"));
    let r = op
        .post(&format!("/office{path}/answer"), &[("answer", " ")])
        .await;
    assert!(r.field_error("answer").is_some());
    let long = "Ответ. ".repeat(3000);
    let r = op
        .post(&format!("/office{path}/answer"), &[("answer", &long)])
        .await;
    assert!(r.field_error("answer").unwrap().contains("длиннее"));
    assert!(r.has(long.trim_end()), "the typed answer is kept");
    let r = op
        .post(
            &format!("/office{path}/answer"),
            &[(
                "answer",
                "<p>ТУ будут готовы до <b>1 декабря</b>.</p><p>Приходите в офис.</p>",
            )],
        )
        .await;
    assert!(op.follow(&r).await.has("ответ отправлен заявителю"));
    let view = a.get(&path).await;
    assert!(view.has("Ответ направлен") && view.has("ТУ будут готовы до <b>1 декабря</b>."));
    let mail = app
        .all_messages("setevaya")
        .await
        .into_iter()
        .find(|m| m.1 == "ap@example.ru" && m.2.contains("ТУ будут готовы"))
        .expect("the applicant is emailed the answer");
    // The email is plain text: the answer's words, not its markup.
    assert!(
        mail.2
            .contains("ТУ будут готовы до 1 декабря.\n\nПриходите в офис.")
            && !mail.2.contains("<b>"),
        "{}",
        mail.2
    );
    // Taking an appeal already answered changes nothing and is not audited twice.
    let takes = "SELECT COUNT(*) FROM audit_log WHERE action = 'appeal_take'";
    let audits = || sqlx::query_scalar::<_, i64>(takes).fetch_one(&app.db().pool);
    let before = audits().await.unwrap();
    assert_eq!(before, 1);
    op.post(&format!("/office{path}/take"), &[]).await;
    assert_eq!(audits().await.unwrap(), before);
    assert!(a.get(&path).await.has("Ответ направлен"));

    // A tenant without topics offers no appeals.
    let mut k = kazenergo_legal(&app, "noap@example.ru", "+79003000012").await;
    assert_eq!(k.get("/appeals").await.status, 404);
    app.stop().await;
}

#[tokio::test]
async fn the_admin_edits_pages_and_staff_publish_documents_per_city() {
    let app = TestApp::spawn().await;
    staff(&app, "kvadra", "admin@kvadra.ru", StaffRole::Admin).await;
    staff(&app, "kvadra", "op@kvadra.ru", StaffRole::Operator).await;
    let mut adm = sign_in(&app, "kvadra", "admin@kvadra.ru").await;
    let r = adm
        .post(
            "/office/content",
            &[
                (
                    "login",
                    "<p>Приём заявок <b>круглосуточно</b></p><script>alert(1)</script>",
                ),
                ("home", ""),
                ("help", "<p>Звоните 8-800</p>"),
                ("blank_forms_url", "javascript:alert(1)"),
            ],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.field_error("blank_forms_url").is_some());
    assert!(r.has("круглосуточно"), "what was typed is kept: {}", r.body);
    let r = adm
        .post(
            "/office/content",
            &[
                (
                    "login",
                    "<p>Приём заявок <b>круглосуточно</b></p><script>alert(1)</script>",
                ),
                ("home", ""),
                (
                    "help",
                    "<h2>Как подать заявку</h2><h3>По телефону</h3><p>Звоните 8-800</p>",
                ),
                ("blank_forms_url", "https://kvadra.example/blanks"),
            ],
        )
        .await;
    assert_eq!(r.status, 200);
    let mut visitor = app.browser("kvadra");
    let login = visitor.get("/login").await;
    assert!(login.body.contains("<b>круглосуточно</b>") && !login.body.contains("<script>alert"));
    // Headings stay headings.
    let help = visitor.get("/help").await;
    assert!(
        help.body.contains("<h2>Как подать заявку</h2>")
            && help.body.contains("<h3>По телефону</h3>")
            && help.has("Звоните 8-800"),
        "{}",
        help.body
    );
    let mut op = sign_in(&app, "kvadra", "op@kvadra.ru").await;
    assert_eq!(op.get("/office/content").await.status, 403);

    // Documents per city, published by any staff member, public to read.
    let pdf = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";
    let r = op
        .post_multipart(
            "/office/documents",
            &[("title", ""), ("city", "Курск")],
            Some(("a.pdf", pdf)),
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.field_error("title").is_some());
    assert!(r.has("<option selected>Курск</option>"), "the city is kept");
    let r = op
        .post_multipart(
            "/office/documents",
            &[("title", "Тарифы"), ("city", "Курск")],
            Some(("a.pdf", b"MZ\x90\x00 program")),
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.field_error("file").is_some() && r.has("value=\"Тарифы\""));
    op.post_multipart(
        "/office/documents",
        &[("title", "Тарифы на подключение, Курск"), ("city", "Курск")],
        Some(("тарифы.pdf", pdf)),
    )
    .await;
    op.post_multipart(
        "/office/documents",
        &[("title", "Правила подключения"), ("city", "")],
        Some(("правила.pdf", pdf)),
    )
    .await;
    let kursk = visitor.get("/documents?city=Курск").await;
    assert!(kursk.has("Тарифы на подключение, Курск") && kursk.has("Правила подключения"));
    let tula = visitor.get("/documents?city=Тула").await;
    assert!(!tula.has("Тарифы на подключение, Курск") && tula.has("Правила подключения"));
    let id = tapline_e2e::unescape(&kursk.body)
        .split("/t/kvadra/documents/")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();
    assert!(
        visitor
            .get(&format!("/documents/{id}"))
            .await
            .body
            .starts_with("%PDF")
    );
    // Another tenant does not serve it.
    assert_eq!(
        app.browser("kazenergo")
            .get(&format!("/documents/{id}"))
            .await
            .status,
        404
    );
    // Removing it takes it off the list.
    let r = op
        .post(&format!("/office/documents/{id}/delete"), &[])
        .await;
    assert!(op.follow(&r).await.has("Документ удалён."));
    assert_eq!(visitor.get(&format!("/documents/{id}")).await.status, 404);
    let audit = adm.get("/office/audit").await;
    for action in [
        "Изменены страницы портала",
        "Опубликован нормативный документ",
        "Удалён нормативный документ",
    ] {
        assert!(
            audit.has(&format!("<td>{action}</td>")),
            "{action} is audited"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn managers_see_the_dashboard_and_operators_get_a_daily_digest_of_overdue_items() {
    let app = TestApp::spawn().await;
    let mut a = kazenergo_legal(&app, "dash@example.ru", "+79003000020").await;
    let (first, _) = kazenergo_submit(&mut a, "dash@example.ru", "+79003000020").await;
    kazenergo_original_received(&app, &first).await;
    kazenergo_submit(&mut a, "dash@example.ru", "+79003000020").await;
    staff(&app, "kazenergo", "op@kazenergo.ru", StaffRole::Operator).await;
    staff(&app, "kazenergo", "boss@kazenergo.ru", StaffRole::Manager).await;
    let mut op = sign_in(&app, "kazenergo", "op@kazenergo.ru").await;
    op.post(
        &format!("/office/applications/{first}/assign"),
        &[("staff", "me")],
    )
    .await;
    op.post(
        &format!("/office/applications/{first}/status"),
        &[("to", "accepted")],
    )
    .await;
    assert_eq!(op.get("/office/dashboard").await.status, 403);

    // The first application's deadline passed yesterday.
    sqlx::query("UPDATE applications SET due_on = '2020-01-01' WHERE id = $1")
        .bind(first.parse::<i64>().unwrap())
        .execute(&app.db().pool)
        .await
        .unwrap();
    let mut boss = sign_in(&app, "kazenergo", "boss@kazenergo.ru").await;
    let d = boss.get("/office/dashboard").await;
    assert_eq!(d.status, 200);
    assert!(d.has("<p class=\"big\" id=\"open\">2</p>"), "{}", d.body);
    assert!(
        d.has("50%"),
        "one of two open applications is overdue: {}",
        d.body
    );
    assert!(d.body.contains("<svg") && d.has("Принята к рассмотрению"));
    assert!(op.get("/office/?overdue=1").await.has("Найдено: 1"));

    // Months are the tenant's (+03:00): 21:30 UTC on the eve of this month
    // is already this month in Moscow.
    let tenant = app.state().tenants.by_slug("kazenergo").unwrap().clone();
    let month_start = tenant.today().replace_day(1).unwrap();
    sqlx::query("UPDATE applications SET submitted_at = $1 WHERE id = $2")
        .bind(format!(
            "{}T21:30:00.000000Z",
            month_start.previous_day().unwrap()
        ))
        .bind(first.parse::<i64>().unwrap())
        .execute(&app.db().pool)
        .await
        .unwrap();
    let d = office::stats::dashboard(app.db(), &tenant).await.unwrap();
    let this_month = format!(
        "{:04}-{:02}",
        month_start.year(),
        u8::from(month_start.month())
    );
    assert_eq!(d.per_month.last(), Some(&(this_month, 2)));

    let sent = office::digest::run(app.db(), &tenant, "http://127.0.0.1")
        .await
        .unwrap();
    assert_eq!(sent, 1, "only the operator has an overdue item");
    let mails: Vec<_> = app
        .all_messages("kazenergo")
        .await
        .into_iter()
        .filter(|m| m.1 == "op@kazenergo.ru")
        .collect();
    assert_eq!(mails.len(), 1);
    assert!(
        mails[0].2.contains("срок 01.01.2020")
            && mails[0]
                .2
                .contains(&format!("/office/applications/{first}"))
    );
    // Once a day.
    assert_eq!(
        office::digest::run(app.db(), &tenant, "http://127.0.0.1")
            .await
            .unwrap(),
        0
    );
    app.stop().await;
}

/// A tenant that supplies one thing names no supply field: every
/// application is of its one supply type, and the queue's «Вид ресурса»
/// filter, which offers that type, finds them (it found nothing before).
#[tokio::test]
async fn the_supply_filter_finds_a_one_supply_tenants_applications() {
    let app = TestApp::spawn().await;
    let tenant = app.state().tenants.by_slug("kazenergo").unwrap().clone();
    assert_eq!(tenant.supply_field(), None);
    assert_eq!(
        tenant.list("supply_types"),
        Some(&["Теплоснабжение".to_string()][..])
    );
    let mut a = kazenergo_legal(&app, "s1@example.ru", "+79003000071").await;
    kazenergo_submit(&mut a, "s1@example.ru", "+79003000071").await;
    staff(&app, "kazenergo", "op@kazenergo.ru", StaffRole::Operator).await;
    let mut b = sign_in(&app, "kazenergo", "op@kazenergo.ru").await;
    let q = b.get("/office/").await;
    assert!(q.has("Найдено: 1"), "{}", q.body);
    let q = b.get("/office/?supply=Теплоснабжение").await;
    assert!(q.has("Найдено: 1"), "{}", q.body);
    app.stop().await;
}

/// What staff need to act is on the card: the profile beyond the name and
/// INN (the postal address), the phone as people write it, and the
/// connection fee the tenant's plugin computes (kazenergo: 0,1 Гкал/ч at
/// 2 450 000 ₽ plus 20 % VAT).
#[tokio::test]
async fn the_card_shows_the_profile_the_phone_and_the_fee() {
    let app = TestApp::spawn().await;
    staff(&app, "kazenergo", "op@kazenergo.ru", StaffRole::Operator).await;
    let mut b = kazenergo_legal(&app, "fee@example.ru", "+79001112233").await;
    let (id, _) = kazenergo_submit(&mut b, "fee@example.ru", "+79001112233").await;
    kazenergo_original_received(&app, &id).await;
    let mut op = sign_in(&app, "kazenergo", "op@kazenergo.ru").await;
    let card = op.get(&format!("/office/applications/{id}")).await;
    assert_eq!(card.status, 200);
    assert!(
        card.has("<dd id=\"p-postal_address\">Казань, ул. Баумана, 1</dd>"),
        "{}",
        card.body
    );
    assert!(card.has("<dd id=\"applicant-phone\">+7 900 111-22-33</dd>"));
    assert!(
        card.has("Плата за подключение, 0,1 Гкал/ч"),
        "{}",
        card.body
    );
    assert!(
        card.has("<dd id=\"fee-total\"><strong>294\u{a0}000,00 ₽</strong></dd>"),
        "{}",
        card.body
    );
    // Without a number (a number cleared by hand in the database), the
    // queue and the card say so rather than show the platform's row id.
    sqlx::query("UPDATE applications SET number = NULL WHERE id = $1")
        .bind(id.parse::<i64>().unwrap())
        .execute(&app.db().pool)
        .await
        .unwrap();
    let queue = op.get("/office/").await;
    assert!(
        queue.has(&format!("/office/applications/{id}\">без номера</a>")),
        "{}",
        queue.body
    );
    let card = op.get(&format!("/office/applications/{id}")).await;
    assert!(card.has("<title>Заявка без номера"), "{}", card.body);
    app.stop().await;
}

/// kazenergo's two kinds end differently: technical conditions are issued,
/// a connection goes on to a contract and ends when it is signed. Each card
/// offers only its own kind's steps, and the other kind's status is refused.
#[tokio::test]
async fn kazenergo_connection_ends_in_the_contract_and_tech_conditions_in_the_conditions() {
    let app = TestApp::spawn().await;
    staff(&app, "kazenergo", "op@kazenergo.ru", StaffRole::Operator).await;
    let mut a = kazenergo_legal(&app, "kinds@example.ru", "+79003000031").await;
    let (tc, _) = kazenergo_submit(&mut a, "kinds@example.ru", "+79003000031").await;
    kazenergo_original_received(&app, &tc).await;
    // A connection, filled in as the form asks.
    let r = a
        .post("/applications/new", &[("kind", "connection"), ("new", "1")])
        .await;
    let conn = tapline_e2e::id_of(r.location.as_deref().unwrap());
    let v = a.follow(&r).await.hidden("version").unwrap();
    let r = a
        .post(
            &format!("/applications/{conn}"),
            &[
                ("action", "submit"),
                ("version", &v),
                ("city", "Казань"),
                ("object_address", "ул. Баумана, 2"),
                ("object_name", "Склад"),
                ("load_gcal_h", "0,2"),
                ("phone", "+79003000031"),
                ("email", "kinds@example.ru"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(
        a.get(&format!("/applications/{conn}"))
            .await
            .has("Ожидает подписанный оригинал (ЭДО)")
    );
    kazenergo_original_received(&app, &conn).await;

    let mut op = sign_in(&app, "kazenergo", "op@kazenergo.ru").await;
    for id in [&tc, &conn] {
        let r = op
            .post(
                &format!("/office/applications/{id}/status"),
                &[("to", "accepted")],
            )
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
    }
    let steps = |p: &tapline_e2e::Page| {
        p.body
            .split("id=\"f-to\"")
            .nth(1)
            .and_then(|s| s.split("</select>").next())
            .unwrap_or_default()
            .to_string()
    };
    let tc_card = op.get(&format!("/office/applications/{tc}")).await;
    let conn_card = op.get(&format!("/office/applications/{conn}")).await;
    assert!(steps(&tc_card).contains("value=\"conditions_issued\""));
    assert!(!steps(&tc_card).contains("value=\"contract_sent\""));
    assert!(steps(&conn_card).contains("value=\"contract_sent\""));
    assert!(
        !steps(&conn_card).contains("value=\"conditions_issued\""),
        "{}",
        steps(&conn_card)
    );
    // A crafted form cannot end a connection in technical conditions.
    let r = op
        .post(
            &format!("/office/applications/{conn}/status"),
            &[("to", "conditions_issued")],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    for to in ["contract_sent", "contract_signed"] {
        let r = op
            .post(
                &format!("/office/applications/{conn}/status"),
                &[("to", to)],
            )
            .await;
        assert_eq!(r.status, 303, "{to}: {}", r.body);
    }
    let view = a.get(&format!("/applications/{conn}")).await;
    assert!(
        view.has("<dd id=\"status\">Договор о подключении заключён</dd>"),
        "{}",
        view.body
    );
    app.stop().await;
}

/// The audit names a draft by its date, an appeal by date and topic and a
/// staff member by name: never by the platform's row ids.
#[tokio::test]
async fn the_audit_names_drafts_by_date_and_staff_by_name() {
    let app = TestApp::spawn().await;
    let adm_id = staff(&app, "kazenergo", "adm@kazenergo.ru", StaffRole::Admin).await;
    let mut a = kazenergo_legal(&app, "draft@example.ru", "+79003000041").await;
    let r = a
        .post("/applications/new", &[("kind", "tech_conditions")])
        .await;
    let draft = tapline_e2e::id_of(r.location.as_deref().unwrap());
    // No office action reaches a draft today; the words must still be right
    // for one that does (a tool, a future action).
    let about_draft = office::Audited::Application(draft.parse().unwrap());
    for target in [about_draft, office::Audited::Staff(adm_id)] {
        office::audit(
            &app.db().pool,
            "kazenergo",
            Some(adm_id),
            office::AuditAction::Card(office::card::CardAction::Assign),
            Some(target),
            "",
            "127.0.0.1",
        )
        .await
        .unwrap();
    }
    let mut adm = sign_in(&app, "kazenergo", "adm@kazenergo.ru").await;
    let audit = adm.get("/office/audit").await;
    let today = app
        .state()
        .tenants
        .by_slug("kazenergo")
        .unwrap()
        .today()
        .to_string();
    let (y, m, d) = (&today[0..4], &today[5..7], &today[8..10]);
    assert!(
        audit.has(&format!(">черновик от {d}.{m}.{y}</a>")),
        "{}",
        audit.body
    );
    assert!(audit.has("<td>сотрудник Сотрудник adm@kazenergo.ru</td>"));
    assert!(!audit.has(&format!("заявка {draft}")) && !audit.has(&format!("сотрудник {adm_id}")));
    app.stop().await;
}

/// An export reads the queue a chunk of rows at a time: across the chunks
/// it keeps the queue's order under every sort and holds each application
/// once. 1,101 applications (one sent, the rest copied with their own
/// numbers, dates and deadlines) make three chunks.
#[tokio::test]
async fn an_export_keeps_the_queues_order_across_its_chunks() {
    use office::queue::{EXPORT_CHUNK, QueueFilter, Sort};
    let app = TestApp::spawn().await;
    let tenant = app.state().tenants.by_slug("kazenergo").unwrap().clone();
    staff(&app, "kazenergo", "op@kazenergo.ru", StaffRole::Operator).await;
    let mut a = kazenergo_legal(&app, "many@example.ru", "+79003000081").await;
    let (id, _) = kazenergo_submit(&mut a, "many@example.ru", "+79003000081").await;
    let copies = 2 * EXPORT_CHUNK + 100;
    let mut tx = app.db().pool.begin().await.unwrap();
    for i in 0..copies {
        // Scrambled, so no sort is the order of insertion; a deadline left
        // empty now and then, and ties on the day, as the queue has them.
        let k = (i * 7919) % copies;
        sqlx::query(
            "INSERT INTO applications (tenant_id, account_id, kind, status, number, city, field_values, \
             version, created_at, updated_at, submitted_at, due_on) \
             SELECT tenant_id, account_id, kind, status, $1, city, field_values, 1, created_at, $2, $3, $4 \
             FROM applications WHERE id = $5",
        )
        .bind(format!("К-{k:05}"))
        .bind(format!("2026-03-{:02}T10:{:02}:00.000000Z", 1 + k % 28, k % 60))
        .bind(format!("2026-02-{:02}T09:{:02}:00.000000Z", 1 + (k * 3) % 28, k % 60))
        .bind((!k.is_multiple_of(9)).then(|| format!("2026-04-{:02}", 1 + k % 20)))
        .bind(id.parse::<i64>().unwrap())
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let mut op = sign_in(&app, "kazenergo", "op@kazenergo.ru").await;
    for sort in ["submitted", "due", "updated", "number"] {
        let filter = QueueFilter {
            sort: Sort::parse(sort),
            limit: office::queue::EXPORT_MAX,
            ..QueueFilter::default()
        };
        let (queue, total) = office::queue::queue(app.db(), &tenant, &filter)
            .await
            .unwrap();
        assert_eq!(total as usize, copies + 1);
        let expected: Vec<String> = queue
            .iter()
            .map(|r| r.app.number.clone().unwrap_or_default())
            .collect();
        let csv = op.get(&format!("/office/export.csv?sort={sort}")).await;
        assert_eq!(csv.status, 200);
        let numbers: Vec<String> = csv
            .body
            .lines()
            .skip(1)
            .map(|l| l.split(';').next().unwrap().to_string())
            .collect();
        assert_eq!(
            numbers.len(),
            copies + 1,
            "every application, sorted by {sort}"
        );
        assert!(
            numbers == expected,
            "the export's order is the queue's, sorted by {sort}: first difference at row {:?}",
            numbers.iter().zip(&expected).position(|(a, b)| a != b)
        );
    }
    // The XLSX holds the same rows in the same order, as an independent
    // reader (calamine) finds them, under a bold header.
    let xlsx = op
        .client
        .get(format!("{}/office/export.xlsx?sort=number", op.base))
        .send()
        .await
        .unwrap();
    assert_eq!(xlsx.status(), 200);
    let xlsx = xlsx.bytes().await.unwrap().to_vec();
    let mut book: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(xlsx)).expect("an XLSX file");
    let sheet = book.worksheet_range("Заявки").expect("the sheet «Заявки»");
    let rows: Vec<Vec<String>> = sheet
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
    assert_eq!(rows[0], office::export::HEADERS);
    let csv = op.get("/office/export.csv?sort=number").await;
    let csv_numbers: Vec<&str> = csv
        .body
        .lines()
        .skip(1)
        .map(|l| l.split(';').next().unwrap())
        .collect();
    let xlsx_numbers: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(xlsx_numbers.len(), copies + 1);
    assert!(
        xlsx_numbers == csv_numbers,
        "the XLSX's rows are the CSV's: first difference at row {:?}",
        xlsx_numbers
            .iter()
            .zip(&csv_numbers)
            .position(|(a, b)| a != b)
    );
    // The sent application's row, cell by cell where cells of one kind
    // could trade places.
    let (number, kind, status): (String, String, String) =
        sqlx::query_as("SELECT number, kind, status FROM applications WHERE id = $1")
            .bind(id.parse::<i64>().unwrap())
            .fetch_one(&app.db().pool)
            .await
            .unwrap();
    let csv = op.get("/office/export.csv?sort=number").await;
    let line = csv
        .body
        .lines()
        .find(|l| l.starts_with(&format!("{number};")))
        .expect("the sent application's row");
    let cells: Vec<&str> = line.split(';').collect();
    assert_eq!(cells.len(), office::export::HEADERS.len(), "{line}");
    assert_eq!(cells[1], tenant.kind_title(&kind), "{line}");
    assert!(cells[3].contains("Баумана"), "the object's address: {line}");
    assert_eq!(cells[7], "many@example.ru", "{line}");
    assert!(cells[8].contains("9003000081"), "the phone: {line}");
    assert_eq!(
        cells[9],
        tapline::workflow::status_title(&tenant, &status),
        "{line}"
    );
    app.stop().await;
}
