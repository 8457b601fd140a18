//! The process's allocator and what it says about memory.
//!
//! jemalloc rather than glibc's malloc: under a steady load glibc kept
//! growing (issue 15). glibc gives threads up to eight arenas per core and
//! returns an arena's free memory to the system only from its top, and its
//! sliding mmap threshold moves large blocks (a 19 MiB Argon2 buffer, a
//! ten-thousand-row export) from mappings of their own into the arenas
//! after the first is freed. Six hashes at once on six short-lived threads
//! left a process at 116 MiB resident for good, `MALLOC_ARENA_MAX=2` or
//! not; with jemalloc the same process was back at 3 MiB ten seconds
//! later, its background threads handing dirty pages back on a timer.

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read before `main` from this symbol (the `_rjem_`
/// prefix is tikv-jemallocator's). Dirty pages go back to the system after
/// 1 s instead of jemalloc's 10 s: with the default, an export's or a
/// hash's freed pages stayed resident for seconds at a time, so resident
/// memory swung by 40 MiB between readings with the live heap flat at
/// 17 MiB, and a soak could not tell a level from that swing (issue 15).
/// Purging more often costs a few `madvise` calls a second on a background
/// thread. `_RJEM_MALLOC_CONF` in the environment still overrides it.
// The lint: exporting a symbol can clash with another library's, and this
// one must clash with jemalloc's weak default, which is the point.
#[allow(unsafe_code)]
#[used]
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: Option<&'static u8> = Some(&b"dirty_decay_ms:1000\0"[0]);

/// The dirty-page decay in force, in milliseconds (-1: never purged).
pub fn dirty_decay_ms() -> Option<isize> {
    use tikv_jemalloc_ctl::{Access, AsName};
    b"opt.dirty_decay_ms\0".name().read().ok()
}

/// What the allocator holds, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Live allocations: what the program asked for and has not freed.
    pub allocated: u64,
    /// Pages holding live allocations (allocated plus fragmentation).
    pub active: u64,
    /// Resident pages of the allocator, its metadata included.
    pub resident: u64,
    /// Mapped but given back to the system.
    pub retained: u64,
}

/// The allocator's current figures (refreshed first: jemalloc caches them).
pub fn usage() -> Option<Usage> {
    use tikv_jemalloc_ctl::{epoch, stats};
    epoch::advance().ok()?;
    Some(Usage {
        allocated: stats::allocated::read().ok()? as u64,
        active: stats::active::read().ok()? as u64,
        resident: stats::resident::read().ok()? as u64,
        retained: stats::retained::read().ok()? as u64,
    })
}

/// How often the memory line is logged.
pub const REPORT_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// One log line (target `tapline::server::memory`, level info) with the
/// allocator's figures and the size of every in-process cache, so a soak
/// tells a leak (allocated climbing) from fragmentation (resident climbing
/// alone) and names a cache that grows.
pub fn report(state: &crate::web::AppState) {
    let mib = |b: u64| b / (1 << 20);
    let u = usage().unwrap_or_default();
    tracing::info!(
        allocated_mib = mib(u.allocated),
        active_mib = mib(u.active),
        resident_mib = mib(u.resident),
        retained_mib = mib(u.retained),
        dirty_decay_ms = ?dirty_decay_ms(),
        page_cache_entries = state.pages.len(),
        "memory"
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn freed_pages_go_back_after_a_second() {
        // The symbol is read before main; jemalloc's own default is 10 000.
        assert_eq!(super::dirty_decay_ms(), Some(1000));
    }

    #[test]
    fn the_program_allocates_from_jemalloc() {
        let before = super::usage().expect("jemalloc's statistics").allocated;
        let block = vec![1u8; 64 << 20];
        let during = super::usage().unwrap().allocated;
        // Other tests allocate meanwhile; 64 MiB stands out of their noise.
        assert!(
            during > before + (32 << 20),
            "{before} → {during}: a 64 MiB block is not in jemalloc's count"
        );
        drop(block);
    }
}
