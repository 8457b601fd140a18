//! The office at `/office/`: staff sign-in (password, then a TOTP code
//! where the person turned it on), the queue, the application card and its
//! actions, staff management and the audit log for tenant admins.
//!
//! Every handler starts from [`staff`], which finds the signed-in staff
//! member of this tenant (or a platform operator) or sends to the sign-in
//! page; every action is an application event and an audit entry.

use super::shared::{actor_name, event_text, internal, message_views, render, staff};
use super::{AppState, CsrfForm, Ctx, WebError, form_map, nonempty, with_status};
use crate::account::{self, FieldErrors};
use crate::application::{self as app};
use crate::office::correspondence;
use crate::office::queue::{self, Assignee, QueueFilter, Sort};
use crate::office::{self, Staff, StaffRole};
use crate::workflow::{self};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use minijinja::context;
use std::collections::BTreeMap;

pub const STAFF_COOKIE: &str = "tl_staff";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/office",
            get(|ctx: Ctx| async move { ctx.redirect("/office/") }),
        )
        .route("/office/", get(queue_page))
        .route("/office/login", get(login_page).post(login))
        .route("/office/login/code", get(code_page).post(code))
        .route("/office/logout", post(logout))
        .route("/office/security", get(security_page).post(security))
        .route("/office/staff", get(staff_page).post(staff_add))
        .route("/office/staff/{id}/active", post(staff_active))
        .route("/office/audit", get(audit_page))
        .route("/office/dashboard", get(dashboard_page))
        .route(
            "/office/export.csv",
            get(|ctx, st, q| export(ctx, st, q, office::export::Format::Csv)),
        )
        .route(
            "/office/export.xlsx",
            get(|ctx, st, q| export(ctx, st, q, office::export::Format::Xlsx)),
        )
        .route("/office/applications/{id}", get(card_page))
        .route(
            "/office/applications/{id}/document",
            post(card_document).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/office/applications/{id}/{action}", post(card_action))
        .route("/office/applications/{id}/file/{file}", get(card_file))
}

fn cookie_response(ctx: &Ctx, st: &AppState, to: &str, token: &str, age: Option<i64>) -> Response {
    let mut r = ctx.redirect(to);
    r.headers_mut().append(
        header::SET_COOKIE,
        super::set_cookie(ctx, st, STAFF_COOKIE, token, age),
    );
    r
}

// ------------------------------------------------------------------ sign-in

async fn login_page(ctx: Ctx) -> Result<Response, WebError> {
    render(&ctx, "office/login.html", None, context! {})
}

async fn login(
    ctx: Ctx,
    State(st): State<AppState>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, WebError> {
    use office::signin::Password;
    let email = form.get("email").cloned().unwrap_or_default();
    let password = form.get("password").cloned().unwrap_or_default();
    let refused = |status, error: &str| -> Result<Response, WebError> {
        let r = render(
            &ctx,
            "office/login.html",
            None,
            context! { email => &email, error => error },
        )?;
        Ok(with_status(r, status))
    };
    match office::signin::password(&st.db, ctx.slug(), &email, &password, &ctx.ip)
        .await
        .map_err(internal)?
    {
        Password::In { token, pending } => {
            let to = if pending {
                "/office/login/code"
            } else {
                "/office/"
            };
            Ok(cookie_response(&ctx, &st, to, &token, None))
        }
        Password::TooManyHere => Err(WebError::RateLimited),
        Password::Locked => refused(
            StatusCode::TOO_MANY_REQUESTS,
            "Слишком много неудачных попыток входа. Подождите 15 минут.",
        ),
        Password::Wrong => refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Неверная почта или пароль",
        ),
    }
}

async fn code_page(ctx: Ctx) -> Result<Response, WebError> {
    render(&ctx, "office/code.html", None, context! {})
}

