//! One-time secrets: emailed links and SMS codes. Both are stored hashed,
//! bound to tenant, account and purpose, short-lived and single-use; SMS
//! codes also allow only a few attempts and a resend after a cooldown.

use crate::store::{Db, now, now_ts, parse_ts, sha256_hex, ts};

pub const LINK_LIFETIME: time::Duration = time::Duration::hours(24);
/// How long after an emailed link another one is not sent: the first is
/// on its way, and a mailbox full of links confuses more than it helps.
pub const LINK_COOLDOWN: time::Duration = time::Duration::minutes(5);
pub const RESET_LIFETIME: time::Duration = time::Duration::hours(1);
pub const CODE_LIFETIME: time::Duration = time::Duration::minutes(10);
pub const CODE_COOLDOWN: time::Duration = time::Duration::seconds(60);
pub const CODE_ATTEMPTS: i64 = 5;

pub mod purpose {
    pub const CONFIRM_EMAIL: &str = "confirm_email";
    pub const RESET_PASSWORD: &str = "reset_password";
    pub const CHANGE_EMAIL: &str = "change_email";
    pub const CONFIRM_PHONE: &str = "confirm_phone";
    pub const CHANGE_PHONE: &str = "change_phone";
}

/// Create an emailed link token; earlier unused links of the same purpose
/// die, except email confirmations: each of those names the address it
/// confirms, and a person who got two emails may open either, so a link
/// already delivered keeps working until it expires.
pub async fn issue_link(
    tx: &mut sqlx::AnyConnection,
    tenant: &str,
    account: i64,
    purpose: &str,
    payload: Option<&str>,
    life: time::Duration,
) -> Result<String, sqlx::Error> {
    let now = now_ts();
    if purpose != purpose::CONFIRM_EMAIL {
        kill_links(&mut *tx, tenant, account, purpose).await?;
    }
    let token = crate::security::random_token();
    sqlx::query(
        "INSERT INTO tokens (tenant_id, account_id, purpose, token_hash, payload, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(tenant)
    .bind(account)
    .bind(purpose)
    .bind(sha256_hex(&token))
    .bind(payload)
    .bind(&now)
    .bind(ts(crate::store::now() + life))
    .execute(&mut *tx)
    .await?;
    Ok(token)
}

/// Spend every unused link of `purpose` the account has.
pub async fn kill_links(
    tx: &mut sqlx::AnyConnection,
    tenant: &str,
    account: i64,
    purpose: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE tokens SET used_at = $1 WHERE tenant_id = $2 AND account_id = $3 AND purpose = $4 AND used_at IS NULL",
    )
    .bind(now_ts())
    .bind(tenant)
    .bind(account)
    .bind(purpose)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Whether a link of `purpose` went to the account less than `cooldown` ago
/// and is still unused: then the email with it is on its way or already
/// there, and another one would only crowd the mailbox.
pub async fn link_sent_recently(
    db: &Db,
    tenant: &str,
    account: i64,
    purpose: &str,
    cooldown: time::Duration,
) -> Result<bool, sqlx::Error> {
    let row: Option<(i64,)> = sqlx::query_as(
        "SELECT id FROM tokens WHERE tenant_id = $1 AND account_id = $2 AND purpose = $3 \
         AND used_at IS NULL AND created_at > $4 LIMIT 1",
    )
    .bind(tenant)
    .bind(account)
    .bind(purpose)
    .bind(ts(now() - cooldown))
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.is_some())
}

#[derive(Debug, PartialEq, Eq)]
pub enum LinkState {
    /// (account id, payload)
    Valid(i64, Option<String>),
    /// Used, expired or never issued: the page says so and offers a new one.
    Invalid,
}

/// Spend a link token atomically.
pub async fn use_link(
    tx: &mut sqlx::AnyConnection,
    tenant: &str,
    purpose: &str,
    token: &str,
) -> Result<LinkState, sqlx::Error> {
    let now = now_ts();
    let row: Option<(i64, Option<String>)> = sqlx::query_as(
        "UPDATE tokens SET used_at = $1 WHERE tenant_id = $2 AND purpose = $3 AND token_hash = $4 \
         AND used_at IS NULL AND expires_at > $1 RETURNING account_id, payload",
    )
    .bind(&now)
    .bind(tenant)
    .bind(purpose)
    .bind(sha256_hex(token))
    .fetch_optional(&mut *tx)
    .await?;
    Ok(match row {
        Some((a, p)) => LinkState::Valid(a, p),
        None => LinkState::Invalid,
    })
}

