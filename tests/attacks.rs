//! What an attacker tries: locks that count per typed string or race under
//! parallel requests, a search that matches the stored JSON's syntax, a
//! CSRF cookie planted from a sibling subdomain, a reset link outliving a
//! password change and file names that lie about their extension; an
//! email confirmation link that must survive a second email; and an
//! applicant's pages, which answer every stranger alike; and NUL characters
//! in what is posted, which PostgreSQL refuses.

use tapline::office::{self, StaffRole};
use tapline_e2e::{
    Browser, PASSWORD, Page, TestApp, id_of, kazenergo_legal, kazenergo_submit,
    kazenergo_submit_object, operator, ready, register, setevaya_applicant,
};

const STAFF_PASSWORD: &str = "office-pass-123";

/// Fire `n` copies of one form post at once from clones of `b` (tabs of one
/// browser) and return the pages.
async fn at_once(b: &Browser, n: usize, path: &str, fields: &[(&str, &str)]) -> Vec<Page> {
    let fields: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut tasks = Vec::new();
    for _ in 0..n {
        let mut tab = b.clone();
        let path = path.to_string();
        let fields = fields.clone();
        tasks.push(tokio::spawn(async move {
            let f: Vec<(&str, &str)> = fields
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            tab.post(&path, &f).await
        }));
    }
    let mut pages = Vec::new();
    for t in tasks {
        pages.push(t.await.unwrap());
    }
    pages
}

/// Locks count in fixed fifteen-minute windows: a test that straddles a
/// window's end would see its count start again. Wait out the last minute.
async fn clear_of_window_end() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let left = 900 - now % 900;
    if left < 60 {
        tokio::time::sleep(std::time::Duration::from_secs(left + 1)).await;
    }
}

// ---------------------------------------------------------------- 4.4

