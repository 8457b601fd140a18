//! The applicant's applications: list, start (city, then kind), the draft
//! form (save, submit, delete) and the view of a submitted application
//! with its history.

use super::shared::field_views;
use super::shared::{
    application_link, fee_view, recipient, refusal_text, send_file, shown_fields, step_message,
};
use super::{
    AppState, Applicant, Ctx, FormBy, OwnApplication, WebError, attachment, date_param, nonempty,
    with_status,
};
use crate::account::{self, Account, FORM_ERROR, FieldErrors};
use crate::application::{self as app, AppError, Application};
use crate::office::correspondence::{self, Attachment, Kind, Letter};
use crate::store::Author;
use crate::tenant::Tenant;
use crate::tenant::config::{DraftPolicy, FieldDef, FieldKind, Role};
use crate::workflow::{self, WorkflowError, status_title};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use minijinja::context;
use std::collections::BTreeMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/applications", get(list))
        .route("/applications/new", get(start_page).post(create))
        .route("/applications/{id}", get(show).post(save))
        .route("/applications/{id}/delete", post(delete))
        .route("/applications/{id}/fee", get(fee_part))
        .route("/applications/{id}/status", post(change_status))
        .route("/applications/{id}/message", post(reply))
        .route(
            "/applications/{id}/document",
            post(reply_document).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        // Uploads stream to the store under the tenant's own size limit.
        .route(
            "/applications/{id}/files/{slot}",
            post(upload).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/applications/{id}/file/{file}", get(download))
        .route("/applications/{id}/files.zip", get(download_zip))
        .route("/applications/{id}/application.docx", get(download_docx))
        .route("/applications/{id}/file/{file}/delete", post(remove_file))
}

impl From<AppError> for WebError {
    fn from(e: AppError) -> Self {
        WebError::Internal(e.into())
    }
}

/// What people call an application: its registration number or, before
/// it has one, the draft's start time, never the platform-wide row id
/// (which would pass for a registration number and tell the volume).
pub(super) fn display_name(tenant: &Tenant, a: &Application) -> String {
    name_of(tenant, a.number.as_deref(), &a.created_at)
}

fn name_of(tenant: &Tenant, number: Option<&str>, created_at: &str) -> String {
    match number {
        Some(n) => format!("№ {n}"),
        None => format!("Черновик от {}", tenant.local_time(created_at)),
    }
}

// --------------------------------------------------------------------- list

#[derive(serde::Deserialize, Default)]
struct ListQuery {
    deleted: Option<String>,
    kind: Option<String>,
    status: Option<String>,
    from: Option<String>,
    to: Option<String>,
    supply_type: Option<String>,
    page: Option<String>,
}

const PAGE: i64 = 20;

/// The rows of "my applications" as the page shows them.
fn list_rows(ctx: &Ctx, found: Vec<app::Listed>) -> Vec<minijinja::Value> {
    found
        .into_iter()
        .map(|a| {
            context! {
                id => a.id,
                name => name_of(&ctx.tenant, a.number.as_deref(), &a.created_at),
                number => a.number,
                kind => ctx.tenant.application_kind(&a.kind).map(|k| k.title.clone()).unwrap_or(a.kind.clone()),
                address => a.address.0,
                city => a.city,
                status => a.custom_status.clone().unwrap_or_else(|| status_title(&ctx.tenant, &a.status)),
                draft => a.status == app::DRAFT,
                supply_type => a.supply_type,
                has_files => a.submitted_at.is_some(),
                submitted_at => a.submitted_at.as_deref().map(|t| ctx.tenant.local_time(t)),
                updated_at => ctx.tenant.local_time(&a.updated_at),
            }
        })
        .collect()
}

/// The statuses (a draft first) and kinds the filters offer.
fn filter_choices(tenant: &Tenant) -> (Vec<minijinja::Value>, Vec<minijinja::Value>) {
    let mut statuses = vec![context! { id => app::DRAFT, title => "Черновик" }];
    statuses.extend(
        tenant
            .config
            .workflow
            .statuses
            .iter()
            .map(|s| context! { id => s.id(), title => &s.title }),
    );
    let kinds: Vec<_> = tenant
        .config
        .application_kinds
        .iter()
        .map(|k| context! { id => k.id(), title => &k.title })
        .collect();
    (statuses, kinds)
}

/// The period the list is filtered by. Typed the wrong way round it would
/// find nothing and say nothing: it is read the right way round, and the
/// page says so.
fn period(q: &ListQuery) -> (Option<String>, Option<String>, FieldErrors) {
    let (mut from, mut to) = (date_param(&q.from), date_param(&q.to));
    let mut errors = FieldErrors::new();
    if let (Some(f), Some(t)) = (&from, &to)
        && f > t
    {
        errors.insert(
            "to".into(),
            format!(
                "Конец периода раньше начала: показаны заявки с {} по {}.",
                crate::tenant::ru_date(t),
                crate::tenant::ru_date(f)
            ),
        );
        std::mem::swap(&mut from, &mut to);
    }
    (from, to, errors)
}

async fn list(
    ctx: Ctx,
    State(st): State<AppState>,
    Query(q): Query<ListQuery>,
    Applicant(acc): Applicant,
) -> Result<Response, WebError> {
    let (from, to, errors) = period(&q);
    let filter = app::Filter {
        kind: nonempty(&q.kind),
        status: nonempty(&q.status),
        from,
        to,
        supply_type: nonempty(&q.supply_type),
        limit: PAGE,
        page: super::page_number(q.page.as_deref()),
    };
    let (found, total) =
        app::list_filtered(&st.db, ctx.slug(), acc.id, &filter, ctx.tenant.offset).await?;
    let rows = list_rows(&ctx, found);
    let (statuses, kinds) = filter_choices(&ctx.tenant);
    // The filter in links to other pages.
    let keep = super::query_string(&[
        ("kind", &filter.kind),
        ("status", &filter.status),
        ("from", &filter.from),
        ("to", &filter.to),
        ("supply_type", &filter.supply_type),
    ]);
    let pages = (total + PAGE - 1) / PAGE;
    ctx.render(
        "portal/applications.html",
        Some(&acc),
        context! {
            rows => rows,
            deleted => q.deleted.is_some(),
            total => total,
            page => filter.page,
            pages => pages,
            keep => keep,
            kinds => kinds,
            statuses => statuses,
            supply_types => supply_types(&ctx.tenant),
            f => context! { kind => &filter.kind, status => &filter.status, from => &filter.from, to => &filter.to, supply_type => &filter.supply_type },
            filtered => [&filter.kind, &filter.status, &filter.from, &filter.to, &filter.supply_type].iter().filter(|v| v.is_some()).count(),
            errors => errors,
        },
    )
}

/// The supply types the list can filter by, when the tenant's forms ask
/// for one (seed 002): the tenant's `[lists] supply_types`.
fn supply_types(tenant: &Tenant) -> Vec<String> {
    let asked = tenant.supply_field().is_some_and(|field| {
        tenant
            .config
            .application_kinds
            .iter()
            .any(|k| k.asks(field))
    });
    match tenant.list("supply_types") {
        Some(l) if asked => l.to_vec(),
        _ => Vec::new(),
    }
}

// -------------------------------------------------------------------- start

#[derive(serde::Deserialize, Default)]
struct StartQuery {
    city: Option<String>,
    kind: Option<String>,
}

async fn start_page(
    ctx: Ctx,
    State(st): State<AppState>,
    Query(q): Query<StartQuery>,
    Applicant(acc): Applicant,
) -> Result<Response, WebError> {
    let cities = ctx.tenant.list("cities").unwrap_or(&[]).to_vec();
    let city = q.city.filter(|c| cities.contains(c));
    let city_first = ctx.tenant.config.applications.city_first;
    // Choosing a kind with a draft of it already open reopens that draft.
    if let Some(k) = q
        .kind
        .as_deref()
        .and_then(|k| ctx.tenant.application_kind(k))
        && (!city_first || city.is_some())
    {
        let drafts = app::drafts_of_kind(&st.db, ctx.slug(), acc.id, k.id()).await?;
        if let Some(d) = drafts.into_iter().find(|d| !city_first || d.city == city) {
            return Ok(ctx.redirect(&format!("/applications/{}?reopened=1", d.id)));
        }
    }
    let kinds: Vec<_> = app::kinds_for(&ctx.tenant, &acc)
        .into_iter()
        .map(|k| context! { id => k.id(), title => &k.title, description => &k.description })
        .collect();
    ctx.render(
        "portal/application_new.html",
        Some(&acc),
        context! {
            city_first => city_first,
            // The city of the profile comes chosen; another is one click away.
            profile_city => acc.profile.get("city").filter(|c| cities.contains(c)),
            cities => cities,
            city => city,
            kinds => kinds,
            chosen_kind => q.kind,
        },
    )
}

async fn create(
    ctx: Ctx,
    State(st): State<AppState>,
    FormBy(Applicant(acc), form): FormBy<Applicant>,
) -> Result<Response, WebError> {
    use app::{Start, Started};
    let start = Start {
        tenant: &ctx.tenant,
        account: &acc,
        kind: form.get("kind").map(String::as_str).unwrap_or(""),
        city: form.get("city").map(String::as_str),
        again: form.get("new").is_some_and(|v| v == "1"),
    };
    match app::start(&st.db, start).await {
        Ok(Started::Created(id)) => Ok(ctx.redirect(&format!("/applications/{id}?created=1"))),
        Ok(Started::Reopened(id)) => Ok(ctx.redirect(&format!("/applications/{id}?reopened=1"))),
        Ok(Started::ChooseAgain) => Ok(ctx.redirect("/applications/new")),
        Err(AppError::NotAllowed) => Err(WebError::Forbidden),
        Err(AppError::TooManyDrafts(max)) => {
            let r = ctx.render(
                "portal/application_new.html",
                Some(&acc),
                context! {
                    city_first => false,
                    kinds => Vec::<minijinja::Value>::new(),
                    limit_error => format!(
                        "У вас уже {max} черновиков — больше хранить нельзя. Отправьте или удалите ненужные в разделе «Мои заявки» и начните новую заявку."
                    ),
                },
            )?;
            Ok(with_status(r, StatusCode::UNPROCESSABLE_ENTITY))
        }
        Err(e) => Err(e.into()),
    }
}

// --------------------------------------------------------------- show/edit

#[derive(serde::Deserialize, Default)]
struct ShowQuery {
    reopened: Option<String>,
    created: Option<String>,
    saved: Option<String>,
    submitted: Option<String>,
    uploaded: Option<String>,
    upload_error: Option<String>,
    slot: Option<String>,
    step_error: Option<String>,
    sent: Option<String>,
    removed: Option<String>,
    /// The status an applicant's step just moved the application to.
    done: Option<String>,
}

/// What the draft's page says about what was just done to it.
fn draft_notice(tenant: &Tenant, q: &ShowQuery, a: &Application) -> Option<String> {
    if q.reopened.is_some() {
        Some(format!(
            "Открыт ваш черновик, сохранённый {}.",
            tenant.local_time(&a.updated_at)
        ))
    } else if q.saved.is_some() {
        Some(format!(
            "Черновик сохранён {}.",
            tenant.local_time(&a.updated_at)
        ))
    } else if q.created.is_some() {
        Some("Черновик создан. Его можно заполнять в несколько приёмов — всё сохраняется.".into())
    } else if q.removed.is_some() {
        Some("Файл удалён.".into())
    } else {
        q.uploaded
            .as_ref()
            .map(|name| format!("Файл «{name}» загружен."))
    }
}

async fn show(
    ctx: Ctx,
    State(st): State<AppState>,
    Query(q): Query<ShowQuery>,
    OwnApplication(acc, a): OwnApplication,
) -> Result<Response, WebError> {
    if workflow::editable(&ctx.tenant, &a) {
        let notice = draft_notice(&ctx.tenant, &q, &a);
        let mut errors = FieldErrors::new();
        if let (Some(code), Some(slot)) = (&q.upload_error, &q.slot) {
            errors.insert(
                slot.clone(),
                upload_message(code, ctx.tenant.config.applications.max_upload_mb),
            );
        }
        return render_form(
            &st,
            &ctx,
            &acc,
            &a,
            &a.values,
            &errors,
            notice,
            q.reopened.is_some(),
        )
        .await;
    }
    // An upload that arrived after the application was sent (from another
    // tab, without scripts) lands here with its reason.
    let upload_error = q
        .upload_error
        .as_deref()
        .map(|code| upload_message(code, ctx.tenant.config.applications.max_upload_mb));
    let notes = ViewNotes {
        submitted_now: q.submitted.is_some(),
        sent_now: q.sent.is_some(),
        step_error: q.step_error.as_deref().map(step_message).or(upload_error),
        // Said only while it is true: a stale link to the page says nothing.
        step_done: q
            .done
            .filter(|to| *to == a.status)
            .map(|to| status_title(&ctx.tenant, &to)),
        ..ViewNotes::default()
    };
    render_view(&st, &ctx, &acc, &a, notes).await
}

/// The fee of a draft as saved just now, for the form's script to show
/// after an autosave (no fee: 204, and the script removes the old one).
async fn fee_part(
    ctx: Ctx,
    State(st): State<AppState>,
    OwnApplication(acc, a): OwnApplication,
) -> Result<Response, WebError> {
    use axum::response::IntoResponse;
    match fee_view(&st, ctx.slug(), app::plugin_view(&a, &acc, &a.values)).await {
        Some(fee) => ctx.render(
            "portal/_fee.html",
            Some(&acc),
            context! { fee => fee, fee_preview => a.is_draft() },
        ),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

/// What the application's page says besides the application itself.
#[derive(Default)]
struct ViewNotes {
    submitted_now: bool,
    sent_now: bool,
    step_error: Option<String>,
    /// A refused reply: which form ("message" or "document"), why, and
    /// what was typed, shown again in that form.
    reply: Option<(&'static str, String, BTreeMap<String, String>)>,
    /// A step asked for and not yet confirmed: its status and label.
    confirm_step: Option<workflow::Step>,
    /// The status title a confirmed step has just set.
    step_done: Option<String>,
}

/// The history as the applicant reads it.
fn applicant_history(ctx: &Ctx, events: Vec<app::Event>) -> Vec<minijinja::Value> {
    events
        .into_iter()
        // Autosaves are noise and who works the application is the utility's business.
        .filter(|e| {
            !matches!(
                app::EventKind::from_id(&e.kind),
                Some(app::EventKind::Saved | app::EventKind::Assigned)
            )
        })
        .map(|e| {
            context! {
                what => super::shared::event_text(ctx, &e),
                who => match e.actor {
                    Author::Applicant => "Вы",
                    Author::System => "Система",
                    Author::Staff(_) => "Организация",
                },
                note => e.note,
                when => ctx.tenant.local_time(&e.created_at),
            }
        })
        .collect()
}

async fn render_view(
    st: &AppState,
    ctx: &Ctx,
    acc: &Account,
    a: &Application,
    notes: ViewNotes,
) -> Result<Response, WebError> {
    let k = ctx.tenant.application_kind(&a.kind);
    let defs = k
        .map(|k| app::form_fields(&ctx.tenant, k, acc))
        .unwrap_or_default();
    // A status in which the applicant signs makes its document on first sight.
    super::shared::freeze_step_document(st, ctx, acc, a).await;
    let files = crate::document::files_of(&st.db, ctx.slug(), a.id).await?;
    let (fields, other_files) = value_and_file_views(&defs, a, &files);
    let fee = fee_view(st, ctx.slug(), app::plugin_view(a, acc, &a.values)).await;
    let history = applicant_history(ctx, app::history(&st.db, a).await?);
    // While the utility waits for the applicant's answer the deadline stands still.
    let paused = crate::office::clock_stopped_on(&st.db, ctx.slug(), a.id).await?;
    let base = format!("{}/applications/{}", ctx.base, a.id);
    let (signing, file_sigs) =
        super::shared::signing_views(st, ctx, a, crate::signing::Side::Applicant, &base).await?;
    ctx.render(
        "portal/application_view.html",
        Some(acc),
        context! {
            a => head_view(ctx, a, k, paused.as_deref()),
            steps => workflow::next_steps(&ctx.tenant.config.workflow, &a.kind, &a.status, Role::Applicant),
            messages => super::shared::message_views(st, ctx, a.id, &BTreeMap::new()).await?,
            can_reply => workflow::answerable(&ctx.tenant, a),
            custom_status => &a.custom_status,
            step_error => notes.step_error,
            sent_now => notes.sent_now,
            reply => notes.reply.as_ref().map(|(form, error, typed)| context! { form => form, error => error, typed => typed }),
            confirm_step => notes.confirm_step.as_ref().map(|s| context! {
                to => &s.to,
                label => &s.label,
                ends => workflow::is_final(&ctx.tenant.config.workflow, &s.to),
            }),
            step_done => notes.step_done,
            fields => fields,
            has_files => !files.is_empty(),
            files => other_files,
            fee => fee,
            history => history,
            signing => signing,
            file_sigs => file_sigs,
            sig_upload => ctx.tenant.config.signature.upload,
            submitted_now => notes.submitted_now,
            edo => acc.applicant_type.get().is_some_and(|t| ctx.tenant.config.applications.edo_for.contains(&t)),
            // Until the utility moves it on, the signed Word file is still awaited.
            awaiting_edo => a.status == workflow::first_status(&ctx.tenant, acc.applicant_type.get()),
        },
    )
}

/// The application's number, kind, status and dates as its page heads them.
fn head_view(
    ctx: &Ctx,
    a: &Application,
    k: Option<&crate::tenant::config::ApplicationKind>,
    paused: Option<&str>,
) -> minijinja::Value {
    context! {
        id => a.id,
        number => a.number,
        status => status_title(&ctx.tenant, &a.status),
        kind => k.map(|k| k.title.clone()).unwrap_or(a.kind.clone()),
        submitted_at => a.submitted_at.as_deref().map(|t| ctx.tenant.local_time(t)),
        due_on => a.due_on.as_deref().map(crate::tenant::ru_date),
        overdue => paused.is_none() && workflow::is_overdue(&ctx.tenant, &a.status, a.due_on.as_deref(), ctx.tenant.today()),
        paused_on => paused.map(crate::tenant::ru_date),
    }
}

/// The form's values as sent, each document slot with its own files, and
/// the files of no slot (sent later with a message) to list below.
fn value_and_file_views(
    defs: &[&FieldDef],
    a: &Application,
    files: &[crate::document::Attached],
) -> (Vec<minijinja::Value>, Vec<minijinja::Value>) {
    let file_view = |f: &crate::document::Attached| context! { id => f.id, name => &f.file_name, doc_type => &f.doc_type, size => super::human_size(f.size) };
    let slots: Vec<&str> = defs
        .iter()
        .filter(|f| f.kind == FieldKind::File)
        .map(|f| f.id())
        .collect();
    let fields = shown_fields(defs.iter().copied(), &a.values)
        .into_iter()
        .zip(defs.iter())
        .map(|(v, def)| {
            if def.kind == FieldKind::Phone {
                return context! { phone => true, ..v };
            }
            if def.kind != FieldKind::File {
                return v;
            }
            let mine: Vec<_> = files
                .iter()
                .filter(|f| f.slot == def.id())
                .map(file_view)
                .collect();
            context! { files => mine, file_slot => true, ..v }
        })
        .collect();
    let other_files = files
        .iter()
        .filter(|f| !slots.contains(&f.slot.as_str()))
        .map(file_view)
        .collect();
    (fields, other_files)
}

#[allow(clippy::too_many_arguments)]
/// The form's document slots, each with the files it holds.
fn slot_views(
    all: &[&FieldDef],
    files: &[crate::document::Attached],
    errors: &FieldErrors,
) -> Vec<minijinja::Value> {
    all.iter()
        .filter(|f| f.kind == FieldKind::File)
        .map(|f| {
            let id = f.id();
            let mine: Vec<_> = files
                .iter()
                .filter(|x| x.slot == id)
                .map(|x| context! { id => x.id, name => &x.file_name, size => super::human_size(x.size), kind => &x.content_type })
                .collect();
            let accept: Vec<&str> = f.accepted().collect();
            context! {
                id => id,
                label => &f.label,
                doc_type => &f.doc_type,
                required => f.required,
                hint => &f.hint,
                accept => accept.join(", ").to_uppercase(),
                files => mine,
                error => errors.get(id),
            }
        })
        .collect()
}

/// An application returned for corrections keeps its history and the
/// utility's reason in view while it is edited: the notice and the
/// history, or nothing for a draft.
async fn returned_view(
    st: &AppState,
    ctx: &Ctx,
    a: &Application,
) -> Result<(Option<String>, Vec<minijinja::Value>), WebError> {
    if a.is_draft() {
        return Ok((None, Vec::new()));
    }
    let events = app::history(&st.db, a).await?;
    let why = events
        .iter()
        .rev()
        .find(|e| app::EventKind::from_id(&e.kind) == Some(app::EventKind::Status))
        .and_then(|e| e.note.clone());
    let returned = format!(
        "Заявка возвращена на доработку{}. Исправьте её и отправьте снова.",
        why.map(|w| format!(": «{w}»")).unwrap_or_default()
    );
    Ok((Some(returned), applicant_history(ctx, events)))
}

async fn render_form(
    st: &AppState,
    ctx: &Ctx,
    acc: &Account,
    a: &Application,
    values: &BTreeMap<String, String>,
    errors: &FieldErrors,
    notice: Option<String>,
    offer_new: bool,
) -> Result<Response, WebError> {
    let Some(k) = ctx.tenant.application_kind(&a.kind) else {
        return Err(WebError::NotFound);
    };
    let all = app::form_fields(&ctx.tenant, k, acc);
    let fields = field_views(
        &ctx.tenant,
        all.iter().copied().filter(|f| f.kind != FieldKind::File),
        values,
        errors,
    );
    let files = crate::document::files_of(&st.db, ctx.slug(), a.id).await?;
    let slots = slot_views(&all, &files, errors);
    let (returned, history) = returned_view(st, ctx, a).await?;
    let r = ctx.render(
        "portal/application_form.html",
        Some(acc),
        context! {
            returned => returned,
            history => history,
            a => context! { id => a.id, version => a.version, city => &a.city, draft => a.is_draft(), number => &a.number, name => display_name(&ctx.tenant, a) },
            // The price before sending, from what is saved so far.
            fee => fee_view(st, ctx.slug(), app::plugin_view(a, acc, values)).await,
            kind => context! { id => k.id(), title => &k.title, description => &k.description },
            fields => fields,
            slots => slots,
            max_mb => ctx.tenant.config.applications.max_upload_mb,
            errors => errors,
            notice => notice,
            offer_new => offer_new && k.drafts == DraftPolicy::Many,
            missing => account::missing_profile_fields(&ctx.tenant, acc),
            messages => if a.is_draft() { Vec::new() } else { super::shared::message_views(st, ctx, a.id, &BTreeMap::new()).await? },
            sign_send => send_widget(ctx, acc, a),
        },
    )?;
    let r = if send_widget(ctx, acc, a).is_some() {
        super::shared::with_signing_csp(r, &ctx.tenant)
    } else {
        r
    };
    Ok(super::with_errors(r, errors))
}

/// Where sending signs the application (seed 004): what the page's
/// NCALayer widget signs, the application's Word file, and where NCALayer
/// listens. None where sending asks for no signature.
fn send_widget(ctx: &Ctx, acc: &Account, a: &Application) -> Option<minijinja::Value> {
    let sig = &ctx.tenant.config.signature;
    let scheme = sig.scheme_on_send(acc.applicant_type.get())?;
    Some(context! {
        scheme => scheme.id(),
        content_url => ctx.url(&format!("/applications/{}/application.docx", a.id)),
        ncalayer => &sig.ncalayer,
        // No root configured: a signature could only be refused, so say so first.
        ready => !ctx.tenant.trust.anchors.is_empty(),
    })
}

async fn save(
    ctx: Ctx,
    State(st): State<AppState>,
    FormBy(OwnApplication(acc, a), form): FormBy<OwnApplication>,
) -> Result<Response, WebError> {
    let action = form.get("action").map(String::as_str);
    let autosave = action == Some("autosave");
    if !workflow::editable(&ctx.tenant, &a) {
        return Ok(not_editable(&ctx, &a, action));
    }
    let k = ctx
        .tenant
        .application_kind(&a.kind)
        .ok_or(WebError::NotFound)?;
    let (fields, slots) = app::form_parts(&ctx.tenant, k, &acc);
    let version: i64 = form
        .get("version")
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1);
    let (values, problem) = app::read_form(&fields, &form);
    if let Some(problem) = problem {
        return form_refused(&st, &ctx, &acc, &a, &fields, &values, problem, autosave).await;
    }
    if autosave {
        let (res, problems) =
            app::keep_draft(&st.db, &st.plugins, &ctx.tenant, &acc, &a, version, &values).await;
        return Ok(autosave_reply(res, &a, &ctx.tenant, &problems));
    }
    if action != Some("submit") {
        return save_draft_page(&st, &ctx, &acc, a, version, &values).await;
    }
    let signature = form.get("signature").map(String::as_str);
    send_page(
        &st,
        &ctx,
        &acc,
        a,
        values,
        (fields, slots),
        version,
        signature,
    )
    .await
}

/// A save of an application that can no longer be edited: autosave is told
/// so; a second click on "submit" is told it was sent (the application
/// exists once); anything else goes back to the application's page.
fn not_editable(ctx: &Ctx, a: &Application, action: Option<&str>) -> Response {
    if action == Some("autosave") {
        return autosave_reply(Err(AppError::NotDraft), a, &ctx.tenant, &FieldErrors::new());
    }
    let sent = action == Some("submit") && a.submitted_at.is_some();
    ctx.redirect(&format!(
        "/applications/{}{}",
        a.id,
        if sent { "?submitted=1" } else { "" }
    ))
}

/// A draft kept by a click on «Сохранить»: the plugin's remarks on it,
/// if any, come back with the form.
async fn save_draft_page(
    st: &AppState,
    ctx: &Ctx,
    acc: &Account,
    a: Application,
    version: i64,
    values: &BTreeMap<String, String>,
) -> Result<Response, WebError> {
    let (res, mut problems) =
        app::keep_draft(&st.db, &st.plugins, &ctx.tenant, acc, &a, version, values).await;
    match res {
        Ok(_) if problems.is_empty() => {
            Ok(ctx.redirect(&format!("/applications/{}?saved=1", a.id)))
        }
        Ok(version) => {
            let why = problems.remove(FORM_ERROR);
            problems.insert(FORM_ERROR.into(), draft_saved_with(why));
            let a = Application { version, ..a };
            render_form(st, ctx, acc, &a, values, &problems, None, false).await
        }
        Err(AppError::Stale) => {
            let errors = FieldErrors::from([(FORM_ERROR.to_string(), stale_message())]);
            render_form(st, ctx, acc, &a, values, &errors, None, false).await
        }
        Err(AppError::NotDraft) => Ok(ctx.redirect(&format!("/applications/{}", a.id))),
        Err(e) => Err(e.into()),
    }
}

/// Sends the application and shows what came of it.
async fn send_page(
    st: &AppState,
    ctx: &Ctx,
    acc: &Account,
    a: Application,
    values: BTreeMap<String, String>,
    (fields, slots): (Vec<&FieldDef>, Vec<&FieldDef>),
    version: i64,
    signature: Option<&str>,
) -> Result<Response, WebError> {
    let sending = workflow::submit::Sending {
        tenant: &ctx.tenant,
        account: acc,
        application: a.clone(),
        values,
        fields,
        slots,
        version,
        link: application_link(st, ctx, a.id),
        signature,
        files: &st.files,
    };
    use workflow::submit::SendError;
    match workflow::submit::send(&st.db, &st.plugins, sending).await {
        Ok(_) => {
            st.outbox_wake.notify_one();
            Ok(ctx.redirect(&format!("/applications/{}?submitted=1", a.id)))
        }
        Err(SendError::Refused(r)) => {
            let r = *r;
            let errors = refusal_errors(r.why, r.errors);
            render_form(
                st,
                ctx,
                acc,
                &r.application,
                &r.values,
                &errors,
                None,
                false,
            )
            .await
        }
        Err(SendError::ProfileIncomplete) => {
            Ok(ctx.redirect(&format!("/profile?incomplete=1&draft={}", a.id)))
        }
        Err(SendError::SentByTwin) => {
            Ok(ctx.redirect(&format!("/applications/{}?submitted=1", a.id)))
        }
        Err(SendError::Moved) => sent_or_view(st, ctx, acc, &a).await,
        Err(SendError::App(e)) => Err(e.into()),
        Err(SendError::Workflow(e)) => Err(workflow_error(e)),
        Err(SendError::Internal(e)) => Err(WebError::Internal(e)),
    }
}

/// The errors a refused sending shows: those beside the fields, and the
/// form's own message where the refusal is not about the fields.
fn refusal_errors(why: workflow::submit::Why, mut errors: FieldErrors) -> FieldErrors {
    use workflow::submit::Why;
    let text = match why {
        Why::Fields => None,
        Why::NotAllowed => Some(step_message("not_allowed")),
        Why::Transition(e) => Some(refusal_text(e)),
        Why::Stale => Some(stale_message()),
        Why::NoNumber => Some(step_message("failed")),
    };
    if let Some(text) = text {
        errors.insert(FORM_ERROR.to_string(), text);
    }
    errors
}

fn letter_error(e: correspondence::LetterError) -> WebError {
    WebError::Internal(e.into())
}

fn workflow_error(e: WorkflowError) -> WebError {
    WebError::Internal(e.into())
}

/// The applicant moves their application (withdraws it, sends a returned
/// one back) where the tenant's workflow lets them.
async fn change_status(
    ctx: Ctx,
    State(st): State<AppState>,
    FormBy(OwnApplication(acc, a), form): FormBy<OwnApplication>,
) -> Result<Response, WebError> {
    let to = form.get("to").map(String::as_str).unwrap_or_default();
    let back = |code: &str| Ok(ctx.redirect(&format!("/applications/{}?step_error={code}", a.id)));
    use workflow::step::{StepError, Stepping};
    let stepping = Stepping {
        tenant: &ctx.tenant,
        account: &acc,
        application: &a,
        to,
        confirmed: form.get("confirm").is_some_and(|c| c == "1"),
        note: form.get("note").map(|n| n.trim()).filter(|n| !n.is_empty()),
        recipient: recipient(&st, &ctx, &acc, &a),
    };
    match workflow::step::take(&st.db, &st.plugins, stepping).await {
        Ok(()) => {}
        Err(StepError::NotAllowed) => return back("not_allowed"),
        Err(StepError::Changed) => return back("changed"),
        Err(StepError::Refused(e)) => {
            let notes = ViewNotes {
                step_error: Some(refusal_text(e)),
                ..ViewNotes::default()
            };
            let r = render_view(&st, &ctx, &acc, &a, notes).await?;
            return Ok(with_status(r, StatusCode::UNPROCESSABLE_ENTITY));
        }
        Err(StepError::Confirm(step)) => {
            let notes = ViewNotes {
                confirm_step: Some(step),
                ..ViewNotes::default()
            };
            return render_view(&st, &ctx, &acc, &a, notes).await;
        }
        Err(StepError::Workflow(e)) => return Err(workflow_error(e)),
        Err(StepError::Db(e)) => return Err(e.into()),
    }
    st.outbox_wake.notify_one();
    Ok(ctx.redirect(&format!(
        "/applications/{}?{}",
        a.id,
        super::query_string(&[("done", &Some(to.to_string()))])
    )))
}

/// Said above a saved draft the tenant's rules find fault with: the draft
/// is kept, and what to fix before sending it.
fn draft_saved_with(why: Option<String>) -> String {
    format!(
        "Черновик сохранён. {}",
        why.unwrap_or_else(|| "Перед отправкой исправьте то, что отмечено ниже.".into())
    )
}

/// A form refused as a whole: to the background save as JSON (the page
/// keeps what was typed), to a click as the form with the errors.
async fn form_refused(
    st: &AppState,
    ctx: &Ctx,
    acc: &Account,
    a: &Application,
    fields: &[&FieldDef],
    values: &BTreeMap<String, String>,
    problem: app::FormProblem,
    autosave: bool,
) -> Result<Response, WebError> {
    use axum::response::IntoResponse;
    let errors = match problem {
        app::FormProblem::UnknownField(_) if autosave => {
            return Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                axum::Json(
                    serde_json::json!({"ok": false, "error": "Форма устарела. Обновите страницу."}),
                ),
            )
                .into_response());
        }
        app::FormProblem::UnknownField(bad) => FieldErrors::from([(
            FORM_ERROR.to_string(),
            format!(
                "Форма содержит поле «{bad}», которого в ней нет. Обновите страницу: введённое ниже не сохранено."
            ),
        )]),
        app::FormProblem::TooLong(errors) => errors,
    };
    if autosave {
        let named: Vec<String> = fields
            .iter()
            .filter_map(|f| {
                let e = errors.get(f.id())?;
                Some(format!("«{}»: {}", f.label, e.to_lowercase()))
            })
            .collect();
        return Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            axum::Json(serde_json::json!({
                "ok": false,
                "fields": errors,
                "error": format!("Не сохранено: {}. Введённое хранится в этом браузере.", named.join("; ")),
            })),
        )
            .into_response());
    }
    render_form(st, ctx, acc, a, values, &errors, None, false).await
}

