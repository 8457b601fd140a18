//! Database access: one pool over SQLite or PostgreSQL through sqlx's `Any`
//! driver, embedded migrations for both dialects, and time helpers.
//!
//! SQL is kept portable (`$1` placeholders, RFC 3339 text timestamps, JSON
//! as text) so one code path serves both databases; the two migration
//! folders hold the same schema in each dialect.

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, AssertSqlSafe, SqlSafeStr};
use std::borrow::Cow;
use std::str::FromStr;
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

mod batch;
pub use batch::{Batch, Done, Param};
mod writer;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}
pub use embedded::TEMPLATES;

/// A PostgreSQL connection older than this is closed when next taken
/// from the pool, and a new one opened: a server's sessions accumulate
/// state (plans, memory), and a failover leaves old ones pointed at the
/// former primary.
const MAX_AGE: Duration = Duration::from_secs(30 * 60);
/// How long a SQLite statement waits for the write lock before it fails.
const BUSY_TIMEOUT_MS: u64 = 5_000;
/// The size past which SQLite's WAL is started over (see
/// `writer::WalLimit`), and to which a WAL started over is cut back on disk.
const WAL_BYTES: i64 = 64 << 20;
/// A PostgreSQL connection idle this long is closed when next taken: a
/// firewall or the server may have dropped it quietly, and the ping
/// before use would spend the acquire's time finding out.
const MAX_IDLE: Duration = Duration::from_secs(10 * 60);

