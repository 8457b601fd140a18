//! The office queue: every submitted application of a tenant, filtered,
//! searched, sorted and paged in SQL, with counts per status. Drafts are
//! the applicant's own and never shown to staff.

use crate::application::{self as app, Application, COLUMNS_A};
use crate::store::{Db, Dialect};
use crate::tenant::Tenant;
use serde::Serialize;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sort {
    /// Newest submissions first.
    #[default]
    Submitted,
    /// Nearest deadline first (none last).
    Due,
    /// Most recently changed first.
    Updated,
    Number,
}

impl Sort {
    pub fn parse(s: &str) -> Sort {
        match s {
            "due" => Sort::Due,
            "updated" => Sort::Updated,
            "number" => Sort::Number,
            _ => Sort::Submitted,
        }
    }
    pub fn id(self) -> &'static str {
        match self {
            Sort::Submitted => "submitted",
            Sort::Due => "due",
            Sort::Updated => "updated",
            Sort::Number => "number",
        }
    }
    fn sql(self) -> &'static str {
        match self {
            Sort::Submitted => "a.submitted_at DESC, a.id DESC",
            Sort::Due => "CASE WHEN a.due_on IS NULL THEN 1 ELSE 0 END, a.due_on, a.id",
            Sort::Updated => "a.updated_at DESC, a.id DESC",
            Sort::Number => "a.number, a.id",
        }
    }
}

/// Who an application is assigned to, as a filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assignee {
    Nobody,
    Staff(i64),
}

