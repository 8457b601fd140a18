//! The WebAssembly plugin host: loading a tenant's component (checked
//! version, precompiled once and cached on disk), running one hook per call
//! in a fresh, sandboxed store, and turning every way a plugin can misbehave
//! into a [`PluginError`] the web layer can show and the log can explain.
//!
//! Sandbox: WASI is linked with no files, no network, no environment and no
//! arguments; memory is capped per call by a [`wasmtime::ResourceLimiter`]
//! and by the pooling allocator's slot size; the plugin's own time is capped
//! by an epoch deadline (a ticker thread advances the engine's epoch; time
//! spent in the host's imports, such as `next-sequence` waiting for the
//! database, is not the plugin's and is added back) and, around it, a tokio
//! timeout, so neither a plugin that spins nor a host import that blocks can
//! hold a request.

pub mod types;
pub mod v1;

use crate::store::Db;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};
use types::{Hook, HookOutput};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Interface versions this host runs, newest last.
pub const SUPPORTED_VERSIONS: &[&str] = &["1.0.0"];
/// The custom section where the SDK records the interface version.
pub const VERSION_SECTION: &str = "tapline-api";

/// How often the ticker advances the epoch; deadlines are counted in ticks.
const TICK: Duration = Duration::from_millis(5);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(200);
/// How long the host's own imports may take in one call beyond the plugin's
/// budget (a database write under load) before the call is abandoned.
const HOST_ALLOWANCE: Duration = Duration::from_secs(10);
pub const DEFAULT_MEMORY: u64 = 32 << 20;
/// Hard ceiling whatever a tenant asks for: one pool slot.
const MAX_MEMORY: u64 = 64 << 20;

/// What went wrong with a plugin. `Display` is for the log; users get
/// [`PluginError::user_message`].
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum PluginError {
    #[error("{path}: cannot read the plugin: {detail}")]
    Io { path: String, detail: String },
    #[error("{path}: not a WebAssembly file")]
    NotWasm { path: String },
    #[error(
        "{path}: a core WebAssembly module, not a component; build it with `--target wasm32-wasip2`"
    )]
    NotComponent { path: String },
    #[error("{path}: no `tapline-api` version section; build the plugin with tapline-sdk")]
    NoVersion { path: String },
    #[error("{path}: built for plugin interface {found}; this host runs {}", SUPPORTED_VERSIONS.join(", "))]
    UnknownVersion { path: String, found: String },
    #[error("{path}: does not match interface {version}: {detail}")]
    Interface {
        path: String,
        version: String,
        detail: String,
    },
    #[error("{path}: cannot be compiled: {detail}")]
    Compile { path: String, detail: String },
    #[error("plugin hook {hook} ran past its {ms} ms budget and was stopped")]
    Timeout { hook: String, ms: u128 },
    #[error("plugin hook {hook} needed more than {mb} MiB of memory and was stopped")]
    OutOfMemory { hook: String, mb: u64 },
    #[error("plugin hook {hook} trapped: {detail}")]
    Trap { hook: String, detail: String },
    #[error("plugin hook {hook} returned malformed data: {detail}")]
    Malformed { hook: String, detail: String },
    #[error("plugin hook {hook}: no free instance slot, the host is saturated")]
    Busy { hook: String },
}

impl PluginError {
    /// What the person in front of the page is told: never internals.
    pub fn user_message(&self) -> &'static str {
        match self {
            PluginError::Timeout { .. } | PluginError::Busy { .. } => {
                "Проверка данных сейчас не отвечает. Ваши данные не потеряны — попробуйте отправить форму ещё раз через минуту."
            }
            _ => {
                "Проверка данных по правилам организации временно недоступна. Ваши данные не потеряны — попробуйте позже или обратитесь в поддержку."
            }
        }
    }
}

/// Counters of one call, for `tapline plugin run` and the benchmarks.
#[derive(Debug, Clone, Default)]
pub struct CallStats {
    pub wall: Duration,
    /// Fuel consumed (≈ WebAssembly instructions), when the host counts fuel.
    pub fuel: Option<u64>,
    /// The largest linear memory the call reached, in bytes.
    pub peak_memory: u64,
}

