//! SQLite's batches ([`super::Db::write_once`]): a task that owns one
//! connection, kept out of the pool, and runs the batches queued to it,
//! several in one transaction when they queued together.
//!
//! Why a queue and groups: SQLite has one write lock, so the batches run
//! one after another whatever we do. Run one at a time, each was a round
//! trip to the connection's thread and a commit of its own, and under load
//! nearly every request waited for the one before it (measured on the
//! bench: 29 of 32 clients in the queue, 460 µs the lock held per batch
//! against about 190 µs of SQLite's work). The task takes what has queued
//! by the time it is free; batches made of the same statements (the same
//! use case) go as one command, `BEGIN IMMEDIATE`, each batch, `COMMIT`:
//! one round trip and one commit for all of them. Alone in the queue, a
//! batch runs as before, so a quiet server waits for nothing.
//!
//! Batches that queued together were sent while their callers waited, so
//! no caller's batch depends on another's: the task may run them in any
//! order, and runs each use case's together, in the order they came.
//!
//! A group is all or nothing, and a batch must not fail because another
//! one did. When a statement fails, the group is rolled back and split
//! where it failed: the batches before run again together, the failing
//! one alone (to its own error), the rest together. When the group failed
//! as a whole (the write lock not had within the busy timeout, no
//! connection, a broken one), every batch of it gets that error: alone,
//! each would have waited as long to get the same.
//!
//! The command of a group is the same text for the same use case and the
//! same count, so SQLite's prepared statements are reused; the counts are
//! powers of two to keep those few.
//!
//! The task also keeps the WAL short ([`Task::tend_wal`]): SQLite starts
//! the WAL over only at a moment when no reader is in it, and a steady load
//! with long reads (exports) has no such moment.

use super::batch::{self, Batch, Done};
use sqlx::AnyPool;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// How long a batch waits for the ones before it: a queue that long means
/// the database is stuck, and a request should hear so. A batch that has
/// waited longer is answered so and not run.
const WAIT: Duration = Duration::from_secs(10);
/// Orders taken from the queue at a time.
const TAKEN: usize = 64;
/// Batches in one command at most.
const GROUP: usize = 16;
/// Parameters in one command at most; SQLite's limit (32,766) is per
/// statement, and this keeps a command's arguments modest.
const PARAMS: usize = 30_000;
/// The longest wait between counts of the WAL after a restart that did
/// not complete.
const WAL_BACKOFF: Duration = Duration::from_secs(60);

/// The wait until the WAL is counted again after a restart gave up. A
/// reader (or a transaction's writer) held it past the whole wait: trying
/// every `every` would hold the batches that long each time for as long
/// as it stays, so the wait doubles up to [`WAL_BACKOFF`]. Given up at
/// once: another connection's checkpoint (a commit's automatic one) held
/// the checkpoint lock, which SQLite does not wait for; it is over in
/// moments.
fn next_wal_count(every: Duration, current: Duration, waited: bool) -> Duration {
    if waited {
        (current * 2).clamp(every, WAL_BACKOFF)
    } else {
        every
    }
}

/// A TRUNCATE checkpoint on `conn` that waits at most `wait_ms` for the
/// write lock and the readers in the WAL; whether the WAL was started over.
/// The connection's busy timeout is the pool's again after it, unless this
/// returns an error.
async fn truncate_wal(conn: &mut sqlx::AnyConnection, wait_ms: u64) -> Result<bool, sqlx::Error> {
    let timeout = |ms: u64| sqlx::AssertSqlSafe(format!("PRAGMA busy_timeout = {ms}"));
    sqlx::raw_sql(timeout(wait_ms)).execute(&mut *conn).await?;
    // (blocked, frames in the WAL, frames copied into the database)
    let done = sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(TRUNCATE)")
        .fetch_one(&mut *conn)
        .await;
    sqlx::raw_sql(timeout(super::BUSY_TIMEOUT_MS))
        .execute(&mut *conn)
        .await?;
    Ok(done?.0 == 0)
}

