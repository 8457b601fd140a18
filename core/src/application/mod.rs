//! Applications: drafts an applicant fills over several visits, submission
//! (once, whatever the number of clicks), and the append-only history.
//! Every query is scoped by tenant and, on the applicant side, by account:
//! an id from another account or tenant finds nothing.

pub mod word;

use crate::store::{Author, Db, now_ts};
use serde::Serialize;
use std::collections::BTreeMap;

pub const DRAFT: &str = "draft";

#[derive(Debug, Clone, Serialize)]
pub struct Application {
    pub id: i64,
    pub tenant_id: String,
    pub account_id: i64,
    pub kind: String,
    pub status: String,
    pub number: Option<String>,
    pub city: Option<String>,
    pub values: BTreeMap<String, String>,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
    pub submitted_at: Option<String>,
    /// The date the utility must act by in the current status.
    pub due_on: Option<String>,
    pub supply_type: Option<String>,
    /// A status in the staff's own words, shown instead of the vocabulary's
    /// title until the next status change (seed 003).
    pub custom_status: Option<String>,
}

/// Values as the form saves them, with the supply type (copied out of the
/// tenant's supply field so that lists can filter on it).
pub struct Values<'a> {
    pub values: &'a BTreeMap<String, String>,
    pub supply: Option<&'a str>,
    /// The city picked in the form, where the form has such a field; the
    /// city picked before the form stays otherwise.
    pub city: Option<&'a str>,
}

/// What a submission sets besides the values.
pub struct Submission<'a> {
    pub version: i64,
    pub status: &'a str,
    pub number: &'a str,
    pub due_on: Option<&'a str>,
    /// The sending also keeps the values (no save of the draft came
    /// first): its history has the save before the sending, as if there
    /// had been one.
    pub saved: bool,
}

impl Application {
    pub fn is_draft(&self) -> bool {
        self.status == DRAFT
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub kind: String,
    pub status: Option<String>,
    pub actor: Author,
    /// What the author wrote with the change (a reason, a comment).
    pub note: Option<String>,
    pub created_at: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// Someone saved the draft since this copy was loaded (another tab).
    #[error("the draft changed since it was opened")]
    Stale,
    /// The application is no longer a draft.
    #[error("the application is not a draft")]
    NotDraft,
    /// The account has as many drafts as it may keep.
    #[error("the account already has {0} drafts")]
    TooManyDrafts(u32),
    /// The registration number is already another application's (typed by
    /// staff, say): the caller takes the next one.
    #[error("the registration number is taken")]
    NumberTaken,
    /// The tenant does not offer this kind to this applicant type.
    #[error("this kind is not for this applicant")]
    NotAllowed,
}

/// An application as a list shows it: its values are not decoded, only
/// the object's address is read from them.
#[derive(sqlx::FromRow)]
pub struct Listed {
    pub id: i64,
    pub kind: String,
    pub status: String,
    pub number: Option<String>,
    pub city: Option<String>,
    #[sqlx(rename = "field_values", try_from = "String")]
    pub address: ObjectAddress,
    pub created_at: String,
    pub updated_at: String,
    pub submitted_at: Option<String>,
    pub supply_type: Option<String>,
    pub custom_status: Option<String>,
    /// How many rows the query found in all.
    total: i64,
}

/// The object's address in a form's stored values, read without building
/// the whole form (the other fields are skipped, not decoded); empty when
/// the values do not read.
#[derive(Debug, Default, Clone)]
pub struct ObjectAddress(pub String);

impl From<String> for ObjectAddress {
    fn from(values: String) -> ObjectAddress {
        ObjectAddress(object_address(&values))
    }
}

/// See [`ObjectAddress`].
pub fn object_address(values: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Address {
        object_address: Option<String>,
    }
    serde_json::from_str::<Address>(values)
        .ok()
        .and_then(|a| a.object_address)
        .unwrap_or_default()
}

/// An `applications` row as [`COLUMNS`] (or [`COLUMNS_A`]) selects it.
#[derive(sqlx::FromRow)]
pub(crate) struct Row {
    id: i64,
    tenant_id: String,
    account_id: i64,
    kind: String,
    status: String,
    number: Option<String>,
    city: Option<String>,
    field_values: String,
    version: i64,
    created_at: String,
    updated_at: String,
    submitted_at: Option<String>,
    due_on: Option<String>,
    supply_type: Option<String>,
    custom_status: Option<String>,
}

const COLUMNS: &str = "id, tenant_id, account_id, kind, status, number, city, field_values, version, \
                       created_at, updated_at, submitted_at, due_on, supply_type, custom_status";

/// The same columns prefixed by the alias `a`, for joins: a join's own
/// columns must not take these names (rows are read by column name).
pub const COLUMNS_A: &str = "a.id, a.tenant_id, a.account_id, a.kind, a.status, a.number, a.city, a.field_values, \
                             a.version, a.created_at, a.updated_at, a.submitted_at, a.due_on, a.supply_type, \
                             a.custom_status";

/// Any application of the tenant, for staff.
pub async fn get_in_tenant(
    db: &Db,
    tenant: &str,
    id: i64,
) -> Result<Option<Application>, AppError> {
    let sql = format!("SELECT {COLUMNS} FROM applications WHERE id = $1 AND tenant_id = $2");
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(tenant)
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.map(Application::from))
}

impl From<Row> for Application {
    fn from(r: Row) -> Application {
        Application {
            id: r.id,
            tenant_id: r.tenant_id,
            account_id: r.account_id,
            kind: r.kind,
            status: r.status,
            number: r.number,
            city: r.city,
            values: serde_json::from_str(&r.field_values).unwrap_or_default(),
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
            submitted_at: r.submitted_at,
            due_on: r.due_on,
            supply_type: r.supply_type,
            custom_status: r.custom_status,
        }
    }
}

