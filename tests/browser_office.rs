//! The office in a real browser (headless Chromium through chromedriver):
//! what staff see on the first screen of a desktop and of a phone. Leaves
//! screenshots under `target/screenshots/`.
//!
//! Needs Debian's `chromium` and `chromium-driver`; see tests/browser.rs.

use fantoccini::{Client, Locator};
use serde_json::Value;
use tapline::office::{self, StaffRole};
use tapline_e2e::chrome::{arrive, chromedriver, connect, js};
use tapline_e2e::{TestApp, kazenergo_legal, kazenergo_submit, repo};

const STAFF_PASSWORD: &str = "office-pass-123";

/// Sign in at kazenergo's office through its form.
async fn sign_in(c: &Client, app: &TestApp, email: &str) {
    c.goto(&app.url("/t/kazenergo/office/login")).await.unwrap();
    let f = arrive(c, Locator::Id("f-email")).await;
    f.send_keys(email).await.unwrap();
    c.find(Locator::Id("f-password"))
        .await
        .unwrap()
        .send_keys(STAFF_PASSWORD)
        .await
        .unwrap();
    c.find(Locator::Css(
        "form[action$='/office/login'] button[type=submit]",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    arrive(c, Locator::Css("[data-testid=staff-box]")).await;
}

async fn shot(c: &Client, name: &str) {
    let dir = repo().join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), c.screenshot().await.unwrap()).unwrap();
}

/// Where the first application row ends, and the height of the viewport.
async fn first_row(c: &Client) -> (f64, f64) {
    arrive(c, Locator::Css("#queue tbody tr[data-id]")).await;
    let v = js(
        c,
        "const r = document.querySelector('#queue tbody tr[data-id]').getBoundingClientRect(); \
         return [r.bottom, window.innerHeight];",
    )
    .await;
    (v[0].as_f64().unwrap(), v[1].as_f64().unwrap())
}

/// Whether each label of `dl` shares its row with its value (a two-column
/// table) or sits above it (stacked).
async fn facts_layout(c: &Client, dl: &str) -> Vec<&'static str> {
    let v = js(
        c,
        &format!(
            "return [...document.querySelectorAll('{dl} > dt')].map(dt => {{ \
               const dd = dt.nextElementSibling; \
               const a = dt.getBoundingClientRect(), b = dd.getBoundingClientRect(); \
               if (Math.abs(a.top - b.top) < 2 && b.left >= a.right) return 'side'; \
               if (b.top >= a.bottom - 1 && Math.abs(a.left - b.left) < 2) return 'stacked'; \
               return 'other'; }});"
        ),
    )
    .await;
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| match s.as_str().unwrap() {
            "side" => "side",
            "stacked" => "stacked",
            _ => "other",
        })
        .collect()
}

#[tokio::test]
async fn staff_see_applications_on_the_first_screen_and_a_tidy_card_on_desktop_and_phone() {
    let Some(driver) = chromedriver() else { return };
    let app = TestApp::spawn().await;
    office::add_staff(
        app.db(),
        "kazenergo",
        "admin@kazenergo.ru",
        "Анна Админова",
        StaffRole::Admin,
        STAFF_PASSWORD,
        None,
    )
    .await
    .unwrap();
    let mut b = kazenergo_legal(&app, "org@example.ru", "+79001112233").await;
    let (id, _) = kazenergo_submit(&mut b, "org@example.ru", "+79001112233").await;

    let c = connect(driver.port, &app.dir.join("chromium-office"), 1280, 800).await;
    sign_in(&c, &app, "admin@kazenergo.ru").await;

    for (name, w, h) in [("desktop", 1280, 800), ("phone", 390, 844)] {
        c.set_window_size(w, h).await.unwrap();
        c.goto(&app.url("/t/kazenergo/office/")).await.unwrap();
        let (bottom, screen) = first_row(&c).await;
        shot(&c, &format!("office-queue-{name}.png")).await;
        assert!(
            bottom <= screen,
            "{name}: the first application ends at {bottom}px, below the first screen ({screen}px)"
        );
        // The filters are one click away, not gone.
        let open = js(&c, "return document.getElementById('filters').open").await;
        assert_eq!(open, Value::Bool(false), "{name}: filters folded");
        c.find(Locator::Css("#filters summary"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        assert_eq!(
            js(
                &c,
                "return document.getElementById('f-status').offsetHeight > 0"
            )
            .await,
            Value::Bool(true),
            "{name}: a click shows the filters"
        );
        // A filter in use keeps its panel open, and the row still shows.
        c.goto(&app.url("/t/kazenergo/office/?assignee=none"))
            .await
            .unwrap();
        first_row(&c).await;
        let open = js(&c, "return document.getElementById('filters').open").await;
        assert_eq!(
            open,
            Value::Bool(true),
            "{name}: an active filter shows its panel"
        );
        c.goto(&app.url(&format!("/t/kazenergo/office/applications/{id}")))
            .await
            .unwrap();
        arrive(&c, Locator::Id("applicant")).await;
        shot(&c, &format!("office-card-{name}.png")).await;
        let want = if name == "desktop" { "side" } else { "stacked" };
        for dl in ["#facts", "#applicant", "#fields", "#fee"] {
            let rows = facts_layout(&c, dl).await;
            assert!(!rows.is_empty(), "{name}: {dl} has facts");
            assert!(
                rows.iter().all(|r| *r == want),
                "{name}: {dl} should be {want}: {rows:?}"
            );
        }
    }
    c.close().await.unwrap();
    app.stop().await;
}