/// When the task looks at the WAL, and how long it lets it grow.
#[derive(Debug, Clone, Copy)]
pub(super) struct WalLimit {
    /// How often the task counts the WAL's frames (after a run of writes).
    pub every: Duration,
    /// Frames past which the WAL is started over.
    pub frames: i64,
    /// How long starting over may hold the write lock, waiting for the
    /// readers of the moment to finish.
    pub wait_ms: u64,
}

impl Default for WalLimit {
    fn default() -> Self {
        WalLimit {
            every: Duration::from_secs(5),
            // Pages of SQLite's default 4 KiB (16,384 for 64 MiB).
            frames: super::WAL_BYTES / 4096,
            wait_ms: 1_000,
        }
    }
}

enum Order {
    Write(Write),
    /// Close the connection (the server stops); a batch after it takes a
    /// new one from the pool.
    Release(oneshot::Sender<()>),
}

struct Write {
    batch: Batch,
    /// Run only before this.
    by: Instant,
    reply: oneshot::Sender<Result<Done, sqlx::Error>>,
    /// The caller's, for what the driver logs of a batch run alone.
    span: tracing::Span,
}

/// The queue to the task, started on first use. A task ends with its
/// runtime (every test has its own); the next batch starts another.
#[derive(Debug, Default, Clone)]
pub(super) struct Writer {
    queue: std::sync::Arc<std::sync::Mutex<Option<mpsc::UnboundedSender<Order>>>>,
    pub(super) wal: WalLimit,
    #[cfg(test)]
    pub(super) counts: std::sync::Arc<Counts>,
}

impl Writer {
    fn queue(&self, pool: &AnyPool) -> mpsc::UnboundedSender<Order> {
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        match &*q {
            Some(tx) if !tx.is_closed() => tx.clone(),
            _ => {
                let (tx, rx) = mpsc::unbounded_channel();
                let task = Task {
                    pool: pool.clone(),
                    conn: None,
                    wal: self.wal,
                    wal_counted: Instant::now(),
                    wal_every: self.wal.every,
                    #[cfg(test)]
                    counts: self.counts.clone(),
                };
                tokio::spawn(task.run(rx));
                *q = Some(tx.clone());
                tx
            }
        }
    }

    /// Queues `batch` and waits for its outcome. A batch once queued runs
    /// even if the caller stops waiting: the task, not the request, holds
    /// the transaction.
    pub(super) async fn write(&self, pool: &AnyPool, batch: Batch) -> Result<Done, sqlx::Error> {
        if batch.is_empty() {
            return Ok(Done::default());
        }
        let (reply, outcome) = oneshot::channel();
        let write = Write {
            batch,
            by: Instant::now() + WAIT,
            reply,
            span: tracing::Span::current(),
        };
        self.queue(pool)
            .send(Order::Write(write))
            .map_err(|_| gone())?;
        #[cfg(test)]
        Counts::add(&self.counts.queued);
        outcome.await.map_err(|_| gone())?
    }

    /// Closes the connection once the batches queued before have run.
    pub(super) async fn release(&self) {
        let q = self.queue.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(q) = q {
            let (done, closed) = oneshot::channel();
            if q.send(Order::Release(done)).is_ok() {
                let _ = closed.await;
            }
        }
    }
}

fn gone() -> sqlx::Error {
    sqlx::Error::Protocol("the batches' task has stopped".into())
}

/// What tests read of the task: that groups form and split.
#[cfg(test)]
#[derive(Debug, Default)]
pub(super) struct Counts {
    /// Batches queued.
    pub queued: std::sync::atomic::AtomicUsize,
    /// Commands sent to SQLite.
    pub commands: std::sync::atomic::AtomicUsize,
    /// Groups split where a statement failed.
    pub splits: std::sync::atomic::AtomicUsize,
    /// The number of batches of each command, in order.
    pub sizes: std::sync::Mutex<Vec<usize>>,
    /// Times the WAL was started over.
    pub wal_restarts: std::sync::atomic::AtomicUsize,
}

