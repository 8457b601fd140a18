//! Applicant accounts: the account row, field validation against the
//! tenant's schema, password hashing, and the queries that read and change
//! accounts. Every query is scoped by `tenant_id`.

pub mod codes;
pub mod common;
pub mod contacts;
pub mod key_login;
pub mod password;
pub mod registration;
pub mod session;
pub mod signin;

use crate::store::{Author, Db, now_ts};
use crate::tenant::Tenant;
use crate::tenant::config::{ApplicantType, FieldDef, FieldKind, HeaderRole};
use sqlx::{Any, Executor};
use std::collections::BTreeMap;

/// Field id → message, shown under the field.
pub type FieldErrors = BTreeMap<String, String>;

/// The key of an error about the whole form rather than one field.
pub const FORM_ERROR: &str = "_form";

#[derive(Debug, Clone, serde::Serialize)]
pub struct Account {
    pub id: i64,
    pub tenant_id: String,
    pub applicant_type: ApplicantTypeId,
    pub email: Option<String>,
    pub login: Option<String>,
    pub phone: Option<String>,
    #[serde(skip)]
    pub password_hash: String,
    pub profile: BTreeMap<String, String>,
    pub email_confirmed: bool,
    pub phone_confirmed: bool,
    pub created_at: String,
}

/// The applicant type as stored; kept as text so an account survives a
/// tenant dropping a type from its config.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(transparent)]
pub struct ApplicantTypeId(pub String);

impl ApplicantTypeId {
    pub fn get(&self) -> Option<ApplicantType> {
        ApplicantType::from_id(&self.0)
    }
}

/// An `accounts` row as [`COLUMNS`] selects it.
#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    tenant_id: String,
    applicant_type: String,
    email: Option<String>,
    login: Option<String>,
    phone: Option<String>,
    password_hash: String,
    profile: String,
    email_confirmed_at: Option<String>,
    phone_confirmed_at: Option<String>,
    created_at: String,
}

const COLUMNS: &str = "id, tenant_id, applicant_type, email, login, phone, password_hash, profile, \
                       email_confirmed_at, phone_confirmed_at, created_at";

/// [`COLUMNS`] of the table named `a` in a join.
const COLUMNS_OF_A: &str = "a.id, a.tenant_id, a.applicant_type, a.email, a.login, a.phone, \
                            a.password_hash, a.profile, a.email_confirmed_at, a.phone_confirmed_at, a.created_at";

fn from_row(r: Row) -> Account {
    Account {
        id: r.id,
        tenant_id: r.tenant_id,
        applicant_type: ApplicantTypeId(r.applicant_type),
        email: r.email,
        login: r.login,
        phone: r.phone,
        password_hash: r.password_hash,
        profile: serde_json::from_str(&r.profile).unwrap_or_default(),
        email_confirmed: r.email_confirmed_at.is_some(),
        phone_confirmed: r.phone_confirmed_at.is_some(),
        created_at: r.created_at,
    }
}

/// Which column a login identifier is looked up in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Email,
    Login,
    Phone,
}

impl Key {
    fn column(self) -> &'static str {
        match self {
            Key::Email => "email",
            Key::Login => "login",
            Key::Phone => "phone",
        }
    }
}

pub async fn find_by(
    db: &Db,
    tenant: &str,
    key: Key,
    value: &str,
) -> Result<Option<Account>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM accounts WHERE tenant_id = $1 AND {} = $2",
        key.column()
    );
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tenant)
        .bind(value)
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.map(from_row))
}

pub async fn get(db: &Db, tenant: &str, id: i64) -> Result<Option<Account>, sqlx::Error> {
    get_on(&db.pool, tenant, id).await
}

/// [`get`] on a given connection or transaction.
pub async fn get_on<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(
    ex: E,
    tenant: &str,
    id: i64,
) -> Result<Option<Account>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM accounts WHERE tenant_id = $1 AND id = $2"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_optional(ex)
    .await?;
    Ok(row.map(from_row))
}

/// Whether `value` is free in `key` for the tenant (optionally ignoring one account).
pub async fn is_free(
    db: &Db,
    tenant: &str,
    key: Key,
    value: &str,
    except: Option<i64>,
) -> Result<bool, sqlx::Error> {
    is_free_on(&db.pool, tenant, key, value, except).await
}

/// [`is_free`] on a given connection or transaction.
pub async fn is_free_on<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(
    ex: E,
    tenant: &str,
    key: Key,
    value: &str,
    except: Option<i64>,
) -> Result<bool, sqlx::Error> {
    let sql = format!(
        "SELECT id FROM accounts WHERE tenant_id = $1 AND {} = $2 AND id <> $3",
        key.column()
    );
    let row: Option<(i64,)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tenant)
        .bind(value)
        .bind(except.unwrap_or(-1))
        .fetch_optional(ex)
        .await?;
    Ok(row.is_none())
}