#[tokio::test]
async fn the_login_lock_counts_per_account_however_the_phone_is_typed() {
    clear_of_window_end().await;
    let app = TestApp::spawn().await;
    let mut b = app.browser("almatyenergosbyt");
    let r = register(
        &mut b,
        "legal",
        &[
            ("org_name", "АО Халык Банк"),
            ("bin", "940140000385"),
            ("email", "h@example.kz"),
            ("phone", "+7 701 000 00 01"),
        ],
    )
    .await;
    r.assert_redirect("/confirm-phone");
    b.post("/logout", &[]).await;

    // One wrong password for each way of naming the account: five in all.
    for ident in [
        "+77010000001",
        "87010000001",
        "7010000001",
        "+7 (701) 000-00-01",
        "H@Example.kz",
    ] {
        let r = b
            .post(
                "/login",
                &[("identifier", ident), ("password", "wrong-pass-1")],
            )
            .await;
        assert!(r.has("Не удалось войти"), "{ident}: {}", r.body);
    }
    // The account is locked now, under a sixth spelling too.
    let r = b
        .post(
            "/login",
            &[("identifier", "8 701 000 00 01"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status, 422, "{:?}", r.location);
    assert!(r.has("Слишком много неудачных попыток"), "{}", r.body);
    app.stop().await;
}

// ---------------------------------------------------------------- 4.5

#[tokio::test]
async fn forty_parallel_wrong_passwords_get_five_checks() {
    clear_of_window_end().await;
    let app = TestApp::spawn().await;
    let mut b = app.browser("kazenergo");
    register(
        &mut b,
        "individual",
        &[("email", "race@example.ru"), ("phone", "+79005100001")],
    )
    .await;
    b.post("/logout", &[]).await;
    b.get("/login").await;

    let pages = at_once(
        &b,
        40,
        "/login",
        &[
            ("identifier", "race@example.ru"),
            ("password", "wrong-pass-1"),
        ],
    )
    .await;
    let checked = pages.iter().filter(|p| p.has("Не удалось войти")).count();
    let locked = pages
        .iter()
        .filter(|p| p.has("Слишком много неудачных попыток"))
        .count();
    assert!(
        (1..=5).contains(&checked),
        "{checked} passwords checked against a limit of 5"
    );
    assert_eq!(checked + locked, 40);
    // Locked: even the right password is refused.
    let r = b
        .post(
            "/login",
            &[("identifier", "race@example.ru"), ("password", PASSWORD)],
        )
        .await;
    assert!(r.has("Слишком много неудачных попыток"), "{}", r.body);
    app.stop().await;
}

#[tokio::test]
async fn thirty_parallel_office_logins_get_ten_checks() {
    clear_of_window_end().await;
    let app = TestApp::spawn().await;
    office::add_staff(
        app.db(),
        "kazenergo",
        "race@kazenergo.ru",
        "Сотрудник",
        StaffRole::Operator,
        STAFF_PASSWORD,
        None,
    )
    .await
    .unwrap();
    let mut b = app.browser("kazenergo");
    b.get("/office/login").await;
    let pages = at_once(
        &b,
        30,
        "/office/login",
        &[
            ("email", "race@kazenergo.ru"),
            ("password", "guess-guess-1"),
        ],
    )
    .await;
    let checked = pages
        .iter()
        .filter(|p| p.has("Неверная почта или пароль"))
        .count();
    assert!(
        (1..=10).contains(&checked),
        "{checked} passwords checked against a limit of 10"
    );
    let (failed,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM audit_log WHERE tenant_id = 'kazenergo' AND action = 'login_failed'",
    )
    .fetch_one(&app.db().pool)
    .await
    .unwrap();
    assert_eq!(failed as usize, checked);
    // From another address the person is still locked out.
    let r = b
        .post(
            "/office/login",
            &[("email", "race@kazenergo.ru"), ("password", STAFF_PASSWORD)],
        )
        .await;
    assert_ne!(r.status, 303, "signed in while locked");
    app.stop().await;
}

#[tokio::test]
async fn sixty_parallel_wrong_sms_codes_get_five_attempts() {
    clear_of_window_end().await;
    let app = TestApp::spawn().await;
    let mut b = app.browser("kazenergo");
    register(
        &mut b,
        "individual",
        &[("email", "sms@example.ru"), ("phone", "+79005100002")],
    )
    .await;
    let code = app.last_sms_code("kazenergo", "+79005100002").await;
    let wrong = if code == "123456" { "654321" } else { "123456" };
    b.get("/confirm-phone").await;
    let pages = at_once(&b, 60, "/confirm-phone", &[("code", wrong)]).await;
    let told_wrong = pages.iter().filter(|p| p.has("Неверный код")).count();
    assert!(
        told_wrong <= 4,
        "{told_wrong} wrong codes answered as checked"
    );
    let (attempts,): (i64,) = sqlx::query_as(
        "SELECT MAX(attempts) FROM sms_codes WHERE tenant_id = 'kazenergo' AND phone = '+79005100002'",
    )
    .fetch_one(&app.db().pool)
    .await
    .unwrap();
    assert!(attempts <= 5, "the code was compared {attempts} times");
    let r = b.post("/confirm-phone", &[("code", &code)]).await;
    assert!(
        r.field_error("code")
            .unwrap()
            .contains("попытки закончились"),
        "{}",
        r.body
    );
    app.stop().await;
}

// ---------------------------------------------------------------- 4.8

#[tokio::test]
async fn the_office_search_matches_values_not_the_stored_json() {
    let app = TestApp::spawn().await;
    let mut a = kazenergo_legal(&app, "json@example.ru", "+79005100003").await;
    kazenergo_submit(&mut a, "json@example.ru", "+79005100003").await;
    let mut b = operator(&app, "kazenergo", "op@kazenergo.ru").await;
    assert!(b.get("/office/?q=Баумана").await.has("Найдено: 1"));
    assert!(b.get("/office/?q=7707083893").await.has("Найдено: 1"));
    for q in [
        "supply_type",
        "object_address",
        "inn",
        "_",
        "%22",
        "%3A",
        "%7B",
        "%25",
        "%5C",
    ] {
        let p = b.get(&format!("/office/?q={q}")).await;
        assert!(p.has("Найдено: 0"), "q={q} matched the stored form");
    }
    app.stop().await;
}

// ---------------------------------------------------------------- 4.9

/// A bare client (no cookie jar): each request carries exactly the cookies given.
fn bare() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(|c| c[name.len() + 1..c.find(';').unwrap()].to_string())
}

async fn token_of(r: reqwest::Response) -> String {
    Page {
        status: 200,
        location: None,
        body: r.text().await.unwrap(),
    }
    .hidden("csrf_token")
    .unwrap()
}

#[tokio::test]
async fn a_planted_csrf_cookie_yields_no_token_that_passes() {
    let app = TestApp::spawn().await;
    let base = format!("http://{}/t/kazenergo", app.addr);
    let c = bare();

    // A value the attacker made up gets its token replaced, not rendered.
    let planted = "tl_csrf=attacker-chosen-value";
    let r = c
        .get(format!("{base}/login"))
        .header("cookie", planted)
        .send()
        .await
        .unwrap();
    assert!(
        set_cookie(&r, "tl_csrf").is_some_and(|v| v != "attacker-chosen-value"),
        "a made-up cookie is replaced"
    );
    let token = token_of(r).await;
    let r = c
        .post(format!("{base}/login"))
        .header("cookie", planted)
        .form(&[
            ("csrf_token", token.as_str()),
            ("identifier", "x@example.ru"),
            ("password", "whatever-1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a planted cookie's token passed");

    // A genuine cookie the attacker fetched for itself, with its token,
    // planted in a logged-in victim's browser, does not pass either.
    let mut victim = app.browser("kazenergo");
    register(
        &mut victim,
        "individual",
        &[("email", "victim@example.ru"), ("phone", "+79005100004")],
    )
    .await;
    victim.post("/logout", &[]).await;
    let r = c.get(format!("{base}/login")).send().await.unwrap();
    let victim_csrf = set_cookie(&r, "tl_csrf").unwrap();
    let token = token_of(r).await;
    let r = c
        .post(format!("{base}/login"))
        .header("cookie", format!("tl_csrf={victim_csrf}"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("identifier", "victim@example.ru"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let session = set_cookie(&r, "tl_session").unwrap();
    // The victim works normally: the page's own token passes.
    let page = c
        .get(format!("{base}/profile"))
        .header(
            "cookie",
            format!("tl_csrf={victim_csrf}; tl_session={session}"),
        )
        .send()
        .await
        .unwrap();
    let own = token_of(page).await;

    let attacker = c.get(format!("{base}/login")).send().await.unwrap();
    let attacker_csrf = set_cookie(&attacker, "tl_csrf").unwrap();
    let attacker_token = token_of(attacker).await;
    let forged = c
        .post(format!("{base}/logout"))
        .header(
            "cookie",
            format!("tl_csrf={attacker_csrf}; tl_session={session}"),
        )
        .form(&[("csrf_token", attacker_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403, "a tossed cookie's token passed");
    let own_post = c
        .post(format!("{base}/logout"))
        .header(
            "cookie",
            format!("tl_csrf={victim_csrf}; tl_session={session}"),
        )
        .form(&[("csrf_token", own.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(own_post.status(), 303, "the victim's own form works");
    app.stop().await;
}

#[tokio::test]
async fn a_reset_link_dies_when_the_password_is_changed_in_settings() {
    let app = TestApp::spawn().await;
    let mut b = app.browser("kvadra");
    register(
        &mut b,
        "individual",
        &[
            ("email", "reset@example.ru"),
            ("phone", "+79005100005"),
            ("surname", "Р"),
            ("first_name", "Р"),
        ],
    )
    .await;
    let mut anon = app.browser("kvadra");
    anon.post("/forgot", &[("email", "reset@example.ru")]).await;
    let link = app.last_link("kvadra", "reset@example.ru").await;
    assert_eq!(anon.get(&link).await.status, 200, "the link works at first");

    b.post(
        "/settings/password",
        &[
            ("current_password", PASSWORD),
            ("password", "Brand-new-9"),
            ("password2", "Brand-new-9"),
        ],
    )
    .await
    .assert_redirect("/settings?password_changed=1");

    assert_eq!(anon.get(&link).await.status, 410);
    let r = anon
        .post(
            &link,
            &[("password", "Taken-over-7"), ("password2", "Taken-over-7")],
        )
        .await;
    assert_eq!(r.status, 410, "an old reset link set a password");
    anon.post(
        "/login",
        &[
            ("identifier", "reset@example.ru"),
            ("password", "Brand-new-9"),
        ],
    )
    .await
    .assert_redirect("/t/kvadra/");
    app.stop().await;
}

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";

#[tokio::test]
async fn uploaded_file_names_lose_direction_overrides() {
    let app = TestApp::spawn().await;
    let mut b = setevaya_applicant(&app, "bidi@example.ru", "+79005100006").await;
    let r = b.post("/applications/new", &[("kind", "connection")]).await;
    let id = id_of(r.location.as_deref().unwrap());
    // Drawn as "договорexe.pdf": a name pretending to be a PDF.
    let r = b
        .upload(
            &format!("/applications/{id}/files/ownership_doc"),
            "договор\u{202E}fdp.exe",
            PDF,
            true,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let (name,): (String,) = sqlx::query_as(
        "SELECT file_name FROM application_files WHERE tenant_id = 'setevaya' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&app.db().pool)
    .await
    .unwrap();
    assert_eq!(name, "договорfdp.exe.pdf");
    app.stop().await;
}

// ---------------------------------------------------------------- 2.8

/// How many emails went to `to` at vodokanal.
async fn emails(app: &TestApp, to: &str) -> usize {
    app.all_messages("vodokanal")
        .await
        .iter()
        .filter(|m| m.0 == "email" && m.1 == to)
        .count()
}

#[tokio::test]
async fn vodokanal_the_first_confirmation_link_survives_a_login_before_confirming() {
    let app = TestApp::spawn().await;
    let mut b = app.browser("vodokanal");
    register(
        &mut b,
        "individual",
        &[
            ("full_name", "Петров Пётр Петрович"),
            ("email", "first@example.ru"),
            ("login", "petrov"),
        ],
    )
    .await
    .assert_redirect("/check-email");
    let first = app.last_link("vodokanal", "first@example.ru").await;
    assert_eq!(emails(&app, "first@example.ru").await, 1);

    // Logging in right away: no second email to crowd the first.
    let r = b
        .post(
            "/login",
            &[("identifier", "petrov"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.has("Адрес почты ещё не подтверждён"), "{}", r.body);
    assert_eq!(
        emails(&app, "first@example.ru").await,
        1,
        "a second link within minutes"
    );

    // Later, a login sends another link; the first still works.
    sqlx::query(
        "UPDATE tokens SET created_at = '2000-01-01T00:00:00.000000Z' WHERE tenant_id = 'vodokanal'",
    )
    .execute(&app.db().pool)
    .await
    .unwrap();
    // Twenty tabs logging in at once send one new link between them.
    let answers = at_once(
        &b,
        20,
        "/login",
        &[("identifier", "petrov"), ("password", PASSWORD)],
    )
    .await;
    assert!(
        answers
            .iter()
            .any(|r| r.has("подойдёт ссылка из любого нашего письма")),
        "{}",
        answers[0].body
    );
    assert_eq!(emails(&app, "first@example.ru").await, 2);
    let second = app.last_link("vodokanal", "first@example.ru").await;
    assert_ne!(first, second);
    b.get(&first).await.assert_redirect("/login?confirmed=1");
    b.post(
        "/login",
        &[("identifier", "petrov"), ("password", PASSWORD)],
    )
    .await
    .assert_redirect("/t/vodokanal/");
    app.stop().await;
}

async fn person(app: &TestApp, tenant: &str, email: &str, phone: &str) -> Browser {
    let fields = [
        ("email", email),
        ("phone", phone),
        ("surname", "Заявителев"),
        ("first_name", "Иван"),
    ];
    ready(app, tenant, "individual", phone, &fields, &[]).await
}

/// Every page and form of an applicant's own application and appeal
/// answers a stranger alike: another applicant of the tenant, or one of
/// another tenant, gets 404 whatever the page; a signed-out browser is sent
/// to sign in; and a form without this browser's token is refused as forged
/// (403) before anyone is looked up, signed in or not.
#[tokio::test]
async fn an_applicants_pages_refuse_strangers_alike() {
    let app = TestApp::spawn().await;
    let mut owner = person(&app, "kvadra", "own@example.ru", "+79005200001").await;
    let r = owner
        .post(
            "/applications/new",
            &[("kind", "tech_conditions"), ("city", "Белгород")],
        )
        .await;
    let id = id_of(r.location.as_deref().unwrap());
    let version = owner.follow(&r).await.hidden("version").unwrap();
    let r = owner.post("/appeals/new", &[]).await;
    let appeal = r.location.unwrap().replace("/t/kvadra", "");
    assert!(appeal.starts_with("/appeals/"), "{appeal}");

    let application = format!("/applications/{id}");
    let pages = [
        application.clone(),
        format!("{application}/fee"),
        format!("{application}/files.zip"),
        format!("{application}/application.docx"),
        format!("{application}/file/1"),
    ];
    let forms: [(String, Vec<(&str, &str)>); 5] = [
        (
            application.clone(),
            vec![("action", "save"), ("version", &version)],
        ),
        (format!("{application}/delete"), vec![]),
        (format!("{application}/message"), vec![("body", "чужое")]),
        (format!("{application}/status"), vec![("to", "withdrawn")]),
        (format!("{application}/file/1/delete"), vec![]),
    ];
    let mut other = person(&app, "kvadra", "other@example.ru", "+79005200002").await;
    let mut foreign = person(&app, "kazenergo", "far@example.ru", "+79005200003").await;
    for b in [&mut other, &mut foreign] {
        for p in &pages {
            assert_eq!(b.get(p).await.status, 404, "{p}");
        }
        for (p, fields) in &forms {
            assert_eq!(b.post(p, fields).await.status, 404, "{p}");
            assert_eq!(b.post_raw(p, String::new()).await.status, 403, "{p}");
        }
        assert_eq!(b.get(&appeal).await.status, 404);
        assert_eq!(b.get(&format!("{appeal}/file")).await.status, 404);
        let delete = format!("{appeal}/delete");
        assert_eq!(b.post(&delete, &[]).await.status, 404);
    }
    // A forged form is refused as such on the appeals' side too.
    let delete = format!("{appeal}/delete");
    assert_eq!(other.post_raw(&delete, String::new()).await.status, 403);

    let mut away = app.browser("kvadra");
    for p in pages.iter().chain([&appeal, &"/applications".to_string()]) {
        let r = away.get(p).await;
        assert!(
            r.status == 303 && r.location.as_deref().is_some_and(|l| l.ends_with("/login")),
            "{p}: {} {:?}",
            r.status,
            r.location
        );
    }
    for (p, _) in &forms {
        assert_eq!(away.post_raw(p, String::new()).await.status, 403, "{p}");
    }

    // Nothing the strangers tried touched the owner's draft or appeal.
    let mine = owner.get(&application).await;
    assert_eq!(mine.status, 200);
    assert_eq!(mine.hidden("version").as_deref(), Some(version.as_str()));
    assert_eq!(owner.get(&appeal).await.status, 200);
    app.stop().await;
}

/// No one types a NUL and a pasted one is invisible, but PostgreSQL refuses
/// it in text where SQLite stores it: taken out of urlencoded forms,
/// multipart text, the query and the path, a crafted one neither fails a
/// request on one database nor hides a value from a search on the other.
#[tokio::test]
async fn nul_characters_are_taken_out_of_what_is_posted() {
    let app = TestApp::spawn().await;
    // Before any sign-in: on PostgreSQL this was a 500 ("invalid byte
    // sequence for encoding UTF8: 0x00") for anyone who posted one.
    let r = app
        .browser("kazenergo")
        .post(
            "/login",
            &[
                ("identifier", "no\0body@example.ru"),
                ("password", "wrong-pass-1"),
            ],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    let mut a = kazenergo_legal(&app, "nul@example.ru", "+79005100009").await;
    let (id, _) = kazenergo_submit_object(
        &mut a,
        "nul@example.ru",
        "+79005100009",
        "ул. Бау\0мана, 1",
        "Маг\0азин",
    )
    .await;
    // The path's id with a NUL after it is the same application.
    let view = a.get(&format!("/applications/{id}%00")).await;
    assert_eq!(view.status, 200, "{}", view.body);
    assert!(view.has("ул. Баумана, 1") && view.has("Магазин"));

    let mut op = operator(&app, "kazenergo", "nul-op@kazenergo.ru").await;
    // The stored address has no NUL, and neither has the search.
    for q in ["Баумана", "Бау%00мана", "%00Бау%%0000мана"] {
        let p = op.get(&format!("/office/?q={q}")).await;
        assert_eq!(p.status, 200, "q={q}: {}", p.body);
        assert!(p.has("Найдено: 1"), "q={q}");
    }
    let r = op
        .post_multipart(
            &format!("/office/applications/{id}/document"),
            &[("title", "Пись\0мо об\0ъекту"), ("body", "Сро\0к — 3 года")],
            Some(("ту.pdf", b"%PDF-1.4\n%%EOF\n")),
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let view = a.get(&format!("/applications/{id}")).await;
    assert!(
        view.has("Письмо объекту") && view.has("Срок — 3 года"),
        "{}",
        view.body
    );
    app.stop().await;
}
