//! The utility's office: staff accounts and roles, their sessions and
//! second factor, the queue of a tenant's applications, the card's
//! messages, documents and progress stages, the deadline clock stopped
//! while the applicant is asked for documents, and the audit log.
//!
//! Every query is scoped by tenant. A platform operator is a staff row of
//! tenant `*` and may sign in to any tenant's office.

pub mod card;
pub mod correspondence;
pub mod digest;
pub mod export;
pub mod queue;
pub mod signin;
pub mod stats;
mod xlsx;

use crate::store::{Author, Db, now, now_ts, sha256_hex, ts};
use crate::tenant::config::Role;
use serde::Serialize;
use sqlx::Any;
use std::collections::BTreeMap;
use totp_rs::{Algorithm, Builder, Secret, Totp};

/// The tenant id of platform operators' rows.
pub const PLATFORM: &str = "*";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StaffRole {
    Operator,
    Manager,
    Admin,
    /// Hosts the deployment: a tenant admin in every office.
    Platform,
}

impl StaffRole {
    pub fn parse(s: &str) -> Option<StaffRole> {
        Some(match s {
            "operator" => StaffRole::Operator,
            "manager" => StaffRole::Manager,
            "admin" => StaffRole::Admin,
            "platform" => StaffRole::Platform,
            _ => return None,
        })
    }
    pub fn id(self) -> &'static str {
        match self {
            StaffRole::Operator => "operator",
            StaffRole::Manager => "manager",
            StaffRole::Admin => "admin",
            StaffRole::Platform => "platform",
        }
    }
    pub fn title(self) -> &'static str {
        match self {
            StaffRole::Operator => "Оператор",
            StaffRole::Manager => "Руководитель",
            StaffRole::Admin => "Администратор",
            StaffRole::Platform => "Оператор платформы",
        }
    }
    /// The role the tenant's workflow knows this person by.
    pub fn workflow_role(self) -> Role {
        match self {
            StaffRole::Operator => Role::Operator,
            StaffRole::Manager => Role::Manager,
            StaffRole::Admin | StaffRole::Platform => Role::Admin,
        }
    }
    /// Managers and up see the dashboard and may reject.
    pub fn is_manager(self) -> bool {
        self >= StaffRole::Manager
    }
    /// Tenant admins and platform operators manage staff, content and read the audit.
    pub fn is_admin(self) -> bool {
        self >= StaffRole::Admin
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Staff {
    pub id: i64,
    pub tenant_id: String,
    pub email: String,
    pub name: String,
    pub role: StaffRole,
    #[serde(skip)]
    pub totp_secret: Option<String>,
    pub active: bool,
}

impl Staff {
    pub fn has_totp(&self) -> bool {
        self.totp_secret.is_some()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OfficeError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// A value staff typed is wrong: the field to mark, and why.
    #[error("{message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("notification: {0}")]
    Notify(#[from] crate::notify::NotifyError),
}

/// A `staff` row as [`STAFF_COLUMNS`] selects it.
#[derive(sqlx::FromRow)]
struct StaffRow {
    id: i64,
    tenant_id: String,
    email: String,
    name: String,
    role: String,
    totp_secret: Option<String>,
    active: i64,
}

/// A staff row followed by its password hash.
#[derive(sqlx::FromRow)]
struct SignInRow {
    #[sqlx(flatten)]
    staff: StaffRow,
    password_hash: String,
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    created_at: String,
    name: Option<String>,
    action: String,
    target: Option<String>,
    detail: String,
    ip: Option<String>,
}

#[derive(sqlx::FromRow)]
struct MessageRow {
    id: i64,
    side: String,
    kind: String,
    author: String,
    title: Option<String>,
    body: String,
    file_id: Option<i64>,
    created_at: String,
}
const STAFF_COLUMNS: &str = "id, tenant_id, email, name, role, totp_secret, active";

fn staff_of(r: StaffRow) -> Staff {
    Staff {
        id: r.id,
        tenant_id: r.tenant_id,
        email: r.email,
        name: r.name,
        role: StaffRole::parse(&r.role).unwrap_or(StaffRole::Operator),
        totp_secret: r.totp_secret,
        active: r.active != 0,
    }
}

/// The audit entry a change writes in its own transaction: who, what, on
/// which object, from where. The action's target is filled in by the change
/// when it creates the object.
pub struct AuditNote<'a> {
    pub staff: Option<i64>,
    pub action: AuditAction,
    pub target: Option<Audited>,
    pub detail: String,
    pub ip: &'a str,
}

impl AuditNote<'_> {
    pub async fn write(
        &self,
        tx: &mut sqlx::AnyConnection,
        tenant: &str,
    ) -> Result<(), sqlx::Error> {
        audit(
            &mut *tx,
            tenant,
            self.staff,
            self.action,
            self.target,
            &self.detail,
            self.ip,
        )
        .await
    }
}

/// Create a staff account; `tenant` is a slug or [`PLATFORM`]. The audit
/// entry (target `staff:<id>`) commits with the account.
pub async fn add_staff(
    db: &Db,
    tenant: &str,
    email: &str,
    name: &str,
    role: StaffRole,
    password: &str,
    note: Option<AuditNote<'_>>,
) -> Result<i64, OfficeError> {
    let email = crate::account::normalize_email(email).ok_or_else(|| OfficeError::Invalid {
        field: "email",
        message: "адрес почты указан неверно".into(),
    })?;
    if name.trim().is_empty() {
        return Err(OfficeError::Invalid {
            field: "name",
            message: "укажите имя".into(),
        });
    }
    if password.chars().count() < 12 {
        return Err(OfficeError::Invalid {
            field: "password",
            message: "пароль сотрудника — не короче 12 символов".into(),
        });
    }
    if (role == StaffRole::Platform) != (tenant == PLATFORM) {
        return Err(OfficeError::Invalid {
            field: "role",
            message:
                "оператор платформы не принадлежит организации, а сотрудник организации — платформе"
                    .into(),
        });
    }
    let taken: Option<(i64,)> =
        sqlx::query_as("SELECT id FROM staff WHERE tenant_id = $1 AND email = $2")
            .bind(tenant)
            .bind(&email)
            .fetch_optional(&db.pool)
            .await?;
    if taken.is_some() {
        return Err(OfficeError::Invalid {
            field: "email",
            message: "сотрудник с такой почтой уже есть".into(),
        });
    }
    let hash = crate::account::password::hash(password.to_string()).await;
    let mut tx = db.begin().await?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO staff (tenant_id, email, name, role, password_hash, active, created_at) \
         VALUES ($1, $2, $3, $4, $5, 1, $6) RETURNING id",
    )
    .bind(tenant)
    .bind(&email)
    .bind(name.trim())
    .bind(role.id())
    .bind(hash)
    .bind(now_ts())
    .fetch_one(&mut *tx)
    .await?;
    if let Some(mut note) = note {
        note.target = Some(Audited::Staff(id));
        note.write(&mut tx, tenant).await?;
    }
    tx.commit().await?;
    Ok(id)
}

