//! The outbox worker: leases due rows so that two processes never hold the
//! same message, delivers them, and records the outcome with retries and
//! exponential backoff.

use super::sms::{SmsError, SmsGateway, SmsOutcome};
use crate::store::{Batch, Db, now, now_ts, ts};
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Notify, watch};

/// After this many failed attempts a message is marked `failed`.
pub const MAX_ATTEMPTS: i64 = 8;
const LEASE: time::Duration = time::Duration::minutes(2);
const BATCH: i64 = 20;

pub enum EmailTransport {
    /// Keep emails in the local outbox (development default).
    Dev,
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

/// Everything the worker needs to deliver.
pub struct Delivery {
    pub email: EmailTransport,
    pub sms: Arc<dyn SmsGateway>,
    /// `From:` when the tenant names none.
    pub default_from: Mailbox,
    /// tenant slug → (From mailbox, SMS sender)
    pub senders: std::collections::HashMap<String, (Option<Mailbox>, Option<String>)>,
}

enum Outcome {
    Sent,
    Dev,
    Retry(String),
    Fail(String),
}

/// The longest a delivery's outcome waits to be written with the next ones.
const FLUSH: Duration = Duration::from_millis(200);
/// A delivery that took this long went to a remote server: its outcome is
/// written at once.
const SLOW: Duration = Duration::from_millis(20);

/// How long a wake waits for the messages queued right after it.
const GATHER: Duration = Duration::from_millis(50);

/// Run until `stop` is notified; wakes early when `wake` is notified.
pub async fn run(
    db: Db,
    delivery: Arc<Delivery>,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let owner = crate::security::random_token();
    loop {
        if *stop.borrow() {
            break;
        }
        match tick(&db, &delivery, &owner).await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "outbox worker: database error"),
        }
        tokio::select! {
            _ = wake.notified() => {
                // A wake comes with each message queued; under load many
                // come at once, and one batch leases them all with one
                // write instead of one write each.
                tokio::time::sleep(GATHER).await;
            }
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Lease and deliver one batch; returns how many rows were handled.
pub async fn tick(db: &Db, d: &Delivery, owner: &str) -> Result<usize, sqlx::Error> {
    let now_s = now_ts();
    let until = ts(now() + LEASE);
    // The outer conditions repeat the inner ones so that on PostgreSQL a
    // row leased meanwhile by another process is re-checked and skipped.
    sqlx::query(
        "UPDATE outbox SET lease_owner = $1, lease_until = $2 \
         WHERE id IN (SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= $3 \
                      AND (lease_until IS NULL OR lease_until < $3) ORDER BY id LIMIT $4) \
         AND status = 'pending' AND (lease_until IS NULL OR lease_until < $3)",
    )
    .bind(owner)
    .bind(&until)
    .bind(&now_s)
    .bind(BATCH)
    .execute(&db.pool)
    .await?;
    type R = (i64, String, String, String, Option<String>, String, i64);
    let rows: Vec<R> = sqlx::query_as(
        "SELECT id, tenant_id, channel, recipient, subject, body_text, attempts FROM outbox \
         WHERE lease_owner = $1 AND lease_until = $2 AND status = 'pending' ORDER BY id",
    )
    .bind(owner)
    .bind(&until)
    .fetch_all(&db.pool)
    .await?;
    let n = rows.len();
    // Quick deliveries' outcomes are written together, at most FLUSH after
    // the first of them: a write each cost a round trip under SQLite's
    // write lock per message. A crash in between sends those messages
    // again, as a crash between a delivery and its write always could. A
    // slow delivery (a remote server) is written at once, as is whatever
    // waits with it.
    let mut marks = Batch::new();
    let mut first = None;
    for (id, tenant, channel, to, subject, body, attempts) in rows {
        let started = Instant::now();
        let outcome = deliver(d, &tenant, &channel, &to, subject.as_deref(), &body).await;
        let slow = started.elapsed() >= SLOW;
        let attempts = attempts + 1;
        let now_s = now_ts();
        let (status, next, err) = match outcome {
            Outcome::Sent => ("sent", now_s.clone(), None),
            Outcome::Dev => ("dev", now_s.clone(), None),
            Outcome::Retry(e) if attempts < MAX_ATTEMPTS => {
                let backoff = 10i64.saturating_mul(1 << attempts.min(12)).min(3600);
                (
                    "pending",
                    ts(now() + time::Duration::seconds(backoff)),
                    Some(e),
                )
            }
            Outcome::Retry(e) | Outcome::Fail(e) => ("failed", now_s.clone(), Some(e)),
        };
        match &err {
            Some(e) => {
                tracing::warn!(tenant = %tenant, outbox_id = id, channel = %channel, attempts, status, error = %e, "delivery failed")
            }
            None => {
                tracing::info!(tenant = %tenant, outbox_id = id, channel = %channel, to = %mask(&to), status, "delivered")
            }
        }
        marks.push(
            "UPDATE outbox SET status = $1, attempts = $2, next_attempt_at = $3, last_error = $4, \
             sent_at = CASE WHEN $1 IN ('sent', 'dev') THEN $5 ELSE NULL END, \
             lease_owner = NULL, lease_until = NULL WHERE id = $6 AND lease_owner = $7",
            vec![
                status.into(),
                attempts.into(),
                next.into(),
                err.into(),
                now_s.into(),
                id.into(),
                owner.into(),
            ],
        );
        if slow || first.get_or_insert(started).elapsed() >= FLUSH {
            write_outcomes(db, std::mem::take(&mut marks)).await?;
            first = None;
        }
    }
    write_outcomes(db, marks).await?;
    Ok(n)
}

/// Writes delivery outcomes, trying once more where the write fails (the
/// database busy past its timeout, say): an outcome not written sends its
/// message again when the lease runs out.
async fn write_outcomes(db: &Db, marks: Batch) -> Result<(), sqlx::Error> {
    if marks.is_empty() {
        return Ok(());
    }
    if let Err(e) = db.write(marks.clone()).await {
        tracing::warn!(error = %e, "delivery outcomes not written; trying again");
        tokio::time::sleep(Duration::from_millis(200)).await;
        db.write(marks).await?;
    }
    Ok(())
}

async fn deliver(
    d: &Delivery,
    tenant: &str,
    channel: &str,
    to: &str,
    subject: Option<&str>,
    body: &str,
) -> Outcome {
    let (from, sender) = d.senders.get(tenant).cloned().unwrap_or((None, None));
    match channel {
        "email" => {
            let EmailTransport::Smtp(smtp) = &d.email else {
                return Outcome::Dev;
            };
            let to: Mailbox = match to.parse() {
                Ok(m) => m,
                Err(e) => return Outcome::Fail(format!("bad recipient: {e}")),
            };
            let msg = Message::builder()
                .from(from.unwrap_or_else(|| d.default_from.clone()))
                .to(to)
                .subject(subject.unwrap_or(""))
                .header(lettre::message::header::ContentType::TEXT_PLAIN)
                .body(body.to_string());
            let msg = match msg {
                Ok(m) => m,
                Err(e) => return Outcome::Fail(format!("cannot build message: {e}")),
            };
            match smtp.send(msg).await {
                Ok(_) => Outcome::Sent,
                Err(e) if e.is_permanent() => Outcome::Fail(format!("smtp: {e}")),
                Err(e) => Outcome::Retry(format!("smtp: {e}")),
            }
        }
        "sms" => match d.sms.send(to, body, sender.as_deref()).await {
            Ok(SmsOutcome::Sent(_)) => Outcome::Sent,
            Ok(SmsOutcome::Dev) => Outcome::Dev,
            Err(SmsError::Temporary(e)) => Outcome::Retry(e),
            Err(SmsError::Permanent(e)) => Outcome::Fail(e),
        },
        other => Outcome::Fail(format!("unknown channel {other}")),
    }
}

/// Recipients appear in logs masked: enough to tell two apart, not to harvest.
pub fn mask(to: &str) -> String {
    let n = to.chars().count();
    to.chars()
        .enumerate()
        .map(|(i, c)| {
            if i < 2 || i + 3 >= n || c == '@' {
                c
            } else {
                '*'
            }
        })
        .collect()
}
