//! Several statements sent to the database as one command where it can take
//! them.
//!
//! sqlx runs each SQLite connection on a thread of its own, and every
//! statement is a round trip between that thread and the async side: two
//! thread switches, and under load a wait in the runtime's queue before the
//! caller's next statement goes out. Inside a write transaction that wait
//! is spent holding SQLite's one write lock, so what bounds the sendings a
//! second is the number of round trips made under the lock, not the work
//! of the statements (issue 13). A [`Batch`] is sent to SQLite as one
//! multi-statement command, which its thread runs to the end before it
//! answers. PostgreSQL's extended protocol takes one statement per command,
//! so there the statements go one by one, as before.
//!
//! sqlx calls a SQLite query of several statements with parameters a
//! behaviour it may drop (launchbadge/sqlx#3108); the tests below run one,
//! so an upgrade that drops it fails them rather than the sendings.

use super::Dialect;
use sqlx::any::{AnyArguments, AnyQueryResult, AnyRow};
use sqlx::{Arguments, Either};

/// A value bound to a statement of a [`Batch`].
#[derive(Debug, Clone)]
pub enum Param {
    Text(Option<String>),
    Int(Option<i64>),
}

impl From<&str> for Param {
    fn from(v: &str) -> Param {
        Param::Text(Some(v.to_string()))
    }
}

impl From<&String> for Param {
    fn from(v: &String) -> Param {
        Param::Text(Some(v.clone()))
    }
}

impl From<String> for Param {
    fn from(v: String) -> Param {
        Param::Text(Some(v))
    }
}

impl From<Option<&str>> for Param {
    fn from(v: Option<&str>) -> Param {
        Param::Text(v.map(str::to_string))
    }
}

impl From<Option<String>> for Param {
    fn from(v: Option<String>) -> Param {
        Param::Text(v)
    }
}

impl From<i64> for Param {
    fn from(v: i64) -> Param {
        Param::Int(Some(v))
    }
}

impl From<Option<i64>> for Param {
    fn from(v: Option<i64>) -> Param {
        Param::Int(v)
    }
}

/// Statements, each with its parameters numbered from `$1`, run in order.
#[derive(Debug, Default, Clone)]
pub struct Batch {
    statements: Vec<(String, Vec<Param>)>,
}

/// What each statement of a batch did, in order.
#[derive(Default)]
pub struct Done {
    /// The rows each statement changed, as the driver tells them: right
    /// for an INSERT, UPDATE or DELETE; on SQLite, what the write before
    /// changed for any other statement.
    pub changed: Vec<u64>,
    /// Rows the statements returned, all together.
    pub rows: Vec<AnyRow>,
}

impl Batch {
    pub fn new() -> Batch {
        Batch::default()
    }

    /// Appends a statement; `params` are its `$1`, `$2`, ….
    pub fn push(&mut self, sql: impl Into<String>, params: Vec<Param>) -> &mut Batch {
        let sql = sql.into();
        debug_assert!(
            !dollar_in_a_literal(&sql),
            "a `$` in a literal would be renumbered: {sql}"
        );
        // One statement, one result: the results of a group of batches are
        // handed back by their count.
        debug_assert!(
            !sql.trim().is_empty() && !sql.contains(';'),
            "one statement, without `;`: {sql}"
        );
        self.statements.push((sql, params));
        self
    }

    /// Appends the statements of `other`, after these.
    pub fn append(&mut self, other: Batch) -> &mut Batch {
        self.statements.extend(other.statements);
        self
    }