/// What an entry of an application's history records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Created,
    Saved,
    Submitted,
    /// Sent again after rework.
    Resubmitted,
    Status,
    /// Staff's own words for the status.
    CustomStatus,
    Number,
    Assigned,
    Message,
    /// A request for documents or information.
    Request,
    Stage,
    Document,
    /// The applicant's answer, a message or a document.
    Answer,
    /// A document signed, by either side.
    Signed,
    /// Staff asked for signatures on a document.
    SigningAsked,
}

impl EventKind {
    /// The name stored in `application_events.kind`.
    pub fn id(self) -> &'static str {
        match self {
            EventKind::Created => "created",
            EventKind::Saved => "saved",
            EventKind::Submitted => "submitted",
            EventKind::Resubmitted => "resubmitted",
            EventKind::Status => "status",
            EventKind::CustomStatus => "custom_status",
            EventKind::Number => "number",
            EventKind::Assigned => "assigned",
            EventKind::Message => "message",
            EventKind::Request => "request",
            EventKind::Stage => "stage",
            EventKind::Document => "document",
            EventKind::Answer => "answer",
            EventKind::Signed => "signed",
            EventKind::SigningAsked => "signing_asked",
        }
    }

    /// A stored name read back; None for a name this version does not
    /// know (shown as stored).
    pub fn from_id(s: &str) -> Option<EventKind> {
        const ALL: [EventKind; 15] = [
            EventKind::Created,
            EventKind::Saved,
            EventKind::Submitted,
            EventKind::Resubmitted,
            EventKind::Status,
            EventKind::CustomStatus,
            EventKind::Number,
            EventKind::Assigned,
            EventKind::Message,
            EventKind::Request,
            EventKind::Stage,
            EventKind::Document,
            EventKind::Answer,
            EventKind::Signed,
            EventKind::SigningAsked,
        ];
        ALL.into_iter().find(|k| k.id() == s)
    }
}

/// Several events of one application by one author, in this order, in one
/// statement (one round trip while the write lock is held), each with
/// `note` where one is given.
pub async fn events(
    tx: &mut sqlx::AnyConnection,
    tenant: &str,
    app: i64,
    rows: &[(EventKind, Option<&str>)],
    actor: Author,
    note: Option<&str>,
) -> Result<(), sqlx::Error> {
    let mut b = crate::store::Batch::new();
    push_events(&mut b, tenant, app, rows, actor, note, None);
    b.run(tx).await?;
    Ok(())
}

/// [`events`] as a statement of `batch`; inserted only `when` holds,
/// where that is given.
fn push_events(
    batch: &mut crate::store::Batch,
    tenant: &str,
    app: i64,
    rows: &[(EventKind, Option<&str>)],
    actor: Author,
    note: Option<&str>,
    when: Option<Condition<'_>>,
) {
    use std::fmt::Write;
    let data = match note {
        Some(n) => serde_json::json!({ "note": n }).to_string(),
        None => "{}".into(),
    };
    let mut sql = String::from(
        "INSERT INTO application_events (tenant_id, application_id, kind, status, actor, data, created_at) VALUES ",
    );
    let mut params = vec![
        tenant.into(),
        app.into(),
        actor.to_string().into(),
        data.into(),
        now_ts().into(),
    ];
    for (i, (kind, status)) in rows.iter().enumerate() {
        let k = 6 + 2 * i;
        let sep = if i == 0 { "" } else { ", " };
        let _ = write!(sql, "{sep}($1, $2, ${k}, ${}, $3, $4, $5)", k + 1);
        params.extend([kind.id().into(), (*status).into()]);
    }
    if let Some(when) = when {
        let (cond, more) = when(params.len() + 1);
        sql = sql.replacen(" VALUES ", " SELECT * FROM (VALUES ", 1);
        sql.push_str(") AS v WHERE ");
        sql.push_str(&cond);
        params.extend(more);
    }
    batch.push(sql, params);
}

pub async fn event(
    tx: &mut sqlx::AnyConnection,
    tenant: &str,
    app: i64,
    kind: EventKind,
    status: Option<&str>,
    actor: Author,
    note: Option<&str>,
) -> Result<(), sqlx::Error> {
    events(tx, tenant, app, &[(kind, status)], actor, note).await
}

