//! Staff sign-in as use cases: the password step (per-address limit,
//! the account's lock, the session, pending while an authenticator code is
//! due) and the code step (per-account limit, each code once). Failures
//! and sign-ins go to the audit log.

use super::{AuditAction, OfficeError, StaffSignIn};
use crate::store::Db;
use std::time::Duration;

const QUARTER: Duration = Duration::from_secs(900);

/// What the password step came to.
#[derive(Debug)]
pub enum Password {
    /// Signed in; the session token. `pending` when a code is due next.
    In {
        token: String,
        pending: bool,
    },
    /// Too many attempts from this address.
    TooManyHere,
    /// Too many failures on this account lately.
    Locked,
    Wrong,
}

/// The password step for `email` from `ip`.
pub async fn password(
    db: &Db,
    tenant: &str,
    email: &str,
    password: &str,
    ip: &str,
) -> Result<Password, OfficeError> {
    let key = format!("office:login:{tenant}:{ip}");
    if !crate::security::hit(db, &key, QUARTER, 20).await? {
        return Ok(Password::TooManyHere);
    }
    let s = match super::sign_in(db, tenant, email, password).await? {
        StaffSignIn::Ok(s) => s,
        StaffSignIn::Locked => return Ok(Password::Locked),
        StaffSignIn::Wrong => {
            super::audit(
                &db.pool,
                tenant,
                None,
                AuditAction::LoginFailed,
                None,
                email,
                ip,
            )
            .await?;
            return Ok(Password::Wrong);
        }
    };
    let pending = s.has_totp();
    let token = super::open_session(db, tenant, s.id, pending, ip).await?;
    if !pending {
        super::audit(
            &db.pool,
            tenant,
            Some(s.id),
            AuditAction::Login,
            None,
            "",
            ip,
        )
        .await?;
    }
    Ok(Password::In { token, pending })
}

/// What the code step came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Code {
    /// The session is confirmed.
    In,
    /// No pending session for this browser: back to the password.
    NoSession,
    Wrong,
    /// Too many codes tried on this account lately.
    TooMany,
}

/// The authenticator code step for the pending session `token`.
pub async fn code(
    db: &Db,
    tenant: &str,
    token: &str,
    entered: &str,
    ip: &str,
) -> Result<Code, OfficeError> {
    let Some((id, true)) = super::session(db, tenant, token).await? else {
        return Ok(Code::NoSession);
    };
    let Some(s) = super::get_staff(db, tenant, id).await? else {
        return Ok(Code::NoSession);
    };
    let allowed = crate::security::hit(db, &format!("office:code:{id}"), QUARTER, 5).await?;
    let step = s
        .totp_secret
        .as_deref()
        .and_then(|sec| super::totp_step(sec, entered));
    // Each code counts once, even when two requests bring it at once.
    let fresh = match step {
        Some(step) if allowed => super::use_totp_step(db, id, step).await?,
        _ => false,
    };
    if fresh {
        super::confirm_session(db, tenant, token).await?;
        super::audit(
            &db.pool,
            tenant,
            Some(id),
            AuditAction::Login,
            None,
            "с кодом из приложения",
            ip,
        )
        .await?;
        return Ok(Code::In);
    }
    super::audit(
        &db.pool,
        tenant,
        Some(id),
        AuditAction::CodeFailed,
        None,
        "",
        ip,
    )
    .await?;
    Ok(if allowed { Code::Wrong } else { Code::TooMany })
}

/// What a change of the authenticator factor came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Factor {
    On,
    Off,
    /// Turning it off needs a code from it; a borrowed session alone
    /// cannot remove it.
    WrongCurrentCode,
    /// The new key's code did not match: it was not added to the app.
    WrongNewCode,
}

/// Turns the staff member's authenticator factor on (with the new key and
/// a code it shows) or off (with a code from the current one, and "off").
pub async fn set_factor(
    db: &Db,
    tenant: &str,
    s: &super::Staff,
    code: &str,
    new_secret: &str,
    off: bool,
    ip: &str,
) -> Result<Factor, OfficeError> {
    let note = |action| super::AuditNote {
        staff: Some(s.id),
        action,
        target: None,
        detail: String::new(),
        ip,
    };
    if let Some(current) = &s.totp_secret {
        let ok = match super::totp_step(current, code) {
            Some(step) => super::use_totp_step(db, s.id, step).await?,
            None => false,
        };
        if !ok || !off {
            return Ok(Factor::WrongCurrentCode);
        }
        super::set_totp(db, tenant, s.id, None, note(AuditAction::TotpOff)).await?;
        return Ok(Factor::Off);
    }
    if super::totp_step(new_secret, code).is_none() {
        return Ok(Factor::WrongNewCode);
    }
    super::set_totp(
        db,
        tenant,
        s.id,
        Some(new_secret),
        note(AuditAction::TotpOn),
    )
    .await?;
    Ok(Factor::On)
}