/// Check a sign-in; the staff member on success. Tenant staff first, then
/// platform operators; the same time is spent whether the address exists.
pub async fn sign_in(
    db: &Db,
    tenant: &str,
    email: &str,
    password: &str,
) -> Result<StaffSignIn, OfficeError> {
    let email = crate::account::normalize_email(email).unwrap_or_default();
    // Failures per person: guessing one person's password from many
    // addresses stops after ten tries in fifteen minutes. The try is counted
    // before the password is checked, so parallel guesses get no more.
    let counter = format!("office:fail:{tenant}:{email}");
    let Some(attempt) =
        crate::security::reserve(db, &counter, SIGN_IN_WINDOW, SIGN_IN_FAILURES).await?
    else {
        return Ok(StaffSignIn::Locked);
    };
    let sql = format!(
        "SELECT {STAFF_COLUMNS}, password_hash FROM staff WHERE email = $1 AND active = 1 \
         AND (tenant_id = $2 OR tenant_id = '*') ORDER BY tenant_id = '*'"
    );
    let row: Option<SignInRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(&email)
        .bind(tenant)
        .fetch_optional(&db.pool)
        .await?;
    let hash = row.as_ref().map(|r| r.password_hash.clone());
    let ok = crate::account::password::verify(hash, password.to_string()).await;
    match row.filter(|_| ok) {
        Some(r) => {
            crate::security::release(db, attempt).await?;
            Ok(StaffSignIn::Ok(staff_of(r.staff)))
        }
        None => Ok(StaffSignIn::Wrong),
    }
}