/// Create a draft, or with `only_one` (a kind of one draft at a time)
/// return the draft of that kind the account already has: `(id, created)`.
/// The account's row is locked first (on SQLite the transaction's write
/// lock does it), so two requests at once cannot both find no draft and
/// both create one, nor both pass `max_drafts`.
pub async fn create_draft(
    db: &Db,
    tenant: &str,
    account: i64,
    kind: &str,
    city: Option<&str>,
    v: Values<'_>,
    (only_one, max_drafts): (bool, u32),
) -> Result<(i64, bool), AppError> {
    let now = now_ts();
    // The count of drafts and the insert are one statement: no row
    // inserted is the limit reached.
    const INSERT: &str = "INSERT INTO applications (tenant_id, account_id, kind, status, city, field_values, version, created_at, updated_at, supply_type) \
         SELECT $1, $2, $3, 'draft', $4, $5, 1, $6, $6, $7 \
         WHERE (SELECT COUNT(*) FROM applications WHERE tenant_id = $1 AND account_id = $2 AND status = 'draft') < $8 \
         RETURNING id";
    let values = serde_json::to_string(v.values).unwrap_or_else(|_| "{}".into());
    if db.dialect == crate::store::Dialect::Sqlite && !only_one {
        // One command, the write lock held only while SQLite runs it: the
        // limit's count, the draft and its first event. (The transaction's
        // write lock stands for the account's.)
        let mut b = crate::store::Batch::new();
        b.push(
            INSERT,
            vec![
                tenant.into(),
                account.into(),
                kind.into(),
                city.into(),
                values.into(),
                (&now).into(),
                v.supply.into(),
                i64::from(max_drafts).into(),
            ],
        );
        b.push(
            "INSERT INTO application_events (tenant_id, application_id, kind, status, actor, data, created_at) \
             SELECT $1, last_insert_rowid(), $2, $3, $4, '{}', $5 WHERE changes() = 1",
            vec![
                tenant.into(),
                EventKind::Created.id().into(),
                DRAFT.into(),
                Author::Applicant.to_string().into(),
                now.into(),
            ],
        );
        let done = db.write_once(b).await?;
        return match done.rows.first() {
            Some(row) => Ok((sqlx::Row::try_get::<i64, _>(row, 0)?, true)),
            None => Err(AppError::TooManyDrafts(max_drafts)),
        };
    }
    let mut tx = db.begin().await?;
    crate::account::lock(&mut tx, tenant, account).await?;
    if only_one {
        let open: Option<(i64,)> = sqlx::query_as(
            "SELECT id FROM applications WHERE tenant_id = $1 AND account_id = $2 AND kind = $3 \
             AND status = 'draft' ORDER BY updated_at DESC, id DESC LIMIT 1",
        )
        .bind(tenant)
        .bind(account)
        .bind(kind)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((id,)) = open {
            tx.commit().await?;
            return Ok((id, false));
        }
    }
    let inserted: Option<(i64,)> = sqlx::query_as(INSERT)
        .bind(tenant)
        .bind(account)
        .bind(kind)
        .bind(city)
        .bind(values)
        .bind(&now)
        .bind(v.supply)
        .bind(i64::from(max_drafts))
        .fetch_optional(&mut *tx)
        .await?;
    let Some((id,)) = inserted else {
        return Err(AppError::TooManyDrafts(max_drafts));
    };
    event(
        &mut tx,
        tenant,
        id,
        EventKind::Created,
        Some(DRAFT),
        Author::Applicant,
        None,
    )
    .await?;
    tx.commit().await?;
    Ok((id, true))
}

/// One of the account's applications; `None` for anyone else's.
pub async fn get_own(
    db: &Db,
    tenant: &str,
    account: i64,
    id: i64,
) -> Result<Option<Application>, AppError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM applications WHERE id = $1 AND tenant_id = $2 AND account_id = $3"
    );
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(tenant)
        .bind(account)
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.map(Application::from))
}

/// What "my applications" can be narrowed by.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub kind: Option<String>,
    pub status: Option<String>,
    /// Created on or after this date (YYYY-MM-DD).
    pub from: Option<String>,
    /// Created on or before this date (YYYY-MM-DD).
    pub to: Option<String>,
    pub supply_type: Option<String>,
    /// Page size and 0-based page.
    pub limit: i64,
    pub page: i64,
}

/// One page of the account's applications under `f`, and how many match.
pub async fn list_filtered(
    db: &Db,
    tenant: &str,
    account: i64,
    f: &Filter,
    clock: time::UtcOffset,
) -> Result<(Vec<Listed>, i64), AppError> {
    // Conditions are fixed text; only their values are bound.
    let mut cond = String::from("tenant_id = $1 AND account_id = $2");
    let mut binds: Vec<String> = Vec::new();
    // `sql` has `?` where the value's placeholder goes.
    let mut add = |sql: &str, v: String| {
        binds.push(v);
        cond.push_str(" AND ");
        cond.push_str(&sql.replace('?', &format!("${}", binds.len() + 2)));
    };
    if let Some(k) = &f.kind {
        add("kind = ?", k.clone());
    }
    if let Some(s) = &f.status {
        add("status = ?", s.clone());
    }
    if let Some(s) = &f.supply_type {
        // A field may name several supplies ("Холодное водоснабжение, Водоотведение").
        let escaped = s
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        add("supply_type LIKE ? ESCAPE '\\'", format!("%{escaped}%"));
    }
    // Days on the tenant's clock, not UTC days.
    let day = |d: &Option<String>| crate::store::day_bounds(d.as_deref()?, clock);
    if let Some((start, _)) = day(&f.from) {
        add("created_at >= ?", start);
    }
    if let Some((_, end)) = day(&f.to) {
        add("created_at < ?", end);
    }
    let limit = if f.limit <= 0 { 200 } else { f.limit.min(200) };
    let offset = f.page.clamp(0, 100_000) * limit;
    // The page and how many match in one statement: a list is a signed-in
    // page's second statement, after the session's. The count is a
    // subquery the database runs once (a window's count would read every
    // matching row past the page); both take the same numbered values.
    // Unfiltered, it is the account's own count, which triggers keep
    // (migration 0015): counting read the account's whole index.
    let count = if binds.is_empty() {
        "SELECT applications_count FROM accounts WHERE id = $2 AND tenant_id = $1".to_string()
    } else {
        format!("SELECT COUNT(*) FROM applications WHERE {cond}")
    };
    let sql = format!(
        "SELECT id, kind, status, number, city, field_values, created_at, updated_at, submitted_at, \
         supply_type, custom_status, ({count}) AS total \
         FROM applications WHERE {cond} ORDER BY updated_at DESC, id DESC LIMIT {limit} OFFSET {offset}"
    );
    let mut q = sqlx::query_as::<_, Listed>(sqlx::AssertSqlSafe(sql))
        .bind(tenant)
        .bind(account);
    for b in &binds {
        q = q.bind(b);
    }
    let rows = q.fetch_all(&db.pool).await?;
    let total = match rows.first() {
        Some(r) => r.total,
        // A page past the end counts apart.
        None if offset > 0 => {
            let mut q = sqlx::query_as::<_, (i64,)>(sqlx::AssertSqlSafe(count))
                .bind(tenant)
                .bind(account);
            for b in &binds {
                q = q.bind(b);
            }
            q.fetch_one(&db.pool).await?.0
        }
        None => 0,
    };
    Ok((rows, total))
}