#[cfg(test)]
impl Counts {
    fn add(n: &std::sync::atomic::AtomicUsize) {
        n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn get(n: &std::sync::atomic::AtomicUsize) -> usize {
        n.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// The task's side: the pool it takes a connection from, and the
/// connection while it has one.
struct Task {
    pool: AnyPool,
    conn: Option<sqlx::AnyConnection>,
    wal: WalLimit,
    /// When the WAL's frames were last counted, and the wait until the
    /// next count (longer after a restart that did not complete).
    wal_counted: Instant,
    wal_every: Duration,
    #[cfg(test)]
    counts: std::sync::Arc<Counts>,
}

/// Why a transaction did not commit.
struct Failed {
    error: sqlx::Error,
    /// The statement that failed, counted from `BEGIN` as 0; none where
    /// the command did not get that far (no connection) or the error is
    /// not one of a statement.
    at: Option<usize>,
}

impl Task {
    async fn run(mut self, mut queue: mpsc::UnboundedReceiver<Order>) {
        let mut taken = Vec::with_capacity(TAKEN);
        while queue.recv_many(&mut taken, TAKEN).await > 0 {
            let mut writes = Vec::new();
            for order in taken.drain(..) {
                match order {
                    Order::Write(w) => writes.push(w),
                    Order::Release(done) => {
                        self.run_writes(std::mem::take(&mut writes)).await;
                        if let Some(c) = self.conn.take()
                            && let Err(e) = sqlx::Connection::close(c).await
                        {
                            tracing::warn!(error = %e, "closing the batches' connection");
                        }
                        let _ = done.send(());
                    }
                }
            }
            self.run_writes(writes).await;
            self.tend_wal().await;
        }
    }

    /// Starts the WAL over once it is longer than [`WalLimit::frames`].
    /// SQLite's own checkpoints (PASSIVE, every 1,000 pages written) copy
    /// the WAL's pages into the database, but the WAL starts over, and
    /// stops growing, only when a writer finds no reader in it; under a
    /// steady load with long reads there is always one, and an hour's soak
    /// left a 530 MB WAL (every page read looked up in its index, the disk
    /// never given back). A TRUNCATE checkpoint takes the write lock and
    /// waits for the readers in the WAL to finish (readers starting
    /// meanwhile read the database): batches queue behind it as behind any
    /// write, at most [`WalLimit::wait_ms`], after which it gives up until
    /// the next count ([`next_wal_count`]). Counting is a PASSIVE
    /// checkpoint, which waits for no one.
    async fn tend_wal(&mut self) {
        if self.wal_counted.elapsed() < self.wal_every {
            return;
        }
        self.wal_counted = Instant::now();
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        // (busy, frames in the WAL, frames copied into the database)
        let counted = sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&mut *conn)
            .await;
        let frames = match counted {
            Ok((_, frames, _)) if frames > self.wal.frames => frames,
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, "counting the WAL's frames");
                return;
            }
        };
        let started = Instant::now();
        let restarted = truncate_wal(conn, self.wal.wait_ms).await;
        let ms = started.elapsed().as_millis() as u64;
        match restarted {
            Ok(true) => {
                #[cfg(test)]
                Counts::add(&self.counts.wal_restarts);
                tracing::info!(frames, ms, "the WAL was started over");
                self.wal_every = self.wal.every;
            }
            Ok(false) => {
                let waited = ms >= self.wal.wait_ms;
                self.wal_every = next_wal_count(self.wal.every, self.wal_every, waited);
                let why = if waited {
                    "a reader or a writer held it past the wait"
                } else {
                    "another connection was checkpointing"
                };
                tracing::info!(
                    frames,
                    ms,
                    next_in_s = self.wal_every.as_secs(),
                    "the WAL was not started over: {why}"
                );
            }
            Err(e) => {
                // Its busy timeout may be the short one still: the next
                // batch takes a connection set up afresh.
                tracing::warn!(error = %e, frames, "starting the WAL over; its connection is closed");
                if let Some(c) = self.conn.take() {
                    let _ = sqlx::Connection::close_hard(c).await;
                }
            }
        }
    }

