//! SMS gateways. [`SmsGateway`] is what the outbox worker sends through;
//! [`Smsc`] speaks the HTTP API of SMSC.ru (`/sys/send.php`, JSON replies
//! with `fmt=3`), and [`DevOutbox`] keeps messages in the local outbox for
//! `tapline outbox` to show.

use std::future::Future;
use std::pin::Pin;

#[derive(Debug, PartialEq, Eq)]
pub enum SmsOutcome {
    /// Accepted by the provider, with its message id.
    Sent(String),
    /// Kept in the local outbox (development).
    Dev,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SmsError {
    /// Worth trying again later (network, rate limit, balance).
    #[error("temporary: {0}")]
    Temporary(String),
    /// Will never go through (bad number, forbidden text, bad credentials).
    #[error("permanent: {0}")]
    Permanent(String),
}

pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<SmsOutcome, SmsError>> + Send + 'a>>;

pub trait SmsGateway: Send + Sync {
    fn send<'a>(&'a self, phone: &'a str, text: &'a str, sender: Option<&'a str>)
    -> SendFuture<'a>;
}

#[derive(Debug, Default)]
pub struct DevOutbox;

impl SmsGateway for DevOutbox {
    fn send<'a>(&'a self, _: &'a str, _: &'a str, _: Option<&'a str>) -> SendFuture<'a> {
        Box::pin(async { Ok(SmsOutcome::Dev) })
    }
}

/// SMSC.ru over HTTP(S).
#[derive(Debug, Clone)]
pub struct Smsc {
    pub url: String,
    pub login: String,
    pub password: String,
    pub client: reqwest::Client,
}

impl Smsc {
    pub fn new(url: String, login: String, password: String) -> Smsc {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(15))
            .build()
            .expect("a plain HTTP client builds");
        Smsc {
            url,
            login,
            password,
            client,
        }
    }
}

#[derive(serde::Deserialize)]
struct SmscReply {
    id: Option<serde_json::Value>,
    error: Option<String>,
    error_code: Option<i64>,
}

impl SmsGateway for Smsc {
    fn send<'a>(
        &'a self,
        phone: &'a str,
        text: &'a str,
        sender: Option<&'a str>,
    ) -> SendFuture<'a> {
        Box::pin(async move {
            let phone = phone.trim_start_matches('+');
            let mut form = vec![
                ("login", self.login.as_str()),
                ("psw", self.password.as_str()),
                ("phones", phone),
                ("mes", text),
                ("fmt", "3"),
                ("charset", "utf-8"),
            ];
            if let Some(s) = sender {
                form.push(("sender", s));
            }
            let resp = self
                .client
                .post(&self.url)
                .form(&form)
                .send()
                .await
                .map_err(|e| SmsError::Temporary(format!("request failed: {e}")))?;
            if !resp.status().is_success() {
                return Err(SmsError::Temporary(format!("HTTP {}", resp.status())));
            }
            let reply: SmscReply = resp
                .json()
                .await
                .map_err(|e| SmsError::Temporary(format!("unreadable reply: {e}")))?;
            match (reply.error_code, reply.id) {
                (None, Some(id)) => Ok(SmsOutcome::Sent(id.to_string())),
                // 3: no money, 4: IP blocked for a while, 9: too many requests.
                (Some(c @ (3 | 4 | 9)), _) => Err(SmsError::Temporary(format!(
                    "smsc error {c}: {}",
                    reply.error.unwrap_or_default()
                ))),
                (Some(c), _) => Err(SmsError::Permanent(format!(
                    "smsc error {c}: {}",
                    reply.error.unwrap_or_default()
                ))),
                (None, None) => Err(SmsError::Temporary("reply without id".into())),
            }
        })
    }
}
