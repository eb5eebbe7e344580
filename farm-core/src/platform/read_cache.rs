//! The counters of farmd's read cache (the wiki proxy's, in farm-http), kept with the farm so
//! that `/metrics` reads them where it reads everything else.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct ReadCacheStats {
    /// Answered from the cache.
    pub hits: AtomicU64,
    /// Cacheable requests that went to PHP (and were stored if the answer allowed it).
    pub misses: AtomicU64,
    /// Requests the cache must not answer (a session, the sign-on hint, a POST...).
    pub passes: AtomicU64,
    /// PURGE requests taken (from MediaWiki on an edit).
    pub purges: AtomicU64,
    /// What the cache holds now, in bytes (bodies and headers) and entries (URLs).
    pub bytes: AtomicU64,
    pub entries: AtomicU64,
}

impl ReadCacheStats {
    pub fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn read(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