/// Where `host::next-sequence` draws from.
pub trait Sequences: Send + Sync {
    fn next(&self, tenant: &str, name: &str) -> anyhow::Result<u64>;
    /// Return `value`, drawn by a call that then failed, if nothing was drawn
    /// after it: a refused hook leaves no gap in the numbering.
    fn give_back(&self, tenant: &str, name: &str, value: u64) -> anyhow::Result<()>;
}

/// The database's `sequences` table. Called from a blocking thread (hooks run
/// there), so it may wait on the async pool.
pub struct DbSequences {
    pub db: Db,
    pub rt: tokio::runtime::Handle,
}

impl Sequences for DbSequences {
    fn next(&self, tenant: &str, name: &str) -> anyhow::Result<u64> {
        self.rt.block_on(next_in_db(&self.db, tenant, name))
    }

    fn give_back(&self, tenant: &str, name: &str, value: u64) -> anyhow::Result<()> {
        self.rt
            .block_on(give_back_in_db(&self.db, tenant, name, value))
    }
}

/// Undo [`next_in_db`]'s `value` when it is still the last one drawn.
pub async fn give_back_in_db(db: &Db, tenant: &str, name: &str, value: u64) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE sequences SET value = value - 1 WHERE tenant_id = $1 AND name = $2 AND value = $3",
    )
    .bind(tenant)
    .bind(name)
    .bind(i64::try_from(value)?)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Increment a tenant's sequence atomically on SQLite and PostgreSQL alike.
pub async fn next_in_db(db: &Db, tenant: &str, name: &str) -> anyhow::Result<u64> {
    let mut conn = db.pool.acquire().await?;
    next_on(&mut conn, tenant, name).await
}

/// [`next_in_db`] on a connection, inside the caller's transaction where it
/// has one: one statement, which makes the sequence on first use.
pub async fn next_on(
    conn: &mut sqlx::AnyConnection,
    tenant: &str,
    name: &str,
) -> anyhow::Result<u64> {
    let (v,): (i64,) = sqlx::query_as(
        "INSERT INTO sequences (tenant_id, name, value) VALUES ($1, $2, 1) \
         ON CONFLICT (tenant_id, name) DO UPDATE SET value = sequences.value + 1 RETURNING value",
    )
    .bind(tenant)
    .bind(name)
    .fetch_one(conn)
    .await?;
    Ok(u64::try_from(v)?)
}

/// In memory, for `tapline plugin run` and tests.
#[derive(Default)]
pub struct MemorySequences(Mutex<HashMap<(String, String), u64>>);

impl Sequences for MemorySequences {
    fn next(&self, tenant: &str, name: &str) -> anyhow::Result<u64> {
        let mut m = self
            .0
            .lock()
            .map_err(|_| anyhow::anyhow!("sequence lock poisoned"))?;
        let v = m.entry((tenant.into(), name.into())).or_insert(0);
        *v += 1;
        Ok(*v)
    }

    fn give_back(&self, tenant: &str, name: &str, value: u64) -> anyhow::Result<()> {
        let mut m = self
            .0
            .lock()
            .map_err(|_| anyhow::anyhow!("sequence lock poisoned"))?;
        if let Some(v) = m.get_mut(&(tenant.into(), name.into()))
            && *v == value
        {
            *v -= 1;
        }
        Ok(())
    }
}

/// Per-call store data.
pub struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: Limits,
    tenant: String,
    settings: Arc<BTreeMap<String, String>>,
    sequences: Arc<dyn Sequences>,
    clock: Option<String>,
    /// The plugin's own time: wall time since the store was made, less the
    /// time the host's imports took.
    started: Instant,
    in_host: Duration,
    budget: Duration,
    /// Sequence values drawn in this call, given back if the call fails.
    drawn: Vec<(String, u64)>,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl State {
    fn write_log(&self, level: tracing::Level, message: &str) {
        let message: String = message.chars().take(2000).collect();
        match level {
            tracing::Level::ERROR => tracing::error!(tenant = %self.tenant, plugin_log = %message),
            tracing::Level::WARN => tracing::warn!(tenant = %self.tenant, plugin_log = %message),
            tracing::Level::INFO => tracing::info!(tenant = %self.tenant, plugin_log = %message),
            _ => tracing::debug!(tenant = %self.tenant, plugin_log = %message),
        }
    }

    fn clock_now(&self) -> String {
        self.clock.clone().unwrap_or_else(crate::store::now_ts)
    }

    fn next_seq(&mut self, name: &str) -> wasmtime::Result<u64> {
        if name.is_empty() || name.len() > 100 {
            return Err(wasmtime::Error::msg("sequence name must be 1 to 100 bytes"));
        }
        let t = Instant::now();
        let v = self.sequences.next(&self.tenant, name);
        self.in_host += t.elapsed();
        let v = v.map_err(|e| wasmtime::Error::msg(format!("next-sequence failed: {e}")))?;
        self.drawn.push((name.to_string(), v));
        Ok(v)
    }

    fn guest_time(&self) -> Duration {
        self.started.elapsed().saturating_sub(self.in_host)
    }
}