#[derive(Debug, Clone, Default)]
pub struct QueueFilter {
    pub status: Option<String>,
    pub kind: Option<String>,
    pub city: Option<String>,
    pub supply: Option<String>,
    /// Submitted on or after / on or before (YYYY-MM-DD).
    pub from: Option<String>,
    pub to: Option<String>,
    pub overdue: bool,
    pub assignee: Option<Assignee>,
    /// Number, applicant name, INN/SNILS/IIN/BIN, email or address.
    pub search: Option<String>,
    pub sort: Sort,
    pub limit: i64,
    pub page: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct QueueRow {
    pub app: Application,
    pub applicant_type: String,
    pub profile: std::collections::BTreeMap<String, String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub assignee_id: Option<i64>,
    pub assignee: Option<String>,
    pub custom_status: Option<String>,
    pub clock_stopped_on: Option<String>,
}

/// The ways one search word may be stored. SQLite's LIKE ignores case for
/// Latin letters only, and people type "иванов" for "Иванов"; a SNILS typed
/// as eleven digits is kept as `XXX-XXX-XXX YY`.
fn spellings(word: &str) -> Vec<String> {
    let lower = word.to_lowercase();
    let mut out = vec![word.to_string(), lower.clone(), word.to_uppercase()];
    let mut chars = lower.chars();
    if let Some(first) = chars.next() {
        out.push(first.to_uppercase().chain(chars).collect());
    }
    if word.len() == 11
        && word.bytes().all(|b| b.is_ascii_digit())
        && let Ok(snils) = tapline_ids::snils(word)
    {
        out.push(snils);
    }
    out.sort();
    out.dedup();
    out
}

fn like(s: &str) -> String {
    let e = s
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{e}%")
}

/// "Some value of the JSON object in `column` is LIKE ?". The search looks
/// at what people typed, never at the stored form's field names, quotes and
/// colons (`supply_type`, `"` and `:` matched every application). Each
/// database has its own way to list an object's values.
fn json_value_like(dialect: Dialect, column: &str) -> String {
    match dialect {
        Dialect::Sqlite => format!(
            "EXISTS (SELECT 1 FROM json_each(CASE WHEN json_valid({column}) THEN {column} ELSE '{{}}' END) j \
             WHERE j.value LIKE ? ESCAPE '\\')"
        ),
        Dialect::Postgres => format!(
            "EXISTS (SELECT 1 FROM jsonb_each_text(CAST({column} AS jsonb)) j WHERE j.value LIKE ? ESCAPE '\\')"
        ),
    }
}

/// The WHERE clause and its values (after `$1`, the tenant).
fn conditions(tenant: &Tenant, f: &QueueFilter, dialect: Dialect) -> (String, Vec<String>) {
    let mut cond = String::from("a.tenant_id = $1 AND a.status <> 'draft'");
    let mut binds: Vec<String> = Vec::new();
    let mut add = |sql: &str, vals: Vec<String>| {
        let mut s = sql.to_string();
        for v in vals {
            binds.push(v);
            s = s.replacen('?', &format!("${}", binds.len() + 1), 1);
        }
        cond.push_str(" AND ");
        cond.push_str(&s);
    };
    if let Some(s) = &f.status {
        add("a.status = ?", vec![s.clone()]);
    }
    if let Some(k) = &f.kind {
        add("a.kind = ?", vec![k.clone()]);
    }
    if let Some(c) = &f.city {
        add("a.city = ?", vec![c.clone()]);
    }
    if let Some(s) = &f.supply {
        add("a.supply_type LIKE ? ESCAPE '\\'", vec![like(s)]);
    }
    // Days on the tenant's clock, not UTC days.
    let day = |d: &Option<String>| crate::store::day_bounds(d.as_deref()?, tenant.offset);
    if let Some((start, _)) = day(&f.from) {
        add("a.submitted_at >= ?", vec![start]);
    }
    if let Some((_, end)) = day(&f.to) {
        add("a.submitted_at < ?", vec![end]);
    }
    if f.overdue {
        let finals: Vec<String> = tenant
            .config
            .workflow
            .statuses
            .iter()
            .filter(|s| s.is_final)
            .map(|s| s.id().to_string())
            .collect();
        let mut sql = String::from("a.due_on < ? AND a.clock_stopped_on IS NULL");
        let mut vals = vec![tenant.today().to_string()];
        if !finals.is_empty() {
            sql.push_str(&format!(
                " AND a.status NOT IN ({})",
                vec!["?"; finals.len()].join(", ")
            ));
            vals.extend(finals);
        }
        add(&sql, vals);
    }
    match f.assignee {
        Some(Assignee::Nobody) => add("a.assignee_id IS NULL", vec![]),
        Some(Assignee::Staff(id)) => add("a.assignee_id = ?", vec![id.to_string()]),
        None => {}
    }
    if let Some(q) = f.search.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        // Each word must match somewhere ("Иванов Иван" finds the profile
        // that holds both), in any of the spellings a person might type.
        for word in q.split_whitespace().take(8) {
            let spellings = spellings(word);
            let one = format!(
                "(a.number LIKE ? ESCAPE '\\' OR {} OR acc.email LIKE ? ESCAPE '\\' OR {})",
                json_value_like(dialect, "acc.profile"),
                json_value_like(dialect, "a.field_values")
            );
            let sql = format!("({})", vec![one; spellings.len()].join(" OR "));
            let vals = spellings
                .iter()
                .flat_map(|s| {
                    let p = like(s);
                    [p.clone(), p.clone(), p.to_lowercase(), p]
                })
                .collect();
            add(&sql, vals);
        }
    }
    (cond, binds)
}

/// The most rows one page (or one export) holds.
pub const EXPORT_MAX: i64 = 10_000;

const FROM: &str = "FROM applications a JOIN accounts acc ON acc.id = a.account_id AND acc.tenant_id = a.tenant_id \
                    LEFT JOIN staff s ON s.id = a.assignee_id";

/// The WHERE clause of a filter, the assignee compared as text on both
/// databases, and its values (after `$1`, the tenant).
fn where_of(tenant: &Tenant, f: &QueueFilter, dialect: Dialect) -> (String, Vec<String>) {
    let (cond, binds) = conditions(tenant, f, dialect);
    // The assignee filter binds an id as text; compare as text on both databases.
    let cond = cond.replace("a.assignee_id = $", "CAST(a.assignee_id AS TEXT) = $");
    (cond, binds)
}