/// The answer to the form's background save: the new version and what the
/// tenant's rules find wrong so far (`errors`, by field), or why not saved.
fn autosave_reply(
    res: Result<i64, AppError>,
    a: &Application,
    tenant: &Tenant,
    problems: &FieldErrors,
) -> Response {
    use axum::response::IntoResponse;
    let (status, body) = match res {
        Ok(version) => (
            StatusCode::OK,
            serde_json::json!({"ok": true, "version": version, "saved_at": tenant.local_time(&crate::store::now_ts()), "errors": problems}),
        ),
        Err(AppError::Stale) => (
            StatusCode::CONFLICT,
            serde_json::json!({"ok": false, "stale": true, "error": stale_message()}),
        ),
        Err(AppError::NotDraft) => (
            StatusCode::CONFLICT,
            serde_json::json!({"ok": false, "error": "Заявка уже отправлена; черновика больше нет."}),
        ),
        Err(e) => {
            tracing::error!(application = a.id, error = %e, "autosave failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                serde_json::json!({"ok": false, "error": "Не удалось сохранить. Введённое хранится в этом браузере."}),
            )
        }
    };
    (status, axum::Json(body)).into_response()
}

/// The applicant writes to the utility about a sent application; an
/// answer to a request for documents starts the deadline clock again.
async fn reply(
    ctx: Ctx,
    State(st): State<AppState>,
    FormBy(OwnApplication(acc, a), form): FormBy<OwnApplication>,
) -> Result<Response, WebError> {
    if !workflow::answerable(&ctx.tenant, &a) {
        return Ok(ctx.redirect(&format!("/applications/{}?step_error=not_allowed", a.id)));
    }
    let body = form
        .get("body")
        .map(|b| b.trim().to_string())
        .unwrap_or_default();
    let problem = super::text_problem(&body, 20_000).map(|p| match p {
        super::TextProblem::Empty => "Напишите сообщение.",
        super::TextProblem::TooLong => {
            "Сообщение длиннее 20 000 символов: сократите его или приложите документом."
        }
    });
    if let Some(problem) = problem {
        let notes = ViewNotes {
            reply: Some(("message", problem.into(), form.clone())),
            ..ViewNotes::default()
        };
        let r = render_view(&st, &ctx, &acc, &a, notes).await?;
        return Ok(with_status(r, StatusCode::UNPROCESSABLE_ENTITY));
    }
    let letter = Letter {
        kind: Kind::Message,
        title: None,
        text: &body,
        file: None,
    };
    correspondence::applicant_writes(&st.db, &ctx.tenant, &a, &letter)
        .await
        .map_err(letter_error)?;
    Ok(ctx.redirect(&format!("/applications/{}?sent=1#messages", a.id)))
}

