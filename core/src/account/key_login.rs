//! Logging in with a key through NCALayer (seed 004): the server's
//! one-time challenge, the browser has it signed with the authentication
//! key, and the verified signer is the account: an organisation by its BIN
//! (signed by its head or a person with the right to sign), a sole
//! proprietor by their IIN; the account is made from the certificate on the
//! first login.
//!
//! A challenge is random, bound to the browser that asked for it (the
//! SHA-256 of its CSRF cookie), lives [`LIFETIME`] and is taken once, in the
//! same transaction that opens the session, so a signed challenge that
//! leaks is worth nothing.

use super::{Account, event, from_row, session};
use crate::security;
use crate::signing::{Purpose, Refusal};
use crate::store::{Db, now, now_ts, sha256_hex, ts};
use crate::tenant::Tenant;
use crate::tenant::config::{ApplicantType, HeaderRole};
use std::collections::BTreeMap;
use std::time::Duration;
use tapline_signature::identity::{Identity, KzRole};

/// How long a challenge may wait for its signature: enough to pick a key
/// and type its password in NCALayer.
pub const LIFETIME: time::Duration = time::Duration::minutes(10);
/// Attempts from one address per quarter of an hour.
const PER_ADDRESS: Duration = Duration::from_secs(900);

/// A new challenge for the browser with this CSRF cookie: the text to sign.
pub async fn challenge(db: &Db, tenant: &str, browser: &str) -> Result<String, sqlx::Error> {
    let text = format!(
        "Вход в личный кабинет {tenant}: {}",
        security::random_token()
    );
    sqlx::query("DELETE FROM key_challenges WHERE tenant_id = $1 AND expires_at < $2")
        .bind(tenant)
        .bind(ts(now() - time::Duration::days(1)))
        .execute(&db.pool)
        .await?;
    sqlx::query(
        "INSERT INTO key_challenges (tenant_id, nonce_hash, browser_hash, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(tenant)
    .bind(sha256_hex(&text))
    .bind(sha256_hex(browser))
    .bind(now_ts())
    .bind(ts(now() + LIFETIME))
    .execute(&db.pool)
    .await?;
    Ok(text)
}

/// One key login as the page posted it.
pub struct KeyLogIn<'a> {
    pub tenant: &'a Tenant,
    /// The challenge text the page was given, and its signature (base64
    /// CMS, detached).
    pub challenge: &'a str,
    pub signature: &'a str,
    /// The browser's CSRF cookie, which the challenge is bound to.
    pub browser: &'a str,
    pub ip: &'a str,
    pub user_agent: &'a str,
    pub old_session: Option<&'a str>,
    /// The time the signature is judged at (Unix seconds).
    pub at: u64,
}

/// Why nobody is logged in; [`Refused::message`] says it to the person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Nothing signed came.
    Empty,
    TooManyHere,
    /// No such challenge for this browser (another browser's, or made up).
    Unknown,
    Expired,
    /// Taken already: the signed challenge is being used again.
    Replayed,
    /// The signature does not hold; the engine's reason.
    Signature(Refusal),
    /// An organisation's key of someone who may not act for it.
    NotSignatory,
    /// The certificate names neither an organisation nor a person.
    NoIdentity,
    /// The portal has no applicant type for this kind of key.
    TypeNotServed,
}