    /// Runs `writes`, those of the same statements together, in the order
    /// in which each use case first came.
    async fn run_writes(&mut self, writes: Vec<Write>) {
        let mut groups: Vec<Vec<Write>> = Vec::new();
        for w in writes {
            match groups
                .iter_mut()
                .find(|g| g[0].batch.same_statements(&w.batch))
            {
                Some(g) => g.push(w),
                None => groups.push(vec![w]),
            }
        }
        for mut group in groups {
            let fit = (PARAMS / group[0].batch.params().max(1)).clamp(1, GROUP);
            while !group.is_empty() {
                // The largest power of two that is left and fits.
                let n = 1 << group.len().min(fit).ilog2();
                let rest = group.split_off(n);
                self.run_group(group).await;
                group = rest;
            }
        }
    }

    /// Runs a group of batches of the same statements, splitting it where
    /// a statement fails.
    async fn run_group(&mut self, group: Vec<Write>) {
        let mut pending = std::collections::VecDeque::from([group]);
        while let Some(group) = pending.pop_front() {
            // Batches that waited too long are answered and not run.
            let now = Instant::now();
            let (group, late): (Vec<Write>, Vec<Write>) =
                group.into_iter().partition(|w| w.by >= now);
            for w in late {
                let _ = w.reply.send(Err(sqlx::Error::PoolTimedOut));
            }
            let n = group.len();
            if n == 0 {
                continue;
            }
            let statements = group[0].batch.len().max(1);
            #[cfg(test)]
            self.counts.sizes.lock().unwrap().push(n);
            if n == 1 {
                // Alone, a batch runs as it is (nothing to run again after
                // a failure), and its results are its own whatever their
                // count.
                use tracing::Instrument;
                if let Some(Write {
                    batch, reply, span, ..
                }) = group.into_iter().next()
                {
                    let ran = self.transaction(batch).instrument(span).await;
                    let _ = reply.send(ran.map(|(done, _)| done).map_err(|f| f.error));
                }
                continue;
            }
            let mut all = Batch::new();
            for w in &group {
                all.append(w.batch.clone());
            }
            match self.transaction(all).await {
                Ok((done, of_rows)) if done.changed.len() == statements * n => {
                    let each = split(done, &of_rows, statements, n);
                    for (w, done) in group.into_iter().zip(each) {
                        let _ = w.reply.send(Ok(done));
                    }
                }
                Ok((done, _)) => {
                    // Not one result per statement: handing the rows back
                    // by count would give one caller another's.
                    tracing::error!(
                        results = done.changed.len(),
                        statements = statements * n,
                        "a batch's results do not match its statements"
                    );
                    answer_all(
                        group,
                        sqlx::Error::Protocol(
                            "a batch's results do not match its statements".into(),
                        ),
                    );
                }
                // A statement of the k-th batch failed: the others go on.
                Err(Failed {
                    error: sqlx::Error::Database(_),
                    at: Some(at),
                }) if at >= 1 && (at - 1) / statements < n => {
                    #[cfg(test)]
                    Counts::add(&self.counts.splits);
                    let k = (at - 1) / statements;
                    let mut before = group;
                    let mut rest = before.split_off(k);
                    let after = rest.split_off(1);
                    for part in [after, rest, before] {
                        if !part.is_empty() {
                            pending.push_front(part);
                        }
                    }
                }
                Err(Failed { error, .. }) => answer_all(group, error),
            }
        }
    }

