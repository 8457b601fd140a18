//! The workflow engine: which status changes a tenant allows and to whom,
//! the plugin's say on each, the deadline each status sets (in working
//! days of the tenant's production calendar), the history event with its
//! author and the notifications the tenant wants for the new status.
//!
//! Every change goes through [`change`], inside the caller's transaction,
//! so the status, its event and its notifications commit together.

pub mod calendar;
pub mod step;
pub mod submit;

use crate::application::{self as app, Application, DRAFT};
use crate::notify;
use crate::plugin::Plugins;
use crate::plugin::types as pt;
use crate::plugin::types::{Hook, HookOutput};
use crate::store::Author;
use crate::tenant::Tenant;
use crate::tenant::config::{ApplicantType, Channel, Role, StatusDef, Workflow};
use calendar::Calendar;
use minijinja::context;
use time::Date;

/// Who makes a change; recorded in the history as `applicant`,
/// `staff:<id>` or `system`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Applicant(i64),
    Staff { id: i64, role: Role },
    System,
}

impl Actor {
    pub fn role(self) -> Role {
        match self {
            Actor::Applicant(_) => Role::Applicant,
            Actor::Staff { role, .. } => role,
            Actor::System => Role::System,
        }
    }

    /// The history's name for it.
    pub fn author(self) -> Author {
        match self {
            Actor::Applicant(_) => Author::Applicant,
            Actor::Staff { id, .. } => Author::Staff(id),
            Actor::System => Author::System,
        }
    }

    /// What the plugin's `check-transition` is told.
    fn plugin_actor(self) -> &'static str {
        match self.role() {
            Role::Applicant => "applicant",
            Role::System => "system",
            _ => "staff",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    #[error("this status change is not allowed")]
    NotAllowed,
    /// The plugin refused; its reason is meant for the user.
    #[error("refused: {0}")]
    Refused(String),
    /// The plugin failed; the text is the user-facing message.
    #[error("plugin: {0}")]
    Plugin(String),
    /// Someone changed the application since it was read.
    #[error("the application changed meanwhile")]
    Changed,
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("notification: {0}")]
    Notify(#[from] notify::NotifyError),
}

/// A possible next status, with the words for its button.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Step {
    pub to: String,
    pub label: String,
}

/// Whether nothing follows `status` (fulfilled, rejected, withdrawn).
pub fn is_final(wf: &Workflow, status: &str) -> bool {
    wf.status(status).is_some_and(|s| s.is_final)
}

/// The statuses `role` may move an application in `from` to.
///
/// Leaving the draft is the applicant's submission and nobody else's.
/// Without configured transitions staff (and the system) may set any
/// status and the applicant nothing; with them, only what they list.
pub fn next_steps(wf: &Workflow, kind: &str, from: &str, role: Role) -> Vec<Step> {
    let step = |s: &StatusDef, label: Option<&String>| Step {
        to: s.id().to_string(),
        label: label.cloned().unwrap_or_else(|| s.title.clone()),
    };
    if from == DRAFT {
        return match (role, wf.status(wf.submitted())) {
            (Role::Applicant, Some(s)) => vec![step(s, None)],
            _ => Vec::new(),
        };
    }
    let editable = wf.status(from).is_some_and(|s| s.applicant_edits);
    if wf.transitions.is_empty() {
        if role == Role::Applicant {
            // Sending a returned application back is the one applicant step.
            return match (editable, wf.status(wf.submitted())) {
                (true, Some(s)) => vec![step(s, None)],
                _ => Vec::new(),
            };
        }
        // A final status ends the application: nobody reopens it by default.
        if is_final(wf, from) {
            return Vec::new();
        }
        // A final status that needs a reason is a refusal (rejected,
        // annulled): a manager's decision, not an operator's.
        return wf
            .statuses
            .iter()
            .filter(|s| s.id() != from)
            .filter(|s| role != Role::Operator || !(s.is_final && s.requires_note))
            .map(|s| step(s, None))
            .collect();
    }
    let mut out: Vec<Step> = Vec::new();
    for t in &wf.transitions {
        let matches_from = t
            .from_ids()
            .any(|f| f == from || (f == "*" && !is_final(wf, from)));
        if matches_from
            && t.for_kind(kind)
            && t.by.contains(&role)
            && t.to() != from
            && !out.iter().any(|s| s.to == t.to())
            && let Some(s) = wf.status(t.to())
        {
            out.push(step(s, t.label.as_ref()));
        }
    }
    out
}