/// Whether a pooled connection should be closed instead of used. Checked
/// as it is taken, not by sqlx's reaper (see [`Db::connect_with`]), so an
/// idle server keeps its connections until its next request.
fn retire(age: Duration, idle_for: Duration) -> bool {
    age >= MAX_AGE || idle_for >= MAX_IDLE
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database url `{0}` (use sqlite://… or postgres://…)")]
    Url(String),
    #[error("cannot create the database folder: {0}")]
    Io(#[from] std::io::Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The dialect a connection speaks.
    pub fn of(conn: &sqlx::AnyConnection) -> Dialect {
        if conn.backend_name() == "PostgreSQL" {
            Dialect::Postgres
        } else {
            Dialect::Sqlite
        }
    }
}

/// The database handle shared by the whole process.
#[derive(Debug, Clone)]
pub struct Db {
    pub pool: AnyPool,
    pub dialect: Dialect,
    /// SQLite: the queue of [`Db::write_once`]'s batches to the task that
    /// runs them on a connection of its own.
    writer: writer::Writer,
}

/// A transaction of [`Db::begin`]: derefs to the connection it runs on
/// (`&mut *tx` where a function takes `&mut AnyConnection`); rolled back
/// when dropped uncommitted.
pub struct Tx {
    tx: sqlx::Transaction<'static, sqlx::Any>,
}

impl std::ops::Deref for Tx {
    type Target = sqlx::AnyConnection;
    fn deref(&self) -> &sqlx::AnyConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.tx
    }
}

impl Tx {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
}

impl Db {
    /// Connect, apply the per-connection settings and run migrations.
    pub async fn connect(url: &str) -> Result<Db, StoreError> {
        Self::connect_with(url, None).await
    }

    /// [`Db::connect`] with a pool of `max_connections` instead of the
    /// dialect's default. Tests run with one: any request that waits for a
    /// second connection while its transaction holds the first then hangs.
    /// (On SQLite [`Db::write_once`]'s connection comes on top.)
    pub async fn connect_with(url: &str, max_connections: Option<u32>) -> Result<Db, StoreError> {
        install_default_drivers();
        let dialect = if url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Dialect::Postgres
        } else {
            return Err(StoreError::Url(url.to_string()));
        };
        let mut url = url.to_string();
        if dialect == Dialect::Sqlite {
            if let Some(path) = sqlite_path(&url)
                && let Some(parent) = std::path::Path::new(&path).parent()
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent)?;
            }
            if !url.contains("mode=") {
                url.push_str(if url.contains('?') {
                    "&mode=rwc"
                } else {
                    "?mode=rwc"
                });
            }
        }
        let opts = AnyPoolOptions::new()
            .max_connections(max_connections.unwrap_or(if dialect == Dialect::Sqlite {
                8
            } else {
                16
            }))
            .acquire_timeout(Duration::from_secs(10))
            // A SQLite connection is the file opened in this process: it
            // does not go stale, and pinging it on every acquire would cost
            // a round trip to its worker thread per query.
            .test_before_acquire(dialect == Dialect::Postgres)
            // No idle timeout and no lifetime: either makes sqlx (0.9.0)
            // run its reaper task, which can spin without yielding and hold
            // a runtime worker for minutes (sqlx#3645: `release` counts a
            // connection idle only after another task may have taken it,
            // the count wraps, and the reaper's sweep loops over it). A
            // request woken onto that worker waited with it: 9 requests
            // over 60 s in an hour's soak, acquires logged at up to 408 s,
            // and gdb found the worker in the reaper. PostgreSQL's
            // connections are retired on acquire instead ([`retire`]).
            .idle_timeout(None)
            .max_lifetime(None)
            .min_connections(0);
        let opts = match dialect {
            Dialect::Postgres => opts.before_acquire(|_, meta| {
                Box::pin(async move { Ok(!retire(meta.age, meta.idle_for)) })
            }),
            Dialect::Sqlite => opts.after_connect(|conn, _| {
                Box::pin(async move {
                    // WAL lets readers run beside the one writer; the busy
                    // timeout makes writers queue instead of failing.
                    let pragmas = format!(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                         PRAGMA foreign_keys = ON; PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}; \
                         PRAGMA journal_size_limit = {WAL_BYTES};"
                    );
                    sqlx::raw_sql(sqlx::AssertSqlSafe(pragmas))
                        .execute(conn)
                        .await?;
                    Ok(())
                })
            }),
        };
        let pool = opts.connect(&url).await?;
        let db = Db {
            pool,
            dialect,
            writer: Default::default(),
        };
        db.migrate().await?;
        Ok(db)
    }

    /// The pool's options that decide whether sqlx runs its maintenance
    /// task, for the test that it does not.
    #[cfg(test)]
    fn maintained(&self) -> bool {
        let o = self.pool.options();
        o.get_idle_timeout().is_some()
            || o.get_max_lifetime().is_some()
            || o.get_min_connections() > 0
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let files = match self.dialect {
            Dialect::Sqlite => embedded::MIGRATIONS_SQLITE,
            Dialect::Postgres => embedded::MIGRATIONS_POSTGRES,
        };
        let mut migrations = Vec::new();
        for (name, sql) in files {
            let Some(stem) = name.strip_suffix(".sql") else {
                continue;
            };
            let (version, desc) = stem.split_once('_').unwrap_or((stem, stem));
            let version = i64::from_str(version).unwrap_or(0);
            migrations.push(Migration::new(
                version,
                Cow::Owned(desc.replace('_', " ")),
                MigrationType::Simple,
                AssertSqlSafe(*sql).into_sql_str(),
                false,
            ));
        }
        Migrator::with_migrations(migrations)
            .run(&self.pool)
            .await?;
        Ok(())
    }

    /// A transaction. On SQLite it begins IMMEDIATE, taking the write lock
    /// at once (waiting in the busy handler like any writer): a transaction
    /// that read first and wrote later could otherwise find another
    /// writer's commit in between and fail at once, without waiting.
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        let tx = match self.dialect {
            Dialect::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Dialect::Postgres => self.pool.begin().await?,
        };
        Ok(Tx { tx })
    }

    /// `batch` as one write transaction: on SQLite in one command
    /// ([`Db::write_once`]), elsewhere statement by statement.
    pub async fn write(&self, batch: Batch) -> Result<Done, sqlx::Error> {
        match self.dialect {
            Dialect::Sqlite => self.write_once(batch).await,
            Dialect::Postgres => {
                let mut tx = self.begin().await?;
                let done = batch.run(&mut tx).await?;
                tx.commit().await?;
                Ok(done)
            }
        }
    }

    /// SQLite only: `batch` as a whole write transaction in one command to
    /// a connection's thread (`BEGIN IMMEDIATE`, the statements, `COMMIT`),
    /// so the write lock is held while SQLite runs them and never across a
    /// round trip (see [`batch`]). The batches run one after another on
    /// one connection kept out of the pool, by a task of their own, and
    /// those that queued together share a transaction where they can (see
    /// [`writer`]). A statement that fails rolls its batch back. A batch
    /// once queued runs to its end even if the caller stops waiting, unless
    /// it waited 10 s for the ones before (then it is not run, and the
    /// error is `PoolTimedOut`). Not to be called while holding a pool
    /// connection or a [`Tx`]: on SQLite that would wait for itself.
    pub async fn write_once(&self, batch: Batch) -> Result<Done, sqlx::Error> {
        if self.dialect != Dialect::Sqlite {
            return Err(sqlx::Error::Protocol("write_once is SQLite's".into()));
        }
        self.writer.write(&self.pool, batch).await
    }

    /// Closes [`Db::write_once`]'s connection once the batches before have
    /// run, as a server stops; a batch after it takes a new one from the
    /// pool.
    pub async fn release_writer(&self) {
        self.writer.release().await
    }

    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}

