//! The HTTP layer: the router, tenant resolution, cookies, CSRF, error
//! pages and the per-request context handlers receive.
//!
//! One tenant router serves every tenant. A middleware in front of it finds
//! the tenant from `/t/<slug>/…` (stripping the prefix) or from the Host
//! header, puts a [`Ctx`] into the request, and turns error responses into
//! the tenant's branded error page.

mod accounts;
mod appeals;
mod applications;
mod content;
mod error;
pub mod inflight;
mod office;
mod posted;
mod profile;
mod shared;
mod signing;
use crate::tenant::templates;

/// Sizes in the pages read as in the mail and the audit log.
pub(crate) use crate::document::human_size;
pub use error::WebError;

use crate::account::{self, Account};
use crate::application::{self, Application};
use crate::security::CsrfKey;
use crate::security::captcha::AnswerSource;
use crate::store::Db;
use crate::tenant::{Registry, Tenant};
use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::Notify;
use tracing::Instrument;

/// Settings of the web layer that come from the command line.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Base for emailed links of tenants without their own `public_url`.
    pub public_url: String,
    /// Mark cookies `Secure` (when TLS terminates in front of us).
    pub secure_cookies: bool,
    pub captcha: AnswerSource,
    pub captcha_bits: u32,
    /// Take the client address from `X-Forwarded-For` (behind a proxy).
    pub trust_proxy: bool,
}

pub struct Inner {
    pub db: Db,
    pub tenants: Arc<Registry>,
    pub csrf: CsrfKey,
    pub cfg: WebConfig,
    /// Wakes the outbox worker after a commit that queued a message.
    pub outbox_wake: Arc<Notify>,
    /// Tenants' WebAssembly plugins.
    pub plugins: crate::plugin::Plugins,
    /// Attached files.
    pub files: crate::document::FileStore,
    /// Pages the tenant admin edited, cached per process.
    pub pages: crate::content::PageCache,
    /// The requests being answered, for the watchdog.
    pub inflight: Arc<inflight::InFlight>,
}

#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

const SESSION_COOKIE: &str = "tl_session";
const CSRF_COOKIE: &str = "tl_csrf";

/// What a handler knows about the request beyond its own arguments.
#[derive(Clone)]
pub struct Ctx {
    pub tenant: Arc<Tenant>,
    /// `/t/<slug>` or empty on the tenant's own host.
    pub base: String,
    pub ip: String,
    pub user_agent: String,
    pub request_id: String,
    pub session: Option<String>,
    /// The office session cookie, if any.
    pub staff_session: Option<String>,
    /// The tenant's edited pages (login, home, help, blank forms link).
    pub pages: Arc<std::collections::BTreeMap<String, String>>,
    pub csrf_token: String,
    csrf_cookie: String,
    /// The path inside the tenant, for navigation highlighting.
    pub path: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = WebError;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Ctx>()
            .cloned()
            .ok_or(WebError::NotFound)
    }
}