/// The applicant sends the utility a document about a sent application
/// (the missing documents it asked for); the deadline clock runs again.
async fn reply_document(
    ctx: Ctx,
    State(st): State<AppState>,
    OwnApplication(acc, a): OwnApplication,
    multipart: axum::extract::Multipart,
) -> Result<Response, WebError> {
    if !workflow::answerable(&ctx.tenant, &a) {
        return Ok(ctx.redirect(&format!("/applications/{}?step_error=not_allowed", a.id)));
    }
    let max_mb = ctx.tenant.config.applications.max_upload_mb;
    let refused = |error: String, typed: BTreeMap<String, String>| ViewNotes {
        reply: Some(("document", error, typed)),
        ..ViewNotes::default()
    };
    let posted = match super::posted::read(&ctx, &st, multipart, max_mb).await {
        Ok(p) => p,
        Err(r) if r.error == super::posted::PostedError::Csrf => return Err(WebError::Csrf),
        Err(r) => {
            let notes = refused(r.error.message(max_mb), r.typed);
            let r = render_view(&st, &ctx, &acc, &a, notes).await?;
            return Ok(with_status(r, StatusCode::UNPROCESSABLE_ENTITY));
        }
    };
    let Some((name, stored, kind)) = posted.file else {
        let notes = refused("Выберите файл.".into(), posted.fields);
        let r = render_view(&st, &ctx, &acc, &a, notes).await?;
        return Ok(with_status(r, StatusCode::UNPROCESSABLE_ENTITY));
    };
    let comment = posted
        .fields
        .get("body")
        .map(|b| b.trim().to_string())
        .unwrap_or_default();
    let letter = Letter {
        kind: Kind::Document,
        title: None,
        text: &comment,
        file: Some(Attachment {
            name: &name,
            stored: &stored,
            mime: kind.mime(),
        }),
    };
    correspondence::applicant_writes(&st.db, &ctx.tenant, &a, &letter)
        .await
        .map_err(letter_error)?;
    Ok(ctx.redirect(&format!("/applications/{}?sent=1#messages", a.id)))
}