pub fn may(wf: &Workflow, kind: &str, from: &str, to: &str, role: Role) -> bool {
    next_steps(wf, kind, from, role).iter().any(|s| s.to == to)
}

/// The status a draft of an applicant of type `t` is sent to: the tenant's
/// `submitted_edo` for the types that file through EDO, else `submitted`.
pub fn first_status(tenant: &Tenant, t: Option<ApplicantType>) -> &str {
    let wf = &tenant.config.workflow;
    match (wf.submitted_edo(), t) {
        (Some(edo), Some(t)) if tenant.config.applications.edo_for.contains(&t) => edo,
        _ => wf.submitted(),
    }
}

/// The due date an application gets on entering `status` today.
pub fn due_on(tenant: &Tenant, status: &str, today: Date) -> Option<Date> {
    let wf = &tenant.config.workflow;
    let days = wf.status(status)?.deadline_working_days?;
    Some(Calendar::of(wf.calendar).add_working_days(today, days))
}

/// The title of a status for people; a custom status is its own title.
pub fn status_title(tenant: &Tenant, status: &str) -> String {
    if status == DRAFT {
        return "Черновик".into();
    }
    tenant
        .status(status)
        .map(|s| s.title.clone())
        .unwrap_or_else(|| status.to_string())
}

/// Ask the tenant's plugin whether it objects to the change.
pub async fn check_with_plugin(
    plugins: &Plugins,
    tenant: &Tenant,
    view: pt::Application,
    from: &str,
    to: &str,
    actor: Actor,
) -> Result<(), WorkflowError> {
    let t = pt::Transition {
        application: view,
        from: from.into(),
        to: to.into(),
        actor: actor.plugin_actor().into(),
    };
    match plugins.call(&tenant.slug, Hook::CheckTransition(t)).await {
        Ok(Some(HookOutput::Refusal(Some(reason)))) => Err(WorkflowError::Refused(reason)),
        Ok(_) => Ok(()),
        Err(e) => Err(WorkflowError::Plugin(e.user_message().into())),
    }
}

/// Whom to tell about a change, and the link to the application.
pub struct Recipient<'a> {
    pub email: Option<&'a str>,
    pub phone: Option<&'a str>,
    pub link: String,
}

impl<'a> Recipient<'a> {
    /// The email and phone given in the application ("для уведомлений"),
    /// else the account's; `link` is the application's page.
    pub fn of(acc: &'a crate::account::Account, a: &'a Application, link: String) -> Self {
        let given = |id: &str| a.values.get(id).map(|v| v.trim()).filter(|v| !v.is_empty());
        Recipient {
            email: given("email").or(acc.email.as_deref()),
            phone: given("phone").or(acc.phone.as_deref()),
            link,
        }
    }
}

/// Move `a` from its current status to `to` on behalf of `actor`, inside
/// `tx`: checks the tenant allows it, guards against a concurrent change,
/// sets the deadline, appends the event and queues the notifications.
/// The plugin's check is the caller's (it needs the applicant's view).
pub async fn change(
    tx: &mut sqlx::AnyConnection,
    tenant: &Tenant,
    a: &Application,
    to: &str,
    actor: Actor,
    note: Option<&str>,
    notify_to: &Recipient<'_>,
) -> Result<(), WorkflowError> {
    let wf = &tenant.config.workflow;
    if !may(wf, &a.kind, &a.status, to, actor.role()) {
        return Err(WorkflowError::NotAllowed);
    }
    let due = due_on(tenant, to, tenant.today()).map(|d| d.to_string());
    let moved = app::set_status(tx, a, to, due.as_deref(), actor.author(), note).await?;
    if !moved {
        return Err(WorkflowError::Changed);
    }
    notify_status(tx, tenant, a, to, notify_to).await?;
    tracing::info!(application = a.id, from = %a.status, to, actor = %actor.author(), "status changed");
    Ok(())
}