impl Ctx {
    pub fn slug(&self) -> &str {
        &self.tenant.slug
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn redirect(&self, path: &str) -> Response {
        Redirect::to(&self.url(path)).into_response()
    }

    /// The logged-in account of this tenant, if any.
    pub async fn user(&self, st: &AppState) -> Result<Option<Account>, WebError> {
        let Some(token) = &self.session else {
            return Ok(None);
        };
        Ok(account::session::account(&st.db, self.slug(), token).await?)
    }

    pub async fn require_user(&self, st: &AppState) -> Result<Account, WebError> {
        self.user(st)
            .await?
            .ok_or_else(|| WebError::NeedLogin(self.url("/login")))
    }

    /// The session cookies a CSRF token is bound to.
    fn sessions(&self) -> [Option<&str>; 2] {
        [self.session.as_deref(), self.staff_session.as_deref()]
    }

    /// Reject a form whose `csrf_token` does not match this browser.
    pub fn check_csrf(
        &self,
        st: &AppState,
        form: &BTreeMap<String, String>,
    ) -> Result<(), WebError> {
        let token = form.get("csrf_token").map(String::as_str).unwrap_or("");
        if st
            .csrf
            .verify(self.slug(), &self.csrf_cookie, &self.sessions(), token)
        {
            Ok(())
        } else {
            tracing::warn!("CSRF token missing or wrong");
            Err(WebError::Csrf)
        }
    }

    /// Render a tenant template with the common context.
    pub fn render(
        &self,
        name: &str,
        user: Option<&Account>,
        extra: minijinja::Value,
    ) -> Result<Response, WebError> {
        let user_view = user.map(|a| {
            let badge = account::badge(&self.tenant, a);
            minijinja::context! {
                name => badge.name,
                type_title => badge.type_title,
                ids => badge.ids,
                phone => &a.phone,
                phone_confirmed => a.phone_confirmed,
                email => &a.email,
                email_confirmed => a.email_confirmed,
                needs_phone_confirm => self.tenant.config.accounts.confirm_phone && a.phone.is_some() && !a.phone_confirmed,
            }
        });
        let ctx = minijinja::context! {
            tenant => templates::tenant_view(&self.tenant),
            base => &self.base,
            path => &self.path,
            csrf_token => &self.csrf_token,
            user => user_view,
            request_id => &self.request_id,
            page_texts => self.pages.iter().map(|(k, v)| {
                // The pages were sanitised when saved; the blank forms link is a
                // URL and stays escaped like any other value.
                let value = if k == crate::content::BLANK_FORMS_URL {
                    minijinja::Value::from(v.clone())
                } else {
                    minijinja::Value::from_safe_string(v.clone())
                };
                (k.clone(), value)
            }).collect::<std::collections::BTreeMap<_, _>>(),
            ..extra
        };
        let html = self
            .tenant
            .templates
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .map_err(|e| WebError::Internal(anyhow::anyhow!("template {name}: {e:#}")))?;
        Ok(Html(html).into_response())
    }
}

/// Build the whole application.
pub fn app(state: AppState) -> Router {
    let tenant_routes = Router::new()
        .merge(accounts::routes())
        .merge(profile::routes())
        .merge(applications::routes())
        .merge(office::routes())
        .merge(appeals::routes())
        .merge(content::routes())
        .merge(signing::routes())
        .route("/assets/theme.css", get(theme_css))
        .route("/assets/{*path}", get(tenant_asset))
        .route("/static/{*path}", get(static_file))
        .fallback(|| async { WebError::NotFound })
        .with_state(state.clone());
    let tenant_service = tower::ServiceBuilder::new()
        .layer(middleware::from_fn_with_state(
            state.clone(),
            resolve_tenant,
        ))
        .service(tenant_routes);
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .fallback_service(tenant_service)
        .with_state(state)
        .layer(middleware::from_fn(security_headers))
}

async fn readyz(State(st): State<AppState>) -> Response {
    if st.db.ping().await && !st.tenants.all().is_empty() {
        (StatusCode::OK, "ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response()
    }
}

async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    for (k, v) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "same-origin"),
        (
            "content-security-policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (
            "permissions-policy",
            "camera=(), microphone=(), geolocation=()",
        ),
    ] {
        h.entry(k).or_insert(HeaderValue::from_static(v));
    }
    resp
}

/// A query value that says something: trimmed and not empty.
pub(crate) fn nonempty(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// A date filter (YYYY-MM-DD); anything else is ignored rather than failing the page.
pub(crate) fn date_param(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|d| {
            time::Date::parse(d, time::macros::format_description!("[year]-[month]-[day]")).is_ok()
        })
        .map(str::to_string)
}

/// The filters of a list as a query string, for links to its other pages.
pub(crate) fn query_string(pairs: &[(&str, &Option<String>)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            pairs
                .iter()
                .filter_map(|(k, v)| nonempty(v).map(|v| (*k, v))),
        )
        .finish()
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    cookies(headers, name).next()
}

/// Every value of cookie `name`: a browser sends one per path and domain
/// that set it.
fn cookies<'a>(headers: &'a HeaderMap, name: &'a str) -> impl Iterator<Item = String> + 'a {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .filter(move |(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

/// A `Set-Cookie` value for this tenant's path.
pub fn set_cookie(
    ctx: &Ctx,
    st: &AppState,
    name: &str,
    value: &str,
    max_age: Option<i64>,
) -> HeaderValue {
    let path = if ctx.base.is_empty() {
        "/".to_string()
    } else {
        format!("{}/", ctx.base)
    };
    let mut c = format!("{name}={value}; Path={path}; HttpOnly; SameSite=Lax");
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if st.cfg.secure_cookies {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).expect("cookie values are URL-safe base64")
}

/// The CSRF cookie's name. Behind TLS it carries the `__Host-` prefix: a
/// browser then takes it only from this very host, Secure, for the whole
/// host, so a sibling subdomain cannot plant one at all.
fn csrf_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-tl_csrf"
    } else {
        CSRF_COOKIE
    }
}

/// A `Set-Cookie` value a `__Host-` cookie needs: Secure, `Path=/`, no Domain.
fn host_cookie(name: &str, value: &str) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Lax; Secure"
    ))
    .expect("cookie values are URL-safe base64")
}

