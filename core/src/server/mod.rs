//! Wiring: from options to a listening server with its outbox worker, and
//! a graceful stop. The binary and the tests both start servers here.

pub mod cli;
pub mod memory;
mod signature_cli;

use crate::notify::sms::{DevOutbox, SmsGateway, Smsc};
use crate::notify::worker::{self, Delivery, EmailTransport};
use crate::plugin::{self, DbSequences, HostConfig, PluginHost};
use crate::security::CsrfKey;
use crate::security::captcha::AnswerSource;
use crate::store::Db;
use crate::tenant::{Problem, Registry};
use crate::web::{self, AppState, Inner, WebConfig};
use anyhow::Context;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::{Notify, watch};

/// How to deliver SMS.
#[derive(Debug, Clone)]
pub enum SmsConfig {
    /// Keep SMS in the local outbox (`tapline outbox` shows them).
    Dev,
    /// SMSC.ru's HTTP API at `url`.
    Smsc {
        url: String,
        login: String,
        password: String,
    },
}

#[derive(Debug, Clone)]
pub struct Options {
    pub listen: SocketAddr,
    pub database_url: String,
    pub tenants: PathBuf,
    pub data_dir: PathBuf,
    pub public_url: Option<String>,
    /// `smtp://…` / `smtps://…`; None keeps email in the local outbox.
    pub smtp_url: Option<String>,
    pub email_from: String,
    pub sms: SmsConfig,
    pub secure_cookies: bool,
    pub trust_proxy: bool,
    pub captcha: AnswerSource,
    /// Zero bits the captcha's proof of work needs (the browser's script
    /// does about 2^bits hashes); tests lower it to keep fast.
    pub captcha_bits: u32,
    /// Precompiled plugins; default `<data-dir>/plugin-cache`.
    pub plugin_cache: Option<PathBuf>,
    /// Database connections; the dialect's default when `None`.
    pub db_pool: Option<u32>,
}

impl Options {
    /// Defaults of DESIGN.md's runtime contract, relative to the working directory.
    pub fn defaults() -> Options {
        Options {
            listen: "127.0.0.1:8080".parse().expect("literal address"),
            database_url: "sqlite://./data/tapline.db".into(),
            tenants: "tenants".into(),
            data_dir: "data".into(),
            public_url: None,
            smtp_url: None,
            email_from: "Tapline <noreply@tapline.localhost>".into(),
            sms: SmsConfig::Dev,
            secure_cookies: false,
            trust_proxy: false,
            captcha: AnswerSource::Random,
            captcha_bits: crate::security::captcha::PROOF_BITS,
            plugin_cache: None,
            db_pool: None,
        }
    }
}

/// Load tenants or return every problem, formatted `file:line: message`.
pub fn load_tenants(dir: &std::path::Path) -> Result<Registry, Vec<Problem>> {
    Registry::load(dir)
}

/// How long requests in flight may take to finish after a stop.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

pub struct Running {
    pub addr: SocketAddr,
    pub state: AppState,
    stop: watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
    worker: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stop taking connections, finish requests in flight, stop the worker.
    pub async fn shutdown(self) {
        // A watch channel, not a Notify: a stop sent before a task starts
        // waiting must still be seen.
        let _ = self.stop.send(true);
        // Requests in flight get a grace period; a client that holds a
        // connection open forever must not hold the process with it.
        let mut server = self.server;
        if tokio::time::timeout(SHUTDOWN_GRACE, &mut server)
            .await
            .is_err()
        {
            tracing::warn!("connections still open after the grace period; closing them");
            server.abort();
        }
        let _ = self.worker.await;
        self.state.db.release_writer().await;
    }
}

