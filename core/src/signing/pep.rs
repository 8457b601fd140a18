//! The simple electronic signature (ПЭП) by SMS code, for applicants the
//! tenant lets sign that way (seeds 002 and 003, individuals). A code goes
//! to the phone confirmed at registration and is bound to the person, the
//! document's SHA-256 and the purpose; it is stored hashed, lives ten
//! minutes, allows five attempts and is resent after a minute at the
//! soonest. The signature's record keeps who signed which document (its
//! hash) when, the phone, the text sent and every attempt (time, address,
//! browser). Russian law (63-FZ art. 9) wants the person's agreement to
//! sign this way: its acceptance is recorded by version before the first
//! code goes.

use super::{Document, NewSignature, Side, SignError, Signer, Turn};
use crate::account::Account;
use crate::application::Application;
use crate::notify::NotifyError;
use crate::store::{Db, now, now_ts, parse_ts, sha256_hex, ts};
use crate::tenant::Tenant;
use crate::tenant::config::Scheme;
use crate::workflow::Recipient;

pub const CODE_LIFETIME: time::Duration = time::Duration::minutes(10);
pub const CODE_COOLDOWN: time::Duration = time::Duration::seconds(60);
pub const CODE_ATTEMPTS: i64 = 5;
pub const CODES_PER_DAY: usize = 10;
const PURPOSE: &str = "sign_document";

#[derive(Debug, thiserror::Error)]
pub enum PepError {
    /// The applicant's type does not sign by SMS at this tenant.
    #[error("not a pep signer")]
    NotPep,
    /// No confirmed phone to send the code to.
    #[error("no confirmed phone")]
    NoPhone,
    /// The agreement on simple signatures is not accepted (in its current version).
    #[error("agreement not accepted")]
    NoAgreement,
    /// A code went less than a minute ago.
    #[error("cooldown")]
    Cooldown(i64),
    /// The day's codes for the document are spent.
    #[error("too many codes")]
    TooMany,
    #[error("wrong code")]
    Wrong { attempts_left: i64 },
    /// No live code: never sent, expired, used or out of attempts.
    #[error("no code")]
    NoCode,
    #[error(transparent)]
    Sign(#[from] SignError),
    #[error(transparent)]
    Notify(#[from] NotifyError),
}

impl From<sqlx::Error> for PepError {
    fn from(e: sqlx::Error) -> Self {
        PepError::Sign(SignError::Db(e))
    }
}

impl PepError {
    /// The words beside the code field.
    pub fn message(&self) -> String {
        match self {
            PepError::NotPep => "Этот документ подписывается электронной подписью, а не кодом из SMS.".into(),
            PepError::NoPhone => "Подтвердите номер телефона в профиле: код для подписи приходит на него.".into(),
            PepError::NoAgreement => "Чтобы подписывать кодом из SMS, примите соглашение об использовании простой электронной подписи.".into(),
            PepError::Cooldown(s) => format!("Код уже отправлен. Новый можно запросить через {s} с."),
            PepError::TooMany => "На сегодня коды для этого документа закончились. Попробуйте завтра или обратитесь в организацию.".into(),
            PepError::Wrong { attempts_left } => format!("Неверный код. Осталось попыток: {attempts_left}."),
            PepError::NoCode => "Код устарел или попытки закончились. Запросите новый код.".into(),
            PepError::Sign(e) => e.message(),
            PepError::Notify(_) => "Код не удалось отправить. Попробуйте ещё раз.".into(),
        }
    }
}

/// Whether the account signs `doc` by SMS code at this tenant.
pub fn applies(tenant: &Tenant, acc: &Account, doc: &Document) -> bool {
    super::scheme_of(tenant, acc, doc) == Some(Scheme::PepSms)
}

/// Whether the account accepted the tenant's current agreement.
pub async fn agreed(db: &Db, tenant: &Tenant, acc: &Account) -> Result<bool, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT accepted_at FROM pep_agreements WHERE tenant_id = $1 AND account_id = $2 AND version = $3",
    )
    .bind(&tenant.slug)
    .bind(acc.id)
    .bind(&tenant.config.signature.pep_agreement)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.is_some())
}