impl Refused {
    pub fn code(&self) -> &'static str {
        match self {
            Refused::Empty => "empty",
            Refused::TooManyHere => "too_many",
            Refused::Unknown => "unknown_challenge",
            Refused::Expired => "expired_challenge",
            Refused::Replayed => "replayed_challenge",
            Refused::Signature(r) => r.code,
            Refused::NotSignatory => "not_signatory",
            Refused::NoIdentity => "no_identity",
            Refused::TypeNotServed => "type_not_served",
        }
    }

    pub fn message(&self) -> String {
        match self {
            Refused::Empty => "Подпись не получена: нажмите «Войти с ЭЦП» и выберите ключ в NCALayer.".into(),
            Refused::TooManyHere => "Слишком много попыток входа с вашего адреса. Попробуйте через 15 минут.".into(),
            Refused::Unknown => "Страница входа устарела. Обновите её и подпишите вход ещё раз.".into(),
            Refused::Expired => "Время на вход истекло. Обновите страницу и подпишите вход ещё раз.".into(),
            Refused::Replayed => "Эта подпись уже использована для входа. Обновите страницу и подпишите вход ещё раз.".into(),
            Refused::Signature(r) if matches!(r.code, "wrong_purpose" | "wrong_key_usage") => {
                "Этот ключ не подходит для входа: выберите в NCALayer ключ для аутентификации (файл AUTH_RSA… или AUTH_GOST…).".into()
            }
            Refused::Signature(r) if r.code == "untrusted_chain" => {
                "Ключ выдан удостоверяющим центром, которому портал не доверяет: войдите ключом, выданным НУЦ РК.".into()
            }
            Refused::Signature(r) => format!("Ключ не принят. {}", r.message),
            Refused::NotSignatory => "Ключ сотрудника не даёт права входить от имени организации: войдите ключом первого руководителя или лица с правом подписи.".into(),
            Refused::NoIdentity => "В сертификате нет ни БИН организации, ни ИИН: войдите ключом, выданным НУЦ РК.".into(),
            Refused::TypeNotServed => "Этот кабинет не обслуживает заявителей такого типа.".into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyLogInError {
    #[error("refused: {0:?}")]
    Refused(Refused),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Who a verified key speaks for: the account's type, its key in the
/// `login` column, and the profile the first login fills.
struct Holder {
    kind: ApplicantType,
    login: String,
    profile: BTreeMap<String, String>,
    /// The profile field holding the BIN or IIN, and the number.
    number: Option<(String, String)>,
}

/// The key login's use case: the challenge checked, the signature verified
/// with the tenant's trust, then in one transaction the challenge taken,
/// the account found or made, the session opened. The session token, the
/// account, and whether it was made now.
pub async fn log_in(db: &Db, l: KeyLogIn<'_>) -> Result<(String, Account, bool), KeyLogInError> {
    let refuse = |r| Err(KeyLogInError::Refused(r));
    let slug = l.tenant.slug.as_str();
    let signature = l.signature.trim();
    if signature.is_empty() || l.challenge.is_empty() {
        return refuse(Refused::Empty);
    }
    if !security::hit(db, &format!("keylogin:ip:{slug}:{}", l.ip), PER_ADDRESS, 50).await? {
        return refuse(Refused::TooManyHere);
    }
    let nonce = sha256_hex(l.challenge);
    let browser = sha256_hex(l.browser);
    // The cheap checks first: the engine runs only for a live challenge.
    if let Some(r) = challenge_state(db, slug, &nonce, &browser).await? {
        return refuse(r);
    }
    let checked = match crate::signing::check_cms(
        l.tenant,
        l.challenge.as_bytes(),
        signature.as_bytes(),
        Purpose::Authenticate,
        l.at,
    )
    .await
    {
        Ok(c) => c,
        Err(r) => return refuse(Refused::Signature(r)),
    };
    let verdict = checked.verdict;
    let id = verdict.signer.clone().unwrap_or_default();
    let holder = match holder(l.tenant, &id) {
        Ok(h) => h,
        Err(r) => return refuse(r),
    };

    let mut tx = db.begin().await?;
    let taken = sqlx::query(
        "UPDATE key_challenges SET used_at = $1 WHERE tenant_id = $2 AND nonce_hash = $3 \
         AND browser_hash = $4 AND used_at IS NULL AND expires_at > $1",
    )
    .bind(now_ts())
    .bind(slug)
    .bind(&nonce)
    .bind(&browser)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if taken != 1 {
        tx.rollback().await?;
        return refuse(Refused::Replayed);
    }
    let (account_id, created) = find_or_create(&mut tx, slug, &holder).await?;
    if let Some(old) = l.old_session {
        sqlx::query("DELETE FROM sessions WHERE tenant_id = $1 AND token_hash = $2")
            .bind(slug)
            .bind(sha256_hex(old))
            .execute(&mut *tx)
            .await?;
    }
    let token = session::create_on(&mut *tx, slug, account_id, false, l.ip, l.user_agent).await?;
    event(
        &mut *tx,
        slug,
        Some(account_id),
        "login",
        serde_json::json!({
            "by": "ncalayer",
            "certificate": verdict.serial,
            "issuer": verdict.issuer,
            "created": created,
        }),
        crate::store::Author::Applicant,
        Some(l.ip),
    )
    .await?;
    let acc = super::get_on(&mut *tx, slug, account_id)
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
    tx.commit().await?;
    tracing::info!(account_id, created, "logged in with a key");
    Ok((token, acc, created))
}

/// Why this browser's challenge cannot be used, if it cannot.
async fn challenge_state(
    db: &Db,
    tenant: &str,
    nonce: &str,
    browser: &str,
) -> Result<Option<Refused>, sqlx::Error> {
    let row: Option<(String, Option<String>)> = sqlx::query_as(
        "SELECT expires_at, used_at FROM key_challenges \
         WHERE tenant_id = $1 AND nonce_hash = $2 AND browser_hash = $3",
    )
    .bind(tenant)
    .bind(nonce)
    .bind(browser)
    .fetch_optional(&db.pool)
    .await?;
    Ok(match row {
        None => Some(Refused::Unknown),
        Some((_, Some(_))) => Some(Refused::Replayed),
        Some((expires, None)) if expires <= now_ts() => Some(Refused::Expired),
        Some(_) => None,
    })
}

/// Who the key speaks for, by the Kazakh roles of its certificate.
fn holder(tenant: &Tenant, id: &Identity) -> Result<Holder, Refused> {
    let person = id.person_name().unwrap_or_default();
    let (kind, login, name, number) = match (&id.bin, &id.iin) {
        (Some(bin), _) => {
            if !id
                .kz_roles
                .iter()
                .any(|r| matches!(r, KzRole::Head | KzRole::RightToSign))
            {
                return Err(Refused::NotSignatory);
            }
            let org = id.organisation.clone().unwrap_or_default();
            (
                ApplicantType::Legal,
                format!("bin:{bin}"),
                org,
                ("bin", bin),
            )
        }
        // Only a personal key (the individual role alone) is the person's own.
        (None, Some(iin)) if id.kz_roles == [KzRole::Individual] => (
            ApplicantType::Entrepreneur,
            format!("iin:{iin}"),
            format!("ИП {person}"),
            ("iin", iin),
        ),
        _ => return Err(Refused::NoIdentity),
    };
    if !tenant.applicant_types().contains(&kind) {
        return Err(Refused::TypeNotServed);
    }
    // The profile as far as the certificate tells it, into the tenant's own
    // fields: the number by its check, the name by its header role, the
    // head's name by the field the seed calls so.
    let mut profile = BTreeMap::new();
    let mut number_field = None;
    for f in tenant.fields_for(kind) {
        let id = f.id();
        let value = if f.validate() == Some(number.0) {
            number_field = Some((id.to_string(), number.1.clone()));
            number.1.clone()
        } else if f.header == Some(HeaderRole::Name) {
            name.clone()
        } else if id == "head_name" {
            person.clone()
        } else {
            continue;
        };
        if !value.is_empty() {
            profile.insert(id.to_string(), value);
        }
    }
    Ok(Holder {
        kind,
        login,
        profile,
        number: number_field,
    })
}

/// The account the key is, made on its first login. An account registered
/// with a password before (same type, same BIN or IIN in its profile, no
/// key yet) is taken over rather than doubled.
async fn find_or_create(
    tx: &mut sqlx::AnyConnection,
    tenant: &str,
    h: &Holder,
) -> Result<(i64, bool), sqlx::Error> {
    let found: Option<(i64,)> =
        sqlx::query_as("SELECT id FROM accounts WHERE tenant_id = $1 AND login = $2")
            .bind(tenant)
            .bind(&h.login)
            .fetch_optional(&mut *tx)
            .await?;
    if let Some((id,)) = found {
        return Ok((id, false));
    }
    let Some((field, number)) = &h.number else {
        return create(tx, tenant, h).await;
    };
    // The JSON of the profile as the accounts table stores it: a cheap
    // filter, each candidate then read and compared exactly.
    let pattern = format!("%\"{field}\":\"{number}\"%");
    let candidates: Vec<super::Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {} FROM accounts WHERE tenant_id = $1 AND applicant_type = $2 \
         AND login IS NULL AND profile LIKE $3 ORDER BY id",
        super::COLUMNS
    )))
    .bind(tenant)
    .bind(h.kind.id())
    .bind(&pattern)
    .fetch_all(&mut *tx)
    .await?;
    let earlier: Option<Account> = candidates
        .into_iter()
        .map(from_row)
        .find(|a| a.profile.get(field) == Some(number));
    if let Some(a) = earlier {
        sqlx::query(
            "UPDATE accounts SET login = $1, updated_at = $2 WHERE tenant_id = $3 AND id = $4",
        )
        .bind(&h.login)
        .bind(now_ts())
        .bind(tenant)
        .bind(a.id)
        .execute(&mut *tx)
        .await?;
        return Ok((a.id, false));
    }
    create(tx, tenant, h).await
}

async fn create(
    tx: &mut sqlx::AnyConnection,
    tenant: &str,
    h: &Holder,
) -> Result<(i64, bool), sqlx::Error> {
    // No password: this account opens only with its key. Two first logins
    // at once (two browsers, two challenges) make one account: the second
    // insert finds the key taken and reads the first one's row.
    let now = now_ts();
    let made: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO accounts (tenant_id, applicant_type, login, password_hash, profile, \
         created_at, updated_at) VALUES ($1, $2, $3, '', $4, $5, $5) \
         ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(tenant)
    .bind(h.kind.id())
    .bind(&h.login)
    .bind(serde_json::to_string(&h.profile).unwrap_or_else(|_| "{}".into()))
    .bind(&now)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some((id,)) = made {
        return Ok((id, true));
    }
    let (id,): (i64,) =
        sqlx::query_as("SELECT id FROM accounts WHERE tenant_id = $1 AND login = $2")
            .bind(tenant)
            .bind(&h.login)
            .fetch_one(&mut *tx)
            .await?;
    Ok((id, false))
}
