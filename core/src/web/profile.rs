//! The cabinet of a logged-in applicant: home page, profile, and account
//! settings (password, email, phone).

use super::shared::field_views;
use super::{AppState, Applicant, Ctx, FormBy, WebError};
use crate::account::{self, Account, FieldErrors};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use minijinja::context;
use std::collections::BTreeMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/profile", get(profile_page).post(save_profile))
        .route("/settings", get(settings_page))
        .route("/settings/password", post(change_password))
        .route("/settings/email", post(change_email))
        .route("/settings/email/{token}", get(confirm_new_email))
        .route("/settings/phone", post(change_phone))
        .route("/settings/phone/confirm", post(confirm_new_phone))
}

#[derive(serde::Deserialize, Default)]
struct HomeQuery {
    phone_confirmed: Option<String>,
}

async fn home(
    ctx: Ctx,
    State(st): State<AppState>,
    Query(q): Query<HomeQuery>,
) -> Result<Response, WebError> {
    let Some(acc) = ctx.user(&st).await? else {
        return Ok(ctx.redirect("/login"));
    };
    let missing = account::missing_profile_fields(&ctx.tenant, &acc);
    ctx.render(
        "portal/home.html",
        Some(&acc),
        context! { missing => missing, phone_confirmed_now => q.phone_confirmed.is_some() },
    )
}

// ----------------------------------------------------------------- profile

#[derive(serde::Deserialize, Default)]
struct ProfileQuery {
    saved: Option<String>,
    welcome: Option<String>,
    incomplete: Option<String>,
    /// The draft that sent the applicant here to complete the profile:
    /// the page leads back to it.
    draft: Option<String>,
}

impl ProfileQuery {
    fn draft(&self) -> Option<i64> {
        self.draft.as_deref().and_then(|d| d.parse().ok())
    }
}

fn render_profile(
    ctx: &Ctx,
    acc: &Account,
    values: &BTreeMap<String, String>,
    errors: &FieldErrors,
    q: &ProfileQuery,
) -> Result<Response, WebError> {
    let Some(t) = acc.applicant_type.get() else {
        return Err(WebError::Internal(anyhow::anyhow!(
            "unknown applicant type {}",
            acc.applicant_type.0
        )));
    };
    let fields = field_views(&ctx.tenant, ctx.tenant.fields_for(t), values, errors);
    let missing = account::missing_profile_fields(&ctx.tenant, acc);
    let r = ctx.render(
        "portal/profile.html",
        Some(acc),
        context! {
            fields => fields,
            errors => errors,
            saved => q.saved.is_some(),
            welcome => q.welcome.is_some(),
            incomplete => q.incomplete.is_some(),
            missing => missing,
            draft => q.draft(),
            type_title => ctx.tenant.type_title(t),
        },
    )?;
    Ok(super::with_errors(r, errors))
}

async fn profile_page(
    ctx: Ctx,
    Query(q): Query<ProfileQuery>,
    Applicant(acc): Applicant,
) -> Result<Response, WebError> {
    render_profile(&ctx, &acc, &acc.profile.clone(), &FieldErrors::new(), &q)
}

async fn save_profile(
    ctx: Ctx,
    State(st): State<AppState>,
    FormBy(Applicant(acc), form): FormBy<Applicant>,
) -> Result<Response, WebError> {
    use account::common::ProfileError;
    match account::common::save_profile(&st.db, &st.plugins, &ctx.tenant, &acc, &form, &ctx.ip)
        .await
    {
        Ok(()) => {}
        Err(ProfileError::Invalid { values, errors }) => {
            // Nothing is saved, and every typed value comes back into its field.
            let q = ProfileQuery {
                draft: form.get("draft").cloned(),
                ..ProfileQuery::default()
            };
            return render_profile(&ctx, &acc, &values, &errors, &q);
        }
        Err(ProfileError::UnknownType) => {
            return Err(WebError::Internal(anyhow::anyhow!(
                "unknown applicant type"
            )));
        }
        Err(ProfileError::Db(e)) => return Err(e.into()),
    }
    let draft = form.get("draft").and_then(|d| d.parse::<i64>().ok());
    Ok(ctx.redirect(&match draft {
        Some(id) => format!("/profile?saved=1&draft={id}"),
        None => "/profile?saved=1".into(),
    }))
}

// ---------------------------------------------------------------- settings

#[derive(serde::Deserialize, Default)]
struct SettingsQuery {
    password_changed: Option<String>,
    email_sent: Option<String>,
    email_changed: Option<String>,
    phone_code: Option<String>,
    phone_changed: Option<String>,
}

fn render_settings(
    ctx: &Ctx,
    acc: &Account,
    errors: &FieldErrors,
    values: &BTreeMap<String, String>,
    q: &SettingsQuery,
) -> Result<Response, WebError> {
    let r = ctx.render(
        "portal/settings.html",
        Some(acc),
        context! {
            errors => errors,
            values => values,
            password_changed => q.password_changed.is_some(),
            email_sent => q.email_sent.is_some(),
            email_changed => q.email_changed.is_some(),
            phone_code => q.phone_code.is_some(),
            phone_changed => q.phone_changed.is_some(),
            asks_phone => ctx.tenant.asks_phone(),
            password_min => ctx.tenant.config.accounts.password_min_length,
            account => acc,
        },
    )?;
    Ok(super::with_errors(r, errors))
}

async fn settings_page(
    ctx: Ctx,
    Query(q): Query<SettingsQuery>,
    Applicant(acc): Applicant,
) -> Result<Response, WebError> {
    render_settings(&ctx, &acc, &FieldErrors::new(), &BTreeMap::new(), &q)
}

