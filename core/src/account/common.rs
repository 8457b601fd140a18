//! Use cases around an applicant's account that several pages share: the
//! plugin's profile check, the SMS budget, and one-time links by email.

use super::{FORM_ERROR, FieldErrors, add_plugin_errors, codes};
use crate::notify::{self, NotifyError};
use crate::plugin::Plugins;
use crate::security;
use crate::store::{Author, Db};
use crate::tenant::Tenant;
use crate::tenant::config::{ApplicantType, FieldDef};
use minijinja::context;
use std::collections::BTreeMap;
use std::time::Duration;

const HOUR: Duration = Duration::from_secs(3600);

/// Run the tenant's validate-profile hook over the fields of a form. Its
/// errors join the core's (a field the core already faulted keeps the core's
/// message). A failing plugin stops the save with a message of its own:
/// the user's input comes back untouched.
pub async fn check_with_plugin<'a>(
    plugins: &Plugins,
    tenant: &Tenant,
    applicant_type: ApplicantType,
    fields: impl Iterator<Item = &'a FieldDef>,
    values: &BTreeMap<String, String>,
    errors: &mut FieldErrors,
) {
    if plugins.get(&tenant.slug).is_none() {
        return;
    }
    let profile = crate::plugin::types::Profile {
        applicant_type: applicant_type.id().to_string(),
        fields: fields
            .map(|f| {
                let id = f.id().to_string();
                let v = values.get(&id).cloned().unwrap_or_default();
                (id, v)
            })
            .collect(),
    };
    match plugins.validate_profile(&tenant.slug, profile).await {
        Ok(found) => add_plugin_errors(errors, found),
        Err(e) => {
            errors.insert(FORM_ERROR.into(), e.user_message().into());
        }
    }
}

/// Whether one more SMS may go to `phone` from a request of `ip`, counting
/// it: per phone, per address and per tenant a day.
pub async fn sms_allowed(
    db: &Db,
    tenant: &Tenant,
    ip: &str,
    phone: &str,
) -> Result<bool, sqlx::Error> {
    let slug = &tenant.slug;
    let per_phone = security::hit(db, &format!("sms:phone:{slug}:{phone}"), HOUR, 5).await?;
    let per_ip = security::hit(db, &format!("sms:ip:{slug}:{ip}"), HOUR, 20).await?;
    let daily = i64::from(tenant.config.notify.sms_daily_limit);
    let per_tenant = security::hit(
        db,
        &format!("sms:tenant:{slug}"),
        Duration::from_secs(86_400),
        daily,
    )
    .await?;
    if !(per_phone && per_ip && per_tenant) {
        tracing::warn!(per_phone, per_ip, per_tenant, "SMS refused by rate limit");
    }
    Ok(per_phone && per_ip && per_tenant)
}

/// Why a link could not be queued.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Notify(#[from] NotifyError),
}

/// Issue a one-time link for `account` and queue the email carrying it, both
/// in `tx`, so the link exists exactly when the email will go out. `base`
/// is the tenant's public address.
pub async fn mail_link(
    tx: &mut sqlx::AnyConnection,
    tenant: &Tenant,
    base: &str,
    account: i64,
    (purpose, lifetime): (&str, time::Duration),
    to: &str,
    path: &str,
    template: &str,
) -> Result<(), LinkError> {
    let token =
        codes::issue_link(&mut *tx, &tenant.slug, account, purpose, Some(to), lifetime).await?;
    let link = format!("{base}/{path}/{token}");
    notify::email(&mut *tx, tenant, to, template, context! { link => link }).await?;
    Ok(())
}

/// Why a profile was not saved.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// Errors beside the fields; the values as checked, to show again.
    #[error("the form has errors")]
    Invalid {
        values: BTreeMap<String, String>,
        errors: FieldErrors,
    },
    /// The account's stored type is one the tenant no longer has.
    #[error("unknown applicant type")]
    UnknownType,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Saves the applicant's profile from a posted form: the core's checks,
