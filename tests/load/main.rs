//! `tapline-load`: the HTTP load generator that `tests/load/http.sh` runs
//! in its own process against a `tapline serve` on loopback.
//!
//! Two phases with the same number of concurrent clients:
//! 1. the ceiling: `GET /healthz`, the cheapest route the server has;
//! 2. applications: each client registers on the bench tenant, then in a
//!    loop creates a draft, opens it and submits it with 20 fields. The
//!    submit (the 20-field POST: validation, save, number, status, history
//!    and notification in one transaction) is timed on its own, and whole
//!    applications per second are counted.
//!
//! Usage: `tapline-load <server-root-url> [clients] [seconds]`.

#[path = "bench_form.rs"]
mod bench_form;
use bench_form::FIELDS;
use std::time::{Duration, Instant};
use tapline_e2e::{Browser, register};

struct Stats {
    name: String,
    times: Vec<Duration>,
    done: usize,
    elapsed: Duration,
}

impl Stats {
    fn print(&mut self) {
        self.times.sort();
        let pct = |p: f64| {
            self.times
                .get(((self.times.len() as f64 * p).ceil() as usize).saturating_sub(1))
                .copied()
                .unwrap_or_default()
        };
        println!(
            "{:<44} {:>9.1}/s  p50 {:>9.3?}  p99 {:>9.3?}  ({} in {:.1?})",
            self.name,
            self.done as f64 / self.elapsed.as_secs_f64(),
            pct(0.50),
            pct(0.99),
            self.done,
            self.elapsed
        );
    }
}

async fn hello(root: String, clients: usize, secs: u64) -> Stats {
    let client = reqwest::Client::new();
    let start = Instant::now();
    let deadline = start + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (client, url) = (client.clone(), format!("{root}/healthz"));
        tasks.push(tokio::spawn(async move {
            let mut times = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                let r = client.get(&url).send().await.expect("healthz answers");
                assert!(r.status().is_success());
                r.bytes().await.unwrap();
                times.push(t.elapsed());
            }
            times
        }));
    }
    let mut times = Vec::new();
    for t in tasks {
        times.extend(t.await.unwrap());
    }
    Stats {
        name: format!("GET /healthz (ceiling), {clients} clients"),
        done: times.len(),
        times,
        elapsed: start.elapsed(),
    }
}

async fn applications(root: String, clients: usize, secs: u64) -> (Stats, Stats) {
    let base = format!("{root}/t/bench");
    // Everyone registers first, so the timed phase is only applications.
    let mut browsers = Vec::new();
    for i in 0..clients {
        // Each client is its own address, as behind a load balancer: the
        // server's per-address registration limit stays on.
        let mut b = Browser::behind_proxy(
            base.clone(),
            Some(&format!("10.0.{}.{}", i / 250, i % 250 + 1)),
        );
        let email = format!("load{i}-{}@example.ru", std::process::id());
        let r = register(
            &mut b,
            "individual",
            &[("full_name", "Нагрузкин Иван"), ("email", &email)],
        )
        .await;
        assert_eq!(r.status, 303, "registration: {}", r.body);
        browsers.push(b);
    }
    let start = Instant::now();
    let deadline = start + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for mut b in browsers {
        tasks.push(tokio::spawn(async move {
            let mut submit_times = Vec::new();
            let mut cycle_times = Vec::new();
            while Instant::now() < deadline {
                let t0 = Instant::now();
                let r = b.post("/applications/new", &[("kind", "connection")]).await;
                let loc = r.location.clone().expect("a draft");
                let id = loc
                    .split("/applications/")
                    .nth(1)
                    .unwrap()
                    .split('?')
                    .next()
                    .unwrap()
                    .to_string();
                let draft = b.follow(&r).await;
                let version = draft.hidden("version").expect("the draft form");
                let mut form = vec![("action", "submit"), ("version", version.as_str())];
                form.extend_from_slice(&FIELDS);
                let t1 = Instant::now();
                let r = b.post(&format!("/applications/{id}"), &form).await;
                submit_times.push(t1.elapsed());
                assert!(
                    r.location
                        .as_deref()
                        .is_some_and(|l| l.ends_with("?submitted=1")),
                    "submit: {} {}",
                    r.status,
                    r.body
                );
                cycle_times.push(t0.elapsed());
            }
            (submit_times, cycle_times)
        }));
    }
    let (mut submits, mut cycles) = (Vec::new(), Vec::new());
    for t in tasks {
        let (s, c) = t.await.unwrap();
        submits.extend(s);
        cycles.extend(c);
    }
    let elapsed = start.elapsed();
    (
        Stats {
            name: format!("POST submit, 20 fields, {clients} clients"),
            done: submits.len(),
            times: submits,
            elapsed,
        },
        Stats {
            name: "whole application (create, open, submit)".into(),
            done: cycles.len(),
            times: cycles,
            elapsed,
        },
    )
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let root = args
        .next()
        .expect("usage: tapline-load <server-root-url> [clients] [seconds]");
    let clients: usize = args.next().map_or(32, |c| c.parse().expect("clients"));
    let secs: u64 = args.next().map_or(20, |s| s.parse().expect("seconds"));
    let mut hello = hello(root.clone(), clients, secs).await;
    let (mut submit, mut whole) = applications(root, clients, secs).await;
    hello.print();
    submit.print();
    whole.print();
    let h = hello.done as f64 / hello.elapsed.as_secs_f64();
    let s = submit.done as f64 / submit.elapsed.as_secs_f64();
    println!(
        "submit throughput is {:.1}% of the hello-world ceiling",
        100.0 * s / h
    );
}