fn sqlite_path(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    if path.is_empty() || path == ":memory:" {
        None
    } else {
        Some(path.to_string())
    }
}

const TS: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

/// A timestamp as stored: fixed-width RFC 3339 in UTC.
pub fn ts(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(TS)
        .expect("formatting a UTC timestamp cannot fail")
}

pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

pub fn now_ts() -> String {
    ts(now())
}

/// Who wrote a history row (an application's or an account's event) or a
/// message. Stored as `applicant`, `staff:<id>` or `system`, the words the
/// rows had before this type, so nothing is migrated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Author {
    Applicant,
    Staff(i64),
    System,
}

impl Author {
    /// A stored author. Every writer goes through this type, so other text
    /// is not expected; should some be there, it reads as the system's
    /// rather than as a person's.
    pub fn parse(stored: &str) -> Author {
        match stored {
            "applicant" => Author::Applicant,
            "system" => Author::System,
            _ => match stored.strip_prefix("staff:").map(str::parse) {
                Some(Ok(id)) => Author::Staff(id),
                _ => {
                    tracing::warn!(author = stored, "unknown author in the history");
                    Author::System
                }
            },
        }
    }
}

impl std::fmt::Display for Author {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Author::Applicant => f.write_str("applicant"),
            Author::Staff(id) => write!(f, "staff:{id}"),
            Author::System => f.write_str("system"),
        }
    }
}

impl serde::Serialize for Author {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The stored-timestamp bounds `[start, end)` of a calendar day
/// ("2026-11-23") on a clock `offset` from UTC, for filters by period.
pub fn day_bounds(day: &str, offset: time::UtcOffset) -> Option<(String, String)> {
    let d = time::Date::parse(day, format_description!("[year]-[month]-[day]")).ok()?;
    let start = d.midnight().assume_offset(offset);
    Some((ts(start), ts(start + time::Duration::days(1))))
}

pub fn parse_ts(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

/// Hex SHA-256, the form secrets are stored in.
pub fn sha256_hex(s: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// A SQLite database in a directory of its own under the system's temp
/// directory, with a pool of `connections` beside the batches' connection;
/// the caller removes the directory.
#[cfg(test)]
pub(crate) async fn scratch_sqlite(name: &str, connections: u32) -> (Db, std::path::PathBuf) {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "tapline-{name}-{}-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        now().unix_timestamp_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}/t.db", dir.display());
    let db = Db::connect_with(&url, Some(connections)).await.unwrap();
    (db, dir)
}

#[cfg(test)]
mod tests {
    use super::Author;

    /// Neither dialect's pool gets sqlx's maintenance task (its reaper can
    /// hold a runtime worker for minutes; see `Db::connect_with`).
    #[tokio::test]
    async fn the_pool_runs_no_maintenance_task() {
        let db = super::Db::connect("sqlite::memory:").await.unwrap();
        assert!(!db.maintained());
        if let Ok(url) = std::env::var("TAPLINE_TEST_PG") {
            let db = super::Db::connect(&url).await.unwrap();
            assert!(!db.maintained());
        }
    }

    #[test]
    fn old_or_long_idle_connections_are_retired_as_they_are_taken() {
        let retire = |age: u64, idle: u64| {
            super::retire(
                std::time::Duration::from_secs(age),
                std::time::Duration::from_secs(idle),
            )
        };
        assert!(!retire(0, 0));
        assert!(!retire(29 * 60, 9 * 60));
        assert!(retire(30 * 60, 0), "too old");
        assert!(retire(60, 10 * 60), "idle too long");
    }

    #[test]
    fn authors_are_stored_as_the_words_old_rows_have() {
        let all = [Author::Applicant, Author::Staff(42), Author::System];
        let stored: Vec<String> = all.iter().map(Author::to_string).collect();
        assert_eq!(stored, ["applicant", "staff:42", "system"]);
        for a in all {
            assert_eq!(Author::parse(&a.to_string()), a);
        }
        assert_eq!(Author::parse("staff:x"), Author::System);
    }
}