/// Records the acceptance of the current agreement (once per version).
pub async fn agree(
    db: &Db,
    tenant: &Tenant,
    acc: &Account,
    ip: &str,
    user_agent: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO pep_agreements (tenant_id, account_id, version, ip, user_agent, accepted_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
    )
    .bind(&tenant.slug)
    .bind(acc.id)
    .bind(&tenant.config.signature.pep_agreement)
    .bind(ip)
    .bind(user_agent)
    .bind(now_ts())
    .execute(&db.pool)
    .await?;
    Ok(())
}

fn code_hash(tenant: &str, account: i64, doc: &Document, phone: &str, code: &str) -> String {
    sha256_hex(&format!(
        "{tenant}\n{account}\n{}\n{}\n{PURPOSE}\n{phone}\n{code}",
        doc.id, doc.sha256
    ))
}

/// Seconds until another code for this document may go.
async fn cooldown_left(
    db: &Db,
    tenant: &str,
    acc: i64,
    doc: &Document,
) -> Result<Option<i64>, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT created_at FROM pep_codes WHERE tenant_id = $1 AND account_id = $2 AND file_id = $3 \
         ORDER BY id DESC LIMIT 1",
    )
    .bind(tenant)
    .bind(acc)
    .bind(doc.id)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row
        .and_then(|(c,)| parse_ts(&c))
        .map(|c| (c + CODE_COOLDOWN - now()).whole_seconds())
        .filter(|s| *s > 0))
}

/// What the applicant asks to sign and where from.
pub struct Asking<'a> {
    pub tenant: &'a Tenant,
    pub account: &'a Account,
    pub application: &'a Application,
    pub file: i64,
    pub ip: &'a str,
    pub user_agent: &'a str,
}

/// The document the applicant may sign now by SMS, or why not.
async fn open_document(db: &Db, s: &Asking<'_>) -> Result<Document, PepError> {
    let doc = super::document(db, &s.tenant.slug, s.application.id, s.file)
        .await?
        .ok_or(SignError::NotAsked)?;
    if !applies(s.tenant, s.account, &doc) {
        return Err(PepError::NotPep);
    }
    if !super::open_now(db, s.tenant, s.application, &doc).await? {
        return Err(SignError::NotAsked.into());
    }
    let existing = super::signatures_of(db, &s.tenant.slug, s.application.id).await?;
    match super::turn(&doc, Side::Applicant, &existing) {
        Turn::NotAsked => Err(SignError::NotAsked.into()),
        Turn::Waiting => Err(SignError::NotYet.into()),
        Turn::Signed => Err(SignError::AlreadySigned.into()),
        Turn::Open => Ok(doc),
    }
}

