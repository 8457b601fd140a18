//! Plugins end to end: the demo tenants' rules through the host's single
//! hook API, validate-profile on the registration and profile forms, hot
//! reload, and misbehaving plugins that must not take anything else down.

use std::collections::BTreeMap;
use std::time::Duration;
use tapline::plugin::types::{Application, Hook, HookOutput, Profile, Transition, Webhook};
use tapline_e2e::{Setup, TestApp, logged, register, tenants_copy, wasm};

fn app_with(values: &[(&str, &str)], applicant_type: &str) -> Application {
    Application {
        kind: "connection".into(),
        status: "draft".into(),
        values: values
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        applicant: Profile {
            applicant_type: applicant_type.into(),
            fields: BTreeMap::new(),
        },
        created_at: "2026-11-23T10:00:00Z".into(),
        ..Application::default()
    }
}

async fn call(app: &TestApp, tenant: &str, hook: Hook) -> HookOutput {
    app.running
        .as_ref()
        .unwrap()
        .state
        .plugins
        .call(tenant, hook)
        .await
        .unwrap()
        .expect("the tenant has a plugin")
}

#[tokio::test]
async fn setevaya_fee_category_number_and_transition_rules() {
    let app = TestApp::spawn().await;
    let a = app_with(
        &[
            ("power_kw", "120"),
            ("line_length_m", "40"),
            ("metering_points", "2"),
        ],
        "legal",
    );

    // base(15–150 kW) 45 000 + 1 850 × 40 m + 24 500 × 2 points, in kopecks.
    let HookOutput::Fee(Some(fee)) = call(&app, "setevaya", Hook::CalculateFee(a.clone())).await
    else {
        panic!("a fee")
    };
    assert_eq!(fee.currency, "RUB");
    assert_eq!(
        fee.lines.iter().map(|l| l.amount).collect::<Vec<_>>(),
        vec![4_500_000, 7_400_000, 4_900_000]
    );
    assert_eq!(fee.total, 16_800_000);
    assert!(fee.lines[0].title.contains("свыше 15 до 150 кВт"));

    // Numbers come from the tenant's sequence in the database: never twice.
    let n1 = call(&app, "setevaya", Hook::RegistrationNumber(a.clone())).await;
    let n2 = call(&app, "setevaya", Hook::RegistrationNumber(a.clone())).await;
    let year = &tapline::store::now_ts()[..4];
    assert_eq!(n1, HookOutput::Number(Some(format!("ТП-{year}-000001"))));
    assert_eq!(n2, HookOutput::Number(Some(format!("ТП-{year}-000002"))));
    let (v,): (i64,) = sqlx::query_as("SELECT value FROM sequences WHERE tenant_id = 'setevaya'")
        .fetch_one(&app.db().pool)
        .await
        .unwrap();
    assert_eq!(v, 2);

    let HookOutput::Context(ctx) = call(
        &app,
        "setevaya",
        Hook::DocumentContext(a.clone(), "contract".into()),
    )
    .await
    else {
        panic!("a context")
    };
    assert_eq!(ctx["category"], "свыше 15 до 150 кВт включительно");

    // Above 670 kW a load schedule is needed before submitting.
    let big = app_with(&[("power_kw", "800")], "legal");
    let t = Transition {
        application: big,
        from: "draft".into(),
        to: "submitted".into(),
        actor: "applicant".into(),
    };
    let HookOutput::Refusal(Some(reason)) =
        call(&app, "setevaya", Hook::CheckTransition(t.clone())).await
    else {
        panic!("a refusal")
    };
    assert!(reason.contains("670"), "{reason}");
    let mut ok = t;
    ok.application
        .values
        .insert("load_schedule".into(), "график.pdf".into());
    assert_eq!(
        call(&app, "setevaya", Hook::CheckTransition(ok)).await,
        HookOutput::Refusal(None)
    );

    // A bad number is an error under its field.
    let bad = app_with(&[("power_kw", "много")], "individual");
    let HookOutput::Errors(e) = call(&app, "setevaya", Hook::ValidateApplication(bad)).await else {
        panic!()
    };
    assert_eq!(e[0].field, "power_kw");
    app.stop().await;
}