async fn code(
    ctx: Ctx,
    State(st): State<AppState>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, WebError> {
    use office::signin::Code;
    let login = || WebError::NeedLogin(ctx.url("/office/login"));
    let token = ctx.staff_session.clone().ok_or_else(login)?;
    let entered = form.get("code").map(String::as_str).unwrap_or_default();
    let error = match office::signin::code(&st.db, ctx.slug(), &token, entered, &ctx.ip)
        .await
        .map_err(internal)?
    {
        Code::In => return Ok(ctx.redirect("/office/")),
        Code::NoSession => return Err(login()),
        Code::Wrong => "Код не подошёл. Введите код, который сейчас показывает приложение.",
        Code::TooMany => "Слишком много попыток. Подождите 15 минут.",
    };
    let r = render(&ctx, "office/code.html", None, context! { error => error })?;
    Ok(with_status(r, StatusCode::UNPROCESSABLE_ENTITY))
}

async fn logout(ctx: Ctx, State(st): State<AppState>, _: CsrfForm) -> Result<Response, WebError> {
    if let Some(t) = &ctx.staff_session {
        office::close_session(&st.db, ctx.slug(), t)
            .await
            .map_err(internal)?;
    }
    Ok(cookie_response(&ctx, &st, "/office/login", "", Some(0)))
}

#[derive(serde::Deserialize, Default)]
struct SecurityQuery {
    on: Option<String>,
    off: Option<String>,
}

async fn security_page(
    ctx: Ctx,
    State(st): State<AppState>,
    Query(q): Query<SecurityQuery>,
) -> Result<Response, WebError> {
    let s = staff(&st, &ctx).await?;
    let secret = office::new_totp_secret();
    let notice = if q.on.is_some() {
        Some("Код при входе включён: со следующего входа понадобится код из приложения.")
    } else if q.off.is_some() {
        Some("Код при входе отключён.")
    } else {
        None
    };
    render(
        &ctx,
        "office/security.html",
        Some(&s),
        context! {
            secret => &secret,
            url => office::totp_url(&secret, &s.email, ctx.tenant.short_name()),
            notice => notice,
        },
    )
}

/// Turn the second factor on (with a code from the new secret) or off.
async fn security(
    ctx: Ctx,
    State(st): State<AppState>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, WebError> {
    use office::signin::Factor;
    let s = staff(&st, &ctx).await?;
    let code = form.get("code").map(String::as_str).unwrap_or_default();
    let secret = form.get("secret").map(String::as_str).unwrap_or_default();
    let off = form.contains_key("off");
    let extra = match office::signin::set_factor(&st.db, ctx.slug(), &s, code, secret, off, &ctx.ip)
        .await
        .map_err(internal)?
    {
        Factor::On => return Ok(ctx.redirect("/office/security?on=1")),
        Factor::Off => return Ok(ctx.redirect("/office/security?off=1")),
        Factor::WrongCurrentCode => context! {
            error => "Код не подошёл. Введите код, который сейчас показывает приложение.",
        },
        Factor::WrongNewCode => context! {
            secret => secret,
            url => office::totp_url(secret, &s.email, ctx.tenant.short_name()),
            error => "Код не подошёл. Добавьте ключ в приложение и введите код, который оно показывает.",
        },
    };
    let r = render(&ctx, "office/security.html", Some(&s), extra)?;
    Ok(with_status(r, StatusCode::UNPROCESSABLE_ENTITY))
}

// --------------------------------------------------------------------- queue

#[derive(serde::Deserialize, Default)]
struct QueueQuery {
    status: Option<String>,
    kind: Option<String>,
    city: Option<String>,
    supply: Option<String>,
    from: Option<String>,
    to: Option<String>,
    overdue: Option<String>,
    assignee: Option<String>,
    q: Option<String>,
    sort: Option<String>,
    page: Option<String>,
}

const PAGE: i64 = 25;

fn filter_of(q: &QueueQuery, me: &Staff) -> QueueFilter {
    QueueFilter {
        status: nonempty(&q.status),
        kind: nonempty(&q.kind),
        city: nonempty(&q.city),
        supply: nonempty(&q.supply),
        from: super::date_param(&q.from),
        to: super::date_param(&q.to),
        overdue: q.overdue.is_some(),
        assignee: match q.assignee.as_deref() {
            Some("none") => Some(Assignee::Nobody),
            Some("me") => Some(Assignee::Staff(me.id)),
            Some(id) => id.parse().ok().map(Assignee::Staff),
            None => None,
        },
        search: nonempty(&q.q),
        sort: Sort::parse(q.sort.as_deref().unwrap_or("")),
        limit: PAGE,
        page: super::page_number(q.page.as_deref()),
    }
}

/// The applicant's name and identifiers, as the queue and card show them;
/// `profile` lists the rest of what the profile holds (postal address,
/// passport, OGRNIP…) in the tenant's field order.
fn applicant_view(ctx: &Ctx, r: &queue::QueueRow) -> minijinja::Value {
    let t = crate::tenant::config::ApplicantType::from_id(&r.applicant_type);
    let b = account::badge_of(&ctx.tenant, t, &r.profile, r.email.clone());
    let profile: Vec<_> = t
        .into_iter()
        .flat_map(|t| ctx.tenant.fields_for(t))
        // The name and the identifiers are shown already, from the badge.
        .filter(|f| f.header.is_none())
        .filter_map(|f| {
            let v = r.profile.get(f.id())?;
            (!v.is_empty()).then(|| {
                context! { id => f.id(), label => &f.label, value => account::shown_value(f, v) }
            })
        })
        .collect();
    context! {
        name => b.name,
        type_title => b.type_title,
        ids => b.ids,
        profile => profile,
        email => &r.email,
        phone => r.phone.as_deref().map(crate::tenant::templates::shown_phone),
    }
}

/// A fee's ISO currency code as a sum is written after it.
/// The connection fee as the tenant's plugin computes it, for the card:
/// the same view the applicant's page shows. A plugin without the hook, or
/// one that fails, leaves the card without a fee rather than without a card.
async fn fee_view(st: &AppState, ctx: &Ctx, r: &queue::QueueRow) -> Option<minijinja::Value> {
    use crate::plugin::types as pt;
    let a = &r.app;
    let input = pt::Application {
        kind: a.kind.clone(),
        status: a.status.clone(),
        number: a.number.clone(),
        values: a.values.clone(),
        applicant: pt::Profile {
            applicant_type: r.applicant_type.clone(),
            fields: r.profile.clone().into_iter().collect(),
        },
        created_at: a.created_at.clone(),
    };
    super::shared::fee_view(st, ctx.slug(), input).await
}

fn row_status(ctx: &Ctx, r: &queue::QueueRow) -> String {
    r.custom_status
        .clone()
        .unwrap_or_else(|| workflow::status_title(&ctx.tenant, &r.app.status))
}

/// "overdue", "soon" (within two working days) or nothing.
fn due_mark(ctx: &Ctx, r: &queue::QueueRow) -> Option<&'static str> {
    if r.clock_stopped_on.is_some() {
        return Some("paused");
    }
    let today = ctx.tenant.today();
    if workflow::is_overdue(&ctx.tenant, &r.app.status, r.app.due_on.as_deref(), today) {
        return Some("overdue");
    }
    let cal = workflow::calendar::Calendar::of(ctx.tenant.config.workflow.calendar);
    let soon = cal.add_working_days(today, 2);
    let d = r
        .app
        .due_on
        .as_deref()
        .and_then(workflow::calendar::parse_date)?;
    let is_final = workflow::is_final(&ctx.tenant.config.workflow, &r.app.status);
    (!is_final && d <= soon).then_some("soon")
}

/// One application as the queue lists it.
fn queue_row(ctx: &Ctx, r: &queue::QueueRow) -> minijinja::Value {
    context! {
        id => r.app.id,
        number => &r.app.number,
        kind => ctx.tenant.kind_title(&r.app.kind),
        city => &r.app.city,
        address => r.app.values.get("object_address"),
        status => row_status(ctx, r),
        submitted_at => r.app.submitted_at.as_deref().map(|t| ctx.tenant.local_date(t)),
        due_on => r.app.due_on.as_deref().map(crate::tenant::ru_date),
        mark => due_mark(ctx, r),
        applicant => applicant_view(ctx, r),
        assignee => &r.assignee,
    }
}

async fn queue_page(
    ctx: Ctx,
    State(st): State<AppState>,
    Query(q): Query<QueueQuery>,
) -> Result<Response, WebError> {
    let s = staff(&st, &ctx).await?;
    let f = filter_of(&q, &s);
    let (rows, total) = queue::queue(&st.db, &ctx.tenant, &f).await?;
    let rows: Vec<_> = rows.iter().map(|r| queue_row(&ctx, r)).collect();
    let counts: Vec<_> = queue::counts(&st.db, ctx.slug())
        .await?
        .into_iter()
        .map(|(id, n)| context! { title => workflow::status_title(&ctx.tenant, &id), id => id, n => n })
        .collect();
    let team = office::list_staff(&st.db, ctx.slug())
        .await
        .map_err(internal)?;
    let keep = super::query_string(&[
        ("status", &q.status),
        ("kind", &q.kind),
        ("city", &q.city),
        ("supply", &q.supply),
        ("from", &q.from),
        ("to", &q.to),
        ("overdue", &q.overdue),
        ("assignee", &q.assignee),
        ("q", &q.q),
        ("sort", &q.sort),
    ]);
    render(
        &ctx,
        "office/queue.html",
        Some(&s),
        context! {
            rows => rows,
            total => total,
            counts => counts,
            page => f.page,
            pages => (total + PAGE - 1) / PAGE,
            keep => keep,
            f => context! {
                status => &f.status, kind => &f.kind, city => &f.city, supply => &f.supply,
                from => &f.from, to => &f.to, overdue => f.overdue, assignee => &q.assignee,
                q => &f.search, sort => f.sort.id(),
            },
            statuses => statuses(&ctx),
            kinds => ctx.tenant.config.application_kinds.iter().map(|k| context! { id => k.id(), title => &k.title }).collect::<Vec<_>>(),
            cities => ctx.tenant.list("cities").unwrap_or(&[]),
            supplies => ctx.tenant.list("supply_types").unwrap_or(&[]),
            team => team.iter().map(|t| context! { id => t.id, name => &t.name }).collect::<Vec<_>>(),
        },
    )
}

/// The filtered queue as CSV or XLSX (up to [`queue::EXPORT_MAX`] rows),
/// streamed as the rows are read (see `office::export`). The audit entry
/// is written first, with the number of rows the filter matches, so an
/// export that leaves the building is always in the log.
async fn export(
    ctx: Ctx,
    State(st): State<AppState>,
    Query(q): Query<QueueQuery>,
    format: office::export::Format,
) -> Result<Response, WebError> {
    let s = staff(&st, &ctx).await?;
    let mut f = filter_of(&q, &s);
    f.limit = queue::EXPORT_MAX;
    f.page = 0;
    let rows = queue::count(&st.db, &ctx.tenant, &f)
        .await?
        .min(queue::EXPORT_MAX);
    office::audit(
        &st.db.pool,
        ctx.slug(),
        Some(s.id),
        office::AuditAction::Export,
        None,
        &format!("{}, строк: {rows}", format.ext().to_uppercase()),
        &ctx.ip,
    )
    .await?;
    let body = office::export::stream(st.db.clone(), ctx.tenant.clone(), f, format).await;
    let name = format!("applications-{}.{}", ctx.tenant.today(), format.ext());
    Ok((
        [
            (header::CONTENT_TYPE, format.mime().to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        axum::body::Body::from_stream(body),
    )
        .into_response())
}

fn statuses(ctx: &Ctx) -> Vec<minijinja::Value> {
    ctx.tenant
        .config
        .workflow
        .statuses
        .iter()
        .map(|s| context! { id => s.id(), title => &s.title })
        .collect()
}

// ---------------------------------------------------------------------- card

fn parse_id(raw: &str) -> Result<i64, WebError> {
    raw.parse().map_err(|_| WebError::NotFound)
}

async fn card_action(
    ctx: Ctx,
    State(st): State<AppState>,
    Path((id, action)): Path<(String, String)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    use office::card::{self, Acted, Acting, CardAction, CardError};
    let form = form_map(pairs);
    ctx.check_csrf(&st, &form)?;
    let s = staff(&st, &ctx).await?;
    let r = load_card(&st, &ctx, &id).await?;
    let action = CardAction::from_id(&action).ok_or(WebError::NotFound)?;
    let applicant = account::get(&st.db, ctx.slug(), r.app.account_id)
        .await?
        .ok_or(WebError::NotFound)?;
    let acting = Acting {
        tenant: &ctx.tenant,
        staff: &s,
        card: &r,
        applicant: &applicant,
        to: super::shared::recipient(&st, &ctx, &applicant, &r.app),
        action,
        form: &form,
        ip: &ctx.ip,
    };
    let done = format!("/office/applications/{}?done={}", r.app.id, action.id());
    match card::act(&st.db, &st.plugins, acting, super::shared::refusal_text).await {
        Ok(Acted::Done) => {
            st.outbox_wake.notify_one();
            Ok(ctx.redirect(&done))
        }
        Ok(Acted::Unchanged) => Ok(ctx.redirect(&done)),
        Err(CardError::Fields(errors)) => {
            render_card(&st, &ctx, &s, &r, &errors, None, Some((action.id(), &form))).await
        }
        Err(CardError::NotFound) => Err(WebError::NotFound),
        Err(CardError::Forbidden) => Err(WebError::Forbidden),
        Err(CardError::Db(e)) => Err(e.into()),
        Err(CardError::Notify(e)) => Err(e.into()),
        Err(CardError::Office(e)) => Err(internal(e)),
        Err(CardError::App(e)) => Err(e.into()),
        Err(CardError::Letter(e)) => Err(WebError::Internal(e.into())),
        Err(CardError::Internal(e)) => Err(WebError::Internal(e)),
    }
}

async fn load_card(st: &AppState, ctx: &Ctx, id: &str) -> Result<queue::QueueRow, WebError> {
    queue::card(&st.db, &ctx.tenant, parse_id(id)?)
        .await?
        .ok_or(WebError::NotFound)
}

async fn card_page(
    ctx: Ctx,
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<super::DoneQuery>,
) -> Result<Response, WebError> {
    let s = staff(&st, &ctx).await?;
    let r = load_card(&st, &ctx, &id).await?;
    render_card(
        &st,
        &ctx,
        &s,
        &r,
        &FieldErrors::new(),
        q.done.as_deref(),
        None,
    )
    .await
}

async fn render_card(
    st: &AppState,
    ctx: &Ctx,
    s: &Staff,
    r: &queue::QueueRow,
    errors: &FieldErrors,
    done: Option<&str>,
    typed: Option<(&str, &BTreeMap<String, String>)>,
) -> Result<Response, WebError> {
    let a = &r.app;
    let team = office::list_staff(&st.db, ctx.slug())
        .await
        .map_err(internal)?;
    let names = staff_names(&team);
    let fields = super::shared::shown_fields(card_fields(&ctx.tenant, a), &a.values);
    if ctx.tenant.config.signature.step(&a.status).is_some()
        && let Some(acc) = crate::account::get(&st.db, ctx.slug(), a.account_id).await?
    {
        // The utility may have to sign the step's document first.
        super::shared::freeze_step_document(st, ctx, &acc, a).await;
    }
    let files = crate::document::files_of(&st.db, ctx.slug(), a.id).await?;
    let history = card_history(ctx, app::history(&st.db, a).await?, &names);
    let messages = message_views(st, ctx, a.id, &names).await?;
    let fee = fee_view(st, ctx, r).await;
    let wf = &ctx.tenant.config.workflow;
    let base = format!("{}/office/applications/{}", ctx.base, a.id);
    let (signing, file_sigs) =
        super::shared::signing_views(st, ctx, a, crate::signing::Side::Utility, &base).await?;
    let r2 = render(
        ctx,
        "office/card.html",
        Some(s),
        context! {
            a => card_head(ctx, r),
            applicant => applicant_view(ctx, r),
            fields => fields,
            fee => fee,
            files => files.iter().map(|f| context! { id => f.id, name => &f.file_name, doc_type => &f.doc_type, slot => &f.slot }).collect::<Vec<_>>(),
            history => history,
            messages => messages,
            signing => signing,
            file_sigs => file_sigs,
            steps => workflow::next_steps(wf, &a.kind, &a.status, s.role.workflow_role()),
            custom_status => wf.custom_status,
            team => team.iter().filter(|t| t.active).map(|t| context! { id => t.id, name => &t.name }).collect::<Vec<_>>(),
            errors => errors,
            done => done,
            // A refused action's form shows what was typed in it again.
            typed => typed.map(|(action, values)| context! { action => action, values => values }),
        },
    )?;
    Ok(super::with_errors(r2, errors))
}

/// The application's number, kind, status, dates and assignee as the card
/// heads them.
fn card_head(ctx: &Ctx, r: &queue::QueueRow) -> minijinja::Value {
    let a = &r.app;
    context! {
        id => a.id,
        number => &a.number,
        kind => ctx.tenant.kind_title(&a.kind),
        city => &a.city,
        status => row_status(ctx, r),
        status_id => &a.status,
        submitted_at => a.submitted_at.as_deref().map(|t| ctx.tenant.local_time(t)),
        due_on => a.due_on.as_deref().map(crate::tenant::ru_date),
        mark => due_mark(ctx, r),
        clock_stopped_on => r.clock_stopped_on.as_deref().map(crate::tenant::ru_date),
        assignee_id => r.assignee_id,
        assignee => &r.assignee,
    }
}

/// The fields of the application's kind that hold values (every applicant
/// type's: staff see what any form asked).
fn card_fields<'t>(
    tenant: &'t crate::tenant::Tenant,
    a: &app::Application,
) -> Vec<&'t crate::tenant::config::FieldDef> {
    tenant
        .form_fields(&a.kind, None)
        .filter(|f| f.kind != crate::tenant::config::FieldKind::File)
        .collect()
}

/// The card's history: every event but the applicant's draft saves, with
/// who did it.
fn card_history(
    ctx: &Ctx,
    events: Vec<app::Event>,
    names: &BTreeMap<i64, String>,
) -> Vec<minijinja::Value> {
    events
        .into_iter()
        .filter(|e| app::EventKind::from_id(&e.kind) != Some(app::EventKind::Saved))
        .map(|e| {
            context! {
                what => event_text(ctx, &e),
                who => actor_name(names, e.actor),
                note => e.note,
                when => ctx.tenant.local_time(&e.created_at),
            }
        })
        .collect()
}

/// Staff names by id, for the history's authors.
fn staff_names(team: &[Staff]) -> BTreeMap<i64, String> {
    team.iter().map(|s| (s.id, s.name.clone())).collect()
}

async fn card_file(
    ctx: Ctx,
    State(st): State<AppState>,
    Path((id, file)): Path<(String, String)>,
) -> Result<Response, WebError> {
    staff(&st, &ctx).await?;
    let r = load_card(&st, &ctx, &id).await?;
    super::shared::send_file(&st, &ctx, r.app.id, &file).await
}

/// Staff add a document to the application: a title, a file and a comment.
async fn card_document(
    ctx: Ctx,
    State(st): State<AppState>,
    Path(id): Path<String>,
    multipart: axum::extract::Multipart,
) -> Result<Response, WebError> {
    let s = staff(&st, &ctx).await?;
    let r = load_card(&st, &ctx, &id).await?;
    let max_mb = ctx.tenant.config.applications.max_upload_mb;
    let posted = match super::posted::read(&ctx, &st, multipart, max_mb).await {
        Ok(p) => p,
        Err(refused) if refused.error == super::posted::PostedError::Csrf => {
            return Err(WebError::Csrf);
        }
        Err(refused) => {
            let errors = [("file".to_string(), refused.error.message(max_mb))].into();
            let typed = Some(("document", &refused.typed));
            return render_card(&st, &ctx, &s, &r, &errors, None, typed).await;
        }
    };
    let a = &r.app;
    let applicant = account::get(&st.db, ctx.slug(), a.account_id)
        .await?
        .ok_or(WebError::NotFound)?;
    let to = super::shared::recipient(&st, &ctx, &applicant, a);
    let doc = correspondence::StaffDocument {
        title: posted.fields.get("title").map(String::as_str),
        comment: posted.fields.get("body").map(String::as_str).unwrap_or(""),
        file: posted.file.as_ref().map(|(n, s, t)| (n.as_str(), s, *t)),
    };
    use correspondence::DocumentError;
    match correspondence::staff_sends_document(
        &st.db,
        &st.files,
        &ctx.tenant,
        a,
        &s,
        &to,
        doc,
        &ctx.ip,
    )
    .await
    {
        Ok(()) => {}
        Err(DocumentError::Invalid(errors)) => {
            let typed = Some(("document", &posted.fields));
            return render_card(&st, &ctx, &s, &r, &errors, None, typed).await;
        }
        Err(e) => return Err(WebError::Internal(e.into())),
    }
    st.outbox_wake.notify_one();
    Ok(ctx.redirect(&format!("/office/applications/{}?done=document", a.id)))
}

// --------------------------------------------------------------- staff admin

async fn require_admin(st: &AppState, ctx: &Ctx) -> Result<Staff, WebError> {
    let s = staff(st, ctx).await?;
    if !s.role.is_admin() {
        return Err(WebError::Forbidden);
    }
    Ok(s)
}

async fn staff_page(
    ctx: Ctx,
    State(st): State<AppState>,
    Query(q): Query<super::DoneQuery>,
) -> Result<Response, WebError> {
    let s = require_admin(&st, &ctx).await?;
    render_staff(
        &st,
        &ctx,
        &s,
        &FieldErrors::new(),
        &BTreeMap::new(),
        q.done.as_deref(),
    )
    .await
}

async fn render_staff(
    st: &AppState,
    ctx: &Ctx,
    s: &Staff,
    errors: &FieldErrors,
    values: &BTreeMap<String, String>,
    done: Option<&str>,
) -> Result<Response, WebError> {
    let team = office::list_staff(&st.db, ctx.slug())
        .await
        .map_err(internal)?;
    let r = render(
        ctx,
        "office/staff.html",
        Some(s),
        context! {
            team => team.iter().map(|t| context! { id => t.id, name => &t.name, email => &t.email, role => t.role.title(), active => t.active, totp => t.has_totp() }).collect::<Vec<_>>(),
            errors => errors,
            v => values,
            done => done,
        },
    )?;
    Ok(super::with_errors(r, errors))
}

async fn staff_add(
    ctx: Ctx,
    State(st): State<AppState>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, WebError> {
    let s = require_admin(&st, &ctx).await?;
    let role = form
        .get("role")
        .and_then(|r| StaffRole::parse(r))
        .filter(|r| *r != StaffRole::Platform);
    let mut errors = FieldErrors::new();
    let Some(role) = role else {
        errors.insert("role".into(), "Выберите роль".into());
        return render_staff(&st, &ctx, &s, &errors, &form, None).await;
    };
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    match office::add_staff(
        &st.db,
        ctx.slug(),
        &get("email"),
        &get("name"),
        role,
        &get("password"),
        Some(office::AuditNote {
            staff: Some(s.id),
            action: office::AuditAction::StaffAdd,
            target: None,
            detail: format!("{}, {}", get("email"), role.title()),
            ip: &ctx.ip,
        }),
    )
    .await
    {
        Ok(_) => Ok(ctx.redirect("/office/staff?done=added")),
        Err(office::OfficeError::Invalid { field, message }) => {
            errors.insert(field.into(), message);
            let mut kept = form.clone();
            kept.remove("password");
            render_staff(&st, &ctx, &s, &errors, &kept, None).await
        }
        Err(e) => Err(internal(e)),
    }
}

async fn staff_active(
    ctx: Ctx,
    State(st): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, WebError> {
    let s = require_admin(&st, &ctx).await?;
    let id = parse_id(&id)?;
    let active = form.get("active").map(String::as_str) == Some("1");
    if id == s.id && !active {
        return Err(WebError::Forbidden);
    }
    let note = office::AuditNote {
        staff: Some(s.id),
        action: if active {
            office::AuditAction::StaffOn
        } else {
            office::AuditAction::StaffOff
        },
        target: Some(office::Audited::Staff(id)),
        detail: String::new(),
        ip: &ctx.ip,
    };
    if !office::set_active(&st.db, ctx.slug(), id, active, note)
        .await
        .map_err(internal)?
    {
        return Err(WebError::NotFound);
    }
    Ok(ctx.redirect(if active {
        "/office/staff?done=on"
    } else {
        "/office/staff?done=off"
    }))
}

/// Managers see how the utility keeps its deadlines.
async fn dashboard_page(ctx: Ctx, State(st): State<AppState>) -> Result<Response, WebError> {
    let s = staff(&st, &ctx).await?;
    if !s.role.is_manager() {
        return Err(WebError::Forbidden);
    }
    let d = office::stats::dashboard(&st.db, &ctx.tenant).await?;
    let share = if d.open > 0 {
        (d.overdue as f64 * 1000.0 / d.open as f64).round() / 10.0
    } else {
        0.0
    };
    let share = if share.fract() == 0.0 {
        format!("{share:.0}")
    } else {
        format!("{share:.1}").replace('.', ",")
    };
    let status_items: Vec<(String, f64)> = d
        .by_status
        .iter()
        .map(|(k, v)| (k.clone(), *v as f64))
        .collect();
    let milestone_items: Vec<(String, f64)> = d
        .milestones
        .iter()
        .map(|(k, v, _)| (k.clone(), *v))
        .collect();
    let safe = minijinja::Value::from_safe_string;
    render(
        &ctx,
        "office/dashboard.html",
        Some(&s),
        context! {
            d => &d,
            share => share,
            by_status => safe(office::stats::bars_svg("Заявки по статусам", &status_items, "")),
            per_month => safe(office::stats::columns_svg("Поступило по месяцам", &d.per_month)),
            milestones => safe(office::stats::bars_svg("Медиана дней от подачи до статуса", &milestone_items, "дн.")),
        },
    )
}

#[derive(serde::Deserialize, Default)]
struct PageQuery {
    page: Option<String>,
}

async fn audit_page(
    ctx: Ctx,
    State(st): State<AppState>,
    Query(q): Query<PageQuery>,
) -> Result<Response, WebError> {
    let s = require_admin(&st, &ctx).await?;
    let page = super::page_number(q.page.as_deref());
    let entries = office::audit_log(&st.db, ctx.slug(), 100, page)
        .await
        .map_err(internal)?;
    let entries: Vec<_> = entries
        .iter()
        .map(|e| {
            let (target, link) = audit_target(&ctx, e.target.as_deref(), e.about.as_ref());
            context! {
                at => &e.at,
                who => &e.who,
                action => office::AuditAction::parse(&e.action).map_or(e.action.as_str(), |a| a.title()),
                target => target,
                link => link,
                detail => &e.detail,
                ip => &e.ip,
            }
        })
        .collect();
    render(
        &ctx,
        "office/audit.html",
        Some(&s),
        context! { entries => entries, page => page },
    )
}

/// An audit target by the tenant's names (a registration number, a draft's
/// date, a topic, a title, a name) and, for what the office can open, a link.
/// The link carries the row id; the words never do.
fn audit_target(
    ctx: &Ctx,
    target: Option<&str>,
    about: Option<&office::AuditTarget>,
) -> (String, Option<String>) {
    use office::AuditTarget as T;
    let Some((kind, id)) = target.and_then(|t| t.split_once(':')) else {
        return (target.unwrap_or_default().to_string(), None);
    };
    let words = match (kind, about) {
        (
            _,
            Some(T::Application {
                number: Some(n), ..
            }),
        ) => format!("заявка № {n}"),
        (_, Some(T::Application { created_at, .. })) => {
            format!("черновик от {}", ctx.tenant.local_date(created_at))
        }
        (_, Some(T::Appeal { topic, created_at })) => format!(
            "обращение от {} «{topic}»",
            ctx.tenant.local_date(created_at)
        ),
        (_, Some(T::Document { title })) => format!("документ «{title}»"),
        (_, Some(T::Staff { name })) => format!("сотрудник {name}"),
        ("application", None) => "заявка (удалена)".into(),
        ("appeal", None) => "обращение (удалено)".into(),
        ("document", None) => "документ (удалён)".into(),
        ("staff", None) => "сотрудник (удалён)".into(),
        _ => String::new(),
    };
    let link = match (kind, about) {
        ("application", Some(_)) => Some(format!("/office/applications/{id}")),
        ("appeal", Some(_)) => Some(format!("/office/appeals/{id}")),
        _ => None,
    };
    (words, link)
}

impl IntoResponse for office::OfficeError {
    fn into_response(self) -> Response {
        internal(self).into_response()
    }
}
