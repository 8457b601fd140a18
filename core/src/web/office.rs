//! The office at `/office/`: staff sign-in (password, then a TOTP code
//! where the person turned it on), the queue, the application card and its
//! actions, staff management and the audit log for tenant admins.
//!
//! Every handler starts from [`staff`], which finds the signed-in staff
//! member of this tenant (or a platform operator) or sends to the sign-in
//! page; every action is an application event and an audit entry.

use super::shared::{actor_name, event_text, internal, message_views, render, staff};
use super::{AppState, Ctx, WebError, form_map, nonempty, with_status};
use crate::account::{self, FieldErrors};
use crate::application::{self as app};
use crate::office::queue::{self, Assignee, QueueFilter, Sort};
use crate::office::{self, NewMessage, Staff, StaffRole};
use crate::workflow::{self, Actor, WorkflowError};
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
            get(|ctx, st, q| export(ctx, st, q, "csv")),
        )
        .route(
            "/office/export.xlsx",
            get(|ctx, st, q| export(ctx, st, q, "xlsx")),
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
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let form = form_map(pairs);
    ctx.check_csrf(&st, &form)?;
    let email = form.get("email").cloned().unwrap_or_default();
    let password = form.get("password").cloned().unwrap_or_default();
    let key = format!("office:login:{}:{}", ctx.slug(), ctx.ip);
    if !crate::security::hit(&st.db, &key, std::time::Duration::from_secs(900), 20).await? {
        return Err(WebError::RateLimited);
    }
    let s = match office::sign_in(&st.db, ctx.slug(), &email, &password)
        .await
        .map_err(internal)?
    {
        office::StaffSignIn::Ok(s) => s,
        office::StaffSignIn::Locked => {
            let r = render(
                &ctx,
                "office/login.html",
                None,
                context! { email => email, error => "Слишком много неудачных попыток входа. Подождите 15 минут." },
            )?;
            return Ok(with_status(r, StatusCode::TOO_MANY_REQUESTS));
        }
        office::StaffSignIn::Wrong => {
            office::audit(
                &st.db.pool,
                ctx.slug(),
                None,
                "login_failed",
                None,
                &email,
                &ctx.ip,
            )
            .await?;
            let r = render(
                &ctx,
                "office/login.html",
                None,
                context! { email => email, error => "Неверная почта или пароль" },
            )?;
            return Ok(with_status(r, StatusCode::UNPROCESSABLE_ENTITY));
        }
    };
    let pending = s.has_totp();
    let token = office::open_session(&st.db, ctx.slug(), s.id, pending, &ctx.ip)
        .await
        .map_err(internal)?;
    if !pending {
        office::audit(
            &st.db.pool,
            ctx.slug(),
            Some(s.id),
            "login",
            None,
            "",
            &ctx.ip,
        )
        .await?;
    }
    let to = if pending {
        "/office/login/code"
    } else {
        "/office/"
    };
    Ok(cookie_response(&ctx, &st, to, &token, None))
}

async fn code_page(ctx: Ctx) -> Result<Response, WebError> {
    render(&ctx, "office/code.html", None, context! {})
}

async fn code(
    ctx: Ctx,
    State(st): State<AppState>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let form = form_map(pairs);
    ctx.check_csrf(&st, &form)?;
    let login = || WebError::NeedLogin(ctx.url("/office/login"));
    let token = ctx.staff_session.clone().ok_or_else(login)?;
    let Some((id, true)) = office::session(&st.db, ctx.slug(), &token)
        .await
        .map_err(internal)?
    else {
        return Err(login());
    };
    let s = office::get_staff(&st.db, ctx.slug(), id)
        .await
        .map_err(internal)?
        .ok_or_else(login)?;
    let key = format!("office:code:{id}");
    let allowed =
        crate::security::hit(&st.db, &key, std::time::Duration::from_secs(900), 5).await?;
    let entered = form.get("code").cloned().unwrap_or_default();
    let step = s
        .totp_secret
        .as_deref()
        .and_then(|sec| office::totp_step(sec, &entered));
    let fresh = match step {
        Some(step) if allowed => office::use_totp_step(&st.db, id, step)
            .await
            .map_err(internal)?,
        _ => false,
    };
    if fresh {
        office::confirm_session(&st.db, ctx.slug(), &token)
            .await
            .map_err(internal)?;
        office::audit(
            &st.db.pool,
            ctx.slug(),
            Some(id),
            "login",
            None,
            "с кодом из приложения",
            &ctx.ip,
        )
        .await?;
        return Ok(ctx.redirect("/office/"));
    }
    office::audit(
        &st.db.pool,
        ctx.slug(),
        Some(id),
        "code_failed",
        None,
        "",
        &ctx.ip,
    )
    .await?;
    let error = if allowed {
        "Код не подошёл. Введите код, который сейчас показывает приложение."
    } else {
        "Слишком много попыток. Подождите 15 минут."
    };
    let r = render(&ctx, "office/code.html", None, context! { error => error })?;
    Ok(with_status(r, StatusCode::UNPROCESSABLE_ENTITY))
}