/// Failed passwords allowed per staff email in [`SIGN_IN_WINDOW`].
pub const SIGN_IN_FAILURES: i64 = 10;
pub const SIGN_IN_WINDOW: std::time::Duration = std::time::Duration::from_secs(900);

#[derive(Debug)]
pub enum StaffSignIn {
    Ok(Staff),
    Wrong,
    /// Too many failures lately; the password was not checked.
    Locked,
}

/// A staff member who may work in `tenant`'s office.
pub async fn get_staff(db: &Db, tenant: &str, id: i64) -> Result<Option<Staff>, OfficeError> {
    let sql = format!(
        "SELECT {STAFF_COLUMNS} FROM staff WHERE id = $1 AND (tenant_id = $2 OR tenant_id = '*')"
    );
    let row: Option<StaffRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(tenant)
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.map(staff_of))
}

/// The tenant's own staff (not platform operators), by name.
pub async fn list_staff(db: &Db, tenant: &str) -> Result<Vec<Staff>, OfficeError> {
    let sql = format!("SELECT {STAFF_COLUMNS} FROM staff WHERE tenant_id = $1 ORDER BY name, id");
    let rows: Vec<StaffRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tenant)
        .fetch_all(&db.pool)
        .await?;
    Ok(rows.into_iter().map(staff_of).collect())
}

pub async fn set_active(
    db: &Db,
    tenant: &str,
    id: i64,
    active: bool,
    note: AuditNote<'_>,
) -> Result<bool, OfficeError> {
    let mut tx = db.begin().await?;
    let n = sqlx::query("UPDATE staff SET active = $1 WHERE id = $2 AND tenant_id = $3")
        .bind(i64::from(active))
        .bind(id)
        .bind(tenant)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if n == 0 {
        return Ok(false);
    }
    if !active {
        sqlx::query("DELETE FROM staff_sessions WHERE staff_id = $1 AND tenant_id = $2")
            .bind(id)
            .bind(tenant)
            .execute(&mut *tx)
            .await?;
    }
    note.write(&mut tx, tenant).await?;
    tx.commit().await?;
    Ok(true)
}

// ------------------------------------------------------------- second factor

fn totp(secret_b32: &str, label: &str, issuer: &str) -> Option<Totp> {
    let secret = Secret::try_from_base32(secret_b32).ok()?;
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_secret(secret)
        .with_account_name(label)
        .with_issuer(Some(issuer))
        .build()
        .ok()
}

/// A new random TOTP secret (base32), to be confirmed with a code.
pub fn new_totp_secret() -> String {
    Secret::generate().to_base32()
}

/// The `otpauth://` link an authenticator app reads.
pub fn totp_url(secret: &str, email: &str, issuer: &str) -> String {
    totp(secret, email, issuer)
        .and_then(|t| t.to_url().ok())
        .unwrap_or_default()
}

/// The time step `code` is valid for now (one step of clock skew
/// allowed), or `None`. A step is accepted once: see [`use_totp_step`].
pub fn totp_step(secret: &str, code: &str) -> Option<u64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    totp(secret, "staff", "Tapline")?.check_current(&code)
}

/// The code of `secret` at time `at`: for tests, never the web.
pub fn totp_at(secret: &str, at: std::time::SystemTime) -> String {
    let secs = at
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    totp(secret, "staff", "Tapline")
        .map(|t| t.generate(secs).to_string())
        .unwrap_or_default()
}

