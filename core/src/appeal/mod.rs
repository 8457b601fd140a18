//! Appeals ("обращения"): an applicant's question to the utility on one of
//! the tenant's topics, with text and at most one file, kept as a draft
//! until sent; staff take it into work and answer, and the applicant is
//! told by email. Every query is scoped by tenant, and on the applicant's
//! side by account.

use crate::document::{FileType, Stored};
use crate::store::{Db, now_ts};
use crate::tenant::Tenant;
use serde::Serialize;

pub const DRAFT: &str = "draft";
pub const ACCEPTED: &str = "accepted";
pub const PROCESSING: &str = "processing";
pub const ANSWERED: &str = "answered";

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Appeal {
    pub id: i64,
    pub account_id: i64,
    pub topic: String,
    pub body: String,
    pub status: String,
    pub file_name: Option<String>,
    pub file_sha256: Option<String>,
    pub file_type: Option<String>,
    pub answer: Option<String>,
    pub answered_at: Option<String>,
    pub created_at: String,
    pub sent_at: Option<String>,
}

impl Appeal {
    pub fn is_draft(&self) -> bool {
        self.status == DRAFT
    }
}

/// The tenant's word for an appeal status.
pub fn status_title(tenant: &Tenant, status: &str) -> String {
    let t = &tenant.config.appeals.titles;
    match status {
        DRAFT => "Черновик".into(),
        ACCEPTED => t.accepted.clone(),
        PROCESSING => t.processing.clone(),
        ANSWERED => t.answered.clone(),
        other => other.into(),
    }
}

const COLUMNS: &str = "id, account_id, topic, body, status, file_name, file_sha256, file_type, answer, \
                       answered_at, created_at, sent_at";

/// Create an appeal draft, or with `only_one` return the draft the account
/// already has: `(id, created)`. Two requests at once make one draft.
pub async fn create_draft(
    db: &Db,
    tenant: &str,
    account: i64,
    topic: &str,
    only_one: bool,
) -> Result<(i64, bool), sqlx::Error> {
    let now = now_ts();
    let mut tx = db.begin().await?;
    if only_one {
        crate::account::lock(&mut tx, tenant, account).await?;
        let open: Option<(i64,)> = sqlx::query_as(
            "SELECT id FROM appeals WHERE tenant_id = $1 AND account_id = $2 AND status = 'draft' \
             ORDER BY id DESC LIMIT 1",
        )
        .bind(tenant)
        .bind(account)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((id,)) = open {
            tx.commit().await?;
            return Ok((id, false));
        }
    }
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO appeals (tenant_id, account_id, topic, body, status, created_at, updated_at) \
         VALUES ($1, $2, $3, '', 'draft', $4, $4) RETURNING id",
    )
    .bind(tenant)
    .bind(account)
    .bind(topic)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((id, true))
}

/// One of the account's appeals; `None` for anyone else's.
pub async fn get_own(
    db: &Db,
    tenant: &str,
    account: i64,
    id: i64,
) -> Result<Option<Appeal>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM appeals WHERE id = $1 AND tenant_id = $2 AND account_id = $3"
    );
    let row: Option<Appeal> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(tenant)
        .bind(account)
        .fetch_optional(&db.pool)
        .await?;
    Ok(row)
}

/// Any sent appeal of the tenant, for staff.
pub async fn get_sent(db: &Db, tenant: &str, id: i64) -> Result<Option<Appeal>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM appeals WHERE id = $1 AND tenant_id = $2 AND status <> 'draft'"
    );
    let row: Option<Appeal> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(tenant)
        .fetch_optional(&db.pool)
        .await?;
    Ok(row)
}

/// The account's appeals, newest first.
pub async fn list_own(db: &Db, tenant: &str, account: i64) -> Result<Vec<Appeal>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM appeals WHERE tenant_id = $1 AND account_id = $2 ORDER BY id DESC LIMIT 500"
    );
    let rows: Vec<Appeal> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tenant)
        .bind(account)
        .fetch_all(&db.pool)
        .await?;
    Ok(rows)
}

/// The tenant's sent appeals in a status (all when `None`), oldest unanswered first.
pub async fn list_sent(
    db: &Db,
    tenant: &str,
    status: Option<&str>,
) -> Result<Vec<Appeal>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM appeals WHERE tenant_id = $1 AND status <> 'draft' AND ($2 = '' OR status = $2) \
         ORDER BY CASE WHEN status = 'answered' THEN 1 ELSE 0 END, sent_at LIMIT 500"
    );
    let rows: Vec<Appeal> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tenant)
        .bind(status.unwrap_or(""))
        .fetch_all(&db.pool)
        .await?;
    Ok(rows)
}

/// Who sent each of `appeals`, by account id: applicant type, profile and
/// email, for the office's list (one query for the page).
pub async fn senders(
    db: &Db,
    tenant: &str,
    appeals: &[Appeal],
) -> Result<
    std::collections::BTreeMap<
        i64,
        (
            String,
            std::collections::BTreeMap<String, String>,
            Option<String>,
        ),
    >,
    sqlx::Error,
