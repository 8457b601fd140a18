//! Registration, captcha, login and logout, phone and email confirmation,
//! and password reset: the pages a visitor meets before the cabinet.

use super::shared::field_views;
use super::{
    AppState, Applicant, CsrfForm, Ctx, FormBy, WebError, form_map, set_cookie, with_status,
};
use crate::account::codes::{self, purpose};
use crate::account::{self, FieldErrors, Key, password, session};
use crate::security::{self, captcha};
use crate::tenant::Tenant;
use crate::tenant::config::{ApplicantType, LoginBy, Need};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use minijinja::{Value, context};
use std::collections::BTreeMap;
use std::time::Duration;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/register", get(register_page).post(register))
        .route("/captcha/{token}", get(captcha_picture))
        .route("/login", get(login_page).post(login))
        .route("/login/key", get(key_login_page).post(key_login))
        .route("/logout", post(logout))
        .route(
            "/confirm-phone",
            get(confirm_phone_page).post(confirm_phone),
        )
        .route("/confirm-phone/resend", post(resend_phone_code))
        .route("/check-email", get(check_email_page))
        .route("/confirm-email/resend", post(resend_email_link))
        .route("/confirm-email/{token}", get(confirm_email))
        .route("/forgot", get(forgot_page).post(forgot))
        .route("/reset/{token}", get(reset_page).post(reset))
        .route("/consent", get(consent_page))
}

const HOUR: Duration = Duration::from_secs(3600);

// ---------------------------------------------------------------- register

#[derive(serde::Deserialize)]
struct TypeQuery {
    #[serde(rename = "type")]
    kind: Option<String>,
}

async fn register(
    ctx: Ctx,
    State(st): State<AppState>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    use account::registration::{self, RegisterError, Registration};
    let form = form_map(pairs);
    ctx.check_csrf(&st, &form)?;
    let r = Registration {
        tenant: &ctx.tenant,
        form: &form,
        ip: &ctx.ip,
        captcha_bits: st.cfg.captcha_bits,
        base: ctx.tenant.public_url(&st.cfg.public_url),
    };
    let done = match registration::register(&st.db, &st.plugins, r).await {
        Ok(done) => done,
        Err(RegisterError::Invalid(i)) => {
            return render_register(&ctx, &st, i.applicant_type, &i.values, &i.errors).await;
        }
        Err(RegisterError::Closed) => return Err(WebError::NotFound),
        Err(RegisterError::RateLimited) => return Err(WebError::RateLimited),
        Err(RegisterError::Db(e)) => return Err(e.into()),
        Err(RegisterError::Notify(e)) => return Err(e.into()),
    };
    st.outbox_wake.notify_one();
    if done.confirm_email {
        return Ok(ctx.redirect("/check-email"));
    }
    let token =
        session::create(&st.db, ctx.slug(), done.id, false, &ctx.ip, &ctx.user_agent).await?;
    let next = if done.confirm_phone {
        "/confirm-phone"
    } else {
        "/profile?welcome=1"
    };
    let mut resp = ctx.redirect(next);
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&ctx, &st, super::SESSION_COOKIE, &token, None),
    );
    Ok(resp)
}

async fn register_page(
    ctx: Ctx,
    State(st): State<AppState>,
    Query(q): Query<TypeQuery>,
) -> Result<Response, WebError> {
    if !ctx.tenant.config.accounts.registration {
        return Err(WebError::NotFound);
    }
    if ctx.user(&st).await?.is_some() {
        return Ok(ctx.redirect("/"));
    }
    let t = account::registration::pick_type(&ctx.tenant, q.kind.as_deref());
    render_register(&ctx, &st, t, &BTreeMap::new(), &FieldErrors::new()).await
}