fn forwarded_client(headers: &axum::http::HeaderMap) -> Option<std::net::IpAddr> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .next_back()
        .and_then(|v| v.trim().parse().ok())
}

/// The client's address. Behind a trusted proxy it is the last
/// X-Forwarded-For entry: the one our proxy appended. Entries before it are
/// whatever the client sent, so taking the first would let anyone pick an
/// address per request and walk around the per-address limits.
fn client_ip(st: &AppState, req: &Request) -> String {
    if st.cfg.trust_proxy
        && let Some(ip) = forwarded_client(req.headers())
    {
        return ip.to_string();
    }
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// The tenant a request is for, by its path (`/t/{slug}/…`) or else its
/// host, with the base its links take and the path within the portal; or
/// the answer to a request that names no portal.
fn route_tenant(
    st: &AppState,
    req: &Request,
) -> Result<(Arc<Tenant>, String, String), Box<Response>> {
    let path = req.uri().path();
    if let Some(after) = path.strip_prefix("/t/") {
        let (slug, rest) = after
            .split_once('/')
            .map(|(s, r)| (s, format!("/{r}")))
            .unwrap_or((after, String::new()));
        let Some(t) = st.tenants.by_slug(slug) else {
            return Err(Box::new(
                (StatusCode::NOT_FOUND, "Нет такого портала").into_response(),
            ));
        };
        if rest.is_empty() {
            return Err(Box::new(
                Redirect::permanent(&format!("/t/{slug}/")).into_response(),
            ));
        }
        return Ok((t.clone(), format!("/t/{slug}"), rest));
    }
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    match st.tenants.by_host(host) {
        Some(t) => Ok((t.clone(), String::new(), path.to_string())),
        None => Err(Box::new(
            (StatusCode::NOT_FOUND, "Нет такого портала").into_response(),
        )),
    }
}

/// The request's id: the caller's `X-Request-Id` where it is a short safe
/// token, else a fresh one.
fn request_id(req: &Request) -> String {
    req.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 64 && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        .map(str::to_string)
        .unwrap_or_else(|| crate::security::random_token()[..12].to_string())
}

async fn resolve_tenant(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    let request_id = request_id(&req);
    let (tenant, base, rest) = match route_tenant(&st, &req) {
        Ok(found) => found,
        Err(answer) => return *answer,
    };
    // On the list from here, so that a wait for the pages below counts.
    let flight = st.inflight.enter(inflight::Request {
        tenant: tenant.slug.clone(),
        request_id: request_id.clone(),
        method: req.method().to_string(),
        path: rest.clone(),
    });
    let new_uri = match req.uri().query() {
        Some(q) => format!("{}?{}", without_nul(&rest), without_nul(q)),
        None => without_nul(&rest).into_owned(),
    };
    if let Ok(u) = new_uri.parse::<Uri>() {
        *req.uri_mut() = u;
    }
    // A cookie value this deployment did not sign (made up, or planted by a
    // sibling subdomain) is ignored and replaced.
    let csrf_name = csrf_cookie_name(st.cfg.secure_cookies);
    let (csrf_cookie, fresh_csrf) =
        match cookies(req.headers(), csrf_name).find(|c| st.csrf.is_our_cookie(c)) {
            Some(c) => (c, false),
            None => (st.csrf.new_cookie(), true),
        };
    let mut ctx = Ctx {
        tenant: tenant.clone(),
        base,
        ip: client_ip(&st, &req),
        user_agent: req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string(),
        request_id: request_id.clone(),
        session: cookie(req.headers(), SESSION_COOKIE),
        staff_session: cookie(req.headers(), office::STAFF_COOKIE),
        pages: st.pages.get(&st.db, &tenant.slug).await,
        csrf_token: String::new(),
        csrf_cookie,
        path: rest,
    };
    ctx.csrf_token = st
        .csrf
        .token_for(ctx.slug(), &ctx.csrf_cookie, &ctx.sessions());
    req.extensions_mut().insert(ctx.clone());
    let span = tracing::info_span!("request", tenant = %tenant.slug, request_id = %request_id, method = %req.method(), path = %ctx.path);
    async move {
        let resp = next.run(req).await;
        let resp = finish(&st, &ctx, resp, fresh_csrf.then_some(csrf_name));
        inflight::until_sent(resp, flight)
    }
    .instrument(span)
    .await
}

/// The answer as it leaves: an error's page in the tenant's layout, the
/// CSRF cookie where a fresh one was made (`fresh`, by this name), the
/// request's id.
fn finish(st: &AppState, ctx: &Ctx, mut resp: Response, fresh: Option<&str>) -> Response {
    if let Some(err) = resp.extensions_mut().remove::<error::ErrorInfo>() {
        resp = error::page(ctx, err);
    }
    if let Some(name) = fresh {
        let c = if st.cfg.secure_cookies {
            host_cookie(name, &ctx.csrf_cookie)
        } else {
            set_cookie(ctx, st, name, &ctx.csrf_cookie, None)
        };
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp.headers_mut().insert(
        "x-request-id",
        HeaderValue::from_str(&ctx.request_id).unwrap_or(HeaderValue::from_static("-")),
    );
    tracing::debug!(status = resp.status().as_u16(), "done");
    resp
}

async fn theme_css(ctx: Ctx) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        templates::theme_css(&ctx.tenant),
    )
        .into_response()
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "js" => "text/javascript; charset=utf-8",
        "pdf" => "application/pdf",
        "ico" => "image/x-icon",
        _ => "application/octet-stream",
    }
}

