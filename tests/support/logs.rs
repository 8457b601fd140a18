//! The server's log lines, captured in memory so tests can assert that a
//! failure was explained there (one subscriber for the whole test process).

use std::io::Write;
use std::sync::{Mutex, OnceLock};

static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());
static INIT: OnceLock<()> = OnceLock::new();

struct Sink;

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub fn capture_logs() {
    INIT.get_or_init(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("info,sqlx=warn"))
            .with_ansi(false)
            .with_writer(|| Sink)
            .try_init();
    });
}

/// Log lines containing every one of `needles`.
pub fn logged(needles: &[&str]) -> Vec<String> {
    let all = String::from_utf8_lossy(&LOGS.lock().unwrap()).to_string();
    all.lines()
        .filter(|l| needles.iter().all(|n| l.contains(n)))
        .map(str::to_string)
        .collect()
}