/// then the plugin's, before the transaction. Values of fields the tenant
/// no longer shows for this type are kept.
pub async fn save_profile(
    db: &Db,
    plugins: &Plugins,
    tenant: &Tenant,
    acc: &super::Account,
    form: &BTreeMap<String, String>,
    ip: &str,
) -> Result<(), ProfileError> {
    let t = acc.applicant_type.get().ok_or(ProfileError::UnknownType)?;
    let mut values = BTreeMap::new();
    let mut errors = FieldErrors::new();
    super::check_fields(tenant, tenant.fields_for(t), form, &mut values, &mut errors);
    check_with_plugin(
        plugins,
        tenant,
        t,
        tenant.fields_for(t),
        &values,
        &mut errors,
    )
    .await;
    if !errors.is_empty() {
        return Err(ProfileError::Invalid { values, errors });
    }
    let mut profile = acc.profile.clone();
    profile.extend(values);
    let mut tx = db.begin().await?;
    super::save_profile(&mut tx, &tenant.slug, acc.id, &profile).await?;
    super::event(
        &mut *tx,
        &tenant.slug,
        Some(acc.id),
        "profile_saved",
        serde_json::json!({}),
        Author::Applicant,
        Some(ip),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Sends the email-confirmation link again, unless one went lately: true
/// when this call queued one. Requests at the same moment all pass the
/// "lately" check: one claims the send, the rest send nothing.
pub async fn resend_confirmation(
    db: &Db,
    tenant: &Tenant,
    base: &str,
    acc: &super::Account,
) -> Result<bool, LinkError> {
    let Some(email) = &acc.email else {
        return Ok(false);
    };
    let slug = tenant.slug.as_str();
    if codes::link_sent_recently(
        db,
        slug,
        acc.id,
        codes::purpose::CONFIRM_EMAIL,
        codes::LINK_COOLDOWN,
    )
    .await?
    {
        return Ok(false);
    }
    let cooldown = Duration::from_secs(codes::LINK_COOLDOWN.whole_seconds().unsigned_abs());
    let claim = format!("confirm-link:{slug}:{}", acc.id);
    if security::reserve(db, &claim, cooldown, 1).await?.is_none() {
        return Ok(false);
    }
    let mut tx = db.begin().await?;
    mail_link(
        &mut tx,
        tenant,
        base,
        acc.id,
        (codes::purpose::CONFIRM_EMAIL, codes::LINK_LIFETIME),
        email,
        "confirm-email",
        "confirm_email",
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// What asking for a password reset came to. The page reads the same
/// whether or not the address is known: no account enumeration.
#[derive(Debug, PartialEq, Eq)]
pub enum Reset {
    /// Handled (a link went if the address has an account and its hourly
    /// budget allows); whether a message was queued.
    Handled { queued: bool },
    /// Too many requests from this address.
    TooManyHere,
}

/// Sends a password-reset link to `email` (normalised) when an account
/// has it, within an hourly budget per address and per email.
pub async fn request_reset(
    db: &Db,
    tenant: &Tenant,
    base: &str,
    email: &str,
    ip: &str,
) -> Result<Reset, LinkError> {
    let slug = tenant.slug.as_str();
    let ip_ok = security::hit(db, &format!("forgot:ip:{slug}:{ip}"), HOUR, 10).await?;
    let addr_ok = security::hit(db, &format!("forgot:email:{slug}:{email}"), HOUR, 3).await?;
    if !ip_ok {
        return Ok(Reset::TooManyHere);
    }
    if !addr_ok {
        return Ok(Reset::Handled { queued: false });
    }
    let Some(acc) = super::find_by(db, slug, super::Key::Email, email).await? else {
        return Ok(Reset::Handled { queued: false });
    };
    let mut tx = db.begin().await?;
    mail_link(
        &mut tx,
        tenant,
        base,
        acc.id,
        (codes::purpose::RESET_PASSWORD, codes::RESET_LIFETIME),
        email,
        "reset",
        "reset_password",
    )
    .await?;
    super::event(
        &mut *tx,
        slug,
        Some(acc.id),
        "password_reset_requested",
        serde_json::json!({}),
        Author::Applicant,
        Some(ip),
    )
    .await?;
    tx.commit().await?;
    Ok(Reset::Handled { queued: true })
}

/// Sets the password a reset link was sent for, spending the link, in one
/// transaction: following the emailed link also proves the mailbox. Every
/// session of the account then ends. `false`: the link is used, expired or
/// was never issued, and nothing changed.
pub async fn reset_password(
    db: &Db,
    tenant: &str,
    token: &str,
    hash: &str,
    ip: &str,
) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin().await?;
    let codes::LinkState::Valid(id, email) =
        codes::use_link(&mut tx, tenant, codes::purpose::RESET_PASSWORD, token).await?
    else {
        return Ok(false);
    };
    super::set_password(&mut tx, tenant, id, hash).await?;
    if let Some(e) = &email {
        sqlx::query("UPDATE accounts SET email_confirmed_at = $1 WHERE tenant_id = $2 AND id = $3 AND email = $4 AND email_confirmed_at IS NULL")
            .bind(crate::store::now_ts())
            .bind(tenant)
            .bind(id)
            .bind(e)
            .execute(&mut *tx)
            .await?;
    }
    super::event(
        &mut *tx,
        tenant,
        Some(id),
        "password_reset",
        serde_json::json!({}),
        Author::Applicant,
        Some(ip),
    )
    .await?;
    tx.commit().await?;
    super::session::delete_others(db, tenant, id, None).await?;
    Ok(true)
}

/// Whether a new code went to the account's phone, and if not, why.
#[derive(Debug, PartialEq, Eq)]
pub enum PhoneCodeSent {
    Sent,
    /// The last code is too fresh: seconds until the next may go.
    Wait(i64),
    /// The hourly SMS budget of this address or number is spent.
    TooMany,
}

/// Sends a new code confirming the account's `phone`, within the code's
/// cooldown and the SMS budgets; the code and its SMS in one transaction.
pub async fn resend_phone_code(
    db: &Db,
    tenant: &Tenant,
    account: i64,
    phone: &str,
    ip: &str,
) -> Result<PhoneCodeSent, LinkError> {
    let slug = tenant.slug.as_str();
    let purpose = codes::purpose::CONFIRM_PHONE;
    if let Some(wait) = codes::cooldown_left(db, slug, account, purpose).await? {
        return Ok(PhoneCodeSent::Wait(wait));
    }
    if !sms_allowed(db, tenant, ip, phone).await? {
        return Ok(PhoneCodeSent::TooMany);
    }
    let mut tx = db.begin().await?;
    let code = codes::issue_code(&mut tx, slug, account, purpose, phone).await?;
    notify::sms(
        &mut tx,
        tenant,
        phone,
        "phone_code",
        context! { code => code },
    )
    .await?;
    tx.commit().await?;
    Ok(PhoneCodeSent::Sent)
}
