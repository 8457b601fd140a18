//! Command-line interface: flags and environment per DESIGN.md.

use super::{Options, SmsConfig};
use crate::store::Db;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "tapline",
    version,
    about = "Utility connection portals for many tenants"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Args, Debug, Clone)]
struct Common {
    /// Folder with one sub-folder per tenant.
    #[arg(long, env = "TAPLINE_TENANTS", default_value = "tenants")]
    tenants: PathBuf,
    /// Data folder: the default SQLite database and files.
    #[arg(long, env = "TAPLINE_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// sqlite://… or postgres://…; default: SQLite in the data folder.
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
}

impl Common {
    fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}/tapline.db", self.data_dir.display()))
    }
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Serve every tenant.
    Serve {
        #[command(flatten)]
        common: Common,
        #[arg(long, env = "TAPLINE_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Base URL for emailed links (default http://<listen>).
        #[arg(long, env = "TAPLINE_PUBLIC_URL")]
        public_url: Option<String>,
        /// SMTP server, e.g. smtp://user:pass@mail.example:587?tls=required. Unset: local outbox.
        #[arg(long, env = "TAPLINE_SMTP_URL")]
        smtp_url: Option<String>,
        #[arg(
            long,
            env = "TAPLINE_EMAIL_FROM",
            default_value = "Tapline <noreply@tapline.localhost>"
        )]
        email_from: String,
        /// SMS gateway: `dev` (local outbox) or `smsc` (SMSC.ru HTTP API).
        #[arg(long, env = "TAPLINE_SMS_GATEWAY", default_value = "dev")]
        sms_gateway: String,
        #[arg(
            long,
            env = "TAPLINE_SMSC_URL",
            default_value = "https://smsc.ru/sys/send.php"
        )]
        smsc_url: String,
        #[arg(long, env = "TAPLINE_SMSC_LOGIN", default_value = "")]
        smsc_login: String,
        #[arg(
            long,
            env = "TAPLINE_SMSC_PASSWORD",
            default_value = "",
            hide_env_values = true
        )]
        smsc_password: String,
        /// Mark cookies Secure (set when TLS terminates in front of tapline).
        #[arg(long, env = "TAPLINE_SECURE_COOKIES")]
        secure_cookies: bool,
        /// Trust X-Forwarded-For for the client address.
        #[arg(long, env = "TAPLINE_TRUST_PROXY")]
        trust_proxy: bool,
        /// Log as JSON lines.
        #[arg(long, env = "TAPLINE_LOG_JSON")]
        log_json: bool,
    },
    /// Check every tenant's config and templates; print `file:line: message`.
    Check {
        #[arg(long, env = "TAPLINE_TENANTS", default_value = "tenants")]
        tenants: PathBuf,
    },
    /// Plugin tools for integrators.
    Plugin {
        #[command(subcommand)]
        cmd: PluginCmd,
    },
    /// Print messages not delivered to a real recipient (dev outbox, pending, failed).
    Outbox {
        #[command(flatten)]
        common: Common,
        /// Only this tenant's messages.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Staff accounts of the office.
    Staff {
        #[command(subcommand)]
        cmd: StaffCmd,
    },
    /// Electronic signatures.
    Signature {
        #[command(subcommand)]
        cmd: SignatureCmd,
    },
}

#[derive(Subcommand, Debug)]
enum SignatureCmd {
    /// Verify a signature over a file and print its verdict and signer;
    /// exit 0 valid, 1 refused, 2 usage error.
    Verify(super::signature_cli::VerifyArgs),
}

