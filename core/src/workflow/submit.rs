//! Sending an application: a draft into the tenant's first status, or a
//! returned application back on its way. The values are kept whatever
//! comes of it: saved with the sending, or as a draft where it is refused
//! or fails. The plugin's hooks (checks, transition, number) run before the
//! write transaction opens, and that transaction takes the status, the
//! number, the deadline and the notifications at once.

use super::{Actor, Recipient, WorkflowError};
use crate::account::{self, Account, FORM_ERROR, FieldErrors};
use crate::application::{self as app, AppError, Application};
use crate::document::FileStore;
use crate::plugin::Plugins;
use crate::plugin::types::{Hook, HookOutput};
use crate::signing;
use crate::store::{Db, Dialect};
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
    /// The applicant's signature of the application's Word file (base64
    /// CMS), where the tenant asks for one on sending.
    pub signature: Option<&'a str>,
    pub files: &'a FileStore,
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
///
/// Where the tenant's plugin may spend a number of its own sequence, or a
/// signed copy is made from the stored values, the values are saved as a
/// draft first, and that save is also the claim: of several tabs sending
/// the same copy at once, one saves and goes on, the others wait for its
/// outcome. Without either, nothing before the write transaction costs
/// anything, so the sending's own version-checked update is the claim and
/// the sending is one write transaction, not two; the values are still
/// kept whenever the sending is refused.
pub async fn send(db: &Db, plugins: &Plugins, s: Sending<'_>) -> Result<String, SendError> {
    let kept = plugins.get(&s.tenant.slug).is_some()
        || (s.tenant.config.signature)
            .scheme_on_send(s.account.applicant_type.get())
            .is_some();
    // Where nothing is saved first, a failure (the database busy past its
    // timeout, say) still keeps what was typed, as the save first would
    // have; unless the form sent what is stored.
    let fallback = (!kept && s.values != s.application.values)
        .then(|| (s.tenant, s.application.clone(), s.version, s.values.clone()));
    let sent = sending(db, plugins, s, kept).await;
    if let (Err(SendError::App(_) | SendError::Internal(_) | SendError::Workflow(_)), Some(f)) =
        (&sent, fallback)
    {
        let (tenant, a, version, typed) = f;
        // Briefly: the failure may be the database busy, and the answer
        // should not wait twice for it.
        let save = app::save_draft(db, &a, version, app::with_filter_columns(tenant, &typed));
        match tokio::time::timeout(std::time::Duration::from_secs(1), save).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(application = a.id, error = %e, "the failed sending's values were not kept")
            }
            Err(_) => {
                tracing::warn!(
                    application = a.id,
                    "the failed sending's values were not kept in time"
                )
            }
        }
    }
    sent
}

