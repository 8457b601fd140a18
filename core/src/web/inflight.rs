//! The requests in flight, and the watchdog that names those that take too
//! long.
//!
//! Issue 15's soak had a few requests wait minutes while the server went on
//! answering the rest: a runtime worker held by a task that never yielded
//! (sqlx's pool reaper, see `store`), the requests woken onto it stranded.
//! Nothing in the log said so. Now a request is on the list from its
//! tenant's resolution until the last byte of its answer has gone (a
//! streamed export or ZIP included) or its client has left, and a thread,
//! not a task, looks at the list: it reports even while the runtime's
//! workers are the ones held. Each slow request is reported once when it
//! passes [`SLOW_AFTER`], with each worker's counters, and once more when it
//! ends, with its time.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// A request in flight longer than this is reported: well under the 60 s a
/// proxy or a browser usually waits, well over any answer this server gives
/// under load (the soak's slowest kinds stay under 1 s at p99).
pub const SLOW_AFTER: Duration = Duration::from_secs(20);

/// How often the watchdog looks.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);

/// The requests being answered. Its size is the number of requests in
/// flight, which the connections bound; each leaves as its answer ends.
#[derive(Default)]
pub struct InFlight {
    next: AtomicU64,
    map: Mutex<HashMap<u64, Entry>>,
}

struct Entry {
    started: Instant,
    what: Request,
    reported: bool,
    phase: Phase,
}

/// Where a request is: a stall in `answering` is the server's; one in
/// `sending` may be a slow client reading a large download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Its handler runs (an upload's body is read here).
    Answering,
    /// Its streamed body is being sent.
    Sending,
}

/// What the log says of a request: never its query string or body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub tenant: String,
    pub request_id: String,
    pub method: String,
    pub path: String,
}

/// A request past the limit, reported once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overdue {
    pub what: Request,
    pub age: Duration,
    pub phase: Phase,
}

/// Holds a request on the list; dropping it takes the request off.
pub struct Guard {
    list: Arc<InFlight>,
    id: u64,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let gone = self.list.lock().remove(&self.id);
        if let Some(e) = gone.filter(|e| e.reported) {
            tracing::warn!(
                tenant = %e.what.tenant,
                request_id = %e.what.request_id,
                method = %e.what.method,
                path = %e.what.path,
                phase = ?e.phase,
                secs = e.started.elapsed().as_secs_f64(),
                "slow request ended"
            );
        }
    }
}

impl InFlight {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Entry>> {
        // A panic elsewhere while the map was held leaves it whole: each
        // change is a single insert or remove.
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Put a request on the list until the guard is dropped.
    pub fn enter(self: &Arc<Self>, what: Request) -> Guard {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let entry = Entry {
            started: Instant::now(),
            what,
            reported: false,
            phase: Phase::Answering,
        };
        self.lock().insert(id, entry);
        Guard {
            list: self.clone(),
            id,
        }
    }

    /// How many requests are in flight.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no request is in flight.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The requests in flight longer than `limit` at `now` that were not
    /// reported before, now marked reported.
    pub fn overdue(&self, now: Instant, limit: Duration) -> Vec<Overdue> {
        let mut map = self.lock();
        let mut out: Vec<Overdue> = map
            .values_mut()
            .filter(|e| !e.reported && now.saturating_duration_since(e.started) > limit)
            .map(|e| {
                e.reported = true;
                Overdue {
                    what: e.what.clone(),
                    age: now.saturating_duration_since(e.started),
                    phase: e.phase,
                }
            })
            .collect();
        out.sort_by_key(|o| std::cmp::Reverse(o.age));
        out
    }
}

/// Keep a request on the list until its answer's last byte is taken: an
/// answer whose length is known is whole already, and the guard goes with
/// this call; a streamed one (an export, a ZIP, a file) holds it in its body.
pub fn until_sent(resp: axum::response::Response, guard: Guard) -> axum::response::Response {
    use axum::body::{Body, HttpBody};
    use futures_util::StreamExt;
    if resp.body().size_hint().exact().is_some() {
        return resp;
    }
    if let Some(e) = guard.list.lock().get_mut(&guard.id) {
        e.phase = Phase::Sending;
    }
    let (parts, body) = resp.into_parts();
    let held = body.into_data_stream().map(move |chunk| {
        let _held = &guard;
        chunk
    });
    axum::response::Response::from_parts(parts, Body::from_stream(held))
}

/// One worker's counters, as the runtime's stable metrics give them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WorkerCounters {
    pub busy: Duration,
    pub parks: u64,
}