#[derive(Subcommand, Debug)]
enum StaffCmd {
    /// Create a staff account: an operator, manager or admin of a tenant,
    /// or a platform operator (`--role platform`, no tenant). The password
    /// comes from TAPLINE_STAFF_PASSWORD or is generated and printed once.
    Add {
        #[command(flatten)]
        common: Common,
        /// The tenant's slug; omit for a platform operator.
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// operator, manager, admin or platform.
        #[arg(long, default_value = "operator")]
        role: String,
        #[arg(long, env = "TAPLINE_STAFF_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
enum PluginCmd {
    /// Run one hook of a plugin the way the host does; print its output,
    /// wall time, fuel (≈ instructions) and peak memory.
    Run {
        /// The plugin component (.wasm).
        file: PathBuf,
        /// validate-profile, validate-application, check-transition,
        /// registration-number, document-context, calculate-fee, shape-webhook.
        hook: String,
        /// The hook's input as JSON (`-` reads standard input).
        input: PathBuf,
        /// Take `[plugin.settings]` (and limits) from this tenant.toml.
        #[arg(long)]
        tenant_toml: Option<PathBuf>,
        /// A setting `key=value`; may repeat; wins over --tenant-toml.
        #[arg(long = "setting", value_name = "KEY=VALUE")]
        settings: Vec<String>,
        /// A fixed time for host::now (RFC 3339).
        #[arg(long)]
        now: Option<String>,
        /// Wall-clock budget in milliseconds.
        #[arg(long)]
        timeout_ms: Option<u64>,
        /// Memory cap in MiB.
        #[arg(long)]
        memory_mb: Option<u64>,
    },
}

/// Where log lines go. A server logs to standard output like any service;
/// a tool whose standard output is its result (`plugin run … | jq`) must
/// keep its logs, the plugin's own included, on standard error.
#[derive(Clone, Copy)]
enum LogTo {
    Stdout,
    Stderr,
}

fn init_logs(json: bool, to: LogTo) {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::fmt::writer::BoxMakeWriter;
    let filter =
        EnvFilter::try_from_env("TAPLINE_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let writer = match to {
        LogTo::Stdout => BoxMakeWriter::new(std::io::stdout),
        LogTo::Stderr => BoxMakeWriter::new(std::io::stderr),
    };
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_target(false);
    if json {
        b.json().init();
    } else {
        b.init();
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.cmd {
        Cmd::Signature {
            cmd: SignatureCmd::Verify(args),
        } => rt.block_on(super::signature_cli::verify(args)),
        Cmd::Plugin { cmd } => {
            init_logs(false, LogTo::Stderr);
            plugin_run(cmd)
        }
        Cmd::Check { tenants } => match super::load_tenants(&tenants).and_then(|reg| {
            let host = crate::plugin::PluginHost::new(crate::plugin::HostConfig {
                max_instances: 2,
                ..Default::default()
            })
            .map_err(|e| {
                vec![crate::tenant::Problem {
                    file: tenants.clone(),
                    line: 0,
                    message: format!("cannot start the plugin engine: {e}"),
                }]
            })?;
            let seq = std::sync::Arc::new(crate::plugin::MemorySequences::default());
            crate::plugin::load_all(&host, &reg, seq)?;
            Ok(reg)
        }) {
            Ok(reg) => {
                // Anchors that expired (or are not valid yet) do not stop a
                // server, but an operator running check is told.
                let now = crate::store::now().unix_timestamp().max(0) as u64;
                let late: Vec<crate::tenant::Problem> = reg
                    .all()
                    .iter()
                    .flat_map(|t| t.trust.out_of_date(now))
                    .collect();
                if !late.is_empty() {
                    for p in &late {
                        println!("{p}");
                    }
                    eprintln!("{} problem(s)", late.len());
                    return ExitCode::FAILURE;
                }
                println!(
                    "ok: {} tenant(s): {}",
                    reg.all().len(),
                    reg.all()
                        .iter()
                        .map(|t| t.slug.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                ExitCode::SUCCESS
            }
            Err(problems) => {
                for p in &problems {
                    println!("{p}");
                }
                eprintln!("{} problem(s)", problems.len());
                ExitCode::FAILURE
            }
        },
        Cmd::Staff {
            cmd:
                StaffCmd::Add {
                    common,
                    tenant,
                    email,
                    name,
                    role,
                    password,
                },
        } => {
            rt.block_on(async move { staff_add(common, tenant, email, name, role, password).await })
        }
        Cmd::Outbox { common, tenant } => rt.block_on(async move {
            let db = match Db::connect(&common.database_url()).await {
                Ok(db) => db,
                Err(e) => {
                    eprintln!("cannot open the database: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match crate::notify::undelivered(&db, tenant.as_deref()).await {
                Ok(rows) => {
                    if rows.is_empty() {
                        println!("(no undelivered messages)");
                    }
                    for r in rows {
                        println!(
                            "#{} {} [{}] {} → {} ({}{})",
                            r.id,
                            r.created_at,
                            r.tenant_id,
                            r.channel,
                            r.recipient,
                            r.status,
                            r.last_error
                                .map(|e| format!(", {} attempt(s): {e}", r.attempts))
                                .unwrap_or_default()
                        );
                        if let Some(s) = r.subject {
                            println!("  Subject: {s}");
                        }
                        for line in r.body_text.lines() {
                            println!("  {line}");
                        }
                        println!();
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("cannot read the outbox: {e}");
                    ExitCode::FAILURE
                }
            }
        }),
        Cmd::Serve {
            common,
            listen,
            public_url,
            smtp_url,
            email_from,
            sms_gateway,
            smsc_url,
            smsc_login,
            smsc_password,
            secure_cookies,
            trust_proxy,
            log_json,
        } => {
            init_logs(log_json, LogTo::Stdout);
            let sms = match sms_gateway.as_str() {
                "dev" => SmsConfig::Dev,
                "smsc" => SmsConfig::Smsc {
                    url: smsc_url,
                    login: smsc_login,
                    password: smsc_password,
                },
                other => {
                    eprintln!("unknown --sms-gateway `{other}` (dev, smsc)");
                    return ExitCode::FAILURE;
                }
            };
            let opts = Options {
                listen,
                database_url: common.database_url(),
                tenants: common.tenants,
                data_dir: common.data_dir,
                public_url,
                smtp_url,
                email_from,
                sms,
                secure_cookies,
                trust_proxy,
                ..Options::defaults()
            };
            rt.block_on(async move {
                let stop = shutdown_signal();
                let running = match super::start(opts).await {
                    Ok(r) => r,
                    Err(e) => {
                        eprintln!("{e:#}");
                        return ExitCode::FAILURE;
                    }
                };
                println!("tapline listening on http://{}", running.addr);
                for t in running.state.tenants.all() {
                    println!("  {}: http://{}/t/{}/", t.name(), running.addr, t.slug);
                }
                stop.await;
                tracing::info!("shutting down");
                running.shutdown().await;
                tracing::info!("stopped");
                ExitCode::SUCCESS
            })
        }
    }
}

/// Waits for SIGINT or SIGTERM. The handlers are installed at the call,
/// before the server starts: installed when first awaited, after the
/// server already answered `/readyz`, a SIGTERM in between (an orchestrator
/// stopping a fresh instance) killed the process without its shutdown.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let (int, term) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = wait(int) => {},
                _ = wait(term) => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

async fn staff_add(
    common: Common,
    tenant: Option<String>,
    email: String,
    name: String,
    role: String,
    password: Option<String>,
) -> ExitCode {
    use crate::office::{self, StaffRole};
    let Some(role) = StaffRole::parse(&role) else {
        eprintln!("--role must be operator, manager, admin or platform");
        return ExitCode::FAILURE;
    };
    let tenant = match (&tenant, role) {
        (None, StaffRole::Platform) => office::PLATFORM.to_string(),
        (Some(t), r) if r != StaffRole::Platform => {
            // The tenant must exist under --tenants: a typo would make an
            // account nobody can use.
            if !common.tenants.join(t).join("tenant.toml").exists() {
                eprintln!("no tenant `{t}` under {}", common.tenants.display());
                return ExitCode::FAILURE;
            }
            t.clone()
        }
        _ => {
            eprintln!("a platform operator has no --tenant; every other role needs one");
            return ExitCode::FAILURE;
        }
    };
    let (password, generated) = match password {
        Some(p) => (p, false),
        None => (crate::security::random_token()[..20].to_string(), true),
    };
    let db = match Db::connect(&common.database_url()).await {
        Ok(db) => db,
        Err(e) => {
            eprintln!("cannot open the database: {e}");
            return ExitCode::FAILURE;
        }
    };
    let note = office::AuditNote {
        staff: None,
        action: office::AuditAction::StaffAdd,
        target: None,
        detail: format!("{email}, {} (из командной строки)", role.title()),
        ip: "cli",
    };
    match office::add_staff(&db, &tenant, &email, &name, role, &password, Some(note)).await {
        Ok(id) => {
            let email = crate::account::normalize_email(&email).unwrap_or(email);
            println!("staff #{id}: {email} ({}) in {tenant}", role.id());
            if generated {
                println!("password: {password}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn plugin_run(cmd: PluginCmd) -> ExitCode {
    use crate::plugin::{
        CallContext, HostConfig, MemorySequences, PluginHost, TenantPlugin, types::Hook,
    };
    let PluginCmd::Run {
        file,
        hook,
        input,
        tenant_toml,
        settings,
        now,
        timeout_ms,
        memory_mb,
    } = cmd;
    let fail = |msg: String| {
        eprintln!("error: {msg}");
        ExitCode::FAILURE
    };
    let json = if input.as_os_str() == "-" {
        let mut s = String::new();
        if let Err(e) = std::io::Read::read_to_string(&mut std::io::stdin(), &mut s) {
            return fail(format!("reading standard input: {e}"));
        }
        s
    } else {
        match std::fs::read_to_string(&input) {
            Ok(s) => s,
            Err(e) => return fail(format!("{}: {e}", input.display())),
        }
    };
    let hook = match Hook::from_json(&hook, &json) {
        Ok(h) => h,
        Err(e) => return fail(e),
    };
    let mut map = std::collections::BTreeMap::new();
    let (mut timeout, mut memory) = (
        crate::plugin::DEFAULT_TIMEOUT,
        crate::plugin::DEFAULT_MEMORY,
    );
    if let Some(t) = &tenant_toml {
        let src = match std::fs::read_to_string(t) {
            Ok(s) => s,
            Err(e) => return fail(format!("{}: {e}", t.display())),
        };
        let parsed: crate::tenant::config::TenantFile = match toml::from_str(&src) {
            Ok(p) => p,
            Err(e) => return fail(format!("{}: {}", t.display(), e.message())),
        };
        for (k, v) in &parsed.plugin.settings {
            map.insert(k.clone(), v.to_string());
        }
        if let Some(t) = parsed.plugin.timeout() {
            timeout = t;
        }
        if let Some(m) = parsed.plugin.memory_bytes() {
            memory = m;
        }
    }
    for s in settings {
        let Some((k, v)) = s.split_once('=') else {
            return fail(format!("--setting {s}: expected KEY=VALUE"));
        };
        map.insert(k.to_string(), v.to_string());
    }
    if let Some(ms) = timeout_ms {
        timeout = std::time::Duration::from_millis(ms);
    }
    if let Some(mb) = memory_mb {
        memory = mb << 20;
    }
    let host = match PluginHost::new(HostConfig {
        count_fuel: true,
        max_instances: 2,
        ..Default::default()
    }) {
        Ok(h) => h,
        Err(e) => return fail(e.to_string()),
    };
    let ctx = CallContext {
        tenant: "local".into(),
        settings: std::sync::Arc::new(map),
        sequences: std::sync::Arc::new(MemorySequences::default()),
        timeout,
        memory,
        clock: now,
    };
    let plugin = match TenantPlugin::load(host, file, ctx) {
        Ok(p) => p,
        Err(e) => return fail(e.to_string()),
    };
    match plugin.call_blocking(&hook) {
        Ok((out, stats)) => {
            match serde_json::to_string_pretty(&out) {
                Ok(s) => println!("{s}"),
                Err(e) => return fail(e.to_string()),
            }
            eprintln!("wall time: {} µs", stats.wall.as_micros());
            if let Some(f) = stats.fuel {
                eprintln!("fuel: {f}");
            }
            eprintln!("peak memory: {} KiB", stats.peak_memory / 1024);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("users would see: {}", e.user_message());
            fail(e.to_string())
        }
    }
}
