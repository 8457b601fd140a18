//! An applicant's own settings: the current password asked again before
//! a change, a new phone number confirmed by an SMS code and a new email
//! address by a link.

use super::{Account, FieldErrors, Key, codes, codes::purpose, password};
use crate::notify::{self, NotifyError};
use crate::security;
use crate::store::{Author, Db};
use crate::tenant::Tenant;
use minijinja::context;
use std::time::Duration;

/// Whether `typed` is the account's password. Attempts are counted before
/// the check, so parallel guesses get no more than five a quarter hour; a
/// right one gives its attempt back.
pub async fn current_password_ok(
    db: &Db,
    tenant: &Tenant,
    acc: &Account,
    typed: String,
) -> Result<bool, sqlx::Error> {
    let key = format!("reauth:{}:{}", tenant.slug, acc.id);
    let Some(attempt) = security::reserve(db, &key, Duration::from_secs(900), 5).await? else {
        return Ok(false);
    };
    let ok = password::verify(Some(acc.password_hash.clone()), typed).await;
    if ok {
        security::release(db, attempt).await?;
    }
    Ok(ok)
}

/// The words for a wrong current password.
pub const WRONG_CURRENT: &str = "Текущий пароль введён неверно";

#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// Errors beside the fields; nothing sent.
    #[error("the form has errors")]
    Invalid(FieldErrors),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Notify(#[from] NotifyError),
}

impl From<super::common::LinkError> for ChangeError {
    fn from(e: super::common::LinkError) -> Self {
        match e {
            super::common::LinkError::Db(e) => ChangeError::Db(e),
            super::common::LinkError::Notify(e) => ChangeError::Notify(e),
        }
    }
}

