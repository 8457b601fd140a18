//! Applications over HTTP: start (city, then kind), drafts that survive
//! visits, submission with the tenant's rules, numbering and notifications,
//! and the bad input the issue names.

use tapline_e2e::{
    Browser, PASSWORD, TestApp, id_of, kazenergo_legal, kazenergo_original_received,
    kazenergo_submit, ready, register, setevaya_applicant,
};

/// Register an individual on `tenant` and confirm the phone; `extra` goes
/// into the registration form.
async fn applicant(
    app: &TestApp,
    tenant: &str,
    email: &str,
    phone: &str,
    extra: &[(&str, &str)],
) -> Browser {
    let mut fields = vec![
        ("email", email),
        ("phone", phone),
        ("surname", "Заявителев"),
        ("first_name", "Иван"),
    ];
    fields.extend_from_slice(extra);
    ready(app, tenant, "individual", phone, &fields, &[]).await
}

#[tokio::test]
async fn kvadra_city_first_draft_reopens_and_submits_with_a_city_number() {
    let app = TestApp::spawn().await;
    let mut b = applicant(&app, "kvadra", "k@example.ru", "+79002000001", &[]).await;
    // Kvadra's profile needs a city and a postal address before submitting.
    let r = b
        .post(
            "/profile",
            &[
                ("surname", "Заявителев"),
                ("first_name", "Иван"),
                ("city", "Курск"),
                ("postal_address", "Курск, ул. Ленина, 1"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);

    // City first: the kind list comes after a city is chosen.
    let p = b.get("/applications/new").await;
    assert!(p.has("name=\"city\"") && !p.has("name=\"kind\""));
    // The profile's city comes chosen.
    assert!(p.has("<option selected>Курск</option>"), "{}", p.body);
    let p = b.get("/applications/new?city=Белгород").await;
    assert!(p.has("Заявка на выдачу технических условий") && p.has("Заявка на подключение"));
    let r = b
        .post(
            "/applications/new",
            &[("kind", "tech_conditions"), ("city", "Белгород")],
        )
        .await;
    let id = id_of(r.location.as_deref().unwrap());
    let form = b.follow(&r).await;
    assert!(form.has("Черновик создан"));
    // Contacts came from the profile, the city from the first step.
    assert!(
        form.has("value=\"+79002000001\"") && form.has("value=\"k@example.ru\""),
        "{}",
        form.body
    );
    assert!(form.has("<option selected>Белгород</option>"));

    // Save part of it; choosing the same kind again reopens the draft with its time.
    let version = form.hidden("version").unwrap();
    let r = b
        .post(
            &format!("/applications/{id}"),
            &[
                ("action", "save"),
                ("version", &version),
                ("city", "Белгород"),
                ("object_address", "ул. Мира, 5"),
                ("phone", "+79002000001"),
                ("email", "k@example.ru"),
            ],
        )
        .await;
    r.assert_redirect(&format!("/t/kvadra/applications/{id}?saved=1"));
    let r = b
        .get("/applications/new?city=Белгород&kind=tech_conditions")
        .await;
    r.assert_redirect(&format!("/t/kvadra/applications/{id}?reopened=1"));
    let p = b.follow(&r).await;
    assert!(p.has("Открыт ваш черновик, сохранённый") && p.has("value=\"ул. Мира, 5\""));
    assert!(p.has("Создать новую заявку"));
    // Pressing "Начать" on the kind list does the same; the notice's
    // "create new" makes a second draft, and a draft in another city is its own.
    let start = [("kind", "tech_conditions"), ("city", "Белгород")];
    b.post("/applications/new", &start)
        .await
        .assert_redirect(&format!("/t/kvadra/applications/{id}?reopened=1"));
    let r = b
        .post("/applications/new", &[start[0], start[1], ("new", "1")])
        .await;
    let second = id_of(r.location.as_deref().unwrap());
    assert_ne!(second, id);
    let r = b
        .post(
            "/applications/new",
            &[("kind", "tech_conditions"), ("city", "Курск")],
        )
        .await;
    assert!(r.location.as_deref().unwrap().ends_with("?created=1"));
    let r = b.post(&format!("/applications/{second}/delete"), &[]).await;
    assert_eq!(r.status, 303, "{}", r.body);

    // Submit without the load: the error sits under its field, the rest is kept.
    let version = p.hidden("version").unwrap();
    let base = vec![
        ("city", "Белгород"),
        ("object_address", "ул. Мира, 5"),
        ("supply_type", "Теплоснабжение"),
        ("phone", "+79002000001"),
        // Another address for this application's notifications.
        ("email", "stroika@example.ru"),
    ];
    let mut f = base.clone();
    f.extend([("action", "submit"), ("version", version.as_str())]);
    let r = b.post(&format!("/applications/{id}"), &f).await;
    assert_eq!(r.status, 422);
    assert_eq!(
        r.field_error("load_gcal_h").as_deref(),
        Some("Заполните это поле")
    );
    assert!(r.has("value=\"ул. Мира, 5\""));
    // A city outside the tenant's list is refused under its field.
    let version = r.hidden("version").unwrap();
    let mut f: Vec<(&str, &str)> = base
        .iter()
        .map(|&(k, v)| {
            if k == "city" {
                (k, "Москва")
            } else {
                (k, v)
            }
        })
        .collect();
    f.extend([
        ("load_gcal_h", "1"),
        ("action", "submit"),
        ("version", version.as_str()),
    ]);
    let r = b.post(&format!("/applications/{id}"), &f).await;
    assert_eq!(r.status, 422);
    assert!(r.field_error("city").is_some(), "{}", r.body);
    assert!(r.has("value=\"ул. Мира, 5\""));

    let version = r.hidden("version").unwrap();
    let mut f = base.clone();
    f.extend([
        ("load_gcal_h", "0,25"),
        ("action", "submit"),
        ("version", version.as_str()),
    ]);
    let r = b.post(&format!("/applications/{id}"), &f).await;
    r.assert_redirect(&format!("/t/kvadra/applications/{id}?submitted=1"));
    let view = b.follow(&r).await;
    let year = &tapline::store::now_ts()[..4];
    assert!(view.has(&format!("БЛГ-{year}-0001")), "{}", view.body);
    assert!(view.has("Сформирована"));

    // Submitting twice creates one application and one number, and the
    // second click is told it was sent.
    let again = b.post(&format!("/applications/{id}"), &f).await;
    again.assert_redirect(&format!("/t/kvadra/applications/{id}?submitted=1"));
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM applications WHERE tenant_id = 'kvadra' AND status <> 'draft'",
    )
    .fetch_one(&app.db().pool)
    .await
    .unwrap();
    assert_eq!(n, 1);
    let (submits,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM application_events WHERE application_id = $1 AND kind = 'submitted'",
    )
    .bind(id.parse::<i64>().unwrap())
    .fetch_one(&app.db().pool)
    .await
    .unwrap();
    assert_eq!(submits, 1, "one submission in the history");
    let view = b.get(&format!("/applications/{id}")).await;
    assert!(view.has(&format!("БЛГ-{year}-0001")) && !view.has(&format!("БЛГ-{year}-0002")));

    // The applicant was told by email and SMS, once.
    let out = app.outbox("kvadra").await;
    assert!(out.iter().any(|m| m.channel == "email"
        && m.template == "application_status"
        && m.recipient == "stroika@example.ru"
        && m.body_text.contains(&format!("БЛГ-{year}-0001"))));
    assert!(
        out.iter()
            .any(|m| m.channel == "sms" && m.template == "application_status")
    );
    let told = |ch: &str| {
        out.iter()
            .filter(|m| m.channel == ch && m.template == "application_status")
            .count()
    };
    assert_eq!((told("email"), told("sms")), (1, 1), "told once");

    let list = b.get("/applications").await;
    assert!(
        list.has(&format!("БЛГ-{year}-0001"))
            && list.has("ул. Мира, 5")
            && list.has("Сформирована")
    );
    app.stop().await;
}

#[tokio::test]
async fn an_incomplete_profile_sends_the_applicant_back_and_keeps_the_draft() {
    let app = TestApp::spawn().await;
    let mut b = applicant(&app, "kvadra", "inc@example.ru", "+79002000002", &[]).await;
    let r = b
        .post(
            "/applications/new",
            &[("kind", "connection"), ("city", "Тула")],
        )
        .await;
    let id = id_of(r.location.as_deref().unwrap());
    let form = b.follow(&r).await;
    assert!(form.has("Перед отправкой заполните профиль"));
    let version = form.hidden("version").unwrap();
    let r = b
        .post(
            &format!("/applications/{id}"),
            &[
                ("action", "submit"),
                ("version", &version),
                ("city", "Тула"),
                ("object_address", "пр. Ленина, 2"),
                ("supply_type", "Теплоснабжение"),
                ("load_gcal_h", "1"),
                ("phone", "+79002000002"),
                ("email", "inc@example.ru"),
            ],
        )
        .await;
    r.assert_redirect(&format!("/t/kvadra/profile?incomplete=1&draft={id}"));
    let profile = b.follow(&r).await;
    assert!(profile.has("Чтобы отправить заявку, заполните обязательные поля профиля"));
    // Once the profile is complete, the page leads back to the draft.
    let r = b
        .post(
            "/profile",
            &[
                ("surname", "Неполнов"),
                ("first_name", "Иван"),
                ("city", "Тула"),
                ("postal_address", "Тула, ул. Ленина, 2"),
                ("draft", &id),
            ],
        )
        .await;
    r.assert_redirect(&format!("/t/kvadra/profile?saved=1&draft={id}"));
    let saved = b.follow(&r).await;
    let body = tapline_e2e::unescape(&saved.body);
    let back = body.split("id=\"saved\">").nth(1).unwrap();
    assert!(
        back.contains(&format!(
            "href=\"/t/kvadra/applications/{id}\" id=\"back-to-draft\""
        )),
        "{back}"
    );
    // Nothing typed was lost.
    assert!(
        b.get(&format!("/applications/{id}"))
            .await
            .has("value=\"пр. Ленина, 2\"")
    );
    app.stop().await;
}

#[tokio::test]
async fn setevaya_one_draft_at_a_time_plugin_rules_and_refusal() {
    let app = TestApp::spawn().await;
    let mut b = setevaya_applicant(&app, "s@example.ru", "+79002000003").await;

    // Six tabs press "Начать" at once: one draft, and every tab lands on it.
    b.get("/applications/new").await;
    let tabs: Vec<_> = (0..6)
        .map(|_| {
            let mut tab = b.clone();
            tokio::spawn(async move {
                tab.post("/applications/new", &[("kind", "connection")])
                    .await
            })
        })
        .collect();
    let mut landed = Vec::new();
    for t in tabs {
        let r = t.await.unwrap();
        landed.push(id_of(r.location.as_deref().unwrap()));
    }
    landed.dedup();
    assert_eq!(landed.len(), 1, "{landed:?}");
    let id = landed.pop().unwrap();
    let (drafts,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM applications WHERE tenant_id = 'setevaya' AND status = 'draft'",
    )
    .fetch_one(&app.db().pool)
    .await
    .unwrap();
    assert_eq!(drafts, 1);
    // One draft at a time: starting again opens the same draft, without a "create new" offer.
    let r2 = b.post("/applications/new", &[("kind", "connection")]).await;
    r2.assert_redirect(&format!("/t/setevaya/applications/{id}?reopened=1"));
    let p = b.follow(&r2).await;
    assert!(!p.has("Создать новую заявку"));

    // The plugin's check-transition: above 670 kW a load schedule is needed.
    let r = b
        .upload(
            &format!("/applications/{id}/files/ownership_doc"),
            "егрн.pdf",
            PDF,
            true,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = b
        .get(&format!("/applications/{id}"))
        .await
        .hidden("version")
        .unwrap();
    let fields = |power: &'static str, v: String| {
        vec![
            ("action", "submit".to_string()),
            ("version", v),
            ("object_address", "ул. Сетевая, 1".into()),
            ("power_kw", power.into()),
            ("line_length_m", "50".into()),
            ("metering_points", "1".into()),
            ("phone", "+79002000003".into()),
            ("email", "s@example.ru".into()),
        ]
    };
    let f = fields("800", v);
    let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = b.post(&format!("/applications/{id}"), &f).await;
    assert_eq!(r.status, 422, "{:?}", r.location);
    assert!(r.has("приложите график нагрузки"), "{}", r.body);

    let r = b
        .upload(
            &format!("/applications/{id}/files/ownership_doc"),
            "егрн.pdf",
            PDF,
            true,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = b
        .get(&format!("/applications/{id}"))
        .await
        .hidden("version")
        .unwrap();
    let f = fields("12", v);
    let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = b.post(&format!("/applications/{id}"), &f).await;
    r.assert_redirect(&format!("/t/setevaya/applications/{id}?submitted=1"));
    let year = &tapline::store::now_ts()[..4];
    let view = b.follow(&r).await;
    assert!(view.has(&format!("ТП-{year}-000001")) && view.has("Ожидание ответа электросетевой"));
    app.stop().await;
}

#[tokio::test]
async fn bad_input_foreign_ids_unknown_fields_and_two_tabs() {
    let app = TestApp::spawn().await;
    let mut b = applicant(&app, "kazenergo", "a@example.ru", "+79002000004", &[]).await;
    let r = b
        .post("/applications/new", &[("kind", "tech_conditions")])
        .await;
    let id = id_of(r.location.as_deref().unwrap());
    let v = b.follow(&r).await.hidden("version").unwrap();

    // Another applicant of the same tenant, and one of another tenant, see nothing.
    let mut other = applicant(&app, "kazenergo", "b@example.ru", "+79002000005", &[]).await;
    assert_eq!(other.get(&format!("/applications/{id}")).await.status, 404);
    let r = other
        .post(
            &format!("/applications/{id}"),
            &[
                ("action", "save"),
                ("version", &v),
                ("object_address", "чужое"),
            ],
        )
        .await;
    assert_eq!(r.status, 404);
    let mut foreign = applicant(&app, "kvadra", "c@example.ru", "+79002000006", &[]).await;
    assert_eq!(
        foreign.get(&format!("/applications/{id}")).await.status,
        404
    );
    assert_eq!(b.get("/applications/not-a-number").await.status, 404);

    // A field the form does not have is refused and nothing is saved.
    let r = b
        .post(
            &format!("/applications/{id}"),
            &[
                ("action", "save"),
                ("version", &v),
                ("object_address", "ул. Баумана, 1"),
                ("is_admin", "1"),
            ],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.has("Форма содержит поле «is_admin»"));
    assert!(
        !b.get(&format!("/applications/{id}"))
            .await
            .has("ул. Баумана, 1")
    );

    // Two tabs saving the same draft: the second is told, and its input comes back.
    let tab1 = b
        .post(
            &format!("/applications/{id}"),
            &[
                ("action", "save"),
                ("version", &v),
                ("object_address", "из первой вкладки"),
            ],
        )
        .await;
    assert_eq!(tab1.status, 303);
    let tab2 = b
        .post(
            &format!("/applications/{id}"),
            &[
                ("action", "save"),
                ("version", &v),
                ("object_address", "из второй вкладки"),
            ],
        )
        .await;
    assert_eq!(tab2.status, 422);
    assert!(tab2.has("сохранили в другой вкладке") && tab2.has("value=\"из второй вкладки\""));
    assert!(
        b.get(&format!("/applications/{id}"))
            .await
            .has("value=\"из первой вкладки\"")
    );

    // Delete the draft.
    let r = b.post(&format!("/applications/{id}/delete"), &[]).await;
    r.assert_redirect("/t/kazenergo/applications?deleted=1");
    assert_eq!(b.get(&format!("/applications/{id}")).await.status, 404);
    // Without CSRF nothing happens.
    let r = b
        .post_raw("/applications/new", "kind=tech_conditions".into())
        .await;
    assert_eq!(r.status, 403);
    app.stop().await;
}

/// A minimal real PDF.
const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";

#[tokio::test]
async fn uploads_are_checked_by_content_size_and_slot_and_required_before_submit() {
    // Sending signs the application: the tenant trusts the test PKI.
    let app = tapline_e2e::ncalayer::almaty_app().await;
    let mut b = ready(
        &app,
        "almatyenergosbyt",
        "legal",
        "+77012000001",
        &[
            ("org_name", "ТОО «Тест»"),
            ("bin", tapline_e2e::ncalayer::ORG_BIN),
            ("email", "u@example.kz"),
            ("phone", "+77012000001"),
        ],
        &[
            ("org_name", "ТОО «Тест»"),
            ("bin", tapline_e2e::ncalayer::ORG_BIN),
            ("head_name", "Директоров Д. Д."),
            ("legal_address", "Алматы, пр. Абая, 1"),
        ],
    )
    .await;
    let r = b.post("/applications/new", &[("kind", "connection")]).await;
    let id = id_of(r.location.as_deref().unwrap());
    let form = b.follow(&r).await;
    assert!(
        form.has("Справка о государственной регистрации")
            && form.has("enctype=\"multipart/form-data\"")
    );

    // A right name with the wrong content is refused, by the script's JSON and by a plain post.
    let exe = b"MZ\x90\x00\x03\x00\x00\x00 not a pdf at all";
    let r = b
        .upload(
            &format!("/applications/{id}/files/registration_certificate"),
            "справка.pdf",
            exe,
            true,
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("не принимается"), "{}", r.body);
    let r = b
        .upload(
            &format!("/applications/{id}/files/registration_certificate"),
            "справка.pdf",
            exe,
            false,
        )
        .await;
    let page = b.follow(&r).await;
    assert!(
        page.field_error("registration_certificate")
            .unwrap()
            .contains("не принимается")
    );

    // Over the tenant's 10 MB: refused while streaming, nothing kept.
    let big = [PDF, &vec![b' '; 10 << 20]].concat();
    let r = b
        .upload(
            &format!("/applications/{id}/files/title_document"),
            "big.pdf",
            &big,
            true,
        )
        .await;
    assert_eq!(r.status, 413, "{}", r.body);
    assert!(r.body.contains("больше 10 МБ"));
    let rows: Vec<(i64,)> = sqlx::query_as("SELECT id FROM application_files")
        .fetch_all(&app.db().pool)
        .await
        .unwrap();
    assert!(rows.is_empty());
    let store = app.dir.join("files");
    let stored: Vec<_> = walk(&store)
        .into_iter()
        .filter(|p| !p.starts_with(store.join("tmp")))
        .collect();
    assert!(stored.is_empty(), "no orphan file: {stored:?}");
    assert!(
        walk(&store.join("tmp")).is_empty(),
        "no temporary file left"
    );

    // Submitting without the required documents puts an error under each slot.
    let v = b
        .get(&format!("/applications/{id}"))
        .await
        .hidden("version")
        .unwrap();
    let fields = [
        ("action", "submit"),
        ("object_address", "Алматы, пр. Абая, 1"),
        ("power_kw", "20"),
        ("phone", "+77012000001"),
        ("email", "u@example.kz"),
    ];
    let mut f = fields.to_vec();
    f.push(("version", &v));
    let r = b.post(&format!("/applications/{id}"), &f).await;
    assert_eq!(r.status, 422);
    assert_eq!(
        r.field_error("title_document").as_deref(),
        Some("Приложите этот документ")
    );

    // Good files: a confirmation each, stored under their SHA-256, downloadable, removable.
    let r = b
        .upload(
            &format!("/applications/{id}/files/registration_certificate"),
            "../../справка.pdf",
            PDF,
            true,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let j: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(j["name"], "справка.pdf");
    let r = b
        .upload(
            &format!("/applications/{id}/files/title_document"),
            "акт.pdf",
            PDF,
            false,
        )
        .await;
    let page = b.follow(&r).await;
    assert!(page.has("Файл «акт.pdf» загружен"));
    let sha = tapline::store::sha256_hex(std::str::from_utf8(PDF).unwrap());
    assert!(store.join(&sha[..2]).join(&sha).exists());
    let file_id = j["id"].as_i64().unwrap();
    let dl = b
        .client
        .get(app.url(&format!(
            "/t/almatyenergosbyt/applications/{id}/file/{file_id}"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(dl.headers()["content-type"], "application/pdf");
    assert_eq!(&dl.bytes().await.unwrap()[..], PDF);
    // A file is removed before submission: its row and its bytes go.
    let extra = b"%PDF-1.4 a page uploaded by mistake";
    let r = b
        .upload(
            &format!("/applications/{id}/files/title_document"),
            "лишнее.pdf",
            extra,
            true,
        )
        .await;
    let extra_id = serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["id"]
        .as_i64()
        .unwrap();
    let extra_sha = tapline::store::sha256_hex(std::str::from_utf8(extra).unwrap());
    assert!(store.join(&extra_sha[..2]).join(&extra_sha).exists());
    let r = b
        .post(&format!("/applications/{id}/file/{extra_id}/delete"), &[])
        .await;
    r.assert_redirect(&format!("/t/almatyenergosbyt/applications/{id}?removed=1"));
    let page = b.follow(&r).await;
    assert!(page.has("Файл удалён.") && !page.has("лишнее.pdf"));
    assert!(!store.join(&extra_sha[..2]).join(&extra_sha).exists());
    // Someone else cannot fetch it.
    let mut other = app.browser("almatyenergosbyt");
    register(
        &mut other,
        "legal",
        &[
            ("org_name", "ТОО «Другое»"),
            ("bin", tapline_e2e::ncalayer::ORG_BIN),
            ("email", "o@example.kz"),
            ("phone", "+77012000002"),
        ],
    )
    .await;
    assert_eq!(
        other
            .get(&format!("/applications/{id}/file/{file_id}"))
            .await
            .status,
        404
    );

    // A slot that does not exist in the form.
    let r = b
        .upload(
            &format!("/applications/{id}/files/passport"),
            "p.pdf",
            PDF,
            true,
        )
        .await;
    assert_eq!(r.status, 404);

    let r = tapline_e2e::ncalayer::send_signed(&mut b, &id, &fields).await;
    r.assert_redirect(&format!(
        "/t/almatyenergosbyt/applications/{id}?submitted=1"
    ));
    // A file sent after the application (a tab left open) is refused with
    // the reason, with scripts and without.
    let late = format!("/applications/{id}/files/title_document");
    let r = b.upload(&late, "поздно.pdf", PDF, true).await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("Заявка уже отправлена"), "{}", r.body);
    let r = b.upload(&late, "поздно.pdf", PDF, false).await;
    let page = b.follow(&r).await;
    assert!(
        page.has("Заявка уже отправлена: файл не добавлен."),
        "{}",
        page.body
    );
    assert!(!page.has("поздно.pdf"));

    // Times and days are Almaty's (+05:00): 20:30 UTC on the 22nd is
    // 01:30 on the 23rd there, and the filter by period counts it on the 23rd.
    sqlx::query("UPDATE applications SET created_at = $1, submitted_at = $1 WHERE id = $2")
        .bind("2026-11-22T20:30:00.000000Z")
        .bind(id.parse::<i64>().unwrap())
        .execute(&app.db().pool)
        .await
        .unwrap();
    let page = b.get(&format!("/applications/{id}")).await;
    assert!(page.has("23.11.2026 01:30"), "{}", page.body);
    let link = format!("/applications/{id}/files.zip");
    let on = |from: &str, to: &str| format!("/applications?from={from}&to={to}");
    let day = b.get(&on("2026-11-23", "2026-11-23")).await;
    assert!(day.body.contains(&link), "{}", day.body);
    let before = b.get(&on("2026-11-01", "2026-11-22")).await;
    assert!(!before.body.contains(&link), "{}", before.body);
    app.stop().await;
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[tokio::test]
async fn all_attachments_download_as_one_zip_with_unique_names() {
    let app = TestApp::spawn().await;
    let mut b = applicant(
        &app,
        "setevaya",
        "z@example.ru",
        "+79002000009",
        &[("snils", "112-233-445 95")],
    )
    .await;
    let r = b.post("/applications/new", &[("kind", "connection")]).await;
    let id = id_of(r.location.as_deref().unwrap());
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR fake but typed by its header";
    let other_pdf = b"%PDF-1.4 another scan";
    for (slot, name, bytes) in [
        ("ownership_doc", "скан.pdf", PDF),
        ("ownership_doc", "скан.pdf", &other_pdf[..]),
        // A picture named as a PDF gets the extension of what it is.
        ("ownership_doc", "фото.pdf", &png[..]),
        ("site_plan", "план.pdf", PDF),
    ] {
        let r = b
            .upload(
                &format!("/applications/{id}/files/{slot}"),
                name,
                bytes,
                true,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let resp = b
        .client
        .get(app.url(&format!("/t/setevaya/applications/{id}/files.zip")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "application/zip");
    let bytes = resp.bytes().await.unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut names: Vec<String> = (0..zip.len())
        .map(|i| zip.by_index(i).unwrap().name().unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec![
            "План расположения/план.pdf",
            "Правоустанавливающий документ/скан (2).pdf",
            "Правоустанавливающий документ/скан.pdf",
            "Правоустанавливающий документ/фото.pdf.png",
        ]
    );
    let mut first = Vec::new();
    std::io::Read::read_to_end(
        &mut zip.by_name("План расположения/план.pdf").unwrap(),
        &mut first,
    )
    .unwrap();
    assert_eq!(first, PDF);
    // A slot holds at most 20 files.
    for n in 3..20 {
        let r = b
            .upload(
                &format!("/applications/{id}/files/ownership_doc"),
                &format!("лист {n}.pdf"),
                PDF,
                true,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = b
        .upload(
            &format!("/applications/{id}/files/ownership_doc"),
            "лишний.pdf",
            PDF,
            true,
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("уже 20 файлов"), "{}", r.body);
    // Not for anyone else.
    let mut other = applicant(
        &app,
        "setevaya",
        "zz@example.ru",
        "+79002000010",
        &[("snils", "112-233-445 95")],
    )
    .await;
    assert_eq!(
        other
            .get(&format!("/applications/{id}/files.zip"))
            .await
            .status,
        404
    );
    app.stop().await;
}

fn docx_text(bytes: &[u8]) -> String {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec()))
        .expect("a .docx is a ZIP package");
    let mut xml = String::new();
    std::io::Read::read_to_string(&mut z.by_name("word/document.xml").unwrap(), &mut xml).unwrap();
    xml
}

#[tokio::test]
async fn the_application_as_word_with_plugin_values_and_fee() {
    let app = TestApp::spawn().await;
    let mut b = applicant(
        &app,
        "setevaya",
        "w@example.ru",
        "+79002000011",
        &[("snils", "112-233-445 95")],
    )
    .await;
    let r = b.post("/applications/new", &[("kind", "connection")]).await;
    let id = id_of(r.location.as_deref().unwrap());
    let v = b.follow(&r).await.hidden("version").unwrap();
    b.post(
        &format!("/applications/{id}"),
        &[
            ("action", "save"),
            ("version", &v),
            ("object_address", "ул. Мира & Труда, 5"),
            ("power_kw", "120"),
            ("line_length_m", "40"),
            ("metering_points", "2"),
        ],
    )
    .await;
    let resp = b
        .client
        .get(app.url(&format!("/t/setevaya/applications/{id}/application.docx")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let xml = docx_text(&resp.bytes().await.unwrap());
    assert!(
        xml.contains("ул. Мира &amp; Труда, 5"),
        "values are escaped into XML: {xml}"
    );
    assert!(xml.contains("Максимальная мощность: 120 кВт"));
    assert!(
        xml.contains("category: свыше 15 до 150 кВт включительно"),
        "the plugin's document values"
    );
    assert!(
        xml.contains("Итого: 168\u{a0}000,00"),
        "the plugin's fee: {xml}"
    );
    assert!(
        xml.contains("Заявитель: Заявителев Иван"),
        "the applicant: {xml}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_tenant_word_template_with_placeholders_split_across_runs() {
    // A template as Word saves it: the tag broken into runs by formatting and spell-check.
    let tenants = tapline_e2e::tenants_copy(&[("wordco", "kvadra", None)]);
    let doc = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\"><w:body>\
        <w:p><w:r><w:t>Заявка № {{ num</w:t></w:r><w:proofErr w:type=\"spellStart\"/><w:r><w:rPr><w:b/></w:rPr><w:t>ber }}</w:t></w:r></w:p>\
        <w:p><w:r><w:t>Адрес: {{ values.object_</w:t></w:r><w:r><w:t>address }}, город {{ values.city }}</w:t></w:r></w:p>\
        <w:p><w:r><w:t xml:space=\"preserve\">Без меток </w:t></w:r><w:r><w:t>остаётся как есть</w:t></w:r></w:p>\
        </w:body></w:document>";
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, text) in [
        ("[Content_Types].xml", "<Types/>"),
        ("word/document.xml", doc),
    ] {
        w.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut w, text.as_bytes()).unwrap();
    }
    std::fs::create_dir_all(tenants.join("wordco/documents")).unwrap();
    std::fs::write(
        tenants.join("wordco/documents/application.docx"),
        w.finish().unwrap().into_inner(),
    )
    .unwrap();
    let toml = std::fs::read_to_string(tenants.join("wordco/tenant.toml")).unwrap();
    std::fs::write(
        tenants.join("wordco/tenant.toml"),
        toml.replacen(
            "[applications]\n",
            "[applications]\ndocx = \"documents/application.docx\"\n",
            1,
        ),
    )
    .unwrap();
    let app = TestApp::spawn_with(tapline_e2e::Setup {
        tenants,
        ..Default::default()
    })
    .await;
    let mut b = applicant(&app, "wordco", "t@example.ru", "+79002000012", &[]).await;
    let r = b
        .post(
            "/applications/new",
            &[("kind", "connection"), ("city", "Тула")],
        )
        .await;
    let id = id_of(r.location.as_deref().unwrap());
    let v = b.follow(&r).await.hidden("version").unwrap();
    b.post(
        &format!("/applications/{id}"),
        &[
            ("action", "save"),
            ("version", &v),
            ("city", "Тула"),
            ("object_address", "ул. Советская, 3"),
        ],
    )
    .await;
    let resp = b
        .client
        .get(app.url(&format!("/t/wordco/applications/{id}/application.docx")))
        .send()
        .await
        .unwrap();
    let xml = docx_text(&resp.bytes().await.unwrap());
    // A draft is named by when it was started, never by its global id.
    assert!(xml.contains("Заявка № черновик от "), "{xml}");
    assert!(!xml.contains(&format!("черновик {id}")), "{xml}");
    assert!(xml.contains("Адрес: ул. Советская, 3, город Тула"), "{xml}");
    assert!(xml.contains(
        "<w:t xml:space=\"preserve\">Без меток </w:t></w:r><w:r><w:t>остаётся как есть</w:t>"
    ));
    app.stop().await;
}

#[tokio::test]
async fn kazenergo_legal_entities_are_told_to_send_the_word_file_through_edo() {
    let app = TestApp::spawn().await;
    let mut b = kazenergo_legal(&app, "edo@example.ru", "+79002000013").await;
    let (id, r) = kazenergo_submit(&mut b, "edo@example.ru", "+79002000013").await;
    let page = b.follow(&r).await;
    assert!(
        page.has("id=\"edo\"") && page.has("через вашего оператора ЭДО"),
        "{}",
        page.body
    );
    assert!(page.has(&format!("/applications/{id}/application.docx")));
    // Seed 000 §3.2: the legal basis and the documents come with the form.
    let r = b
        .post("/applications/new", &[("kind", "tech_conditions")])
        .await;
    let form = b.follow(&r).await;
    assert!(
        form.has("Основание заключения договора")
            && form.has("Правоустанавливающие документы на земельный участок и объект")
            && form.has("Ситуационный план"),
        "{}",
        form.body
    );
    // Until the signed original arrives the status says so, not «Подана»,
    // and the notice stays.
    let view = b.get(&format!("/applications/{id}")).await;
    assert!(
        view.has("id=\"edo\"")
            && view.has("<dd id=\"status\">Ожидает подписанный оригинал (ЭДО)</dd>"),
        "{}",
        view.body
    );
    // Nor does its history call it filed.
    let history = view.body.split("id=\"history\"").nth(1).unwrap_or("");
    assert!(
        history.contains("Заявка отправлена: Ожидает подписанный оригинал")
            && !history.contains("Заявка подана"),
        "{}",
        view.body
    );
    // The utility marks the original received: now it is filed.
    kazenergo_original_received(&app, &id).await;
    let view = b.get(&format!("/applications/{id}")).await;
    assert!(view.has("<dd id=\"status\">Подана</dd>"), "{}", view.body);
    assert!(!view.has("id=\"edo\""), "nothing is awaited any more");
    app.stop().await;
}

#[tokio::test]
async fn my_applications_filter_by_kind_status_period_and_page() {
    let app = TestApp::spawn().await;
    let mut b = applicant(&app, "kazenergo", "list@example.ru", "+79002000020", &[]).await;
    // The days are the tenant's; a run across its midnight spans two.
    let tenant_today = || app.state().tenants.by_slug("kazenergo").unwrap().today();
    let first_day = tenant_today();
    let new = |kind: &'static str| {
        let mut b = b.clone();
        async move {
            b.post("/applications/new", &[("kind", kind), ("new", "1")])
                .await
        }
    };
    for _ in 0..19 {
        assert_eq!(new("tech_conditions").await.status, 303);
    }
    assert_eq!(new("connection").await.status, 303);
    // An account keeps at most 20 drafts; three of them withdrawn (as if
    // sent and withdrawn) make room for three more.
    assert_eq!(new("tech_conditions").await.status, 422);
    sqlx::query(
        "UPDATE applications SET status = 'withdrawn' WHERE id IN \
         (SELECT id FROM applications WHERE tenant_id = 'kazenergo' AND kind = 'tech_conditions' LIMIT 3)",
    )
    .execute(&app.db().pool)
    .await
    .unwrap();
    for kind in ["tech_conditions", "tech_conditions", "connection"] {
        assert_eq!(new(kind).await.status, 303);
    }
    let count = |p: &tapline_e2e::Page| p.body.matches("<tr data-id=").count();
    let all = b.get("/applications").await;
    assert!(all.has("Найдено: 23"));
    assert_eq!(count(&all), 20);
    assert!(all.has("Страница 1 из 2") && all.has("rel=\"next\""));
    let second = b.get("/applications?page=1").await;
    assert_eq!(count(&second), 3);
    assert_eq!(count(&b.get("/applications?page=x").await), 20);
    let kind = b.get("/applications?kind=connection").await;
    assert!(kind.has("Найдено: 2"));
    assert_eq!(count(&kind), 2);
    assert!(
        b.get("/applications?status=submitted")
            .await
            .has("Найдено: 0")
    );
    // The period is read on the tenant's clock, so "today" is theirs, not UTC's.
    let today = tenant_today();
    assert!(
        b.get(&format!("/applications?from={first_day}&to={today}"))
            .await
            .has("Найдено: 23")
    );
    assert!(
        b.get("/applications?from=2000-01-01&to=2000-01-31")
            .await
            .has("Найдено: 0")
    );
    // A malformed date is ignored rather than failing the page.
    assert!(
        b.get("/applications?from=yesterday")
            .await
            .has("Найдено: 23")
    );
    // A period typed the wrong way round says so under its field and is
    // read the right way round, rather than finding nothing.
    let reversed = b.get("/applications?from=2100-01-01&to=2000-01-01").await;
    assert!(reversed.has("Найдено: 23"), "{}", reversed.body);
    let said = reversed
        .field_error("to")
        .expect("the reversed period is named");
    assert!(said.contains("с 01.01.2000 по 01.01.2100"), "{said}");
    // The unfiltered count is the account's own, kept by the database: a
    // deleted draft leaves it, and a filter still counts the rows.
    let id: i64 = sqlx::query_scalar(
        "SELECT MAX(id) FROM applications WHERE tenant_id = 'kazenergo' AND kind = 'connection'",
    )
    .fetch_one(&app.db().pool)
    .await
    .unwrap();
    let r = b.post(&format!("/applications/{id}/delete"), &[]).await;
    assert_eq!(r.status, 303);
    assert!(b.get("/applications").await.has("Найдено: 22"));
    assert!(
        b.get("/applications?kind=connection")
            .await
            .has("Найдено: 1")
    );
    // Another applicant's list is their own.
    let mut other = applicant(&app, "kazenergo", "list2@example.ru", "+79002000021", &[]).await;
    assert!(other.get("/applications").await.has("Найдено: 0"));
    app.stop().await;
}

#[tokio::test]
async fn the_workflow_sets_a_deadline_lets_the_applicant_withdraw_and_refuses_the_rest() {
    let app = TestApp::spawn().await;
    let mut b = kazenergo_legal(&app, "wf@example.ru", "+79002000030").await;
    let tenant_today = || app.state().tenants.by_slug("kazenergo").unwrap().today();
    let before = tenant_today();
    let (id, _) = kazenergo_submit(&mut b, "wf@example.ru", "+79002000030").await;
    kazenergo_original_received(&app, &id).await;
    let page = b.get(&format!("/applications/{id}")).await;
    // "Подана" has a deadline of 3 working days on the Russian calendar,
    // counted from the tenant's day of submission (which a run across its
    // midnight leaves open between two days).
    let cal = tapline::workflow::calendar::Calendar::of(tapline::tenant::config::CalendarId::Ru);
    let shown = |day| {
        let due = cal.add_working_days(day, 3);
        format!(
            "до {:02}.{:02}.{}",
            due.day(),
            u8::from(due.month()),
            due.year()
        )
    };
    let (a, b2) = (shown(before), shown(tenant_today()));
    assert!(
        page.has(&a) || page.has(&b2),
        "expected {a} in {}",
        page.body
    );
    // The history is a record: the database refuses to change or drop it.
    let app_id = id.parse::<i64>().unwrap();
    for sql in [
        "UPDATE application_events SET actor = 'staff:1' WHERE application_id = $1",
        "DELETE FROM application_events WHERE application_id = $1",
    ] {
        let r = sqlx::query(sql).bind(app_id).execute(&app.db().pool).await;
        assert!(r.is_err(), "{sql} must be refused");
    }
    assert!(page.has("Отозвать заявку"));
    assert!(
        !page.has("Принята к рассмотрению"),
        "staff steps are not offered"
    );

    // A step that belongs to staff is refused and nothing changes.
    let r = b
        .post(&format!("/applications/{id}/status"), &[("to", "accepted")])
        .await;
    let back = b.follow(&r).await;
    assert!(back.has("Это действие сейчас недоступно"), "{}", back.body);
    assert!(back.has("<dd id=\"status\">Подана</dd>"));

    // Another applicant cannot move it.
    let mut other = kazenergo_legal(&app, "wf2@example.ru", "+79002000031").await;
    let r = other
        .post(
            &format!("/applications/{id}/status"),
            &[("to", "withdrawn")],
        )
        .await;
    assert_eq!(r.status, 404);

    // Withdrawing ends the application for good: it is asked first (a page
    // of its own, so it works without scripts) and nothing changes yet.
    let ask = b
        .post(
            &format!("/applications/{id}/status"),
            &[("to", "withdrawn")],
        )
        .await;
    assert_eq!(ask.status, 200, "{}", ask.body);
    assert!(ask.has("id=\"confirm-step\""), "{}", ask.body);
    assert!(ask.has("Отозвать заявку?") && ask.has("Это окончательно"));
    assert!(ask.has("name=\"confirm\" value=\"1\""));
    assert!(
        ask.has("<dd id=\"status\">Подана</dd>"),
        "not withdrawn before the answer"
    );
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM applications WHERE tenant_id = $1 AND status = 'withdrawn'",
            "kazenergo"
        )
        .await,
        0
    );
    let r = b
        .post(
            &format!("/applications/{id}/status"),
            &[("to", "withdrawn"), ("confirm", "1")],
        )
        .await;
    let page = b.follow(&r).await;
    assert!(
        page.has("<dd id=\"status\">Отозвана заявителем</dd>"),
        "{}",
        page.body
    );
    // And then says it was done.
    let done = page
        .body
        .split("id=\"step-done\">")
        .nth(1)
        .expect("a confirmation");
    assert!(
        done.starts_with("Готово: статус заявки теперь «Отозвана заявителем»"),
        "{done}"
    );
    assert!(
        !page.has("Срок рассмотрения"),
        "a final status has no deadline"
    );
    assert!(
        !page.has("Отозвать заявку"),
        "nothing follows a final status"
    );
    let history = page.body.split("id=\"history\"").nth(1).unwrap();
    assert!(history.contains("Отозвана заявителем") && history.contains("(Вы)"));
    // Withdrawn is notified by email only, as the tenant configures.
    let mails: Vec<_> = app
        .all_messages("kazenergo")
        .await
        .into_iter()
        .filter(|m| m.2.contains("Отозвана заявителем"))
        .collect();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0].0, "email");
    // A second withdrawal finds nothing to do.
    let r = b
        .post(
            &format!("/applications/{id}/status"),
            &[("to", "withdrawn"), ("confirm", "1")],
        )
        .await;
    assert!(b.follow(&r).await.has("Это действие сейчас недоступно"));
    app.stop().await;
}

#[tokio::test]
async fn vodokanal_submits_and_my_applications_filter_by_supply_type() {
    let app = TestApp::spawn().await;
    let mut b = app.browser("vodokanal");
    register(
        &mut b,
        "individual",
        &[
            ("full_name", "Сидоров Сидор Сидорович"),
            ("email", "sup@example.ru"),
            ("login", "supplier"),
        ],
    )
    .await;
    let link = app.last_link("vodokanal", "sup@example.ru").await;
    b.get(&link).await;
    let r = b
        .post(
            "/login",
            &[("identifier", "supplier"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    // Seed 002, табл. 6: both kinds, the form's own words, files optional.
    let start = b.get("/applications/new").await;
    assert!(
        start.has("Заявка на выдачу технических условий")
            && start.has("Заявка на заключение договора о подключении"),
        "{}",
        start.body
    );
    let r = b.post("/applications/new", &[("kind", "connection")]).await;
    let form = b.follow(&r).await;
    assert!(form.has("Тип подключения") && form.has("Прикрепить файлы"));
    let r = b
        .post(
            &format!(
                "/applications/{}/delete",
                id_of(r.location.as_deref().unwrap())
            ),
            &[],
        )
        .await;
    assert_eq!(r.status, 303);
    for supply in [
        "Холодное водоснабжение",
        "Водоотведение",
        "Холодное водоснабжение, Водоотведение",
    ] {
        let r = b
            .post(
                "/applications/new",
                &[("kind", "tech_conditions"), ("new", "1")],
            )
            .await;
        let id = id_of(r.location.as_deref().unwrap());
        let v = b.follow(&r).await.hidden("version").unwrap();
        let r = b
            .post(
                &format!("/applications/{id}"),
                &[
                    ("version", &v),
                    ("supply_types", supply),
                    ("object_address", "ул. Мира, 5"),
                ],
            )
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
    }
    let list = b.get("/applications").await;
    assert!(list.has("id=\"f-supply\""), "the filter is offered");
    assert!(list.has("Найдено: 3"));
    // A combined connection counts under each of its supplies.
    assert!(
        b.get("/applications?supply_type=Водоотведение")
            .await
            .has("Найдено: 2")
    );
    assert!(
        b.get("/applications?supply_type=Холодное+водоснабжение")
            .await
            .has("Найдено: 2")
    );
    // Seed 002's flow ends in a sent application with the contacts from
    // the settings, the status "Подана" and an email about it.
    let r = b
        .post(
            "/profile",
            &[
                ("full_name", "Сидоров Сидор Сидорович"),
                ("address", "Казань, ул. Мира, 7"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let r = b
        .post(
            "/applications/new",
            &[("kind", "tech_conditions"), ("new", "1")],
        )
        .await;
    let id = id_of(r.location.as_deref().unwrap());
    let form = b.follow(&r).await;
    assert!(
        form.has("value=\"sup@example.ru\""),
        "the email defaults from the profile"
    );
    let v = form.hidden("version").unwrap();
    let r = b
        .post(
            &format!("/applications/{id}"),
            &[
                ("action", "submit"),
                ("version", &v),
                ("supply_types", "Холодное водоснабжение"),
                ("object_address", "ул. Мира, 7"),
                ("water_m3_day", "2,5"),
                ("phone", "+79004000001"),
                ("email", "sup@example.ru"),
            ],
        )
        .await;
    r.assert_redirect(&format!("/t/vodokanal/applications/{id}?submitted=1"));
    let view = b.follow(&r).await;
    assert!(view.has("<dd id=\"status\">Подана</dd>"), "{}", view.body);
    assert!(
        app.all_messages("vodokanal")
            .await
            .iter()
            .any(|m| m.0 == "email" && m.1 == "sup@example.ru" && m.2.contains("Подана"))
    );
    // LIKE wildcards in the query are taken literally.
    assert!(
        b.get("/applications?supply_type=%25")
            .await
            .has("Найдено: 0")
    );
    // Seed 002, табл. 9: an appeal needs only its topic.
    let r = b.post("/appeals/new", &[]).await;
    let path = r.location.unwrap().replace("/t/vodokanal", "");
    let draft = b.get(&path).await;
    assert!(
        draft.has("Текст обращения (необязательно)"),
        "{}",
        draft.body
    );
    let r = b
        .post_multipart(
            &path,
            &[
                ("topic", "Технические условия"),
                ("body", ""),
                ("action", "send"),
            ],
            None,
        )
        .await;
    r.assert_redirect("/t/vodokanal/appeals?sent=1");
    app.stop().await;
}

#[tokio::test]
async fn autosave_answers_json_and_refuses_a_stale_copy_or_a_sent_application() {
    let app = TestApp::spawn().await;
    let mut b = kazenergo_legal(&app, "auto@example.ru", "+79002000033").await;
    let r = b
        .post("/applications/new", &[("kind", "tech_conditions")])
        .await;
    let id = id_of(r.location.as_deref().unwrap());
    let v = b.follow(&r).await.hidden("version").unwrap();
    let path = format!("/applications/{id}");
    let autosave = |v: String, addr: &'static str| {
        vec![
            ("action", "autosave".to_string()),
            ("version", v),
            ("object_address", addr.to_string()),
        ]
    };
    let f = autosave(v.clone(), "ул. Первая, 1");
    let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = b.post(&path, &f).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let json: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(json["ok"], true);
    let next = json["version"].as_i64().unwrap();
    assert_eq!(next, v.parse::<i64>().unwrap() + 1);
    assert!(b.get(&path).await.has("value=\"ул. Первая, 1\""));

    // A second tab still holding the old version is refused, and the first
    // tab's text stays.
    let f = autosave(v, "ул. Вторая, 2");
    let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = b.post(&path, &f).await;
    assert_eq!(r.status, 409);
    let json: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(json["stale"], true);
    assert!(json["error"].as_str().unwrap().contains("другой вкладке"));
    assert!(b.get(&path).await.has("value=\"ул. Первая, 1\""));

    let (sent, _) = kazenergo_submit(&mut b, "auto@example.ru", "+79002000033").await;
    kazenergo_original_received(&app, &sent).await;
    let r = b
        .post(
            &format!("/applications/{sent}"),
            &[
                ("action", "autosave"),
                ("version", "2"),
                ("object_address", "x"),
            ],
        )
        .await;
    assert_eq!(r.status, 409);
    assert!(r.body.contains("уже отправлена"), "{}", r.body);
    app.stop().await;
}

/// sdk/README.md: `validate-application` runs before a draft is saved or
/// submitted. A plain save and an autosave keep the draft and show the
/// plugin's errors next to their fields; only sending is blocked by them.
#[tokio::test]
async fn saving_a_draft_shows_the_plugins_errors_and_keeps_the_values() {
    let app = TestApp::spawn().await;
    let mut b = setevaya_applicant(&app, "v@example.ru", "+79002000071").await;
    let r = b.post("/applications/new", &[("kind", "connection")]).await;
    let id = id_of(r.location.as_deref().unwrap());
    let path = format!("/applications/{id}");
    let v = b.follow(&r).await.hidden("version").unwrap();
    let stored = |app: &TestApp| {
        let pool = app.db().pool.clone();
        async move {
            let (values, status): (String, String) = sqlx::query_as(
                "SELECT field_values, status FROM applications WHERE tenant_id = 'setevaya'",
            )
            .fetch_one(&pool)
            .await
            .unwrap();
            let values: serde_json::Value = serde_json::from_str(&values).unwrap();
            (values, status)
        }
    };

    // A plain save: the plugin's words under the field, the draft saved.
    let r = b
        .post(
            &path,
            &[
                ("action", "save"),
                ("version", &v),
                ("object_address", "ул. Сетевая, 7"),
                ("power_kw", "много"),
            ],
        )
        .await;
    assert_eq!(r.status, 422, "{:?}", r.location);
    assert_eq!(
        r.field_error("power_kw").as_deref(),
        Some("Укажите мощность числом, например 15 или 7,5"),
        "{}",
        r.body
    );
    assert!(r.has("Черновик сохранён."), "{}", r.body);
    assert!(r.has("value=\"много\""), "the form keeps what was typed");
    let (values, status) = stored(&app).await;
    assert_eq!(
        (values["power_kw"].as_str(), status.as_str()),
        (Some("много"), "draft")
    );
    assert_eq!(values["object_address"], "ул. Сетевая, 7");
    // Empty fields are not wrong yet: no error under them on a save.
    assert_eq!(r.field_error("line_length_m"), None);
    let first: i64 = v.parse().unwrap();
    let v = r.hidden("version").unwrap();
    assert_eq!(
        v,
        (first + 1).to_string(),
        "the form carries the saved version"
    );

    // An autosave answers the same errors as JSON, for the page to show.
    let r = b
        .post(
            &path,
            &[
                ("action", "autosave"),
                ("version", &v),
                ("object_address", "ул. Сетевая, 7"),
                ("power_kw", "-5"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let json: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(json["ok"], true);
    assert_eq!(
        json["errors"]["power_kw"],
        "Мощность должна быть больше нуля"
    );
    assert_eq!(stored(&app).await.0["power_kw"], "-5");
    let v = json["version"].as_i64().unwrap().to_string();

    // Fixed, the save is a plain one again.
    let r = b
        .post(
            &path,
            &[
                ("action", "save"),
                ("version", &v),
                ("object_address", "ул. Сетевая, 7"),
                ("power_kw", "12"),
            ],
        )
        .await;
    r.assert_redirect(&format!("/t/setevaya/applications/{id}?saved=1"));
    let v = (first + 3).to_string();
    let r = b
        .post(
            &path,
            &[
                ("action", "autosave"),
                ("version", &v),
                ("object_address", "ул. Сетевая, 7"),
                ("power_kw", "12"),
            ],
        )
        .await;
    let json: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(json["errors"], serde_json::json!({}), "{json}");
    let v = json["version"].as_i64().unwrap().to_string();

    // Sending is blocked by the same error.
    let r = b
        .post(
            &path,
            &[
                ("action", "submit"),
                ("version", &v),
                ("object_address", "ул. Сетевая, 7"),
                ("power_kw", "много"),
                ("line_length_m", "10"),
                ("metering_points", "1"),
                ("phone", "+79002000071"),
                ("email", "v@example.ru"),
            ],
        )
        .await;
    assert_eq!(r.status, 422, "{:?}", r.location);
    assert!(r.field_error("power_kw").is_some(), "{}", r.body);
    assert_eq!(stored(&app).await.1, "draft");
    app.stop().await;
}

/// The applicant sees what the plugin's `calculate-fee` asks before sending
/// (from the saved draft) and after; a document sits in its own slot among
/// the application's facts; a draft is named by its start, never by the
/// platform's row id.
#[tokio::test]
async fn the_fee_shows_before_and_after_sending_and_files_sit_in_their_slots() {
    let app = TestApp::spawn().await;
    let mut b = kazenergo_legal(&app, "fee@example.ru", "+79002000040").await;
    let r = b
        .post("/applications/new", &[("kind", "tech_conditions")])
        .await;
    let id = id_of(r.location.as_deref().unwrap());
    let page = b.follow(&r).await;
    assert!(page.has("Черновик от "), "{}", page.body);
    assert!(!page.has(&format!("Черновик № {id}")));
    assert!(!page.has("id=\"fee\""), "no load yet, no price yet");
    let list = b.get("/applications").await;
    assert!(list.has("Черновик от "), "{}", list.body);

    let v = page.hidden("version").unwrap();
    let r = b
        .post(
            &format!("/applications/{id}"),
            &[
                ("action", "save"),
                ("version", &v),
                ("city", "Казань"),
                ("object_address", "ул. Баумана, 1"),
                ("object_name", "Магазин"),
                ("load_gcal_h", "0,1"),
                ("phone", "+79002000040"),
                ("email", "fee@example.ru"),
            ],
        )
        .await;
    let page = b.follow(&r).await;
    // 0.1 Гкал/ч × 2 450 000 ₽ = 245 000 ₽, and 20 % VAT: 294 000 ₽.
    let fee = page
        .body
        .split("id=\"fee\"")
        .nth(1)
        .expect("the fee before sending");
    assert!(fee.contains("по введённым данным"), "{fee}");
    assert!(
        fee.contains("245\u{a0}000,00 ₽") && fee.contains("НДС 20 %"),
        "{fee}"
    );
    assert!(fee.contains("294\u{a0}000,00 ₽"), "{fee}");
    // The fee sits before the buttons that send the application.
    let fee_at = page.body.find("id=\"fee\"").unwrap();
    let send_at = page.body.find("value=\"submit\"").unwrap();
    let docs_at = page.body.find("id=\"slot-title_document\"").unwrap();
    assert!(
        docs_at < send_at && fee_at < send_at,
        "documents and fee come before sending"
    );

    let pdf = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";
    let up = b
        .upload(
            &format!("/applications/{id}/files/title_document"),
            "egrn.pdf",
            pdf,
            true,
        )
        .await;
    assert_eq!(up.status, 200, "{}", up.body);
    let v = b
        .get(&format!("/applications/{id}"))
        .await
        .hidden("version")
        .unwrap();
    let r = b
        .post(
            &format!("/applications/{id}"),
            &[
                ("action", "submit"),
                ("version", &v),
                ("city", "Казань"),
                ("object_address", "ул. Баумана, 1"),
                ("object_name", "Магазин"),
                ("load_gcal_h", "0,1"),
                ("phone", "+79002000040"),
                ("email", "fee@example.ru"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let view = b.get(&format!("/applications/{id}")).await;
    assert!(
        view.has("<dd id=\"fee-total\">294\u{a0}000,00 ₽</dd>"),
        "{}",
        view.body
    );
    assert!(view.body.contains("id=\"fee\""));
    // The slot shows its file, not «—»; a slot left empty says so.
    let slot = view
        .body
        .split("data-field=\"title_document\"")
        .nth(1)
        .unwrap()
        .split("</div>")
        .next()
        .unwrap();
    assert!(
        slot.contains("egrn.pdf") && slot.contains("/file/"),
        "{slot}"
    );
    let empty = view
        .body
        .split("data-field=\"site_plan\"")
        .nth(1)
        .unwrap()
        .split("</div>")
        .next()
        .unwrap();
    assert!(empty.contains("файл не приложен"), "{empty}");
    app.stop().await;
}