async fn render_register(
    ctx: &Ctx,
    st: &AppState,
    t: ApplicantType,
    values: &BTreeMap<String, String>,
    errors: &FieldErrors,
) -> Result<Response, WebError> {
    let tenant = &ctx.tenant;
    let captcha_token = if tenant.config.accounts.captcha {
        Some(captcha::issue(&st.db, ctx.slug(), &st.cfg.captcha).await?)
    } else {
        None
    };
    let types: Vec<Value> = tenant
        .applicant_types()
        .iter()
        .map(|x| context! { id => x.id(), title => tenant.type_title(*x), selected => *x == t })
        .collect();
    let fields = field_views(tenant, tenant.registration_fields(t), values, errors);
    let acc = &tenant.config.accounts;
    let r = ctx.render(
        "portal/register.html",
        None,
        context! {
            types => types,
            type_id => t.id(),
            type_title => tenant.type_title(t),
            fields => fields,
            values => values,
            errors => errors,
            captcha_token => captcha_token,
            captcha_bits => st.cfg.captcha_bits,
            asks_phone => acc.phone != Need::None,
            phone_required => acc.phone == Need::Required,
            asks_login => tenant.asks_login(),
            password_min => acc.password_min_length,
        },
    )?;
    Ok(super::with_errors(r, errors))
}

async fn captcha_picture(
    ctx: Ctx,
    State(st): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    let svg = captcha::picture(&st.db, ctx.slug(), &token)
        .await?
        .ok_or(WebError::NotFound)?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        svg,
    )
        .into_response())
}

// ------------------------------------------------------------------- login

#[derive(serde::Deserialize, Default)]
struct Notice {
    reset: Option<String>,
    confirmed: Option<String>,
    logout: Option<String>,
}

fn login_label(tenant: &Tenant) -> String {
    let parts: Vec<&str> = tenant
        .login_by()
        .iter()
        .map(|l| match l {
            LoginBy::Email => "электронная почта",
            LoginBy::Login => "логин",
            LoginBy::Phone => "телефон",
        })
        .collect();
    let s = parts.join(" или ");
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

fn render_login(
    ctx: &Ctx,
    identifier: &str,
    error: Option<&str>,
    notice: Option<&str>,
) -> Result<Response, WebError> {
    let r = ctx.render(
        "portal/login.html",
        None,
        context! {
            identifier => identifier,
            identifier_label => login_label(&ctx.tenant),
            error => error,
            notice => notice,
            registration => ctx.tenant.config.accounts.registration,
            key_login => ctx.tenant.config.signature.login.is_some(),
        },
    )?;
    Ok(if error.is_some() {
        with_status(r, StatusCode::UNPROCESSABLE_ENTITY)
    } else {
        r
    })
}

async fn login_page(
    ctx: Ctx,
    State(st): State<AppState>,
    Query(n): Query<Notice>,
) -> Result<Response, WebError> {
    if ctx.user(&st).await?.is_some() {
        return Ok(ctx.redirect("/"));
    }
    let notice = if n.reset.is_some() {
        Some("Пароль изменён. Войдите с новым паролем.")
    } else if n.confirmed.is_some() {
        Some("Адрес почты подтверждён. Теперь можно войти.")
    } else if n.logout.is_some() {
        Some("Вы вышли из личного кабинета.")
    } else {
        None
    };
    render_login(&ctx, "", None, notice)
}

/// What the sign-in form asks for, as the object of a sentence
/// ("проверьте электронную почту и пароль"), in the tenant's own terms.
fn login_object(tenant: &Tenant) -> String {
    tenant
        .login_by()
        .iter()
        .map(|l| match l {
            LoginBy::Email => "электронную почту",
            LoginBy::Login => "логин",
            LoginBy::Phone => "телефон",
        })
        .collect::<Vec<_>>()
        .join(" или ")
}

/// The same words whether the account exists or the password is wrong.
fn login_failed(tenant: &Tenant) -> String {
    format!(
        "Не удалось войти: проверьте {} и пароль",
        login_object(tenant)
    )
}

async fn login(
    ctx: Ctx,
    State(st): State<AppState>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, WebError> {
    use account::signin::{LogIn, LogInError, Refused};
    let ident = form.get("identifier").map(|s| s.trim()).unwrap_or("");
    let remember = form.get("remember").map(String::as_str) == Some("on");
    let l = LogIn {
        tenant: &ctx.tenant,
        identifier: ident,
        password: form.get("password").cloned().unwrap_or_default(),
        remember,
        ip: &ctx.ip,
        user_agent: &ctx.user_agent,
        old_session: ctx.session.as_deref(),
        base: ctx.tenant.public_url(&st.cfg.public_url),
    };
    let token = match account::signin::log_in(&st.db, l).await {
        Ok((token, _)) => token,
        Err(LogInError::Refused(r)) => {
            let said = match r {
                Refused::Empty => format!("Введите {} и пароль", login_object(&ctx.tenant)),
                Refused::TooManyHere => "Слишком много попыток входа с вашего адреса. Попробуйте через 15 минут.".into(),
                Refused::Locked => "Слишком много неудачных попыток. Попробуйте через 15 минут или восстановите пароль.".into(),
                Refused::Wrong => login_failed(&ctx.tenant),
                Refused::Unconfirmed { resent: true } => {
                    st.outbox_wake.notify_one();
                    "Адрес почты ещё не подтверждён. Мы отправили письмо со ссылкой для подтверждения ещё раз; подойдёт ссылка из любого нашего письма.".into()
                }
                Refused::Unconfirmed { resent: false } => "Адрес почты ещё не подтверждён. Письмо со ссылкой для подтверждения уже отправлено: откройте его и перейдите по ссылке.".into(),
            };
            return render_login(&ctx, ident, Some(&said), None);
        }
        Err(LogInError::Db(e)) => return Err(e.into()),
        Err(LogInError::Link(e)) => return Err(e.into()),
    };
    let mut resp = ctx.redirect("/");
    let age = remember.then(|| session::LONG.whole_seconds());
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&ctx, &st, super::SESSION_COOKIE, &token, age),
    );
    Ok(resp)
}

