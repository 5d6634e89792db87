//! `LinkCache`: hot links in process memory (moka), so a redirect of a popular link never waits
//! on storage, plus a short negative cache so a flood of random codes does not reach storage.
//!
//! Entries never outlive their link's `expires_at` (nor `cache.ttl_seconds`); the service also
//! re-checks expiry on every hit with its own clock, so an entry can never serve an expired
//! link. A create on this instance removes the code's negative entry at once; other instances
//! see the new code after at most `cache.negative_ttl_ms`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use moka::Expiry;
use moka::sync::Cache;

use crate::domain::{Clock, ShortCode, UrlRecord};

/// What the cache knows about a code.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// The link as last read from storage.
    Hit(Arc<UrlRecord>),
    /// Storage recently said there is no such link.
    KnownMissing,
    /// Ask storage.
    Unknown,
}

struct LinkExpiry {
    clock: Arc<dyn Clock>,
    max_ttl: Duration,
}

impl Expiry<ShortCode, Arc<UrlRecord>> for LinkExpiry {
    fn expire_after_create(
        &self,
        _code: &ShortCode,
        record: &Arc<UrlRecord>,
        _created_at: Instant,
    ) -> Option<Duration> {
        let ttl = match record.expires_at {
            Some(expires_at) => {
                Duration::from_millis(expires_at.millis_since(self.clock.now())).min(self.max_ttl)
            }
            None => self.max_ttl,
        };
        Some(ttl)
    }
}

/// The positive and negative link caches, with hit and miss counters.
pub struct LinkCache {
    links: Cache<ShortCode, Arc<UrlRecord>>,
    missing: Cache<ShortCode, ()>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl LinkCache {
    /// A cache of at most `capacity` links kept at most `max_ttl`, and unknown codes remembered
    /// for `negative_ttl`.
    pub fn new(
        capacity: u64,
        max_ttl: Duration,
        negative_ttl: Duration,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            links: Cache::builder()
                .max_capacity(capacity)
                .expire_after(LinkExpiry { clock, max_ttl })
                .build(),
            missing: Cache::builder()
                .max_capacity(capacity)
                .time_to_live(negative_ttl)
                .build(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// What is known about `code`; counts a hit or a miss.
    pub fn get(&self, code: &ShortCode) -> Lookup {
        if let Some(record) = self.links.get(code) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Lookup::Hit(record);
        }
        if self.missing.contains_key(code) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Lookup::KnownMissing;
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        Lookup::Unknown
    }

    /// Remembers a live link.
    pub fn insert(&self, record: Arc<UrlRecord>) {
        self.missing.invalidate(&record.short_code);
        self.links.insert(record.short_code.clone(), record);
    }

    /// Remembers that `code` has no live link.
    pub fn insert_missing(&self, code: &ShortCode) {
        self.links.invalidate(code);
        self.missing.insert(code.clone(), ());
    }

    /// Forgets `code` entirely: its link has just been edited or deleted here.
    pub fn forget(&self, code: &ShortCode) {
        self.links.invalidate(code);
        self.missing.invalidate(code);
    }

    /// Forgets everything (announcements of changes may have been missed).
    pub fn clear(&self) {
        self.links.invalidate_all();
        self.missing.invalidate_all();
    }

    /// Forgets that `code` was missing: it has just been created here.
    pub fn invalidate_missing(&self, code: &ShortCode) {
        self.missing.invalidate(code);
    }

    /// Lookups answered from memory (positive or negative).
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Lookups that had to ask storage.
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{LongUrl, ManualClock, Timestamp};

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_unix_millis(ms).unwrap()
    }

    fn record(code: &str, expires_at: Option<i64>) -> Arc<UrlRecord> {
        Arc::new(UrlRecord::new(
            ShortCode::parse(code).unwrap(),
            LongUrl::from_trusted("https://example.com/".into()),
            at(0),
            expires_at.map(at),
        ))
    }

    #[test]
    fn an_entry_lives_no_longer_than_its_link() {
        let clock = Arc::new(ManualClock::new(at(1_000)));
        let cache = LinkCache::new(100, Duration::from_secs(300), Duration::from_secs(2), clock);
        cache.insert(record("short-lived", Some(2_000)));
        cache.insert(record("forever", None));
        assert!(matches!(
            cache.get(&ShortCode::parse("short-lived").unwrap()),
            Lookup::Hit(_)
        ));

        // Past the second the link had left; a second so that a stalled test thread cannot
        // outlive the entry before the first lookup.
        std::thread::sleep(Duration::from_millis(1_200));
        cache.links.run_pending_tasks();

        assert!(matches!(
            cache.get(&ShortCode::parse("short-lived").unwrap()),
            Lookup::Unknown
        ));
        assert!(matches!(
            cache.get(&ShortCode::parse("forever").unwrap()),
            Lookup::Hit(_)
        ));
    }

    #[test]
    fn a_local_create_clears_the_negative_entry() {
        let clock = Arc::new(ManualClock::new(at(0)));
        let cache = LinkCache::new(
            100,
            Duration::from_secs(300),
            Duration::from_secs(60),
            clock,
        );
        let code = ShortCode::parse("newcode").unwrap();
        cache.insert_missing(&code);
        assert!(matches!(cache.get(&code), Lookup::KnownMissing));

        cache.invalidate_missing(&code);

        assert!(matches!(cache.get(&code), Lookup::Unknown));
        assert_eq!((cache.hits(), cache.misses()), (1, 1));
    }
}
