//! `UrlService`: creating links, resolving them, and reading their statistics.

use std::sync::Arc;
use std::time::Duration;

use crate::domain::{Alias, Clock, LongUrl, ShortCode, ShortCodeGen, UrlPolicy, UrlRecord};
use crate::repository::{RepoError, Repository};

use prometheus_client::metrics::counter::Counter;

use super::{ClickBuffer, ClickFlusher, LinkCache, Lookup, ServiceError};

/// How many generated codes are tried before giving up. At 8 base62 characters a single
/// collision needs ~10^14 stored links to be likely; ten in a row means something is wrong.
const MAX_CODE_ATTEMPTS: usize = 10;

/// Expiry rules for new links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkPolicy {
    /// TTL applied when a request names none; `None` = links never expire.
    pub default_ttl_seconds: Option<u64>,
    /// Largest TTL a request may ask for.
    pub max_ttl_seconds: u64,
}

/// A validated request for a new link.
#[derive(Debug, Clone)]
pub struct NewLink {
    /// Where the link goes.
    pub long_url: LongUrl,
    /// Requested lifetime in seconds; `None` = the configured default.
    pub ttl_seconds: Option<u64>,
    /// Requested code; `None` = generate one.
    pub alias: Option<Alias>,
}

/// Link use cases over a [`Repository`], a [`Clock`] and a [`ShortCodeGen`], with an optional
/// [`LinkCache`] in front of lookups and a [`ClickBuffer`] collecting clicks.
pub struct UrlService {
    repo: Arc<dyn Repository>,
    clock: Arc<dyn Clock>,
    codes: Arc<dyn ShortCodeGen>,
    url_policy: UrlPolicy,
    link_policy: LinkPolicy,
    cache: Option<LinkCache>,
    clicks: Arc<ClickBuffer>,
    created: Counter,
}

impl UrlService {
    /// Wires a service. `cache` may be `None` for stores that are themselves in memory.
    pub fn new(
        repo: Arc<dyn Repository>,
        clock: Arc<dyn Clock>,
        codes: Arc<dyn ShortCodeGen>,
        url_policy: UrlPolicy,
        link_policy: LinkPolicy,
        cache: Option<LinkCache>,
        clicks: Arc<ClickBuffer>,
    ) -> Self {
        Self {
            repo,
            clock,
            codes,
            url_policy,
            link_policy,
            cache,
            clicks,
            created: Counter::default(),
        }
    }

    /// Counts every created link in `counter` (for `/metrics`).
    pub fn count_creates_in(mut self, counter: Counter) -> Self {
        self.created = counter;
        self
    }

    /// A flusher that writes this service's buffered clicks to its store every `interval`.
    pub fn click_flusher(&self, interval: Duration) -> ClickFlusher {
        ClickFlusher::new(
            self.clicks.clone(),
            self.repo.clone(),
            self.clock.clone(),
            interval,
        )
    }

    /// The click buffer (for metrics and tests).
    pub fn clicks(&self) -> &ClickBuffer {
        &self.clicks
    }

    /// The link cache, when enabled (for metrics and tests).
    pub fn cache(&self) -> Option<&LinkCache> {
        self.cache.as_ref()
    }

    /// The destination policy long URLs must be parsed with before they reach [`Self::create`].
    pub fn url_policy(&self) -> &UrlPolicy {
        &self.url_policy
    }