struct Limits {
    cap: u64,
    peak: u64,
    hit: bool,
}

impl wasmtime::ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let desired = desired as u64;
        if desired > self.cap {
            self.hit = true;
            return Ok(false);
        }
        self.peak = self.peak.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// How the engine is set up.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Where precompiled components are kept; `None` compiles in memory only.
    pub cache_dir: Option<PathBuf>,
    /// Instances that may run at the same time (pool slots).
    pub max_instances: u32,
    /// Count fuel (instructions) per call; slower, for `tapline plugin run`.
    pub count_fuel: bool,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            cache_dir: None,
            max_instances: 32,
            count_fuel: false,
        }
    }
}

/// One engine for the whole process.
pub struct PluginHost {
    engine: Engine,
    linker: Linker<State>,
    cfg: HostConfig,
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost")
            .field("cfg", &self.cfg)
            .finish()
    }
}

impl PluginHost {
    pub fn new(cfg: HostConfig) -> anyhow::Result<Arc<PluginHost>> {
        let mut pool = PoolingAllocationConfig::default();
        // Sized for this deployment rather than wasmtime's defaults (1000
        // slots of a 4 GiB reservation each): a plugin call lives for
        // microseconds, so a few dozen slots serve many tenants, and each
        // slot is as large as the biggest memory a plugin may have.
        let n = cfg.max_instances.max(1);
        pool.total_component_instances(n)
            .total_core_instances(n * 8)
            .total_memories(n * 2)
            .total_tables(n * 8)
            .max_memories_per_component(2)
            .max_tables_per_component(8)
            .max_core_instances_per_component(16)
            .max_memory_size(MAX_MEMORY as usize)
            .table_elements(20_000)
            .max_component_instance_size(1 << 20)
            .max_core_instance_size(1 << 20)
            // A call touches a megabyte or two: resetting that with memset
            // on reuse is cheaper than madvise and fresh page faults.
            .linear_memory_keep_resident(4 << 20)
            .table_keep_resident(64 << 10);
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .consume_fuel(cfg.count_fuel)
            .memory_reservation(MAX_MEMORY)
            .memory_guard_size(64 << 10)
            .memory_reservation_for_growth(0)
            // Plugins' data segments are small: copying them into a slot
            // kept resident is cheaper per call than mapping a CoW image.
            .memory_init_cow(false)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(|e| anyhow::anyhow!("wasmtime engine: {e}"))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(|e| anyhow::anyhow!("linking WASI: {e}"))?;
        v1::add_to_linker(&mut linker).map_err(|e| anyhow::anyhow!("linking host: {e}"))?;
        // The ticker holds only a weak engine: it ends with the last host.
        let weak = engine.weak();
        std::thread::Builder::new()
            .name("plugin-epoch".into())
            .spawn(move || {
                while let Some(engine) = weak.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(TICK);
                }
            })?;
        Ok(Arc::new(PluginHost {
            engine,
            linker,
            cfg,
        }))
    }

    /// Load a plugin file: read, check the version, compile or take the
    /// cached precompiled form, link.
    pub fn load(&self, path: &Path) -> Result<Loaded, PluginError> {
        let p = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| PluginError::Io {
            path: p.clone(),
            detail: e.to_string(),
        })?;
        let version = api_version(&bytes).map_err(|kind| match kind {
            VersionProblem::NotWasm => PluginError::NotWasm { path: p.clone() },
            VersionProblem::NotComponent => PluginError::NotComponent { path: p.clone() },
            VersionProblem::Missing => PluginError::NoVersion { path: p.clone() },
        })?;
        if !SUPPORTED_VERSIONS.contains(&version.as_str()) {
            return Err(PluginError::UnknownVersion {
                path: p,
                found: version,
            });
        }
        let hash = {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(&bytes))
        };
        let component = self
            .component(&bytes, &hash)
            .map_err(|detail| PluginError::Compile {
                path: p.clone(),
                detail,
            })?;
        let interface = |e: wasmtime::Error| PluginError::Interface {
            path: p.clone(),
            version: version.clone(),
            detail: format!("{e:#}"),
        };
        let pre = self.linker.instantiate_pre(&component).map_err(interface)?;
        let pre = v1::BindingsPre::new(pre).map_err(interface)?;
        Ok(Loaded {
            bindings: Bindings::V1(pre),
            hash,
            version,
        })
    }

    fn component(&self, bytes: &[u8], hash: &str) -> Result<Component, String> {
        let Some(dir) = &self.cfg.cache_dir else {
            return Component::new(&self.engine, bytes).map_err(|e| format!("{e:#}"));
        };
        let file = dir.join(format!("{hash}-{}.cwasm", self.compat_key()));
        if file.exists() {
            match deserialize(&self.engine, &file) {
                Ok(c) => return Ok(c),
                Err(e) => {
                    tracing::warn!(file = %file.display(), error = %e, "stale plugin cache entry; recompiling")
                }
            }
        }
        let compiled = self
            .engine
            .precompile_component(bytes)
            .map_err(|e| format!("{e:#}"))?;
        // Written under a temporary name and renamed, so a reader never sees half a file.
        if std::fs::create_dir_all(dir).is_ok() {
            let tmp = dir.join(format!(
                ".{hash}.{}.{}.tmp",
                std::process::id(),
                &crate::security::random_token()[..8]
            ));
            if std::fs::write(&tmp, &compiled).is_ok() {
                let _ = std::fs::rename(&tmp, &file);
            }
        }
        deserialize_bytes(&self.engine, &compiled)
    }

    /// Changes whenever the engine's compiled code would not be compatible
    /// (wasmtime version, target, settings), so a cache entry is never reused
    /// across them.
    fn compat_key(&self) -> String {
        use std::hash::{Hash, Hasher};
        let mut h = std::hash::DefaultHasher::new();
        self.engine.precompile_compatibility_hash().hash(&mut h);
        format!("{:016x}", h.finish())
    }

    /// Run one hook on a fresh instance, on this thread. `budget` bounds the
    /// wall time through the epoch deadline.
    pub fn call_blocking(
        &self,
        loaded: &Loaded,
        ctx: &CallContext,
        hook: &Hook,
    ) -> Result<(HookOutput, CallStats), PluginError> {
        let started = Instant::now();
        let mut store = self.store(ctx);
        let out = match &loaded.bindings {
            Bindings::V1(pre) => pre
                .instantiate(&mut store)
                .and_then(|b| v1::call(&b, &mut store, hook)),
        };
        self.finish(store, ctx, hook, out, started)
    }

    fn store(&self, ctx: &CallContext) -> Store<State> {
        let wasi = WasiCtx::builder()
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let mut store = Store::new(
            &self.engine,
            State {
                wasi,
                table: ResourceTable::new(),
                limits: Limits {
                    cap: ctx.memory.min(MAX_MEMORY),
                    peak: 0,
                    hit: false,
                },
                tenant: ctx.tenant.clone(),
                settings: ctx.settings.clone(),
                sequences: ctx.sequences.clone(),
                clock: ctx.clock.clone(),
                started: Instant::now(),
                in_host: Duration::ZERO,
                budget: ctx.timeout,
                drawn: Vec::new(),
            },
        );
        store.limiter(|s| &mut s.limits);
        let ticks = |d: Duration| (d.as_millis() / TICK.as_millis()).max(1) as u64;
        store.set_epoch_deadline(ticks(ctx.timeout));
        // At the deadline the plugin is stopped only if its own time is
        // spent; time the host's imports took is granted again.
        store.epoch_deadline_callback(move |s| {
            let st = s.data();
            let used = st.guest_time();
            if used >= st.budget {
                Ok(wasmtime::UpdateDeadline::Interrupt)
            } else {
                Ok(wasmtime::UpdateDeadline::Continue(ticks(st.budget - used)))
            }
        });
        if self.cfg.count_fuel {
            let _ = store.set_fuel(u64::MAX / 2);
        }
        store
    }

    fn finish(
        &self,
        mut store: Store<State>,
        ctx: &CallContext,
        hook: &Hook,
        out: wasmtime::Result<HookOutput>,
        started: Instant,
    ) -> Result<(HookOutput, CallStats), PluginError> {
        let fuel = if self.cfg.count_fuel {
            store.get_fuel().ok().map(|left| u64::MAX / 2 - left)
        } else {
            None
        };
        let stats = CallStats {
            wall: started.elapsed(),
            fuel,
            peak_memory: store.data().limits.peak,
        };
        let hit_memory = store.data().limits.hit;
        let drawn = std::mem::take(&mut store.data_mut().drawn);
        drop(store);
        let name = hook.name().to_string();
        let out = out
            .map_err(|e| classify(e, &name, ctx, hit_memory))
            .and_then(|out| {
                hook.check(&out)
                    .map_err(|detail| PluginError::Malformed { hook: name, detail })?;
                Ok(out)
            });
        if out.is_err() {
            // Newest first, so each is the last drawn when it is returned.
            for (seq, v) in drawn.iter().rev() {
                if let Err(e) = ctx.sequences.give_back(&ctx.tenant, seq, *v) {
                    tracing::warn!(tenant = %ctx.tenant, sequence = %seq, value = v, error = %e, "could not return a sequence value");
                }
            }
        }
        Ok((out?, stats))
    }

    /// An instance kept for several calls (benchmarks; a future batch API).
    pub fn instantiate(
        &self,
        loaded: &Loaded,
        ctx: &CallContext,
    ) -> Result<LiveInstance, PluginError> {
        let mut store = self.store(ctx);
        store.set_epoch_deadline(u64::MAX / 2);
        let b = match &loaded.bindings {
            Bindings::V1(pre) => pre
                .instantiate(&mut store)
                .map_err(|e| classify(e, "instantiate", ctx, false))?,
        };
        Ok(LiveInstance { store, bindings: b })
    }
}

