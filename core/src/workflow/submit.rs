//! Sending an application: a draft into the tenant's first status, or a
//! returned application back on its way. The values are kept as a draft
//! first, whatever comes next; the plugin's hooks (checks, transition,
//! number) run before the write transaction opens, and that transaction
//! takes the status, the number, the deadline and the notifications at
//! once.

use super::{Actor, Recipient, WorkflowError};
use crate::account::{self, Account, FORM_ERROR, FieldErrors};
use crate::application::{self as app, AppError, Application};
use crate::plugin::Plugins;
use crate::plugin::types::{Hook, HookOutput};
use crate::store::Db;
use crate::tenant::Tenant;
use crate::tenant::config::{FieldDef, Role};
use std::collections::BTreeMap;

/// One submission as the form gave it.
pub struct Sending<'a> {
    pub tenant: &'a Tenant,
    pub account: &'a Account,
    /// The application as the applicant's page loaded it.
    pub application: Application,
    /// The form's values of the application's fields (files excepted),
    /// trimmed and checked for length.
    pub values: BTreeMap<String, String>,
    /// The fields behind `values`, and the file slots of the form.
    pub fields: Vec<&'a FieldDef>,
    pub slots: Vec<&'a FieldDef>,
    /// The draft version the form was loaded at.
    pub version: i64,
    /// The application's address in the portal, for the notifications.
    pub link: String,
}

/// Why a submission was refused with the form shown again.
#[derive(Debug)]
pub enum Why {
    /// The errors beside fields (and the form's own) say it all.
    Fields,
    /// The workflow offers the applicant no step onwards.
    NotAllowed,
    /// The plugin refused the transition.
    Transition(WorkflowError),
    /// Another tab saved this draft since the form was loaded.
    Stale,
    /// No free registration number could be drawn.
    NoNumber,
}

