//! Signing in with a login identifier and a password, behind a lock that
//! counts failures per account, not per typed string.

use super::{Account, Key, find_by, normalize_email, normalize_phone, password};
use crate::security;
use crate::store::{Author, Db};
use crate::tenant::Tenant;
use crate::tenant::config::LoginBy;
use std::time::Duration;

/// Failed passwords allowed per account (or unknown identifier) in [`WINDOW`].
pub const FAILURES: i64 = 5;
pub const WINDOW: Duration = Duration::from_secs(900);
/// Sign-in attempts from one address are counted per quarter of an hour.
const PER_ADDRESS: Duration = Duration::from_secs(900);

#[derive(Debug)]
pub enum SignIn {
    Ok(Box<Account>),
    /// No such account or a wrong password: the same answer either way.
    Wrong,
    /// Too many failures lately; the password was not checked.
    Locked,
}

/// Which column a typed identifier is looked up in, and its stored form,
/// by the tenant's rules: "8 701 000-00-01", "7010000001" and
/// "+7 (701) 000 00 01" are all "+77010000001".
pub fn identify(tenant: &Tenant, ident: &str) -> Option<(Key, String)> {
    let by = tenant.login_by();
    if ident.contains('@') {
        return by
            .contains(&LoginBy::Email)
            .then(|| normalize_email(ident))
            .flatten()
            .map(|e| (Key::Email, e));
    }
    if by.contains(&LoginBy::Phone)
        && let Some(p) = normalize_phone(ident)
    {
        return Some((Key::Phone, p));
    }
    if by.contains(&LoginBy::Login) {
        return Some((Key::Login, ident.trim().to_lowercase()));
    }
    None
}

/// Check a password for the account `ident` names. The failure is counted
/// before the password is checked, so that parallel guesses get at most
/// [`FAILURES`] checks, and it is counted per account, so that every way of
/// typing one phone or email (or either of them) shares one count. A right
/// password gives its attempt back.
pub async fn sign_in(
    db: &Db,
    tenant: &Tenant,
    ident: &str,
    pw: String,
) -> Result<SignIn, sqlx::Error> {
    let slug = &tenant.slug;
    let id = identify(tenant, ident);
    let found = match &id {
        Some((key, value)) => find_by(db, slug, *key, value).await?,
        None => None,
    };
    // An unknown identifier is counted by its normalised form: it locks the
    // same way, so the lock says nothing about which accounts exist.
    let counter = match (&found, &id) {
        (Some(a), _) => format!("login:fail:{slug}:account:{}", a.id),
        (None, Some((_, v))) => format!("login:fail:{slug}:unknown:{v}"),
        (None, None) => format!("login:fail:{slug}:unknown:{}", ident.trim().to_lowercase()),
    };
    let Some(attempt) = security::reserve(db, &counter, WINDOW, FAILURES).await? else {
        return Ok(SignIn::Locked);
    };
    let ok = password::verify(found.as_ref().map(|a| a.password_hash.clone()), pw).await;
    match found.filter(|_| ok) {
        Some(a) => {
            security::release(db, attempt).await?;
            Ok(SignIn::Ok(Box::new(a)))
        }
        None => Ok(SignIn::Wrong),
    }
}

/// One sign-in as the login form gave it.
pub struct LogIn<'a> {
    pub tenant: &'a Tenant,
    pub identifier: &'a str,
    pub password: String,
    pub remember: bool,
    pub ip: &'a str,
    pub user_agent: &'a str,
    /// The browser's session before, ended by the new one.
    pub old_session: Option<&'a str>,
    /// The tenant's public address, for a confirmation link sent again.
    pub base: String,
}

/// Why the form comes back.
#[derive(Debug)]
pub enum Refused {
    /// The identifier or the password is empty.
    Empty,
    /// Too many attempts from this address.
    TooManyHere,
    /// Too many failures on this account lately.
    Locked,
    Wrong,
    /// The email is not confirmed yet; whether a link went again now.
    Unconfirmed {
        resent: bool,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum LogInError {
    #[error("refused")]
    Refused(Refused),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Link(#[from] super::common::LinkError),
}

/// Signs an applicant in: the per-address limit, the password behind the
/// account's lock, the email confirmation, then the new session (the old
/// one ended) and the event. The session token, for the cookie.
pub async fn log_in(db: &Db, l: LogIn<'_>) -> Result<(String, Box<Account>), LogInError> {
    let refuse = |r| Err(LogInError::Refused(r));
    let ident = l.identifier.trim();
    if ident.is_empty() || l.password.is_empty() {
        return refuse(Refused::Empty);
    }
    let slug = l.tenant.slug.as_str();
    if !security::hit(db, &format!("login:ip:{slug}:{}", l.ip), PER_ADDRESS, 50).await? {
        return refuse(Refused::TooManyHere);
    }
    let acc = match sign_in(db, l.tenant, ident, l.password).await? {
        SignIn::Ok(acc) => acc,
        SignIn::Locked => return refuse(Refused::Locked),
        SignIn::Wrong => {
            tracing::info!("login failed");
            return refuse(Refused::Wrong);
        }
    };
    if l.tenant.config.accounts.confirm_email && !acc.email_confirmed {
        let resent = super::common::resend_confirmation(db, l.tenant, &l.base, &acc).await?;
        return refuse(Refused::Unconfirmed { resent });
    }
    if let Some(old) = l.old_session {
        super::session::delete(db, slug, old).await?;
    }
    let token = super::session::create(db, slug, acc.id, l.remember, l.ip, l.user_agent).await?;
    super::event(
        &db.pool,
        slug,
        Some(acc.id),
        "login",
        serde_json::json!({"remember": l.remember}),
        Author::Applicant,
        Some(l.ip),
    )
    .await?;
    tracing::info!(account_id = acc.id, "logged in");
    Ok((token, acc))
}
