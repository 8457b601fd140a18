//! Applicant accounts over HTTP: registration per tenant and applicant
//! type, confirmation by SMS and email, login, password reset, profile and
//! settings, and the protections around them (CSRF, rate limits, captcha,
//! tenant isolation). Runs on SQLite, or PostgreSQL with TAPLINE_TEST_PG.

use tapline_e2e::{PASSWORD, TestApp, register};

// ------------------------------------------------------------ registration

#[tokio::test]
async fn kazenergo_individual_registers_confirms_phone_and_logs_in() {
    let app = TestApp::spawn().await;
    let mut b = app.browser("kazenergo");
    let r = register(
        &mut b,
        "individual",
        &[("email", "Ivan@Example.ru"), ("phone", "8 (900) 123-45-67")],
    )
    .await;
    r.assert_redirect("/t/kazenergo/confirm-phone");

    // The SMS went to the normalised number right after registration.
    let code = app.last_sms_code("kazenergo", "+79001234567").await;
    let page = b.follow(&r).await;
    // Shown as people write it, stored normalised.
    assert!(page.has("+7 900 123-45-67"), "{}", page.body);

    // A wrong code is refused with the attempts left, under the code field.
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let r = b.post("/confirm-phone", &[("code", wrong)]).await;
    assert_eq!(r.status, 422);
    assert_eq!(
        r.field_error("code").unwrap(),
        "Неверный код. Осталось попыток: 4."
    );

    let r = b.post("/confirm-phone", &[("code", &code)]).await;
    r.assert_redirect("/?phone_confirmed=1");
    let home = b.follow(&r).await;
    assert!(home.has("Телефон подтверждён."));
    assert!(home.has("ivan@example.ru"), "email is stored lower-cased");

    // Log out, then log in with the email typed differently.
    let r = b.post("/logout", &[]).await;
    r.assert_redirect("/login?logout=1");
    assert_eq!(
        b.get("/profile").await.status,
        303,
        "profile needs a login after logout"
    );
    let r = b
        .post(
            "/login",
            &[("identifier", "IVAN@example.ru"), ("password", PASSWORD)],
        )
        .await;
    r.assert_redirect("/t/kazenergo/");
    let home = b.follow(&r).await;
    assert!(
        home.has("Физическое лицо"),
        "header shows the applicant type"
    );
    app.stop().await;
}

#[tokio::test]
async fn setevaya_legal_entity_needs_valid_inn_ogrn_kpp_and_the_utility_is_told() {
    let app = TestApp::spawn().await;
    let mut b = app.browser("setevaya");
    let base = [
        ("org_name", "ПАО Сбербанк"),
        ("surname", "Петров"),
        ("first_name", "Пётр"),
        ("patronymic", "Петрович"),
        ("ogrn", "1027700132195"),
        ("kpp", "773601001"),
        ("email", "office@sber.example"),
        ("phone", "+7 901 000-00-01"),
    ];
    // One wrong digit in the INN: refused with the checksum message under INN,
    // and everything typed comes back.
    let mut bad = base.to_vec();
    bad.push(("inn", "7707083894"));
    let r = register(&mut b, "legal", &bad).await;
    assert_eq!(r.status, 422);
    let err = r.field_error("inn").expect("an error under INN");
    assert!(err.contains("контрольная сумма"), "{err}");
    assert!(
        r.body.contains("value=\"1027700132195\""),
        "typed OGRN is kept"
    );
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM accounts WHERE tenant_id = $1",
            "setevaya"
        )
        .await,
        0
    );

    let mut good = base.to_vec();
    good.push(("inn", "7707083893"));
    let r = register(&mut b, "legal", &good).await;
    r.assert_redirect("/t/setevaya/confirm-phone");
    let home = b.get("/").await;
    assert!(
        home.has("ПАО Сбербанк Петров Пётр Петрович"),
        "header shows the name"
    );
    assert!(
        home.has("ИНН 7707083893") && home.has("КПП 773601001"),
        "header shows identifiers"
    );

    // The utility got an email about the registration (seed 003).
    let to_utility = app
        .outbox("setevaya")
        .await
        .into_iter()
        .find(|m| m.recipient == "tp@setevaya.localhost")
        .expect("an email to the utility");
    assert!(
        to_utility.body_text.contains("ИНН: 7707083893"),
        "{}",
        to_utility.body_text
    );
    assert!(to_utility.body_text.contains("Юридическое лицо"));
    app.stop().await;
}

#[tokio::test]
async fn setevaya_individual_needs_a_valid_snils() {
    let app = TestApp::spawn().await;
    let mut b = app.browser("setevaya");
    let fields = [
        ("surname", "Иванов"),
        ("first_name", "Иван"),
        ("email", "i@example.ru"),
        ("phone", "+79010000002"),
    ];
    let mut bad = fields.to_vec();
    bad.push(("snils", "112-233-445 96"));
    let r = register(&mut b, "individual", &bad).await;
    assert!(r.field_error("snils").unwrap().contains("СНИЛС"));
    let mut good = fields.to_vec();
    good.push(("snils", "112 233 445 95"));
    let r = register(&mut b, "individual", &good).await;
    r.assert_redirect("/confirm-phone");
    assert!(
        b.get("/").await.has("СНИЛС 112-233-445 95"),
        "SNILS is stored in canonical form"
    );
    app.stop().await;
}

