//! Login sessions stored in the database. The cookie holds a random token;
//! the table holds only its SHA-256, scoped to the tenant, so a cookie of
//! one tenant is worthless at another.

use crate::store::{Db, now, now_ts, sha256_hex, ts};

/// Lifetime of a session without "remember me" (and its idle cookie).
pub const SHORT: time::Duration = time::Duration::hours(12);
/// Lifetime with "remember me".
pub const LONG: time::Duration = time::Duration::days(30);

pub async fn create(
    db: &Db,
    tenant: &str,
    account: i64,
    remember: bool,
    ip: &str,
    user_agent: &str,
) -> Result<String, sqlx::Error> {
    create_on(&db.pool, tenant, account, remember, ip, user_agent).await
}

/// [`create`] on a given connection or transaction.
pub async fn create_on<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(
    ex: E,
    tenant: &str,
    account: i64,
    remember: bool,
    ip: &str,
    user_agent: &str,
) -> Result<String, sqlx::Error> {
    let token = crate::security::random_token();
    let life = if remember { LONG } else { SHORT };
    sqlx::query(
        "INSERT INTO sessions (tenant_id, account_id, token_hash, created_at, expires_at, ip, user_agent) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(tenant)
    .bind(account)
    .bind(sha256_hex(&token))
    .bind(now_ts())
    .bind(ts(now() + life))
    .bind(ip)
    .bind(user_agent.chars().take(300).collect::<String>())
    .execute(ex)
    .await?;
    Ok(token)
}

/// The account of a live session of this tenant, in one statement: every
/// signed-in page asks it first.
pub async fn account(
    db: &Db,
    tenant: &str,
    token: &str,
) -> Result<Option<super::Account>, sqlx::Error> {
    let sql = format!(
        "SELECT {} FROM sessions s JOIN accounts a ON a.id = s.account_id AND a.tenant_id = s.tenant_id \
         WHERE s.tenant_id = $1 AND s.token_hash = $2 AND s.expires_at > $3",
        super::COLUMNS_OF_A
    );
    let row: Option<super::Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tenant)
        .bind(sha256_hex(token))
        .bind(now_ts())
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.map(super::from_row))
}

pub async fn delete(db: &Db, tenant: &str, token: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM sessions WHERE tenant_id = $1 AND token_hash = $2")
        .bind(tenant)
        .bind(sha256_hex(token))
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// End every session of the account but `keep` (after a password change or reset).
pub async fn delete_others(
    db: &Db,
    tenant: &str,
    account: i64,
    keep: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM sessions WHERE tenant_id = $1 AND account_id = $2 AND token_hash <> $3",
    )
    .bind(tenant)
    .bind(account)
    .bind(keep.map(sha256_hex).unwrap_or_default())
    .execute(&db.pool)
    .await?;
    Ok(())
}