/// Where a submit that found the application already moved goes: the
/// sent notice when it was sent, the plain view otherwise.
async fn sent_or_view(
    st: &AppState,
    ctx: &Ctx,
    acc: &Account,
    a: &Application,
) -> Result<Response, WebError> {
    let now = app::get_own(&st.db, ctx.slug(), acc.id, a.id).await?;
    let sent = now.is_some_and(|n| n.status != a.status && n.submitted_at.is_some());
    Ok(ctx.redirect(&format!(
        "/applications/{}{}",
        a.id,
        if sent { "?submitted=1" } else { "" }
    )))
}

fn stale_message() -> String {
    "Этот черновик только что сохранили в другой вкладке или окне. Ниже — то, что вы ввели здесь: \
     обновите страницу, чтобы увидеть сохранённое, и перенесите нужное."
        .into()
}

async fn delete(
    ctx: Ctx,
    State(st): State<AppState>,
    FormBy(OwnApplication(_, a), _): FormBy<OwnApplication>,
) -> Result<Response, WebError> {
    let files = crate::document::files_of(&st.db, ctx.slug(), a.id).await?;
    if !app::delete_draft(&st.db, &a).await? {
        return Ok(ctx.redirect(&format!("/applications/{}", a.id)));
    }
    // The rows went with the draft; the bytes go unless another row names them.
    for f in files {
        crate::document::forget_if_unused(&st.db, &st.files, &f.sha256).await;
    }
    Ok(ctx.redirect("/applications?deleted=1"))
}