/// How many submitted applications match the filter.
pub async fn count(db: &Db, tenant: &Tenant, f: &QueueFilter) -> Result<i64, sqlx::Error> {
    let (cond, binds) = where_of(tenant, f, db.dialect);
    // Where no condition reads the applicant's or the assignee's row (only
    // a search does), the count is the applications' own, read from an
    // index instead of a lookup of the account for each application sent:
    // every application has its account (a foreign key that cascades) and
    // the assignee's join adds no rows.
    let joined = cond.contains("acc.") || cond.contains(" s.") || cond.contains("(s.");
    let from = if joined { FROM } else { "FROM applications a" };
    let mut q = sqlx::query_as::<_, (i64,)>(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) {from} WHERE {cond}"
    )))
    .bind(&tenant.slug);
    for b in &binds {
        q = q.bind(b);
    }
    Ok(q.fetch_one(&db.pool).await?.0)
}

fn select_sql(f: &QueueFilter, cond: &str, limit: i64) -> String {
    format!(
        "SELECT {COLUMNS_A}, acc.applicant_type, acc.profile, acc.email, acc.phone, a.assignee_id, \
         s.name AS assignee, \
         a.clock_stopped_on {FROM} WHERE {cond} ORDER BY {} LIMIT {limit} OFFSET {}",
        f.sort.sql(),
        f.page.clamp(0, 100_000) * limit
    )
}

/// One page of the queue and how many match.
pub async fn queue(
    db: &Db,
    tenant: &Tenant,
    f: &QueueFilter,
) -> Result<(Vec<QueueRow>, i64), sqlx::Error> {
    let total = count(db, tenant, f).await?;
    let (cond, binds) = where_of(tenant, f, db.dialect);
    let limit = if f.limit <= 0 {
        50
    } else {
        f.limit.min(EXPORT_MAX)
    };
    let mut q = sqlx::query_as::<_, Joined>(sqlx::AssertSqlSafe(select_sql(f, &cond, limit)))
        .bind(&tenant.slug);
    for b in &binds {
        q = q.bind(b);
    }
    let rows = q.fetch_all(&db.pool).await?;
    Ok((rows.into_iter().map(QueueRow::from).collect(), total))
}

/// A queue row as the export shows it: only the columns of its cells, in
/// the order [`export_chunk`] selects them (a JSON array per row).
#[derive(Debug, serde::Deserialize)]
pub struct ExportRow {
    pub id: i64,
    pub number: Option<String>,
    pub kind: String,
    pub city: Option<String>,
    /// SQLite: the form's `object_address` where it is text, read by the
    /// database ([`address_columns`]).
    pub object_address: Option<String>,
    /// PostgreSQL: the form's values whole, the address read here.
    pub field_values: Option<String>,
    pub applicant_type: String,
    pub profile: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub status: String,
    pub custom_status: Option<String>,
    pub submitted_at: Option<String>,
    pub due_on: Option<String>,
    pub clock_stopped_on: Option<String>,
    pub assignee: Option<String>,
}

impl ExportRow {
    /// The object's address as [`app::object_address`] reads it; empty
    /// where the values have none.
    pub fn object_address(&self) -> String {
        match (&self.object_address, &self.field_values) {
            (Some(address), _) => address.clone(),
            (None, Some(values)) => app::object_address(values),
            (None, None) => String::new(),
        }
    }
}

/// The two columns of [`ExportRow::object_address`] for the form's values
/// in `column`. SQLite reads the address itself, where the values read as
/// JSON and it is text, as [`app::object_address`] does: the values whole,
/// a kilobyte or two each, would otherwise be escaped into the chunk's
/// JSON and unescaped again, a fifth of an export's time. PostgreSQL sends
/// the values: its `jsonb` refuses a `\u0000` that a form may hold, and
/// one such application would fail the whole export.
fn address_columns(dialect: Dialect, column: &str) -> String {
    match dialect {
        // CASE evaluates its branches lazily: nothing parses invalid JSON.
        Dialect::Sqlite => format!(
            "CASE WHEN json_valid({column}) THEN CASE json_type({column}, '$.object_address') \
             WHEN 'text' THEN json_extract({column}, '$.object_address') END END, NULL"
        ),
        Dialect::Postgres => format!("NULL, {column}"),
    }
}