async fn change_password(
    ctx: Ctx,
    State(st): State<AppState>,
    FormBy(Applicant(acc), form): FormBy<Applicant>,
) -> Result<Response, WebError> {
    let typed = (
        form.get("password").cloned().unwrap_or_default(),
        form.get("password2").map(String::as_str).unwrap_or(""),
        form.get("current_password").cloned().unwrap_or_default(),
    );
    let keep = ctx.session.as_deref();
    use account::contacts::ChangeError;
    match account::contacts::change_password(&st.db, &ctx.tenant, &acc, typed, keep, &ctx.ip).await
    {
        Ok(()) => st.outbox_wake.notify_one(),
        Err(ChangeError::Invalid(errors)) => {
            let q = SettingsQuery::default();
            return render_settings(&ctx, &acc, &errors, &BTreeMap::new(), &q);
        }
        Err(ChangeError::Db(e)) => return Err(e.into()),
        Err(ChangeError::Notify(e)) => return Err(e.into()),
    }
    Ok(ctx.redirect("/settings?password_changed=1"))
}

async fn change_email(
    ctx: Ctx,
    State(st): State<AppState>,
    FormBy(Applicant(acc), form): FormBy<Applicant>,
) -> Result<Response, WebError> {
    let raw = form.get("new_email").cloned().unwrap_or_default();
    let current = form.get("current_password").cloned().unwrap_or_default();
    let base = ctx.tenant.public_url(&st.cfg.public_url);
    use account::contacts::ChangeError;
    match account::contacts::change_email(&st.db, &ctx.tenant, &base, &acc, &raw, current, &ctx.ip)
        .await
    {
        Ok(()) => st.outbox_wake.notify_one(),
        Err(ChangeError::Invalid(errors)) => {
            let values: BTreeMap<String, String> = [("new_email".to_string(), raw)].into();
            return render_settings(&ctx, &acc, &errors, &values, &SettingsQuery::default());
        }
        Err(ChangeError::Db(e)) => return Err(e.into()),
        Err(ChangeError::Notify(e)) => return Err(e.into()),
    }
    Ok(ctx.redirect("/settings?email_sent=1"))
}

async fn confirm_new_email(
    ctx: Ctx,
    State(st): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    use account::contacts::EmailLink;
    let done = account::contacts::confirm_email(&st.db, &ctx.tenant, &token, &ctx.ip)
        .await
        .map_err(|e| WebError::Internal(e.into()))?;
    let (status, taken) = match done {
        EmailLink::Changed => (None, false),
        EmailLink::Invalid => (Some(StatusCode::GONE), false),
        EmailLink::Taken => (Some(StatusCode::CONFLICT), true),
    };
    if let Some(status) = status {
        let mut r = ctx.render(
            "portal/invalid_link.html",
            None,
            context! { taken => taken },
        )?;
        *r.status_mut() = status;
        return Ok(r);
    }
    st.outbox_wake.notify_one();
    Ok(ctx.redirect("/settings?email_changed=1"))
}

async fn change_phone(
    ctx: Ctx,
    State(st): State<AppState>,
    FormBy(Applicant(acc), form): FormBy<Applicant>,
) -> Result<Response, WebError> {
    let raw = form.get("new_phone").cloned().unwrap_or_default();
    let values: BTreeMap<String, String> = [("new_phone".to_string(), raw.clone())].into();
    let current = form.get("current_password").cloned().unwrap_or_default();
    use account::contacts::ChangeError;
    match account::contacts::change_phone(&st.db, &ctx.tenant, &acc, &raw, current, &ctx.ip).await {
        Ok(()) => st.outbox_wake.notify_one(),
        Err(ChangeError::Invalid(errors)) => {
            return render_settings(&ctx, &acc, &errors, &values, &SettingsQuery::default());
        }
        Err(ChangeError::Db(e)) => return Err(e.into()),
        Err(ChangeError::Notify(e)) => return Err(e.into()),
    }
    Ok(ctx.redirect("/settings?phone_code=1"))
}

async fn confirm_new_phone(
    ctx: Ctx,
    State(st): State<AppState>,
    FormBy(Applicant(acc), form): FormBy<Applicant>,
) -> Result<Response, WebError> {
    let input = form.get("code").cloned().unwrap_or_default();
    let q = SettingsQuery {
        phone_code: Some("1".into()),
        ..Default::default()
    };
    let err = |m: String| -> FieldErrors { [("phone_code".to_string(), m)].into() };
    use account::contacts::PhoneCode;
    match account::contacts::confirm_phone(&st.db, &ctx.tenant, &acc, &input, &ctx.ip).await? {
        PhoneCode::Changed => Ok(ctx.redirect("/settings?phone_changed=1")),
        PhoneCode::Taken => render_settings(
            &ctx,
            &acc,
            &err("Этот номер уже указан в другой учётной записи".into()),
            &BTreeMap::new(),
            &q,
        ),
        PhoneCode::Wrong { attempts_left } => render_settings(
            &ctx,
            &acc,
            &err(format!("Неверный код. Осталось попыток: {attempts_left}.")),
            &BTreeMap::new(),
            &q,
        ),
        // No code is pending, so its form is gone: the message goes where
        // the user asks for a new one.
        PhoneCode::NoCode => render_settings(
            &ctx,
            &acc,
            &[(
                "new_phone".to_string(),
                "Код устарел или попытки закончились. Запросите новый код.".to_string(),
            )]
            .into(),
            &BTreeMap::new(),
            &SettingsQuery::default(),
        ),
    }
}