/// Queue the notifications `tenant` sends on entering `status`.
pub async fn notify_status(
    tx: &mut sqlx::AnyConnection,
    tenant: &Tenant,
    a: &Application,
    status: &str,
    to: &Recipient<'_>,
) -> Result<(), WorkflowError> {
    let messages = status_messages(tenant, a, status, to)?;
    notify::enqueue(tx, &tenant.slug, &messages).await?;
    Ok(())
}

/// Tell the applicant about something other than a status (a message, a
/// request for documents, a stage, a custom status): by email, and by SMS
/// where the current status is announced by SMS.
pub async fn notify_text(
    tx: &mut sqlx::AnyConnection,
    tenant: &Tenant,
    a: &Application,
    text: &str,
    to: &Recipient<'_>,
) -> Result<(), WorkflowError> {
    notify_beside_status(tx, tenant, a, text, None, to).await
}

/// Like [`notify_text`], and the email carries what staff wrote (plain
/// text), so the applicant can read it without signing in. The SMS stays
/// short.
pub async fn notify_message(
    tx: &mut sqlx::AnyConnection,
    tenant: &Tenant,
    a: &Application,
    text: &str,
    message: &str,
    to: &Recipient<'_>,
) -> Result<(), WorkflowError> {
    notify_beside_status(tx, tenant, a, text, Some(message), to).await
}

/// By email, and by SMS where the current status is announced by SMS.
async fn notify_beside_status(
    tx: &mut sqlx::AnyConnection,
    tenant: &Tenant,
    a: &Application,
    text: &str,
    message: Option<&str>,
    to: &Recipient<'_>,
) -> Result<(), WorkflowError> {
    let sms = tenant
        .status(&a.status)
        .is_some_and(|s| s.notify.contains(&Channel::Sms));
    let channels: &[Channel] = if sms {
        &[Channel::Email, Channel::Sms]
    } else {
        &[Channel::Email]
    };
    let messages = messages(tenant, a, text, message, to, channels)?;
    notify::enqueue(tx, &tenant.slug, &messages).await?;
    Ok(())
}

/// The messages saying `a` is now in `status`, rendered for a caller that
/// queues them with its own statements.
pub fn status_messages(
    tenant: &Tenant,
    a: &Application,
    status: &str,
    to: &Recipient<'_>,
) -> Result<Vec<notify::Message>, WorkflowError> {
    let channels = tenant
        .status(status)
        .map(|s| s.notify.clone())
        .unwrap_or_default();
    messages(
        tenant,
        a,
        &status_title(tenant, status),
        None,
        to,
        &channels,
    )
}

/// The "application_status" message saying `text` on `channels`;
/// `message`, when given, goes into the email only.
fn messages(
    tenant: &Tenant,
    a: &Application,
    text: &str,
    message: Option<&str>,
    to: &Recipient<'_>,
    channels: &[Channel],
) -> Result<Vec<notify::Message>, WorkflowError> {
    let ctx = context! {
        number => &a.number,
        status => text,
        link => &to.link,
        kind => tenant.kind_title(&a.kind),
    };
    let mut out = Vec::new();
    if channels.contains(&Channel::Email)
        && let Some(email) = to.email
    {
        let with_message = context! { message => message, ..ctx.clone() };
        out.push(notify::Message::email(
            tenant,
            email,
            "application_status",
            &with_message,
        )?);
    }
    if channels.contains(&Channel::Sms)
        && let Some(phone) = to.phone
    {
        out.push(notify::Message::sms(
            tenant,
            phone,
            "application_status",
            &ctx,
        )?);
    }
    Ok(out)
}

/// Whether an application in `status` due on `due` is late on `today`.
pub fn is_overdue(tenant: &Tenant, status: &str, due: Option<&str>, today: Date) -> bool {
    !is_final(&tenant.config.workflow, status)
        && status != DRAFT
        && due
            .and_then(calendar::parse_date)
            .is_some_and(|d| d < today)
}

