//! Appeals on both sides: the applicant's "my appeals", the draft form
//! (topic, text, one file) and the sent appeal with its answer; the
//! office's list of appeals, taking one into work and answering it.

use super::shared::{internal, render, staff};
use super::{AppState, Applicant, CsrfForm, Ctx, FormBy, WebError};
use crate::account::{Account, FieldErrors};
use crate::appeal::{self, Appeal};
use axum::Router;
use axum::extract::{FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use minijinja::context;

pub fn routes() -> Router<AppState> {
    // The applicant's pages are there only when the tenant offers appeals;
    // the file of an appeal already sent stays reachable.
    let offered = Router::new()
        .route("/appeals", get(list))
        .route("/appeals/new", post(create))
        .route(
            "/appeals/{id}",
            get(show)
                .post(save)
                .layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/appeals/{id}/delete", post(delete))
        .route_layer(axum::middleware::from_fn(only_offered));
    Router::new()
        .merge(offered)
        .route("/appeals/{id}/file", get(file))
        .route("/office/appeals", get(office_list))
        .route("/office/appeals/{id}", get(office_card))
        .route("/office/appeals/{id}/file", get(office_file))
        .route("/office/appeals/{id}/{action}", post(office_action))
}

/// 404 before anything else is looked at when the tenant offers no appeals.
async fn only_offered(ctx: Ctx, req: Request, next: Next) -> Response {
    if ctx.tenant.config.appeals.topics.is_empty() {
        return WebError::NotFound.into_response();
    }
    next.run(req).await
}

/// The signed-in applicant and one of their appeals, by the path's `{id}`;
/// anyone else's is 404.
struct OwnAppeal(Account, Appeal);

impl FromRequestParts<AppState> for OwnAppeal {
    type Rejection = WebError;
    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, WebError> {
        let Applicant(acc) = Applicant::from_request_parts(parts, st).await?;
        let ctx = Ctx::from_request_parts(parts, st).await?;
        let Path(id) = Path::<String>::from_request_parts(parts, st)
            .await
            .map_err(|_| WebError::NotFound)?;
        let a = appeal::get_own(&st.db, ctx.slug(), acc.id, parse_id(&id)?)
            .await?
            .ok_or(WebError::NotFound)?;
        Ok(OwnAppeal(acc, a))
    }
}

fn parse_id(raw: &str) -> Result<i64, WebError> {
    raw.parse().map_err(|_| WebError::NotFound)
}

fn view(ctx: &Ctx, a: &Appeal) -> minijinja::Value {
    context! {
        id => a.id,
        topic => &a.topic,
        body => &a.body,
        status => &a.status,
        status_title => appeal::status_title(&ctx.tenant, &a.status),
        draft => a.is_draft(),
        file_name => &a.file_name,
        answer => a.answer.clone().map(minijinja::Value::from_safe_string),
        answered_at => a.answered_at.as_deref().map(|t| ctx.tenant.local_time(t)),
        created_at => ctx.tenant.local_date(&a.created_at),
        sent_at => a.sent_at.as_deref().map(|t| ctx.tenant.local_date(t)),
    }
}

#[derive(serde::Deserialize, Default)]
struct ListQuery {
    sent: Option<String>,
    deleted: Option<String>,
}

async fn list(
    ctx: Ctx,
    State(st): State<AppState>,
    Query(q): Query<ListQuery>,
    Applicant(acc): Applicant,
) -> Result<Response, WebError> {
    let items = appeal::list_own(&st.db, ctx.slug(), acc.id).await?;
    ctx.render(
        "portal/appeals.html",
        Some(&acc),
        context! {
            items => items.iter().map(|a| view(&ctx, a)).collect::<Vec<_>>(),
            sent => q.sent.is_some(),
            deleted => q.deleted.is_some(),
        },
    )
}

async fn create(
    ctx: Ctx,
    State(st): State<AppState>,
    FormBy(Applicant(acc), form): FormBy<Applicant>,
) -> Result<Response, WebError> {
    let cfg = &ctx.tenant.config.appeals;
    let topic = form
        .get("topic")
        .filter(|t| cfg.topics.contains(t))
        .unwrap_or(&cfg.topics[0]);
    let (id, created) =
        appeal::create_draft(&st.db, ctx.slug(), acc.id, topic, cfg.one_draft).await?;
    if !created {
        return Ok(ctx.redirect(&format!("/appeals/{id}?reopened=1")));
    }
    Ok(ctx.redirect(&format!("/appeals/{id}")))
}

#[derive(serde::Deserialize, Default)]
struct ShowQuery {
    reopened: Option<String>,
    saved: Option<String>,
}

async fn show(
    ctx: Ctx,
    Query(q): Query<ShowQuery>,
    OwnAppeal(acc, a): OwnAppeal,
) -> Result<Response, WebError> {
    let notice = if q.reopened.is_some() {
        Some("Открыт ваш черновик обращения: чтобы создать новое, отправьте или удалите его.")
    } else if q.saved.is_some() {
        Some("Черновик сохранён.")
    } else {
        None
    };
    render_appeal(&ctx, &acc, &a, &FieldErrors::new(), notice)
}

fn render_appeal(
    ctx: &Ctx,
    acc: &crate::account::Account,
    a: &Appeal,
    errors: &FieldErrors,
    notice: Option<&str>,
) -> Result<Response, WebError> {
    let r = ctx.render(
        "portal/appeal.html",
        Some(acc),
        context! {
            a => view(ctx, a),
            topics => &ctx.tenant.config.appeals.topics,
            text_required => ctx.tenant.config.appeals.text_required,
            errors => errors,
            notice => notice,
            max_mb => ctx.tenant.config.applications.max_upload_mb,
        },
    )?;
    Ok(super::with_errors(r, errors))
}

/// Save or send a draft: a multipart form, so a file can come with it.
async fn save(
    ctx: Ctx,
    State(st): State<AppState>,
    OwnAppeal(acc, a): OwnAppeal,
    multipart: axum::extract::Multipart,
) -> Result<Response, WebError> {
    if !a.is_draft() {
        return Ok(ctx.redirect(&format!("/appeals/{}", a.id)));
    }
    let max_mb = ctx.tenant.config.applications.max_upload_mb;
    let mut errors = FieldErrors::new();
    let posted = match super::posted::read(&ctx, &st, multipart, max_mb).await {
        Ok(p) => p,
        Err(r) if r.error == super::posted::PostedError::Csrf => return Err(WebError::Csrf),
        Err(r) => {
            // Nothing is saved; the topic and text typed are shown again.
            errors.insert("file".into(), r.error.message(max_mb));
            let typed = |k: &str| r.typed.get(k).cloned();
            let shown = Appeal {
                topic: typed("topic").unwrap_or_else(|| a.topic.clone()),
                body: typed("body").unwrap_or_else(|| a.body.clone()),
                ..a.clone()
            };
            return render_appeal(&ctx, &acc, &shown, &errors, None);
        }
    };
    let keeping = appeal::Keeping {
        tenant: &ctx.tenant,
        appeal: &a,
        topic: posted.fields.get("topic").cloned().unwrap_or_default(),
        body: posted
            .fields
            .get("body")
            .map(|b| b.trim().to_string())
            .unwrap_or_default(),
        file: posted.file.as_ref().map(|(n, s, t)| (n.as_str(), s, *t)),
        send: posted.fields.get("action").map(String::as_str) == Some("send"),
    };
    match appeal::keep(&st.db, &st.files, keeping).await {
        Ok(appeal::Kept::Sent) => Ok(ctx.redirect("/appeals?sent=1")),
        Ok(appeal::Kept::Saved) => Ok(ctx.redirect(&format!("/appeals/{}?saved=1", a.id))),
        Ok(appeal::Kept::Moved) => Ok(ctx.redirect(&format!("/appeals/{}", a.id))),
        // Nothing is saved, and what was typed is shown again.
        Err(appeal::KeepError::Invalid { errors, shown }) => {
            render_appeal(&ctx, &acc, &shown, &errors, None)
        }
        Err(appeal::KeepError::NeedsText) => {
            // Saved as a draft; sending needs the text.
            errors.insert("body".into(), "Напишите текст обращения".into());
            let saved = appeal::get_own(&st.db, ctx.slug(), acc.id, a.id)
                .await?
                .ok_or(WebError::NotFound)?;
            render_appeal(&ctx, &acc, &saved, &errors, None)
        }
        Err(appeal::KeepError::Db(e)) => Err(e.into()),
    }
}

async fn delete(
    ctx: Ctx,
    State(st): State<AppState>,
    FormBy(OwnAppeal(acc, a), _): FormBy<OwnAppeal>,
) -> Result<Response, WebError> {
    appeal::delete_draft(&st.db, ctx.slug(), acc.id, a.id).await?;
    if let Some(sha) = &a.file_sha256 {
        crate::document::forget_if_unused(&st.db, &st.files, sha).await;
    }
    Ok(ctx.redirect("/appeals?deleted=1"))
}

async fn send_file(st: &AppState, a: &Appeal) -> Result<Response, WebError> {
    let (Some(sha), Some(name)) = (&a.file_sha256, &a.file_name) else {
        return Err(WebError::NotFound);
    };
    super::stored_file(
        st,
        sha,
        a.file_type.as_deref().unwrap_or("application/octet-stream"),
        "file",
        name,
    )
    .await
}

async fn file(
    State(st): State<AppState>,
    OwnAppeal(_, a): OwnAppeal,
) -> Result<Response, WebError> {
    send_file(&st, &a).await
}

// -------------------------------------------------------------------- office

#[derive(serde::Deserialize, Default)]
struct OfficeQuery {
    status: Option<String>,
}

async fn office_list(
    ctx: Ctx,
    State(st): State<AppState>,
    Query(q): Query<OfficeQuery>,
) -> Result<Response, WebError> {
    let s = staff(&st, &ctx).await?;
    let status = super::nonempty(&q.status);
    let items = appeal::list_sent(&st.db, ctx.slug(), status.as_deref()).await?;
    let senders = appeal::senders(&st.db, ctx.slug(), &items).await?;
    let items: Vec<_> = items
        .iter()
        .map(|a| {
            let who = senders.get(&a.account_id).map(|(t, profile, email)| {
                let t = crate::tenant::config::ApplicantType::from_id(t);
                let b = crate::account::badge_of(&ctx.tenant, t, profile, email.clone());
                context! { name => b.name, type_title => b.type_title, ids => b.ids }
            });
            context! { applicant => who, ..view(&ctx, a) }
        })
        .collect();
    render(
        &ctx,
        "office/appeals.html",
        Some(&s),
        context! {
            items => items,
            status => status,
            statuses => [appeal::ACCEPTED, appeal::PROCESSING, appeal::ANSWERED]
                .iter()
                .map(|id| context! { id => id, title => appeal::status_title(&ctx.tenant, id) })
                .collect::<Vec<_>>(),
        },
    )
}

async fn office_appeal(st: &AppState, ctx: &Ctx, id: &str) -> Result<Appeal, WebError> {
    appeal::get_sent(&st.db, ctx.slug(), parse_id(id)?)
        .await?
        .ok_or(WebError::NotFound)
}

async fn office_card(
    ctx: Ctx,
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<super::DoneQuery>,
) -> Result<Response, WebError> {
    let s = staff(&st, &ctx).await?;
    let a = office_appeal(&st, &ctx, &id).await?;
    let done = q.done.is_some();
    render_office_card(&st, &ctx, &s, &a, &FieldErrors::new(), "", done).await
}

async fn render_office_card(
    st: &AppState,
    ctx: &Ctx,
    s: &crate::office::Staff,
    a: &Appeal,
    errors: &FieldErrors,
    typed_answer: &str,
    done: bool,
) -> Result<Response, WebError> {
    let who = crate::account::get(&st.db, ctx.slug(), a.account_id).await?;
    let badge = who
        .as_ref()
        .map(|acc| crate::account::badge(&ctx.tenant, acc));
    let r = render(
        ctx,
        "office/appeal.html",
        Some(s),
        context! {
            a => view(ctx, a),
            applicant => badge.map(|b| context! { name => b.name, type_title => b.type_title, ids => b.ids }),
            email => who.as_ref().and_then(|w| w.email.clone()),
            errors => errors,
            typed_answer => typed_answer,
            done => done,
        },
    )?;
    Ok(super::with_errors(r, errors))
}

async fn office_file(
    ctx: Ctx,
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    staff(&st, &ctx).await?;
    let a = office_appeal(&st, &ctx, &id).await?;
    send_file(&st, &a).await
}

async fn office_action(
    ctx: Ctx,
    State(st): State<AppState>,
    Path((id, action)): Path<(String, String)>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, WebError> {
    let s = staff(&st, &ctx).await?;
    let a = office_appeal(&st, &ctx, &id).await?;
    let action = appeal::StaffAction::from_id(&action).ok_or(WebError::NotFound)?;
    let text = form.get("answer").map(String::as_str).unwrap_or_default();
    let link = format!(
        "{}/appeals/{}",
        ctx.tenant.public_url(&st.cfg.public_url),
        a.id
    );
    match appeal::handle(
        &st.db,
        &ctx.tenant,
        s.id,
        &a,
        action,
        text,
        (&link, &ctx.ip),
    )
    .await
    {
        Ok(appeal::Handled::Done) => {
            st.outbox_wake.notify_one();
            Ok(ctx.redirect(&format!("/office/appeals/{}?done={}", a.id, action.id())))
        }
        Ok(appeal::Handled::Unchanged) => Ok(ctx.redirect(&format!("/office/appeals/{}", a.id))),
        Err(appeal::HandleError::Invalid(errors)) => {
            render_office_card(&st, &ctx, &s, &a, &errors, text.trim(), false).await
        }
        Err(appeal::HandleError::Db(e)) => Err(e.into()),
        Err(appeal::HandleError::Notify(e)) => Err(e.into()),
    }
}

impl From<crate::office::OfficeError> for WebError {
    fn from(e: crate::office::OfficeError) -> Self {
        internal(e)
    }
}
