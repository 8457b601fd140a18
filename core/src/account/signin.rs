//! Signing in with a login identifier and a password, behind a lock that
//! counts failures per account, not per typed string.

use super::{Account, Key, find_by, normalize_email, normalize_phone, password};
use crate::security;
use crate::store::Db;
use crate::tenant::Tenant;
use crate::tenant::config::LoginBy;
use std::time::Duration;

/// Failed passwords allowed per account (or unknown identifier) in [`WINDOW`].
pub const FAILURES: i64 = 5;
pub const WINDOW: Duration = Duration::from_secs(900);

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
