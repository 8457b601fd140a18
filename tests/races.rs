//! Concurrent and hostile input: bursts of the same request, a pool of one
//! connection, numbers typed by hand, oversized drafts and a plugin whose
//! host calls are slow. Each test fails on the defect it is named after.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tapline_e2e::{
    Browser, Setup, TestApp, kazenergo_legal, kazenergo_submit, operator, setevaya_applicant,
};

/// A new kazenergo draft: its id and version.
async fn draft(b: &mut Browser) -> (String, String) {
    let r = b
        .post(
            "/applications/new",
            &[("kind", "tech_conditions"), ("new", "1")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let id = tapline_e2e::id_of(r.location.as_deref().unwrap());
    let v = b.follow(&r).await.hidden("version").unwrap();
    (id, v)
}

fn kazenergo_values<'a>(phone: &'a str, email: &'a str) -> Vec<(&'static str, &'a str)> {
    vec![
        ("city", "Казань"),
        ("object_address", "ул. Баумана, 1"),
        ("object_name", "Магазин"),
        ("load_gcal_h", "0,1"),
        ("phone", phone),
        ("email", email),
    ]
}

/// 40 background saves of one draft from a stale copy at once: every one is
/// told the copy is stale (none fails), and a user of another tenant is
/// served while they run. Before, each held a transaction (and SQLite's
/// write lock) while waiting for a second connection: the pool jammed and
/// requests failed with «database is locked».
#[tokio::test]
async fn forty_stale_autosaves_fail_none_and_another_tenant_is_served() {
    let app = TestApp::spawn().await;
    let mut a = kazenergo_legal(&app, "storm@example.ru", "+79004000001").await;
    let mut other = setevaya_applicant(&app, "calm@example.ru", "+79004000002").await;
    let (id, stale) = draft(&mut a).await;
    let path = format!("/applications/{id}");
    let r = a
        .post(
            &path,
            &[
                ("action", "autosave"),
                ("version", &stale),
                ("object_name", "Первое"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let storm: Vec<_> = (0..40)
        .map(|i| {
            let mut tab = a.clone();
            let (path, stale) = (path.clone(), stale.clone());
            tokio::spawn(async move {
                let name = format!("Вкладка {i}");
                tab.post(
                    &path,
                    &[
                        ("action", "autosave"),
                        ("version", &stale),
                        ("object_name", &name),
                    ],
                )
                .await
            })
        })
        .collect();
    // While the storm runs, another tenant's page comes within seconds (the
    // jammed pool made it wait 5–15 s).
    let calm = tokio::spawn(async move { other.get("/applications").await });
    let calm = tokio::time::timeout(Duration::from_secs(4), calm)
        .await
        .expect("another tenant is served while the storm runs")
        .unwrap();
    assert_eq!(calm.status, 200, "{}", calm.body);
    for r in storm {
        let r = r.await.unwrap();
        assert_eq!(r.status, 409, "{}", r.body);
        assert!(r.body.contains("\"stale\":true"), "{}", r.body);
    }
    let saved = a.get(&path).await;
    assert!(saved.has("Первое"), "the one good save stays");
    app.stop().await;
}

/// Ten tabs send one draft at once (SQLite): exactly one submission, one
/// registration number drawn, and every tab is told it was sent.
#[tokio::test]
async fn ten_tabs_submitting_one_draft_send_it_once() {
    let app = TestApp::spawn().await;
    let (email, phone) = ("tabs@example.ru", "+79004000003");
    let mut a = kazenergo_legal(&app, email, phone).await;
    let (id, v) = draft(&mut a).await;
    let path = format!("/applications/{id}");
    let tabs: Vec<_> = (0..10)
        .map(|_| {
            let mut tab = a.clone();
            let (path, v) = (path.clone(), v.clone());
            tokio::spawn(async move {
                let mut fields = vec![("action", "submit"), ("version", v.as_str())];
                fields.extend(kazenergo_values(phone, email));
                tab.post(&path, &fields).await
            })
        })
        .collect();
    for t in tabs {
        let r = t.await.unwrap();
        let alert = r.body.lines().find(|l| l.contains("role=\"alert\""));
        assert_eq!(
            r.status,
            303,
            "{alert:?} {:?}",
            tapline_e2e::logged(&["ERROR"])
        );
        assert_eq!(
            r.location.as_deref(),
            Some(format!("/t/kazenergo{path}?submitted=1").as_str()),
            "every tab is told it was sent"
        );
    }
    let (submitted,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM application_events WHERE application_id = $1 AND kind = 'submitted'",
    )
    .bind(id.parse::<i64>().unwrap())
    .fetch_one(&app.db().pool)
    .await
    .unwrap();
    assert_eq!(submitted, 1);
    let (drawn,): (i64,) = sqlx::query_as(
        "SELECT value FROM sequences WHERE tenant_id = 'kazenergo' AND name = 'applications'",
    )
    .fetch_one(&app.db().pool)
    .await
    .unwrap();
    assert_eq!(drawn, 1, "one number drawn for one submission");
    let yy = &tapline::store::now_ts()[2..4];
    let view = a.get(&format!("{path}?submitted=1")).await;
    assert!(
        view.has(&format!("Номер заявки: <strong>КЭ-00001/{yy}</strong>")),
        "{}",
        view.body
    );
    app.stop().await;
}

/// Staff type the next automatic number by hand; the next submission takes
/// the one after it instead of failing on the unique index.
#[tokio::test]
async fn a_number_typed_by_hand_is_skipped_by_the_next_submission() {
    let app = TestApp::spawn().await;
    let (email, phone) = ("hand@example.ru", "+79004000004");
    let mut a = kazenergo_legal(&app, email, phone).await;
    let (first, _) = kazenergo_submit(&mut a, email, phone).await;
    let yy = &tapline::store::now_ts()[2..4];
    let mut op = operator(&app, "kazenergo", "op@kazenergo.ru").await;
    let next = format!("КЭ-00002/{yy}");
    let r = op
        .post(
            &format!("/office/applications/{first}/number"),
            &[("number", &next), ("replace", "1")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let (second, r) = kazenergo_submit(&mut a, email, phone).await;
    assert!(
        r.location.as_deref().unwrap().ends_with("?submitted=1"),
        "{:?}",
        r.location
    );
    let view = a.get(&format!("/applications/{second}")).await;
    assert!(view.has(&format!("КЭ-00003/{yy}")), "{}", view.body);
    app.stop().await;
}

/// Every save keeps the fields' length limits (the background one too, with
/// the field named), and an account keeps at most 20 drafts however many
/// requests for a new one arrive at once.
#[tokio::test]
async fn drafts_keep_field_limits_and_their_number_is_capped() {
    let app = TestApp::spawn().await;
    let mut a = kazenergo_legal(&app, "big@example.ru", "+79004000005").await;
    let (id, v) = draft(&mut a).await;
    let path = format!("/applications/{id}");
    let huge = "я".repeat(2001);
    let r = a
        .post(
            &path,
            &[("action", "autosave"), ("version", &v), ("comment", &huge)],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body.contains("«Комментарий»: не длиннее 2000 символов"),
        "{}",
        r.body
    );
    let r = a
        .post(
            &path,
            &[("action", "save"), ("version", &v), ("comment", &huge)],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(
        r.field_error("comment").as_deref(),
        Some("Не длиннее 2000 символов")
    );
    let (stored,): (String,) =
        sqlx::query_as("SELECT field_values FROM applications WHERE id = $1")
            .bind(id.parse::<i64>().unwrap())
            .fetch_one(&app.db().pool)
            .await
            .unwrap();
    assert!(!stored.contains(&huge[..100]), "nothing oversized stored");
    // Within the limit it saves.
    let r = a
        .post(
            &path,
            &[
                ("action", "autosave"),
                ("version", &v),
                ("comment", "Коротко"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    let creates: Vec<_> = (0..40)
        .map(|_| {
            let mut tab = a.clone();
            tokio::spawn(async move {
                tab.post(
                    "/applications/new",
                    &[("kind", "tech_conditions"), ("new", "1")],
                )
                .await
            })
        })
        .collect();
    let mut refused = 0;
    for c in creates {
        let r = c.await.unwrap();
        match r.status {
            303 => {}
            422 => {
                assert!(r.has("У вас уже 20 черновиков"), "{}", r.body);
                refused += 1;
            }
            s => panic!("{s}: {}", r.body),
        }
    }
    assert_eq!(refused, 21, "one draft existed; 19 more fit");
    let (drafts,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM applications WHERE tenant_id = 'kazenergo' AND status = 'draft'",
    )
    .fetch_one(&app.db().pool)
    .await
    .unwrap();
    assert_eq!(drafts, 20);
    app.stop().await;
}

/// With a single database connection every action still answers: none
/// holds a transaction while it waits for a second connection (which would
/// never come). Stale autosave, submission, the office card's status,
/// assignment and number, an appeal's answer and a confirmed change of email.
#[tokio::test]
async fn one_database_connection_serves_every_action() {
    let app = TestApp::spawn_with(Setup {
        db_pool: Some(1),
        ..Setup::default()
    })
    .await;
    let (email, phone) = ("one@example.ru", "+79004000006");
    let mut a = kazenergo_legal(&app, email, phone).await;
    let (id, v) = draft(&mut a).await;
    let path = format!("/applications/{id}");
    let save = |v: String| {
        let mut a = a.clone();
        let path = path.clone();
        async move {
            a.post(
                &path,
                &[
                    ("action", "autosave"),
                    ("version", &v),
                    ("object_name", "Склад"),
                ],
            )
            .await
        }
    };
    let quick = Duration::from_secs(8);
    let r = tokio::time::timeout(quick, save(v.clone())).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let r = tokio::time::timeout(quick, save(v)).await.unwrap();
    assert_eq!(r.status, 409, "a stale copy: {}", r.body);
    let (sent, _) = tokio::time::timeout(quick, kazenergo_submit(&mut a, email, phone))
        .await
        .unwrap();
    // A legal entity's application waits for its signed original first.
    tapline_e2e::kazenergo_original_received(&app, &sent).await;

    let mut op = operator(&app, "kazenergo", "op1@kazenergo.ru").await;
    let card = format!("/office/applications/{sent}");
    for (action, fields) in [
        ("status", vec![("to", "accepted")]),
        ("assign", vec![("staff", "me")]),
        ("number", vec![("generate", "1"), ("replace", "1")]),
    ] {
        let r = tokio::time::timeout(quick, op.post(&format!("{card}/{action}"), &fields))
            .await
            .unwrap_or_else(|_| panic!("{action} hung"));
        assert_eq!(r.status, 303, "{action}: {}", r.body);
    }

    // An appeal answered by the office (the answer emails the applicant).
    let mut s = setevaya_applicant(&app, "ap1@example.ru", "+79004000007").await;
    s.get("/appeals").await;
    let r = s.post("/appeals/new", &[]).await;
    let appeal = r
        .location
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let path = format!("/appeals/{appeal}");
    let r = s
        .post_multipart(
            &path,
            &[
                ("topic", "Другое"),
                ("body", "Когда будут готовы ТУ?"),
                ("action", "send"),
            ],
            None,
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let mut sop = operator(&app, "setevaya", "op@setevaya.ru").await;
    let r = tokio::time::timeout(
        quick,
        sop.post(&format!("/office{path}/answer"), &[("answer", "Скоро.")]),
    )
    .await
    .expect("the answer hung");
    assert_eq!(r.status, 303, "{}", r.body);

    a.post(
        "/settings/email",
        &[
            ("new_email", "one-new@example.ru"),
            ("current_password", tapline_e2e::PASSWORD),
        ],
    )
    .await
    .assert_redirect("/settings?email_sent=1");
    let link = app.last_link("kazenergo", "one-new@example.ru").await;
    tokio::time::timeout(quick, a.get(&link))
        .await
        .unwrap()
        .assert_redirect("/settings?email_changed=1");
    app.stop().await;
}

/// `next-sequence` waiting on the database counts against the host, not
/// the plugin: a hook whose host call takes longer than the whole budget
/// still answers. A hook that draws a number and is then stopped gives the
/// number back, so refusals leave no gaps.
#[tokio::test]
async fn host_time_is_not_the_plugins_and_a_refused_hook_gives_its_number_back() {
    use tapline::plugin::{CallContext, PluginHost, Sequences, TenantPlugin, types};

    struct Slow {
        value: AtomicU64,
    }
    impl Sequences for Slow {
        fn next(&self, _: &str, _: &str) -> anyhow::Result<u64> {
            std::thread::sleep(Duration::from_millis(400));
            Ok(self.value.fetch_add(1, Ordering::SeqCst) + 1)
        }
        fn give_back(&self, _: &str, _: &str, value: u64) -> anyhow::Result<()> {
            let _ =
                self.value
                    .compare_exchange(value, value - 1, Ordering::SeqCst, Ordering::SeqCst);
            Ok(())
        }
    }
    let seq = Arc::new(Slow {
        value: AtomicU64::new(0),
    });
    let host = PluginHost::new(Default::default()).unwrap();
    let ctx = CallContext {
        tenant: "slowco".into(),
        settings: Arc::new(Default::default()),
        sequences: seq.clone(),
        timeout: Duration::from_millis(200),
        memory: 32 << 20,
        clock: None,
    };
    let hook = || {
        types::Hook::RegistrationNumber(types::Application {
            kind: "k".into(),
            status: "draft".into(),
            number: None,
            values: Default::default(),
            applicant: Default::default(),
            created_at: String::new(),
        })
    };
    let echo =
        TenantPlugin::load(host.clone(), tapline_e2e::wasm("test_echo"), ctx.clone()).unwrap();
    let out = echo.call_blocking(&hook()).map(|(o, _)| o);
    assert_eq!(out, Ok(types::HookOutput::Number(Some("N--1".into()))));

    let looping =
        TenantPlugin::load(host.clone(), tapline_e2e::wasm("test_loop"), ctx.clone()).unwrap();
    let err = looping.call_blocking(&hook()).map(|(o, _)| o).unwrap_err();
    assert!(
        matches!(err, tapline::plugin::PluginError::Timeout { .. }),
        "{err}"
    );
    assert_eq!(
        seq.value.load(Ordering::SeqCst),
        1,
        "the stopped hook's number is back"
    );
    let out = echo.call_blocking(&hook()).map(|(o, _)| o);
    assert_eq!(out, Ok(types::HookOutput::Number(Some("N--2".into()))));
}

/// Ten members of staff confirm «Заменить номер» and press «Сформировать»
/// at once: no number is replaced twice; whoever finds it changed under
/// them is told so instead of silently replacing it again.
#[tokio::test]
async fn ten_staff_replacing_one_number_never_replace_the_same_one_twice() {
    let app = TestApp::spawn().await;
    let (email, phone) = ("renum@example.ru", "+79004000011");
    let mut a = kazenergo_legal(&app, email, phone).await;
    let (id, _) = kazenergo_submit(&mut a, email, phone).await;
    let op = operator(&app, "kazenergo", "renum@kazenergo.ru").await;
    // A clone per tab shares the sign-in.
    let path = format!("/office/applications/{id}/number");
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let mut op = op.clone();
            let path = path.clone();
            tokio::spawn(async move {
                op.post(&path, &[("generate", "1"), ("replace", "1")])
                    .await
                    .status
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert!(
        statuses.iter().all(|s| *s == 303 || *s == 422),
        "{statuses:?}"
    );
    let replaced = statuses.iter().filter(|s| **s == 303).count();
    assert!(replaced >= 1, "{statuses:?}");
    // Each replacement started from the number its card showed: no two
    // replaced the same old number (without the check, ten did).
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT data FROM application_events WHERE application_id = $1 AND kind = 'number'",
    )
    .bind(id.parse::<i64>().unwrap())
    .fetch_all(&app.db().pool)
    .await
    .unwrap();
    let olds: Vec<String> = rows
        .iter()
        .map(|(d,)| {
            let v: serde_json::Value = serde_json::from_str(d).unwrap();
            let note = v["note"].as_str().unwrap().to_string();
            note.split(" → ").next().unwrap().to_string()
        })
        .collect();
    let mut unique = olds.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(olds.len(), unique.len(), "{olds:?}");
    app.stop().await;
}

#[path = "load/bench_form.rs"]
mod bench_form;

/// A draft of the bench tenant's one kind: its id and version.
async fn bench_draft(b: &mut Browser) -> (String, String) {
    let r = b
        .post("/applications/new", &[("kind", "connection"), ("new", "1")])
        .await;
    let id = tapline_e2e::id_of(r.location.as_deref().unwrap());
    let v = b.follow(&r).await.hidden("version").unwrap();
    (id, v)
}

async fn bench_numbers(app: &TestApp) -> Vec<String> {
    sqlx::query_as::<_, (String,)>(
        "SELECT number FROM applications WHERE tenant_id = 'bench' AND number IS NOT NULL ORDER BY number",
    )
    .fetch_all(&app.db().pool)
    .await
    .unwrap()
    .into_iter()
    .map(|(n,)| n)
    .collect()
}

/// The bench tenant (no plugin), and an applicant signed in to it.
async fn bench_applicant(app: &TestApp) -> Browser {
    let mut b = app.browser("bench");
    b.get("/register?type=individual").await;
    let r = b
        .post(
            "/register",
            &[
                ("type", "individual"),
                ("password", "Parol-12345"),
                ("password2", "Parol-12345"),
                ("consent", "on"),
                ("full_name", "Нагрузкин Иван"),
                ("email", "bench@example.ru"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    b.refresh_csrf().await;
    b
}

async fn bench_app() -> TestApp {
    TestApp::spawn_with(Setup {
        tenants: tapline_e2e::repo().join("tests/load/tenants"),
        ..Setup::default()
    })
    .await
}

/// The kinds of an application's history, oldest first.
async fn history_kinds(app: &TestApp, id: &str) -> Vec<String> {
    history(app, id).await.into_iter().map(|(k, _)| k).collect()
}

async fn history(app: &TestApp, id: &str) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT kind, created_at FROM application_events WHERE application_id = $1 ORDER BY id",
    )
    .bind(id.parse::<i64>().unwrap())
    .fetch_all(&app.db().pool)
    .await
    .unwrap()
}

/// Whether the last save and the sending were written by one statement
/// (one timestamp, to the microsecond), not by a save before the sending.
async fn saved_with_the_sending(app: &TestApp, id: &str) -> bool {
    let h = history(app, id).await;
    match h.as_slice() {
        [.., (saved, a), (sent, b)] => saved == "saved" && sent == "submitted" && a == b,
        _ => false,
    }
}

/// Without a plugin the sending is one write transaction, and its own
/// version-checked update is the claim: ten tabs sending one draft at once
/// still send it once, draw one number, and every tab is told it was sent.
#[tokio::test]
async fn ten_tabs_sending_one_draft_without_a_plugin_send_it_once() {
    let app = bench_app().await;
    let mut b = bench_applicant(&app).await;
    let (id, v) = bench_draft(&mut b).await;
    let path = format!("/applications/{id}");
    let tabs: Vec<_> = (0..10)
        .map(|_| {
            let mut tab = b.clone();
            let (path, v) = (path.clone(), v.clone());
            tokio::spawn(async move {
                let mut fields = vec![("action", "submit"), ("version", v.as_str())];
                fields.extend(bench_form::FIELDS);
                tab.post(&path, &fields).await
            })
        })
        .collect();
    for t in tabs {
        let r = t.await.unwrap();
        assert_eq!(r.status, 303, "{}", r.body);
        assert_eq!(
            r.location.as_deref(),
            Some(format!("/t/bench{path}?submitted=1").as_str()),
            "every tab is told it was sent"
        );
    }
    assert_eq!(
        history_kinds(&app, &id).await,
        ["created", "saved", "submitted"],
        "one sending, its values kept with it"
    );
    assert!(saved_with_the_sending(&app, &id).await, "one transaction");
    assert_eq!(bench_numbers(&app).await, ["000001"]);
    let (drawn,): (i64,) = sqlx::query_as(
        "SELECT value FROM sequences WHERE tenant_id = 'bench' AND name = 'applications'",
    )
    .fetch_one(&app.db().pool)
    .await
    .unwrap();
    assert_eq!(drawn, 1, "the tabs that lost drew nothing that stayed");
    // The message was rendered before the number was drawn: it carries
    // the number, once, and nothing of the placeholder.
    let sent = status_messages(&app).await;
    assert_eq!(sent.len(), 1, "one notice for one sending: {sent:?}");
    let (subject, body) = &sent[0];
    assert!(
        subject.contains("000001") && body.contains("000001"),
        "{sent:?}"
    );
    assert!(!format!("{subject}{body}").contains('\u{E000}'), "{sent:?}");
    app.stop().await;
}

/// The status notices queued on the bench tenant: subject and text.
async fn status_messages(app: &TestApp) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT subject, body_text FROM outbox WHERE tenant_id = 'bench' \
         AND template = 'application_status' ORDER BY id",
    )
    .fetch_all(&app.db().pool)
    .await
    .unwrap()
}

/// Without a plugin nothing is saved before the checks, so a refused
/// sending saves what was typed itself: the error sits beside its field,
/// the values are stored at a new version, and the form comes back at that
/// version, so sending it again goes through.
#[tokio::test]
async fn a_refused_sending_without_a_plugin_keeps_what_was_typed() {
    let app = bench_app().await;
    let mut b = bench_applicant(&app).await;
    let (id, v) = bench_draft(&mut b).await;
    let path = format!("/applications/{id}");
    let mut fields = vec![("action", "submit"), ("version", v.as_str())];
    fields.extend(
        bench_form::FIELDS
            .iter()
            .map(|&(k, val)| (k, if k == "object_address" { "" } else { val })),
    );
    let r = b.post(&path, &fields).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.field_error("object_address").is_some(), "{}", r.body);
    let (stored, version): (String, i64) =
        sqlx::query_as("SELECT field_values, version FROM applications WHERE id = $1")
            .bind(id.parse::<i64>().unwrap())
            .fetch_one(&app.db().pool)
            .await
            .unwrap();
    assert!(stored.contains("Выписка из ЕГРН"), "{stored}");
    assert_eq!(version, v.parse::<i64>().unwrap() + 1);
    assert_eq!(r.hidden("version"), Some(version.to_string()));
    assert_eq!(history_kinds(&app, &id).await, ["created", "saved"]);
    assert!(bench_numbers(&app).await.is_empty(), "nothing sent");

    let again = version.to_string();
    let mut fields = vec![("action", "submit"), ("version", again.as_str())];
    fields.extend(bench_form::FIELDS);
    let r = b.post(&path, &fields).await;
    assert!(
        r.location
            .as_deref()
            .unwrap_or("")
            .ends_with("?submitted=1"),
        "{} {}",
        r.status,
        r.body
    );
    assert_eq!(
        history_kinds(&app, &id).await,
        ["created", "saved", "saved", "submitted"]
    );
    assert!(saved_with_the_sending(&app, &id).await, "one transaction");
    app.stop().await;
}

/// A tenant whose plugin gives no numbers (the bench tenant has none) draws
/// its own in each sending's transaction: forty drafts sent at once get
/// the forty numbers in a row, none twice and none skipped, and a number
/// staff typed by hand is stepped over.
#[tokio::test]
async fn the_hosts_own_numbers_are_drawn_once_each_in_the_sending() {
    let app = bench_app().await;
    let mut b = bench_applicant(&app).await;
    let mut drafts = Vec::new();
    for _ in 0..40 {
        drafts.push(bench_draft(&mut b).await);
    }
    let sends: Vec<_> = drafts
        .into_iter()
        .map(|(id, v)| {
            let mut tab = b.clone();
            tokio::spawn(async move {
                let mut fields = vec![("action", "submit"), ("version", v.as_str())];
                fields.extend(bench_form::FIELDS);
                tab.post(&format!("/applications/{id}"), &fields).await
            })
        })
        .collect();
    for s in sends {
        let r = s.await.unwrap();
        assert!(
            r.location
                .as_deref()
                .is_some_and(|l| l.ends_with("?submitted=1")),
            "{} {:?}",
            r.status,
            r.location
        );
    }
    let expected: Vec<String> = (1..=40).map(|n| format!("{n:06}")).collect();
    assert_eq!(bench_numbers(&app).await, expected);
    // Each notice names its own application's number.
    let mut noticed: Vec<String> = status_messages(&app)
        .await
        .into_iter()
        .map(|(subject, _)| subject.chars().filter(char::is_ascii_digit).collect())
        .collect();
    noticed.sort();
    assert_eq!(noticed, expected);

    // Staff give one of them the next number by hand.
    sqlx::query(
        "UPDATE applications SET number = '000041' WHERE tenant_id = 'bench' AND number = '000040'",
    )
    .execute(&app.db().pool)
    .await
    .unwrap();
    let (id, v) = bench_draft(&mut b).await;
    let mut fields = vec![("action", "submit"), ("version", v.as_str())];
    fields.extend(bench_form::FIELDS);
    let r = b.post(&format!("/applications/{id}"), &fields).await;
    assert!(r.location.as_deref().unwrap().ends_with("?submitted=1"));
    let numbers = bench_numbers(&app).await;
    assert!(
        numbers.contains(&"000042".to_string()) && numbers.len() == 41,
        "the hand-typed 000041 is skipped: {numbers:?}"
    );
    app.stop().await;
}