#[tokio::test]
async fn kvadra_numbers_per_city_and_kazenergo_cities_vodokanal_volumes() {
    let app = TestApp::spawn().await;
    let year = &tapline::store::now_ts()[..4];
    let num = |city: &str| {
        Hook::RegistrationNumber(app_with(
            &[("city", city), ("object_address", "ул. Мира, 1")],
            "individual",
        ))
    };
    assert_eq!(
        call(&app, "kvadra", num("Белгород")).await,
        HookOutput::Number(Some(format!("БЛГ-{year}-0001")))
    );
    assert_eq!(
        call(&app, "kvadra", num("Курск")).await,
        HookOutput::Number(Some(format!("КРС-{year}-0001")))
    );
    assert_eq!(
        call(&app, "kvadra", num("Белгород")).await,
        HookOutput::Number(Some(format!("БЛГ-{year}-0002")))
    );

    let outside = app_with(&[("city", "Москва"), ("load_gcal_h", "0.5")], "individual");
    let HookOutput::Errors(e) = call(&app, "kazenergo", Hook::ValidateApplication(outside)).await
    else {
        panic!()
    };
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].field, "city");
    assert!(e[0].message.contains("Казань"), "{}", e[0].message);
    let inside = app_with(&[("city", "Казань"), ("load_gcal_h", "0.5")], "individual");
    assert_eq!(
        call(&app, "kazenergo", Hook::ValidateApplication(inside)).await,
        HookOutput::Errors(vec![])
    );

    let water = app_with(
        &[
            ("supply_types", "cold_water,sewage"),
            ("water_m3_day", "2"),
            ("sewage_m3_day", ""),
        ],
        "individual",
    );
    let HookOutput::Errors(e) = call(&app, "vodokanal", Hook::ValidateApplication(water)).await
    else {
        panic!()
    };
    assert_eq!(
        e.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(),
        vec!["sewage_m3_day"]
    );
    let too_much = app_with(
        &[
            ("supply_types", "cold_water,sewage"),
            ("water_m3_day", "2"),
            ("sewage_m3_day", "3"),
        ],
        "individual",
    );
    let HookOutput::Errors(e) = call(&app, "vodokanal", Hook::ValidateApplication(too_much)).await
    else {
        panic!()
    };
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].field, "sewage_m3_day");
    app.stop().await;
}

#[tokio::test]
async fn almaty_plugin_checks_iin_and_bin() {
    let app = TestApp::spawn().await;
    let p = |t: &str, id: &str, v: &str| {
        Hook::ValidateProfile(Profile {
            applicant_type: t.into(),
            fields: [(id.to_string(), v.to_string())].into(),
        })
    };
    // A published valid BIN and a corrupted one.
    assert_eq!(
        call(&app, "almatyenergosbyt", p("legal", "bin", "050540004455")).await,
        HookOutput::Errors(vec![])
    );
    let HookOutput::Errors(e) =
        call(&app, "almatyenergosbyt", p("legal", "bin", "050540004456")).await
    else {
        panic!()
    };
    assert_eq!(e[0].field, "bin");
    app.stop().await;
}

#[tokio::test]
async fn host_imports_and_webhook_shaping_through_the_echo_plugin() {
    let echo = wasm("test_echo");
    let tenants = tenants_copy(&[("echoco", "kvadra", Some(&echo))]);
    let app = TestApp::spawn_with(Setup {
        tenants,
        ..Setup::default()
    })
    .await;
    let a = app_with(&[("n", "12.5")], "individual");
    let HookOutput::Context(ctx) =
        call(&app, "echoco", Hook::DocumentContext(a.clone(), "t".into())).await
    else {
        panic!()
    };
    assert!(
        ctx["now"].starts_with(&tapline::store::now_ts()[..10]),
        "{ctx:?}"
    );
    let w = Webhook {
        event: "submitted".into(),
        application: a.clone(),
        payload: r#"{"id":7}"#.into(),
    };
    let HookOutput::Payload(Some(p)) = call(&app, "echoco", Hook::ShapeWebhook(w)).await else {
        panic!()
    };
    let v: serde_json::Value = serde_json::from_str(&p).unwrap();
    assert_eq!(v["wrapped"]["id"], 7);
    assert_eq!(v["event"], "submitted");
    let HookOutput::Fee(Some(fee)) = call(&app, "echoco", Hook::CalculateFee(a.clone())).await
    else {
        panic!()
    };
    assert_eq!(fee.total, 1250);
    call(&app, "echoco", Hook::ValidateApplication(a)).await;
    assert!(
        !logged(&["echoco", "echo called"]).is_empty(),
        "plugin log reaches the host log with the tenant"
    );
    app.stop().await;
}