/// The current code of `secret`: for tests and the CLI, never the web.
pub fn totp_now(secret: &str) -> String {
    totp(secret, "staff", "Tapline")
        .map(|t| t.generate_current().to_string())
        .unwrap_or_default()
}

/// Accept a code's time step for a staff member once: a code seen before
/// (read over a shoulder, replayed) is refused.
pub async fn use_totp_step(db: &Db, staff: i64, step: u64) -> Result<bool, OfficeError> {
    let n = sqlx::query(
        "UPDATE staff SET totp_last_step = $1 WHERE id = $2 AND (totp_last_step IS NULL OR totp_last_step < $1)",
    )
    .bind(step as i64)
    .bind(staff)
    .execute(&db.pool)
    .await?
    .rows_affected();
    Ok(n > 0)
}

pub async fn set_totp(
    db: &Db,
    tenant: &str,
    id: i64,
    secret: Option<&str>,
    note: AuditNote<'_>,
) -> Result<(), OfficeError> {
    let mut tx = db.begin().await?;
    sqlx::query("UPDATE staff SET totp_secret = $1 WHERE id = $2")
        .bind(secret)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    note.write(&mut tx, tenant).await?;
    tx.commit().await?;
    Ok(())
}

// ------------------------------------------------------------------ sessions

pub const SESSION_LIFE: time::Duration = time::Duration::hours(10);

/// Open a session; `pending` until the second factor is given.
pub async fn open_session(
    db: &Db,
    tenant: &str,
    staff: i64,
    pending: bool,
    ip: &str,
) -> Result<String, OfficeError> {
    let token = crate::security::random_token();
    sqlx::query(
        "INSERT INTO staff_sessions (tenant_id, staff_id, token_hash, pending, created_at, expires_at, ip) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(tenant)
    .bind(staff)
    .bind(sha256_hex(&token))
    .bind(i64::from(pending))
    .bind(now_ts())
    .bind(ts(now() + SESSION_LIFE))
    .bind(ip)
    .execute(&db.pool)
    .await?;
    Ok(token)
}

/// The staff id and pending flag of a live session in this tenant's office.
pub async fn session(
    db: &Db,
    tenant: &str,
    token: &str,
) -> Result<Option<(i64, bool)>, OfficeError> {
    let row: Option<(i64, i64)> = sqlx::query_as(
        "SELECT staff_id, pending FROM staff_sessions WHERE tenant_id = $1 AND token_hash = $2 AND expires_at > $3",
    )
    .bind(tenant)
    .bind(sha256_hex(token))
    .bind(now_ts())
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.map(|(id, p)| (id, p != 0)))
}

pub async fn confirm_session(db: &Db, tenant: &str, token: &str) -> Result<(), OfficeError> {
    sqlx::query("UPDATE staff_sessions SET pending = 0 WHERE tenant_id = $1 AND token_hash = $2")
        .bind(tenant)
        .bind(sha256_hex(token))
        .execute(&db.pool)
        .await?;
    Ok(())
}

pub async fn close_session(db: &Db, tenant: &str, token: &str) -> Result<(), OfficeError> {
    sqlx::query("DELETE FROM staff_sessions WHERE tenant_id = $1 AND token_hash = $2")
        .bind(tenant)
        .bind(sha256_hex(token))
        .execute(&db.pool)
        .await?;
    Ok(())
}

// --------------------------------------------------------------------- audit

/// What an audit entry is about. The log stores it as `<kind>:<id>`, the
/// words rows written before this type had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audited {
    Application(i64),
    Appeal(i64),
    Document(i64),
    Staff(i64),
}

impl std::fmt::Display for Audited {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Audited::Application(id) => write!(f, "application:{id}"),
            Audited::Appeal(id) => write!(f, "appeal:{id}"),
            Audited::Document(id) => write!(f, "document:{id}"),
            Audited::Staff(id) => write!(f, "staff:{id}"),
        }
    }
}