/// Whether the applicant may change the application: a draft, or one the
/// utility returned for corrections (seed 004).
/// Whether the applicant edits the application in its form: a draft, or a
/// status the tenant returns for rework.
pub fn editable(tenant: &Tenant, a: &Application) -> bool {
    a.is_draft() || tenant.status(&a.status).is_some_and(|s| s.applicant_edits)
}

/// Whether the applicant may write to the utility about the application:
/// it has been sent and is not finished.
/// Whether the applicant may still write on the application.
pub fn answerable(tenant: &Tenant, a: &Application) -> bool {
    !a.is_draft() && !is_final(&tenant.config.workflow, &a.status)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wf(src: &str) -> Workflow {
        toml::from_str(src).unwrap()
    }

    const BASE: &str = r#"
submitted = "new"
[[status]]
id = "new"
title = "Подана"
[[status]]
id = "review"
title = "На рассмотрении"
[[status]]
id = "done"
title = "Исполнена"
final = true
[[status]]
id = "returned"
title = "Возвращена"
applicant_edits = true
"#;

    fn ids(steps: Vec<Step>) -> Vec<String> {
        steps.into_iter().map(|s| s.to).collect()
    }

    #[test]
    fn without_transitions_staff_set_any_status_and_the_applicant_only_submits() {
        let w = wf(BASE);
        assert_eq!(ids(next_steps(&w, "k", DRAFT, Role::Applicant)), ["new"]);
        assert!(next_steps(&w, "k", DRAFT, Role::Operator).is_empty());
        assert_eq!(
            ids(next_steps(&w, "k", "new", Role::Operator)),
            ["review", "done", "returned"]
        );
        assert!(next_steps(&w, "k", "new", Role::Applicant).is_empty());
        assert_eq!(
            ids(next_steps(&w, "k", "returned", Role::Applicant)),
            ["new"]
        );
        // A refusal (final, with a reason) is for managers and up.
        let w = wf(&format!(
            "{BASE}[[status]]\nid = \"rejected\"\ntitle = \"Отклонена\"\nfinal = true\nrequires_note = true\n"
        ));
        assert!(!may(&w, "k", "new", "rejected", Role::Operator));
        assert!(may(&w, "k", "new", "done", Role::Operator));
        assert!(may(&w, "k", "new", "rejected", Role::Manager));
        assert!(may(&w, "k", "new", "rejected", Role::Admin));
        // A final status is not reopened.
        assert!(next_steps(&w, "k", "rejected", Role::Admin).is_empty());
        assert!(next_steps(&w, "k", "done", Role::Manager).is_empty());
    }

    #[test]
    fn listed_transitions_are_the_only_ones_and_name_who_may() {
        let w = wf(&format!(
            "{BASE}\n[[transition]]\nfrom = [\"new\"]\nto = \"review\"\nby = [\"operator\", \"manager\"]\n\
             [[transition]]\nfrom = [\"*\"]\nto = \"done\"\nby = [\"manager\"]\nlabel = \"Исполнить\"\n\
             [[transition]]\nfrom = [\"new\"]\nto = \"returned\"\nby = [\"system\"]\n\
             [[transition]]\nfrom = [\"*\"]\nto = \"review\"\nby = [\"admin\"]\n"
        ));
        assert!(may(&w, "k", "new", "review", Role::Operator));
        assert!(!may(&w, "k", "new", "done", Role::Operator));
        assert!(may(&w, "k", "review", "done", Role::Manager));
        assert_eq!(
            next_steps(&w, "k", "review", Role::Manager)[0].label,
            "Исполнить"
        );
        assert!(may(&w, "k", "returned", "review", Role::Admin));
        assert!(
            !may(&w, "k", "done", "review", Role::Admin),
            "`*` does not reach past a final status"
        );
        assert!(!may(&w, "k", "new", "returned", Role::Admin));
        assert!(may(&w, "k", "new", "returned", Role::System));
        assert!(!may(&w, "k", "new", "review", Role::Applicant));
    }
}