/// The account's drafts of one kind, newest first.
pub async fn drafts_of_kind(
    db: &Db,
    tenant: &str,
    account: i64,
    kind: &str,
) -> Result<Vec<Listed>, AppError> {
    let f = Filter {
        kind: Some(kind.into()),
        status: Some(DRAFT.into()),
        ..Filter::default()
    };
    Ok(list_filtered(db, tenant, account, &f, time::UtcOffset::UTC)
        .await?
        .0)
}
/// Save a draft's values (or those of an application returned to the
/// applicant, in the status it was read in) if nobody saved it since
/// `version`; returns the new version.
pub async fn save_draft(
    db: &Db,
    app: &Application,
    version: i64,
    v: Values<'_>,
) -> Result<i64, AppError> {
    let mut tx = db.begin().await?;
    let done = sqlx::query(
        "UPDATE applications SET field_values = $1, version = version + 1, updated_at = $2, supply_type = $7, \
         city = COALESCE($9, city) \
         WHERE id = $3 AND tenant_id = $4 AND account_id = $5 AND status = $8 AND version = $6",
    )
    .bind(serde_json::to_string(v.values).unwrap_or_else(|_| "{}".into()))
    .bind(now_ts())
    .bind(app.id)
    .bind(&app.tenant_id)
    .bind(app.account_id)
    .bind(version)
    .bind(v.supply)
    .bind(&app.status)
    .bind(v.city)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if done == 0 {
        return Err(stale_or_not_draft(&mut tx, app).await);
    }
    event(
        &mut tx,
        &app.tenant_id,
        app.id,
        EventKind::Saved,
        Some(&app.status),
        Author::Applicant,
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(version + 1)
}

/// What the tenant's rules say of a draft as it stands, for a save or an
/// autosave: `validate-application` runs there as on submission (the SDK
/// promises it "before it is saved or submitted"). Only errors about fields
/// the applicant has filled in and about the whole application are kept: a
/// field still empty is not wrong yet, and the submission, which checks
/// every field and blocks on any error, says so then. The draft is saved
/// whatever this finds; a failing plugin is logged by the host and reported
/// on submission, so here it finds nothing.
pub async fn draft_problems(
    plugins: &crate::plugin::Plugins,
    tenant: &crate::tenant::Tenant,
    mut view: crate::plugin::types::Application,
) -> crate::account::FieldErrors {
    use crate::plugin::types::{Hook, HookOutput};
    use crate::tenant::config::FieldKind;
    // The plugin sees a checkbox as on submission, `yes` or empty, not as
    // the browser sent it.
    for f in tenant
        .config
        .application_fields
        .iter()
        .filter(|f| f.kind == FieldKind::Checkbox)
    {
        if let Some(v) = view.values.get_mut(f.id()) {
            *v = crate::account::checkbox_value(v).to_string();
        }
    }
    let filled: Vec<String> = view
        .values
        .iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, _)| k.clone())
        .collect();
    let Ok(Some(HookOutput::Errors(found))) = plugins
        .call(&tenant.slug, Hook::ValidateApplication(view))
        .await
    else {
        return Default::default();
    };
    let mut errors = crate::account::FieldErrors::new();
    for e in found {
        if e.field.is_empty() {
            errors
                .entry(crate::account::FORM_ERROR.to_string())
                .or_insert(e.message);
        } else if filled.contains(&e.field) {
            errors.entry(e.field).or_insert(e.message);
        }
    }
    errors
}

/// Why an update of `app` at its version changed nothing. Read on the
/// transaction's own connection: waiting for a second one while this one
/// holds the write lock (SQLite) or a row lock would jam the pool.
async fn stale_or_not_draft(tx: &mut sqlx::AnyConnection, app: &Application) -> AppError {
    let row: Result<Option<(String,)>, _> = sqlx::query_as(
        "SELECT status FROM applications WHERE id = $1 AND tenant_id = $2 AND account_id = $3",
    )
    .bind(app.id)
    .bind(&app.tenant_id)
    .bind(app.account_id)
    .fetch_optional(&mut *tx)
    .await;
    match row {
        Ok(Some((status,))) if status == app.status => AppError::Stale,
        Ok(_) => AppError::NotDraft,
        Err(e) => e.into(),
    }
}

