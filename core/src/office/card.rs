//! What staff do on an application's card, as one use case: a status
//! change, an own status, the registration number, the assignee, and a
//! message, a request for documents or a stage note to the applicant.
//! Everything that runs the plugin or reads other rows happens before the
//! write transaction opens, so a request holding one never waits for a
//! second connection; the change, its history event and its audit entry
//! are written together.

use super::correspondence::{Kind, Letter, LetterError, Side};
use super::queue::{self, NumberSet, QueueRow};
use super::{OfficeError, Staff};
use crate::account::{Account, FieldErrors, TextProblem, text_problem};
use crate::application as app;
use crate::notify::NotifyError;
use crate::plugin::Plugins;
use crate::plugin::types::{Hook, HookOutput};
use crate::store::Db;
use crate::tenant::Tenant;
use crate::workflow::{self, Actor, Recipient, WorkflowError};
use std::collections::BTreeMap;

/// A card action as the form names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CardAction {
    Status,
    CustomStatus,
    Number,
    Assign,
    Message,
    Request,
    Stage,
}

impl CardAction {
    pub fn from_id(s: &str) -> Option<CardAction> {
        Some(match s {
            "status" => CardAction::Status,
            "custom_status" => CardAction::CustomStatus,
            "number" => CardAction::Number,
            "assign" => CardAction::Assign,
            "message" => CardAction::Message,
            "request" => CardAction::Request,
            "stage" => CardAction::Stage,
            _ => return None,
        })
    }

    /// The name in the form's address, the history and the audit log.
    pub fn id(self) -> &'static str {
        match self {
            CardAction::Status => "status",
            CardAction::CustomStatus => "custom_status",
            CardAction::Number => "number",
            CardAction::Assign => "assign",
            CardAction::Message => "message",
            CardAction::Request => "request",
            CardAction::Stage => "stage",
        }
    }
}

/// One action on one card.
pub struct Acting<'a> {
    pub tenant: &'a Tenant,
    pub staff: &'a Staff,
    pub card: &'a QueueRow,
    pub applicant: &'a Account,
    /// Where the applicant's notifications go.
    pub to: Recipient<'a>,
    pub action: CardAction,
    /// The posted form.
    pub form: &'a BTreeMap<String, String>,
    /// The client's address, for the audit log.
    pub ip: &'a str,
}

/// What came of an action that was not refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Acted {
    Done,
    /// Nothing to change (the same assignee): no history, no audit.
    Unchanged,
}

