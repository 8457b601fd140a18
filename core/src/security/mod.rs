//! Cross-cutting protections: random secrets, the CSRF key, database-backed
//! rate limits (shared by every process of a deployment) and the captcha.

pub mod captcha;

use crate::store::{Db, now_ts};
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use std::time::Duration;

/// 256 random bits, URL-safe: session cookies, emailed links, captcha ids.
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// A numeric code of `n` digits, uniform (rejection-free via `random_range`).
pub fn random_digits(n: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect()
}

/// The deployment's CSRF key. Stored in the database so that every
/// `tapline` process behind a load balancer accepts the others' tokens.
#[derive(Clone)]
pub struct CsrfKey([u8; 32]);

impl std::fmt::Debug for CsrfKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CsrfKey(..)")
    }
}

impl CsrfKey {
    pub async fn load_or_create(db: &Db) -> Result<CsrfKey, sqlx::Error> {
        let fresh = hex::encode({
            let mut b = [0u8; 32];
            rand::rng().fill_bytes(&mut b);
            b
        });
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ('csrf_key', $1) ON CONFLICT (key) DO NOTHING",
        )
        .bind(&fresh)
        .execute(&db.pool)
        .await?;
        let stored: (String,) = sqlx::query_as("SELECT value FROM settings WHERE key = 'csrf_key'")
            .fetch_one(&db.pool)
            .await?;
        let mut key = [0u8; 32];
        hex::decode_to_slice(&stored.0, &mut key).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        Ok(CsrfKey(key))
    }

    fn mac(&self, parts: &[&str]) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("any key length works");
        for p in parts {
            // Length-prefixed, so no two lists of parts hash alike.
            mac.update(&(p.len() as u64).to_be_bytes());
            mac.update(p.as_bytes());
        }
        mac.finalize().into_bytes().into()
    }

    /// A new CSRF cookie value: random, signed by this deployment.
    pub fn new_cookie(&self) -> String {
        let r = random_token();
        let sig = hex::encode(self.mac(&["csrf-cookie", &r]));
        format!("{r}.{sig}")
    }

    /// Whether a CSRF cookie value was issued by this deployment. A value a
    /// sibling subdomain made up is not, and gets replaced.
    pub fn is_our_cookie(&self, cookie: &str) -> bool {
        use subtle::ConstantTimeEq;
        let Some((r, sig)) = cookie.split_once('.') else {
            return false;
        };
        let want = hex::encode(self.mac(&["csrf-cookie", r]));
        !r.is_empty() && want.as_bytes().ct_eq(sig.as_bytes()).into()
    }

    /// The form token for a browser: an HMAC over its CSRF cookie, the
    /// tenant and the browser's session cookies. A sibling subdomain can
    /// plant a CSRF cookie (even a genuine one it fetched for itself, with
    /// its token), but it cannot know the victim's HttpOnly session, so the
    /// token it holds does not fit the victim's requests.
    pub fn token_for(&self, tenant: &str, cookie: &str, sessions: &[Option<&str>]) -> String {
        let mut parts = vec!["csrf-token", tenant, cookie];
        for s in sessions {
            parts.push(s.unwrap_or(""));
        }
        hex::encode(self.mac(&parts))
    }

    pub fn verify(
        &self,
        tenant: &str,
        cookie: &str,
        sessions: &[Option<&str>],
        token: &str,
    ) -> bool {
        use subtle::ConstantTimeEq;
        let want = self.token_for(tenant, cookie, sessions);
        !cookie.is_empty() && want.as_bytes().ct_eq(token.as_bytes()).into()
    }
}

/// Count one event against `key` in the current fixed window and say
/// whether the count is still within `limit`.
pub async fn hit(db: &Db, key: &str, window: Duration, limit: i64) -> Result<bool, sqlx::Error> {
    let (n,): (i64,) = sqlx::query_as(
        "INSERT INTO rate_limits (key, window_start, count) VALUES ($1, $2, 1) \
         ON CONFLICT (key, window_start) DO UPDATE SET count = rate_limits.count + 1 \
         RETURNING count",
    )
    .bind(key)
    .bind(window_start(window))
    .fetch_one(&db.pool)
    .await?;
    Ok(n <= limit)
}

/// One attempt counted in advance against a limit: see [`reserve`].
#[derive(Debug)]
pub struct Attempt {
    key: String,
    window_start: i64,
}

/// Count one attempt against `key` before the check it guards runs, if the
/// window still has room for it. Counting first, in one statement, is what
/// keeps parallel requests from all reading a count below the limit and all
/// checking a password: at most `limit` checks run per window. `None` when
/// the limit is reached (nothing is counted then).
pub async fn reserve(
    db: &Db,
    key: &str,
    window: Duration,
    limit: i64,
) -> Result<Option<Attempt>, sqlx::Error> {
    let start = window_start(window);
    let row: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO rate_limits (key, window_start, count) VALUES ($1, $2, 1) \
         ON CONFLICT (key, window_start) DO UPDATE SET count = rate_limits.count + 1 \
         WHERE rate_limits.count < $3 RETURNING count",
    )
    .bind(key)
    .bind(start)
    .bind(limit)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.filter(|(n,)| *n <= limit).map(|_| Attempt {
        key: key.to_string(),
        window_start: start,
    }))
}

/// Give back a reserved attempt that succeeded: only failures count.
pub async fn release(db: &Db, a: Attempt) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE rate_limits SET count = count - 1 WHERE key = $1 AND window_start = $2 AND count > 0",
    )
    .bind(&a.key)
    .bind(a.window_start)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// How many events `key` has in the current window, without counting one.
pub async fn count(db: &Db, key: &str, window: Duration) -> Result<i64, sqlx::Error> {
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT count FROM rate_limits WHERE key = $1 AND window_start = $2")
            .bind(key)
            .bind(window_start(window))
            .fetch_optional(&db.pool)
            .await?;
    Ok(row.map(|r| r.0).unwrap_or(0))
}

fn window_start(window: Duration) -> i64 {
    let now = crate::store::now().unix_timestamp();
    let w = window.as_secs().max(1) as i64;
    now - now.rem_euclid(w)
}

/// Drop counters and one-time secrets that can no longer matter.
pub async fn sweep(db: &Db) -> Result<(), sqlx::Error> {
    let day_ago = crate::store::now().unix_timestamp() - 2 * 86_400;
    sqlx::query("DELETE FROM rate_limits WHERE window_start < $1")
        .bind(day_ago)
        .execute(&db.pool)
        .await?;
    let now = now_ts();
    sqlx::query("DELETE FROM captchas WHERE expires_at < $1")
        .bind(&now)
        .execute(&db.pool)
        .await?;
    sqlx::query("DELETE FROM sessions WHERE expires_at < $1")
        .bind(&now)
        .execute(&db.pool)
        .await?;
    Ok(())
}
