//! The help page and normative documents for applicants (public: a person
//! may read them before registering), and the office pages where staff
//! publish documents and the tenant admin edits the portal's texts.

use super::shared::{render, staff};
use super::{AppState, CsrfForm, Ctx, WebError};
use crate::account::FieldErrors;
use crate::content::{self, BLANK_FORMS_URL, PAGES};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use minijinja::context;
use std::collections::BTreeMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/help", get(help))
        .route("/documents", get(documents))
        .route("/documents/{id}", get(document))
        .route("/office/content", get(content_page).post(content_save))
        .route(
            "/office/documents",
            get(office_documents)
                .post(office_document_add)
                .layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route(
            "/office/documents/{id}/delete",
            post(office_document_delete),
        )
}

async fn help(ctx: Ctx, State(st): State<AppState>) -> Result<Response, WebError> {
    let acc = ctx.user(&st).await?;
    ctx.render("portal/help.html", acc.as_ref(), context! {})
}

#[derive(serde::Deserialize, Default)]
struct CityQuery {
    city: Option<String>,
}

fn cities(ctx: &Ctx) -> Vec<String> {
    ctx.tenant.list("cities").unwrap_or(&[]).to_vec()
}

fn doc_view(ctx: &Ctx, d: &content::NormativeDocument) -> minijinja::Value {
    context! {
        id => d.id,
        city => &d.city,
        title => &d.title,
        file_name => &d.file_name,
        size => super::human_size(d.file_size),
        created_at => ctx.tenant.local_date(&d.created_at),
    }
}

async fn documents(
    ctx: Ctx,
    State(st): State<AppState>,
    Query(q): Query<CityQuery>,
) -> Result<Response, WebError> {
    let acc = ctx.user(&st).await?;
    let all = cities(&ctx);
    let city = super::nonempty(&q.city).filter(|c| all.contains(c));
    let docs = content::documents(&st.db, ctx.slug(), city.as_deref()).await?;
    ctx.render(
        "portal/documents.html",
        acc.as_ref(),
        context! {
            docs => docs.iter().map(|d| doc_view(&ctx, d)).collect::<Vec<_>>(),
            cities => all,
            city => city,
        },
    )
}

async fn document(
    ctx: Ctx,
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let id: i64 = id.parse().map_err(|_| WebError::NotFound)?;
    let d = content::document(&st.db, ctx.slug(), id)
        .await?
        .ok_or(WebError::NotFound)?;
    super::stored_file(&st, &d.file_sha256, &d.file_type, "document", &d.file_name).await
}

// -------------------------------------------------------------------- office

async fn office_documents(
    ctx: Ctx,
    State(st): State<AppState>,
    Query(q): Query<super::DoneQuery>,
) -> Result<Response, WebError> {
    let s = staff(&st, &ctx).await?;
    let none = FieldErrors::new();
    render_office_documents(&st, &ctx, &s, &none, &BTreeMap::new(), q.done.as_deref()).await
}

async fn render_office_documents(
    st: &AppState,
    ctx: &Ctx,
    s: &crate::office::Staff,
    errors: &FieldErrors,
    typed: &BTreeMap<String, String>,
    done: Option<&str>,
) -> Result<Response, WebError> {
    let docs = content::documents(&st.db, ctx.slug(), None).await?;
    let r = render(
        ctx,
        "office/documents.html",
        Some(s),
        context! {
            docs => docs.iter().map(|d| doc_view(ctx, d)).collect::<Vec<_>>(),
            cities => cities(ctx),
            errors => errors,
            typed => typed,
            done => done,
        },
    )?;
    Ok(super::with_errors(r, errors))
}

async fn office_document_add(
    ctx: Ctx,
    State(st): State<AppState>,
    multipart: axum::extract::Multipart,
) -> Result<Response, WebError> {
    let s = staff(&st, &ctx).await?;
    let max_mb = ctx.tenant.config.applications.max_upload_mb;
    let posted = match super::posted::read(&ctx, &st, multipart, max_mb).await {
        Ok(p) => p,
        Err(r) if r.error == super::posted::PostedError::Csrf => return Err(WebError::Csrf),
        Err(r) => {
            let errors = [("file".to_string(), r.error.message(max_mb))].into();
            return render_office_documents(&st, &ctx, &s, &errors, &r.typed, None).await;
        }
    };
    let publishing = content::Publishing {
        tenant: &ctx.tenant,
        staff: s.id,
        title: posted.fields.get("title").map(String::as_str).unwrap_or(""),
        city: posted
            .fields
            .get("city")
            .map(String::as_str)
            .filter(|c| !c.is_empty()),
        file: posted.file.as_ref().map(|(n, s, t)| (n.as_str(), s, *t)),
        ip: &ctx.ip,
    };
    match content::publish_document(&st.db, &st.files, publishing).await {
        Ok(_) => {}
        Err(content::PublishError::Invalid(errors)) => {
            return render_office_documents(&st, &ctx, &s, &errors, &posted.fields, None).await;
        }
        Err(content::PublishError::Db(e)) => return Err(e.into()),
    }
    Ok(ctx.redirect("/office/documents?done=added"))
}

async fn office_document_delete(
    ctx: Ctx,
    State(st): State<AppState>,
    Path(id): Path<String>,
    _: CsrfForm,
) -> Result<Response, WebError> {
    let s = staff(&st, &ctx).await?;
    let id: i64 = id.parse().map_err(|_| WebError::NotFound)?;
    if !content::withdraw_document(&st.db, &st.files, ctx.slug(), s.id, id, &ctx.ip).await? {
        return Err(WebError::NotFound);
    }
    Ok(ctx.redirect("/office/documents?done=deleted"))
}

async fn content_page(ctx: Ctx, State(st): State<AppState>) -> Result<Response, WebError> {
    let s = staff(&st, &ctx).await?;
    if !s.role.is_admin() {
        return Err(WebError::Forbidden);
    }
    let current = content::pages(&st.db, ctx.slug()).await?;
    render_content(&ctx, &s, &current, &FieldErrors::new(), false)
}

fn render_content(
    ctx: &Ctx,
    s: &crate::office::Staff,
    values: &BTreeMap<String, String>,
    errors: &FieldErrors,
    saved: bool,
) -> Result<Response, WebError> {
    let r = render(
        ctx,
        "office/content.html",
        Some(s),
        context! {
            editable => PAGES.iter().map(|(k, title)| context! { key => k, title => title, value => values.get(*k) }).collect::<Vec<_>>(),
            blank_forms_url => values.get(BLANK_FORMS_URL),
            errors => errors,
            saved => saved,
        },
    )?;
    Ok(super::with_errors(r, errors))
}

/// Save the pages: rich text is cut down to safe markup; the blank forms
/// link must be an http(s) URL.
async fn content_save(
    ctx: Ctx,
    State(st): State<AppState>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, WebError> {
    let s = staff(&st, &ctx).await?;
    if !s.role.is_admin() {
        return Err(WebError::Forbidden);
    }
    match content::save_pages(&st.db, ctx.slug(), s.id, &form, &ctx.ip).await {
        Ok(()) => {}
        Err(content::SaveError::Invalid(errors)) => {
            return render_content(&ctx, &s, &form, &errors, false);
        }
        Err(content::SaveError::Db(e)) => return Err(e.into()),
    }
    st.pages.forget(ctx.slug());
    let current = content::pages(&st.db, ctx.slug()).await?;
    render_content(&ctx, &s, &current, &FieldErrors::new(), true)
}