/// What an audit entry records. The log stores [`AuditAction::as_str`],
/// the words rows written before this type had, so old rows still read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    Login,
    LoginFailed,
    CodeFailed,
    TotpOn,
    TotpOff,
    StaffAdd,
    StaffOn,
    StaffOff,
    Export,
    /// A card action, logged by its own name.
    Card(card::CardAction),
    /// A document sent to an applicant from the card.
    Document,
    DocumentAdd,
    DocumentDelete,
    Content,
    AppealTake,
    AppealAnswer,
}

impl AuditAction {
    pub const ALL: [AuditAction; 22] = {
        use card::CardAction as C;
        [
            Self::Login,
            Self::LoginFailed,
            Self::CodeFailed,
            Self::TotpOn,
            Self::TotpOff,
            Self::StaffAdd,
            Self::StaffOn,
            Self::StaffOff,
            Self::Export,
            Self::Card(C::Status),
            Self::Card(C::CustomStatus),
            Self::Card(C::Number),
            Self::Card(C::Assign),
            Self::Card(C::Message),
            Self::Card(C::Request),
            Self::Card(C::Stage),
            Self::Document,
            Self::DocumentAdd,
            Self::DocumentDelete,
            Self::Content,
            Self::AppealTake,
            Self::AppealAnswer,
        ]
    };

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::LoginFailed => "login_failed",
            Self::CodeFailed => "code_failed",
            Self::TotpOn => "totp_on",
            Self::TotpOff => "totp_off",
            Self::StaffAdd => "staff_add",
            Self::StaffOn => "staff_on",
            Self::StaffOff => "staff_off",
            Self::Export => "export",
            Self::Card(action) => action.id(),
            Self::Document => "document",
            Self::DocumentAdd => "document_add",
            Self::DocumentDelete => "document_delete",
            Self::Content => "content",
            Self::AppealTake => "appeal_take",
            Self::AppealAnswer => "appeal_answer",
        }
    }

    pub fn parse(stored: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == stored)
    }

    /// The entry as the tenant admin reads it.
    pub fn title(self) -> &'static str {
        use card::CardAction as C;
        match self {
            Self::Login => "Вход",
            Self::LoginFailed => "Неудачный вход",
            Self::CodeFailed => "Неверный код второго фактора",
            Self::TotpOn => "Включён код при входе",
            Self::TotpOff => "Отключён код при входе",
            Self::StaffAdd => "Добавлен сотрудник",
            Self::StaffOn => "Доступ сотрудника восстановлен",
            Self::StaffOff => "Доступ сотрудника закрыт",
            Self::Export => "Выгрузка очереди",
            Self::Card(C::Status) => "Смена статуса",
            Self::Card(C::CustomStatus) => "Свой статус",
            Self::Card(C::Number) => "Регистрационный номер",
            Self::Card(C::Assign) => "Назначение исполнителя",
            Self::Card(C::Message) => "Сообщение заявителю",
            Self::Card(C::Request) => "Запрос документов",
            Self::Card(C::Stage) => "Этап работ",
            Self::Document => "Документ заявителю",
            Self::DocumentAdd => "Опубликован нормативный документ",
            Self::DocumentDelete => "Удалён нормативный документ",
            Self::Content => "Изменены страницы портала",
            Self::AppealTake => "Обращение взято в работу",
            Self::AppealAnswer => "Ответ на обращение",
        }
    }
}