/// Each worker's counters now.
pub fn worker_counters(rt: &tokio::runtime::Handle) -> Vec<WorkerCounters> {
    let m = rt.metrics();
    (0..m.num_workers())
        .map(|w| WorkerCounters {
            busy: m.worker_total_busy_duration(w),
            parks: m.worker_park_count(w),
        })
        .collect()
}

/// The workers whose counters did not move between two readings. A worker
/// in a poll that does not return (the soak's stall) is among them; so is
/// one asleep with nothing to do, which is why the log calls them still and
/// not stuck: a request overdue while every worker is still waits on
/// something outside (a lock, the disk, another server).
pub fn still(before: &[WorkerCounters], now: &[WorkerCounters]) -> Vec<usize> {
    before
        .iter()
        .zip(now)
        .enumerate()
        .filter(|(_, (a, b))| a == b)
        .map(|(i, _)| i)
        .collect()
}

/// Start the watchdog thread: every [`CHECK_EVERY`] it warns, once each, of
/// the requests in flight longer than `limit`. It ends when the list is
/// dropped, or once `stop` is true and the list empty: a request that holds
/// up the shutdown's grace is the likeliest stalled one.
pub fn watch(
    list: Weak<InFlight>,
    rt: tokio::runtime::Handle,
    stop: tokio::sync::watch::Receiver<bool>,
    limit: Duration,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("tapline-watchdog".into())
        .spawn(move || {
            let mut before = worker_counters(&rt);
            loop {
                std::thread::sleep(CHECK_EVERY);
                let Some(list) = list.upgrade() else { return };
                if *stop.borrow() && list.is_empty() {
                    return;
                }
                let now = worker_counters(&rt);
                let overdue = list.overdue(Instant::now(), limit);
                if !overdue.is_empty() {
                    let still = still(&before, &now);
                    let busy_ms: Vec<u128> = now.iter().map(|w| w.busy.as_millis()).collect();
                    let parks: Vec<u64> = now.iter().map(|w| w.parks).collect();
                    for o in overdue {
                        tracing::warn!(
                            tenant = %o.what.tenant,
                            request_id = %o.what.request_id,
                            method = %o.what.method,
                            path = %o.what.path,
                            phase = ?o.phase,
                            secs = o.age.as_secs(),
                            in_flight = list.len(),
                            ?still,
                            ?busy_ms,
                            ?parks,
                            "slow request: still in flight"
                        );
                    }
                }
                before = now;
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(path: &str) -> Request {
        Request {
            tenant: "t".into(),
            request_id: "r".into(),
            method: "GET".into(),
            path: path.into(),
        }
    }

    #[test]
    fn a_request_is_reported_once_when_it_passes_the_limit_and_leaves_with_its_guard() {
        let list = Arc::new(InFlight::default());
        let slow = list.enter(request("/slow"));
        let t0 = Instant::now();
        let quick = list.enter(request("/quick"));
        assert_eq!(list.len(), 2);
        let limit = Duration::from_secs(20);
        assert!(list.overdue(t0 + Duration::from_secs(5), limit).is_empty());
        drop(quick);
        assert_eq!(list.len(), 1);
        let late = list.overdue(t0 + Duration::from_secs(21), limit);
        assert_eq!(late.len(), 1, "{late:?}");
        assert_eq!(late[0].what.path, "/slow");
        assert_eq!(late[0].phase, Phase::Answering);
        assert!(late[0].age >= Duration::from_secs(21));
        assert!(
            list.overdue(t0 + Duration::from_secs(40), limit).is_empty(),
            "reported twice"
        );
        let next = list.enter(request("/next"));
        let later = list.overdue(Instant::now() + Duration::from_secs(25), limit);
        assert_eq!(
            later
                .iter()
                .map(|o| o.what.path.as_str())
                .collect::<Vec<_>>(),
            ["/next"]
        );
        drop(slow);
        drop(next);
        assert!(list.is_empty());
    }

    #[tokio::test]
    async fn a_streamed_answer_holds_its_request_until_its_last_byte() {
        use axum::body::Body;
        let list = Arc::new(InFlight::default());

        let whole = axum::response::Response::new(Body::from("page"));
        let whole = until_sent(whole, list.enter(request("/page")));
        assert!(list.is_empty(), "a whole answer keeps nothing");
        assert_eq!(
            axum::body::to_bytes(whole.into_body(), 100).await.unwrap(),
            "page"
        );

        let chunks = futures_util::stream::iter(["a", "b", "c"].map(Ok::<_, std::io::Error>));
        let streamed = axum::response::Response::new(Body::from_stream(chunks));
        let streamed = until_sent(streamed, list.enter(request("/export")));
        assert_eq!(list.len(), 1, "the stream is not sent yet");
        let late = list.overdue(Instant::now() + SLOW_AFTER * 2, SLOW_AFTER);
        assert_eq!(late[0].phase, Phase::Sending);
        let body = axum::body::to_bytes(streamed.into_body(), 100)
            .await
            .unwrap();
        assert_eq!(body, "abc");
        assert!(list.is_empty(), "sent, and still on the list");

        // A client that leaves drops the body unread.
        let chunks = futures_util::stream::iter(["a"].map(Ok::<_, std::io::Error>));
        let left = axum::response::Response::new(Body::from_stream(chunks));
        let left = until_sent(left, list.enter(request("/zip")));
        assert_eq!(list.len(), 1);
        drop(left);
        assert!(list.is_empty());
    }

    #[test]
    fn still_workers_are_those_whose_counters_did_not_move() {
        let w = |ms, parks| WorkerCounters {
            busy: Duration::from_millis(ms),
            parks,
        };
        let before = [w(100, 5), w(200, 7), w(300, 9)];
        // Worker 0 parked again, worker 1 worked on without parking, worker
        // 2 did neither.
        let now = [w(100, 6), w(250, 7), w(300, 9)];
        assert_eq!(still(&before, &now), [2]);
        assert_eq!(still(&now, &now).len(), 3);
    }

    #[test]
    fn a_worker_held_in_one_poll_reads_still_while_a_working_one_does_not() {
        use std::sync::atomic::AtomicBool;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (held_tx, held_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        rt.spawn(async move {
            // A poll that does not return until told to, as the reaper's.
            held_tx.send(()).unwrap();
            release_rx.recv().unwrap();
        });
        held_rx.recv().unwrap();
        // The other worker takes this one and keeps working, yielding.
        let done = Arc::new(AtomicBool::new(false));
        let spinning = done.clone();
        rt.spawn(async move {
            while !spinning.load(Ordering::Relaxed) {
                tokio::task::yield_now().await;
            }
        });
        // Readings 50 ms apart until one tells the two apart (the working
        // worker may get no processor time in a window on a busy machine).
        let mut seen = worker_counters(rt.handle());
        let mut still_every_time = vec![true; seen.len()];
        let mut told_apart = None;
        for _ in 0..100 {
            std::thread::sleep(Duration::from_millis(50));
            let now = worker_counters(rt.handle());
            let s = still(&seen, &now);
            for (i, flag) in still_every_time.iter_mut().enumerate() {
                *flag &= s.contains(&i);
            }
            seen = now;
            if s.len() == 1 {
                told_apart = Some(s[0]);
                break;
            }
        }
        release_tx.send(()).unwrap();
        done.store(true, Ordering::Relaxed);
        let held = told_apart.expect("no reading had exactly one worker still");
        assert!(
            still_every_time[held],
            "worker {held} moved in some reading while held: {still_every_time:?}"
        );
    }

    #[test]
    fn the_watchdog_ends_with_its_list_or_once_stopped_with_none_in_flight() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let start = |list: &Arc<InFlight>| {
            let (stop, stop_rx) = tokio::sync::watch::channel(false);
            let thread = watch(
                Arc::downgrade(list),
                rt.handle().clone(),
                stop_rx,
                SLOW_AFTER,
            )
            .unwrap();
            (stop, thread)
        };
        let list = Arc::new(InFlight::default());
        let (_stop, thread) = start(&list);
        drop(list);
        thread.join().unwrap();

        let list = Arc::new(InFlight::default());
        let (stop, thread) = start(&list);
        let last = list.enter(request("/last"));
        stop.send(true).unwrap();
        std::thread::sleep(CHECK_EVERY * 2);
        assert!(!thread.is_finished(), "stopped with a request in flight");
        drop(last);
        thread.join().unwrap();
    }
}
