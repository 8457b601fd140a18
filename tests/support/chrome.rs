//! Headless Chromium through chromedriver, shared by the browser tests:
//! start the driver, open a window (a phone's, with touch, where asked),
//! fill and send forms, wait for a page or for a script's condition.

use fantoccini::{Client, ClientBuilder, Locator};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Driver {
    child: Child,
    pub port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// chromedriver on a free port, or `None` (a note on stderr) where it is
/// not installed. Under CI its absence fails the test.
pub fn chromedriver() -> Option<Driver> {
    let bin = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    let Some(bin) = bin else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs chromium-driver (apt-get install chromium chromium-driver)"
        );
        eprintln!("chromedriver not installed: browser test not run");
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(bin)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    Some(Driver { child, port })
}

/// A headless window `width` × `height` CSS pixels with its own profile.
pub async fn connect(port: u16, profile: &std::path::Path, width: u32, height: u32) -> Client {
    open(port, profile, width, height, false).await
}

/// As [`connect`]; with `phone`, Chromium emulates a phone's screen and
/// touch at that size.
pub async fn open(
    port: u16,
    profile: &std::path::Path,
    width: u32,
    height: u32,
    phone: bool,
) -> Client {
    let mut caps = serde_json::Map::new();
    let mut options = serde_json::json!({
        "binary": "/usr/bin/chromium",
        "args": [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.display()),
        ]
    });
    if phone {
        options["mobileEmulation"] = serde_json::json!({
            "deviceMetrics": { "width": width, "height": height, "pixelRatio": 3.0, "touch": true },
        });
    }
    caps.insert("goog:chromeOptions".into(), options);
    // chromedriver takes a moment to listen.
    for _ in 0..50 {
        match ClientBuilder::native()
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(c) => return c,
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    panic!("could not open a WebDriver session with chromedriver");
}

/// Wait for the next page to show `what`; on timeout, say what it shows
/// instead. Any WebDriver error counts as "not yet": mid-navigation, Chrome
/// answers with errors other than "no such element".
pub async fn arrive(c: &Client, what: Locator<'_>) -> fantoccini::elements::Element {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        match c.find(what).await {
            Ok(el) => return el,
            Err(e) if std::time::Instant::now() > deadline => panic!(
                "page did not show {what:?}: {e}\nat {:?}\n{}",
                c.current_url().await.map(|u| u.to_string()),
                text(c).await
            ),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Run `script` in the page and return its value.
pub async fn js(c: &Client, script: &str) -> serde_json::Value {
    c.execute(script, vec![]).await.unwrap()
}

/// Wait until `script` returns true; on timeout, show the page.
pub async fn until(c: &Client, script: &str, what: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while js(c, script).await != serde_json::Value::Bool(true) {
        assert!(
            std::time::Instant::now() < deadline,
            "{what} did not happen\n{}",
            text(c).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Type `value` into the element with this id, replacing what it held.
pub async fn fill(c: &Client, id: &str, value: &str) {
    let el = c
        .find(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("#{id}: {e}"));
    el.clear().await.unwrap();
    el.send_keys(value).await.unwrap();
}

/// Press the submit button of the form whose action ends so.
pub async fn submit(c: &Client, form_action_suffix: &str) {
    let css = format!("form[action$='{form_action_suffix}'] button[type=submit]");
    c.find(Locator::Css(&css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// The page's text, for failure messages.
pub async fn text(c: &Client) -> String {
    match c.find(Locator::Css("body")).await {
        Ok(body) => body.text().await.unwrap_or_default(),
        // Between pages there may be no body yet: show the source instead.
        Err(_) => c.source().await.unwrap_or_default(),
    }
}

/// Sign in at `base` (a tenant's portal) with the test password.
pub async fn login(c: &Client, base: &str, identifier: &str) {
    c.goto(&format!("{base}/login")).await.unwrap();
    fill(c, "f-identifier", identifier).await;
    fill(c, "f-password", crate::PASSWORD).await;
    submit(c, "/login").await;
    arrive(c, Locator::Css("[data-testid=user-box]")).await;
}