/// Record a staff action, inside the caller's transaction when there is one.
pub async fn audit<'c, E: sqlx::Executor<'c, Database = Any>>(
    ex: E,
    tenant: &str,
    staff: Option<i64>,
    action: AuditAction,
    target: Option<Audited>,
    detail: &str,
    ip: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_log (tenant_id, staff_id, action, target, detail, ip, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(tenant)
    .bind(staff)
    .bind(action.as_str())
    .bind(target.map(|t| t.to_string()))
    .bind(detail.chars().take(2000).collect::<String>())
    .bind(ip)
    .bind(now_ts())
    .execute(ex)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub at: String,
    pub who: Option<String>,
    pub action: String,
    pub target: Option<String>,
    /// What the target is called in the tenant, read when the log is; `None`
    /// for a target no longer there.
    pub about: Option<AuditTarget>,
    pub detail: String,
    pub ip: Option<String>,
}

/// An audit entry's target by the tenant's own names: a registration number
/// or a date, never the platform's row id.
#[derive(Debug, Clone, Serialize)]
pub enum AuditTarget {
    Application {
        number: Option<String>,
        created_at: String,
    },
    Appeal {
        topic: String,
        created_at: String,
    },
    Document {
        title: String,
    },
    Staff {
        name: String,
    },
}

/// The newest entries of the tenant's audit log.
pub async fn audit_log(
    db: &Db,
    tenant: &str,
    limit: i64,
    page: i64,
) -> Result<Vec<AuditEntry>, OfficeError> {
    let rows: Vec<AuditRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT l.created_at, s.name, l.action, l.target, l.detail, l.ip FROM audit_log l \
             LEFT JOIN staff s ON s.id = l.staff_id WHERE l.tenant_id = $1 ORDER BY l.id DESC \
             LIMIT {} OFFSET {}",
        limit.clamp(1, 500),
        page.clamp(0, 100_000) * limit.clamp(1, 500)
    )))
    .bind(tenant)
    .fetch_all(&db.pool)
    .await?;
    let mut ids: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for r in &rows {
        if let Some((kind, id)) = r.target.as_deref().and_then(|t| t.split_once(':'))
            && let Ok(id) = id.parse::<i64>()
        {
            ids.entry(kind).or_default().push(id);
        }
    }
    let about = audit_targets(db, tenant, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|r| AuditEntry {
            about: r.target.as_ref().and_then(|t| about.get(t).cloned()),
            at: r.created_at,
            who: r.name,
            action: r.action,
            target: r.target,
            detail: r.detail,
            ip: r.ip,
        })
        .collect())
}

/// The names of one page's audit targets, keyed as the log stores them
/// (`application:12`): one query per kind of target.
async fn audit_targets(
    db: &Db,
    tenant: &str,
    ids: &BTreeMap<&str, Vec<i64>>,
) -> Result<BTreeMap<String, AuditTarget>, sqlx::Error> {
    let mut out = BTreeMap::new();
    for (kind, ids) in ids {
        let sql = match *kind {
            "application" => "SELECT id, number, created_at FROM applications",
            "appeal" => "SELECT id, topic, created_at FROM appeals",
            "document" => "SELECT id, title, created_at FROM normative_documents",
            "staff" => "SELECT id, name, created_at FROM staff",
            _ => continue,
        };
        // Parsed integers only, so the list is safe to splice in.
        let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        // Platform staff work in every tenant's office and belong to none.
        let scope = if *kind == "staff" {
            format!("tenant_id IN ($1, '{PLATFORM}')")
        } else {
            "tenant_id = $1".to_string()
        };
        let found: Vec<(i64, Option<String>, String)> = sqlx::query_as(sqlx::AssertSqlSafe(
            format!("{sql} WHERE {scope} AND id IN ({list})"),
        ))
        .bind(tenant)
        .fetch_all(&db.pool)
        .await?;
        for (id, name, created_at) in found {
            let name_or_empty = name.clone().unwrap_or_default();
            let t = match *kind {
                "application" => AuditTarget::Application {
                    number: name,
                    created_at,
                },
                "appeal" => AuditTarget::Appeal {
                    topic: name_or_empty,
                    created_at,
                },
                "document" => AuditTarget::Document {
                    title: name_or_empty,
                },
                _ => AuditTarget::Staff {
                    name: name_or_empty,
                },
            };
            out.insert(format!("{kind}:{id}"), t);
        }
    }
    Ok(out)
}

// ------------------------------------------------------------------ messages

#[derive(Debug, Clone, Serialize)]
pub struct Message {
    pub id: i64,
    pub side: String,
    pub kind: String,
    pub author: Author,
    pub title: Option<String>,
    pub body: String,
    pub file_id: Option<i64>,
    pub created_at: String,
}

/// What goes into an application's correspondence.
pub struct NewMessage<'a> {
    pub side: &'a str,
    pub kind: &'a str,
    pub author: Author,
    pub title: Option<&'a str>,
    /// Already sanitised HTML.
    pub body: &'a str,
    pub file_id: Option<i64>,
}