/// Sends a code to a new phone number, after the current password: the
/// number must be valid, new and free, and the code and SMS budgets allow
/// it. The number changes when the code comes back.
pub async fn change_phone(
    db: &Db,
    tenant: &Tenant,
    acc: &Account,
    raw: &str,
    current: String,
    ip: &str,
) -> Result<(), ChangeError> {
    let slug = tenant.slug.as_str();
    let mut errors = FieldErrors::new();
    let new = super::normalize_phone(raw);
    match &new {
        None => {
            errors.insert(
                "new_phone".into(),
                "Введите номер телефона, например +7 900 123-45-67".into(),
            );
        }
        Some(p) if acc.phone.as_deref() == Some(p.as_str()) && acc.phone_confirmed => {
            errors.insert("new_phone".into(), "Это ваш текущий номер".into());
        }
        Some(p) if !super::is_free(db, slug, Key::Phone, p, Some(acc.id)).await? => {
            errors.insert(
                "new_phone".into(),
                "Этот номер уже указан в другой учётной записи".into(),
            );
        }
        Some(_) => {}
    }
    if !current_password_ok(db, tenant, acc, current).await? {
        errors.insert("phone_current_password".into(), WRONG_CURRENT.into());
    }
    if errors.is_empty()
        && let Some(wait) = codes::cooldown_left(db, slug, acc.id, purpose::CHANGE_PHONE).await?
    {
        errors.insert(
            "new_phone".into(),
            format!("Новый код можно запросить через {wait} с."),
        );
    }
    let (true, Some(new)) = (errors.is_empty(), new) else {
        return Err(ChangeError::Invalid(errors));
    };
    if !super::common::sms_allowed(db, tenant, ip, &new).await? {
        errors.insert(
            "new_phone".into(),
            "Слишком много SMS за последний час. Попробуйте позже.".into(),
        );
        return Err(ChangeError::Invalid(errors));
    }
    let mut tx = db.begin().await?;
    let code = codes::issue_code(&mut tx, slug, acc.id, purpose::CHANGE_PHONE, &new).await?;
    notify::sms(
        &mut tx,
        tenant,
        &new,
        "phone_code",
        context! { code => code },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Changes the password after the current one: the account's event and
/// the email telling its owner in one transaction, then every other
/// session of the account ends (`keep` is this browser's).
pub async fn change_password(
    db: &Db,
    tenant: &Tenant,
    acc: &Account,
    (new, repeated, current): (String, &str, String),
    keep: Option<&str>,
    ip: &str,
) -> Result<(), ChangeError> {
    let slug = tenant.slug.as_str();
    let mut errors = FieldErrors::new();
    if let Err((field, msg)) =
        password::check_new(&new, repeated, tenant.config.accounts.password_min_length)
    {
        errors.insert(format!("pw_{field}"), msg);
    }
    if !current_password_ok(db, tenant, acc, current).await? {
        errors.insert("pw_current_password".into(), WRONG_CURRENT.into());
    }
    if !errors.is_empty() {
        return Err(ChangeError::Invalid(errors));
    }
    let hash = password::hash(new).await;
    let mut tx = db.begin().await?;
    super::set_password(&mut tx, slug, acc.id, &hash).await?;
    super::event(
        &mut *tx,
        slug,
        Some(acc.id),
        "password_changed",
        serde_json::json!({}),
        Author::Applicant,
        Some(ip),
    )
    .await?;
    if let Some(email) = &acc.email {
        notify::email(&mut tx, tenant, email, "password_changed", context! {}).await?;
    }
    tx.commit().await?;
    // Other browsers logged in with the old password are logged out.
    super::session::delete_others(db, slug, acc.id, keep).await?;
    Ok(())
}

/// Sends a confirmation link to a new email address, after the current
/// password; the address changes when the link is opened.
pub async fn change_email(
    db: &Db,
    tenant: &Tenant,
    base: &str,
    acc: &Account,
    raw: &str,
    current: String,
    ip: &str,
) -> Result<(), ChangeError> {
    let slug = tenant.slug.as_str();
    let mut errors = FieldErrors::new();
    let new = super::normalize_email(raw);
    match &new {
        None => {
            errors.insert(
                "new_email".into(),
                "Введите адрес почты, например ivanov@mail.ru".into(),
            );
        }
        Some(e) if acc.email.as_deref() == Some(e.as_str()) => {
            errors.insert("new_email".into(), "Это ваш текущий адрес".into());
        }
        Some(e) if !super::is_free(db, slug, Key::Email, e, Some(acc.id)).await? => {
            errors.insert(
                "new_email".into(),
                "Этот адрес уже указан в другой учётной записи".into(),
            );
        }
        Some(_) => {}
    }
    if !current_password_ok(db, tenant, acc, current).await? {
        errors.insert("email_current_password".into(), WRONG_CURRENT.into());
    }
    let (true, Some(new)) = (errors.is_empty(), new) else {
        return Err(ChangeError::Invalid(errors));
    };
    let mut tx = db.begin().await?;
    super::common::mail_link(
        &mut tx,
        tenant,
        base,
        acc.id,
        (purpose::CHANGE_EMAIL, codes::LINK_LIFETIME),
        &new,
        "settings/email",
        "change_email",
    )
    .await?;
    super::event(
        &mut *tx,
        slug,
        Some(acc.id),
        "email_change_requested",
        serde_json::json!({"new": new}),
        Author::Applicant,
        Some(ip),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// What opening a new address's confirmation link did.
#[derive(Debug, PartialEq, Eq)]
pub enum EmailLink {
    Changed,
    /// Used, expired or never issued.
    Invalid,
    /// The address went to another account meanwhile.
    Taken,
}

/// Opens a new email address's confirmation link: the link is used once,
/// the address must still be free, and the old address is told.
pub async fn confirm_email(
    db: &Db,
    tenant: &Tenant,
    token: &str,
    ip: &str,
) -> Result<EmailLink, ChangeError> {
    let slug = tenant.slug.as_str();
    let mut tx = db.begin().await?;
    let codes::LinkState::Valid(id, Some(new)) =
        codes::use_link(&mut tx, slug, purpose::CHANGE_EMAIL, token).await?
    else {
        return Ok(EmailLink::Invalid);
    };
    // On the transaction's own connection: it holds the token's row.
    if !super::is_free_on(&mut *tx, slug, Key::Email, &new, Some(id)).await? {
        return Ok(EmailLink::Taken);
    }
    let old = super::get_on(&mut *tx, slug, id)
        .await?
        .and_then(|a| a.email);
    super::set_email_confirmed(&mut tx, slug, id, &new).await?;
    super::event(
        &mut *tx,
        slug,
        Some(id),
        "email_changed",
        serde_json::json!({"old": old, "new": new}),
        Author::Applicant,
        Some(ip),
    )
    .await?;
    if let Some(old) = &old {
        notify::email(
            &mut tx,
            tenant,
            old,
            "email_changed",
            context! { new => new },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(EmailLink::Changed)
}

/// What a new phone number's SMS code did.
#[derive(Debug, PartialEq, Eq)]
pub enum PhoneCode {
    Changed,
    /// The number went to another account meanwhile.
    Taken,
    Wrong {
        attempts_left: i64,
    },
    /// No live code: never sent, expired, used or out of attempts.
    NoCode,
}

/// Checks the code sent to a new phone number; a right one makes the
/// number the account's, if it is still free.
pub async fn confirm_phone(
    db: &Db,
    tenant: &Tenant,
    acc: &Account,
    typed: &str,
    ip: &str,
) -> Result<PhoneCode, sqlx::Error> {
    let slug = tenant.slug.as_str();
    let phone = match codes::check_code(db, slug, acc.id, purpose::CHANGE_PHONE, typed).await? {
        codes::CodeCheck::Ok(phone) => phone,
        codes::CodeCheck::Wrong { attempts_left } => return Ok(PhoneCode::Wrong { attempts_left }),
        codes::CodeCheck::NoCode => return Ok(PhoneCode::NoCode),
    };
    if !super::is_free(db, slug, Key::Phone, &phone, Some(acc.id)).await? {
        return Ok(PhoneCode::Taken);
    }
    let mut tx = db.begin().await?;
    super::set_phone_confirmed(&mut tx, slug, acc.id, &phone).await?;
    super::event(
        &mut *tx,
        slug,
        Some(acc.id),
        "phone_changed",
        serde_json::json!({"old": acc.phone, "new": phone}),
        Author::Applicant,
        Some(ip),
    )
    .await?;
    tx.commit().await?;
    Ok(PhoneCode::Changed)
}
