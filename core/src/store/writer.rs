//! SQLite's batches ([`super::Db::write_once`]): a task that owns one
//! connection, kept out of the pool, and runs the batches queued to it in
//! order, several in one transaction when they queued together.
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
//! A group is all or nothing, and a batch must not fail because another
//! one did: when a group fails, it is rolled back and each of its batches
//! runs again alone, which gives each the outcome it would have had.
//! Batches that queued together were sent by requests running at once, so
//! any order among them is one they could have had.
//!
//! The command of a group is the same text for the same use case and the
//! same count, so SQLite's prepared statements are reused; the counts are
//! powers of two to keep those few.

use super::batch::{self, Batch, Done};
use sqlx::AnyPool;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// How long a batch waits for the ones before it: a queue that long means
/// the database is stuck, and a request should hear so.
const WAIT: Duration = Duration::from_secs(10);
/// Orders taken from the queue at a time.
const TAKEN: usize = 64;
/// Batches in one command at most.
const GROUP: usize = 16;
/// Parameters in one command at most (SQLite's limit is 32,766).
const PARAMS: usize = 30_000;

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
}

/// The queue to the task, started on first use. A task ends with its
/// runtime (every test has its own); the next batch starts another.
#[derive(Debug, Default, Clone)]
pub(super) struct Writer {
    queue: std::sync::Arc<std::sync::Mutex<Option<mpsc::UnboundedSender<Order>>>>,
    /// Commands sent to SQLite, for tests that groups form.
    #[cfg(test)]
    pub(super) commands: std::sync::Arc<std::sync::atomic::AtomicUsize>,
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
                    #[cfg(test)]
                    commands: self.commands.clone(),
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
        let (reply, outcome) = oneshot::channel();
        let write = Write {
            batch,
            by: Instant::now() + WAIT,
            reply,
        };
        self.queue(pool)
            .send(Order::Write(write))
            .map_err(|_| gone())?;
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

/// The task's side: the pool it takes a connection from, and the
/// connection while it has one.
struct Task {
    pool: AnyPool,
    conn: Option<sqlx::AnyConnection>,
    #[cfg(test)]
    commands: std::sync::Arc<std::sync::atomic::AtomicUsize>,
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
        }
    }

    /// Runs `writes`, those of the same statements together, in the order
    /// in which each use case first came.
    async fn run_writes(&mut self, writes: Vec<Write>) {
        let now = Instant::now();
        let mut groups: Vec<Vec<Write>> = Vec::new();
        for w in writes {
            if w.by < now {
                let _ = w.reply.send(Err(sqlx::Error::PoolTimedOut));
                continue;
            }
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

    async fn run_group(&mut self, group: Vec<Write>) {
        if group.len() > 1 {
            let statements = group[0].batch.len();
            let mut all = Batch::new();
            for w in &group {
                all.append(w.batch.clone());
            }
            match self.transaction(all).await {
                Ok((done, of_rows)) => {
                    let mut each = split(done, &of_rows, statements, group.len()).into_iter();
                    for w in group {
                        let _ = w.reply.send(Ok(each.next().unwrap_or_default()));
                    }
                    return;
                }
                Err(e) => {
                    tracing::debug!(error = %e, batches = group.len(), "a group failed; its batches run alone");
                }
            }
        }
        for w in group {
            let done = self.transaction(w.batch).await.map(|(done, _)| done);
            let _ = w.reply.send(done);
        }
    }

    /// `batch` as one transaction on the task's connection (taken from the
    /// pool when there is none), in one command; rolled back if a
    /// statement fails. Returns the statements' results without `BEGIN`'s
    /// and `COMMIT`'s, and the statement (counted from 0) of each row.
    async fn transaction(&mut self, batch: Batch) -> Result<(Done, Vec<usize>), sqlx::Error> {
        let mut conn = match self.conn.take() {
            Some(conn) => conn,
            None => self.pool.acquire().await?.detach(),
        };
        #[cfg(test)]
        self.commands
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (sql, args) = batch.joined(Some(("BEGIN IMMEDIATE", "COMMIT")));
        let outcome = batch::run_counted(&mut conn, sql, args).await;
        match &outcome {
            Ok(_) => self.conn = Some(conn),
            // The statements after the failed one (the COMMIT among them)
            // did not run. No transaction open (BEGIN itself failed, say)
            // is the one error expected of the rollback.
            Err(_) => match sqlx::raw_sql("ROLLBACK").execute(&mut conn).await {
                Err(e) if !e.to_string().contains("no transaction is active") => {
                    tracing::error!(error = %e, "a failed batch was not rolled back; its connection is closed");
                    let _ = sqlx::Connection::close_hard(conn).await;
                }
                _ => self.conn = Some(conn),
            },
        }
        let (mut done, mut of_rows) = outcome?;
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
    #[test]
    fn a_groups_results_go_to_the_batch_each_came_from() {
        let done = super::Done {
            changed: vec![1, 0, 1, 1, 2, 0],
            rows: Vec::new(),
        };
        let each = super::split(done, &[], 2, 3);
        let changed: Vec<_> = each.iter().map(|d| d.changed.clone()).collect();
        assert_eq!(changed, [vec![1, 0], vec![1, 1], vec![2, 0]]);
    }
}