/// Submit a draft (or send back a returned application) at `version`
/// inside the caller's transaction, so the notifications the caller queues
/// commit with it. A second submit finds the status moved and changes
/// nothing. A number and first submission date already given stay; a
/// number another application holds is [`AppError::NumberTaken`], and the
/// caller drops this transaction and tries the next number. (No check reads
/// first: on SQLite a read before the write lets another writer in between,
/// and the upgrade then fails at once with «database is locked».)
pub async fn submit(
    tx: &mut sqlx::AnyConnection,
    app: &Application,
    v: Values<'_>,
    s: Submission<'_>,
    then: crate::store::Batch,
) -> Result<(), AppError> {
    use crate::store::{Batch, Dialect};
    let mut b = Batch::new();
    push_update(&mut b, app, v, &s, Number::Given);
    let mut rest = Batch::new();
    if Dialect::of(tx) == Dialect::Sqlite {
        // The update, its history and what the caller adds are one command:
        // one round trip under the write lock. The history, right after the
        // update, follows only where it took (a draft deleted meanwhile has
        // none to hang it on); the rest the caller rolls back with its
        // transaction when this fails.
        push_history(&mut b, app, &s, Some(&|_| ("changes() = 1".into(), vec![])));
        b.append(then);
    } else {
        // A statement is a round trip here anyway: the update first.
        push_history(&mut rest, app, &s, None);
        rest.append(then);
    }
    let done = b.run(&mut *tx).await.map_err(taken_or_db)?;
    if done.changed.first() == Some(&0) {
        return Err(stale_or_not_draft(tx, app).await);
    }
    rest.run(&mut *tx).await?;
    Ok(())
}

fn taken_or_db(e: sqlx::Error) -> AppError {
    match e {
        sqlx::Error::Database(d) if d.is_unique_violation() => AppError::NumberTaken,
        e => AppError::Db(e),
    }
}

/// A placeholder for the registration number in messages rendered before
/// it is drawn ([`submit_at_once`]): a private-use character, which no
/// template writes.
pub const NUMBER_TO_DRAW: &str = "\u{E000}";

/// SQLite, a draft without a number, no plugin: [`submit`] with the
/// number's draw, the history and `messages` as one write transaction in
/// one command ([`Db::write_once`]), so the write lock is held only while
/// SQLite runs it, not across round trips. `messages` were rendered with
/// [`NUMBER_TO_DRAW`] for the number. The number drawn, or why not:
/// [`AppError::Stale`], [`AppError::NotDraft`], or
/// [`AppError::NumberTaken`] where staff typed the drawn number by hand
/// (nothing is written then; the caller's general path skips such numbers).
pub async fn submit_at_once(
    db: &Db,
    app: &Application,
    v: Values<'_>,
    s: Submission<'_>,
    messages: &[crate::notify::Message],
) -> Result<String, AppError> {
    use crate::store::Batch;
    let tenant = app.tenant_id.as_str();
    let mut b = Batch::new();
    b.push(
        "INSERT INTO sequences (tenant_id, name, value) VALUES ($1, 'applications', 1) \
         ON CONFLICT (tenant_id, name) DO UPDATE SET value = sequences.value + 1",
        vec![tenant.into()],
    );
    // Whether the update took: the application is at the next version
    // with the number just drawn, which no other request can have given it
    // (numbers are unique, and the draw is this transaction's). Its values
    // are parameters, numbered after a statement's own: the text stays the
    // same from one sending to the next, and so does its prepared form.
    let applied = |first: usize| -> (String, Vec<crate::store::Param>) {
        (
            format!(
                "EXISTS (SELECT 1 FROM applications WHERE id = ${first} AND version = ${} \
                 AND number = {DRAWN})",
                first + 1
            ),
            vec![app.id.into(), (s.version + 1).into()],
        )
    };
    push_update(&mut b, app, v, &s, Number::Drawn);
    push_history(&mut b, app, &s, Some(&applied));
    crate::notify::queue_numbered(
        &mut b,
        tenant,
        messages,
        NUMBER_TO_DRAW,
        "(SELECT number FROM applications WHERE id = $1)",
        app.id,
        &applied,
    );
    let (took, params) = applied(1);
    b.push(
        format!("SELECT number FROM applications WHERE id = $1 AND {took}"),
        params,
    );
    // A sending that did not take gives its draw back.
    let (took, mut params) = applied(2);
    params.insert(0, tenant.into());
    b.push(
        format!(
            "UPDATE sequences SET value = value - 1 \
             WHERE tenant_id = $1 AND name = 'applications' AND NOT {took}"
        ),
        params,
    );
    if db.dialect != crate::store::Dialect::Sqlite {
        return Err(AppError::Db(sqlx::Error::Protocol(
            "submit_at_once is SQLite's".into(),
        )));
    }
    let done = db.write_once(b).await.map_err(taken_or_db)?;
    match done.rows.first() {
        Some(row) => Ok(sqlx::Row::try_get::<String, _>(row, 0)?),
        None => {
            let mut conn = db.pool.acquire().await?;
            Err(stale_or_not_draft(&mut conn, app).await)
        }
    }
}

/// An SQL condition and its values, numbered from the given first.
type Condition<'a> = &'a dyn Fn(usize) -> (String, Vec<crate::store::Param>);

/// The number just drawn from the tenant's sequence by the statement
/// before, formatted as `{n:06}` formats it (SQLite); none where the
/// sequence is not positive.
const DRAWN: &str = "(SELECT printf('%06d', s.value) FROM sequences s \
                     WHERE s.tenant_id = applications.tenant_id AND s.name = 'applications' AND s.value > 0)";

/// Where a sending's number comes from.
enum Number {
    /// `Submission::number`, for an application without one.
    Given,
    /// [`DRAWN`] (SQLite), for a draft without one: the update takes only
    /// then, so that it took exactly where the number drawn is the
    /// application's.
    Drawn,
}

