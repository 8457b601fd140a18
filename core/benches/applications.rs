//! "My applications" at scale, in the database layer
//! (`cargo bench -p tapline --bench applications`).
//!
//! Builds (once; it is kept under `target/bench-db/`) a SQLite database
//! of 1,000,000 applications over 100 tenants: 200 applicants per tenant
//! with 50 applications each, 20 field values per application, kinds,
//! statuses, supply types and dates spread over two years. Then it times
//! [`tapline::application::list_filtered`] (the page query and its count)
//! for random applicants: the plain first page of "my applications", and
//! the list filtered by kind, status, supply type and period. It prints
//! p50, p95 and p99 of each over 2,000 calls; the bar is p95 ≤ 20 ms.
//!
//! `TAPLINE_BENCH_REBUILD=1` builds the database again.

use std::path::PathBuf;
use std::time::{Duration, Instant};
use tapline::application::{Filter, list_filtered};
use tapline::store::Db;

const TENANTS: usize = 100;
const ACCOUNTS_PER_TENANT: usize = 200;
const APPS_PER_ACCOUNT: usize = 50;
const KINDS: [&str; 2] = ["tech_conditions", "connection"];
const STATUSES: [&str; 5] = ["draft", "submitted", "accepted", "rejected", "done"];
const SUPPLIES: [&str; 3] = ["Теплоснабжение", "Горячее водоснабжение", "Водоотведение"];

/// A small deterministic generator: the same database on every machine.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn ts(day: u64, secs: u64) -> String {
    let t = time::OffsetDateTime::UNIX_EPOCH
        + time::Duration::days(20_000 + day as i64)
        + time::Duration::seconds(secs as i64);
    tapline::store::ts(t)
}

fn values(r: &mut Lcg, i: usize) -> String {
    let mut m = serde_json::Map::new();
    m.insert(
        "object_address".into(),
        format!("г. Город, ул. Улица, д. {}", i % 300).into(),
    );
    m.insert("supply_type".into(), SUPPLIES[i % 3].into());
    for f in 0..18 {
        m.insert(
            format!("field_{f:02}"),
            format!("значение {}", r.below(100_000)).into(),
        );
    }
    serde_json::Value::Object(m).to_string()
}

async fn build(db: &Db) {
    let mut r = Lcg(42);
    let started = Instant::now();
    for t in 0..TENANTS {
        let tenant = format!("t{t:03}");
        let mut tx = db.pool.begin().await.unwrap();
        for a in 0..ACCOUNTS_PER_TENANT {
            let now = ts(0, 0);
            let (account,): (i64,) = sqlx::query_as(
                "INSERT INTO accounts (tenant_id, applicant_type, email, password_hash, created_at, updated_at) \
                 VALUES ($1, 'individual', $2, 'x', $3, $3) RETURNING id",
            )
            .bind(&tenant)
            .bind(format!("a{a}@example.ru"))
            .bind(&now)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
            // One statement per applicant's 50 rows keeps the bind count low.
            let mut sql = String::from(
                "INSERT INTO applications (tenant_id, account_id, kind, status, number, city, field_values, \
                 version, created_at, updated_at, submitted_at, supply_type) VALUES ",
            );
            for i in 0..APPS_PER_ACCOUNT {
                let b = i * 10;
                if i > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!(
                    "(${}, ${}, ${}, ${}, ${}, NULL, ${}, 1, ${}, ${}, ${}, ${})",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6,
                    b + 7,
                    b + 8,
                    b + 9,
                    b + 10
                ));
            }
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for i in 0..APPS_PER_ACCOUNT {
                let day = r.below(730) as u64;
                let created = ts(day, r.below(86_400) as u64);
                let updated = ts(day + r.below(30) as u64, r.below(86_400) as u64);
                let status = STATUSES[r.below(STATUSES.len())];
                let submitted = (status != "draft").then(|| created.clone());
                q = q
                    .bind(tenant.clone())
                    .bind(account)
                    .bind(KINDS[r.below(2)])
                    .bind(status)
                    .bind((status != "draft").then(|| format!("{t}-{a}-{i}")))
                    .bind(values(&mut r, i))
                    .bind(created)
                    .bind(updated)
                    .bind(submitted)
                    .bind(SUPPLIES[i % 3]);
            }
            q.execute(&mut *tx).await.unwrap();
        }
        tx.commit().await.unwrap();
        if t % 10 == 9 {
            eprintln!(
                "  {} applications written in {:.0?}",
                (t + 1) * ACCOUNTS_PER_TENANT * APPS_PER_ACCOUNT,
                started.elapsed()
            );
        }
    }
    sqlx::query("ANALYZE").execute(&db.pool).await.unwrap();
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).saturating_sub(1)]
}

async fn measure(db: &Db, name: &str, make: impl Fn(&mut Lcg) -> Filter) {
    let (accounts,): (i64,) = sqlx::query_as("SELECT MAX(id) FROM accounts")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let mut r = Lcg(7);
    let mut times = Vec::new();
    let mut rows = 0usize;
    for i in 0..2_200 {
        let account = 1 + r.below(accounts as usize) as i64;
        let tenant = format!("t{:03}", (account - 1) as usize / ACCOUNTS_PER_TENANT);
        let f = make(&mut r);
        let start = Instant::now();
        let (page, total) = list_filtered(db, &tenant, account, &f, time::UtcOffset::UTC)
            .await
            .unwrap();
        let took = start.elapsed();
        assert!(page.len() as i64 <= total && total <= APPS_PER_ACCOUNT as i64);
        rows += page.len();
        // The first 200 calls warm the cache and are not counted.
        if i >= 200 {
            times.push(took);
        }
    }
    times.sort();
    println!(
        "{name:<48} p50 {:>8.3?}  p95 {:>8.3?}  p99 {:>8.3?}  (avg {:.1} rows per page)",
        percentile(&times, 0.50),
        percentile(&times, 0.95),
        percentile(&times, 0.99),
        rows as f64 / 2_200.0
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` would too, so
    // only run the (slow) build under a real bench invocation.
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("target/bench-db");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let file = dir.join("applications.db");
        let done = dir.join("built");
        if std::env::var_os("TAPLINE_BENCH_REBUILD").is_some() || !done.exists() {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            let db = Db::connect(&format!("sqlite://{}", file.display())).await.unwrap();
            eprintln!("building {} …", file.display());
            build(&db).await;
            std::fs::write(&done, "").unwrap();
        }
        let db = Db::connect(&format!("sqlite://{}", file.display())).await.unwrap();
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM applications")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        println!(
            "{n} applications, {TENANTS} tenants, {APPS_PER_ACCOUNT} per applicant; SQLite, database layer"
        );
        measure(&db, "my applications, first page of 20", |_| Filter {
            limit: 20,
            ..Filter::default()
        })
        .await;
        measure(&db, "my applications, third page of 20", |_| Filter {
            limit: 20,
            page: 2,
            ..Filter::default()
        })
        .await;
        measure(&db, "filtered: kind + status + supply + period", |r| {
            let from = 20_000 + r.below(365) as i64;
            let day = |d: i64| {
                (time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(d))
                    .date()
                    .to_string()
            };
            Filter {
                kind: Some(KINDS[r.below(2)].into()),
                status: Some(STATUSES[r.below(STATUSES.len())].into()),
                supply_type: Some(SUPPLIES[r.below(3)].into()),
                from: Some(day(from)),
                to: Some(day(from + 365)),
                limit: 20,
                page: 0,
            }
        })
        .await;
    });
}