/// Sends a code for signing the document to the applicant's confirmed
/// phone. Forty presses at once send one SMS.
pub async fn send(db: &Db, s: Asking<'_>) -> Result<(), PepError> {
    let doc = open_document(db, &s).await?;
    let acc = s.account;
    let phone = match (&acc.phone, acc.phone_confirmed) {
        (Some(p), true) => p.clone(),
        _ => return Err(PepError::NoPhone),
    };
    if !agreed(db, s.tenant, acc).await? {
        return Err(PepError::NoAgreement);
    }
    let slug = &s.tenant.slug;
    if let Some(left) = cooldown_left(db, slug, acc.id, &doc).await? {
        return Err(PepError::Cooldown(left));
    }
    let code = crate::security::random_digits(6);
    let message = crate::notify::render_sms(
        s.tenant,
        "sign_code",
        minijinja::context! {
            code => &code,
            document => &doc.file_name,
            number => &s.application.number,
        },
    )?;
    let created = now_ts();
    let mut tx = db.begin().await?;
    // The document's row is locked first, so presses at once take turns;
    // each then sees the codes the earlier ones committed.
    sqlx::query("UPDATE application_files SET signing = signing WHERE tenant_id = $1 AND id = $2")
        .bind(slug)
        .bind(doc.id)
        .execute(&mut *tx)
        .await?;
    let recent: Vec<(String,)> = sqlx::query_as(
        "SELECT created_at FROM pep_codes WHERE tenant_id = $1 AND account_id = $2 AND file_id = $3 \
         AND created_at > $4 ORDER BY id DESC",
    )
    .bind(slug)
    .bind(acc.id)
    .bind(doc.id)
    .bind(ts(now() - time::Duration::days(1)))
    .fetch_all(&mut *tx)
    .await?;
    if let Some(left) = recent
        .first()
        .and_then(|(c,)| parse_ts(c))
        .map(|c| (c + CODE_COOLDOWN - now()).whole_seconds())
        .filter(|s| *s > 0)
    {
        return Err(PepError::Cooldown(left));
    }
    // Ten codes a day for one document: five guesses each is enough for a
    // person and too few for a guesser.
    if recent.len() >= CODES_PER_DAY {
        return Err(PepError::TooMany);
    }
    // Earlier codes for the document die: only the newest SMS counts.
    sqlx::query(
        "UPDATE pep_codes SET used_at = $1 WHERE tenant_id = $2 AND account_id = $3 AND file_id = $4 AND used_at IS NULL",
    )
    .bind(&created)
    .bind(slug)
    .bind(acc.id)
    .bind(doc.id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO pep_codes (tenant_id, account_id, application_id, file_id, sha256, purpose, phone, code_hash, \
         message, attempts, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10, $11)",
    )
    .bind(slug)
    .bind(acc.id)
    .bind(s.application.id)
    .bind(doc.id)
    .bind(&doc.sha256)
    .bind(PURPOSE)
    .bind(&phone)
    .bind(code_hash(slug, acc.id, &doc, &phone, &code))
    .bind(&message)
    .bind(&created)
    .bind(ts(now() + CODE_LIFETIME))
    .execute(&mut *tx)
    .await?;
    crate::notify::sms_text(&mut tx, s.tenant, &phone, "sign_code", &message).await?;
    tx.commit().await?;
    tracing::info!(tenant = %slug, application = s.application.id, file = doc.id, "signing code sent");
    Ok(())
}

/// Whether a code for the document is live (the page shows the code field).
pub async fn pending(db: &Db, tenant: &str, acc: i64, file: i64) -> Result<bool, sqlx::Error> {
    let row: Option<(i64,)> = sqlx::query_as(
        "SELECT id FROM pep_codes WHERE tenant_id = $1 AND account_id = $2 AND file_id = $3 \
         AND used_at IS NULL AND expires_at > $4 AND attempts < $5 LIMIT 1",
    )
    .bind(tenant)
    .bind(acc)
    .bind(file)
    .bind(now_ts())
    .bind(CODE_ATTEMPTS)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.is_some())
}