/// Rows an export reads in one statement.
pub const EXPORT_CHUNK: usize = 500;

/// The applications of the filtered queue the export shows (up to
/// [`EXPORT_MAX`], from the first), in the queue's order.
///
/// The ids come in one row, and [`export_chunk`] reads their rows a chunk
/// at a time, each chunk in one row too: row by row, every row crossed
/// from SQLite's thread to the export's with a wake-up of each, which was
/// most of an export's time, and one statement held its read snapshot for
/// the whole export, so under steady writes the WAL never restarted. An
/// export shows the rows that matched when it began, each as its chunk
/// reads it.
pub async fn export_ids(
    conn: &mut sqlx::AnyConnection,
    dialect: Dialect,
    tenant: &Tenant,
    f: &QueueFilter,
) -> Result<Vec<i64>, sqlx::Error> {
    let (cond, binds) = where_of(tenant, f, dialect);
    let ids = match dialect {
        Dialect::Sqlite => "group_concat(id, ',' ORDER BY n)",
        Dialect::Postgres => "string_agg(CAST(id AS TEXT), ',' ORDER BY n)",
    };
    // The innermost query picks the first rows as the queue sorts them (a
    // top-N, helped by the indexes); the window numbers only those, under
    // the same sort on the same names, so the list keeps their order.
    let sql = format!(
        "SELECT {ids} AS ids FROM (SELECT a.id, ROW_NUMBER() OVER (ORDER BY {sort}) AS n FROM \
         (SELECT a.id, a.submitted_at, a.due_on, a.updated_at, a.number {FROM} \
         WHERE {cond} ORDER BY {sort} LIMIT {EXPORT_MAX}) a) picked",
        sort = f.sort.sql()
    );
    let mut q = sqlx::query_as::<_, (Option<String>,)>(sqlx::AssertSqlSafe(sql)).bind(&tenant.slug);
    for b in &binds {
        q = q.bind(b);
    }
    let (ids,) = q.fetch_one(&mut *conn).await?;
    Ok(ids
        .unwrap_or_default()
        .split(',')
        .filter_map(|id| id.parse().ok())
        .collect())
}

/// The export's rows of these applications of the tenant, in the order of
/// `ids`; an id no longer found is left out.
pub async fn export_chunk(
    conn: &mut sqlx::AnyConnection,
    dialect: Dialect,
    tenant: &Tenant,
    ids: &[i64],
) -> Result<Vec<ExportRow>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let columns = format!(
        "a.id, a.number, a.kind, a.city, {}, acc.applicant_type, acc.profile, acc.email, \
         acc.phone, a.status, a.custom_status, a.submitted_at, a.due_on, a.clock_stopped_on, s.name",
        address_columns(dialect, "a.field_values")
    );
    let rows = match dialect {
        Dialect::Sqlite => format!("json_group_array(json_array({columns}))"),
        Dialect::Postgres => format!("CAST(json_agg(json_build_array({columns})) AS TEXT)"),
    };
    // The ids are integers read back from the database, written as numbers.
    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    // SQLite would rather walk the tenant's index and test each row against
    // the list; `+` keeps it to the rows of the list.
    let tenant_is = match dialect {
        Dialect::Sqlite => "+a.tenant_id = $1",
        Dialect::Postgres => "a.tenant_id = $1",
    };
    let sql = format!("SELECT {rows} {FROM} WHERE {tenant_is} AND a.id IN ({list})");
    let (json,): (Option<String>,) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(&tenant.slug)
        .persistent(false)
        .fetch_one(&mut *conn)
        .await?;
    let rows: Vec<ExportRow> = match json {
        Some(json) => serde_json::from_str(&json).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        None => Vec::new(),
    };
    // Each row to its place: one lookup a row, where a sort by place made
    // a dozen (a few per cent of an export's time).
    let place: std::collections::HashMap<i64, usize> =
        ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    let mut placed: Vec<Option<ExportRow>> =
        std::iter::repeat_with(|| None).take(ids.len()).collect();
    for r in rows {
        if let Some(&i) = place.get(&r.id) {
            placed[i] = Some(r);
        }
    }
    Ok(placed.into_iter().flatten().collect())
}