#[tokio::test]
async fn registration_errors_sit_under_their_fields() {
    let app = TestApp::spawn().await;
    let mut b = app.browser("kvadra");
    let r = register(
        &mut b,
        "entrepreneur",
        &[
            ("email", "not-an-email"),
            ("phone", "12"),
            ("password", "short"),
            ("password2", "other"),
            ("consent", ""),
            ("surname", ""),
            ("first_name", "Анна"),
            ("captcha", "99999"),
        ],
    )
    .await;
    assert_eq!(r.status, 422);
    assert!(r.field_error("email").unwrap().contains("адрес почты"));
    assert!(r.field_error("phone").unwrap().contains("номер телефона"));
    assert!(r.field_error("password").unwrap().contains("не короче 8"));
    assert!(r.field_error("consent").unwrap().contains("согласия"));
    assert_eq!(r.field_error("surname").unwrap(), "Заполните это поле");
    assert!(r.field_error("captcha").unwrap().contains("картинки"));
    assert!(r.field_error("first_name").is_none());
    assert!(r.body.contains("value=\"Анна\""), "valid input is kept");
    assert!(!r.body.contains("short"), "passwords are never echoed");
    app.stop().await;
}

#[tokio::test]
async fn duplicate_email_is_refused_and_one_account_remains() {
    let app = TestApp::spawn().await;
    let mut a = app.browser("kazenergo");
    register(
        &mut a,
        "individual",
        &[("email", "dup@example.ru"), ("phone", "+79002000001")],
    )
    .await
    .assert_redirect("/confirm-phone");
    let mut b = app.browser("kazenergo");
    let r = register(
        &mut b,
        "legal",
        &[("email", "DUP@example.ru"), ("phone", "+79002000002")],
    )
    .await;
    assert_eq!(r.status, 422);
    assert!(
        r.field_error("email")
            .unwrap()
            .contains("уже зарегистрирован")
    );
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM accounts WHERE tenant_id = $1",
            "kazenergo"
        )
        .await,
        1
    );

    // The same address is free at another utility: accounts are per tenant.
    let mut c = app.browser("kvadra");
    let r = register(
        &mut c,
        "individual",
        &[
            ("email", "dup@example.ru"),
            ("phone", "+79002000001"),
            ("surname", "Д"),
            ("first_name", "Д"),
        ],
    )
    .await;
    r.assert_redirect("/confirm-phone");
    app.stop().await;
}

