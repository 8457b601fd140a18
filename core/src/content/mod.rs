//! Content the tenant admin keeps from the office: the text of the login
//! and registration pages, the home page, the help page (sanitised rich
//! text) and the link to blank application forms; and the normative
//! documents staff publish per city for applicants to download
//! ([`publish_document`], [`withdraw_document`]).

use crate::account::FieldErrors;
use crate::document::{FileStore, FileType, Stored};
use crate::office::{AuditAction, Audited};
use crate::store::{Db, now_ts};
use crate::tenant::Tenant;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// The pages an admin may edit, with their names in the office.
pub const PAGES: [(&str, &str); 3] = [
    ("login", "Текст на страницах входа и регистрации"),
    ("home", "Главная страница кабинета"),
    ("help", "Справка"),
];
/// The setting holding the link to blank application forms (seed 003).
pub const BLANK_FORMS_URL: &str = "blank_forms_url";

#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// Errors beside the fields; nothing saved.
    #[error("the form has errors")]
    Invalid(crate::account::FieldErrors),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Saves the editable pages and the blank-forms link from the admin's form
/// (each page sanitised, the link http or https), with the audit entry.
/// The caller forgets the tenant's cached pages afterwards.
pub async fn save_pages(
    db: &Db,
    tenant: &str,
    staff: i64,
    form: &BTreeMap<String, String>,
    ip: &str,
) -> Result<(), SaveError> {
    let mut errors = crate::account::FieldErrors::new();
    let url = form
        .get(BLANK_FORMS_URL)
        .map(|u| u.trim().to_string())
        .unwrap_or_default();
    let url = if url.is_empty() {
        Some(String::new())
    } else {
        url::Url::parse(&url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .map(|u| u.to_string())
    };
    let Some(url) = url else {
        errors.insert(
            BLANK_FORMS_URL.into(),
            "Укажите адрес, начинающийся с https:// или http://".into(),
        );
        return Err(SaveError::Invalid(errors));
    };
    for (key, _) in PAGES {
        let body = form.get(key).map(String::as_str).unwrap_or_default();
        if body.chars().count() > 50_000 {
            errors.insert(key.into(), "Не больше 50 000 символов".into());
        }
    }
    if !errors.is_empty() {
        return Err(SaveError::Invalid(errors));
    }
    let mut tx = db.begin().await?;
    for (key, _) in PAGES {
        let body = form.get(key).map(String::as_str).unwrap_or_default();
        set_page(
            &mut tx,
            tenant,
            key,
            &crate::office::sanitize_page(body),
            staff,
        )
        .await?;
    }
    set_page(&mut tx, tenant, BLANK_FORMS_URL, &url, staff).await?;
    crate::office::audit(
        &mut *tx,
        tenant,
        Some(staff),
        AuditAction::Content,
        None,
        "",
        ip,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn pages(db: &Db, tenant: &str) -> Result<BTreeMap<String, String>, sqlx::Error> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT key, body FROM pages WHERE tenant_id = $1")
            .bind(tenant)
            .fetch_all(&db.pool)
            .await?;
    Ok(rows.into_iter().collect())
}

/// Set a page (already sanitised) or, with an empty body, go back to the
/// tenant.toml default; inside the caller's transaction, so a form's pages
/// and its audit entry are saved together.
pub async fn set_page(
    tx: &mut sqlx::AnyConnection,
    tenant: &str,
    key: &str,
    body: &str,
    staff: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM pages WHERE tenant_id = $1 AND key = $2")
        .bind(tenant)
        .bind(key)
        .execute(&mut *tx)
        .await?;
    if !body.trim().is_empty() {
        sqlx::query("INSERT INTO pages (tenant_id, key, body, updated_by, updated_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(tenant)
            .bind(key)
            .bind(body)
            .bind(staff)
            .bind(now_ts())
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// Pages per tenant, read at most every [`PageCache::TTL`] per process:
/// every page render needs them, and they change a few times a year. The
/// process that saves forgets its copy at once; others within the TTL.
/// Bounded in age and size: an insert drops every entry past its TTL, and
/// past [`PageCache::MAX`] tenants the oldest entry goes, so the map holds
/// at most the tenants served in the last few seconds.
/// One tenant's pages and when they were read.
type Cached = (Instant, Arc<BTreeMap<String, String>>);

#[derive(Default)]
pub struct PageCache {
    map: RwLock<HashMap<String, Cached>>,
}

impl PageCache {
    pub const TTL: Duration = Duration::from_secs(15);
    pub const MAX: usize = 1024;

    pub async fn get(&self, db: &Db, tenant: &str) -> Arc<BTreeMap<String, String>> {
        if let Some(pages) = self.fresh(tenant, Instant::now()) {
            return pages;
        }
        let fresh = match pages(db, tenant).await {
            Ok(p) => Arc::new(p),
            Err(e) => {
                // The defaults from tenant.toml still serve.
                tracing::warn!(error = %e, "pages unavailable");
                return Arc::new(BTreeMap::new());
            }
        };
        self.insert(tenant, fresh.clone(), Instant::now());
        fresh
    }

    fn fresh(&self, tenant: &str, now: Instant) -> Option<Arc<BTreeMap<String, String>>> {
        let m = self.map.read().ok()?;
        let (at, pages) = m.get(tenant)?;
        (now.saturating_duration_since(*at) < Self::TTL).then(|| pages.clone())
    }

    fn insert(&self, tenant: &str, pages: Arc<BTreeMap<String, String>>, now: Instant) {
        let Ok(mut m) = self.map.write() else { return };
        m.retain(|_, (at, _)| now.saturating_duration_since(*at) < Self::TTL);
        if m.len() >= Self::MAX
            && !m.contains_key(tenant)
            && let Some(oldest) = m
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(k, _)| k.clone())
        {
            m.remove(&oldest);
        }
        m.insert(tenant.to_string(), (now, pages));
    }

    pub fn forget(&self, tenant: &str) {
        if let Ok(mut m) = self.map.write() {
            m.remove(tenant);
        }
    }

    /// Tenants held now (the memory report counts them).
    pub fn len(&self) -> usize {
        self.map.read().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod page_cache_tests {
    use super::*;

    fn pages(text: &str) -> Arc<BTreeMap<String, String>> {
        Arc::new([("home".to_string(), text.to_string())].into())
    }

    #[test]
    fn an_entry_past_its_ttl_is_not_served_and_leaves_at_the_next_insert() {
        let c = PageCache::default();
        let t0 = Instant::now();
        c.insert("a", pages("A"), t0);
        assert_eq!(c.fresh("a", t0).unwrap()["home"], "A");
        let later = t0 + PageCache::TTL;
        assert!(c.fresh("a", later).is_none(), "stale pages are read again");
        c.insert("b", pages("B"), later);
        assert_eq!(c.len(), 1, "the stale tenant went with the insert");
        assert!(c.fresh("b", later).is_some());
    }

    #[test]
    fn the_map_never_holds_more_than_max_tenants() {
        let c = PageCache::default();
        let t0 = Instant::now();
        for i in 0..PageCache::MAX + 10 {
            // All within the TTL: only the size bound can evict.
            c.insert(
                &format!("t{i}"),
                pages("x"),
                t0 + Duration::from_millis(i as u64),
            );
        }
        let last = t0 + Duration::from_millis((PageCache::MAX + 9) as u64);
        assert_eq!(c.len(), PageCache::MAX);
        assert!(c.fresh("t0", last).is_none(), "the oldest went first");
        assert!(c.fresh(&format!("t{}", PageCache::MAX + 9), last).is_some());
    }
}

// ------------------------------------------------------- normative documents

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct NormativeDocument {
    pub id: i64,
    pub city: Option<String>,
    pub title: String,
    pub file_name: String,
    pub file_sha256: String,
    pub file_size: i64,
    pub file_type: String,
    pub created_at: String,
}

const DOC_COLUMNS: &str =
    "id, city, title, file_name, file_sha256, file_size, file_type, created_at";

#[allow(clippy::too_many_arguments)]
async fn add_document(
    tx: &mut sqlx::AnyConnection,
    tenant: &str,
    city: Option<&str>,
    title: &str,
    file_name: &str,
    stored: &Stored,
    kind: FileType,
    staff: i64,
) -> Result<i64, sqlx::Error> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO normative_documents (tenant_id, city, title, file_name, file_sha256, file_size, file_type, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(tenant)
    .bind(city)
    .bind(title)
    .bind(file_name)
    .bind(&stored.sha256)
    .bind(stored.size as i64)
    .bind(kind.mime())
    .bind(staff)
    .bind(now_ts())
    .fetch_one(&mut *tx)
    .await?;
    Ok(id)
}

/// The tenant's documents for `city` (and those for every city); all when `None`.
pub async fn documents(
    db: &Db,
    tenant: &str,
    city: Option<&str>,
) -> Result<Vec<NormativeDocument>, sqlx::Error> {
    let sql = format!(
        "SELECT {DOC_COLUMNS} FROM normative_documents WHERE tenant_id = $1 \
         AND ($2 = '' OR city IS NULL OR city = $2) ORDER BY city, title, id"
    );
    let rows: Vec<NormativeDocument> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tenant)
        .bind(city.unwrap_or(""))
        .fetch_all(&db.pool)
        .await?;
    Ok(rows)
}

pub async fn document(
    db: &Db,
    tenant: &str,
    id: i64,
) -> Result<Option<NormativeDocument>, sqlx::Error> {
    let sql =
        format!("SELECT {DOC_COLUMNS} FROM normative_documents WHERE tenant_id = $1 AND id = $2");
    let row: Option<NormativeDocument> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tenant)
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    Ok(row)
}

/// Remove a document; its file's hash, for the store to forget if unused.
async fn delete_document(
    tx: &mut sqlx::AnyConnection,
    tenant: &str,
    id: i64,
) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as(
        "DELETE FROM normative_documents WHERE tenant_id = $1 AND id = $2 RETURNING file_sha256",
    )
    .bind(tenant)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    Ok(row.map(|r| r.0))
}

/// A document staff publish: its title, the city it is for (none: every
/// city) and its file, stored already.
pub struct Publishing<'a> {
    pub tenant: &'a Tenant,
    pub staff: i64,
    pub title: &'a str,
    pub city: Option<&'a str>,
    /// The file's safe name, its stored bytes and their type.
    pub file: Option<(&'a str, &'a Stored, FileType)>,
    pub ip: &'a str,
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// Nothing published and the stored file let go; the errors go beside
    /// the form's fields.
    #[error("the document form has errors")]
    Invalid(FieldErrors),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Publish a normative document: a title of up to 300 characters, a city
/// of the tenant's list or none, and a file. The document and its audit
/// entry commit together.
pub async fn publish_document(
    db: &Db,
    files: &FileStore,
    p: Publishing<'_>,
) -> Result<i64, PublishError> {
    let title = p.title.trim();
    let mut errors = FieldErrors::new();
    if title.is_empty() || title.chars().count() > 300 {
        errors.insert("title".into(), "Назовите документ (до 300 символов)".into());
    }
    let cities = p.tenant.list("cities").unwrap_or(&[]);
    if p.city.is_some_and(|c| !cities.iter().any(|x| x == c)) {
        errors.insert("city".into(), "Выберите город из списка".into());
    }
    let Some((name, stored, kind)) = p.file else {
        errors.insert("file".into(), "Выберите файл".into());
        return Err(PublishError::Invalid(errors));
    };
    if !errors.is_empty() {
        crate::document::forget_upload(db, files, stored).await;
        return Err(PublishError::Invalid(errors));
    }
    let slug = p.tenant.slug.as_str();
    let mut tx = db.begin().await?;
    let id = add_document(&mut tx, slug, p.city, title, name, stored, kind, p.staff).await?;
    crate::office::audit(
        &mut *tx,
        slug,
        Some(p.staff),
        AuditAction::DocumentAdd,
        Some(Audited::Document(id)),
        title,
        p.ip,
    )
    .await?;
    tx.commit().await?;
    crate::document::release(db, stored).await;
    Ok(id)
}

/// Withdraw a published document, with its audit entry; `false` when the
/// tenant has no such document. Its bytes go unless another row names them.
pub async fn withdraw_document(
    db: &Db,
    files: &FileStore,
    tenant: &str,
    staff: i64,
    id: i64,
    ip: &str,
) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin().await?;
    let Some(sha) = delete_document(&mut tx, tenant, id).await? else {
        return Ok(false);
    };
    crate::office::audit(
        &mut *tx,
        tenant,
        Some(staff),
        AuditAction::DocumentDelete,
        Some(Audited::Document(id)),
        "",
        ip,
    )
    .await?;
    tx.commit().await?;
    crate::document::forget_if_unused(db, files, &sha).await;
    Ok(true)
}
