//! Views, extractors and helpers the web files share: staff sign-in and
//! the office layout, event and message lines, the fee and field views,
//! file responses, notification recipients and plugin field errors. Web
//! files import each other only through here.

use super::{AppState, Ctx, WebError};
use crate::account::{self, Account, FieldErrors};
use crate::application::{self as app, Application};
use crate::office::{self, Staff};
use crate::plugin::types::{self as pt, Hook, HookOutput};
use crate::store::Author;
use crate::tenant::Tenant;
use crate::tenant::config::FieldDef;
use crate::workflow::{self, Recipient, WorkflowError};
use axum::response::Response;
use minijinja::{Value, context};
use std::collections::BTreeMap;

/// The signed-in staff member, or a redirect to the sign-in page.
pub(super) async fn staff(st: &AppState, ctx: &Ctx) -> Result<Staff, WebError> {
    let login = || WebError::NeedLogin(ctx.url("/office/login"));
    let token = ctx.staff_session.as_deref().ok_or_else(login)?;
    let Some((id, pending)) = office::session(&st.db, ctx.slug(), token)
        .await
        .map_err(internal)?
    else {
        return Err(login());
    };
    if pending {
        return Err(WebError::NeedLogin(ctx.url("/office/login/code")));
    }
    match office::get_staff(&st.db, ctx.slug(), id)
        .await
        .map_err(internal)?
    {
        Some(s) if s.active => Ok(s),
        _ => Err(login()),
    }
}

pub(super) fn internal(e: office::OfficeError) -> WebError {
    WebError::Internal(e.into())
}

pub(super) fn render(
    ctx: &Ctx,
    name: &str,
    s: Option<&Staff>,
    extra: minijinja::Value,
) -> Result<Response, WebError> {
    ctx.render(name, None, context! { staff => s.map(staff_view), ..extra })
}

/// What an event in the history means, in words either side reads.
pub(super) fn event_text(ctx: &Ctx, e: &app::Event) -> String {
    let status = || workflow::status_title(&ctx.tenant, e.status.as_deref().unwrap_or(""));
    use app::EventKind as K;
    let Some(kind) = K::from_id(&e.kind) else {
        return e.kind.clone();
    };
    match kind {
        K::Created => "Создан черновик".into(),
        // Waiting for the signed original, an application is not filed yet
        // (kazenergo, seed 000): "подана" would say otherwise.
        K::Submitted
            if ctx
                .tenant
                .config
                .workflow
                .submitted_edo
                .as_ref()
                .is_some_and(|s| Some(s.get_ref().as_str()) == e.status.as_deref()) =>
        {
            format!("Заявка отправлена: {}", status())
        }
        K::Submitted => format!("Заявка подана: {}", status()),
        K::Status => format!("Статус: {}", status()),
        K::Resubmitted => format!("Отправлена повторно после доработки: {}", status()),
        K::CustomStatus => "Статус изменён".into(),
        K::Number => "Присвоен регистрационный номер".into(),
        K::Assigned => "Назначен исполнитель".into(),
        K::Message => "Сообщение".into(),
        K::Document => "Документ".into(),
        K::Request => "Запрос документов или сведений".into(),
        K::Stage => "Этап".into(),
        K::Answer => "Ответ заявителя".into(),
        K::Saved => "Черновик сохранён".into(),
    }
}

/// The correspondence of an application, for either side.
pub(super) async fn message_views(
    st: &AppState,
    ctx: &Ctx,
    application: i64,
    names: &BTreeMap<i64, String>,
) -> Result<Vec<minijinja::Value>, WebError> {
    Ok(office::messages(&st.db, ctx.slug(), application)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|m| {
            context! {
                side => &m.side,
                kind => &m.kind,
                who => actor_name(names, m.author),
                title => &m.title,
                body => minijinja::Value::from_safe_string(m.body.clone()),
                file_id => m.file_id,
                when => ctx.tenant.local_time(&m.created_at),
            }
        })
        .collect())
}

/// The plugin's fee for an application (`calculate-fee`), as the page, the
/// card and the Word file show it. A plugin that fails or has no price for
/// these values gives none: the price is information, never a reason to
/// refuse the page.
pub(super) async fn fee_view(
    st: &AppState,
    tenant: &str,
    app_view: pt::Application,
) -> Option<minijinja::Value> {
    match st.plugins.call(tenant, Hook::CalculateFee(app_view)).await {
        Ok(Some(HookOutput::Fee(Some(f)))) => {
            let sign = match f.currency.as_str() {
                "RUB" => "₽",
                "KZT" => "₸",
                other => other,
            }
            .to_string();
            Some(context! {
                currency => f.currency,
                sign => sign,
                lines => f.lines.iter().map(|l| context! { title => &l.title, amount => money(l.amount) }).collect::<Vec<_>>(),
                total => money(f.total),
            })
        }
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(tenant, error = %e, "calculate-fee failed; the page shows no fee");
            None
        }
    }
}

