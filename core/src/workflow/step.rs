//! An applicant's status step outside the form: a withdrawal or another
//! step the tenant's workflow offers on the application's page. A step
//! that may end the application is confirmed on a page of its own first.

use super::{Actor, Recipient, Step, WorkflowError};
use crate::account::Account;
use crate::application::{self as app, Application};
use crate::plugin::Plugins;
use crate::store::Db;
use crate::tenant::Tenant;
use crate::tenant::config::Role;

/// One step as the page asked for it.
pub struct Stepping<'a> {
    pub tenant: &'a Tenant,
    pub account: &'a Account,
    pub application: &'a Application,
    /// The status asked for.
    pub to: &'a str,
    /// Whether the applicant confirmed it on the confirmation page.
    pub confirmed: bool,
    /// What the applicant wrote with it.
    pub note: Option<&'a str>,
    /// Where the notifications go.
    pub recipient: Recipient<'a>,
}

#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// Not a step the workflow offers the applicant here (a draft or a
    /// returned application is sent with its form, whose checks a bare
    /// status change would skip).
    #[error("not allowed")]
    NotAllowed,
    /// Someone changed the application meanwhile.
    #[error("changed meanwhile")]
    Changed,
    /// The tenant's plugin refused the step.
    #[error("refused: {0}")]
    Refused(WorkflowError),
    /// Asked, not yet confirmed: the page asks about this step.
    #[error("needs confirmation")]
    Confirm(Step),
    #[error(transparent)]
    Workflow(WorkflowError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Takes the step; the plugin is asked before the transaction opens.
pub async fn take(db: &Db, plugins: &Plugins, s: Stepping<'_>) -> Result<(), StepError> {
    let Stepping {
        tenant,
        account,
        application: a,
        to,
        confirmed,
        note,
        recipient,
    } = s;
    let wf = &tenant.config.workflow;
    if super::editable(tenant, a) || !super::may(wf, &a.kind, &a.status, to, Role::Applicant) {
        return Err(StepError::NotAllowed);
    }
    let actor = Actor::Applicant(account.id);
    let view = app::plugin_view(a, account, &a.values);
    if let Err(e) = super::check_with_plugin(plugins, tenant, view, &a.status, to, actor).await {
        tracing::info!(application = a.id, to, error = %e, "status change refused");
        return Err(StepError::Refused(e));
    }
    // A step may end the application for good (withdrawal): it is asked
    // first, on a page of its own, so it works without scripts too.
    if !confirmed {
        return match super::next_steps(wf, &a.kind, &a.status, Role::Applicant)
            .into_iter()
            .find(|s| s.to == to)
        {
            Some(step) => Err(StepError::Confirm(step)),
            None => Err(StepError::NotAllowed),
        };
    }
    let mut tx = db.begin().await?;
    match super::change(&mut tx, tenant, a, to, actor, note, &recipient).await {
        Ok(()) => {}
        Err(WorkflowError::NotAllowed) => return Err(StepError::NotAllowed),
        Err(WorkflowError::Changed) => return Err(StepError::Changed),
        Err(e) => return Err(StepError::Workflow(e)),
    }
    tx.commit().await?;
    Ok(())
}