// ------------------------------------------------------------- key login

/// The «Войти с ЭЦП» page with a fresh challenge for this browser.
async fn render_key_login(
    ctx: &Ctx,
    st: &AppState,
    error: Option<String>,
) -> Result<Response, WebError> {
    use base64::Engine;
    let challenge = account::key_login::challenge(&st.db, ctx.slug(), &ctx.csrf_cookie).await?;
    let r = ctx.render(
        "portal/login_key.html",
        None,
        context! {
            challenge_base64 => base64::engine::general_purpose::STANDARD.encode(&challenge),
            challenge => challenge,
            ncalayer => &ctx.tenant.config.signature.ncalayer,
            error => error,
        },
    )?;
    let r = super::shared::with_signing_csp(r, &ctx.tenant);
    Ok(if error.is_some() {
        with_status(r, StatusCode::UNPROCESSABLE_ENTITY)
    } else {
        r
    })
}

async fn key_login_page(ctx: Ctx, State(st): State<AppState>) -> Result<Response, WebError> {
    if ctx.tenant.config.signature.login.is_none() {
        return Err(WebError::NotFound);
    }
    if ctx.user(&st).await?.is_some() {
        return Ok(ctx.redirect("/"));
    }
    render_key_login(&ctx, &st, None).await
}

async fn key_login(
    ctx: Ctx,
    State(st): State<AppState>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, WebError> {
    use account::key_login::{KeyLogIn, KeyLogInError};
    if ctx.tenant.config.signature.login.is_none() {
        return Err(WebError::NotFound);
    }
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    let l = KeyLogIn {
        tenant: &ctx.tenant,
        challenge: field("challenge"),
        signature: field("signature"),
        browser: &ctx.csrf_cookie,
        ip: &ctx.ip,
        user_agent: &ctx.user_agent,
        old_session: ctx.session.as_deref(),
        at: time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64,
    };
    let token = match account::key_login::log_in(&st.db, l).await {
        Ok((token, _, _)) => token,
        Err(KeyLogInError::Refused(r)) => {
            return render_key_login(&ctx, &st, Some(r.message())).await;
        }
        Err(KeyLogInError::Db(e)) => return Err(e.into()),
    };
    let mut resp = ctx.redirect("/");
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&ctx, &st, super::SESSION_COOKIE, &token, None),
    );
    Ok(resp)
}