    pub fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }

    /// How many statements.
    pub fn len(&self) -> usize {
        self.statements.len()
    }

    /// How many parameters, all statements together.
    pub(super) fn params(&self) -> usize {
        self.statements.iter().map(|(_, p)| p.len()).sum()
    }

    /// Whether `other` is made of the same statements with as many values
    /// each (the values themselves aside).
    pub(super) fn same_statements(&self, other: &Batch) -> bool {
        self.statements.len() == other.statements.len()
            && self
                .statements
                .iter()
                .zip(&other.statements)
                .all(|((a, pa), (b, pb))| a == b && pa.len() == pb.len())
    }

    /// Runs the statements on `conn` (a transaction's, where they must
    /// hold together): on SQLite as one command, elsewhere one by one. The
    /// first statement that fails ends the batch with its error.
    pub async fn run(self, conn: &mut sqlx::AnyConnection) -> Result<Done, sqlx::Error> {
        match Dialect::of(conn) {
            Dialect::Sqlite => {
                let (sql, args) = self.joined(None);
                run_joined(conn, sql, args).await
            }
            Dialect::Postgres => {
                let mut done = Done::default();
                for (sql, params) in self.statements {
                    let one = run_joined(&mut *conn, sql, arguments(params)).await?;
                    done.changed.extend(one.changed);
                    done.rows.extend(one.rows);
                }
                Ok(done)
            }
        }
    }

    /// The statements as one text, parameters renumbered to follow each
    /// other, wrapped in `frame` (text before, text after) where given.
    pub(super) fn joined(self, frame: Option<(&str, &str)>) -> (String, AnyArguments) {
        let mut sql = String::new();
        let mut all = Vec::new();
        if let Some((before, _)) = frame {
            sql.push_str(before);
            sql.push_str(";\n");
        }
        for (i, (text, params)) in self.statements.into_iter().enumerate() {
            if i > 0 {
                sql.push_str(";\n");
            }
            renumber(&mut sql, &text, all.len());
            all.extend(params);
        }
        if let Some((_, after)) = frame {
            sql.push_str(";\n");
            sql.push_str(after);
        }
        (sql, arguments(all))
    }
}

/// Whether a `'…'` literal of `sql` holds a `$`.
fn dollar_in_a_literal(sql: &str) -> bool {
    sql.split('\'')
        .skip(1)
        .step_by(2)
        .any(|lit| lit.contains('$'))
}

/// Copies `text` onto `out` with every `$n` made `$(n + offset)`. Our SQL
/// has no `$` but in placeholders (no dollar-quoted strings, no `$` in a
/// literal: [`Batch::push`] asserts it in debug builds, which the tests
/// run).
fn renumber(out: &mut String, text: &str, offset: usize) {
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let digits = rest[at + 1..]
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len() - at - 1);
        match rest[at + 1..at + 1 + digits].parse::<usize>() {
            Ok(n) => {
                out.push('$');
                out.push_str(&(n + offset).to_string());
            }
            Err(_) => out.push('$'),
        }
        rest = &rest[at + 1 + digits..];
    }
    out.push_str(rest);
}

fn arguments(params: Vec<Param>) -> AnyArguments {
    let mut args = AnyArguments::default();
    for p in params {
        // Adding a plain string or integer cannot fail to encode.
        let _ = match p {
            Param::Text(v) => args.add(v),
            Param::Int(v) => args.add(v),
        };
    }
    args
}

async fn run_joined(
    conn: &mut sqlx::AnyConnection,
    sql: String,
    args: AnyArguments,
) -> Result<Done, sqlx::Error> {
    let ran = run_counted(conn, sql, args).await;
    match ran.error {
        Some(e) => Err(e),
        None => Ok(ran.done),
    }
}

/// What a command did, up to where it stopped.
pub(super) struct Ran {
    /// The results of the statements that ended, and the rows read.
    pub done: Done,
    /// The statement (counted from 0) each row came from.
    pub of_rows: Vec<usize>,
    /// Why it stopped before the end: the statement after the last result
    /// failed, or reading failed.
    pub error: Option<sqlx::Error>,
}