pub struct NewAccount<'a> {
    pub tenant: &'a str,
    pub applicant_type: ApplicantType,
    pub email: Option<&'a str>,
    pub login: Option<&'a str>,
    pub phone: Option<&'a str>,
    pub password_hash: &'a str,
    pub profile: &'a BTreeMap<String, String>,
}

pub async fn insert(tx: &mut sqlx::AnyConnection, a: &NewAccount<'_>) -> Result<i64, sqlx::Error> {
    let now = now_ts();
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO accounts (tenant_id, applicant_type, email, login, phone, password_hash, \
         profile, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id",
    )
    .bind(a.tenant)
    .bind(a.applicant_type.id())
    .bind(a.email)
    .bind(a.login)
    .bind(a.phone)
    .bind(a.password_hash)
    .bind(serde_json::to_string(a.profile).unwrap_or_else(|_| "{}".into()))
    .bind(&now)
    .fetch_one(&mut *tx)
    .await?;
    Ok(id)
}

pub async fn save_profile(
    tx: &mut sqlx::AnyConnection,
    tenant: &str,
    id: i64,
    profile: &BTreeMap<String, String>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE accounts SET profile = $1, updated_at = $2 WHERE tenant_id = $3 AND id = $4",
    )
    .bind(serde_json::to_string(profile).unwrap_or_else(|_| "{}".into()))
    .bind(now_ts())
    .bind(tenant)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Set a new password. Reset links sent before it die with the old
/// password: one found later in a mailbox must not undo the change.
pub async fn set_password(
    tx: &mut sqlx::AnyConnection,
    tenant: &str,
    id: i64,
    hash: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE accounts SET password_hash = $1, updated_at = $2 WHERE tenant_id = $3 AND id = $4",
    )
    .bind(hash)
    .bind(now_ts())
    .bind(tenant)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    codes::kill_links(&mut *tx, tenant, id, codes::purpose::RESET_PASSWORD).await?;
    Ok(())
}

