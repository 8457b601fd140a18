//! `tapline-soak`: the soak generator that `tests/load/soak.sh` runs in its
//! own process against a `tapline serve` on loopback (issue 15).
//!
//! For a given time, in a closed loop without pauses:
//! - applicants (each its own address and browser) create a draft, open it,
//!   upload a PDF into its document slot, submit it with 20 fields, open
//!   "my applications" and the application, and download its ZIP; every
//!   tenth round, at most once a minute, they log out and in again (an
//!   Argon2 check; the server lets an address log in 50 times in 15
//!   minutes, and a faster loop would run into that limit);
//! - operators open the queue, open the newest application, set it to
//!   "in work", and every fifth round export the queue as CSV, then XLSX.
//!
//! Every 10 seconds it prints the window's throughput, p50/p99 of the
//! slowest kinds, errors, and the server's resident memory and threads
//! (from `/proc/<pid>/status`); at the end the whole run per kind, the
//! memory by ten minutes and the growth of the last half.
//!
//! Usage: `tapline-soak <server-root-url> <server-pid> <seconds> [applicants] [operators]`
//! (operators sign in as `op<i>@soak.example` with `TAPLINE_STAFF_PASSWORD`).

#[path = "bench_form.rs"]
mod bench_form;
use bench_form::FIELDS;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PASSWORD: &str = "Secret-pass-1";

/// What the run counts: every request's time by kind, for the whole run
/// and for the current 10-second window, and what went wrong.
#[derive(Default)]
struct Tally {
    all: BTreeMap<&'static str, Vec<Duration>>,
    window: BTreeMap<&'static str, Vec<Duration>>,
    server_errors: u64,
    /// Connection errors and timeouts.
    failures: u64,
    /// Submissions that did not end in "sent".
    refused: u64,
    /// Answers that were neither 5xx nor what the flow expects.
    unexpected: u64,
    last_problem: Option<String>,
}

type Shared = Arc<Mutex<Tally>>;

fn pct(times: &mut [Duration], p: f64) -> Duration {
    if times.is_empty() {
        return Duration::ZERO;
    }
    times.sort_unstable();
    times[((times.len() as f64 * p).ceil() as usize).saturating_sub(1)]
}

fn ms(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1000.0)
}

/// A browser of one tenant: cookies, the newest CSRF token, its address.
struct Client {
    http: reqwest::Client,
    base: String,
    origin: String,
    csrf: Option<String>,
    /// A page that carries a form token once signed in.
    home: &'static str,
    tally: Shared,
}

struct Answer {
    status: u16,
    location: Option<String>,
    body: String,
}

impl Answer {
    fn hidden(&self, name: &str) -> Option<String> {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self.body.find(&marker)? + marker.len();
        let end = self.body[start..].find('"')? + start;
        Some(self.body[start..end].to_string())
    }
}

impl Client {
    fn new(root: &str, ip: &str, home: &'static str, tally: Shared) -> Client {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-forwarded-for", ip.parse().expect("an address"));
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .build()
            .expect("a client");
        Client {
            http,
            base: format!("{root}/t/bench"),
            origin: root.to_string(),
            csrf: None,
            home,
            tally,
        }
    }

    /// Send, time and count one request of `kind`; the body is read whole
    /// (downloads included: their time is the client's full wait).
    async fn send(&mut self, kind: &'static str, req: reqwest::RequestBuilder) -> Option<Answer> {
        let t = Instant::now();
        let res = async {
            let resp = req.send().await?;
            let status = resp.status().as_u16();
            let new_session = resp.headers().get_all("set-cookie").iter().any(|c| {
                let c = c.to_str().unwrap_or("");
                c.starts_with("tl_session=") || c.starts_with("tl_staff=")
            });
            let location = resp
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .map(str::to_string);
            let bytes = resp.bytes().await?;
            Ok::<_, reqwest::Error>((status, new_session, location, bytes))
        }
        .await;
        let took = t.elapsed();
        let mut tally = self.tally.lock().unwrap();
        match res {
            Ok((status, new_session, location, bytes)) => {
                tally.all.entry(kind).or_default().push(took);
                tally.window.entry(kind).or_default().push(took);
                if status >= 500 {
                    tally.server_errors += 1;
                    tally.last_problem = Some(format!("{kind}: {status}"));
                }
                drop(tally);
                if new_session {
                    // A new session makes the page's token stale.
                    self.csrf = None;
                }
                let body = String::from_utf8_lossy(&bytes).into_owned();
                let a = Answer {
                    status,
                    location,
                    body,
                };
                if let Some(t) = a.hidden("csrf_token") {
                    self.csrf = Some(t);
                }
                Some(a)
            }
            Err(e) => {
                tally.failures += 1;
                tally.last_problem = Some(format!("{kind}: {e}"));
                None
            }
        }
    }

