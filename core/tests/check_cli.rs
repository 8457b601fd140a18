//! `tapline check` and `tapline serve` on broken tenant folders: the real
//! binary, its exit code and the `file:line: message` lines it prints.
//!
//! The cases live in `tests/bad_tenants/<case>/`: each is a tenants folder
//! with an `expected.txt` listing the problem lines, paths relative to the
//! case folder (see the README there).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("core/ has a parent")
        .to_path_buf()
}

fn bad_cases() -> Vec<PathBuf> {
    let dir = repo_root().join("tests").join("bad_tenants");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no case under {}", dir.display());
    cases
}

/// The binary with the environment it reads cleared, so a developer's
/// shell settings cannot change what the test sees.
fn tapline() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tapline"));
    for var in [
        "TAPLINE_TENANTS",
        "TAPLINE_DATA_DIR",
        "TAPLINE_LISTEN",
        "TAPLINE_PUBLIC_URL",
        "TAPLINE_SMTP_URL",
        "DATABASE_URL",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

fn check(tenants: &Path) -> Output {
    tapline()
        .arg("check")
        .arg("--tenants")
        .arg(tenants)
        .output()
        .expect("run tapline check")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn every_bad_case_fails_with_its_expected_problems() {
    let mut failures = Vec::new();
    for case in bad_cases() {
        let name = case.file_name().unwrap_or_default().to_string_lossy();
        let expected_file = case.join("expected.txt");
        let Ok(expected) = std::fs::read_to_string(&expected_file) else {
            failures.push(format!("{name}: no expected.txt"));
            continue;
        };
        let mut expected: Vec<&str> = expected.lines().filter(|l| !l.trim().is_empty()).collect();
        expected.sort_unstable();

        let out = check(&case);
        let stdout = text(&out.stdout);
        let stderr = text(&out.stderr);
        if out.status.success() {
            failures.push(format!(
                "{name}: exit 0, expected a failure\n  stdout: {stdout}"
            ));
            continue;
        }
        // Problems go to stdout as `<case>/<tenant>/…:line: message`; the
        // count goes to stderr.
        let prefix = format!("{}{}", case.display(), std::path::MAIN_SEPARATOR);
        let mut got: Vec<String> = stdout
            .lines()
            .map(|l| {
                l.strip_prefix(&prefix)
                    .unwrap_or(l)
                    .replace(std::path::MAIN_SEPARATOR, "/")
            })
            .collect();
        got.sort_unstable();
        if got != expected {
            failures.push(format!(
                "{name}:\n  expected:\n    {}\n  got:\n    {}\n  stderr: {}",
                expected.join("\n    "),
                got.join("\n    "),
                stderr.trim()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} bad-tenant case(s) do not match their expected.txt:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn demo_tenants_pass() {
    let out = check(&repo_root().join("tenants"));
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "tapline check on tenants/ failed:\n{stdout}{}",
        text(&out.stderr)
    );
    assert!(
        stdout.starts_with("ok: 5 tenant(s)"),
        "unexpected output: {stdout}"
    );
}

#[test]
fn serve_refuses_to_start_on_a_bad_tenant() {
    let case = repo_root().join("tests/bad_tenants/duplicate_host");
    let data = std::env::temp_dir().join(format!(
        "tapline-check-cli-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
    ));
    std::fs::create_dir_all(&data).expect("create the data folder");

    let mut child = tapline()
        .arg("serve")
        .arg("--tenants")
        .arg(&case)
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tapline serve");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for tapline serve") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child
        .wait_with_output()
        .expect("collect tapline serve output");
    let _ = std::fs::remove_dir_all(&data);
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);

    let Some(status) = status else {
        panic!("tapline serve kept running on a bad tenant\nstdout: {stdout}\nstderr: {stderr}");
    };
    assert!(
        !status.success(),
        "tapline serve exited 0 on a bad tenant\nstdout: {stdout}\nstderr: {stderr}"
    );
    let expected = std::fs::read_to_string(case.join("expected.txt")).expect("expected.txt");
    for line in expected.lines().filter(|l| !l.trim().is_empty()) {
        let problem = format!("{}{}{line}", case.display(), std::path::MAIN_SEPARATOR);
        assert!(
            stderr.contains(&problem),
            "tapline serve did not print the problem `{problem}`\nstdout: {stdout}\nstderr: {stderr}"
        );
    }
    assert!(
        !stdout.contains("listening"),
        "tapline serve claims to listen: {stdout}"
    );
}

#[test]
fn plugin_run_prints_output_time_fuel_and_memory() {
    let root = repo_root();
    let input = root.join("target/test-data/fee-input.json");
    std::fs::create_dir_all(input.parent().unwrap()).unwrap();
    std::fs::write(
        &input,
        r#"{"kind":"connection","values":{"power_kw":"10","line_length_m":"0","metering_points":"1"}}"#,
    )
    .unwrap();
    let out = tapline()
        .args(["plugin", "run"])
        .arg(root.join("target/wasm/wasm32-wasip2/release/setevaya.wasm"))
        .arg("calculate-fee")
        .arg(&input)
        .arg("--tenant-toml")
        .arg(root.join("tenants/setevaya/tenant.toml"))
        .output()
        .expect("run tapline plugin run");
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    // base up to 15 kW 5 000 + 0 m + 1 point × 24 500 roubles, in kopecks.
    assert!(stdout.contains("\"total\": 2950000"), "{stdout}");
    for what in ["wall time:", "fuel:", "peak memory:"] {
        assert!(stderr.contains(what), "no `{what}` in {stderr}");
    }

    // A hook name that does not exist is a clear error.
    let out = tapline()
        .args(["plugin", "run"])
        .arg(root.join("target/wasm/wasm32-wasip2/release/setevaya.wasm"))
        .arg("calculate-tax")
        .arg(&input)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("unknown hook `calculate-tax`"));
}

/// `plugin run … | jq` must work: standard output holds the hook's JSON and
/// nothing else, even when the plugin logs; its log lines go to stderr.
#[test]
fn plugin_run_keeps_the_plugins_log_off_stdout() {
    let root = repo_root();
    let input = root.join("target/test-data/echo-validate-input.json");
    std::fs::create_dir_all(input.parent().unwrap()).unwrap();
    std::fs::write(&input, r#"{"kind":"connection","values":{"n":"1"}}"#).unwrap();
    let out = tapline()
        .env_remove("TAPLINE_LOG")
        .args(["plugin", "run"])
        .arg(root.join("target/wasm/wasm32-wasip2/release/test_echo.wasm"))
        .arg("validate-application")
        .arg(&input)
        .output()
        .expect("run tapline plugin run");
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    let parsed: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON alone ({e}):\n{stdout}"));
    assert!(parsed.is_object() || parsed.is_array(), "{stdout}");
    assert!(
        stderr.contains("echo called"),
        "the plugin's log line belongs on stderr: {stderr}"
    );
}

#[test]
fn serve_answers_health_checks_and_stops_cleanly_on_sigterm() {
    let (stdout, stderr) = serve_until_ready_then_stop(&repo_root().join("tenants"));
    assert!(
        stdout.contains("stopped") || stderr.contains("stopped"),
        "{stderr}"
    );
}

/// An anchor that expired does not take the platform down: the server
/// starts, warns, and `tapline check` reports it (the bad case).
#[test]
fn serve_starts_with_an_expired_trust_anchor_and_warns() {
    let case = repo_root().join("tests/bad_tenants/signature_expired_anchor");
    let (stdout, stderr) = serve_until_ready_then_stop(&case);
    let log = format!("{stdout}{stderr}");
    assert!(
        log.contains("trust anchor out of date") && log.contains("old-root.pem"),
        "{log}"
    );
}

/// Starts `tapline serve` on `tenants`, waits for `/readyz` and
/// `/healthz` to answer 200, stops it with SIGTERM and checks it exits
/// cleanly; its stdout and stderr.
fn serve_until_ready_then_stop(tenants: &Path) -> (String, String) {
    let data = std::env::temp_dir().join(format!(
        "tapline-sigterm-{}-{}",
        std::process::id(),
        tenants.file_name().unwrap_or_default().to_string_lossy()
    ));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = tapline()
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--tenants",
        ])
        .arg(tenants)
        .arg("--data-dir")
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tapline serve");
    let get = |path: &str| -> Option<String> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut buf = String::new();
        s.read_to_string(&mut buf).ok()?;
        Some(buf)
    };
    let started = Instant::now();
    let ready = loop {
        if let Some(r) = get("/readyz") {
            break r;
        }
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            panic!("tapline serve exited: {status:?}\n{}", text(&out.stderr));
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "tapline serve never answered"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
    assert!(get("/healthz").unwrap().starts_with("HTTP/1.1 200"));

    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let stopped = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(15),
            "no exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().unwrap();
    let _ = std::fs::remove_dir_all(&data);
    assert!(
        status.success(),
        "exit after SIGTERM: {status:?}\n{}",
        text(&out.stderr)
    );
    (text(&out.stdout), text(&out.stderr))
}

#[test]
fn staff_add_creates_an_account_once_and_refuses_what_would_be_useless() {
    let data = std::env::temp_dir().join(format!("tapline-staff-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let tenants = repo_root().join("tenants");
    let run = |args: &[&str]| {
        tapline()
            .env_remove("TAPLINE_STAFF_PASSWORD")
            .arg("staff")
            .arg("add")
            .arg("--tenants")
            .arg(&tenants)
            .arg("--data-dir")
            .arg(&data)
            .args(args)
            .output()
            .expect("run tapline staff add")
    };
    let out = run(&[
        "--tenant",
        "kvadra",
        "--email",
        "Admin@Kvadra.ru",
        "--name",
        "Админ",
        "--role",
        "admin",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    assert!(
        printed.contains("admin@kvadra.ru (admin) in kvadra"),
        "{printed}"
    );
    let password = printed
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .expect("a generated password is printed once");
    assert!(password.len() >= 12);
    // The same address twice, a tenant that does not exist, a role that
    // does not exist, a platform operator tied to a tenant: each refused.
    for (args, why) in [
        (
            vec![
                "--tenant",
                "kvadra",
                "--email",
                "admin@kvadra.ru",
                "--name",
                "Ещё",
            ],
            "сотрудник с такой почтой уже есть",
        ),
        (
            vec!["--tenant", "nope", "--email", "a@b.ru", "--name", "X"],
            "no tenant `nope`",
        ),
        (
            vec![
                "--tenant", "kvadra", "--email", "a@b.ru", "--name", "X", "--role", "boss",
            ],
            "--role must be",
        ),
        (
            vec![
                "--tenant", "kvadra", "--email", "a@b.ru", "--name", "X", "--role", "platform",
            ],
            "a platform operator has no --tenant",
        ),
    ] {
        let out = run(&args);
        assert!(!out.status.success(), "{args:?} was accepted");
        let said = text(&out.stderr);
        assert!(said.contains(why), "{args:?} should say {why:?}: {said}");
    }
    let out = run(&[
        "--email",
        "root@tapline.ru",
        "--name",
        "Платформа",
        "--role",
        "platform",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let _ = std::fs::remove_dir_all(&data);
}