/// Build everything and start listening.
pub async fn start(opts: Options) -> anyhow::Result<Running> {
    let tenants = load_tenants(&opts.tenants).map_err(|problems| {
        let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("tenant configuration has problems:\n{}", list.join("\n"))
    })?;
    let now = crate::store::now().unix_timestamp().max(0) as u64;
    for t in tenants.all() {
        for p in t.trust.out_of_date(now) {
            tracing::warn!(tenant = %t.slug, "signature trust anchor out of date, signatures under it are refused: {p}");
        }
        // A demo tenant ships no roots (a utility adds its CAs' to trust/);
        // until then every CryptoPro or NCALayer signature is refused.
        if t.config.signature.any_certificate_scheme() && t.trust.anchors.is_empty() {
            tracing::warn!(tenant = %t.slug, "signatures by certificate are configured but no trust anchor is: put the CAs' root certificates in trust/; until then every such signature is refused");
        }
    }
    std::fs::create_dir_all(&opts.data_dir)
        .with_context(|| format!("creating data dir {}", opts.data_dir.display()))?;
    let db = Db::connect_with(&opts.database_url, opts.db_pool)
        .await
        .context("opening the database")?;
    let files = crate::document::FileStore::new(opts.data_dir.join("files"))
        .with_context(|| format!("creating the file store under {}", opts.data_dir.display()))?;
    let host = PluginHost::new(HostConfig {
        cache_dir: Some(
            opts.plugin_cache
                .clone()
                .unwrap_or_else(|| opts.data_dir.join("plugin-cache")),
        ),
        ..HostConfig::default()
    })?;
    let sequences = Arc::new(DbSequences {
        db: db.clone(),
        rt: tokio::runtime::Handle::current(),
    });
    let plugins = plugin::load_all(&host, &tenants, sequences).map_err(|problems| {
        let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("plugin problems:\n{}", list.join("\n"))
    })?;
    let csrf = CsrfKey::load_or_create(&db)
        .await
        .context("loading the CSRF key")?;
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .with_context(|| format!("listening on {}", opts.listen))?;
    let addr = listener.local_addr()?;
    let public_url = opts
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));

    let email = match &opts.smtp_url {
        Some(url) => EmailTransport::Smtp(
            lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(url)
                .context("parsing --smtp-url")?
                .timeout(Some(std::time::Duration::from_secs(20)))
                .build(),
        ),
        None => EmailTransport::Dev,
    };
    let sms: Arc<dyn SmsGateway> = match &opts.sms {
        SmsConfig::Dev => Arc::new(DevOutbox),
        SmsConfig::Smsc {
            url,
            login,
            password,
        } => Arc::new(Smsc::new(url.clone(), login.clone(), password.clone())),
    };
    let senders = tenants
        .all()
        .iter()
        .map(|t| {
            let from = t.config.notify.email_from().and_then(|f| f.parse().ok());
            (t.slug.clone(), (from, t.config.notify.sms_sender.clone()))
        })
        .collect();
    let delivery = Arc::new(Delivery {
        email,
        sms,
        default_from: opts.email_from.parse().context("parsing --email-from")?,
        senders,
    });

    let wake = Arc::new(Notify::new());
    let (stop, stop_rx) = watch::channel(false);
    let state = AppState(Arc::new(Inner {
        db: db.clone(),
        tenants: Arc::new(tenants),
        csrf,
        cfg: WebConfig {
            public_url,
            secure_cookies: opts.secure_cookies,
            captcha: opts.captcha.clone(),
            captcha_bits: opts.captcha_bits,
            trust_proxy: opts.trust_proxy,
        },
        outbox_wake: wake.clone(),
        plugins,
        files,
        pages: crate::content::PageCache::default(),
        inflight: Arc::default(),
    }));
    web::inflight::watch(
        Arc::downgrade(&state.inflight),
        tokio::runtime::Handle::current(),
        stop_rx.clone(),
        web::inflight::SLOW_AFTER,
    )
    .context("starting the watchdog thread")?;
    let app = web::app(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let mut stop_server = stop_rx.clone();
    let server = tokio::spawn(async move {
        let res = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stop_server.wait_for(|s| *s).await;
            })
            .await;
        if let Err(e) = res {
            tracing::error!(error = %e, "server stopped with an error");
        }
    });
    tokio::spawn(chores(state.clone(), stop_rx.clone()));
    tokio::spawn(memory_reports(state.clone(), stop_rx.clone()));
    let worker = tokio::spawn(worker::run(db, delivery, wake, stop_rx));
    tracing::info!(%addr, tenants = state.tenants.all().len(), "serving");
    Ok(Running {
        addr,
        state,
        stop,
        server,
        worker,
    })
}

/// Every ten minutes: sweep expired sessions and codes and what crashed
/// uploads left behind, and from 08:00 on each tenant's clock queue its
/// overdue digests, sent once a day per person whatever the number of
/// processes.
/// The local hour from which the day's overdue digests go out.
const DIGEST_HOUR: u8 = 8;

async fn chores(state: AppState, mut stop: watch::Receiver<bool>) {
    loop {
        if let Err(e) = crate::security::sweep(&state.db).await {
            tracing::warn!(error = %e, "sweeping expired rows failed");
        }
        match crate::document::sweep(&state.db, &state.files).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(files = n, "removed files no upload finished"),
            Err(e) => tracing::warn!(error = %e, "sweeping lapsed file claims failed"),
        }
        for t in state.tenants.all() {
            if crate::store::now().to_offset(t.offset).hour() < DIGEST_HOUR {
                continue;
            }
            match crate::office::digest::run(&state.db, t, &state.cfg.public_url).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(tenant = %t.slug, emails = n, "overdue digests queued");
                    state.outbox_wake.notify_one();
                }
                Err(e) => {
                    tracing::warn!(tenant = %t.slug, error = %e, "overdue digests failed")
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(600)) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// The memory line every [`memory::REPORT_EVERY`] (see [`memory::report`]).
async fn memory_reports(state: AppState, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(memory::REPORT_EVERY) => memory::report(&state),
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}