async fn logout(
    ctx: Ctx,
    State(st): State<AppState>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    ctx.check_csrf(&st, &form_map(pairs))?;
    if let Some(token) = &ctx.session {
        session::delete(&st.db, ctx.slug(), token).await?;
    }
    let mut resp = ctx.redirect("/login?logout=1");
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&ctx, &st, super::SESSION_COOKIE, "", Some(0)),
    );
    Ok(resp)
}

// ------------------------------------------------------- phone confirmation

#[derive(serde::Deserialize, Default)]
struct Sent {
    sent: Option<String>,
}

async fn render_confirm_phone(
    ctx: &Ctx,
    st: &AppState,
    acc: &account::Account,
    error: Option<String>,
    notice: Option<String>,
) -> Result<Response, WebError> {
    let wait = codes::cooldown_left(&st.db, ctx.slug(), acc.id, purpose::CONFIRM_PHONE).await?;
    let r = ctx.render(
        "portal/confirm_phone.html",
        Some(acc),
        context! { error => &error, notice => notice, wait => wait, phone => &acc.phone, confirmed => acc.phone_confirmed },
    )?;
    Ok(if error.is_some() {
        with_status(r, StatusCode::UNPROCESSABLE_ENTITY)
    } else {
        r
    })
}

async fn confirm_phone_page(
    ctx: Ctx,
    State(st): State<AppState>,
    Query(q): Query<Sent>,
    Applicant(acc): Applicant,
) -> Result<Response, WebError> {
    if acc.phone.is_none() {
        return Ok(ctx.redirect("/settings"));
    }
    let notice = q
        .sent
        .map(|_| "Мы отправили новый код. Он действует 10 минут.".to_string());
    render_confirm_phone(&ctx, &st, &acc, None, notice).await
}

async fn confirm_phone(
    ctx: Ctx,
    State(st): State<AppState>,
    FormBy(Applicant(acc), form): FormBy<Applicant>,
) -> Result<Response, WebError> {
    let input = form.get("code").cloned().unwrap_or_default();
    use account::registration::PhoneConfirm;
    let said = match account::registration::confirm_phone(&st.db, ctx.slug(), &acc, &input, &ctx.ip)
        .await?
    {
        PhoneConfirm::Confirmed => return Ok(ctx.redirect("/?phone_confirmed=1")),
        PhoneConfirm::Gone => "Код устарел или попытки закончились. Запросите новый код.".into(),
        PhoneConfirm::Wrong { attempts_left } => {
            format!("Неверный код. Осталось попыток: {attempts_left}.")
        }
    };
    render_confirm_phone(&ctx, &st, &acc, Some(said), None).await
}

async fn resend_phone_code(
    ctx: Ctx,
    State(st): State<AppState>,
    FormBy(Applicant(acc), _): FormBy<Applicant>,
) -> Result<Response, WebError> {
    let Some(phone) = acc.phone.clone() else {
        return Ok(ctx.redirect("/settings"));
    };
    if acc.phone_confirmed {
        return Ok(ctx.redirect("/confirm-phone"));
    }
    use account::common::PhoneCodeSent;
    let refused =
        match account::common::resend_phone_code(&st.db, &ctx.tenant, acc.id, &phone, &ctx.ip)
            .await?
        {
            PhoneCodeSent::Sent => None,
            PhoneCodeSent::Wait(wait) => Some(format!("Новый код можно запросить через {wait} с.")),
            PhoneCodeSent::TooMany => {
                Some("Слишком много SMS за последний час. Попробуйте позже.".into())
            }
        };
    if let Some(said) = refused {
        return render_confirm_phone(&ctx, &st, &acc, Some(said), None).await;
    }
    st.outbox_wake.notify_one();
    Ok(ctx.redirect("/confirm-phone?sent=1"))
}

// ------------------------------------------------------- email confirmation

async fn check_email_page(ctx: Ctx) -> Result<Response, WebError> {
    ctx.render("portal/check_email.html", None, context! {})
}