/// Set a confirmed email address (after a followed link).
pub async fn set_email_confirmed(
    tx: &mut sqlx::AnyConnection,
    tenant: &str,
    id: i64,
    email: &str,
) -> Result<(), sqlx::Error> {
    let now = now_ts();
    sqlx::query(
        "UPDATE accounts SET email = $1, email_confirmed_at = $2, updated_at = $2 \
         WHERE tenant_id = $3 AND id = $4",
    )
    .bind(email)
    .bind(&now)
    .bind(tenant)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Set a confirmed phone (after a correct SMS code).
pub async fn set_phone_confirmed(
    tx: &mut sqlx::AnyConnection,
    tenant: &str,
    id: i64,
    phone: &str,
) -> Result<(), sqlx::Error> {
    let now = now_ts();
    sqlx::query(
        "UPDATE accounts SET phone = $1, phone_confirmed_at = $2, updated_at = $2 \
         WHERE tenant_id = $3 AND id = $4",
    )
    .bind(phone)
    .bind(&now)
    .bind(tenant)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Append one event to the account's history.
pub async fn event<'c, E: Executor<'c, Database = Any>>(
    ex: E,
    tenant: &str,
    account: Option<i64>,
    kind: &str,
    data: serde_json::Value,
    actor: Author,
    ip: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO events (tenant_id, account_id, kind, data, actor, ip, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(tenant)
    .bind(account)
    .bind(kind)
    .bind(data.to_string())
    .bind(actor.to_string())
    .bind(ip)
    .bind(now_ts())
    .execute(ex)
    .await?;
    Ok(())
}

/// Lower-cased, trimmed email, or None if it is not an address.
pub fn normalize_email(s: &str) -> Option<String> {
    let s = s.trim().to_lowercase();
    crate::tenant::is_email(&s).then_some(s)
}

/// A phone in `+<digits>` form. Russian and Kazakh numbers typed as
/// `8 900 …`, `900 …` or `+7 (900) …` all become `+7900…`.
pub fn normalize_phone(s: &str) -> Option<String> {
    let s = s.trim();
    if s.chars()
        .any(|c| !(c.is_ascii_digit() || " +-()".contains(c)))
    {
        return None;
    }
    let digits: String = s.chars().filter(|c| c.is_ascii_digit()).collect();
    let plus = s.starts_with('+');
    let e164 = match (plus, digits.len()) {
        (false, 11) if digits.starts_with('8') || digits.starts_with('7') => {
            format!("+7{}", &digits[1..])
        }
        (false, 10) => format!("+7{digits}"),
        (true, 10..=15) => format!("+{digits}"),
        _ => return None,
    };
    // Russian and Kazakh numbers are +7 and 11 digits long.
    if e164.starts_with("+7") && e164.len() != 12 {
        return None;
    }
    Some(e164)
}

/// Login names: 3–40 of latin letters, digits, `.`, `_`, `-`.
pub fn normalize_login(s: &str) -> Result<String, &'static str> {
    let s = s.trim().to_lowercase();
    if s.len() < 3 || s.len() > 40 {
        return Err("Логин: от 3 до 40 символов");
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        return Err("Логин: только латинские буквы, цифры, точка, дефис и подчёркивание");
    }
    if s.contains('@') || s.chars().all(|c| c.is_ascii_digit()) {
        return Err("Логин не может быть адресом почты или номером телефона");
    }
    Ok(s)
}

/// Hold the account's row until the transaction ends, so that a
/// check-then-insert for this account (one draft at a time) runs alone: a
/// write first makes PostgreSQL lock the row. A SQLite transaction of
/// [`crate::store::Db::begin`] holds the database's one write lock from its
/// BEGIN, so there the write would only cost a round trip.
pub async fn lock(
    tx: &mut crate::store::Tx,
    tenant: &str,
    account: i64,
) -> Result<(), sqlx::Error> {
    if crate::store::Dialect::of(tx) != crate::store::Dialect::Postgres {
        return Ok(());
    }
    sqlx::query("UPDATE accounts SET id = id WHERE id = $1 AND tenant_id = $2")
        .bind(account)
        .bind(tenant)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A stored field value as people read it: dates as "01.06.2027", numbers
/// with a decimal comma, a ticked box as "да".
pub fn shown_value(f: &FieldDef, stored: &str) -> String {
    match f.kind {
        FieldKind::Date => crate::tenant::ru_date(stored),
        FieldKind::Number => stored.replace('.', ","),
        FieldKind::Checkbox if !stored.is_empty() => "да".into(),
        FieldKind::Phone => crate::tenant::templates::shown_phone(stored),
        _ => stored.to_string(),
    }
}

/// The error for a value longer than its field allows, if it is: checked
/// on every save of a draft too, where nothing else is checked yet.
pub fn too_long(f: &FieldDef, raw: &str) -> Option<String> {
    let max = f.max_length.unwrap_or(match f.kind {
        FieldKind::Textarea => 4000,
        _ => 300,
    });
    (raw.chars().count() > max).then(|| format!("Не длиннее {max} символов"))
}

/// A checkbox as stored and as plugins see it: `yes` when ticked, empty
/// when not, whatever the browser sent (`on`, or a script's `true`/`1`).
pub fn checkbox_value(raw: &str) -> &'static str {
    if matches!(raw.trim(), "on" | "true" | "1" | "yes") {
        "yes"
    } else {
        ""
    }
}

/// Check one tenant-defined field's raw input and return its stored form.
/// An empty optional field stores as empty.
pub fn check_field(tenant: &Tenant, f: &FieldDef, raw: Option<&str>) -> Result<String, String> {
    let raw = raw.unwrap_or("").trim();
    if f.kind == FieldKind::Checkbox {
        let value = checkbox_value(raw);
        if f.required && value.is_empty() {
            return Err(format!("Отметьте «{}»", f.label));
        }
        return Ok(value.into());
    }
    if raw.is_empty() {
        return if f.required {
            Err("Заполните это поле".into())
        } else {
            Ok(String::new())
        };
    }
    if let Some(e) = too_long(f, raw) {
        return Err(e);
    }
    match f.kind {
        FieldKind::Email => normalize_email(raw)
            .ok_or_else(|| "Введите адрес почты, например ivanov@mail.ru".into()),
        FieldKind::Phone => normalize_phone(raw)
            .ok_or_else(|| "Введите номер телефона, например +7 900 123-45-67".into()),
        FieldKind::Date => time::Date::parse(
            raw,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .map(|_| raw.to_string())
        .map_err(|_| "Введите дату в формате ГГГГ-ММ-ДД".into()),
        FieldKind::Number => raw
            .replace(',', ".")
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .map(|_| raw.replace(',', "."))
            .ok_or_else(|| "Введите число".into()),
        FieldKind::Select => {
            let list = f.options().and_then(|o| tenant.list(o)).unwrap_or(&[]);
            if list.iter().any(|v| v == raw) {
                Ok(raw.to_string())
            } else {
                Err("Выберите значение из списка".into())
            }
        }
        // Files are attached separately; a slot carries no text value.
        FieldKind::File => Ok(String::new()),
        FieldKind::Text | FieldKind::Textarea => {
            if let Some(v) = f.validate()
                && let Some(kind) = tapline_ids::IdKind::from_name(v)
            {
                return tapline_ids::validate(kind, raw).map_err(|e| e.to_string());
            }
            Ok(raw.to_string())
        }
        FieldKind::Checkbox => unreachable!("handled above"),
    }
}

/// Check every field of `fields` from `form`, collecting values and errors.
pub fn check_fields<'a>(
    tenant: &Tenant,
    fields: impl Iterator<Item = &'a FieldDef>,
    form: &BTreeMap<String, String>,
    values: &mut BTreeMap<String, String>,
    errors: &mut FieldErrors,
) {
    for f in fields {
        let id = f.id();
        match check_field(tenant, f, form.get(id).map(String::as_str)) {
            Ok(v) => {
                values.insert(id.to_string(), v);
            }
            Err(e) => {
                values.insert(id.to_string(), form.get(id).cloned().unwrap_or_default());
                errors.insert(id.to_string(), e);
            }
        }
    }
}

/// Required profile fields that are still empty or invalid: the
/// applications issue refuses to submit until this is empty.
pub fn missing_profile_fields(tenant: &Tenant, a: &Account) -> Vec<String> {
    let Some(t) = a.applicant_type.get() else {
        return vec!["Тип заявителя".into()];
    };
    let mut missing: Vec<String> = tenant
        .fields_for(t)
        .filter(|f| {
            let v = a.profile.get(f.id()).map(String::as_str);
            (f.required && v.unwrap_or("").is_empty())
                || (v.is_some_and(|v| !v.is_empty()) && check_field(tenant, f, v).is_err())
        })
        .map(|f| f.label.clone())
        .collect();
    if tenant.config.accounts.confirm_phone && a.phone.is_some() && !a.phone_confirmed {
        missing.push("Подтверждение телефона".into());
    }
    missing
}

/// What the header shows: display name and identifiers.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Badge {
    pub name: String,
    pub type_title: String,
    pub ids: Vec<(String, String)>,
}

pub fn badge(tenant: &Tenant, a: &Account) -> Badge {
    let fallback = a
        .email
        .clone()
        .or_else(|| a.login.clone())
        .or_else(|| a.phone.clone());
    badge_of(tenant, a.applicant_type.get(), &a.profile, fallback)
}

/// The name and identifiers the tenant's header fields make of a profile;
/// `fallback` names someone whose profile has no name yet.
pub fn badge_of(
    tenant: &Tenant,
    t: Option<ApplicantType>,
    profile: &BTreeMap<String, String>,
    fallback: Option<String>,
) -> Badge {
    let mut name = Vec::new();
    let mut ids = Vec::new();
    if let Some(t) = t {
        for f in tenant.fields_for(t) {
            let v = profile.get(f.id()).cloned().unwrap_or_default();
            if v.is_empty() {
                continue;
            }
            match f.header {
                Some(HeaderRole::Name) => name.push(v),
                Some(HeaderRole::Id) => ids.push((f.label.clone(), v)),
                None => {}
            }
        }
    }
    let name = if name.is_empty() {
        fallback.unwrap_or_default()
    } else {
        name.join(" ")
    };
    Badge {
        name,
        type_title: t
            .map(|t| tenant.type_title(t).to_string())
            .unwrap_or_default(),
        ids,
    }
}

/// A plugin's errors join the form's: an empty field means the whole form,
/// and a field the core already faulted keeps the core's message.
pub fn add_plugin_errors(errors: &mut FieldErrors, found: Vec<crate::plugin::types::FieldError>) {
    for e in found {
        let key = if e.field.is_empty() {
            FORM_ERROR.to_string()
        } else {
            e.field
        };
        errors.entry(key).or_insert(e.message);
    }
}

/// What is wrong with a typed text, if anything: each form words it its own way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextProblem {
    Empty,
    TooLong,
}

/// A trimmed text checked against its limit in characters.
pub fn text_problem(text: &str, max: usize) -> Option<TextProblem> {
    if text.trim().is_empty() {
        Some(TextProblem::Empty)
    } else if text.chars().count() > max {
        Some(TextProblem::TooLong)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_joined_columns_are_the_columns() {
        assert_eq!(super::COLUMNS_OF_A.replace("a.", ""), super::COLUMNS);
    }
}