async fn tenant_asset(
    ctx: Ctx,
    axum::extract::Path(path): axum::extract::Path<String>,
) -> Result<Response, WebError> {
    let rel = crate::tenant::safe_relative(&path).ok_or(WebError::NotFound)?;
    let file = ctx.tenant.dir.join("assets").join(rel);
    let bytes = tokio::fs::read(&file)
        .await
        .map_err(|_| WebError::NotFound)?;
    Ok((
        [
            (header::CONTENT_TYPE, content_type(&path)),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        bytes,
    )
        .into_response())
}

async fn static_file(
    axum::extract::Path(path): axum::extract::Path<String>,
) -> Result<Response, WebError> {
    let body = templates::embedded(&format!("static/{path}")).ok_or(WebError::NotFound)?;
    Ok((
        [
            (header::CONTENT_TYPE, content_type(&path)),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response())
}

/// Parse an urlencoded body into a map; repeated keys keep the last value.
/// A rendered page answered with another status (a form with errors: 422).
pub(crate) fn with_status(mut r: Response, s: StatusCode) -> Response {
    *r.status_mut() = s;
    r
}

/// A page rendered with form errors answers 422; without them, 200.
pub(crate) fn with_errors(r: Response, errors: &crate::account::FieldErrors) -> Response {
    if errors.is_empty() {
        r
    } else {
        with_status(r, StatusCode::UNPROCESSABLE_ENTITY)
    }
}

/// A file download: the name in RFC 5987 form (Cyrillic survives) with an
/// ASCII fallback for old clients.
pub(crate) fn attachment(
    content_type: &str,
    fallback: &str,
    name: &str,
    body: impl Into<axum::body::Body>,
) -> Response {
    use axum::response::IntoResponse;
    let encoded = url::form_urlencoded::byte_serialize(name.as_bytes())
        .collect::<String>()
        .replace('+', "%20");
    let disposition = format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}");
    (
        [
            (axum::http::header::CONTENT_TYPE, content_type.to_string()),
            (axum::http::header::CONTENT_DISPOSITION, disposition),
        ],
        body.into(),
    )
        .into_response()
}

/// A file streamed from disk rather than read whole into memory.
pub(crate) fn file_body(file: tokio::fs::File) -> axum::body::Body {
    axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(file))
}

/// Stored bytes as a download named `name`.
pub(crate) async fn stored_file(
    st: &AppState,
    sha256: &str,
    content_type: &str,
    fallback: &str,
    name: &str,
) -> Result<Response, WebError> {
    let file = tokio::fs::File::open(st.files.path(sha256))
        .await
        .map_err(|e| WebError::Internal(anyhow::anyhow!("opening stored file {sha256}: {e}")))?;
    Ok(attachment(content_type, fallback, name, file_body(file)))
}

/// A urlencoded form's fields by name, NUL characters taken out of names
/// and values (see [`without_nul`]).
pub fn form_map(pairs: Vec<(String, String)>) -> BTreeMap<String, String> {
    pairs
        .into_iter()
        .map(|(k, v)| (nul_taken_out(k), nul_taken_out(v)))
        .collect()
}

/// Decoded text posted in a form, without its NUL characters (see
/// [`without_nul`] for why).
pub(crate) fn nul_taken_out(mut s: String) -> String {
    if s.contains('\0') {
        s.retain(|c| c != '\0');
    }
    s
}

/// A percent-encoded path or query without its encoded NULs (`%00`). No
/// one types a NUL, a pasted one is invisible, and PostgreSQL refuses it
/// in text where SQLite stores it: taken out before any route or extractor
/// decodes the text, a search, a token or an id with one behaves alike on
/// both databases instead of failing on one. A `%00` is the only way to a
/// decoded NUL here (the URI parser refuses a raw one). One pass, checking
/// the end of what is kept, also takes out a `%00` that closes up when one
/// inside it goes (`%%0000`), in linear time: this runs on every request,
/// before sign-in, on URIs of up to 64 KiB.
pub(crate) fn without_nul(encoded: &str) -> std::borrow::Cow<'_, str> {
    if !encoded.contains("%00") {
        return encoded.into();
    }
    let mut kept = String::with_capacity(encoded.len());
    for c in encoded.chars() {
        kept.push(c);
        if kept.ends_with("%00") {
            kept.truncate(kept.len() - 3);
        }
    }
    kept.into()
}