async fn sending(
    db: &Db,
    plugins: &Plugins,
    s: Sending<'_>,
    kept: bool,
) -> Result<String, SendError> {
    let Sending {
        tenant,
        account: acc,
        application: mut a,
        mut values,
        fields,
        slots,
        mut version,
        link,
        signature,
        files,
    } = s;
    if kept {
        version = keep(db, tenant, acc, &a, version, &values).await?;
        a.version = version;
    }
    let mut sent = Sent {
        db,
        tenant,
        acc,
        kept,
        version,
    };
    if !account::missing_profile_fields(tenant, acc).is_empty() {
        sent.keep_once(&a, &values).await?;
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
    // What the form sent is what a refusal keeps; what passed the checks
    // is what is sent.
    let typed = std::mem::replace(&mut values, checked);
    if slots.iter().any(|f| f.required) {
        let attached = crate::document::files_of(db, &tenant.slug, a.id)
            .await
            .map_err(AppError::from)?;
        for f in slots.iter().filter(|f| f.required) {
            let id = f.id();
            if !attached.iter().any(|x| x.slot == id) {
                errors.insert(id.to_string(), "Приложите этот документ".into());
            }
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
            None => {
                return Err(sent
                    .refuse(Why::NotAllowed, errors, values, a, &typed)
                    .await);
            }
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
        return Err(sent
            .refuse(Why::Transition(e), errors, values, a, &typed)
            .await);
    }
    if !errors.is_empty() {
        return Err(sent.refuse(Why::Fields, errors, values, a, &typed).await);
    }
    let a_id = a.id;
    let signed = match signed_copy(db, plugins, files, tenant, acc, a.id, signature).await {
        Ok(s) => s,
        Err(Unsigned::Refused(text)) => {
            errors.insert(FORM_ERROR.into(), text);
            return Err(sent.refuse(Why::Fields, errors, values, a, &typed).await);
        }
        Err(Unsigned::Failed(e)) => return Err(SendError::Internal(e)),
    };
    let due = super::due_on(tenant, &status, tenant.today()).map(|d| d.to_string());
    // The notices of the application as sent with `number`.
    let notices = |number: &str| {
        let sent = Application {
            number: Some(number.to_string()),
            values: values.clone(),
            ..a.clone()
        };
        super::status_messages(
            tenant,
            &sent,
            &status,
            &Recipient::of(acc, &sent, link.clone()),
        )
    };
    if !kept
        && signed.is_none()
        && a.is_draft()
        && a.number.is_none()
        && db.dialect == Dialect::Sqlite
    {
        // The tenant's own sequence, nothing to record first: the whole
        // sending is one command to SQLite, its messages rendered before
        // the number is drawn.
        let messages = notices(app::NUMBER_TO_DRAW)?;
        let submission = app::Submission {
            version: sent.version,
            status: &status,
            number: "",
            due_on: due.as_deref(),
            saved: true,
        };
        let values = app::with_filter_columns(tenant, &values);
        match app::submit_at_once(db, &a, values, submission, &messages).await {
            Ok(number) => {
                tracing::info!(application = a_id, number = %number, "application submitted");
                return Ok(number);
            }
            // Staff typed the number drawn by hand: the general path below
            // skips such numbers.
            Err(AppError::NumberTaken) => {}
            Err(e) => return Err(sent.not_sent(e, a, typed).await),
        }
    }
    // A number staff typed by hand may be the one the sequence gives next:
    // then the next one is taken, never a unique-index error.
    let mut attempts = 0;
    let (mut tx, number) = loop {
        attempts += 1;
        // A returned application keeps the number it was given; asking the
        // plugin again would spend one of its sequence numbers.
        let given = match &a.number {
            Some(n) => Some(n.clone()),
            None => match plugins
                .call(&tenant.slug, Hook::RegistrationNumber(plugin_app.clone()))
                .await
            {
                Ok(Some(HookOutput::Number(Some(n)))) => Some(n),
                Ok(_) => None,
                Err(e) => {
                    let errors = FieldErrors::from([(FORM_ERROR.into(), e.user_message().into())]);
                    return Err(sent.refuse(Why::Fields, errors, values, a, &typed).await);
                }
            },
        };
        let mut tx = db.begin().await.map_err(AppError::from)?;
        // The tenant's own sequence is drawn in the sending's transaction:
        // no write of its own, and no number spent by a sending that fails.
        let number = match given {
            Some(n) => n,
            None => match app::free_number_on(&mut tx, &tenant.slug, a.id).await? {
                Some(n) => n,
                None => {
                    tracing::error!(
                        application = a.id,
                        "no free registration number after 50 draws"
                    );
                    // The draws are kept: the next sending starts past them.
                    tx.commit().await.map_err(AppError::from)?;
                    let errors = FieldErrors::new();
                    return Err(sent.refuse(Why::NoNumber, errors, values, a, &typed).await);
                }
            },
        };
        let submission = app::Submission {
            version: sent.version,
            status: &status,
            number: &number,
            due_on: due.as_deref(),
            saved: !kept,
        };
        // Without a signature to record first, the notifications go in the
        // update's own command.
        let mut then = crate::store::Batch::new();
        if signed.is_none() {
            crate::notify::queue(&mut then, &tenant.slug, &notices(&number)?);
        }
        match app::submit(
            &mut tx,
            &a,
            app::with_filter_columns(tenant, &values),
            submission,
            then,
        )
        .await
        {
            Ok(()) => break (tx, number),
            Err(AppError::NumberTaken) if attempts < 50 => {
                tracing::warn!(application = a.id, number = %number, "registration number already given by hand; taking the next");
            }
            Err(AppError::NumberTaken) => {
                tracing::error!(application = a.id, number = %number, "no free registration number after 50 attempts");
                drop(tx);
                let errors = FieldErrors::new();
                return Err(sent.refuse(Why::NoNumber, errors, values, a, &typed).await);
            }
            Err(e) => {
                // The lock goes before waiting for a twin's outcome.
                drop(tx);
                return Err(sent.not_sent(e, a, typed).await);
            }
        }
    };
    if let Some(c) = &signed {
        record_signature(
            &mut tx,
            tenant,
            acc,
            &a,
            c,
            &Recipient::of(acc, &a, link.clone()),
        )
        .await?;
        crate::notify::enqueue(&mut tx, &tenant.slug, &notices(&number)?)
            .await
            .map_err(WorkflowError::from)?;
    }
    tx.commit().await.map_err(AppError::from)?;
    if let Some(c) = &signed {
        crate::document::release(db, &c.stored).await;
    }
    tracing::info!(application = a_id, number = %number, "application submitted");
    Ok(number)
}

/// Saves the form's values as a draft at `version`: the new version. A
/// save that finds the draft saved since is another tab's; where that tab
/// was sending these very values, this request waits for its outcome.
async fn keep(
    db: &Db,
    tenant: &Tenant,
    acc: &Account,
    a: &Application,
    version: i64,
    values: &BTreeMap<String, String>,
) -> Result<i64, SendError> {
    match app::save_draft(db, a, version, app::with_filter_columns(tenant, values)).await {
        Ok(v) => Ok(v),
        Err(AppError::Stale) => {
            if sent_by_twin(db, tenant, acc, a, values).await? {
                return Err(SendError::SentByTwin);
            }
            Err(refused(
                Why::Stale,
                FieldErrors::new(),
                values.clone(),
                a.clone(),
            ))
        }
        Err(AppError::NotDraft) => Err(SendError::Moved),
        Err(e) => Err(e.into()),
    }
}

/// A sending under way: whether its values are kept yet, and at which
/// version of the draft.
struct Sent<'a> {
    db: &'a Db,
    tenant: &'a Tenant,
    acc: &'a Account,
    kept: bool,
    version: i64,
}

impl Sent<'_> {
    /// The values kept as a draft, if they are not yet.
    async fn keep_once(
        &mut self,
        a: &Application,
        typed: &BTreeMap<String, String>,
    ) -> Result<(), SendError> {
        if !self.kept {
            self.version = keep(self.db, self.tenant, self.acc, a, self.version, typed).await?;
            self.kept = true;
        }
        Ok(())
    }

    /// The answer to a sending that did not take: moved on, sent by a
    /// twin request (where no save came first to tell them apart), stale,
    /// or failed.
    async fn not_sent(
        &self,
        e: AppError,
        a: Application,
        typed: BTreeMap<String, String>,
    ) -> SendError {
        match e {
            AppError::NotDraft => SendError::Moved,
            AppError::Stale if !self.kept => {
                match sent_by_twin(self.db, self.tenant, self.acc, &a, &typed).await {
                    Ok(true) => SendError::SentByTwin,
                    Ok(false) => refused(Why::Stale, FieldErrors::new(), typed, a),
                    Err(e) => e.into(),
                }
            }
            AppError::Stale => refused(Why::Stale, FieldErrors::new(), typed, a),
            e => e.into(),
        }
    }

    /// The refusal, with the form's values kept first.
    async fn refuse(
        &mut self,
        why: Why,
        errors: FieldErrors,
        values: BTreeMap<String, String>,
        a: Application,
        typed: &BTreeMap<String, String>,
    ) -> SendError {
        match self.keep_once(&a, typed).await {
            Ok(()) => refused(
                why,
                errors,
                values,
                Application {
                    version: self.version,
                    ..a
                },
            ),
            Err(e) => e,
        }
    }
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

/// The application's Word file as the applicant signed it, with the
/// engine's verdict, stored and waiting to be recorded with the sending.
struct SignedCopy {
    stored: crate::document::Stored,
    checked: signing::Checked,
    scheme: signing::Scheme,
    name: String,
}

enum Unsigned {
    /// The words for the form.
    Refused(String),
    Failed(anyhow::Error),
}

/// Where the tenant has the application signed when it is sent: the Word
/// file made again from the values just saved (the bytes the page fetched
/// and signed, as the file is byte-stable for the same values), the
/// signature checked over them with the tenant's trust and its signer
/// matched with the profile. None where no signature is asked.
async fn signed_copy(
    db: &Db,
    plugins: &Plugins,
    files: &FileStore,
    tenant: &Tenant,
    acc: &Account,
    id: i64,
    signature: Option<&str>,
) -> Result<Option<SignedCopy>, Unsigned> {
    let Some(scheme) = (tenant.config.signature).scheme_on_send(acc.applicant_type.get()) else {
        return Ok(None);
    };
    let cms = signature.map(str::trim).unwrap_or("");
    if cms.is_empty() {
        return Err(Unsigned::Refused(
            "Заявка отправляется с подписью: нажмите «Подписать и отправить» и выберите в NCALayer ключ для подписи."
                .into(),
        ));
    }
    let failed = |e: String| Unsigned::Failed(anyhow::anyhow!(e));
    let stored_app = app::get_own(db, &tenant.slug, acc.id, id)
        .await
        .map_err(|e| failed(e.to_string()))?
        .ok_or_else(|| failed("the application is gone".into()))?;
    let bytes = app::word::render(
        db,
        plugins,
        tenant,
        acc,
        &stored_app,
        app::word::Which::Application,
    )
    .await
    .map_err(|e| failed(e.to_string()))?;
    let at = time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64;
    let checked = match signing::check_cms(
        tenant,
        &bytes,
        cms.as_bytes(),
        signing::Purpose::Sign,
        at,
    )
    .await
    {
        Ok(c) => c,
        Err(r) if r.code == "content_changed" => {
            return Err(Unsigned::Refused(
                "Заявка изменилась после подписи — подпишите ещё раз.".into(),
            ));
        }
        Err(r) => {
            return Err(Unsigned::Refused(format!(
                "Подпись не принята. {}",
                r.message
            )));
        }
    };
    let id = checked.verdict.signer.clone().unwrap_or_default();
    let bound = signing::applicant_of(tenant, acc)
        .is_some_and(|p| tapline_signature::identity::matches(&id, &p));
    if !bound {
        let whose = std::iter::once(signing::signer_line(&id))
            .chain(
                signing::signer_ids(&id)
                    .into_iter()
                    .map(|(k, v)| format!("{k} {v}")),
            )
            .filter(|x| !x.is_empty())
            .collect::<Vec<_>>()
            .join(", ");
        return Err(Unsigned::Refused(format!(
            "Заявка подписана ключом другого владельца: {whose}. Подпишите ключом первого руководителя или лица с правом подписи организации из профиля."
        )));
    }
    let stored = files
        .put(
            db,
            futures_util::stream::iter([Ok::<_, std::convert::Infallible>(bytes::Bytes::from(
                bytes,
            ))]),
            u64::MAX,
        )
        .await
        .map_err(|e| failed(e.to_string()))?;
    let name = format!(
        "Заявка {}.docx",
        tenant
            .local_time(&stored_app.created_at)
            .replace([':', '/'], "-")
    );
    Ok(Some(SignedCopy {
        stored,
        checked,
        scheme,
        name,
    }))
}

/// The signed copy as a document of the application and the applicant's
/// signature of it, in the sending's transaction.
async fn record_signature(
    tx: &mut sqlx::AnyConnection,
    tenant: &Tenant,
    acc: &Account,
    a: &Application,
    c: &SignedCopy,
    recipient: &Recipient<'_>,
) -> Result<(), SendError> {
    let now = crate::store::now_ts();
    let db_err = |e: sqlx::Error| SendError::App(AppError::from(e));
    // The copy belongs to this entry into the new status, the sending's
    // own history event, as the signing module keeps its step copies.
    let sql = format!(
        "INSERT INTO application_files (tenant_id, application_id, slot, doc_type, file_name, size, sha256, \
         content_type, created_at, signing, signing_entry) VALUES ($1, $2, $3, NULL, $4, $5, $6, $7, $8, $9, \
         ({})) ON CONFLICT DO NOTHING RETURNING id, signing_entry",
        signing::entry_sql("$2")
    );
    let inserted: Option<(i64, Option<i64>)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(&tenant.slug)
        .bind(a.id)
        .bind(signing::APPLICATION_SLOT)
        .bind(&c.name)
        .bind(c.stored.size as i64)
        .bind(&c.stored.sha256)
        .bind(crate::document::FileType::Docx.mime())
        .bind(&now)
        .bind(signing::Asked::Applicant.id())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
    let (file, entry) = match inserted {
        Some(row) => row,
        None => {
            let row: (i64, Option<i64>) = sqlx::query_as(
                "SELECT id, signing_entry FROM application_files WHERE tenant_id = $1 \
                 AND application_id = $2 AND slot = $3 AND sha256 = $4 ORDER BY id DESC",
            )
            .bind(&tenant.slug)
            .bind(a.id)
            .bind(signing::APPLICATION_SLOT)
            .bind(&c.stored.sha256)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
            row
        }
    };
    let doc = signing::Document {
        id: file,
        application_id: a.id,
        slot: signing::APPLICATION_SLOT.into(),
        file_name: c.name.clone(),
        size: c.stored.size as i64,
        sha256: c.stored.sha256.clone(),
        content_type: crate::document::FileType::Docx.mime().into(),
        asked: Some(signing::Asked::Applicant),
        created_at: now,
        entry,
        doc_type: None,
    };
    let id = c.checked.verdict.signer.clone().unwrap_or_default();
    let record = signing::NewSignature {
        doc: &doc,
        side: signing::Side::Applicant,
        scheme: c.scheme.id(),
        signer: signing::Signer::Applicant(acc),
        name: signing::signer_line(&id),
        ids: signing::signer_ids(&id),
        serial: c.checked.verdict.serial.clone(),
        issuer: c.checked.verdict.issuer.clone(),
        cms: Some(signing::base64_of(&c.checked.der)),
        verdict: c.checked.verdict_json.clone(),
        evidence: Some(c.checked.evidence_json.clone()),
        valid: true,
        reason: None,
    };
    match signing::record_in(tx, tenant, a, &record, recipient).await {
        // A twin request sending the same signed bytes recorded it first.
        Ok(_) | Err(signing::SignError::AlreadySigned) => Ok(()),
        Err(signing::SignError::Db(e)) => Err(db_err(e)),
        Err(e) => Err(SendError::Internal(anyhow::anyhow!(e.to_string()))),
    }
}