/// A loaded instance reused across calls.
pub struct LiveInstance {
    store: Store<State>,
    bindings: v1::Bindings,
}

impl LiveInstance {
    pub fn call(&mut self, hook: &Hook) -> Result<HookOutput, PluginError> {
        v1::call(&self.bindings, &mut self.store, hook).map_err(|e| PluginError::Trap {
            hook: hook.name().into(),
            detail: format!("{e:#}"),
        })
    }
}

fn classify(e: wasmtime::Error, hook: &str, ctx: &CallContext, hit_memory: bool) -> PluginError {
    let hook = hook.to_string();
    if e.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::Interrupt) {
        return PluginError::Timeout {
            hook,
            ms: ctx.timeout.as_millis(),
        };
    }
    if hit_memory {
        return PluginError::OutOfMemory {
            hook,
            mb: ctx.memory >> 20,
        };
    }
    let detail = format!("{e:#}");
    if detail.contains("maximum concurrent") || detail.contains("pooling allocator") {
        return PluginError::Busy { hook };
    }
    // Keep the log line readable: the first lines of the trap and its backtrace.
    let detail: String = detail.lines().take(12).collect::<Vec<_>>().join(" | ");
    PluginError::Trap { hook, detail }
}

#[allow(unsafe_code)]
fn deserialize(engine: &Engine, file: &Path) -> Result<Component, String> {
    // SAFETY: the file was written by `precompile_component` of an engine
    // with the same compatibility key (it is in the name), in the cache
    // folder this process owns; wasmtime re-checks the header on load.
    unsafe { Component::deserialize_file(engine, file) }.map_err(|e| format!("{e:#}"))
}