> {
    let mut ids: Vec<i64> = appeals.iter().map(|a| a.account_id).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(Default::default());
    }
    // Integers only, so the list is safe to splice in.
    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    let rows: Vec<(i64, String, String, Option<String>)> = sqlx::query_as(sqlx::AssertSqlSafe(
        format!(
            "SELECT id, applicant_type, profile, email FROM accounts WHERE tenant_id = $1 AND id IN ({list})"
        ),
    ))
    .bind(tenant)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, t, profile, email)| {
            (
                id,
                (t, serde_json::from_str(&profile).unwrap_or_default(), email),
            )
        })
        .collect())
}

/// A draft appeal as its form came back.
pub struct Keeping<'a> {
    pub tenant: &'a Tenant,
    pub appeal: &'a Appeal,
    pub topic: String,
    pub body: String,
    /// A new file, uploaded and stored (its claim still held).
    pub file: Option<(&'a str, &'a Stored, FileType)>,
    /// Send after saving ("Отправить"), or only save.
    pub send: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Kept {
    Saved,
    Sent,
    /// Sent from another tab meanwhile: nothing was changed.
    Moved,
}

#[derive(Debug, thiserror::Error)]
pub enum KeepError {
    /// Nothing saved; the errors, and the appeal as typed to show again.
    #[error("the form has errors")]
    Invalid {
        errors: crate::account::FieldErrors,
        shown: Box<Appeal>,
    },
    /// Saved as a draft, but sending needs the text.
    #[error("sending needs the text")]
    NeedsText,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Saves a draft appeal and, when asked, sends it. A refused form keeps
/// nothing, not even the new file; a replaced file goes unless another row
/// names the same bytes.
pub async fn keep(
    db: &Db,
    files: &crate::document::FileStore,
    k: Keeping<'_>,
) -> Result<Kept, KeepError> {
    let Keeping {
        tenant,
        appeal: a,
        topic,
        body,
        file,
        send: sending,
    } = k;
    let slug = tenant.slug.as_str();
    let mut errors = crate::account::FieldErrors::new();
    if !tenant.config.appeals.topics.contains(&topic) {
        errors.insert("topic".into(), "Выберите тему из списка".into());
    }
    if body.chars().count() > 10_000 {
        errors.insert("body".into(), "Не больше 10 000 символов".into());
    }
    if !errors.is_empty() {
        if let Some((_, stored, _)) = file {
            crate::document::forget_upload(db, files, stored).await;
        }
        let shown = Appeal {
            topic,
            body,
            ..a.clone()
        };
        return Err(KeepError::Invalid {
            errors,
            shown: Box::new(shown),
        });
    }
    if !save_draft(db, slug, a, &topic, &body, file).await? {
        // The new file has no row to name it.
        if let Some((_, stored, _)) = file {
            crate::document::forget_upload(db, files, stored).await;
        }
        return Ok(Kept::Moved);
    }
    if let Some((_, stored, _)) = file {
        crate::document::release(db, stored).await;
    }
    if let (Some(_), Some(old)) = (file, &a.file_sha256) {
        crate::document::forget_if_unused(db, files, old).await;
    }
    if !sending {
        return Ok(Kept::Saved);
    }
    if body.is_empty() && tenant.config.appeals.text_required {
        return Err(KeepError::NeedsText);
    }
    let mut tx = db.begin().await?;
    send(&mut tx, slug, a.id).await?;
    tx.commit().await?;
    tracing::info!(appeal = a.id, "appeal sent");
    Ok(Kept::Sent)
}

/// Save a draft's topic and text, and its file when one came.
pub async fn save_draft(
    db: &Db,
    tenant: &str,
    a: &Appeal,
    topic: &str,
    body: &str,
    file: Option<(&str, &Stored, FileType)>,
) -> Result<bool, sqlx::Error> {
    // Without a new file the COALESCEs keep the one already attached.
    let n = sqlx::query(
        "UPDATE appeals SET topic = $1, body = $2, updated_at = $3, file_name = COALESCE($4, file_name), \
         file_sha256 = COALESCE($5, file_sha256), file_size = COALESCE($6, file_size), \
         file_type = COALESCE($7, file_type) WHERE id = $8 AND tenant_id = $9 AND status = 'draft'",
    )
    .bind(topic)
    .bind(body)
    .bind(now_ts())
    .bind(file.map(|(name, _, _)| name))
    .bind(file.map(|(_, stored, _)| stored.sha256.as_str()))
    .bind(file.map(|(_, stored, _)| stored.size as i64))
    .bind(file.map(|(_, _, t)| t.mime()))
    .bind(a.id)
    .bind(tenant)
    .execute(&db.pool)
    .await?;
    Ok(n.rows_affected() > 0)
}

/// Send a draft: it is accepted by the utility.
pub async fn send(
    tx: &mut sqlx::AnyConnection,
    tenant: &str,
    id: i64,
) -> Result<bool, sqlx::Error> {
    let now = now_ts();
    let n = sqlx::query(
        "UPDATE appeals SET status = 'accepted', sent_at = $1, updated_at = $1 WHERE id = $2 AND tenant_id = $3 AND status = 'draft'",
    )
    .bind(&now)
    .bind(id)
    .bind(tenant)
    .execute(&mut *tx)
    .await?;
    Ok(n.rows_affected() > 0)
}

pub async fn delete_draft(
    db: &Db,
    tenant: &str,
    account: i64,
    id: i64,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query("DELETE FROM appeals WHERE id = $1 AND tenant_id = $2 AND account_id = $3 AND status = 'draft'")
        .bind(id)
        .bind(tenant)
        .bind(account)
        .execute(&db.pool)
        .await?;
    Ok(n.rows_affected() > 0)
}

/// Staff take a sent appeal into work.
pub async fn take(
    tx: &mut sqlx::AnyConnection,
    tenant: &str,
    id: i64,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "UPDATE appeals SET status = 'processing', updated_at = $1 WHERE id = $2 AND tenant_id = $3 AND status = 'accepted'",
    )
    .bind(now_ts())
    .bind(id)
    .bind(tenant)
    .execute(&mut *tx)
    .await?;
    Ok(n.rows_affected() > 0)
}