/// The update of a sending, as a statement of `b`.
fn push_update(
    b: &mut crate::store::Batch,
    app: &Application,
    v: Values<'_>,
    s: &Submission<'_>,
    number: Number,
) {
    // $3, the number given, is bound either way (unread when drawn).
    let (number, given, only) = match number {
        Number::Given => ("$3", Some(s.number), String::new()),
        Number::Drawn => (
            DRAWN,
            None,
            format!(" AND number IS NULL AND {DRAWN} IS NOT NULL"),
        ),
    };
    b.push(
        format!(
            "UPDATE applications SET field_values = $1, status = $2, number = COALESCE(number, {number}), \
             submitted_at = COALESCE(submitted_at, $4), updated_at = $4, version = version + 1, due_on = $9, \
             supply_type = $10, custom_status = NULL, clock_stopped_on = NULL, city = COALESCE($12, city) \
             WHERE id = $5 AND tenant_id = $6 AND account_id = $7 AND status = $11 AND version = $8{only}"
        ),
        vec![
            serde_json::to_string(v.values)
                .unwrap_or_else(|_| "{}".into())
                .into(),
            s.status.into(),
            given.into(),
            now_ts().into(),
            app.id.into(),
            (&app.tenant_id).into(),
            app.account_id.into(),
            s.version.into(),
            s.due_on.into(),
            v.supply.into(),
            (&app.status).into(),
            v.city.into(),
        ],
    );
}

/// A sending's history, as a statement of `b`; only `when` holds, where
/// that is given.
fn push_history(
    b: &mut crate::store::Batch,
    app: &Application,
    s: &Submission<'_>,
    when: Option<Condition<'_>>,
) {
    let sent = if app.is_draft() {
        EventKind::Submitted
    } else {
        EventKind::Resubmitted
    };
    let saved = (EventKind::Saved, Some(app.status.as_str()));
    let rows: &[(EventKind, Option<&str>)] = if s.saved {
        &[saved, (sent, Some(s.status))]
    } else {
        &[(sent, Some(s.status))]
    };
    push_events(
        b,
        &app.tenant_id,
        app.id,
        rows,
        Author::Applicant,
        None,
        when,
    );
}

/// Whether another application of the tenant has `number`.
pub async fn number_taken<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(
    ex: E,
    tenant: &str,
    id: i64,
    number: &str,
) -> Result<bool, AppError> {
    let row: Option<(i64,)> = sqlx::query_as(
        "SELECT id FROM applications WHERE tenant_id = $1 AND number = $2 AND id <> $3",
    )
    .bind(tenant)
    .bind(number)
    .bind(id)
    .fetch_optional(ex)
    .await?;
    Ok(row.is_some())
}

/// Delete one of the account's drafts; submitted applications stay.
pub async fn delete_draft(db: &Db, app: &Application) -> Result<bool, AppError> {
    let n = sqlx::query(
        "DELETE FROM applications WHERE id = $1 AND tenant_id = $2 AND account_id = $3 AND status = 'draft'",
    )
    .bind(app.id)
    .bind(&app.tenant_id)
    .bind(app.account_id)
    .execute(&db.pool)
    .await?
    .rows_affected();
    Ok(n > 0)
}

/// Move `app` out of the status it was read in, inside the caller's
/// transaction; `false` when someone moved it first. The workflow engine
/// decides whether the move is allowed.
pub async fn set_status(
    tx: &mut sqlx::AnyConnection,
    app: &Application,
    to: &str,
    due_on: Option<&str>,
    actor: Author,
    note: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        // A new status starts its own deadline: a clock stopped for a
        // request of documents does not carry over.
        "UPDATE applications SET status = $1, due_on = $2, updated_at = $3, version = version + 1, \
         clock_stopped_on = NULL, custom_status = NULL WHERE id = $4 AND tenant_id = $5 AND status = $6",
    )
    .bind(to)
    .bind(due_on)
    .bind(now_ts())
    .bind(app.id)
    .bind(&app.tenant_id)
    .bind(&app.status)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if n == 0 {
        return Ok(false);
    }
    event(
        &mut *tx,
        &app.tenant_id,
        app.id,
        EventKind::Status,
        Some(to),
        actor,
        note,
    )
    .await?;
    Ok(true)
}

/// An application's history, oldest first.
pub async fn history(db: &Db, app: &Application) -> Result<Vec<Event>, AppError> {
    let rows: Vec<(String, Option<String>, String, String, String)> = sqlx::query_as(
        "SELECT kind, status, actor, data, created_at FROM application_events \
         WHERE tenant_id = $1 AND application_id = $2 ORDER BY id",
    )
    .bind(&app.tenant_id)
    .bind(app.id)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(kind, status, actor, data, created_at)| Event {
            kind,
            status,
            actor: Author::parse(&actor),
            note: serde_json::from_str::<serde_json::Value>(&data)
                .ok()
                .and_then(|d| d.get("note")?.as_str().map(str::to_string)),
            created_at,
        })
        .collect())
}

/// What a plugin sees of an application: `values` with the applicant's profile.
pub fn plugin_view(
    a: &Application,
    acc: &crate::account::Account,
    values: &BTreeMap<String, String>,
) -> crate::plugin::types::Application {
    crate::plugin::types::Application {
        kind: a.kind.clone(),
        status: a.status.clone(),
        number: a.number.clone(),
        values: values.clone(),
        applicant: crate::plugin::types::Profile {
            applicant_type: acc.applicant_type.0.clone(),
            fields: acc.profile.clone().into_iter().collect(),
        },
        created_at: a.created_at.clone(),
    }
}