    /// `batch` as one transaction on the task's connection (taken from the
    /// pool when there is none), in one command; rolled back if a
    /// statement fails. Returns the statements' results without `BEGIN`'s
    /// and `COMMIT`'s, and the statement (counted from 0) of each row.
    async fn transaction(&mut self, batch: Batch) -> Result<(Done, Vec<usize>), Failed> {
        let mut conn = match self.conn.take() {
            Some(conn) => conn,
            None => match self.pool.acquire().await {
                Ok(c) => c.detach(),
                Err(error) => return Err(Failed { error, at: None }),
            },
        };
        #[cfg(test)]
        Counts::add(&self.counts.commands);
        let (sql, args) = batch.joined(Some(("BEGIN IMMEDIATE", "COMMIT")));
        let ran = batch::run_counted(&mut conn, sql, args).await;
        if let Some(error) = ran.error {
            // The statements after the failed one (the COMMIT among them)
            // did not run. No transaction open (BEGIN itself failed, SQLite
            // rolled back on its own) is the one error expected of the
            // rollback.
            match sqlx::raw_sql("ROLLBACK").execute(&mut conn).await {
                Err(e) if !e.to_string().contains("no transaction is active") => {
                    tracing::error!(error = %e, "a failed batch was not rolled back; its connection is closed");
                    let _ = sqlx::Connection::close_hard(conn).await;
                }
                _ => self.conn = Some(conn),
            }
            // A statement's own error comes from SQLite's thread, which
            // stops there, before the COMMIT. Any other (reading a row
            // failed) may come after the COMMIT ran: the batches must not
            // run again.
            let at = matches!(error, sqlx::Error::Database(_)).then_some(ran.done.changed.len());
            return Err(Failed { error, at });
        }
        self.conn = Some(conn);
        let (mut done, mut of_rows) = (ran.done, ran.of_rows);
        if done.changed.len() >= 2 {
            done.changed.remove(0);
            done.changed.pop();
            for s in &mut of_rows {
                *s = s.saturating_sub(1);
            }
        }
        Ok((done, of_rows))
    }
}

/// Every batch of `group` fails with `error` (the first gets it as it is,
/// the others its text: the driver's errors cannot be copied).
fn answer_all(group: Vec<Write>, error: sqlx::Error) {
    let text = error.to_string();
    let mut error = Some(error);
    for w in group {
        let e = error
            .take()
            .unwrap_or_else(|| sqlx::Error::Protocol(text.clone()));
        let _ = w.reply.send(Err(e));
    }
}