pub async fn add_message(
    tx: &mut sqlx::AnyConnection,
    tenant: &str,
    application: i64,
    m: NewMessage<'_>,
) -> Result<i64, sqlx::Error> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO application_messages (tenant_id, application_id, side, kind, author, title, body, file_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(tenant)
    .bind(application)
    .bind(m.side)
    .bind(m.kind)
    .bind(m.author.to_string())
    .bind(m.title)
    .bind(m.body)
    .bind(m.file_id)
    .bind(now_ts())
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query("UPDATE applications SET updated_at = $1 WHERE id = $2 AND tenant_id = $3")
        .bind(now_ts())
        .bind(application)
        .bind(tenant)
        .execute(&mut *tx)
        .await?;
    Ok(id)
}

pub async fn messages(
    db: &Db,
    tenant: &str,
    application: i64,
) -> Result<Vec<Message>, OfficeError> {
    let rows: Vec<MessageRow> = sqlx::query_as(
        "SELECT id, side, kind, author, title, body, file_id, created_at FROM application_messages \
             WHERE tenant_id = $1 AND application_id = $2 ORDER BY id",
    )
    .bind(tenant)
    .bind(application)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Message {
            id: r.id,
            side: r.side,
            kind: r.kind,
            author: Author::parse(&r.author),
            title: r.title,
            body: r.body,
            file_id: r.file_id,
            created_at: r.created_at,
        })
        .collect())
}

/// Rich text from staff or applicants, cut down to what is safe to show:
/// paragraphs, emphasis, lists and links (which open without a referrer).
pub fn sanitize(html: &str) -> String {
    ammonia::Builder::default()
        .tags(maplit_tags())
        .link_rel(Some("noopener noreferrer nofollow"))
        .url_schemes(["http", "https", "mailto"].into_iter().collect())
        .clean(html)
        .to_string()
}

/// A portal page written in the page editor: what [`sanitize`] keeps, and
/// section headings (h2; the page has its own h1).
pub fn sanitize_page(html: &str) -> String {
    let mut tags = maplit_tags();
    tags.insert("h2");
    ammonia::Builder::default()
        .tags(tags)
        .link_rel(Some("noopener noreferrer nofollow"))
        .url_schemes(["http", "https", "mailto"].into_iter().collect())
        .clean(html)
        .to_string()
}

fn maplit_tags() -> std::collections::HashSet<&'static str> {
    [
        "p",
        "br",
        "b",
        "strong",
        "i",
        "em",
        "u",
        "s",
        "ul",
        "ol",
        "li",
        "a",
        "blockquote",
        "h3",
        "h4",
    ]
    .into_iter()
    .collect()
}

/// What staff type into a rich-text box: HTML cut down by [`sanitize`]
/// when it has markup, otherwise plain text with its paragraphs.
pub fn rich_text(input: &str) -> String {
    let looks_like_html = input.contains('<') && input.contains('>');
    if looks_like_html {
        sanitize(input)
    } else {
        sanitize(&text_to_html(input))
    }
}

/// Sanitised HTML as plain text for an email body: block ends become line
/// breaks, tags go and entities are read back, so the reader sees the words.
pub fn html_to_text(html: &str) -> String {
    let mut marked = html.to_string();
    for end in [
        "</p>",
        "</li>",
        "</h1>",
        "</h2>",
        "</h3>",
        "</h4>",
        "</blockquote>",
        "</pre>",
    ] {
        marked = marked.replace(end, &format!("{end}\n\n"));
    }
    for br in ["<br>", "<br/>", "<br />"] {
        marked = marked.replace(br, "\n");
    }
    let bare = ammonia::Builder::empty().clean(&marked).to_string();
    let text = bare
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    let mut out = String::new();
    for para in text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        if !out.is_empty() {
            out.push_str("\n\n");
        }
        out.push_str(para);
    }
    out
}

