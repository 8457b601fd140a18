//! A stand-in for SMSC.ru on loopback speaking its HTTP API: `POST
//! /sys/send.php` with `login`, `psw`, `phones`, `mes`, `fmt=3` and an
//! optional `sender`, answering JSON `{"id":…,"cnt":1}` or
//! `{"error":…,"error_code":…}` as the real service documents.
//! Numbers ending in `99` are "invalid" (error 7, permanent).

use axum::extract::{Form, State};
use axum::routing::post;
use axum::{Json, Router};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
pub struct FakeSmsc {
    pub url: String,
    pub requests: Arc<Mutex<Vec<HashMap<String, String>>>>,
}

impl FakeSmsc {
    pub async fn start() -> FakeSmsc {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/sys/send.php", listener.local_addr().unwrap());
        let fake = FakeSmsc {
            url,
            requests: Arc::default(),
        };
        let app = Router::new()
            .route("/sys/send.php", post(send))
            .with_state(fake.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        fake
    }

    pub fn requests(&self) -> Vec<HashMap<String, String>> {
        self.requests.lock().unwrap().clone()
    }
}

async fn send(
    State(f): State<FakeSmsc>,
    Form(form): Form<HashMap<String, String>>,
) -> Json<serde_json::Value> {
    let phones = form.get("phones").cloned().unwrap_or_default();
    let mut reqs = f.requests.lock().unwrap();
    reqs.push(form.clone());
    if form.get("login").map(String::as_str) != Some("tapline")
        || form.get("psw").map(String::as_str) != Some("s3cret")
    {
        return Json(serde_json::json!({"error": "authorise error", "error_code": 2}));
    }
    if form.get("fmt").map(String::as_str) != Some("3") {
        return Json(serde_json::json!({"error": "parameters error", "error_code": 1}));
    }
    if phones.ends_with("99") {
        return Json(serde_json::json!({"error": "invalid number", "error_code": 7}));
    }
    Json(serde_json::json!({"id": reqs.len(), "cnt": 1}))
}