async fn logout(
    ctx: Ctx,
    State(st): State<AppState>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let form = form_map(pairs);
    ctx.check_csrf(&st, &form)?;
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
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let form = form_map(pairs);
    ctx.check_csrf(&st, &form)?;
    let s = staff(&st, &ctx).await?;
    let code = form.get("code").cloned().unwrap_or_default();
    if let Some(current) = &s.totp_secret {
        // Turning the factor off (or replacing it) takes a code from it: a
        // borrowed session alone cannot remove it.
        let ok = match office::totp_step(current, &code) {
            Some(step) => office::use_totp_step(&st.db, s.id, step)
                .await
                .map_err(internal)?,
            None => false,
        };
        if !ok || !form.contains_key("off") {
            let r = render(
                &ctx,
                "office/security.html",
                Some(&s),
                context! { error => "Код не подошёл. Введите код, который сейчас показывает приложение." },
            )?;
            return Ok(with_status(r, StatusCode::UNPROCESSABLE_ENTITY));
        }
        office::set_totp(
            &st.db,
            ctx.slug(),
            s.id,
            None,
            office::AuditNote {
                staff: Some(s.id),
                action: "totp_off",
                target: None,
                detail: String::new(),
                ip: &ctx.ip,
            },
        )
        .await
        .map_err(internal)?;
        return Ok(ctx.redirect("/office/security?off=1"));
    }
    let secret = form.get("secret").cloned().unwrap_or_default();
    if office::totp_step(&secret, &code).is_none() {
        let r = render(
            &ctx,
            "office/security.html",
            Some(&s),
            context! {
                secret => &secret,
                url => office::totp_url(&secret, &s.email, ctx.tenant.short_name()),
                error => "Код не подошёл. Добавьте ключ в приложение и введите код, который оно показывает.",
            },
        )?;
        return Ok(with_status(r, StatusCode::UNPROCESSABLE_ENTITY));
    }
    office::set_totp(
        &st.db,
        ctx.slug(),
        s.id,
        Some(&secret),
        office::AuditNote {
            staff: Some(s.id),
            action: "totp_on",
            target: None,
            detail: String::new(),
            ip: &ctx.ip,
        },
    )
    .await
    .map_err(internal)?;
    Ok(ctx.redirect("/office/security?on=1"))
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
            let v = r.profile.get(f.id.get_ref().as_str())?;
            (!v.is_empty()).then(|| {
                context! { id => f.id.get_ref().as_str(), label => &f.label, value => account::shown_value(f, v) }
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

async fn queue_page(
    ctx: Ctx,
    State(st): State<AppState>,
    Query(q): Query<QueueQuery>,
) -> Result<Response, WebError> {
    let s = staff(&st, &ctx).await?;
    let f = filter_of(&q, &s);
    let (rows, total) = queue::queue(&st.db, &ctx.tenant, &f).await?;
    let rows: Vec<_> = rows
        .iter()
        .map(|r| {
            context! {
                id => r.app.id,
                number => &r.app.number,
                kind => ctx.tenant.kind_title(&r.app.kind),
                city => &r.app.city,
                address => r.app.values.get("object_address"),
                status => row_status(&ctx, r),
                submitted_at => r.app.submitted_at.as_deref().map(|t| ctx.tenant.local_date(t)),
                due_on => r.app.due_on.as_deref().map(crate::tenant::ru_date),
                mark => due_mark(&ctx, r),
                applicant => applicant_view(&ctx, r),
                assignee => &r.assignee,
            }
        })
        .collect();
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
            kinds => ctx.tenant.config.application_kinds.iter().map(|k| context! { id => k.id.get_ref().as_str(), title => &k.title }).collect::<Vec<_>>(),
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
    format: &'static str,
) -> Result<Response, WebError> {
    let s = staff(&st, &ctx).await?;
    let mut f = filter_of(&q, &s);
    f.limit = queue::EXPORT_MAX;
    f.page = 0;
    let format = match format {
        "csv" => office::export::Format::Csv,
        _ => office::export::Format::Xlsx,
    };
    let rows = queue::count(&st.db, &ctx.tenant, &f)
        .await?
        .min(queue::EXPORT_MAX);
    office::audit(
        &st.db.pool,
        ctx.slug(),
        Some(s.id),
        "export",
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
        .map(|s| context! { id => s.id.get_ref().as_str(), title => &s.title })
        .collect()
}

// ---------------------------------------------------------------------- card

fn parse_id(raw: &str) -> Result<i64, WebError> {
    raw.parse().map_err(|_| WebError::NotFound)
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
    let fields: Vec<_> = ctx
        .tenant
        .application_kind(&a.kind)
        .map(|k| {
            k.fields
                .iter()
                .filter_map(|id| {
                    ctx.tenant
                        .config
                        .application_fields
                        .iter()
                        .find(|f| f.id.get_ref().as_str() == id.get_ref().as_str())
                })
                .filter(|f| f.kind != crate::tenant::config::FieldKind::File)
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let fields = super::shared::shown_fields(fields, &a.values);
    let files = crate::document::files_of(&st.db, ctx.slug(), a.id).await?;
    let history: Vec<_> = app::history(&st.db, a)
        .await?
        .into_iter()
        .filter(|e| e.kind != "saved")
        .map(|e| {
            context! {
                what => event_text(ctx, &e),
                who => actor_name(&names, &e.actor),
                note => e.note,
                when => ctx.tenant.local_time(&e.created_at),
            }
        })
        .collect();
    let messages = message_views(st, ctx, a.id, &names).await?;
    let fee = fee_view(st, ctx, r).await;
    let wf = &ctx.tenant.config.workflow;
    let r2 = render(
        ctx,
        "office/card.html",
        Some(s),
        context! {
            a => context! {
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
            },
            applicant => applicant_view(ctx, r),
            fields => fields,
            fee => fee,
            files => files.iter().map(|f| context! { id => f.id, name => &f.file_name, doc_type => &f.doc_type, slot => &f.slot }).collect::<Vec<_>>(),
            history => history,
            messages => messages,
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

/// History authors by their `staff:<id>` label.
fn staff_names(team: &[Staff]) -> BTreeMap<String, String> {
    team.iter()
        .map(|s| (format!("staff:{}", s.id), s.name.clone()))
        .collect()
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

/// One action on the card. Each is an event in the application's history
/// and an entry in the audit log, committed together.
async fn card_action(
    ctx: Ctx,
    State(st): State<AppState>,
    Path((id, action)): Path<(String, String)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let form = form_map(pairs);
    ctx.check_csrf(&st, &form)?;
    let s = staff(&st, &ctx).await?;
    let r = load_card(&st, &ctx, &id).await?;
    let a = &r.app;
    let text = |k: &str| {
        form.get(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let mut errors = FieldErrors::new();
    let actor = Actor::Staff {
        id: s.id,
        role: s.role.workflow_role(),
    };
    let author = actor.label();
    let applicant = account::get(&st.db, ctx.slug(), a.account_id)
        .await?
        .ok_or(WebError::NotFound)?;
    let to = super::shared::recipient(&st, &ctx, &applicant, a);
    // Whatever runs the plugin or reads other rows is done before the
    // transaction opens: a request holding one must never wait for a second
    // connection, or a burst of such requests jams the pool for everyone.
    let prepared =
        prepare_card_action(&st, &ctx, &s, r.assignee_id, a, &applicant, &action, &form).await?;
    let mut tx = st.db.pool.begin().await?;
    let detail: String;
    match action.as_str() {
        "status" => {
            let target = text("to").unwrap_or_default();
            let note = text("note");
            if let Prepared::NoteMissing = prepared {
                errors.insert(
                    "note".into(),
                    "Укажите причину: заявитель увидит её в заявке".into(),
                );
            } else {
                let checked = match prepared {
                    Prepared::Checked(c) => c,
                    _ => Err(WorkflowError::NotAllowed),
                };
                let res = match checked {
                    Ok(()) => {
                        workflow::change(
                            &mut tx,
                            &ctx.tenant,
                            a,
                            &target,
                            actor,
                            note.as_deref(),
                            &to,
                        )
                        .await
                    }
                    Err(e) => Err(e),
                };
                match res {
                    Ok(()) => {
                        queue::set_custom_status(&mut tx, ctx.slug(), a.id, None).await?;
                    }
                    Err(WorkflowError::Db(e)) => return Err(e.into()),
                    Err(WorkflowError::Notify(e)) => return Err(e.into()),
                    Err(e) => {
                        errors.insert("to".into(), super::shared::refusal_text(e));
                    }
                }
            }
            detail = format!(
                "{} → {}",
                workflow::status_title(&ctx.tenant, &a.status),
                workflow::status_title(&ctx.tenant, &target)
            );
        }
        "custom_status" => {
            if !ctx.tenant.config.workflow.custom_status {
                return Err(WebError::Forbidden);
            }
            match text("text") {
                Some(t) if t.chars().count() <= 200 => {
                    queue::set_custom_status(&mut tx, ctx.slug(), a.id, Some(&t)).await?;
                    app::event(
                        &mut *tx,
                        ctx.slug(),
                        a.id,
                        "custom_status",
                        Some(&a.status),
                        &author,
                        Some(&t),
                    )
                    .await?;
                    workflow::notify_text(&mut tx, &ctx.tenant, a, &t, &to)
                        .await
                        .map_err(|e| WebError::Internal(e.into()))?;
                    detail = t;
                }
                _ => {
                    errors.insert("text".into(), "Введите статус — до 200 символов".into());
                    detail = String::new();
                }
            }
        }
        "number" => match prepared {
            Prepared::Number(Ok(n)) => {
                let set =
                    queue::set_number(&mut tx, ctx.slug(), a.id, a.number.as_deref(), &n).await?;
                // A refused update may have aborted the transaction
                // (PostgreSQL): nothing more is written on it.
                let refused = match set {
                    queue::NumberSet::Done => None,
                    queue::NumberSet::Taken => Some("Этот номер уже присвоен другой заявке"),
                    queue::NumberSet::Changed => {
                        Some("Номер заявки только что изменился: обновите страницу и проверьте его")
                    }
                };
                if let Some(why) = refused {
                    errors.insert("number".into(), why.into());
                    detail = String::new();
                } else {
                    // A replaced number stays readable in the history.
                    let note = match &a.number {
                        Some(old) if *old != n => format!("{old} → {n}"),
                        _ => n.clone(),
                    };
                    app::event(
                        &mut *tx,
                        ctx.slug(),
                        a.id,
                        "number",
                        Some(&a.status),
                        &author,
                        Some(&note),
                    )
                    .await?;
                    detail = note;
                }
            }
            Prepared::Number(Err(e)) => {
                errors.insert("number".into(), e);
                detail = String::new();
            }
            _ => return Err(WebError::NotFound),
        },
        "assign" => {
            let Prepared::Assignee(who, named) = prepared else {
                return Err(WebError::NotFound);
            };
            if who == r.assignee_id {
                // Nothing changes, so nothing goes into the history or the audit.
                return Ok(ctx.redirect(&format!("/office/applications/{}?done={action}", a.id)));
            }
            queue::assign(&mut tx, ctx.slug(), a.id, who).await?;
            app::event(
                &mut *tx,
                ctx.slug(),
                a.id,
                "assigned",
                Some(&a.status),
                &author,
                None,
            )
            .await?;
            detail = named;
        }
        "message" | "request" | "stage" => {
            let (raw, max) = match action.as_str() {
                "stage" => (text("title").unwrap_or_default(), 200),
                _ => (text("body").unwrap_or_default(), 20_000),
            };
            match super::text_problem(&raw, max) {
                None => {
                    let b = raw;
                    let (title, html) = if action == "stage" {
                        (Some(b.as_str()), String::new())
                    } else {
                        (None, office::rich_text(&b))
                    };
                    office::add_message(
                        &mut tx,
                        ctx.slug(),
                        a.id,
                        NewMessage {
                            side: "utility",
                            kind: &action,
                            author: &author,
                            title,
                            body: &html,
                            file_id: None,
                        },
                    )
                    .await?;
                    app::event(
                        &mut *tx,
                        ctx.slug(),
                        a.id,
                        &action,
                        Some(&a.status),
                        &author,
                        title,
                    )
                    .await?;
                    if action == "request" {
                        office::stop_clock(&mut tx, &ctx.tenant, a.id).await?;
                    }
                    workflow::notify_message(
                        &mut tx,
                        &ctx.tenant,
                        a,
                        &message_subject(&action, title),
                        &office::html_to_text(&html),
                        &to,
                    )
                    .await
                    .map_err(|e| WebError::Internal(e.into()))?;
                    detail = b.chars().take(200).collect();
                }
                Some(problem) => {
                    let field = match action.as_str() {
                        "stage" => "title",
                        "request" => "request",
                        _ => "body",
                    };
                    let why = match problem {
                        super::TextProblem::TooLong => format!("Не длиннее {max} символов"),
                        super::TextProblem::Empty => "Заполните поле".into(),
                    };
                    errors.insert(field.into(), why);
                    detail = String::new();
                }
            }
        }
        _ => return Err(WebError::NotFound),
    }
    if !errors.is_empty() {
        drop(tx);
        return render_card(&st, &ctx, &s, &r, &errors, None, Some((&action, &form))).await;
    }
    office::audit(
        &mut *tx,
        ctx.slug(),
        Some(s.id),
        &action,
        Some(&format!("application:{}", a.id)),
        &detail,
        &ctx.ip,
    )
    .await?;
    tx.commit().await?;
    st.outbox_wake.notify_one();
    Ok(ctx.redirect(&format!("/office/applications/{}?done={action}", a.id)))
}

/// What a card action needs from outside its transaction.
enum Prepared {
    Nothing,
    /// A status change whose reason is required and missing.
    NoteMissing,
    /// A status change as the workflow and the plugin see it.
    Checked(Result<(), WorkflowError>),
    /// The number to set, or why not (for the number field).
    Number(Result<String, String>),
    /// The staff member to assign (none: unassign) and how the audit names them.
    Assignee(Option<i64>, String),
}

#[allow(clippy::too_many_arguments)]
async fn prepare_card_action(
    st: &AppState,
    ctx: &Ctx,
    s: &Staff,
    assignee: Option<i64>,
    a: &app::Application,
    applicant: &account::Account,
    action: &str,
    form: &BTreeMap<String, String>,
) -> Result<Prepared, WebError> {
    let text = |k: &str| {
        form.get(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let actor = Actor::Staff {
        id: s.id,
        role: s.role.workflow_role(),
    };
    Ok(match action {
        "status" => {
            let target = text("to").unwrap_or_default();
            let needs_note = ctx
                .tenant
                .config
                .workflow
                .status(&target)
                .is_some_and(|d| d.requires_note);
            if needs_note && text("note").is_none() {
                Prepared::NoteMissing
            } else {
                let view = app::plugin_view(a, applicant, &a.values);
                Prepared::Checked(
                    workflow::check_with_plugin(
                        &st.plugins,
                        &ctx.tenant,
                        view,
                        &a.status,
                        &target,
                        actor,
                    )
                    .await,
                )
            }
        }
        "number" => Prepared::Number(card_number(st, ctx, a, applicant, form).await?),
        "assign" => {
            let who = match form.get("staff").map(String::as_str) {
                Some("me") => Some(s.id),
                Some("") | None => None,
                Some(v) => Some(v.parse::<i64>().map_err(|_| WebError::NotFound)?),
            };
            let mut named = "никому".to_string();
            if let Some(w) = who
                && who != assignee
            {
                let x = office::get_staff(&st.db, ctx.slug(), w)
                    .await
                    .map_err(internal)?
                    .filter(|x| x.active && (x.tenant_id == ctx.slug() || x.id == s.id))
                    .ok_or(WebError::NotFound)?;
                named = format!("{} ({})", x.name, x.email);
            }
            Prepared::Assignee(who, named)
        }
        _ => Prepared::Nothing,
    })
}

/// The number the card's number form asks for: typed, or generated the way
/// a submission is numbered (the next free one). A number the application
/// already has — and its applicant was told — is replaced only when staff
/// confirm it.
async fn card_number(
    st: &AppState,
    ctx: &Ctx,
    a: &app::Application,
    applicant: &account::Account,
    form: &BTreeMap<String, String>,
) -> Result<Result<String, String>, WebError> {
    let generate = form.contains_key("generate");
    let typed = form
        .get("number")
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty());
    if !generate && typed.is_none() {
        return Ok(Err(
            "Введите номер (до 64 символов) или сформируйте его".into()
        ));
    }
    if !generate && typed.as_ref().is_some_and(|n| n.chars().count() > 64) {
        return Ok(Err(
            "Введите номер (до 64 символов) или сформируйте его".into()
        ));
    }
    let confirmed = form.get("replace").is_some_and(|v| v == "1");
    let refuse_replacing = |old: &str| {
        format!(
            "У заявки уже есть номер {old}, и заявитель его получил. Чтобы заменить его, отметьте «Заменить номер {old}» и нажмите кнопку ещё раз."
        )
    };
    if let Some(n) = typed.filter(|_| !generate) {
        if app::number_taken(&st.db, ctx.slug(), a.id, &n).await? {
            return Ok(Err("Этот номер уже присвоен другой заявке".into()));
        }
        return Ok(match &a.number {
            Some(old) if *old != n && !confirmed => Err(refuse_replacing(old)),
            _ => Ok(n),
        });
    }
    // Asked before the plugin runs: a refused replacement spends no number.
    if let Some(old) = &a.number
        && !confirmed
    {
        return Ok(Err(refuse_replacing(old)));
    }
    let view = app::plugin_view(a, applicant, &a.values);
    // A number typed by hand may be the sequence's next: skip it.
    for _ in 0..50 {
        let n = match st
            .plugins
            .call(
                ctx.slug(),
                crate::plugin::types::Hook::RegistrationNumber(view.clone()),
            )
            .await
        {
            Ok(Some(crate::plugin::types::HookOutput::Number(Some(n)))) => n,
            _ => app::default_number(&st.db, ctx.slug()).await?,
        };
        if !app::number_taken(&st.db, ctx.slug(), a.id, &n).await? {
            return Ok(Ok(n));
        }
    }
    Ok(Err(
        "Не удалось сформировать свободный номер: введите его вручную".into(),
    ))
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
    let mut errors = FieldErrors::new();
    let posted = match super::posted::read(&ctx, &st, multipart, max_mb).await {
        Ok(p) => p,
        Err(refused) if refused.error == super::posted::PostedError::Csrf => {
            return Err(WebError::Csrf);
        }
        Err(refused) => {
            errors.insert("file".into(), refused.error.message(max_mb));
            let typed = Some(("document", &refused.typed));
            return render_card(&st, &ctx, &s, &r, &errors, None, typed).await;
        }
    };
    let title = posted
        .fields
        .get("title")
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty() && t.chars().count() <= 200);
    let comment = posted
        .fields
        .get("body")
        .map(|b| b.trim().to_string())
        .unwrap_or_default();
    if title.is_none() {
        errors.insert(
            "doc_title".into(),
            "Назовите документ (до 200 символов)".into(),
        );
    }
    if posted.file.is_none() {
        errors.insert("file".into(), "Выберите файл".into());
    }
    let (Some(title), Some((name, stored, kind)), true) =
        (title, posted.file.as_ref(), errors.is_empty())
    else {
        if let Some((_, stored, _)) = &posted.file {
            crate::document::forget_upload(&st.db, &st.files, stored).await;
        }
        let typed = Some(("document", &posted.fields));
        return render_card(&st, &ctx, &s, &r, &errors, None, typed).await;
    };
    let a = &r.app;
    let author = format!("staff:{}", s.id);
    let applicant = account::get(&st.db, ctx.slug(), a.account_id)
        .await?
        .ok_or(WebError::NotFound)?;
    let to = super::shared::recipient(&st, &ctx, &applicant, a);
    let html = if comment.is_empty() {
        String::new()
    } else {
        office::sanitize(&office::text_to_html(&comment))
    };
    let mut tx = st.db.pool.begin().await?;
    let file_id = crate::document::attach(
        &mut *tx,
        ctx.slug(),
        a.id,
        "_utility",
        Some(&title),
        name,
        stored,
        kind.mime(),
    )
    .await?;
    office::add_message(
        &mut tx,
        ctx.slug(),
        a.id,
        NewMessage {
            side: "utility",
            kind: "document",
            author: &author,
            title: Some(&title),
            body: &html,
            file_id: Some(file_id),
        },
    )
    .await?;
    app::event(
        &mut *tx,
        ctx.slug(),
        a.id,
        "document",
        Some(&a.status),
        &author,
        Some(&title),
    )
    .await?;
    // The staff's comment travels with the notice, as a message's text does.
    let comment = office::html_to_text(&html);
    workflow::notify_message(
        &mut tx,
        &ctx.tenant,
        a,
        &format!("Новый документ: {title}"),
        &comment,
        &to,
    )
    .await
    .map_err(|e| WebError::Internal(e.into()))?;
    office::audit(
        &mut *tx,
        ctx.slug(),
        Some(s.id),
        "document",
        Some(&format!("application:{}", a.id)),
        &format!(
            "{title} ({name}, {})",
            super::human_size(stored.size as i64)
        ),
        &ctx.ip,
    )
    .await?;
    tx.commit().await?;
    crate::document::release(&st.db, stored).await;
    st.outbox_wake.notify_one();
    Ok(ctx.redirect(&format!("/office/applications/{}?done=document", a.id)))
}

fn message_subject(action: &str, title: Option<&str>) -> String {
    match action {
        "request" => "Запрос недостающих документов или сведений".into(),
        "stage" => format!("Новый этап: {}", title.unwrap_or_default()),
        _ => "Новое сообщение от организации".into(),
    }
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
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let form = form_map(pairs);
    ctx.check_csrf(&st, &form)?;
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
            action: "staff_add",
            target: None,
            detail: format!("{}, {}", get("email"), role.title()),
            ip: &ctx.ip,
        }),
    )
    .await
    {
        Ok(_) => Ok(ctx.redirect("/office/staff?done=added")),
        Err(office::OfficeError::Invalid(msg)) => {
            let field = if msg.contains("почт") {
                "email"
            } else if msg.contains("имя") {
                "name"
            } else {
                "password"
            };
            errors.insert(field.into(), msg);
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
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let form = form_map(pairs);
    ctx.check_csrf(&st, &form)?;
    let s = require_admin(&st, &ctx).await?;
    let id = parse_id(&id)?;
    let active = form.get("active").map(String::as_str) == Some("1");
    if id == s.id && !active {
        return Err(WebError::Forbidden);
    }
    let note = office::AuditNote {
        staff: Some(s.id),
        action: if active { "staff_on" } else { "staff_off" },
        target: Some(format!("staff:{id}")),
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
                action => audit_action(&e.action),
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

/// An audit action as the tenant admin reads it.
fn audit_action(action: &str) -> String {
    match action {
        "login" => "Вход",
        "login_failed" => "Неудачный вход",
        "code_failed" => "Неверный код второго фактора",
        "totp_on" => "Включён код при входе",
        "totp_off" => "Отключён код при входе",
        "staff_add" => "Добавлен сотрудник",
        "staff_on" => "Доступ сотрудника восстановлен",
        "staff_off" => "Доступ сотрудника закрыт",
        "export" => "Выгрузка очереди",
        "status" => "Смена статуса",
        "custom_status" => "Свой статус",
        "number" => "Регистрационный номер",
        "assign" => "Назначение исполнителя",
        "message" => "Сообщение заявителю",
        "request" => "Запрос документов",
        "stage" => "Этап работ",
        "document" => "Документ заявителю",
        "document_add" => "Опубликован нормативный документ",
        "document_delete" => "Удалён нормативный документ",
        "content" => "Изменены страницы портала",
        "appeal_take" => "Обращение взято в работу",
        "appeal_answer" => "Ответ на обращение",
        other => other,
    }
    .to_string()
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