    /// The clock this service judges time by.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Stores a new link and returns it.
    ///
    /// A generated code is inserted with insert-if-absent and a new code is drawn on collision;
    /// an alias is inserted once.
    ///
    /// # Errors
    /// [`ServiceError::InvalidTtl`], [`ServiceError::AliasTaken`],
    /// [`ServiceError::CodeSpaceExhausted`], or [`ServiceError::Storage`].
    pub async fn create(&self, new: NewLink) -> Result<UrlRecord, ServiceError> {
        let ttl = self.effective_ttl(new.ttl_seconds)?;
        let now = self.clock.now();
        let expires_at = match ttl {
            Some(secs) => Some(
                now.checked_add_seconds(secs)
                    .ok_or(ServiceError::InvalidTtl {
                        max: self.link_policy.max_ttl_seconds,
                    })?,
            ),
            None => None,
        };
        if let Some(alias) = new.alias {
            let record = UrlRecord::new(alias.into_code(), new.long_url, now, expires_at);
            return match self.repo.save(&record).await {
                Ok(()) => {
                    self.on_created(&record.short_code);
                    Ok(record)
                }
                Err(RepoError::Conflict) => {
                    Err(ServiceError::AliasTaken(record.short_code.to_string()))
                }
                Err(e) => Err(e.into()),
            };
        }
        let mut record = UrlRecord::new(self.codes.generate(), new.long_url, now, expires_at);
        for attempt in 1..=MAX_CODE_ATTEMPTS {
            if attempt > 1 {
                record.short_code = self.codes.generate();
            }
            match self.repo.save(&record).await {
                Ok(()) => {
                    self.on_created(&record.short_code);
                    return Ok(record);
                }
                Err(RepoError::Conflict) => {
                    tracing::debug!(attempt, "generated short code collided");
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::CodeSpaceExhausted(MAX_CODE_ATTEMPTS))
    }

    fn effective_ttl(&self, requested: Option<u64>) -> Result<Option<u64>, ServiceError> {
        let max = self.link_policy.max_ttl_seconds;
        match requested {
            Some(ttl) if !(1..=max).contains(&ttl) => Err(ServiceError::InvalidTtl { max }),
            Some(ttl) => Ok(Some(ttl)),
            None => Ok(self.link_policy.default_ttl_seconds),
        }
    }

    /// Bookkeeping after a save succeeded: count it, and drop the code's negative cache entry
    /// so this instance resolves it at once.
    fn on_created(&self, code: &ShortCode) {
        self.created.inc();
        if let Some(cache) = &self.cache {
            cache.invalidate_missing(code);
        }
    }

    /// The live link for `code`, without counting a click (HEAD requests, previews). Served
    /// from the cache when it can be; expiry is always judged with this service's clock.
    ///
    /// # Errors
    /// [`ServiceError::NotFound`] for unknown and expired codes alike; [`ServiceError::Storage`].
    pub async fn resolve(&self, code: &ShortCode) -> Result<Arc<UrlRecord>, ServiceError> {
        let now = self.clock.now();
        if let Some(cache) = &self.cache {
            match cache.get(code) {
                Lookup::Hit(record) if record.is_live_at(now) => return Ok(record),
                Lookup::Hit(_) | Lookup::KnownMissing => return Err(ServiceError::NotFound),
                Lookup::Unknown => {}
            }
        }
        match self.repo.find_by_short_code(code).await? {
            Some(record) if record.is_live_at(now) => {
                let record = Arc::new(record);
                if let Some(cache) = &self.cache {
                    cache.insert(record.clone());
                }
                Ok(record)
            }
            _ => {
                if let Some(cache) = &self.cache {
                    cache.insert_missing(code);
                }
                Err(ServiceError::NotFound)
            }
        }
    }

    /// The live link for `code`, counting one click in the buffer (never waiting on a write).
    ///
    /// # Errors
    /// As [`Self::resolve`].
    pub async fn follow(&self, code: &ShortCode) -> Result<Arc<UrlRecord>, ServiceError> {
        let record = self.resolve(code).await?;
        self.clicks.record(code, self.clock.now());
        Ok(record)
    }

    /// The link with its counters, for `/stats`: read from storage (never the cache, whose
    /// counters are stale) plus this instance's clicks not yet flushed.
    ///
    /// # Errors
    /// As [`Self::resolve`].
    pub async fn stats(&self, code: &ShortCode) -> Result<UrlRecord, ServiceError> {
        let now = self.clock.now();
        let mut record = match self.repo.find_by_short_code(code).await? {
            Some(record) if record.is_live_at(now) => record,
            _ => return Err(ServiceError::NotFound),
        };
        if let Some(pending) = self.clicks.pending(code) {
            record.click_count = record.click_count.saturating_add(pending.count);
            record.last_accessed_at = Some(
                record
                    .last_accessed_at
                    .map_or(pending.last_at, |t| t.max(pending.last_at)),
            );
        }
        Ok(record)
    }

    /// One round trip to storage.
    ///
    /// # Errors
    /// [`ServiceError::Storage`] when the store does not answer.
    pub async fn check_storage(&self) -> Result<(), ServiceError> {
        Ok(self.repo.ping().await?)
    }
}