async fn confirm_email(
    ctx: Ctx,
    State(st): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    use account::registration::EmailConfirm;
    match account::registration::confirm_email(&st.db, ctx.slug(), &token, &ctx.ip).await? {
        EmailConfirm::Confirmed => Ok(ctx.redirect("/login?confirmed=1")),
        EmailConfirm::Invalid => invalid_link(&ctx),
        EmailConfirm::NoAccount => Err(WebError::NotFound),
    }
}

fn invalid_link(ctx: &Ctx) -> Result<Response, WebError> {
    let r = ctx.render("portal/invalid_link.html", None, context! {})?;
    Ok(with_status(r, StatusCode::GONE))
}

async fn resend_email_link(
    ctx: Ctx,
    State(st): State<AppState>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, WebError> {
    if !security::hit(
        &st.db,
        &format!("resend:ip:{}:{}", ctx.slug(), ctx.ip),
        HOUR,
        10,
    )
    .await?
    {
        return Err(WebError::RateLimited);
    }
    if let Some(e) = form.get("email").and_then(|e| account::normalize_email(e))
        && let Some(acc) = account::find_by(&st.db, ctx.slug(), Key::Email, &e).await?
        && !acc.email_confirmed
    {
        let base = ctx.tenant.public_url(&st.cfg.public_url);
        if account::common::resend_confirmation(&st.db, &ctx.tenant, &base, &acc).await? {
            st.outbox_wake.notify_one();
        }
    }
    // The same answer whether or not the address is known.
    ctx.render("portal/check_email.html", None, context! { resent => true })
}

// ---------------------------------------------------------- password reset

async fn forgot_page(ctx: Ctx) -> Result<Response, WebError> {
    ctx.render("portal/forgot.html", None, context! {})
}

async fn forgot(
    ctx: Ctx,
    State(st): State<AppState>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, WebError> {
    let raw = form.get("email").cloned().unwrap_or_default();
    let Some(email) = account::normalize_email(&raw) else {
        let r = ctx.render(
            "portal/forgot.html",
            None,
            context! { email => raw, error => "Введите адрес почты, указанный при регистрации" },
        )?;
        return Ok(with_status(r, StatusCode::UNPROCESSABLE_ENTITY));
    };
    let base = ctx.tenant.public_url(&st.cfg.public_url);
    match account::common::request_reset(&st.db, &ctx.tenant, &base, &email, &ctx.ip).await? {
        account::common::Reset::TooManyHere => return Err(WebError::RateLimited),
        account::common::Reset::Handled { queued } => {
            if queued {
                st.outbox_wake.notify_one();
            }
        }
    }
    // No account enumeration: the page reads the same for any address.
    ctx.render(
        "portal/forgot.html",
        None,
        context! { sent => true, email => email },
    )
}

async fn reset_page(
    ctx: Ctx,
    State(st): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    if !codes::peek_link(&st.db, ctx.slug(), purpose::RESET_PASSWORD, &token).await? {
        return invalid_link(&ctx);
    }
    ctx.render("portal/reset.html", None, context! { token => token, errors => FieldErrors::new(), password_min => ctx.tenant.config.accounts.password_min_length })
}

async fn reset(
    ctx: Ctx,
    State(st): State<AppState>,
    Path(token): Path<String>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, WebError> {
    let pw = form.get("password").cloned().unwrap_or_default();
    let min = ctx.tenant.config.accounts.password_min_length;
    if let Err((field, msg)) = password::check_new(
        &pw,
        form.get("password2").map(String::as_str).unwrap_or(""),
        min,
    ) {
        let errors: FieldErrors = [(field.to_string(), msg)].into();
        let r = ctx.render(
            "portal/reset.html",
            None,
            context! { token => token, errors => errors, password_min => min },
        )?;
        return Ok(with_status(r, StatusCode::UNPROCESSABLE_ENTITY));
    }
    let hash = password::hash(pw).await;
    if !account::common::reset_password(&st.db, ctx.slug(), &token, &hash, &ctx.ip).await? {
        return invalid_link(&ctx);
    }
    Ok(ctx.redirect("/login?reset=1"))
}

async fn consent_page(ctx: Ctx) -> Result<Response, WebError> {
    ctx.render("portal/consent.html", None, context! {})
}