/// Staff answer a sent appeal (again, to correct an answer, if need be).
pub async fn answer(
    tx: &mut sqlx::AnyConnection,
    tenant: &str,
    id: i64,
    staff: i64,
    html: &str,
) -> Result<bool, sqlx::Error> {
    let now = now_ts();
    let n = sqlx::query(
        "UPDATE appeals SET status = 'answered', answer = $1, answered_by = $2, answered_at = $3, updated_at = $3 \
         WHERE id = $4 AND tenant_id = $5 AND status <> 'draft'",
    )
    .bind(html)
    .bind(staff)
    .bind(&now)
    .bind(id)
    .bind(tenant)
    .execute(&mut *tx)
    .await?;
    Ok(n.rows_affected() > 0)
}

/// What staff do with a sent appeal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StaffAction {
    /// Take it into work.
    Take,
    /// Answer it; the applicant is told by email.
    Answer,
}

impl StaffAction {
    pub fn from_id(s: &str) -> Option<StaffAction> {
        match s {
            "take" => Some(StaffAction::Take),
            "answer" => Some(StaffAction::Answer),
            _ => None,
        }
    }

    pub fn id(self) -> &'static str {
        match self {
            StaffAction::Take => "take",
            StaffAction::Answer => "answer",
        }
    }

    /// The audit log's entry for it.
    fn audited(self) -> crate::office::AuditAction {
        match self {
            StaffAction::Take => crate::office::AuditAction::AppealTake,
            StaffAction::Answer => crate::office::AuditAction::AppealAnswer,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Handled {
    Done,
    /// Already in work or answered: nothing changed, nothing to audit.
    Unchanged,
}

#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// The answer's error, beside its field; nothing written.
    #[error("the answer has errors")]
    Invalid(crate::account::FieldErrors),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Notify(#[from] crate::notify::NotifyError),
}

/// Staff take or answer an appeal, with its audit entry; an answer is
/// emailed to the applicant in the same transaction. `link` is the
/// appeal's page in the portal.
pub async fn handle(
    db: &Db,
    tenant: &Tenant,
    staff: i64,
    a: &Appeal,
    action: StaffAction,
    answer_text: &str,
    (link, ip): (&str, &str),
) -> Result<Handled, HandleError> {
    use crate::account::{TextProblem, text_problem};
    let slug = tenant.slug.as_str();
    // Read before the transaction opens: holding it while waiting for a
    // second connection jams the pool under load.
    let applicant = match action {
        StaffAction::Answer => crate::account::get(db, slug, a.account_id).await?,
        StaffAction::Take => None,
    };
    let text = answer_text.trim();
    if action == StaffAction::Answer
        && let Some(p) = text_problem(text, 20_000)
    {
        let why = match p {
            TextProblem::Empty => "Напишите ответ",
            TextProblem::TooLong => "Ответ длиннее 20 000 символов: сократите его",
        };
        return Err(HandleError::Invalid(
            [("answer".to_string(), why.to_string())].into(),
        ));
    }
    let mut tx = db.begin().await?;
    match action {
        StaffAction::Take => {
            if !take(&mut tx, slug, a.id).await? {
                return Ok(Handled::Unchanged);
            }
        }
        StaffAction::Answer => {
            let html = crate::office::rich_text(text);
            answer(&mut tx, slug, a.id, staff, &html).await?;
            if let Some(acc) = &applicant
                && let Some(email) = &acc.email
            {
                crate::notify::email(
                    &mut tx,
                    tenant,
                    email,
                    "appeal_answer",
                    minijinja::context! { topic => &a.topic, answer => crate::office::html_to_text(&html), link => link },
                )
                .await?;
            }
        }
    }
    crate::office::audit(
        &mut *tx,
        slug,
        Some(staff),
        action.audited(),
        Some(crate::office::Audited::Appeal(a.id)),
        "",
        ip,
    )
    .await?;
    tx.commit().await?;
    Ok(Handled::Done)
}