#[allow(unsafe_code)]
fn deserialize_bytes(engine: &Engine, bytes: &[u8]) -> Result<Component, String> {
    // SAFETY: `bytes` came from `precompile_component` of this very engine.
    unsafe { Component::deserialize(engine, bytes) }.map_err(|e| format!("{e:#}"))
}

enum VersionProblem {
    NotWasm,
    NotComponent,
    Missing,
}

/// Read the SDK's version section without compiling anything. The section
/// sits in the core module inside the component, so nested modules are read too.
fn api_version(bytes: &[u8]) -> Result<String, VersionProblem> {
    use wasmparser::{Parser, Payload};
    if !Parser::is_component(bytes) {
        return Err(if Parser::is_core_wasm(bytes) {
            VersionProblem::NotComponent
        } else {
            VersionProblem::NotWasm
        });
    }
    for payload in Parser::new(0).parse_all(bytes) {
        let Ok(payload) = payload else {
            return Err(VersionProblem::NotWasm);
        };
        if let Payload::CustomSection(c) = payload
            && c.name() == VERSION_SECTION
        {
            return std::str::from_utf8(c.data())
                .map(|s| s.trim_end_matches('\0').to_string())
                .map_err(|_| VersionProblem::Missing);
        }
    }
    Err(VersionProblem::Missing)
}