#[derive(Debug, thiserror::Error)]
pub enum CardError {
    /// Errors beside the card's fields; nothing was written.
    #[error("the form has errors")]
    Fields(FieldErrors),
    /// An unknown staff member or action parameter.
    #[error("not found")]
    NotFound,
    /// The tenant does not allow this action.
    #[error("forbidden")]
    Forbidden,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Notify(#[from] NotifyError),
    #[error(transparent)]
    Office(#[from] OfficeError),
    #[error(transparent)]
    App(#[from] app::AppError),
    #[error(transparent)]
    Letter(#[from] LetterError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// What an action needs from outside its transaction.
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

fn text(form: &BTreeMap<String, String>, k: &str) -> Option<String> {
    form.get(k)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn actor_of(s: &Staff) -> Actor {
    Actor::Staff {
        id: s.id,
        role: s.role.workflow_role(),
    }
}

/// The words a refused status change shows under the status field.
pub type RefusalText = fn(WorkflowError) -> String;

/// Runs one card action. `refusal` words a status change the workflow or
/// the plugin refused (the web layer owns those words).
pub async fn act(
    db: &Db,
    plugins: &Plugins,
    x: Acting<'_>,
    refusal: RefusalText,
) -> Result<Acted, CardError> {
    let Acting {
        tenant,
        staff: s,
        card: r,
        applicant,
        to,
        action,
        form,
        ip,
    } = x;
    let a = &r.app;
    let slug = tenant.slug.as_str();
    let actor = actor_of(s);
    let author = actor.author();
    let mut errors = FieldErrors::new();
    let prepared = prepare(
        db,
        plugins,
        tenant,
        s,
        r.assignee_id,
        a,
        applicant,
        action,
        form,
    )
    .await?;
    let mut tx = db.begin().await?;
    let detail: String;
    match action {
        CardAction::Status => {
            let target = text(form, "to").unwrap_or_default();
            let note = text(form, "note");
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
                        workflow::change(&mut tx, tenant, a, &target, actor, note.as_deref(), &to)
                            .await
                    }
                    Err(e) => Err(e),
                };
                match res {
                    Ok(()) => queue::set_custom_status(&mut tx, slug, a.id, None).await?,
                    Err(WorkflowError::Db(e)) => return Err(e.into()),
                    Err(WorkflowError::Notify(e)) => return Err(e.into()),
                    Err(e) => {
                        errors.insert("to".into(), refusal(e));
                    }
                }
            }
            detail = format!(
                "{} → {}",
                workflow::status_title(tenant, &a.status),
                workflow::status_title(tenant, &target)
            );
        }
        CardAction::CustomStatus => {
            if !tenant.config.workflow.custom_status {
                return Err(CardError::Forbidden);
            }
            match text(form, "text") {
                Some(t) if t.chars().count() <= 200 => {
                    queue::set_custom_status(&mut tx, slug, a.id, Some(&t)).await?;
                    app::event(
                        &mut tx,
                        slug,
                        a.id,
                        app::EventKind::CustomStatus,
                        Some(&a.status),
                        author,
                        Some(&t),
                    )
                    .await?;
                    workflow::notify_text(&mut tx, tenant, a, &t, &to)
                        .await
                        .map_err(|e| CardError::Internal(e.into()))?;
                    detail = t;
                }
                _ => {
                    errors.insert("text".into(), "Введите статус — до 200 символов".into());
                    detail = String::new();
                }
            }
        }
        CardAction::Number => match prepared {
            Prepared::Number(Ok(n)) => {
                let set = queue::set_number(&mut tx, slug, a.id, a.number.as_deref(), &n).await?;
                // A refused update may have aborted the transaction
                // (PostgreSQL): nothing more is written on it.
                let refused = match set {
                    NumberSet::Done => None,
                    NumberSet::Taken => Some("Этот номер уже присвоен другой заявке"),
                    NumberSet::Changed => {
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
                        &mut tx,
                        slug,
                        a.id,
                        app::EventKind::Number,
                        Some(&a.status),
                        author,
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
            _ => return Err(CardError::NotFound),
        },
        CardAction::Assign => {
            let Prepared::Assignee(who, named) = prepared else {
                return Err(CardError::NotFound);
            };
            if who == r.assignee_id {
                return Ok(Acted::Unchanged);
            }
            queue::assign(&mut tx, slug, a.id, who).await?;
            app::event(
                &mut tx,
                slug,
                a.id,
                app::EventKind::Assigned,
                Some(&a.status),
                author,
                None,
            )
            .await?;
            detail = named;
        }
        CardAction::Message | CardAction::Request | CardAction::Stage => {
            let (raw, max) = match action {
                CardAction::Stage => (text(form, "title").unwrap_or_default(), 200),
                _ => (text(form, "body").unwrap_or_default(), 20_000),
            };
            match text_problem(&raw, max) {
                None => {
                    let letter = Letter {
                        kind: match action {
                            CardAction::Request => Kind::Request,
                            CardAction::Stage => Kind::Stage,
                            _ => Kind::Message,
                        },
                        title: (action == CardAction::Stage).then_some(raw.as_str()),
                        text: &raw,
                        file: None,
                    };
                    super::correspondence::write(&mut tx, tenant, a, Side::Staff(s, &to), &letter)
                        .await?;
                    detail = raw.chars().take(200).collect();
                }
                Some(problem) => {
                    let field = match action {
                        CardAction::Stage => "title",
                        CardAction::Request => "request",
                        _ => "body",
                    };
                    let why = match problem {
                        TextProblem::TooLong => format!("Не длиннее {max} символов"),
                        TextProblem::Empty => "Заполните поле".into(),
                    };
                    errors.insert(field.into(), why);
                    detail = String::new();
                }
            }
        }
    }
    if !errors.is_empty() {
        drop(tx);
        return Err(CardError::Fields(errors));
    }
    super::audit(
        &mut *tx,
        slug,
        Some(s.id),
        super::AuditAction::Card(action),
        Some(super::Audited::Application(a.id)),
        &detail,
        ip,
    )
    .await?;
    tx.commit().await?;
    Ok(Acted::Done)
}

/// The part of an action that runs the plugin or reads other rows, before
/// the transaction.
async fn prepare(
    db: &Db,
    plugins: &Plugins,
    tenant: &Tenant,
    s: &Staff,
    assignee: Option<i64>,
    a: &app::Application,
    applicant: &Account,
    action: CardAction,
    form: &BTreeMap<String, String>,
) -> Result<Prepared, CardError> {
    Ok(match action {
        CardAction::Status => {
            let target = text(form, "to").unwrap_or_default();
            let needs_note = tenant.status(&target).is_some_and(|d| d.requires_note);
            if needs_note && text(form, "note").is_none() {
                Prepared::NoteMissing
            } else {
                let view = app::plugin_view(a, applicant, &a.values);
                Prepared::Checked(
                    workflow::check_with_plugin(
                        plugins,
                        tenant,
                        view,
                        &a.status,
                        &target,
                        actor_of(s),
                    )
                    .await,
                )
            }
        }
        CardAction::Number => {
            Prepared::Number(number(db, plugins, tenant, a, applicant, form).await?)
        }
        CardAction::Assign => {
            let who = match form.get("staff").map(String::as_str) {
                Some("me") => Some(s.id),
                Some("") | None => None,
                Some(v) => Some(v.parse::<i64>().map_err(|_| CardError::NotFound)?),
            };
            let mut named = "никому".to_string();
            if let Some(w) = who
                && who != assignee
            {
                let x = super::get_staff(db, &tenant.slug, w)
                    .await?
                    .filter(|x| x.active && (x.tenant_id == tenant.slug || x.id == s.id))
                    .ok_or(CardError::NotFound)?;
                named = format!("{} ({})", x.name, x.email);
            }
            Prepared::Assignee(who, named)
        }
        _ => Prepared::Nothing,
    })
}

/// The number to set from the card's number form, or why not: a typed
/// number, or one drawn from the plugin's (else the host's) sequence.
/// Replacing a number the applicant already has needs the confirmation box.
pub async fn number(
    db: &Db,
    plugins: &Plugins,
    tenant: &Tenant,
    a: &app::Application,
    applicant: &Account,
    form: &BTreeMap<String, String>,
) -> Result<Result<String, String>, CardError> {
    let slug = tenant.slug.as_str();
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
        if app::number_taken(&db.pool, slug, a.id, &n).await? {
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
        let n = match plugins
            .call(slug, Hook::RegistrationNumber(view.clone()))
            .await
        {
            Ok(Some(HookOutput::Number(Some(n)))) => n,
            _ => app::default_number(db, slug).await?,
        };
        if !app::number_taken(&db.pool, slug, a.id, &n).await? {
            return Ok(Ok(n));
        }
    }
    Ok(Err(
        "Не удалось сформировать свободный номер: введите его вручную".into(),
    ))
}