/// Signs the document with the code the applicant typed. Presses take
/// turns on the document's row; the attempt is counted in the statement
/// that reads the code, every attempt is kept, and the code is spent in the
/// transaction that records the signature: a code signs once.
pub async fn confirm(
    db: &Db,
    s: Asking<'_>,
    input: &str,
    recipient: &Recipient<'_>,
) -> Result<super::Signature, PepError> {
    let doc = open_document(db, &s).await?;
    let slug = &s.tenant.slug;
    let acc = s.account;
    let at = now_ts();
    let mut tx = db.begin().await?;
    // Presses at once take turns on the document's row: the one after a
    // success finds the code spent and the document signed.
    let asked = sqlx::query(
        "UPDATE application_files SET signing = signing WHERE tenant_id = $1 AND id = $2 AND signing IS NOT NULL",
    )
    .bind(slug)
    .bind(doc.id)
    .execute(&mut *tx)
    .await?;
    if asked.rows_affected() != 1 {
        return Err(SignError::NotAsked.into());
    }
    let row: Option<(i64, String, String, i64, String, String)> = sqlx::query_as(
        "UPDATE pep_codes SET attempts = attempts + 1 WHERE id = (SELECT id FROM pep_codes \
         WHERE tenant_id = $1 AND account_id = $2 AND file_id = $3 AND sha256 = $4 AND used_at IS NULL \
         AND expires_at > $5 ORDER BY id DESC LIMIT 1) AND used_at IS NULL AND attempts < $6 \
         RETURNING id, phone, code_hash, attempts, message, created_at",
    )
    .bind(slug)
    .bind(acc.id)
    .bind(doc.id)
    .bind(&doc.sha256)
    .bind(&at)
    .bind(CODE_ATTEMPTS)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((code_id, phone, hash, attempts, message, sent_at)) = row else {
        return Err(PepError::NoCode);
    };
    let input: String = input.chars().filter(|c| c.is_ascii_digit()).collect();
    let ok = {
        use subtle::ConstantTimeEq;
        let want = code_hash(slug, acc.id, &doc, &phone, &input);
        bool::from(want.as_bytes().ct_eq(hash.as_bytes()))
    };
    sqlx::query(
        "INSERT INTO pep_attempts (tenant_id, code_id, ok, ip, user_agent, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(slug)
    .bind(code_id)
    .bind(ok as i64)
    .bind(s.ip)
    .bind(s.user_agent)
    .bind(&at)
    .execute(&mut *tx)
    .await?;
    if !ok {
        // The attempt counts whatever happens next.
        tx.commit().await?;
        let left = CODE_ATTEMPTS - attempts;
        return Err(if left > 0 {
            PepError::Wrong {
                attempts_left: left,
            }
        } else {
            PepError::NoCode
        });
    }
    let badge = crate::account::badge(s.tenant, acc);
    sqlx::query("UPDATE pep_codes SET used_at = $1 WHERE id = $2")
        .bind(&at)
        .bind(code_id)
        .execute(&mut *tx)
        .await?;
    let tried: Vec<(i64, Option<String>, Option<String>, String)> = sqlx::query_as(
        "SELECT ok, ip, user_agent, created_at FROM pep_attempts WHERE tenant_id = $1 AND code_id = $2 ORDER BY id",
    )
    .bind(slug)
    .bind(code_id)
    .fetch_all(&mut *tx)
    .await?;
    let agreement: Option<(String,)> = sqlx::query_as(
        "SELECT accepted_at FROM pep_agreements WHERE tenant_id = $1 AND account_id = $2 AND version = $3",
    )
    .bind(slug)
    .bind(acc.id)
    .bind(&s.tenant.config.signature.pep_agreement)
    .fetch_optional(&mut *tx)
    .await?;
    // The record a simple signature is: who, what, when, how it was
    // confirmed. It stands in for a certificate's verdict.
    let verdict = serde_json::json!({
        "valid": true,
        "scheme": "pep_sms",
        "signer": {
            "account_id": acc.id,
            "name": &badge.name,
            "type": &badge.type_title,
            "ids": &badge.ids,
        },
        "document": { "file_id": doc.id, "name": &doc.file_name, "sha256": &doc.sha256 },
        "purpose": PURPOSE,
        "phone": &phone,
        "message": &message,
        "code_sent_at": &sent_at,
        "signed_at": &at,
        "attempts": tried.iter().map(|(ok, ip, ua, t)| serde_json::json!({
            "at": t, "ok": *ok != 0, "ip": ip, "user_agent": ua,
        })).collect::<Vec<_>>(),
        "agreement": {
            "version": &s.tenant.config.signature.pep_agreement,
            "accepted_at": agreement.map(|(t,)| t),
        },
    });
    let n = NewSignature {
        doc: &doc,
        side: Side::Applicant,
        scheme: Scheme::PepSms.id(),
        signer: Signer::Applicant(acc),
        name: badge.name.clone(),
        ids: badge.ids.clone(),
        serial: None,
        issuer: None,
        cms: None,
        verdict: verdict.to_string(),
        evidence: None,
        valid: true,
        reason: None,
    };
    let id = super::record_in(&mut tx, s.tenant, s.application, &n, recipient).await?;
    tx.commit().await?;
    Ok(super::recorded(db, s.tenant, s.application, &n, id).await?)
}