    fn unexpected(&self, what: String) {
        let mut t = self.tally.lock().unwrap();
        t.unexpected += 1;
        t.last_problem = Some(what);
    }

    async fn get(&mut self, kind: &'static str, path: &str) -> Option<Answer> {
        let req = self.http.get(format!("{}{path}", self.base));
        self.send(kind, req).await
    }

    /// The form token, from the home page (following its redirects) when
    /// a new session made the last one stale.
    async fn token(&mut self) -> Option<String> {
        if self.csrf.is_none() {
            let mut p = self.get("page", self.home).await?;
            for _ in 0..3 {
                if self.csrf.is_some() || p.location.is_none() {
                    break;
                }
                p = self.follow("page", &p).await?;
            }
        }
        self.csrf.clone()
    }

    async fn post(
        &mut self,
        kind: &'static str,
        path: &str,
        fields: &[(&str, &str)],
    ) -> Option<Answer> {
        let token = self.token().await?;
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("csrf_token", &token)
            .extend_pairs(fields)
            .finish();
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(kind, req).await
    }

    async fn upload(&mut self, path: &str, name: &str, bytes: &[u8]) -> Option<Answer> {
        let token = self.token().await?;
        let boundary = "----taplineSoakBoundary";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{token}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
             Content-Type: application/pdf\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .header("accept", "application/json")
            .body(body);
        self.send("upload", req).await
    }

    async fn follow(&mut self, kind: &'static str, a: &Answer) -> Option<Answer> {
        let req = self
            .http
            .get(format!("{}{}", self.origin, a.location.as_deref()?));
        self.send(kind, req).await
    }
}

/// A PDF-looking file of 40–300 KB; 64 different ones, so the store keeps
/// a bounded set (it is content-addressed) while every upload is read,
/// hashed and written in full.
fn pdf(n: u64) -> Vec<u8> {
    let size = 40_000 + (n * 4099 % 260_000) as usize;
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while out.len() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.extend_from_slice(b"\n%%EOF\n");
    out
}