/// The values with the supply type (see [`Tenant::supply_of`]) and the
/// city from the form's field that picks from the tenant's cities, so the
/// office can filter by them.
/// The values as stored, with the columns the office filters on: the
/// supply type and the city.
pub fn with_filter_columns<'a>(
    tenant: &'a crate::tenant::Tenant,
    values: &'a BTreeMap<String, String>,
) -> Values<'a> {
    let filled = |id: &str| values.get(id).map(String::as_str).filter(|v| !v.is_empty());
    Values {
        values,
        supply: tenant.supply_of(values),
        // A draft is saved unchecked: only a city of the list counts.
        city: tenant
            .config
            .application_fields
            .iter()
            .filter(|f| f.options() == Some("cities"))
            .find_map(|f| filled(f.id()))
            .filter(|c| {
                tenant
                    .list("cities")
                    .is_some_and(|l| l.iter().any(|x| x == c))
            }),
    }
}

/// The kinds of application this account may start.
pub fn kinds_for<'t>(
    tenant: &'t crate::tenant::Tenant,
    acc: &crate::account::Account,
) -> Vec<&'t crate::tenant::config::ApplicationKind> {
    let t = acc.applicant_type.get();
    tenant
        .config
        .application_kinds
        .iter()
        .filter(|k| k.types.is_empty() || t.is_some_and(|t| k.types.contains(&t)))
        .collect()
}

/// The fields of a kind's form this applicant sees, in form order.
pub fn form_fields<'t>(
    tenant: &'t crate::tenant::Tenant,
    k: &crate::tenant::config::ApplicationKind,
    acc: &crate::account::Account,
) -> Vec<&'t crate::tenant::config::FieldDef> {
    tenant
        .form_fields(k.id(), acc.applicant_type.get())
        .collect()
}

/// [`form_fields`] parted into the fields that hold values and the
/// document slots that hold files.
pub fn form_parts<'t>(
    tenant: &'t crate::tenant::Tenant,
    k: &crate::tenant::config::ApplicationKind,
    acc: &crate::account::Account,
) -> (
    Vec<&'t crate::tenant::config::FieldDef>,
    Vec<&'t crate::tenant::config::FieldDef>,
) {
    form_fields(tenant, k, acc)
        .into_iter()
        .partition(|f| f.kind != crate::tenant::config::FieldKind::File)
}

/// Starting an application as the "new application" page asked.
pub struct Start<'a> {
    pub tenant: &'a crate::tenant::Tenant,
    pub account: &'a crate::account::Account,
    pub kind: &'a str,
    pub city: Option<&'a str>,
    /// A new draft even when one of this kind exists ("new=1").
    pub again: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Started {
    Created(i64),
    /// An existing draft of the kind, opened again.
    Reopened(i64),
    /// No such kind, or the city is missing where it comes first: back to
    /// the choice.
    ChooseAgain,
}

/// Starts a draft of a kind, with the contacts from the profile and the
/// city from the first step, or reopens the last one of the kind.
pub async fn start(db: &Db, s: Start<'_>) -> Result<Started, AppError> {
    use crate::tenant::config::DraftPolicy;
    let Start {
        tenant,
        account: acc,
        kind,
        city,
        again,
    } = s;
    let Some(k) = tenant.application_kind(kind) else {
        return Ok(Started::ChooseAgain);
    };
    if !kinds_for(tenant, acc).iter().any(|x| x.id() == k.id()) {
        return Err(AppError::NotAllowed);
    }
    let cities = tenant.list("cities").unwrap_or(&[]);
    let city = city
        .filter(|c| cities.iter().any(|x| x == c))
        .map(str::to_string);
    if tenant.config.applications.city_first && city.is_none() {
        return Ok(Started::ChooseAgain);
    }
    let kind_id = k.id();
    // Starting a kind with a draft of it reopens the last saved one (in the
    // chosen city, where the city comes first); its notice offers a new one
    // ("new=1"). A kind of one draft at a time is reopened by create_draft.
    let many = k.drafts == DraftPolicy::Many;
    if many
        && !again
        && let Some(d) = drafts_of_kind(db, &tenant.slug, acc.id, kind_id)
            .await?
            .into_iter()
            .find(|d| !tenant.config.applications.city_first || d.city == city)
    {
        return Ok(Started::Reopened(d.id));
    }
    // Contacts default from the profile (seed 002), the city from the first step.
    let mut values = BTreeMap::new();
    for f in form_fields(tenant, k, acc) {
        let id = f.id();
        let v = match id {
            "email" => acc.email.clone(),
            "phone" => acc.phone.clone(),
            "city" => city.clone().or_else(|| acc.profile.get("city").cloned()),
            _ => acc.profile.get(id).cloned(),
        };
        if let Some(v) = v {
            values.insert(id.to_string(), v);
        }
    }
    let (id, created) = create_draft(
        db,
        &tenant.slug,
        acc.id,
        kind_id,
        city.as_deref(),
        with_filter_columns(tenant, &values),
        (!many, tenant.config.applications.max_drafts.get()),
    )
    .await?;
    if !created {
        return Ok(Started::Reopened(id));
    }
    tracing::info!(application = id, kind = kind_id, "draft created");
    Ok(Started::Created(id))
}

/// Why an upload to a draft's slot was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum UploadRefused {
    /// Not a type the slot accepts, by the file's own bytes.
    Type,
    /// The application was sent (another tab) while the file came.
    Sent,
}

/// A file attached to a slot: its row, the name it is kept under (with
/// the extension its type gives) and its size.
#[derive(Debug)]
pub struct Attached {
    pub row: i64,
    pub name: String,
    pub size: u64,
}