/// A queue row as selected: [`COLUMNS_A`] and the applicant, assignee
/// and clock columns after them.
#[derive(sqlx::FromRow)]
struct Joined {
    #[sqlx(flatten)]
    app: app::Row,
    applicant_type: String,
    profile: String,
    email: Option<String>,
    phone: Option<String>,
    assignee_id: Option<i64>,
    assignee: Option<String>,
    clock_stopped_on: Option<String>,
}

impl From<Joined> for QueueRow {
    fn from(r: Joined) -> QueueRow {
        let app = Application::from(r.app);
        QueueRow {
            custom_status: app.custom_status.clone(),
            app,
            applicant_type: r.applicant_type,
            profile: serde_json::from_str(&r.profile).unwrap_or_default(),
            email: r.email,
            phone: r.phone,
            assignee_id: r.assignee_id,
            assignee: r.assignee,
            clock_stopped_on: r.clock_stopped_on,
        }
    }
}

/// One application of the tenant with its applicant, as the card shows it.
pub async fn card(db: &Db, tenant: &Tenant, id: i64) -> Result<Option<QueueRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS_A}, acc.applicant_type, acc.profile, acc.email, acc.phone, a.assignee_id, \
         s.name AS assignee, \
         a.clock_stopped_on {FROM} WHERE a.tenant_id = $1 AND a.id = $2 AND a.status <> 'draft'"
    );
    let row: Option<Joined> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(&tenant.slug)
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.map(QueueRow::from))
}

/// How many submitted applications the tenant has in each status.
pub async fn counts(db: &Db, tenant: &str) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT status, COUNT(*) FROM applications WHERE tenant_id = $1 AND status <> 'draft' \
         GROUP BY status ORDER BY status",
    )
    .bind(tenant)
    .fetch_all(&db.pool)
    .await
}

/// Assign an application to a staff member of the tenant, or to nobody.
pub async fn assign(
    tx: &mut sqlx::AnyConnection,
    tenant: &str,
    application: i64,
    staff: Option<i64>,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query("UPDATE applications SET assignee_id = $1 WHERE id = $2 AND tenant_id = $3 AND status <> 'draft'")
        .bind(staff)
        .bind(application)
        .bind(tenant)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    Ok(n > 0)
}

/// Set or clear the custom status text (seed 003).
pub async fn set_custom_status(
    tx: &mut sqlx::AnyConnection,
    tenant: &str,
    application: i64,
    text: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE applications SET custom_status = $1, updated_at = $2 WHERE id = $3 AND tenant_id = $4")
        .bind(text)
        .bind(crate::store::now_ts())
        .bind(application)
        .bind(tenant)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Set the registration number.
/// What became of a number staff set.
#[derive(Debug, PartialEq, Eq)]
pub enum NumberSet {
    Done,
    /// Another application holds it (a submission took it meanwhile).
    Taken,
    /// The application's number changed since the card was read: another
    /// member of staff, or a submission, set one.
    Changed,
}

/// Sets the number only if the application still has `seen` (what the card
/// showed), so two people pressing «Сформировать» at once do not replace
/// each other's number unasked.
pub async fn set_number(
    tx: &mut sqlx::AnyConnection,
    tenant: &str,
    application: i64,
    seen: Option<&str>,
    number: &str,
) -> Result<NumberSet, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE applications SET number = $1, updated_at = $2 \
         WHERE id = $3 AND tenant_id = $4 AND COALESCE(number, '') = $5",
    )
    .bind(number)
    .bind(crate::store::now_ts())
    .bind(application)
    .bind(tenant)
    .bind(seen.unwrap_or(""))
    .execute(&mut *tx)
    .await;
    match done {
        Ok(r) if r.rows_affected() == 1 => Ok(NumberSet::Done),
        Ok(_) => Ok(NumberSet::Changed),
        Err(sqlx::Error::Database(d)) if d.is_unique_violation() => Ok(NumberSet::Taken),
        Err(e) => Err(e),
    }
}