async fn applicant(
    root: String,
    i: usize,
    deadline: Instant,
    tally: Shared,
    files: Arc<Vec<Vec<u8>>>,
) {
    let ip = format!("10.1.{}.{}", i / 250, i % 250 + 1);
    let mut c = Client::new(&root, &ip, "/applications", tally);
    let email = format!("soak{i}-{}@example.ru", std::process::id());
    // Registration, as a person does it: the form, then the post.
    if c.get("page", "/register?type=individual").await.is_none() {
        return;
    }
    let r = c
        .post(
            "register",
            "/register",
            &[
                ("type", "individual"),
                ("password", PASSWORD),
                ("password2", PASSWORD),
                ("consent", "on"),
                ("full_name", "Нагрузкин Иван"),
                ("email", &email),
            ],
        )
        .await;
    if r.as_ref().is_none_or(|r| r.status != 303) {
        c.unexpected(format!(
            "register: {:?}",
            r.map(|r| (r.status, r.body.chars().take(200).collect::<String>()))
        ));
        return;
    }
    let mut round: u64 = 0;
    let mut last_login = Instant::now();
    while Instant::now() < deadline {
        round += 1;
        let Some(r) = c
            .post("create", "/applications/new", &[("kind", "connection")])
            .await
        else {
            // Counted already; no spinning on a server that went away.
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let Some(id) = r
            .location
            .as_deref()
            .and_then(|l| l.split("/applications/").nth(1))
            .map(|l| l.split('?').next().unwrap_or_default().to_string())
        else {
            c.unexpected(format!("create: {} without a draft", r.status));
            // No spinning on a refusal.
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let Some(draft) = c.follow("open", &r).await else {
            continue;
        };
        let Some(version) = draft.hidden("version") else {
            c.unexpected(format!("open: {} without a form", draft.status));
            continue;
        };
        let file = &files[(i as u64 * 7 + round) as usize % files.len()];
        if let Some(u) = c
            .upload(
                &format!("/applications/{id}/files/site_plan"),
                "план.pdf",
                file,
            )
            .await
            && !u.body.contains("\"ok\":true")
        {
            c.unexpected(format!("upload: {} {}", u.status, u.body));
        }
        let mut form = vec![("action", "submit"), ("version", version.as_str())];
        form.extend_from_slice(&FIELDS);
        if let Some(s) = c
            .post("submit", &format!("/applications/{id}"), &form)
            .await
            && !s
                .location
                .as_deref()
                .is_some_and(|l| l.ends_with("?submitted=1"))
        {
            let mut t = c.tally.lock().unwrap();
            t.refused += 1;
            t.last_problem = Some(format!(
                "submit: {} {:?} {}",
                s.status,
                s.location,
                s.body.chars().take(300).collect::<String>()
            ));
        }
        c.get("list", "/applications").await;
        c.get("view", &format!("/applications/{id}")).await;
        if let Some(z) = c.get("zip", &format!("/applications/{id}/files.zip")).await
            && (z.status != 200 || !z.body.starts_with("PK"))
        {
            c.unexpected(format!("zip: {}", z.status));
        }
        if round.is_multiple_of(10) && last_login.elapsed() >= Duration::from_secs(60) {
            last_login = Instant::now();
            c.post("logout", "/logout", &[]).await;
            c.csrf = None;
            let r = c
                .post(
                    "login",
                    "/login",
                    &[("identifier", &email), ("password", PASSWORD)],
                )
                .await;
            if r.as_ref().is_none_or(|r| r.status != 303) {
                c.unexpected(format!("login: {:?}", r.map(|r| r.status)));
            }
        }
    }
}

async fn operator(root: String, i: usize, deadline: Instant, tally: Shared, password: String) {
    let ip = format!("10.2.0.{}", i + 1);
    let mut c = Client::new(&root, &ip, "/office/", tally);
    if c.get("page", "/office/login").await.is_none() {
        return;
    }
    let email = format!("op{i}@soak.example");
    let r = c
        .post(
            "staff_login",
            "/office/login",
            &[("email", &email), ("password", &password)],
        )
        .await;
    if r.as_ref().is_none_or(|r| r.status != 303) {
        c.unexpected(format!("staff login: {:?}", r.map(|r| r.status)));
        return;
    }
    let mut round: u64 = 0;
    while Instant::now() < deadline {
        round += 1;
        let Some(q) = c.get("queue", "/office/").await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        // The newest applications, one per operator so they rarely collide.
        let ids: Vec<&str> = q
            .body
            .split("<tr data-id=\"")
            .skip(1)
            .filter_map(|s| s.split('"').next())
            .collect();
        if let Some(id) = ids.get(i % ids.len().max(1)).map(|s| s.to_string()) {
            c.get("card", &format!("/office/applications/{id}")).await;
            if let Some(r) = c
                .post(
                    "status",
                    &format!("/office/applications/{id}/status"),
                    &[("to", "in_work")],
                )
                .await
                && r.status != 303
                && r.status != 422
            {
                c.unexpected(format!("status: {}", r.status));
            }
        } else {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        if round.is_multiple_of(5) {
            for (kind, path) in [
                ("export_csv", "/office/export.csv"),
                ("export_xlsx", "/office/export.xlsx"),
            ] {
                if let Some(e) = c.get(kind, path).await
                    && e.status != 200
                {
                    c.unexpected(format!("{kind}: {}", e.status));
                }
            }
        }
    }
}

/// p50, p99 and max per kind since the start.
fn kinds(all: &mut BTreeMap<&'static str, Vec<Duration>>, elapsed: Duration) {
    println!(
        "{:<12} {:>9} {:>8} {:>8} {:>8} {:>8}",
        "kind", "count", "p50 ms", "p99 ms", "max ms", "per s"
    );
    for (kind, times) in all.iter_mut() {
        let n = times.len();
        println!(
            "{:<12} {:>9} {:>8} {:>8} {:>8} {:>8.1}",
            kind,
            n,
            ms(pct(times, 0.50)),
            ms(pct(times, 0.99)),
            ms(times.iter().max().copied().unwrap_or_default()),
            n as f64 / elapsed.as_secs_f64()
        );
    }
}

/// The server's resident memory (MiB), anonymous part (MiB) and threads.
fn proc_status(pid: u32) -> Option<(f64, f64, u32)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<f64> {
        s.lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    Some((
        field("VmRSS:")? / 1024.0,
        field("RssAnon:")? / 1024.0,
        field("Threads:")? as u32,
    ))
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let usage =
        "usage: tapline-soak <server-root-url> <server-pid> <seconds> [applicants] [operators]";
    let root = args.next().expect(usage);
    let pid: u32 = args.next().expect(usage).parse().expect("a pid");
    let secs: u64 = args.next().expect(usage).parse().expect("seconds");
    let applicants: usize = args.next().map_or(50, |a| a.parse().expect("applicants"));
    let operators: usize = args.next().map_or(5, |a| a.parse().expect("operators"));
    let staff_password = std::env::var("TAPLINE_STAFF_PASSWORD").expect("TAPLINE_STAFF_PASSWORD");

    let tally: Shared = Arc::default();
    let files = Arc::new((0..64).map(pdf).collect::<Vec<_>>());
    let start = Instant::now();
    let deadline = start + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for i in 0..applicants {
        tasks.push(tokio::spawn(applicant(
            root.clone(),
            i,
            deadline,
            tally.clone(),
            files.clone(),
        )));
    }
    for i in 0..operators {
        tasks.push(tokio::spawn(operator(
            root.clone(),
            i,
            deadline,
            tally.clone(),
            staff_password.clone(),
        )));
    }

    println!(
        "{:>6} {:>7} {:>8} {:>8} {:>7} {:>5} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "t(s)",
        "req/s",
        "rss MiB",
        "anon MiB",
        "threads",
        "5xx",
        "submit99",
        "zip99",
        "csv99",
        "xlsx99",
        "login99"
    );
    let mut rss: Vec<(u64, f64)> = Vec::new();
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::now() + Duration::from_secs(10),
        Duration::from_secs(10),
    );
    if let Some((r, _, _)) = proc_status(pid) {
        rss.push((0, r));
    }
    let mut last = Instant::now();
    while Instant::now() < deadline {
        tick.tick().await;
        let t = start.elapsed().as_secs();
        let (mem, anon, threads) = proc_status(pid).unwrap_or((0.0, 0.0, 0));
        rss.push((t, mem));
        let mut tally = tally.lock().unwrap();
        let mut window = std::mem::take(&mut tally.window);
        let n: usize = window.values().map(Vec::len).sum();
        let mut p99 = |k: &str| {
            window
                .get_mut(k)
                .filter(|v| !v.is_empty())
                .map_or("-".to_string(), |v| ms(pct(v, 0.99)))
        };
        println!(
            "{:>6} {:>7.1} {:>8.1} {:>8.1} {:>7} {:>5} {:>9} {:>9} {:>9} {:>9} {:>9}",
            t,
            n as f64 / last.elapsed().as_secs_f64(),
            mem,
            anon,
            threads,
            tally.server_errors,
            p99("submit"),
            p99("zip"),
            p99("export_csv"),
            p99("export_xlsx"),
            p99("login"),
        );
        last = Instant::now();
        // A long run shows its whole so far every ten minutes, so a run cut
        // short still has its figures per kind.
        if t % 600 < 10 && t >= 600 && Instant::now() < deadline {
            println!(
                "-- since the start ({t} s): 5xx {}, connection errors {}, refused submissions {}, unexpected {}",
                tally.server_errors, tally.failures, tally.refused, tally.unexpected
            );
            kinds(&mut tally.all, start.elapsed());
        }
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = start.elapsed();
    let mut tally = tally.lock().unwrap();
    let total: usize = tally.all.values().map(Vec::len).sum();
    println!(
        "\n{total} requests in {:.0} s: {:.1}/s; 5xx {}, connection errors {}, refused submissions {}, unexpected answers {}",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        tally.server_errors,
        tally.failures,
        tally.refused,
        tally.unexpected
    );
    if let Some(p) = &tally.last_problem {
        println!("last problem: {p}");
    }
    kinds(&mut tally.all, elapsed);
    // Resident memory by ten minutes, and the growth of the run's last half.
    let at = |s: u64| {
        rss.iter()
            .min_by_key(|(t, _)| t.abs_diff(s))
            .map_or(0.0, |(_, m)| *m)
    };
    let end = rss.last().map_or(0, |(t, _)| *t);
    let marks: Vec<String> = (0..=end / 600)
        .map(|m| format!("{}m {:.0}", m * 10, at(m * 600)))
        .chain(std::iter::once(format!("end {:.0}", at(end))))
        .collect();
    println!("rss MiB: {}", marks.join(", "));
    let (mid, last) = (at(end / 2), at(end));
    println!(
        "last half ({}–{} s): {:.1} → {:.1} MiB, {:+.1} %",
        end / 2,
        end,
        mid,
        last,
        100.0 * (last - mid) / mid.max(1.0)
    );
    // A reading is one moment: an export or a ZIP being built moves it by
    // tens of MiB. The medians of the half's first and last twelfth (five
    // minutes of an hour) say where the memory sits.
    let median = |from: u64, to: u64| {
        let mut m: Vec<f64> = rss
            .iter()
            .filter(|(t, _)| (from..=to).contains(t))
            .map(|(_, m)| *m)
            .collect();
        m.sort_by(f64::total_cmp);
        m.get(m.len() / 2).copied().unwrap_or(0.0)
    };
    let w = (end / 12).max(10);
    let (first, last) = (median(end / 2, end / 2 + w), median(end - w, end));
    println!(
        "last half, medians of its first and last {w} s: {first:.1} → {last:.1} MiB, {:+.1} %",
        100.0 * (last - first) / first.max(1.0)
    );
}