/// The form comes back with these values, at this version of the draft,
/// with the errors found beside their fields (and the form's own, under
/// [`FORM_ERROR`]); `why` adds the form's message where it is not `Fields`.
#[derive(Debug)]
pub struct Refused {
    pub why: Why,
    pub errors: FieldErrors,
    pub values: BTreeMap<String, String>,
    pub application: Application,
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("submission refused")]
    Refused(Box<Refused>),
    /// The profile lacks fields the tenant requires; the values are kept.
    #[error("profile incomplete")]
    ProfileIncomplete,
    /// Another request sending these very values (a second tab, a double
    /// click) sent the application first.
    #[error("sent by another request")]
    SentByTwin,
    /// The application is no longer what the form was loaded from.
    #[error("application moved on")]
    Moved,
    #[error(transparent)]
    App(#[from] AppError),
    #[error(transparent)]
    Workflow(#[from] WorkflowError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

fn refused(
    why: Why,
    errors: FieldErrors,
    values: BTreeMap<String, String>,
    application: Application,
) -> SendError {
    SendError::Refused(Box::new(Refused {
        why,
        errors,
        values,
        application,
    }))
}

/// Sends the application; the registration number it was given.
pub async fn send(db: &Db, plugins: &Plugins, s: Sending<'_>) -> Result<String, SendError> {
    let Sending {
        tenant,
        account: acc,
        application: a,
        mut values,
        fields,
        slots,
        version,
        link,
    } = s;
    // The save is also the claim: of several tabs sending the same copy at
    // once, one saves and goes on; the others wait for its outcome.
    let version =
        match app::save_draft(db, &a, version, app::with_filter_columns(tenant, &values)).await {
            Ok(v) => v,
            Err(AppError::Stale) => {
                if sent_by_twin(db, tenant, acc, &a, &values).await? {
                    return Err(SendError::SentByTwin);
                }
                return Err(refused(Why::Stale, FieldErrors::new(), values, a));
            }
            Err(AppError::NotDraft) => return Err(SendError::Moved),
            Err(e) => return Err(e.into()),
        };
    let a = Application { version, ..a };
    if !account::missing_profile_fields(tenant, acc).is_empty() {
        return Err(SendError::ProfileIncomplete);
    }
    let mut errors = FieldErrors::new();
    let mut checked = BTreeMap::new();
    account::check_fields(
        tenant,
        fields.iter().copied(),
        &values,
        &mut checked,
        &mut errors,
    );
    values = checked;
    let attached = crate::document::files_of(db, &tenant.slug, a.id)
        .await
        .map_err(AppError::from)?;
    for f in slots.iter().filter(|f| f.required) {
        let id = f.id.get_ref().as_str();
        if !attached.iter().any(|x| x.slot == id) {
            errors.insert(id.to_string(), "Приложите этот документ".into());
        }
    }
    let plugin_app = app::plugin_view(&a, acc, &values);
    if errors.is_empty() {
        match plugins
            .call(&tenant.slug, Hook::ValidateApplication(plugin_app.clone()))
            .await
        {
            Ok(Some(HookOutput::Errors(found))) => account::add_plugin_errors(&mut errors, found),
            Ok(_) => {}
            Err(e) => {
                errors.insert(FORM_ERROR.into(), e.user_message().into());
            }
        }
    }
    // A draft goes to the tenant's first status; a returned application to
    // where the workflow lets the applicant send it back.
    let status = if a.is_draft() {
        super::first_status(tenant, acc.applicant_type.get()).to_string()
    } else {
        // The step that sends it on, not one that ends it (a withdrawal).
        let wf = &tenant.config.workflow;
        match super::next_steps(wf, &a.kind, &a.status, Role::Applicant)
            .into_iter()
            .find(|step| !super::is_final(wf, &step.to))
        {
            Some(step) => step.to.clone(),
            None => return Err(refused(Why::NotAllowed, errors, values, a)),
        }
    };
    if errors.is_empty()
        && let Err(e) = super::check_with_plugin(
            plugins,
            tenant,
            plugin_app.clone(),
            &a.status,
            &status,
            Actor::Applicant(acc.id),
        )
        .await
    {
        return Err(refused(Why::Transition(e), errors, values, a));
    }
    if !errors.is_empty() {
        return Err(refused(Why::Fields, errors, values, a));
    }
    let due = super::due_on(tenant, &status, tenant.today()).map(|d| d.to_string());
    // A number staff typed by hand may be the one the sequence gives next:
    // then the next one is taken, never a unique-index error.
    let mut attempts = 0;
    let (mut tx, number) = loop {
        attempts += 1;
        // A returned application keeps the number it was given; asking the
        // plugin again would spend one of its sequence numbers.
        let number = match &a.number {
            Some(n) => n.clone(),
            None => match plugins
                .call(&tenant.slug, Hook::RegistrationNumber(plugin_app.clone()))
                .await
            {
                Ok(Some(HookOutput::Number(Some(n)))) => n,
                Ok(_) => app::default_number(db, &tenant.slug).await?,
                Err(e) => {
                    let mut errors = FieldErrors::new();
                    errors.insert(FORM_ERROR.into(), e.user_message().into());
                    return Err(refused(Why::Fields, errors, values, a));
                }
            },
        };
        let mut tx = db.pool.begin().await.map_err(AppError::from)?;
        let submission = app::Submission {
            version,
            status: &status,
            number: &number,
            due_on: due.as_deref(),
        };
        match app::submit(
            &mut tx,
            &a,
            app::with_filter_columns(tenant, &values),
            submission,
        )
        .await
        {
            Ok(()) => break (tx, number),
            Err(AppError::NumberTaken) if attempts < 50 => {
                tracing::warn!(application = a.id, number = %number, "registration number already given by hand; taking the next");
            }
            Err(AppError::NumberTaken) => {
                tracing::error!(application = a.id, number = %number, "no free registration number after 50 attempts");
                return Err(refused(Why::NoNumber, FieldErrors::new(), values, a));
            }
            Err(AppError::NotDraft) => return Err(SendError::Moved),
            Err(AppError::Stale) => return Err(refused(Why::Stale, FieldErrors::new(), values, a)),
            Err(e) => return Err(e.into()),
        }
    };
    let submitted = Application {
        number: Some(number.clone()),
        values,
        ..a
    };
    super::notify_status(
        &mut tx,
        tenant,
        &submitted,
        &status,
        &Recipient::of(acc, &submitted, link),
    )
    .await?;
    tx.commit().await.map_err(AppError::from)?;
    tracing::info!(application = submitted.id, number = %number, "application submitted");
    Ok(number)
}

/// Whether another request sending these very values (a second tab, a
/// double click) saved the draft first and has sent it by now. Waits a
/// little for it, reading with no transaction open.
async fn sent_by_twin(
    db: &Db,
    tenant: &Tenant,
    acc: &Account,
    a: &Application,
    values: &BTreeMap<String, String>,
) -> Result<bool, AppError> {
    for _ in 0..100 {
        let Some(now) = app::get_own(db, &tenant.slug, acc.id, a.id).await? else {
            return Ok(false);
        };
        if now.status != a.status {
            return Ok(now.submitted_at.is_some());
        }
        if &now.values != values {
            return Ok(false);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Ok(false)
}