#[tokio::test]
async fn captcha_is_a_picture_and_single_use() {
    let app = TestApp::spawn().await;
    let mut b = app.browser("kazenergo");
    let page = b.get("/register").await;
    let id = page.hidden("captcha_id").expect("a captcha on the form");
    let svg = b
        .client
        .get(format!("{}/captcha/{id}", b.base))
        .send()
        .await
        .unwrap();
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    assert!(svg.text().await.unwrap().starts_with("<svg"));
    // Another tenant cannot see this challenge.
    let other = b
        .client
        .get(format!("http://{}/t/kvadra/captcha/{id}", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);

    let fields = [
        ("type", "individual"),
        ("email", "c@example.ru"),
        ("phone", "+79003000001"),
        ("password", PASSWORD),
        ("password2", PASSWORD),
        ("consent", "on"),
        ("captcha_id", id.as_str()),
        ("captcha", tapline_e2e::CAPTCHA),
        ("email", "c@example.ru"),
    ];
    let r = b
        .post(
            "/register",
            &[
                ("captcha", "00000"),
                fields[0],
                fields[1],
                fields[2],
                fields[3],
                fields[4],
                fields[5],
                fields[6],
            ],
        )
        .await;
    assert!(r.field_error("captcha").is_some(), "wrong answer refused");
    // The challenge was spent by the wrong attempt: the right answer no longer works.
    let r = b.post("/register", &fields).await;
    assert!(
        r.field_error("captcha").is_some(),
        "a spent challenge cannot be reused"
    );
    let gone = b
        .client
        .get(format!("{}/captcha/{id}", b.base))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
    app.stop().await;
}

/// The captcha's alternative that needs no eyes: the browser's proof of
/// work on the challenge. A valid one registers; a wrong one, one spent by
/// an earlier attempt or one for an expired challenge is refused.
#[tokio::test]
async fn a_proof_of_work_passes_the_captcha_once_and_only_while_fresh() {
    use tapline::security::captcha::{proof_ok, solve};
    use tapline_e2e::CAPTCHA_BITS;
    let app = TestApp::spawn().await;
    let mut b = app.browser("kazenergo");
    let form = |id: &str, nonce: &str, email: &str, phone: &str| {
        vec![
            ("type".to_string(), "individual".to_string()),
            ("email".into(), email.into()),
            ("phone".into(), phone.into()),
            ("password".into(), PASSWORD.into()),
            ("password2".into(), PASSWORD.into()),
            ("consent".into(), "on".into()),
            ("captcha_id".into(), id.into()),
            // Nothing typed: the proof alone passes.
            ("captcha".into(), String::new()),
            ("captcha_proof".into(), nonce.into()),
        ]
    };
    async fn post(b: &mut tapline_e2e::Browser, f: Vec<(String, String)>) -> tapline_e2e::Page {
        let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        b.post("/register", &pairs).await
    }

    // The page tells the script how much work to do.
    let page = b.get("/register").await;
    assert!(
        page.has(&format!("data-pow=\"{CAPTCHA_BITS}\"")),
        "{}",
        page.body
    );
    let id = page.hidden("captcha_id").unwrap();

    // A wrong nonce is refused, and spends the challenge.
    let wrong = (0u64..)
        .map(|n| n.to_string())
        .find(|n| !proof_ok(&id, n, CAPTCHA_BITS))
        .unwrap();
    let r = post(&mut b, form(&id, &wrong, "pow@example.ru", "+79003000011")).await;
    assert_eq!(r.status, 422);
    assert!(r.field_error("captcha").is_some(), "a wrong proof passed");
    let r = post(
        &mut b,
        form(
            &id,
            &solve(&id, CAPTCHA_BITS),
            "pow@example.ru",
            "+79003000011",
        ),
    )
    .await;
    assert!(
        r.field_error("captcha").is_some(),
        "a spent challenge passed"
    );

    // A proof for an expired challenge is refused.
    let id = b.get("/register").await.hidden("captcha_id").unwrap();
    sqlx::query("UPDATE captchas SET expires_at = $1 WHERE token_hash = $2")
        .bind("2000-01-01T00:00:00Z")
        .bind(tapline::store::sha256_hex(&id))
        .execute(&app.db().pool)
        .await
        .unwrap();
    let r = post(
        &mut b,
        form(
            &id,
            &solve(&id, CAPTCHA_BITS),
            "pow@example.ru",
            "+79003000011",
        ),
    )
    .await;
    assert!(
        r.field_error("captcha").is_some(),
        "an expired challenge passed"
    );

    // A fresh challenge and its proof register, with no digits typed.
    let id = b.get("/register").await.hidden("captcha_id").unwrap();
    let nonce = solve(&id, CAPTCHA_BITS);
    let r = post(&mut b, form(&id, &nonce, "pow@example.ru", "+79003000011")).await;
    r.assert_redirect("/t/kazenergo/confirm-phone");
    // The same proof again (another person, same challenge) is refused.
    let mut other = app.browser("kazenergo");
    let r = post(
        &mut other,
        form(&id, &nonce, "pow2@example.ru", "+79003000012"),
    )
    .await;
    assert!(
        r.field_error("captcha").is_some(),
        "a used proof passed again"
    );
    app.stop().await;
}

// ---------------------------------------------------------- SMS codes

#[tokio::test]
async fn wrong_code_five_times_kills_the_code_and_resend_has_a_cooldown() {
    let app = TestApp::spawn().await;
    let mut b = app.browser("kazenergo");
    register(
        &mut b,
        "individual",
        &[("email", "w@example.ru"), ("phone", "+79004000001")],
    )
    .await;
    let code = app.last_sms_code("kazenergo", "+79004000001").await;
    let wrong = if code == "123456" { "654321" } else { "123456" };
    for left in (1..=4).rev() {
        let r = b.post("/confirm-phone", &[("code", wrong)]).await;
        assert_eq!(
            r.field_error("code").unwrap(),
            format!("Неверный код. Осталось попыток: {left}.")
        );
    }
    let r = b.post("/confirm-phone", &[("code", wrong)]).await;
    assert!(
        r.field_error("code")
            .unwrap()
            .contains("попытки закончились")
    );
    // Even the right code is refused now.
    let r = b.post("/confirm-phone", &[("code", &code)]).await;
    assert!(
        r.field_error("code")
            .unwrap()
            .contains("Запросите новый код")
    );

    // "Send again" right away is refused by the cooldown...
    let r = b.post("/confirm-phone/resend", &[]).await;
    assert!(
        r.field_error("code")
            .unwrap()
            .contains("Новый код можно запросить через")
    );
    // The button itself is disabled while the countdown runs.
    assert!(
        r.has("id=\"resend\" disabled") && r.has("data-countdown=\""),
        "{}",
        r.body
    );
    // ...and works once the cooldown has passed (moved back in the database).
    sqlx::query("UPDATE sms_codes SET created_at = '2000-01-01T00:00:00.000000Z' WHERE tenant_id = 'kazenergo'")
        .execute(&app.db().pool)
        .await
        .unwrap();
    let page = b.get("/confirm-phone").await;
    assert!(page.has("id=\"resend\"") && !page.has("id=\"resend\" disabled"));
    b.post("/confirm-phone/resend", &[])
        .await
        .assert_redirect("/confirm-phone?sent=1");
    let fresh = app.last_sms_code("kazenergo", "+79004000001").await;
    b.post("/confirm-phone", &[("code", &fresh)])
        .await
        .assert_redirect("/?phone_confirmed=1");
    app.stop().await;
}

#[tokio::test]
async fn expired_sms_code_is_refused() {
    let app = TestApp::spawn().await;
    let mut b = app.browser("kvadra");
    register(
        &mut b,
        "individual",
        &[
            ("email", "e@example.ru"),
            ("phone", "+79004000002"),
            ("surname", "Е"),
            ("first_name", "Е"),
        ],
    )
    .await;
    let code = app.last_sms_code("kvadra", "+79004000002").await;
    sqlx::query("UPDATE sms_codes SET expires_at = '2000-01-01T00:00:00.000000Z' WHERE tenant_id = 'kvadra'")
        .execute(&app.db().pool)
        .await
        .unwrap();
    let r = b.post("/confirm-phone", &[("code", &code)]).await;
    assert!(r.field_error("code").unwrap().contains("устарел"));
    app.stop().await;
}

// ------------------------------------------------------ email confirmation

#[tokio::test]
async fn vodokanal_confirms_email_before_login_and_logs_in_by_login_name() {
    let app = TestApp::spawn().await;
    let mut b = app.browser("vodokanal");
    let r = register(
        &mut b,
        "individual",
        &[
            ("full_name", "Сидоров Сидор Сидорович"),
            ("email", "sid@example.ru"),
            ("login", "Sidorov"),
        ],
    )
    .await;
    r.assert_redirect("/check-email");

    // Login before confirming is refused, and a new link goes out.
    let r = b
        .post(
            "/login",
            &[("identifier", "sidorov"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.has("Адрес почты ещё не подтверждён"));

    let link = app.last_link("vodokanal", "sid@example.ru").await;
    assert!(link.starts_with("/confirm-email/"), "{link}");
    b.get(&link).await.assert_redirect("/login?confirmed=1");
    // The link is single-use.
    assert_eq!(b.get(&link).await.status, 410);

    let r = b
        .post(
            "/login",
            &[("identifier", "SIDOROV"), ("password", PASSWORD)],
        )
        .await;
    r.assert_redirect("/t/vodokanal/");
    assert!(b.get("/").await.has("Сидоров Сидор Сидорович"));
    app.stop().await;
}

#[tokio::test]
async fn expired_confirmation_link_is_refused() {
    let app = TestApp::spawn().await;
    let mut b = app.browser("vodokanal");
    register(
        &mut b,
        "legal",
        &[
            ("org_name", "ООО Вода"),
            ("email", "v@example.ru"),
            ("login", "voda"),
        ],
    )
    .await;
    let link = app.last_link("vodokanal", "v@example.ru").await;
    sqlx::query("UPDATE tokens SET expires_at = '2000-01-01T00:00:00.000000Z' WHERE tenant_id = 'vodokanal'")
        .execute(&app.db().pool)
        .await
        .unwrap();
    let r = b.get(&link).await;
    assert_eq!(r.status, 410);
    assert!(r.has("Ссылка устарела"));
    app.stop().await;
}

// ------------------------------------------------------------------ login

#[tokio::test]
async fn login_failures_say_nothing_about_accounts_and_lock_after_five() {
    let app = TestApp::spawn().await;
    let mut b = app.browser("kazenergo");
    register(
        &mut b,
        "individual",
        &[("email", "l@example.ru"), ("phone", "+79005000001")],
    )
    .await;
    b.post("/logout", &[]).await;

    let unknown = b
        .post(
            "/login",
            &[("identifier", "nobody@example.ru"), ("password", PASSWORD)],
        )
        .await;
    let wrong = b
        .post(
            "/login",
            &[("identifier", "l@example.ru"), ("password", "wrong-pass-1")],
        )
        .await;
    assert_eq!(unknown.status, 422);
    // The same words either way, in the terms of what the form asks for.
    let said = "Не удалось войти: проверьте электронную почту и пароль";
    assert!(unknown.has(said) && wrong.has(said), "{}", unknown.body);

    for _ in 0..4 {
        b.post(
            "/login",
            &[("identifier", "l@example.ru"), ("password", "wrong-pass-1")],
        )
        .await;
    }
    let locked = b
        .post(
            "/login",
            &[("identifier", "l@example.ru"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(locked.status, 422);
    assert!(
        locked.has("Слишком много неудачных попыток"),
        "{}",
        locked.body
    );
    app.stop().await;
}

#[tokio::test]
async fn almaty_logs_in_by_phone_and_checks_bin() {
    let app = TestApp::spawn().await;
    let mut b = app.browser("almatyenergosbyt");
    let r = register(
        &mut b,
        "legal",
        &[
            ("org_name", "АО Халык Банк"),
            ("bin", "940140000386"),
            ("email", "h@example.kz"),
            ("phone", "+7 701 000 00 01"),
        ],
    )
    .await;
    assert!(r.field_error("bin").unwrap().contains("БИН"));
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
    let r = b
        .post(
            "/login",
            &[
                ("identifier", "8 701 000-00-01"),
                ("password", PASSWORD),
                ("remember", "on"),
            ],
        )
        .await;
    r.assert_redirect("/t/almatyenergosbyt/");
    app.stop().await;
}

#[tokio::test]
async fn remember_me_sets_a_lasting_cookie_and_sessions_are_httponly() {
    let app = TestApp::spawn().await;
    let mut b = app.browser("kazenergo");
    register(
        &mut b,
        "individual",
        &[("email", "r@example.ru"), ("phone", "+79005000002")],
    )
    .await;
    b.post("/logout", &[]).await;
    b.get("/login").await;
    for (remember, lasting) in [("", false), ("on", true)] {
        let resp = b
            .client
            .post(format!("{}/login", b.base))
            .form(&[
                (
                    "csrf_token",
                    b.get("/login").await.hidden("csrf_token").unwrap().as_str(),
                ),
                ("identifier", "r@example.ru"),
                ("password", PASSWORD),
                ("remember", remember),
            ])
            .send()
            .await
            .unwrap();
        let cookie = resp
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .find(|c| c.starts_with("tl_session="))
            .unwrap();
        assert!(
            cookie.contains("HttpOnly")
                && cookie.contains("SameSite=Lax")
                && cookie.contains("Path=/t/kazenergo/"),
            "{cookie}"
        );
        assert_eq!(cookie.contains("Max-Age=2592000"), lasting, "{cookie}");
        // The login above went around the helper: the form token it holds
        // belongs to the session before it.
        b.refresh_csrf().await;
        b.post("/logout", &[])
            .await
            .assert_redirect("/login?logout=1");
    }
    app.stop().await;
}

// ---------------------------------------------------------- tenant isolation

#[tokio::test]
async fn an_account_of_one_tenant_cannot_log_into_another() {
    let app = TestApp::spawn().await;
    let mut k = app.browser("kazenergo");
    register(
        &mut k,
        "individual",
        &[("email", "x@example.ru"), ("phone", "+79006000001")],
    )
    .await;
    let mut q = app.browser("kvadra");
    let r = q
        .post(
            "/login",
            &[("identifier", "x@example.ru"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.has("Не удалось войти: проверьте электронную почту и пароль"));

    // A kazenergo session cookie presented to kvadra opens nothing.
    let (token,): (String,) =
        sqlx::query_as("SELECT token_hash FROM sessions WHERE tenant_id = 'kazenergo'")
            .fetch_one(&app.db().pool)
            .await
            .unwrap();
    assert_eq!(
        token.len(),
        64,
        "only the hash of the session token is stored"
    );
    let cookie = k.client.get(format!("{}/", k.base)).send().await.unwrap();
    assert_eq!(cookie.status(), 200);
    let stolen = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let session = session_cookie(&mut k).await;
    let r = stolen
        .get(format!("http://{}/t/kvadra/profile", app.addr))
        .header("cookie", format!("tl_session={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "kvadra sends the stranger to its login");
    let r = stolen
        .get(format!("http://{}/t/kazenergo/profile", app.addr))
        .header("cookie", format!("tl_session={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the same cookie works at its own tenant");
    app.stop().await;
}

/// Log in again on a bare client to read the session cookie value.
async fn session_cookie(b: &mut tapline_e2e::Browser) -> String {
    let page = b.get("/login").await;
    let _ = page;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = client
        .get(format!("{}/login", b.base))
        .send()
        .await
        .unwrap();
    let csrf_cookie = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("tl_csrf="))
        .unwrap();
    let csrf_cookie = csrf_cookie.split(';').next().unwrap().to_string();
    let body = login.text().await.unwrap();
    let page = tapline_e2e::Page {
        status: 200,
        location: None,
        body,
    };
    let token = page.hidden("csrf_token").unwrap();
    let email = "x@example.ru";
    let resp = client
        .post(format!("{}/login", b.base))
        .header("cookie", &csrf_cookie)
        .form(&[
            ("csrf_token", token.as_str()),
            ("identifier", email),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    let c = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("tl_session="))
        .expect("session cookie");
    c["tl_session=".len()..c.find(';').unwrap()].to_string()
}

#[tokio::test]
async fn tenant_is_found_by_host_name_too() {
    let app = TestApp::spawn().await;
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = c
        .get(app.url("/login"))
        .header("host", "lk.kvadra.localhost")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("Path=/;"),
        "host tenants use the root path: {cookie}"
    );
    assert!(r.text().await.unwrap().contains("ПАО «Квадра»"));
    let r = c
        .get(app.url("/login"))
        .header("host", "unknown.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = c.get(app.url("/t/nope/login")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let r = c.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = c.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    app.stop().await;
}

// ------------------------------------------------------------------- CSRF

#[tokio::test]
async fn forms_without_the_csrf_token_are_refused() {
    let app = TestApp::spawn().await;
    let mut b = app.browser("kazenergo");
    b.get("/login").await;
    let r = b
        .post_raw("/login", "identifier=a%40b.ru&password=x".into())
        .await;
    assert_eq!(r.status, 403);
    assert!(r.has("Форма устарела"));
    let r = b
        .post_raw(
            "/login",
            "csrf_token=deadbeef&identifier=a%40b.ru&password=x".into(),
        )
        .await;
    assert_eq!(r.status, 403);
    // A token from another browser does not fit this browser's cookie.
    let mut other = app.browser("kazenergo");
    let token = other.get("/login").await.hidden("csrf_token").unwrap();
    let r = b
        .post_raw("/register", format!("csrf_token={token}&type=individual"))
        .await;
    assert_eq!(r.status, 403);
    app.stop().await;
}

#[tokio::test]
async fn pages_carry_security_headers() {
    let app = TestApp::spawn().await;
    let r = reqwest::get(app.url("/t/kazenergo/login")).await.unwrap();
    let h = r.headers();
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert!(h.contains_key("x-request-id"));
    drop(r);
    app.stop().await;
}

// ---------------------------------------------------------- password reset

#[tokio::test]
async fn forgot_password_reads_the_same_for_any_address_and_the_link_works_once() {
    let app = TestApp::spawn().await;
    let mut b = app.browser("kvadra");
    register(
        &mut b,
        "individual",
        &[
            ("email", "f@example.ru"),
            ("phone", "+79007000001"),
            ("surname", "Ф"),
            ("first_name", "Ф"),
        ],
    )
    .await;
    // Another browser stays logged in with the old password.
    let mut other = app.browser("kvadra");
    other
        .post(
            "/login",
            &[("identifier", "f@example.ru"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(other.get("/profile").await.status, 200);

    let mut anon = app.browser("kvadra");
    let known = anon.post("/forgot", &[("email", "f@example.ru")]).await;
    let unknown = anon.post("/forgot", &[("email", "ghost@example.ru")]).await;
    assert_eq!(known.status, unknown.status);
    assert!(known.has("Если адрес f@example.ru зарегистрирован"));
    assert!(unknown.has("Если адрес ghost@example.ru зарегистрирован"));
    assert!(
        app.outbox("kvadra")
            .await
            .iter()
            .all(|m| m.recipient != "ghost@example.ru")
    );

    let link = app.last_link("kvadra", "f@example.ru").await;
    assert!(link.starts_with("/reset/"));
    let r = anon
        .post(
            &link,
            &[("password", "New-pass-22"), ("password2", "New-pass-23")],
        )
        .await;
    assert_eq!(r.field_error("password2").unwrap(), "Пароли не совпадают");
    anon.post(
        &link,
        &[("password", "New-pass-22"), ("password2", "New-pass-22")],
    )
    .await
    .assert_redirect("/login?reset=1");
    assert_eq!(anon.get(&link).await.status, 410, "the link works once");

    let r = anon
        .post(
            "/login",
            &[("identifier", "f@example.ru"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status, 422, "the old password no longer works");
    anon.post(
        "/login",
        &[("identifier", "f@example.ru"), ("password", "New-pass-22")],
    )
    .await
    .assert_redirect("/t/kvadra/");
    assert_eq!(
        other.get("/profile").await.status,
        303,
        "other sessions ended with the reset"
    );
    app.stop().await;
}

// ---------------------------------------------------------------- profile

#[tokio::test]
async fn kazenergo_legal_profile_saves_and_becomes_complete() {
    let app = TestApp::spawn().await;
    let mut b = app.browser("kazenergo");
    register(
        &mut b,
        "legal",
        &[("email", "org@example.ru"), ("phone", "+79008000001")],
    )
    .await;
    let code = app.last_sms_code("kazenergo", "+79008000001").await;
    b.post("/confirm-phone", &[("code", &code)]).await;
    let home = b.get("/").await;
    assert!(home.body.contains("id=\"profile-incomplete\""));
    assert!(home.has("Полное наименование организации"));

    let fields = [
        ("org_name", "ООО «Тепло»"),
        ("inn", "7736050003"),
        ("ogrn", "1027700070519"),
        ("surname", "Газов"),
        ("first_name", "Газ"),
        ("patronymic", "-"),
        ("contact_email", "rep@example.ru"),
        ("postal_address", "420000, Казань, ул. Баумана, 1"),
    ];
    let r = b.post("/profile", &fields).await;
    assert_eq!(r.status, 422);
    assert!(r.field_error("ogrn").unwrap().contains("ОГРН"));
    assert!(
        r.body.contains("value=\"ООО «Тепло»\"") || r.has("value=\"ООО «Тепло»\""),
        "typed values are kept"
    );
    assert!(r.has("Изменения не сохранены"));
    assert!(
        !b.get("/profile").await.has("value=\"ООО «Тепло»\""),
        "nothing was saved"
    );

    let mut good = fields.to_vec();
    good.push(("ogrn", "1027700070518"));
    b.post("/profile", &good)
        .await
        .assert_redirect("/profile?saved=1");
    let p = b.get("/profile?saved=1").await;
    assert!(p.body.contains("id=\"saved\""));
    let home = b.get("/").await;
    assert!(
        home.body.contains("id=\"profile-complete\""),
        "{}",
        home.body
    );
    assert!(home.has("ООО «Тепло» Газов Газ -"));
    app.stop().await;
}

// --------------------------------------------------------------- settings

#[tokio::test]
async fn change_password_email_and_phone() {
    let app = TestApp::spawn().await;
    let mut b = app.browser("kazenergo");
    register(
        &mut b,
        "individual",
        &[("email", "s@example.ru"), ("phone", "+79009000001")],
    )
    .await;

    // Password: the current one must be right, and the new one repeated.
    let r = b
        .post(
            "/settings/password",
            &[
                ("current_password", "nope"),
                ("password", "Brand-new-9"),
                ("password2", "Brand-new-9"),
            ],
        )
        .await;
    assert_eq!(
        r.field_error("pw_current_password").unwrap(),
        "Текущий пароль введён неверно"
    );
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

    // Email: a link goes to the new address; the address changes only when followed.
    let r = b
        .post(
            "/settings/email",
            &[("new_email", "bad"), ("current_password", "Brand-new-9")],
        )
        .await;
    assert!(r.field_error("new_email").is_some());
    b.post(
        "/settings/email",
        &[
            ("new_email", "New@Example.ru"),
            ("current_password", "Brand-new-9"),
        ],
    )
    .await
    .assert_redirect("/settings?email_sent=1");
    assert!(
        b.get("/settings").await.has("s@example.ru"),
        "not changed before the link"
    );
    let link = app.last_link("kazenergo", "new@example.ru").await;
    b.get(&link)
        .await
        .assert_redirect("/settings?email_changed=1");
    assert!(b.get("/settings").await.has("new@example.ru"));
    assert!(
        app.outbox("kazenergo")
            .await
            .iter()
            .any(|m| m.recipient == "s@example.ru" && m.template == "email_changed"),
        "the old address is told"
    );

    // Phone: a code to the new number confirms it.
    b.post(
        "/settings/phone",
        &[
            ("new_phone", "+7 902 000 00 09"),
            ("current_password", "Brand-new-9"),
        ],
    )
    .await
    .assert_redirect("/settings?phone_code=1");
    let code = app.last_sms_code("kazenergo", "+79020000009").await;
    let r = b
        .post("/settings/phone/confirm", &[("code", "999999x")])
        .await;
    assert!(r.field_error("phone_code").is_some());
    b.post("/settings/phone/confirm", &[("code", &code)])
        .await
        .assert_redirect("/settings?phone_changed=1");
    let s = b.get("/settings").await;
    assert!(s.has("+7 902 000-00-09"), "{}", s.body);
    // The code is used up: trying it again says so where a new one is asked for.
    let r = b.post("/settings/phone/confirm", &[("code", &code)]).await;
    assert!(
        r.field_error("new_phone")
            .unwrap()
            .contains("Запросите новый код"),
        "{}",
        r.body
    );

    // The new password and email log in.
    b.post("/logout", &[]).await;
    b.post(
        "/login",
        &[
            ("identifier", "new@example.ru"),
            ("password", "Brand-new-9"),
        ],
    )
    .await
    .assert_redirect("/t/kazenergo/");
    // History holds every change, in order.
    let kinds: Vec<(String,)> =
        sqlx::query_as("SELECT kind FROM events WHERE tenant_id = 'kazenergo' ORDER BY id")
            .fetch_all(&app.db().pool)
            .await
            .unwrap();
    let kinds: Vec<&str> = kinds.iter().map(|k| k.0.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "registered",
            "password_changed",
            "email_change_requested",
            "email_changed",
            "phone_changed",
            "login"
        ]
    );
    app.stop().await;
}

#[tokio::test]
async fn sms_to_one_phone_is_rate_limited() {
    let app = TestApp::spawn().await;
    let mut b = app.browser("kazenergo");
    register(
        &mut b,
        "individual",
        &[("email", "rl@example.ru"), ("phone", "+79009000002")],
    )
    .await;
    // Registration sent one; four resends are allowed within the hour, then no more.
    for _ in 0..4 {
        sqlx::query("UPDATE sms_codes SET created_at = '2000-01-01T00:00:00.000000Z'")
            .execute(&app.db().pool)
            .await
            .unwrap();
        b.post("/confirm-phone/resend", &[])
            .await
            .assert_redirect("/confirm-phone?sent=1");
    }
    sqlx::query("UPDATE sms_codes SET created_at = '2000-01-01T00:00:00.000000Z'")
        .execute(&app.db().pool)
        .await
        .unwrap();
    let r = b.post("/confirm-phone/resend", &[]).await;
    assert!(r.field_error("code").unwrap().contains("Слишком много SMS"));
    let sms = app
        .all_messages("kazenergo")
        .await
        .into_iter()
        .filter(|m| m.0 == "sms")
        .count();
    assert_eq!(sms, 5);
    app.stop().await;
}

#[tokio::test]
async fn a_tenant_overrides_a_page_and_an_sms_template_without_touching_others() {
    let tenants =
        tapline_e2e::tenants_copy(&[("ownlook", "kvadra", None), ("plain", "kvadra", None)]);
    let over = tenants.join("ownlook/templates");
    std::fs::create_dir_all(over.join("portal")).unwrap();
    std::fs::create_dir_all(over.join("sms")).unwrap();
    let login = std::fs::read_to_string(tapline_e2e::repo().join("templates/portal/login.html"))
        .unwrap()
        .replace(
            "<h1>Вход в личный кабинет</h1>",
            "<h1>Вход для абонентов «Своего вида»</h1>",
        );
    std::fs::write(over.join("portal/login.html"), login).unwrap();
    std::fs::write(over.join("sms/phone_code.txt"), "Код {{ code }} — свой вид").unwrap();
    let app = TestApp::spawn_with(tapline_e2e::Setup {
        tenants,
        ..Default::default()
    })
    .await;

    assert!(
        app.browser("ownlook")
            .get("/login")
            .await
            .has("Вход для абонентов «Своего вида»")
    );
    let plain = app.browser("plain").get("/login").await;
    assert!(plain.has("Вход в личный кабинет") && !plain.has("Своего вида"));

    let mut b = app.browser("ownlook");
    register(
        &mut b,
        "individual",
        &[
            ("email", "o@example.ru"),
            ("phone", "+79001110001"),
            ("surname", "О"),
            ("first_name", "О"),
        ],
    )
    .await;
    let sms = app
        .outbox("ownlook")
        .await
        .into_iter()
        .find(|m| m.channel == "sms")
        .unwrap();
    assert!(sms.body_text.ends_with("— свой вид"), "{}", sms.body_text);
    app.stop().await;
}

/// Seed 000 §2: the phone can be confirmed later, after logging in.
#[tokio::test]
async fn the_phone_can_be_confirmed_after_logging_in_later() {
    let app = TestApp::spawn().await;
    let mut b = app.browser("kazenergo");
    register(
        &mut b,
        "individual",
        &[("email", "later@example.ru"), ("phone", "+79003000001")],
    )
    .await;
    b.post("/logout", &[]).await;

    let mut b = app.browser("kazenergo");
    let r = b
        .post(
            "/login",
            &[
                ("identifier", "later@example.ru"),
                ("password", tapline_e2e::PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status, 303);
    let home = b.get("/").await;
    assert!(
        home.has("не подтверждён") && home.has("/confirm-phone\">Подтвердить по SMS"),
        "{}",
        home.body
    );
    assert_eq!(b.get("/confirm-phone").await.status, 200);
    let code = app.last_sms_code("kazenergo", "+79003000001").await;
    b.post("/confirm-phone", &[("code", &code)])
        .await
        .assert_redirect("/?phone_confirmed=1");
    assert!(!b.get("/").await.has("Подтвердить по SMS"));
    app.stop().await;
}

/// An organisation's INN has ten digits and a sole proprietor's twelve:
/// registration refuses the other length for each type, under the INN, and
/// nothing is saved.
#[tokio::test]
async fn registration_refuses_the_inn_length_of_the_other_applicant_type() {
    let app = TestApp::spawn().await;
    let mut b = app.browser("setevaya");
    let legal = [
        ("org_name", "ПАО Сбербанк"),
        ("surname", "Петров"),
        ("first_name", "Пётр"),
        ("ogrn", "1027700132195"),
        ("kpp", "773601001"),
        ("email", "org@example.ru"),
        ("phone", "+7 901 000-00-11"),
        // A valid personal INN: right checksum, wrong kind.
        ("inn", "500100732259"),
    ];
    let r = register(&mut b, "legal", &legal).await;
    assert_eq!(r.status, 422, "{}", r.body);
    let err = r.field_error("inn").expect("an error under INN");
    assert!(err.contains("10 цифр"), "{err}");

    let entrepreneur = [
        ("surname", "Предпринимателев"),
        ("first_name", "Иван"),
        ("ogrnip", "304500116000157"),
        ("email", "ip@example.ru"),
        ("phone", "+7 901 000-00-12"),
        // A valid organisation's INN.
        ("inn", "7707083893"),
    ];
    let r = register(&mut b, "entrepreneur", &entrepreneur).await;
    assert_eq!(r.status, 422, "{}", r.body);
    let err = r.field_error("inn").expect("an error under INN");
    assert!(err.contains("12 цифр"), "{err}");
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM accounts WHERE tenant_id = $1",
            "setevaya"
        )
        .await,
        0
    );

    // Each type's own length is taken.
    let mut ok = entrepreneur.to_vec();
    ok.pop();
    ok.push(("inn", "500100732259"));
    let r = register(&mut b, "entrepreneur", &ok).await;
    r.assert_redirect("/t/setevaya/confirm-phone");
    app.stop().await;
}

/// Every demo tenant that asks an INN asks ten digits of an organisation and
/// twelve of a sole proprietor, whichever step asks it.
#[tokio::test]
async fn every_demo_tenant_checks_the_inn_by_applicant_type() {
    use tapline::tenant::config::ApplicantType;
    let Ok(reg) = tapline::tenant::Registry::load(&tapline_e2e::repo().join("tenants")) else {
        panic!("demo tenants load");
    };
    let mut seen = 0;
    for t in reg.all() {
        for (ty, want) in [
            (ApplicantType::Legal, "inn_legal"),
            (ApplicantType::Entrepreneur, "inn_person"),
        ] {
            for f in t
                .fields_for(ty)
                .filter(|f| f.id.get_ref().as_str() == "inn")
            {
                seen += 1;
                let v = f.validate.as_ref().map(|v| v.get_ref().as_str());
                assert_eq!(v, Some(want), "{}: {ty:?}", t.slug);
            }
        }
    }
    assert!(
        seen >= 8,
        "four tenants ask an INN of two types, found {seen}"
    );
}