/// A posted form whose CSRF token this browser's cookie vouches for. As
/// the handler's last argument it is checked before the handler runs, as
/// the two lines it replaces were at the top of each handler.
pub(crate) struct CsrfForm(pub BTreeMap<String, String>);

impl axum::extract::FromRequest<AppState> for CsrfForm {
    type Rejection = Response;
    async fn from_request(req: Request, st: &AppState) -> Result<Self, Response> {
        let ctx = req
            .extensions()
            .get::<Ctx>()
            .cloned()
            .ok_or_else(|| WebError::NotFound.into_response())?;
        let axum::Form(pairs) = axum::Form::<Vec<(String, String)>>::from_request(req, st)
            .await
            .map_err(IntoResponse::into_response)?;
        let form = form_map(pairs);
        ctx.check_csrf(st, &form)
            .map_err(IntoResponse::into_response)?;
        Ok(CsrfForm(form))
    }
}

/// The signed-in applicant of this tenant; without one, the login page.
pub(crate) struct Applicant(pub Account);

impl FromRequestParts<AppState> for Applicant {
    type Rejection = WebError;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        st: &AppState,
    ) -> Result<Self, WebError> {
        let ctx = Ctx::from_request_parts(parts, st).await?;
        Ok(Applicant(ctx.require_user(st).await?))
    }
}

/// The signed-in applicant and one of their applications, named by the
/// path's `{id}`. Another account's or another tenant's application is
/// 404, as a mangled id is: neither says whether the number exists.
pub(crate) struct OwnApplication(pub Account, pub Application);

impl FromRequestParts<AppState> for OwnApplication {
    type Rejection = WebError;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        st: &AppState,
    ) -> Result<Self, WebError> {
        let Applicant(acc) = Applicant::from_request_parts(parts, st).await?;
        let ctx = Ctx::from_request_parts(parts, st).await?;
        let params = axum::extract::RawPathParams::from_request_parts(parts, st)
            .await
            .map_err(|_| WebError::NotFound)?;
        let id: i64 = params
            .iter()
            .find(|(k, _)| *k == "id")
            .and_then(|(_, v)| v.parse().ok())
            .ok_or(WebError::NotFound)?;
        let a = application::get_own(&st.db, ctx.slug(), acc.id, id)
            .await?
            .ok_or(WebError::NotFound)?;
        Ok(OwnApplication(acc, a))
    }
}

/// A form posted by `T` (the [`Applicant`], their [`OwnApplication`]):
/// its CSRF token is checked before `T` is looked up, so a forged or
/// expired form is refused as such whoever it names.
pub(crate) struct FormBy<T>(pub T, pub BTreeMap<String, String>);

