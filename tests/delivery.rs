//! Notification delivery end to end: the outbox worker speaks SMTP to a
//! real listener on loopback and SMSC.ru's HTTP protocol to a stand-in,
//! retries temporary failures and gives up on permanent ones.

use tapline::server::SmsConfig;
use tapline_e2e::smsc::FakeSmsc;
use tapline_e2e::smtp::SmtpServer;
use tapline_e2e::{PASSWORD, Setup, TestApp, register};

async fn status_of(app: &TestApp, channel: &str, to: &str) -> (String, i64, Option<String>) {
    sqlx::query_as(
        "SELECT status, attempts, last_error FROM outbox WHERE channel = $1 AND recipient = $2 \
         ORDER BY id DESC LIMIT 1",
    )
    .bind(channel)
    .bind(to)
    .fetch_one(&app.db().pool)
    .await
    .unwrap()
}

/// Poll the outbox until the newest row to `to` reaches `status`.
async fn wait_status(
    app: &TestApp,
    channel: &str,
    to: &str,
    status: &str,
) -> (String, i64, Option<String>) {
    for _ in 0..100 {
        let row = status_of(app, channel, to).await;
        if row.0 == status {
            return row;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!(
        "outbox row to {to} never became {status}: {:?}",
        status_of(app, channel, to).await
    );
}

#[tokio::test]
async fn confirmation_email_goes_over_smtp_and_its_link_works() {
    let smtp = SmtpServer::start(0).await;
    let app = TestApp::spawn_with(Setup {
        smtp_url: Some(smtp.url()),
        ..Setup::default()
    })
    .await;
    let mut b = app.browser("vodokanal");
    register(
        &mut b,
        "individual",
        &[
            ("full_name", "Почтов Пётр Петрович"),
            ("email", "petr@example.ru"),
            ("login", "pochtov"),
        ],
    )
    .await
    .assert_redirect("/check-email");

    let got = smtp.wait_for(1, 10).await;
    let mail = &got[0];
    assert_eq!(mail.from, "noreply@vodokanal.localhost");
    assert_eq!(mail.to, vec!["petr@example.ru".to_string()]);
    let (subject, body) = mail.parsed();
    assert!(
        subject.contains("Водоканал") || subject.contains("почт"),
        "subject: {subject}"
    );
    // The tenant's name signs the letter: it reads right whatever it is.
    assert!(
        body.contains("Вы зарегистрировались в личном кабинете заявителя.")
            && body
                .replace("\r\n", "\n")
                .contains("С уважением,\nМУП «Водоканал»"),
        "{body}"
    );
    let start = body
        .find("/t/vodokanal/confirm-email/")
        .expect("a confirmation link in the body");
    let link: String = body[start + "/t/vodokanal".len()..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    wait_status(&app, "email", "petr@example.ru", "sent").await;

    b.get(&link).await.assert_redirect("/login?confirmed=1");
    b.post(
        "/login",
        &[("identifier", "pochtov"), ("password", PASSWORD)],
    )
    .await
    .assert_redirect("/t/vodokanal/");
    app.stop().await;
}

#[tokio::test]
async fn a_temporary_smtp_refusal_is_retried_and_delivered_once() {
    let smtp = SmtpServer::start(1).await;
    let app = TestApp::spawn_with(Setup {
        smtp_url: Some(smtp.url()),
        ..Setup::default()
    })
    .await;
    let mut b = app.browser("vodokanal");
    register(
        &mut b,
        "individual",
        &[
            ("full_name", "Повторов Павел"),
            ("email", "retry@example.ru"),
            ("login", "povtorov"),
        ],
    )
    .await;

    // The first attempt meets 451: the row stays pending with the error and a later attempt time.
    let mut row = status_of(&app, "email", "retry@example.ru").await;
    for _ in 0..100 {
        if row.1 > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        row = status_of(&app, "email", "retry@example.ru").await;
    }
    let (status, attempts, err) = row;
    assert_eq!((status.as_str(), attempts), ("pending", 1));
    let err = err.expect("the refusal is kept");
    assert!(err.contains("451"), "{err}");
    assert_eq!(*smtp.refused.lock().unwrap(), 1);
    assert!(smtp.received().is_empty());

    // Pretend the backoff has passed; the worker's next round delivers it.
    sqlx::query("UPDATE outbox SET next_attempt_at = '2000-01-01T00:00:00.000000Z' WHERE recipient = 'retry@example.ru'")
        .execute(&app.db().pool)
        .await
        .unwrap();
    let got = smtp.wait_for(1, 10).await;
    assert_eq!(got.len(), 1);
    let (_, attempts, _) = wait_status(&app, "email", "retry@example.ru", "sent").await;
    assert_eq!(attempts, 2);
    // Delivered once: the row is done, so no later round takes it again.
    assert_eq!(smtp.received().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn sms_goes_through_smsc_and_an_invalid_number_fails_for_good() {
    let smsc = FakeSmsc::start().await;
    let sms = SmsConfig::Smsc {
        url: smsc.url.clone(),
        login: "tapline".into(),
        password: "s3cret".into(),
    };
    let app = TestApp::spawn_with(Setup {
        sms,
        ..Setup::default()
    })
    .await;

    let mut b = app.browser("kazenergo");
    register(
        &mut b,
        "individual",
        &[("email", "sms@example.ru"), ("phone", "+79001112233")],
    )
    .await
    .assert_redirect("/t/kazenergo/confirm-phone");
    wait_status(&app, "sms", "+79001112233", "sent").await;
    let req = smsc
        .requests()
        .into_iter()
        .find(|r| r["phones"] == "79001112233")
        .expect("a request to SMSC");
    assert_eq!(req["fmt"], "3");
    assert_eq!(req["sender"], "Kazenergo");
    let code: String = req["mes"].chars().filter(char::is_ascii_digit).collect();
    assert_eq!(code.len(), 6, "{}", req["mes"]);
    // The code that went out through the provider confirms the phone.
    b.post("/confirm-phone", &[("code", &code)])
        .await
        .assert_redirect("/?phone_confirmed=1");

    let mut b2 = app.browser("kazenergo");
    register(
        &mut b2,
        "individual",
        &[("email", "bad@example.ru"), ("phone", "+79001112299")],
    )
    .await;
    let (_, attempts, err) = wait_status(&app, "sms", "+79001112299", "failed").await;
    assert_eq!(attempts, 1, "a permanent error is not retried");
    assert!(err.unwrap().contains("smsc error 7"));
    app.stop().await;
}