/// The registration form shows validate-profile's errors under their fields,
/// and a changed plugin file is picked up without a restart.
#[tokio::test]
async fn validate_profile_errors_sit_under_fields_and_plugins_reload_on_change() {
    let tenants = tenants_copy(&[("reloadco", "kvadra", Some(&wasm("test_echo")))]);
    let app = TestApp::spawn_with(Setup {
        tenants: tenants.clone(),
        ..Setup::default()
    })
    .await;
    let mut b = app.browser("reloadco");
    let fields = [
        ("email", "r@example.ru"),
        ("phone", "+79001230001"),
        ("surname", "bad"),
        ("first_name", "Иван"),
    ];
    let r = register(&mut b, "individual", &fields).await;
    assert_eq!(r.status, 422);
    assert_eq!(r.field_error("surname").as_deref(), Some("bad value"));
    assert_eq!(r.field_error("first_name"), None);

    // Swap in a plugin that traps: the next request sees the new file.
    std::fs::copy(wasm("test_trap"), tenants.join("reloadco/plugin.wasm")).unwrap();
    let r = register(&mut b, "individual", &fields).await;
    assert_eq!(r.status, 422);
    assert!(
        r.has("Проверка данных по правилам организации временно недоступна"),
        "{}",
        r.body
    );
    assert!(r.has("value=\"r@example.ru\""), "typed values come back");
    assert!(!logged(&["reloadco", "reloaded"]).is_empty());

    // And back to a good one: registration goes through.
    std::fs::copy(wasm("setevaya"), tenants.join("reloadco/plugin.wasm")).unwrap();
    let r = register(
        &mut b,
        "individual",
        &[
            ("surname", "Хороший"),
            ("email", "r@example.ru"),
            ("phone", "+79001230001"),
            ("first_name", "Иван"),
        ],
    )
    .await;
    r.assert_redirect("/t/reloadco/confirm-phone");
    app.stop().await;
}

/// One misbehaving plugin per case: the user gets a clear message, the log
/// says what happened, and another tenant keeps answering meanwhile.
async fn misbehaving(case: &str, slug: &str, log_needle: &str) {
    let tenants = tenants_copy(&[
        (slug, "kvadra", Some(&wasm(case))),
        ("goodco", "kazenergo", None),
    ]);
    let app = TestApp::spawn_with(Setup {
        tenants,
        ..Setup::default()
    })
    .await;
    let mut bad = app.browser(slug);
    let fields = [
        ("email", "x@example.ru"),
        ("phone", "+79001239999"),
        ("surname", "Петров"),
        ("first_name", "Пётр"),
    ];
    // The bad plugin is called a few times in a row; all the while the
    // other tenant is asked again and again, and answers each time.
    let done = std::sync::atomic::AtomicBool::new(false);
    let bad_fut = async {
        let mut last = None;
        for _ in 0..3 {
            last = Some(register(&mut bad, "individual", &fields).await);
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        last.unwrap()
    };
    let good = async {
        let mut g = app.browser("goodco");
        let (mut answered, mut slowest) = (0, Duration::ZERO);
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            let t = std::time::Instant::now();
            assert_eq!(g.get("/login").await.status, 200);
            slowest = slowest.max(t.elapsed());
            answered += 1;
        }
        (answered, slowest)
    };
    let (r, (answered, slowest)) = tokio::join!(bad_fut, good);
    // A spinning plugin runs for its whole budget three times over: the
    // other tenant must have answered meanwhile, none of it stuck behind.
    if case == "test_loop" {
        assert!(answered >= 2, "{answered} answers while the plugin spun");
    }
    assert!(slowest < Duration::from_secs(2), "{slowest:?}");
    assert_eq!(r.status, 422, "{}", r.body);
    let msg = r
        .body
        .contains("Проверка данных по правилам организации временно недоступна")
        || r.body.contains("Проверка данных сейчас не отвечает");
    assert!(msg, "{}", r.body);
    assert!(r.has("value=\"x@example.ru\""), "nothing typed is lost");
    let lines = logged(&[slug, log_needle]);
    assert!(
        !lines.is_empty(),
        "no log line with {slug} and {log_needle:?}"
    );
    // The same tenant still serves its other pages, and a second call fails the same clean way.
    assert_eq!(bad.get("/login").await.status, 200);
    let again = register(&mut bad, "individual", &fields).await;
    assert_eq!(again.status, 422);
    app.stop().await;
}