impl<T> axum::extract::FromRequest<AppState> for FormBy<T>
where
    T: FromRequestParts<AppState>,
    T::Rejection: IntoResponse,
{
    type Rejection = Response;
    async fn from_request(req: Request, st: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        // The form reads a request with the same head (and body limit),
        // and `T` the head kept back.
        let mut posted = Request::new(body);
        *posted.method_mut() = parts.method.clone();
        *posted.uri_mut() = parts.uri.clone();
        *posted.headers_mut() = parts.headers.clone();
        *posted.extensions_mut() = parts.extensions.clone();
        let CsrfForm(form) = CsrfForm::from_request(posted, st).await?;
        let by = T::from_request_parts(&mut parts, st)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(FormBy(by, form))
    }
}

/// A `?page=` number; anything but a non-negative number is the first page,
/// so a mangled link still shows the list rather than a bare 400.
pub(crate) fn page_number(p: Option<&str>) -> i64 {
    p.and_then(|p| p.trim().parse::<i64>().ok())
        .unwrap_or(0)
        .max(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn no_nul_survives_in_a_path_or_query() {
        use super::without_nul;
        assert_eq!(without_nul("/office/?q=%D0%91"), "/office/?q=%D0%91");
        assert_eq!(without_nul("q=%D0%91%00%D0%B0"), "q=%D0%91%D0%B0");
        assert_eq!(without_nul("q=a%%0000b"), "q=ab");
        // An encoded percent sign followed by "00" is text, not a NUL.
        assert_eq!(without_nul("q=%2500"), "q=%2500");
        for s in ["q=%%0000", "%0%000", "a%00%00%00b", "%%%000000"] {
            let out = without_nul(s);
            let decoded: String = url::form_urlencoded::parse(out.as_bytes())
                .map(|(k, v)| format!("{k}{v}"))
                .collect();
            assert!(!decoded.contains('\0'), "{s} → {out}");
        }
        // The worst case for repeated passes: one `%00` closes up at a time.
        let nested = format!("q={}{}", "%".repeat(21_000), "00".repeat(21_000));
        assert_eq!(without_nul(&nested), "q=");
        let form = super::form_map(vec![("a\0".into(), "x\0y".into())]);
        assert_eq!(form.get("a").map(String::as_str), Some("xy"));
    }

    #[test]
    fn sizes_read_in_russian() {
        assert_eq!(super::human_size(840), "840 байт");
        assert_eq!(super::human_size(40 * 1024 + 5), "40 КБ");
        assert_eq!(super::human_size(1_258_291), "1,2 МБ");
        assert_eq!(super::page_number(Some("x")), 0);
        assert_eq!(super::page_number(Some("-3")), 0);
        assert_eq!(super::page_number(Some(" 2 ")), 2);
    }

    #[test]
    fn behind_tls_the_csrf_cookie_cannot_come_from_a_sibling_host() {
        assert_eq!(super::csrf_cookie_name(false), "tl_csrf");
        let name = super::csrf_cookie_name(true);
        assert_eq!(name, "__Host-tl_csrf");
        let c = super::host_cookie(name, "v.sig");
        let c = c.to_str().unwrap();
        // What browsers demand of a __Host- cookie.
        assert!(c.starts_with("__Host-tl_csrf=v.sig; Path=/;"), "{c}");
        assert!(c.contains("; Secure") && !c.contains("Domain"), "{c}");
    }

    #[test]
    fn the_proxy_appended_address_is_the_client() {
        let mut h = axum::http::HeaderMap::new();
        h.append("x-forwarded-for", "6.6.6.6, 10.0.0.1".parse().unwrap());
        h.append("x-forwarded-for", "203.0.113.7".parse().unwrap());
        assert_eq!(
            super::forwarded_client(&h),
            Some("203.0.113.7".parse().unwrap())
        );
        let mut h = axum::http::HeaderMap::new();
        h.insert("x-forwarded-for", "not-an-ip".parse().unwrap());
        assert_eq!(super::forwarded_client(&h), None);
    }
}

pub(crate) use crate::account::{TextProblem, text_problem};

/// `?done=<what>` after a redirect: which action just succeeded, for the
/// page's confirmation.
#[derive(serde::Deserialize, Default)]
pub(crate) struct DoneQuery {
    pub done: Option<String>,
}