/// A compiled, linked plugin ready to instantiate.
pub struct Loaded {
    bindings: Bindings,
    /// SHA-256 of the file.
    pub hash: String,
    pub version: String,
}

enum Bindings {
    V1(v1::BindingsPre<State>),
}

/// Who is calling and within what limits.
#[derive(Clone)]
pub struct CallContext {
    pub tenant: String,
    pub settings: Arc<BTreeMap<String, String>>,
    pub sequences: Arc<dyn Sequences>,
    pub timeout: Duration,
    pub memory: u64,
    /// A fixed `host::now` (tests, `plugin run --now`); the clock otherwise.
    pub clock: Option<String>,
}

/// A tenant's plugin: the file, its limits, and the loaded form, reloaded
/// when the file changes on disk.
pub struct TenantPlugin {
    pub path: PathBuf,
    pub ctx: CallContext,
    host: Arc<PluginHost>,
    current: RwLock<(FileStamp, Arc<Loaded>)>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
}

fn stamp(path: &Path) -> Option<FileStamp> {
    let m = std::fs::metadata(path).ok()?;
    Some(FileStamp {
        modified: m.modified().ok(),
        len: m.len(),
    })
}

impl TenantPlugin {
    pub fn load(
        host: Arc<PluginHost>,
        path: PathBuf,
        ctx: CallContext,
    ) -> Result<TenantPlugin, PluginError> {
        let st = stamp(&path);
        let loaded = host.load(&path)?;
        let st = st.unwrap_or(FileStamp {
            modified: None,
            len: 0,
        });
        Ok(TenantPlugin {
            path,
            ctx,
            host,
            current: RwLock::new((st, Arc::new(loaded))),
        })
    }

    /// The loaded plugin, reloading first if the file changed. A changed
    /// file that fails to load leaves the previous version serving (and
    /// says so in the log).
    fn loaded(&self) -> Arc<Loaded> {
        let now = stamp(&self.path);
        {
            let cur = self.current.read().unwrap_or_else(|p| p.into_inner());
            if now.is_none() || now == Some(cur.0) {
                return cur.1.clone();
            }
        }
        let mut cur = self.current.write().unwrap_or_else(|p| p.into_inner());
        let Some(now) = now else { return cur.1.clone() };
        if now == cur.0 {
            return cur.1.clone();
        }
        match self.host.load(&self.path) {
            Ok(l) => {
                tracing::info!(tenant = %self.ctx.tenant, plugin = %self.path.display(), hash = %l.hash, "plugin changed on disk; reloaded");
                *cur = (now, Arc::new(l));
            }
            Err(e) => {
                tracing::error!(tenant = %self.ctx.tenant, error = %e, "plugin changed on disk but cannot be loaded; the previous version keeps serving");
                cur.0 = now;
            }
        }
        cur.1.clone()
    }

    /// Run a hook on the current thread (blocking).
    pub fn call_blocking(&self, hook: &Hook) -> Result<(HookOutput, CallStats), PluginError> {
        let loaded = self.loaded();
        self.host.call_blocking(&loaded, &self.ctx, hook)
    }