/// A group's results as each of its `n` batches of `statements` would
/// have had them.
fn split(done: Done, of_rows: &[usize], statements: usize, n: usize) -> Vec<Done> {
    let mut each: Vec<Done> = (0..n).map(|_| Done::default()).collect();
    let statements = statements.max(1);
    for (i, changed) in done.changed.into_iter().enumerate() {
        if let Some(d) = each.get_mut(i / statements) {
            d.changed.push(changed);
        }
    }
    for (row, s) in done.rows.into_iter().zip(of_rows) {
        if let Some(d) = each.get_mut(s / statements) {
            d.rows.push(row);
        }
    }
    each
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    /// Writes while two readers take turns, so that one is always in the
    /// WAL: SQLite's own checkpoints never start it over then. With a limit
    /// of 64 frames it stays short; without one (`frames: i64::MAX`) it
    /// holds every page written.
    async fn wal_after_writes_among_readers(frames: i64) -> (u64, usize) {
        let (mut db, dir) = crate::store::scratch_sqlite("wal", 4).await;
        db.writer.wal = super::WalLimit {
            every: Duration::ZERO,
            frames,
            wait_ms: 1_000,
        };
        sqlx::raw_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB NOT NULL)")
            .execute(&db.pool)
            .await
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let mut readers = Vec::new();
        for i in 0..2u64 {
            let (pool, stop) = (db.pool.clone(), stop.clone());
            readers.push(tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(5 * i)).await;
                while !stop.load(Ordering::SeqCst) {
                    let mut tx = pool.begin().await.unwrap();
                    let _: i64 = sqlx::query_scalar("SELECT count(*) FROM t")
                        .fetch_one(&mut *tx)
                        .await
                        .unwrap();
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    tx.commit().await.unwrap();
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
        for _ in 0..1000 {
            let mut b = super::Batch::new();
            // Two pages of 4 KiB a row: the WAL grows by them each commit.
            b.push(
                "INSERT INTO t (v) VALUES (zeroblob($1))",
                vec![6000i64.into()],
            );
            db.write_once(b).await.unwrap();
        }
        stop.store(true, Ordering::SeqCst);
        for r in readers {
            r.await.unwrap();
        }
        let wal = std::fs::metadata(dir.join("t.db-wal")).map_or(0, |m| m.len());
        let restarts = super::Counts::get(&db.writer.counts.wal_restarts);
        db.pool.close().await;
        let _ = std::fs::remove_dir_all(&dir);
        (wal, restarts)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_starts_over_though_a_reader_is_always_in_it() {
        let (wal, restarts) = wal_after_writes_among_readers(64).await;
        assert!(restarts > 0, "never started over");
        // 64 frames and the writes of one count, against the 1,000 rows'
        // 8 MB below.
        assert!(wal < 1 << 20, "WAL of {wal} bytes");
        // The same without a limit: the WAL keeps what was written (on its
        // high-water mark, a chance moment without a reader could halve it).
        let (wal, _) = wal_after_writes_among_readers(i64::MAX).await;
        assert!(wal > 3 << 20, "without a limit, a WAL of only {wal} bytes");
    }

    /// Only a restart that spent the whole wait backs off, doubling up to
    /// a minute; one given up at once is tried again at the next count.
    #[test]
    fn only_a_spent_wait_backs_the_wal_restart_off() {
        let every = Duration::from_secs(5);
        let mut next = every;
        let mut seen = vec![];
        for _ in 0..6 {
            next = super::next_wal_count(every, next, true);
            seen.push(next.as_secs());
        }
        assert_eq!(seen, [10, 20, 40, 60, 60, 60]);
        assert_eq!(super::next_wal_count(every, next, false), every);
    }

    /// A reader in the WAL past the wait: the checkpoint gives up, and the
    /// connection waits as long as the pool's again; once the reader has
    /// gone, the WAL is started over and cut to nothing.
    #[tokio::test]
    async fn a_reader_past_the_wait_keeps_the_wal_and_the_timeout_comes_back() {
        let (db, dir) = crate::store::scratch_sqlite("wal-wait", 3).await;
        sqlx::raw_sql("CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (1);")
            .execute(&db.pool)
            .await
            .unwrap();
        let mut reader = db.pool.begin().await.unwrap();
        let _: i64 = sqlx::query_scalar("SELECT count(*) FROM t")
            .fetch_one(&mut *reader)
            .await
            .unwrap();
        let mut conn = db.pool.acquire().await.unwrap().detach();
        assert!(!super::truncate_wal(&mut conn, 100).await.unwrap());
        let timeout: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(timeout, super::super::BUSY_TIMEOUT_MS as i64);
        let wal = dir.join("t.db-wal");
        assert!(std::fs::metadata(&wal).unwrap().len() > 0);
        reader.commit().await.unwrap();
        assert!(super::truncate_wal(&mut conn, 100).await.unwrap());
        assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0);
        drop(conn);
        db.pool.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Results of a group of three batches of two statements, rows where
    /// the statements gave them (none at the end of the first batch, two
    /// at the start of the second): each batch gets its own.
    #[tokio::test]
    async fn a_groups_results_go_to_the_batch_each_came_from() {
        use sqlx::Row;
        let db = crate::store::Db::connect("sqlite::memory:").await.unwrap();
        let rows = sqlx::query(
            "SELECT 10 AS x UNION ALL SELECT 20 UNION ALL SELECT 30 UNION ALL SELECT 40",
        )
        .fetch_all(&db.pool)
        .await
        .unwrap();
        let done = super::Done {
            changed: vec![1, 0, 1, 1, 2, 0],
            rows,
        };
        // Statements 0 (batch 0), 2, 2 (batch 1), 5 (batch 2).
        let each = super::split(done, &[0, 2, 2, 5], 2, 3);
        let changed: Vec<_> = each.iter().map(|d| d.changed.clone()).collect();
        assert_eq!(changed, [vec![1, 0], vec![1, 1], vec![2, 0]]);
        let rows: Vec<Vec<i64>> = each
            .iter()
            .map(|d| d.rows.iter().map(|r| r.get::<i64, _>("x")).collect())
            .collect();
        assert_eq!(rows, [vec![10], vec![20, 30], vec![40]]);
    }
}