/// Runs a command and keeps what it did up to an error.
pub(super) async fn run_counted(
    conn: &mut sqlx::AnyConnection,
    sql: String,
    args: AnyArguments,
) -> Ran {
    use futures_util::StreamExt;
    let mut ran = Ran {
        done: Done::default(),
        of_rows: Vec::new(),
        error: None,
    };
    // Every statement's result is read: SQLite's thread stops running the
    // statements left once nobody reads their answers. Each statement ends
    // with its result, after its rows.
    let query = sqlx::query_with(sqlx::AssertSqlSafe(sql), args);
    let mut results = sqlx::Executor::fetch_many(&mut *conn, query);
    while let Some(r) = results.next().await {
        match r {
            Ok(Either::Left(AnyQueryResult { rows_affected, .. })) => {
                ran.done.changed.push(rows_affected)
            }
            Ok(Either::Right(row)) => {
                ran.of_rows.push(ran.done.changed.len());
                ran.done.rows.push(row);
            }
            Err(e) => {
                ran.error = Some(e);
                break;
            }
        }
    }
    ran
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_renumbered_to_follow_the_statements_before() {
        let mut b = Batch::new();
        b.push(
            "UPDATE t SET a = $1 WHERE id = $2",
            vec![1.into(), 2.into()],
        );
        b.push(
            "INSERT INTO u (x, y) VALUES ($2, $1), ($1, $10)",
            vec!["a".into(), "b".into()],
        );
        let (sql, args) = b.joined(Some(("BEGIN", "COMMIT")));
        assert_eq!(
            sql,
            "BEGIN;\nUPDATE t SET a = $1 WHERE id = $2;\nINSERT INTO u (x, y) VALUES ($4, $3), ($3, $12);\nCOMMIT"
        );
        assert_eq!(args.len(), 4);
    }

    async fn one_connection() -> (crate::store::Db, std::path::PathBuf) {
        // A pool of one beside the batches' own connection: a failed
        // batch's connection is the next batch's.
        let (db, dir) = crate::store::scratch_sqlite("batch", 1).await;
        sqlx::raw_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE)")
            .execute(&db.pool)
            .await
            .unwrap();
        (db, dir)
    }

    async fn values(db: &crate::store::Db) -> Vec<String> {
        sqlx::query_scalar("SELECT v FROM t ORDER BY id")
            .fetch_all(&db.pool)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_batch_is_one_transaction_that_commits_whole_or_not_at_all() {
        let (db, dir) = one_connection().await;
        let mut b = Batch::new();
        b.push("INSERT INTO t (v) VALUES ($1)", vec!["a".into()]);
        b.push(
            "INSERT INTO t (v) SELECT $1 || $2 WHERE changes() = 1 RETURNING v",
            vec!["b".into(), "c".into()],
        );
        b.push("UPDATE t SET v = v || '!' WHERE v = $1", vec!["zzz".into()]);
        let done = db.write_once(b).await.unwrap();
        assert_eq!(done.changed, [1, 1, 0]);
        assert_eq!(done.rows.len(), 1);
        assert_eq!(values(&db).await, ["a", "bc"]);

        // The second statement breaks the unique index: the first one's
        // row goes too, and the connection is back outside a transaction.
        let mut b = Batch::new();
        b.push("INSERT INTO t (v) VALUES ($1)", vec!["d".into()]);
        b.push("INSERT INTO t (v) VALUES ($1)", vec!["a".into()]);
        let e = db.write_once(b).await.err().expect("a duplicate fails");
        assert!(
            matches!(&e, sqlx::Error::Database(d) if d.is_unique_violation()),
            "{e}"
        );
        assert_eq!(values(&db).await, ["a", "bc"]);
        let mut b = Batch::new();
        b.push("INSERT INTO t (v) VALUES ($1)", vec!["e".into()]);
        db.write(b)
            .await
            .expect("the connection took a new transaction");
        assert_eq!(values(&db).await, ["a", "bc", "e"]);

        // Run inside a caller's transaction, a batch is part of it.
        let mut tx = db.begin().await.unwrap();
        let mut b = Batch::new();
        b.push("INSERT INTO t (v) VALUES ($1)", vec!["f".into()]);
        b.push("DELETE FROM t WHERE v = $1", vec!["a".into()]);
        assert_eq!(b.run(&mut tx).await.unwrap().changed, [1, 1]);
        tx.rollback().await.unwrap();
        assert_eq!(values(&db).await, ["a", "bc", "e"]);
        let _ = std::fs::remove_dir_all(dir);
    }

    /// A request dropped while its batch runs (the client went away) does
    /// not leave the connection inside the batch's transaction: the batch
    /// still ends, committed.
    #[tokio::test]
    async fn a_batch_dropped_halfway_still_ends_its_transaction() {
        let (db, dir) = one_connection().await;
        let mut b = Batch::new();
        b.push("INSERT INTO t (v) VALUES ($1)", vec!["x".into()]);
        // Long enough for the request to be dropped while it runs.
        b.push(
            "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < $1) \
             SELECT COUNT(*) FROM c",
            vec![3_000_000i64.into()],
        );
        b.push("INSERT INTO t (v) VALUES ($1)", vec!["y".into()]);
        let dropped =
            tokio::time::timeout(std::time::Duration::from_millis(50), db.write_once(b)).await;
        assert!(dropped.is_err(), "the batch was still running when dropped");
        let mut b = Batch::new();
        b.push("INSERT INTO t (v) VALUES ($1)", vec!["last".into()]);
        tokio::time::timeout(std::time::Duration::from_secs(30), db.write(b))
            .await
            .expect("the connection is free")
            .expect("and outside a transaction");
        assert_eq!(values(&db).await, ["x", "y", "last"]);
        let _ = std::fs::remove_dir_all(dir);
    }

    /// A batch queued behind a transaction of the pool waits for its
    /// commit, and a batch after the batches' connection was closed takes
    /// a new one.
    #[tokio::test]
    async fn batches_wait_for_the_pools_writers_and_outlive_their_connection() {
        let (db, dir) = one_connection().await;
        let mut tx = db.begin().await.unwrap();
        sqlx::query("INSERT INTO t (v) VALUES ('tx')")
            .execute(&mut *tx)
            .await
            .unwrap();
        let queued = {
            let db = db.clone();
            tokio::spawn(async move {
                let mut b = Batch::new();
                b.push("INSERT INTO t (v) VALUES ($1)", vec!["batch".into()]);
                db.write_once(b).await
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert!(!queued.is_finished(), "the batch waits for the write lock");
        tx.commit().await.unwrap();
        queued
            .await
            .unwrap()
            .expect("the batch ran after the commit");
        assert_eq!(values(&db).await, ["tx", "batch"]);

        db.release_writer().await;
        let mut b = Batch::new();
        b.push("INSERT INTO t (v) VALUES ($1)", vec!["again".into()]);
        db.write_once(b).await.expect("a new connection");
        assert_eq!(values(&db).await, ["tx", "batch", "again"]);
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Forty batches queued at once go as a few transactions, and each
    /// caller still gets its own batch's outcome: its rows, its counts,
    /// and its error where its statement broke the unique index (the
    /// others of its group are not lost with it).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn forty_batches_at_once_share_transactions_and_keep_their_own_outcomes() {
        use crate::store::writer::Counts;
        let (db, dir) = one_connection().await;
        let mut b = Batch::new();
        b.push("INSERT INTO t (v) VALUES ($1)", vec!["first".into()]);
        db.write_once(b).await.unwrap();
        let counts = db.writer.counts.clone();
        let commands = Counts::get(&counts.commands);
        // A pool transaction holds the write lock while all forty queue;
        // it also takes the values four of them will try to insert.
        let clash = |i: usize| i % 10 == 3;
        let mut tx = db.begin().await.unwrap();
        for i in (0..40).filter(|i| clash(*i)) {
            sqlx::query("INSERT INTO t (v) VALUES ($1)")
                .bind(format!("v{i}"))
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        let tasks: Vec<_> = (0..40)
            .map(|i| {
                let db = db.clone();
                tokio::spawn(async move {
                    let mut b = Batch::new();
                    b.push(
                        "INSERT INTO t (v) VALUES ($1) RETURNING id, v",
                        vec![format!("v{i}").into()],
                    );
                    b.push(
                        "UPDATE t SET v = v || $1 WHERE id = last_insert_rowid() RETURNING v",
                        vec!["+".into()],
                    );
                    db.write_once(b).await
                })
            })
            .collect();
        until(|| Counts::get(&counts.queued) >= 41).await;
        tx.commit().await.unwrap();
        for (i, task) in tasks.into_iter().enumerate() {
            match task.await.unwrap() {
                Ok(done) if !clash(i) => {
                    assert_eq!(done.changed, [1, 1], "batch {i}");
                    let got: Vec<String> = done
                        .rows
                        .iter()
                        .map(|r| sqlx::Row::get::<String, _>(r, "v"))
                        .collect();
                    assert_eq!(got, [format!("v{i}"), format!("v{i}+")], "batch {i}");
                }
                Err(sqlx::Error::Database(e)) if clash(i) => assert!(e.is_unique_violation()),
                other => panic!("batch {i}: {:?}", other.map(|d| d.changed)),
            }
        }
        let mut all = values(&db).await;
        all.sort();
        let mut want: Vec<String> = (0..40)
            .map(|i| format!("v{i}{}", if clash(i) { "" } else { "+" }))
            .chain(["first".into()])
            .collect();
        want.sort();
        assert_eq!(all, want);
        // Alone, forty batches would be forty commands; grouped, with the
        // failed groups split, far fewer. Four clashing batches among
        // forty cannot all have been alone in groups that small.
        let commands = Counts::get(&counts.commands) - commands;
        assert!(commands < 30, "{commands} commands for 40 batches");
        assert!(Counts::get(&counts.splits) >= 1, "no group was split");
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Waits (at most 30 s) for `done` to hold.
    async fn until(done: impl Fn() -> bool) {
        tokio::time::timeout(std::time::Duration::from_secs(30), async {
            while !done() {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("waited 30 s");
    }

    /// Queues a batch that inserts `a` and then `b` (different values,
    /// so the batches are of the same statements).
    fn pair(
        db: &crate::store::Db,
        a: &str,
        b: &str,
    ) -> tokio::task::JoinHandle<Result<Done, sqlx::Error>> {
        let db = db.clone();
        let mut batch = Batch::new();
        batch.push("INSERT INTO t (v) VALUES ($1)", vec![a.into()]);
        batch.push("INSERT INTO t (v) VALUES ($1)", vec![b.into()]);
        tokio::spawn(async move { db.write_once(batch).await })
    }

    /// A pool transaction holding the write lock (taken after `first` was
    /// written, so the batches' task has its connection), and a batch of
    /// another use case waiting for the lock in its BEGIN: batches queued
    /// now are taken together once it ran.
    async fn behind_a_blocker(
        first: &str,
    ) -> (
        crate::store::Db,
        std::path::PathBuf,
        crate::store::Tx,
        tokio::task::JoinHandle<Result<Done, sqlx::Error>>,
    ) {
        use crate::store::writer::Counts;
        let (db, dir) = one_connection().await;
        let mut b = Batch::new();
        b.push("INSERT INTO t (v) VALUES ($1)", vec![first.into()]);
        db.write_once(b).await.unwrap();
        let tx = db.begin().await.unwrap();
        let blocker = {
            let db = db.clone();
            let mut b = Batch::new();
            b.push(
                "INSERT INTO t (v) VALUES ($1) RETURNING id",
                vec!["blocker".into()],
            );
            tokio::spawn(async move { db.write_once(b).await })
        };
        let counts = db.writer.counts.clone();
        until(|| Counts::get(&counts.commands) >= 2).await;
        (db, dir, tx, blocker)
    }

    /// A group of four whose third batch fails at its second statement is
    /// split there: the two before run again together, the third alone,
    /// the fourth alone; so four commands of 4, 2, 1 and 1 batches.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_group_is_split_at_the_batch_whose_statement_failed() {
        use crate::store::writer::Counts;
        let (db, dir, tx, blocker) = behind_a_blocker("taken").await;
        let counts = db.writer.counts.clone();
        // Queued one after another: spawned at once, they could queue in any
        // order, and where the failing batch sits decides the split's sizes.
        let mut four = Vec::new();
        for (a, b) in [("a0", "b0"), ("a1", "b1"), ("a2", "taken"), ("a3", "b3")] {
            four.push(pair(&db, a, b));
            let queued = 2 + four.len();
            until(|| Counts::get(&counts.queued) >= queued as _).await;
        }
        tx.commit().await.unwrap();
        blocker.await.unwrap().unwrap();
        for (i, task) in four.into_iter().enumerate() {
            match task.await.unwrap() {
                Ok(done) if i != 2 => assert_eq!(done.changed, [1, 1], "batch {i}"),
                Err(sqlx::Error::Database(e)) if i == 2 => assert!(e.is_unique_violation()),
                other => panic!("batch {i}: {:?}", other.map(|d| d.changed)),
            }
        }
        assert_eq!(counts.sizes.lock().unwrap()[2..], [4, 2, 1, 1]);
        let mut all = values(&db).await;
        all.sort();
        assert_eq!(
            all,
            ["a0", "a1", "a3", "b0", "b1", "b3", "blocker", "taken"]
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    /// A group that cannot have the write lock within the busy timeout
    /// fails as a whole, once: each batch hears so, and none is run again
    /// alone (which would make each wait the timeout again).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_group_that_fails_as_a_whole_answers_each_batch_once() {
        use crate::store::writer::Counts;
        let (db, dir, tx, blocker) = behind_a_blocker("first").await;
        let counts = db.writer.counts.clone();
        let two = [pair(&db, "a0", "b0"), pair(&db, "a1", "b1")];
        until(|| Counts::get(&counts.queued) >= 4).await;
        // The blocker's BEGIN and then the pair's give up after SQLite's
        // busy timeout (5 s) while the transaction holds the lock.
        let e = blocker.await.unwrap().err().expect("the lock is held");
        assert!(e.to_string().contains("locked"), "{e}");
        for task in two {
            let e = task.await.unwrap().err().expect("the lock is still held");
            assert!(e.to_string().contains("locked"), "{e}");
        }
        assert_eq!(counts.sizes.lock().unwrap()[1..], [1, 2]);
        tx.rollback().await.unwrap();
        assert_eq!(values(&db).await, ["first"]);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_dollar_without_digits_is_left_alone() {
        let mut out = String::new();
        renumber(&mut out, "SELECT 'x' || $1, $", 5);
        assert_eq!(out, "SELECT 'x' || $6, $");
    }

    #[test]
    fn a_dollar_in_a_literal_is_found() {
        assert!(dollar_in_a_literal("SELECT 'a$1' || $2"));
        assert!(!dollar_in_a_literal("SELECT 'a', $1, 'b''c'"));
        assert!(!dollar_in_a_literal("SELECT $1"));
    }
}