/// A submitted application as its applicant sees it.
/// Fields with their values as people read them, for the application's
/// page, the office card and the Word file.
pub(super) fn shown_fields<'a>(
    fields: impl IntoIterator<Item = &'a FieldDef>,
    values: &BTreeMap<String, String>,
) -> Vec<minijinja::Value> {
    fields
        .into_iter()
        .map(|f| {
            let id = f.id.get_ref().as_str();
            let value = values
                .get(id)
                .map(|v| account::shown_value(f, v))
                .unwrap_or_default();
            context! { id => id, label => &f.label, value => value, unit => &f.unit }
        })
        .collect()
}

/// Where an application's notifications go: the email and phone given in
/// the application ("для уведомлений"), else the account's.
pub(super) fn recipient<'a>(
    st: &AppState,
    ctx: &Ctx,
    acc: &'a Account,
    a: &'a Application,
) -> Recipient<'a> {
    Recipient::of(acc, a, application_link(st, ctx, a.id))
}

/// An application's page in the applicant's portal, as notifications link it.
pub(super) fn application_link(st: &AppState, ctx: &Ctx, id: i64) -> String {
    format!(
        "{}/applications/{id}",
        ctx.tenant.public_url(&st.cfg.public_url)
    )
}

/// The words for a refused status change; internal failures become a 500.
pub(super) fn refusal_text(e: WorkflowError) -> String {
    match e {
        WorkflowError::Refused(reason) | WorkflowError::Plugin(reason) => reason,
        WorkflowError::NotAllowed => step_message("not_allowed"),
        WorkflowError::Changed => step_message("changed"),
        WorkflowError::Db(_) | WorkflowError::Notify(_) => step_message("failed"),
    }
}

/// One file of an application the caller may already see.
pub(super) async fn send_file(
    st: &AppState,
    ctx: &Ctx,
    application: i64,
    file: &str,
) -> Result<Response, WebError> {
    let file: i64 = file.parse().map_err(|_| WebError::NotFound)?;
    let f = crate::document::files_of(&st.db, ctx.slug(), application)
        .await?
        .into_iter()
        .find(|x| x.id == file)
        .ok_or(WebError::NotFound)?;
    super::stored_file(st, &f.sha256, &f.content_type, "file", &f.file_name).await
}

/// The view of tenant fields a form template loops over.
pub(super) fn field_views<'a>(
    tenant: &Tenant,
    fields: impl Iterator<Item = &'a FieldDef>,
    values: &BTreeMap<String, String>,
    errors: &FieldErrors,
) -> Vec<Value> {
    fields
        .map(|f| {
            let id = f.id.get_ref().as_str();
            let options = f
                .options
                .as_ref()
                .and_then(|o| tenant.list(o.get_ref()))
                .unwrap_or(&[]);
            context! {
                id => id,
                label => &f.label,
                kind => format!("{:?}", f.kind).to_lowercase(),
                required => f.required,
                hint => &f.hint,
                placeholder => &f.placeholder,
                options => options.to_vec(),
                max_length => f.max_length,
                unit => &f.unit,
                value => values.get(id).cloned().unwrap_or_default(),
                error => errors.get(id),
            }
        })
        .collect()
}

pub(super) fn staff_view(s: &Staff) -> minijinja::Value {
    context! {
        id => s.id,
        name => &s.name,
        email => &s.email,
        role => s.role.id(),
        role_title => s.role.title(),
        is_manager => s.role.is_manager(),
        is_admin => s.role.is_admin(),
        has_totp => s.has_totp(),
    }
}

pub(super) fn actor_name(names: &BTreeMap<i64, String>, actor: Author) -> String {
    match actor {
        Author::Applicant => "Заявитель".into(),
        Author::System => "Система".into(),
        Author::Staff(id) => names
            .get(&id)
            .cloned()
            .unwrap_or_else(|| "Сотрудник".into()),
    }
}

/// Roubles (or tenge) from minor units: "1 234,56".
pub(super) fn money(minor: i64) -> String {
    let whole = (minor / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push('\u{a0}');
        }
        grouped.push(c);
    }
    format!("{grouped},{:02}", (minor % 100).abs())
}

pub(super) fn step_message(code: &str) -> String {
    match code {
        "not_allowed" => "Это действие сейчас недоступно.".into(),
        "changed" => "Статус заявки только что изменился. Обновите страницу.".into(),
        _ => "Не удалось выполнить действие. Попробуйте ещё раз.".into(),
    }
}