/// Whether a link token is live, without spending it (to show a form).
pub async fn peek_link(
    db: &Db,
    tenant: &str,
    purpose: &str,
    token: &str,
) -> Result<bool, sqlx::Error> {
    let row: Option<(i64,)> = sqlx::query_as(
        "SELECT account_id FROM tokens WHERE tenant_id = $1 AND purpose = $2 AND token_hash = $3 \
         AND used_at IS NULL AND expires_at > $4",
    )
    .bind(tenant)
    .bind(purpose)
    .bind(sha256_hex(token))
    .bind(now_ts())
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.is_some())
}

fn code_hash(tenant: &str, account: i64, purpose: &str, phone: &str, code: &str) -> String {
    sha256_hex(&format!("{tenant}\n{account}\n{purpose}\n{phone}\n{code}"))
}

/// Seconds until a new code may be sent, if the cooldown is running.
pub async fn cooldown_left(
    db: &Db,
    tenant: &str,
    account: i64,
    purpose: &str,
) -> Result<Option<i64>, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT created_at FROM sms_codes WHERE tenant_id = $1 AND account_id = $2 AND purpose = $3 \
         ORDER BY id DESC LIMIT 1",
    )
    .bind(tenant)
    .bind(account)
    .bind(purpose)
    .fetch_optional(&db.pool)
    .await?;
    let left = row
        .and_then(|(c,)| parse_ts(&c))
        .map(|c| (c + CODE_COOLDOWN - now()).whole_seconds())
        .filter(|s| *s > 0);
    Ok(left)
}

/// Create a 6-digit code for `phone`; earlier codes of the purpose die.
pub async fn issue_code(
    tx: &mut sqlx::AnyConnection,
    tenant: &str,
    account: i64,
    purpose: &str,
    phone: &str,
) -> Result<String, sqlx::Error> {
    let now = now_ts();
    sqlx::query(
        "UPDATE sms_codes SET used_at = $1 WHERE tenant_id = $2 AND account_id = $3 AND purpose = $4 AND used_at IS NULL",
    )
    .bind(&now)
    .bind(tenant)
    .bind(account)
    .bind(purpose)
    .execute(&mut *tx)
    .await?;
    let code = crate::security::random_digits(6);
    sqlx::query(
        "INSERT INTO sms_codes (tenant_id, account_id, purpose, phone, code_hash, attempts, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, 0, $6, $7)",
    )
    .bind(tenant)
    .bind(account)
    .bind(purpose)
    .bind(phone)
    .bind(code_hash(tenant, account, purpose, phone, &code))
    .bind(&now)
    .bind(ts(crate::store::now() + CODE_LIFETIME))
    .execute(&mut *tx)
    .await?;
    Ok(code)
}

#[derive(Debug, PartialEq, Eq)]
pub enum CodeCheck {
    /// The code was right; the phone it was sent to.
    Ok(String),
    Wrong {
        attempts_left: i64,
    },
    /// No live code: never sent, expired, used or out of attempts.
    NoCode,
}

/// Check `input` against the account's live code of `purpose`.
pub async fn check_code(
    db: &Db,
    tenant: &str,
    account: i64,
    purpose: &str,
    input: &str,
) -> Result<CodeCheck, sqlx::Error> {
    let now = now_ts();
    // The attempt is counted before the code is compared, in the statement
    // that reads it: parallel guesses cannot all read the same count, so a
    // code is compared at most CODE_ATTEMPTS times.
    let row: Option<(i64, String, String, i64)> = sqlx::query_as(
        "UPDATE sms_codes SET attempts = attempts + 1 WHERE id = (SELECT id FROM sms_codes \
         WHERE tenant_id = $1 AND account_id = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $4 \
         ORDER BY id DESC LIMIT 1) AND used_at IS NULL AND attempts < $5 \
         RETURNING id, phone, code_hash, attempts",
    )
    .bind(tenant)
    .bind(account)
    .bind(purpose)
    .bind(&now)
    .bind(CODE_ATTEMPTS)
    .fetch_optional(&db.pool)
    .await?;
    let Some((id, phone, hash, attempts)) = row else {
        return Ok(CodeCheck::NoCode);
    };
    let input: String = input.chars().filter(|c| c.is_ascii_digit()).collect();
    let ok = {
        use subtle::ConstantTimeEq;
        let want = code_hash(tenant, account, purpose, &phone, &input);
        bool::from(want.as_bytes().ct_eq(hash.as_bytes()))
    };
    if ok {
        // Spend it only if nobody spent it meanwhile.
        let res =
            sqlx::query("UPDATE sms_codes SET used_at = $1 WHERE id = $2 AND used_at IS NULL")
                .bind(&now)
                .bind(id)
                .execute(&db.pool)
                .await?;
        return Ok(if res.rows_affected() == 1 {
            CodeCheck::Ok(phone)
        } else {
            CodeCheck::NoCode
        });
    }
    let left = CODE_ATTEMPTS - attempts;
    Ok(if left > 0 {
        CodeCheck::Wrong {
            attempts_left: left,
        }
    } else {
        CodeCheck::NoCode
    })
}