/// Text escaped for HTML or XML, in an element or a quoted attribute.
fn escape_markup(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Plain text typed into a box, as safe HTML with its line breaks.
pub fn text_to_html(text: &str) -> String {
    escape_markup(text)
        .split("\n\n")
        .map(|p| format!("<p>{}</p>", p.trim().replace('\n', "<br>")))
        .collect()
}

// ------------------------------------------------------------ deadline clock

/// Stop the deadline clock of an application (the applicant is asked for something).
pub async fn stop_clock(
    tx: &mut sqlx::AnyConnection,
    tenant: &crate::tenant::Tenant,
    application: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE applications SET clock_stopped_on = $1 WHERE id = $2 AND tenant_id = $3 AND clock_stopped_on IS NULL",
    )
    .bind(tenant.today().to_string())
    .bind(application)
    .bind(&tenant.slug)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Start the clock again when the applicant answers: the due date moves by
/// the working days it stood still.
/// The day the deadline clock of an application stopped, while it stands still.
pub async fn clock_stopped_on(
    db: &Db,
    tenant: &str,
    application: i64,
) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(Option<String>,)> = sqlx::query_as(
        "SELECT clock_stopped_on FROM applications WHERE id = $1 AND tenant_id = $2",
    )
    .bind(application)
    .bind(tenant)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.and_then(|(d,)| d))
}

pub async fn resume_clock(
    tx: &mut sqlx::AnyConnection,
    tenant: &crate::tenant::Tenant,
    application: i64,
) -> Result<(), sqlx::Error> {
    let row: Option<(Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT clock_stopped_on, due_on FROM applications WHERE id = $1 AND tenant_id = $2",
    )
    .bind(application)
    .bind(&tenant.slug)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((Some(stopped), due)) = row else {
        return Ok(());
    };
    let cal = crate::workflow::calendar::Calendar::of(tenant.config.workflow.calendar);
    let parse = crate::workflow::calendar::parse_date;
    let today = tenant.today();
    let new_due = match (parse(&stopped), due.as_deref().and_then(parse)) {
        (Some(s), Some(d)) => {
            let paused = cal.working_days_between(s, today);
            Some(cal.add_working_days(d, paused as u32).to_string())
        }
        _ => due,
    };
    sqlx::query(
        "UPDATE applications SET clock_stopped_on = NULL, due_on = $1 WHERE id = $2 AND tenant_id = $3",
    )
    .bind(new_due)
    .bind(application)
    .bind(&tenant.slug)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_actions_are_stored_as_the_words_old_rows_have() {
        let stored: Vec<_> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(
            stored,
            [
                "login",
                "login_failed",
                "code_failed",
                "totp_on",
                "totp_off",
                "staff_add",
                "staff_on",
                "staff_off",
                "export",
                "status",
                "custom_status",
                "number",
                "assign",
                "message",
                "request",
                "stage",
                "document",
                "document_add",
                "document_delete",
                "content",
                "appeal_take",
                "appeal_answer",
            ]
        );
        for a in AuditAction::ALL {
            assert_eq!(AuditAction::parse(a.as_str()), Some(a));
        }
        assert_eq!(AuditAction::parse("something_else"), None);
        let targets = [
            Audited::Application(1),
            Audited::Appeal(2),
            Audited::Document(3),
            Audited::Staff(4),
        ]
        .map(|t| t.to_string());
        assert_eq!(
            targets,
            ["application:1", "appeal:2", "document:3", "staff:4"]
        );
    }

    #[test]
    fn an_html_answer_reads_as_plain_text_in_an_email() {
        let html = rich_text(
            "<p>ТУ &amp; договор <b>готовы</b>.<br>Срок: 5 дней</p><ul><li>один</li><li>два</li></ul><script>x</script>",
        );
        assert_eq!(
            html_to_text(&html),
            "ТУ & договор готовы.\nСрок: 5 дней\n\nодин\n\nдва"
        );
        // Typed plain text keeps its paragraphs and its angle brackets.
        assert_eq!(
            html_to_text(&rich_text("a < b\n\nвторой абзац")),
            "a < b\n\nвторой абзац"
        );
    }
}