/// Attaches a stored upload to a draft's file slot `f`. The type is read
/// from the bytes, not the name; a refused file's bytes stay only if
/// another row names them.
pub async fn attach_upload(
    db: &Db,
    files: &crate::document::FileStore,
    tenant: &crate::tenant::Tenant,
    a: &Application,
    f: &crate::tenant::config::FieldDef,
    name: &str,
    stored: &crate::document::Stored,
) -> Result<Result<Attached, UploadRefused>, sqlx::Error> {
    use crate::document::{self, FileType};
    let accepted: Vec<_> = f.accepted().filter_map(FileType::from_name).collect();
    let Some(found) = FileType::sniff(&stored.head).filter(|t| document::accepts(&accepted, *t))
    else {
        document::forget_upload(db, files, stored).await;
        return Ok(Err(UploadRefused::Type));
    };
    let name = found.name_file(name);
    let row = document::attach_if(
        &db.pool,
        &tenant.slug,
        a.id,
        Some(&a.status),
        f.id(),
        f.doc_type.as_deref(),
        &name,
        stored,
        found.mime(),
    )
    .await?;
    let Some(row) = row else {
        document::forget_upload(db, files, stored).await;
        return Ok(Err(UploadRefused::Sent));
    };
    document::release(db, stored).await;
    tracing::info!(application = a.id, file = row, size = stored.size, sha256 = %stored.sha256, "file attached");
    Ok(Ok(Attached {
        row,
        name,
        size: stored.size,
    }))
}

/// What is wrong with a posted application form as a whole.
#[derive(Debug)]
pub enum FormProblem {
    /// The form carried a field the application does not have (an old page
    /// after the tenant changed its form, or a forged post).
    UnknownField(String),
    /// Values longer than their fields allow, beside their fields.
    TooLong(crate::account::FieldErrors),
}

/// The form's keys that are not application fields (`signature`: the
/// applicant's signature of the application where sending signs it).
const CONTROL: &[&str] = &["csrf_token", "version", "action", "signature"];

/// The application's values as the form gives them, trimmed, and what is
/// wrong with the form, if anything. Lengths hold on every save, the
/// background one included: a draft is no place to park megabytes in a
/// short field.
pub fn read_form(
    fields: &[&crate::tenant::config::FieldDef],
    form: &BTreeMap<String, String>,
) -> (BTreeMap<String, String>, Option<FormProblem>) {
    let values: BTreeMap<String, String> = fields
        .iter()
        .map(|f| {
            let id = f.id();
            let v = form.get(id).map(|v| v.trim().to_string());
            (id.to_string(), v.unwrap_or_default())
        })
        .collect();
    if let Some(bad) = form
        .keys()
        .find(|k| !CONTROL.contains(&k.as_str()) && !values.contains_key(*k))
    {
        tracing::warn!(field = %bad, "application form carried a field it does not have");
        return (values, Some(FormProblem::UnknownField(bad.clone())));
    }
    let mut errors = crate::account::FieldErrors::new();
    for f in fields {
        let id = f.id();
        if let Some(e) = values.get(id).and_then(|v| crate::account::too_long(f, v)) {
            errors.insert(id.to_string(), e);
        }
    }
    let problem = (!errors.is_empty()).then_some(FormProblem::TooLong(errors));
    (values, problem)
}

/// Saves a draft's values and asks the plugin what it would refuse when
/// sent: the new version, and its remarks (beside their fields). A draft
/// that could not be saved gets no remarks.
pub async fn keep_draft(
    db: &Db,
    plugins: &crate::plugin::Plugins,
    tenant: &crate::tenant::Tenant,
    acc: &crate::account::Account,
    a: &Application,
    version: i64,
    values: &BTreeMap<String, String>,
) -> (Result<i64, AppError>, crate::account::FieldErrors) {
    let res = save_draft(db, a, version, with_filter_columns(tenant, values)).await;
    let problems = match res {
        Ok(_) => draft_problems(plugins, tenant, plugin_view(a, acc, values)).await,
        Err(_) => crate::account::FieldErrors::new(),
    };
    (res, problems)
}

/// The host's numbering when the tenant's plugin gives none: a running number.
pub async fn default_number(db: &Db, tenant: &str) -> anyhow::Result<String> {
    let n = crate::plugin::next_in_db(db, tenant, "applications").await?;
    Ok(format!("{n:06}"))
}

/// The next number of the tenant's sequence that no other application
/// has (staff may have typed it by hand), inside the caller's transaction:
/// were the sending's update to fail on a taken number instead, the draw
/// would roll back with it and the next attempt meet the same number.
/// None when 50 draws in a row were taken.
pub async fn free_number_on(
    conn: &mut sqlx::AnyConnection,
    tenant: &str,
    id: i64,
) -> anyhow::Result<Option<String>> {
    // The draw and the look for the number drawn are one statement: one
    // round trip while the write lock is held. The number is formatted as
    // `{n:06}` formats it, in each dialect.
    let formatted = if crate::store::Dialect::of(conn) == crate::store::Dialect::Postgres {
        "CASE WHEN sequences.value < 1000000 THEN lpad(sequences.value::text, 6, '0') \
         ELSE sequences.value::text END"
    } else {
        "printf('%06d', sequences.value)"
    };
    let sql = format!(
        "INSERT INTO sequences (tenant_id, name, value) VALUES ($1, 'applications', 1) \
         ON CONFLICT (tenant_id, name) DO UPDATE SET value = sequences.value + 1 \
         RETURNING value, (SELECT COUNT(*) FROM applications \
         WHERE tenant_id = $1 AND number = {formatted} AND id <> $2)"
    );
    for _ in 0..50 {
        let (n, taken): (i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(tenant)
            .bind(id)
            .fetch_one(&mut *conn)
            .await?;
        let n = u64::try_from(n)?;
        let n = format!("{n:06}");
        if taken == 0 {
            return Ok(Some(n));
        }
        tracing::warn!(application = id, number = %n, "registration number already given by hand; taking the next");
    }
    Ok(None)
}