// ------------------------------------------------------------------- files

fn upload_message(code: &str, max_mb: u64) -> String {
    match code {
        "too_large" => format!("Файл больше {max_mb} МБ. Уменьшите его (например, сожмите скан) и загрузите снова."),
        "type" => "Этот тип файла здесь не принимается: содержимое файла не совпадает с разрешёнными типами.".into(),
        "empty" => "Файл пустой. Выберите другой файл.".into(),
        "no_file" => "Выберите файл для загрузки.".into(),
        "too_many" => format!("В этом разделе уже {MAX_FILES_PER_SLOT} файлов: удалите лишние или объедините сканы в один PDF."),
        "sent" => "Заявка уже отправлена: файл не добавлен.".into(),
        _ => "Файл не загрузился. Попробуйте ещё раз.".into(),
    }
}

/// Where an upload's answer goes: JSON for the page's script (progress
/// bar), a redirect back to the draft for a plain form post.
fn upload_reply(
    ctx: &Ctx,
    json: bool,
    app_id: i64,
    slot: &str,
    res: Result<(i64, String, i64), &str>,
    max_mb: u64,
) -> Response {
    use axum::response::IntoResponse;
    match (json, res) {
        (true, Ok((id, name, size))) => axum::Json(
            serde_json::json!({"ok": true, "id": id, "name": name, "size": super::human_size(size)}),
        )
        .into_response(),
        (true, Err(code)) => {
            let status = if code == "too_large" {
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            (
                status,
                axum::Json(serde_json::json!({"ok": false, "error": upload_message(code, max_mb)})),
            )
                .into_response()
        }
        (false, Ok((_, name, _))) => ctx.redirect(&format!(
            "/applications/{app_id}?uploaded={}",
            url::form_urlencoded::byte_serialize(name.as_bytes()).collect::<String>()
        )),
        (false, Err(code)) => ctx.redirect(&format!(
            "/applications/{app_id}?upload_error={code}&slot={slot}#slot-{slot}"
        )),
    }
}

async fn upload(
    ctx: Ctx,
    State(st): State<AppState>,
    Path((_, slot)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
    OwnApplication(acc, a): OwnApplication,
    multipart: axum::extract::Multipart,
) -> Result<Response, WebError> {
    let json = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    let f = ctx
        .tenant
        .form_fields(&a.kind, acc.applicant_type.get())
        .find(|f| f.kind == FieldKind::File && f.id() == slot)
        .ok_or(WebError::NotFound)?;
    let max_mb = ctx.tenant.config.applications.max_upload_mb;
    let reply = |res| Ok(upload_reply(&ctx, json, a.id, &slot, res, max_mb));
    if !workflow::editable(&ctx.tenant, &a) {
        // Sent from another tab: say so, not "forbidden".
        return reply(Err("sent"));
    }
    let held = crate::document::files_of(&st.db, ctx.slug(), a.id)
        .await?
        .iter()
        .filter(|x| x.slot == slot)
        .count();
    if held >= MAX_FILES_PER_SLOT {
        return reply(Err("too_many"));
    }
    use super::posted::SlotRefused;
    let (name, stored) = match super::posted::slot_file(&ctx, &st, multipart, max_mb).await {
        Ok(file) => file,
        Err(SlotRefused::Forged) => return Err(WebError::Csrf),
        Err(SlotRefused::Code(code)) => return reply(Err(code)),
    };
    match app::attach_upload(&st.db, &st.files, &ctx.tenant, &a, f, &name, &stored).await? {
        Ok(x) => reply(Ok((x.row, x.name, x.size as i64))),
        Err(app::UploadRefused::Type) => reply(Err("type")),
        // Sent from another tab while the file was on its way.
        Err(app::UploadRefused::Sent) => reply(Err("sent")),
    }
}

async fn download(
    ctx: Ctx,
    State(st): State<AppState>,
    Path((_, file)): Path<(String, String)>,
    OwnApplication(_, a): OwnApplication,
) -> Result<Response, WebError> {
    send_file(&st, &ctx, a.id, &file).await
}

async fn remove_file(
    ctx: Ctx,
    State(st): State<AppState>,
    Path((_, file)): Path<(String, String)>,
    FormBy(OwnApplication(_, a), _): FormBy<OwnApplication>,
) -> Result<Response, WebError> {
    if !workflow::editable(&ctx.tenant, &a) {
        return Err(WebError::Forbidden);
    }
    let file: i64 = file.parse().map_err(|_| WebError::NotFound)?;
    let sha = crate::document::detach(&st.db, ctx.slug(), a.id, &a.status, file)
        .await?
        .ok_or(WebError::NotFound)?;
    crate::document::forget_if_unused(&st.db, &st.files, &sha).await;
    Ok(ctx.redirect(&format!("/applications/{}?removed=1", a.id)))
}

/// How many files one document slot holds: enough for a scan page by page,
/// not a way to fill the disk.
const MAX_FILES_PER_SLOT: usize = 20;

/// Every attachment of an application in one ZIP, a folder per document slot.
async fn download_zip(
    ctx: Ctx,
    State(st): State<AppState>,
    OwnApplication(_, a): OwnApplication,
) -> Result<Response, WebError> {
    let files = crate::document::files_of(&st.db, ctx.slug(), a.id).await?;
    let label = |slot: &str| match slot {
        "_utility" => "От организации".to_string(),
        "_applicant" => "От заявителя".to_string(),
        _ => ctx
            .tenant
            .application_field(slot)
            .map(|f| f.doc_type.clone().unwrap_or(f.label.clone()))
            .unwrap_or(slot.to_string()),
    };
    let named: Vec<(String, String)> = files
        .iter()
        .map(|f| (label(&f.slot), f.file_name.clone()))
        .collect();
    let entries: Vec<(String, String)> = crate::document::archive_names(&named)
        .into_iter()
        .zip(files.iter().map(|f| f.sha256.clone()))
        .collect();
    // Streamed as it is written (see `zip_stream`): the first bytes leave
    // at once and no worker of the runtime waits on the disk.
    let body = crate::document::zip_stream(&st.files, entries)
        .await
        .map_err(|e| WebError::Internal(anyhow::anyhow!("starting the ZIP: {e}")))?;
    let name = format!(
        "zayavka-{}.zip",
        a.number.clone().unwrap_or(a.id.to_string())
    );
    Ok(attachment(
        "application/zip",
        "documents.zip",
        &name,
        axum::body::Body::from_stream(body),
    ))
}

/// The application as a Word file, from the tenant's template or the
/// built-in one, with the plugin's document values and fee.
async fn download_docx(
    ctx: Ctx,
    State(st): State<AppState>,
    OwnApplication(acc, a): OwnApplication,
) -> Result<Response, WebError> {
    let bytes = app::word::render(
        &st.db,
        &st.plugins,
        &ctx.tenant,
        &acc,
        &a,
        app::word::Which::Application,
    )
    .await
    .map_err(|e| match e {
        app::word::WordError::UnknownKind => WebError::NotFound,
        e => WebError::Internal(e.into()),
    })?;
    let name = format!(
        "zayavka-{}.docx",
        a.number.clone().unwrap_or(a.id.to_string())
    );
    Ok(attachment(
        crate::document::FileType::Docx.mime(),
        "application.docx",
        &name,
        bytes,
    ))
}