    /// Run a hook from async code: on the blocking pool, under a tokio
    /// timeout as well as the epoch deadline. Errors are logged here with the
    /// tenant and hook.
    pub async fn call(self: &Arc<Self>, hook: Hook) -> Result<HookOutput, PluginError> {
        let this = self.clone();
        let name = hook.name();
        let limit = self.ctx.timeout * 2 + HOST_ALLOWANCE;
        let task = tokio::task::spawn_blocking(move || this.call_blocking(&hook));
        let res = match tokio::time::timeout(limit, task).await {
            Ok(Ok(r)) => r.map(|(out, stats)| {
                tracing::debug!(tenant = %self.ctx.tenant, hook = name, wall_us = stats.wall.as_micros() as u64, "plugin hook");
                out
            }),
            Ok(Err(join)) => Err(PluginError::Trap { hook: name.into(), detail: format!("host task failed: {join}") }),
            Err(_) => Err(PluginError::Timeout { hook: name.into(), ms: limit.as_millis() }),
        };
        if let Err(e) = &res {
            tracing::error!(tenant = %self.ctx.tenant, hook = name, error = %e, "plugin call failed");
        }
        res
    }
}

/// Every tenant's plugin, by slug. Tenants without a plugin are absent.
#[derive(Default, Clone)]
pub struct Plugins {
    by_tenant: HashMap<String, Arc<TenantPlugin>>,
}

impl Plugins {
    pub fn get(&self, tenant: &str) -> Option<&Arc<TenantPlugin>> {
        self.by_tenant.get(tenant)
    }

    pub fn insert(&mut self, tenant: &str, p: TenantPlugin) {
        self.by_tenant.insert(tenant.to_string(), Arc::new(p));
    }

    /// The single entry point the rest of the host uses: run `hook` for
    /// `tenant`. `Ok(None)` when the tenant has no plugin (the caller applies
    /// the default: no errors, no objection, host numbering…).
    pub async fn call(&self, tenant: &str, hook: Hook) -> Result<Option<HookOutput>, PluginError> {
        match self.get(tenant) {
            Some(p) => p.call(hook).await.map(Some),
            None => Ok(None),
        }
    }

    /// Extra profile errors from the tenant's rules.
    pub async fn validate_profile(
        &self,
        tenant: &str,
        profile: types::Profile,
    ) -> Result<Vec<types::FieldError>, PluginError> {
        match self.call(tenant, Hook::ValidateProfile(profile)).await? {
            Some(HookOutput::Errors(e)) => Ok(e),
            _ => Ok(Vec::new()),
        }
    }
}

/// Load every tenant's plugin named in its config. Problems come back
/// `file:line: message` like any other config problem.
pub fn load_all(
    host: &Arc<PluginHost>,
    tenants: &crate::tenant::Registry,
    sequences: Arc<dyn Sequences>,
) -> Result<Plugins, Vec<crate::tenant::Problem>> {
    let mut plugins = Plugins::default();
    let mut problems = Vec::new();
    for t in tenants.all() {
        // Spanned: a bad plugin is reported on its line of tenant.toml.
        let Some(file) = &t.config.tenant.plugin else {
            continue;
        };
        let path = t.dir.join(file.get_ref());
        let cfg = &t.config.plugin;
        let ctx = CallContext {
            tenant: t.slug.clone(),
            settings: Arc::new(
                cfg.settings
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_string()))
                    .collect(),
            ),
            sequences: sequences.clone(),
            timeout: cfg.timeout().unwrap_or(DEFAULT_TIMEOUT),
            memory: cfg.memory_bytes().unwrap_or(DEFAULT_MEMORY),
            clock: None,
        };
        let toml = t.dir.join("tenant.toml");
        let src = std::fs::read_to_string(&toml).unwrap_or_default();
        let line = crate::tenant::line_of(&src, file.span());
        let mut bad = |message: String| {
            problems.push(crate::tenant::Problem {
                file: toml.clone(),
                line,
                message,
            })
        };
        if ctx.memory > MAX_MEMORY || ctx.memory < (2 << 20) {
            bad(format!(
                "plugin.memory_mb must be between 2 and {}",
                MAX_MEMORY >> 20
            ));
            continue;
        }
        if ctx.timeout > Duration::from_secs(5) || ctx.timeout < Duration::from_millis(10) {
            bad("plugin.timeout_ms must be between 10 and 5000".into());
            continue;
        }
        match TenantPlugin::load(host.clone(), path, ctx) {
            Ok(p) => plugins.insert(&t.slug, p),
            Err(e) => bad(format!("tenant.plugin: {e}")),
        }
    }
    if problems.is_empty() {
        Ok(plugins)
    } else {
        Err(problems)
    }
}