#[tokio::test]
async fn a_plugin_that_loops_forever_is_stopped() {
    misbehaving("test_loop", "loopco", "ran past its 200 ms budget").await;
}

#[tokio::test]
async fn a_plugin_that_grows_memory_without_bound_is_stopped() {
    misbehaving("test_memory", "memco", "needed more than 32 MiB").await;
}

#[tokio::test]
async fn a_plugin_that_traps_is_reported() {
    misbehaving("test_trap", "trapco", "trapped").await;
}

#[tokio::test]
async fn a_plugin_returning_malformed_data_is_refused() {
    misbehaving("test_malformed", "malco", "returned malformed data").await;
}

#[tokio::test]
async fn unknown_interface_versions_and_non_wasm_files_are_refused_at_load() {
    let future = tenants_copy(&[("futureco", "kvadra", Some(&wasm("test_future")))]);
    let host = tapline::plugin::PluginHost::new(Default::default()).unwrap();
    let reg = tapline::server::load_tenants(&future).unwrap();
    let seq = std::sync::Arc::new(tapline::plugin::MemorySequences::default());
    let Err(err) = tapline::plugin::load_all(&host, &reg, seq) else {
        panic!("a 9.0.0 plugin loaded")
    };
    let msg = err[0].to_string();
    assert!(
        msg.contains("futureco/tenant.toml:10: tenant.plugin:"),
        "{msg}"
    );
    assert!(
        msg.contains("built for plugin interface 9.0.0; this host runs 1.0.0"),
        "{msg}"
    );

    // A text file named .wasm, and the server refuses to start on it.
    let garbage = tenants_copy(&[("junkco", "kvadra", None)]);
    std::fs::write(
        garbage.join("junkco/plugin.wasm"),
        "this is not WebAssembly",
    )
    .unwrap();
    let dir = garbage.parent().unwrap().to_path_buf();
    let opts = tapline::server::Options {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: tapline_e2e::database_url(&dir).await,
        tenants: garbage,
        data_dir: dir,
        ..tapline::server::Options::defaults()
    };
    let Err(e) = tapline::server::start(opts).await else {
        panic!("the server started on a garbage plugin")
    };
    assert!(format!("{e:#}").contains("not a WebAssembly file"), "{e:#}");
}

/// A running tenant whose plugin file is replaced by one for an unknown
/// interface version, then by a file that is not WebAssembly: each is
/// refused with a clear log line, the loaded version keeps serving, and
/// another tenant keeps answering.
#[tokio::test]
async fn a_bad_replacement_file_is_refused_and_the_loaded_plugin_keeps_serving() {
    let tenants = tenants_copy(&[
        ("swapco", "kvadra", Some(&wasm("test_echo"))),
        ("calmco", "kazenergo", None),
    ]);
    let app = TestApp::spawn_with(Setup {
        tenants: tenants.clone(),
        ..Setup::default()
    })
    .await;
    let bad_profile = || {
        Hook::ValidateProfile(Profile {
            applicant_type: "individual".into(),
            fields: [("surname".to_string(), "bad".to_string())].into(),
        })
    };
    let plugin = tenants.join("swapco/plugin.wasm");

    std::fs::copy(wasm("test_future"), &plugin).unwrap();
    let HookOutput::Errors(e) = call(&app, "swapco", bad_profile()).await else {
        panic!()
    };
    assert_eq!(e[0].message, "bad value", "the echo plugin still answers");
    assert!(
        !logged(&[
            "swapco",
            "built for plugin interface 9.0.0",
            "previous version keeps serving"
        ])
        .is_empty()
    );

    std::fs::write(&plugin, b"\x00asm-not-really, just text").unwrap();
    let HookOutput::Errors(e) = call(&app, "swapco", bad_profile()).await else {
        panic!()
    };
    assert_eq!(e[0].message, "bad value");
    assert!(!logged(&["swapco", "not a WebAssembly file"]).is_empty());

    assert_eq!(app.browser("calmco").get("/login").await.status, 200);
    assert_eq!(app.browser("swapco").get("/register").await.status, 200);
    app.stop().await;
}
