//! `UrlService`: creating links, resolving them, and reading their statistics.

use std::sync::Arc;
use std::time::Duration;

use crate::domain::{
    Alias, ClickTarget, Clock, LongUrl, Routing, ShortCode, ShortCodeGen, Timestamp, UrlPolicy,
    UrlRecord, User, is_reserved,
};
use crate::repository::{
    LinkChangeFeed, LinkCursor, LinkScan, LinkTier, RepoError, Repository, Tiered,
};

use prometheus_client::metrics::counter::Counter;

mod builder;
mod owned;
mod routing;

pub use builder::UrlServiceBuilder;
pub use routing::{Target, VisitRequest};

use super::{
    ClickBuffer, ClickFlusher, ClickOutbox, ClickPipe, LinkCache, Lookup, ProcessorStats,
    ServiceError, Unflushed, VisitorHeaders, Visitors,
};

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
    /// The user (id) the link will belong to; `None` = nobody.
    pub owner: Option<String>,
    /// Where the link sends people beyond `long_url` (checked by the caller).
    pub routing: Routing,
}

/// A change to a link: each field present is set.
#[derive(Debug, Clone, Default)]
pub struct LinkChange {
    /// A new destination, parsed with [`UrlService::url_policy`].
    pub long_url: Option<LongUrl>,
    /// A new expiry: `Some(None)` = never.
    pub expires_at: Option<Option<Timestamp>>,
    /// New redirect settings (checked by the caller), replacing the link's.
    pub routing: Option<Routing>,
}

/// A request for a page of one owner's links.
#[derive(Debug, Clone)]
pub struct LinkQuery {
    /// Case-insensitive text the code or the destination must contain; empty = all.
    pub q: String,
    /// At most this many links.
    pub limit: usize,
    /// Continue after this position (the previous page's `next`).
    pub after: Option<LinkCursor>,
}

/// One page of a listing.
#[derive(Debug, Clone)]
pub struct LinkPage {
    /// The links, newest first, with this instance's unflushed clicks added.
    pub links: Vec<UrlRecord>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<LinkCursor>,
}

/// How many links a listing with a search reads from the store per round trip.
const LIST_BATCH: usize = 200;

/// The most links one call of [`UrlService::all_links`] reads: a search through a large store
/// answers in bounded time, and the caller continues from its cursor.
pub const SCAN_BUDGET: usize = 5_000;

/// Whether `caller` may see and change `record`: its owner, or an administrator. Anyone else
/// is told the link does not exist (no existence oracle).
fn may_manage(caller: &User, record: &UrlRecord) -> bool {
    caller.is_admin() || record.owner.as_deref() == Some(caller.id.as_str())
}

/// Link use cases over a [`Repository`], a [`Clock`] and a [`ShortCodeGen`], with an optional
/// [`LinkCache`] (and the fleet's [`SharedTier`]) in front of lookups and a [`ClickPipe`]
/// taking clicks. Whole when built: [`UrlService::builder`] takes everything it is connected
/// to before it answers a request.
pub struct UrlService {
    repo: Arc<dyn Repository>,
    clock: Arc<dyn Clock>,
    codes: Arc<dyn ShortCodeGen>,
    url_policy: UrlPolicy,
    link_policy: LinkPolicy,
    cache: Option<Arc<LinkCache>>,
    clicks: ClickPipe,
    visitors: Visitors,
    created: Counter,
    changes: Option<Arc<dyn LinkChangeFeed>>,
    tier: Option<SharedTier>,
    forward_defaults: ForwardDefaults,
}

/// Whether links that do not say carry the visitor's query string and path over
/// (`links.forward_query`, `links.forward_path`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ForwardDefaults {
    /// Add the visitor's query string to the destination's.
    pub query: bool,
    /// Append what follows `/{code}/` to the destination's path.
    pub path: bool,
}

/// The fleet's shared cache tier (`cache.redis_url`) and how long its entries live: links for
/// `ttl` (never past their expiry), unknown codes for `negative_ttl`. A tier that fails is
/// skipped, never a failed request.
#[derive(Clone)]
pub struct SharedTier {
    /// The tier.
    pub tier: Arc<dyn LinkTier>,
    /// How long a link is kept there.
    pub ttl: Duration,
    /// How long an unknown code is remembered there.
    pub negative_ttl: Duration,
}

/// Seconds after an edit or delete when the cache entry is dropped a second time.
const FORGET_AGAIN_SECS: u64 = 5;

impl UrlService {
    /// A service with the memory click queue on `clicks` and nothing shared: the whole
    /// service for a single process (and most tests). `cache` may be `None` for stores that
    /// are themselves in memory.
    pub fn new(
        repo: Arc<dyn Repository>,
        clock: Arc<dyn Clock>,
        codes: Arc<dyn ShortCodeGen>,
        url_policy: UrlPolicy,
        link_policy: LinkPolicy,
        cache: Option<LinkCache>,
        clicks: Arc<ClickBuffer>,
    ) -> Self {
        Self::builder(repo, clock, codes, ClickPipe::memory(clicks))
            .policies(url_policy, link_policy)
            .cache(cache)
            .build()
    }

    /// The link cache, shared, for a listener of other instances' changes.
    pub fn shared_cache(&self) -> Option<Arc<LinkCache>> {
        self.cache.clone()
    }

    /// A flusher that writes this service's buffered clicks to its store every `interval`.
    pub fn click_flusher(&self, interval: Duration) -> ClickFlusher {
        ClickFlusher::new(
            self.clicks.buffer.clone(),
            self.repo.clone(),
            self.clock.clone(),
            interval,
        )
    }

    /// The click buffer (for metrics and tests).
    pub fn clicks(&self) -> &ClickBuffer {
        &self.clicks.buffer
    }

    /// The counters of this process's click processor, if it runs one.
    pub fn processor_stats(&self) -> Option<&Arc<ProcessorStats>> {
        self.clicks.processor.as_ref()
    }

    /// The click outbox, with the Redis click queue.
    pub fn click_outbox(&self) -> Option<&Arc<ClickOutbox>> {
        self.clicks.outbox.as_ref()
    }

    /// The service's clock reading now.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The click buffer, shared (for the analytics reader).
    pub fn click_buffer(&self) -> &Arc<ClickBuffer> {
        &self.clicks.buffer
    }

    /// The link cache, when enabled (for metrics and tests).
    pub fn cache(&self) -> Option<&LinkCache> {
        self.cache.as_deref()
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
            let record = UrlRecord::new(alias.into_code(), new.long_url, now, expires_at)
                .owned_by(new.owner)
                .routed(new.routing);
            return match self.repo.save(&record).await {
                Ok(()) => {
                    self.on_created(&record.short_code).await;
                    Ok(record)
                }
                Err(RepoError::Conflict) => {
                    Err(ServiceError::AliasTaken(record.short_code.to_string()))
                }
                Err(e) => Err(e.into()),
            };
        }
        // A code taken by a live, expired or deleted link collides like any other, so the
        // generator never reissues a retired code.
        let mut record = UrlRecord::new(self.codes.generate(), new.long_url, now, expires_at)
            .owned_by(new.owner)
            .routed(new.routing);
        for attempt in 1..=MAX_CODE_ATTEMPTS {
            if attempt > 1 {
                record.short_code = self.codes.generate();
            }
            // A code spelling one of the service's own paths would be shadowed at the root.
            if is_reserved(record.short_code.as_str()) {
                continue;
            }
            match self.repo.save(&record).await {
                Ok(()) => {
                    self.on_created(&record.short_code).await;
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

    /// Bookkeeping after a save succeeded: count it, and drop the code's negative cache
    /// entries (here, and in the shared tier, so every instance that asks it resolves the code).
    async fn on_created(&self, code: &ShortCode) {
        self.created.inc();
        if let Some(cache) = &self.cache {
            cache.invalidate_missing(code);
        }
        if let Some(shared) = &self.tier {
            let _ = shared.tier.forget(code).await;
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
        let shared = self.tier.as_ref();
        if let Some(shared) = shared {
            match shared.tier.get(code).await {
                Ok(Some(Tiered::Link(record))) if record.is_live_at(now) => {
                    let record = Arc::new(record);
                    if let Some(cache) = &self.cache {
                        cache.insert(record.clone());
                    }
                    return Ok(record);
                }
                Ok(Some(_)) => {
                    if let Some(cache) = &self.cache {
                        cache.insert_missing(code);
                    }
                    return Err(ServiceError::NotFound);
                }
                // Not there, or the tier is down: the store answers.
                Ok(None) | Err(_) => {}
            }
        }
        match self.repo.find_by_short_code(code).await? {
            Some(record) if record.is_live_at(now) => {
                let record = Arc::new(record);
                if let Some(cache) = &self.cache {
                    cache.insert(record.clone());
                }
                if let Some(shared) = shared {
                    let ttl = match record.expires_at {
                        Some(at) => shared.ttl.min(Duration::from_millis(at.millis_since(now))),
                        None => shared.ttl,
                    };
                    let (tier, kept) = (shared.tier.clone(), record.clone());
                    // Off the request: the visitor does not wait for the tier.
                    tokio::spawn(async move { tier.put(&kept, ttl).await });
                }
                Ok(record)
            }
            _ => {
                if let Some(cache) = &self.cache {
                    cache.insert_missing(code);
                }
                if let Some(shared) = shared {
                    let (tier, code, ttl) =
                        (shared.tier.clone(), code.clone(), shared.negative_ttl);
                    tokio::spawn(async move { tier.put_missing(&code, ttl).await });
                }
                Err(ServiceError::NotFound)
            }
        }
    }

    /// The live link for `code`, counting one click by the visitor `headers` describe in the
    /// click queue (never waiting on a write). The headers are reduced to a
    /// [`crate::domain::ClickEvent`] here and
    /// go no further.
    ///
    /// # Errors
    /// As [`Self::resolve`].
    pub async fn follow(
        &self,
        code: &ShortCode,
        headers: &VisitorHeaders,
    ) -> Result<Arc<UrlRecord>, ServiceError> {
        let record = self.resolve(code).await?;
        self.count_visit(code, headers, None);
        Ok(record)
    }

    /// Counts one click on `code` by the visitor `headers` describe, served by `target` on a
    /// link with redirect rules (for a redirect that resolved the link first and decided where
    /// to send the visitor).
    pub fn count_visit(
        &self,
        code: &ShortCode,
        headers: &VisitorHeaders,
        target: Option<ClickTarget>,
    ) {
        let mut event = self.visitors.event(code.clone(), self.clock.now(), headers);
        event.target = target;
        self.clicks.queue.push(event);
    }

    /// The link with its counters, for `/stats`: read from storage (never the cache, whose
    /// counters are stale) plus this instance's clicks not yet flushed.
    ///
    /// # Errors
    /// As [`Self::resolve`].
    pub async fn stats(&self, code: &ShortCode) -> Result<UrlRecord, ServiceError> {
        let now = self.clock.now();
        match self.find_counted(code).await? {
            Some(record) if record.is_live_at(now) => Ok(record),
            _ => Err(ServiceError::NotFound),
        }
    }

    /// The stored link `code` with this instance's clicks not yet flushed added, each click
    /// once (see [`ClickBuffer::read_with_unflushed`]).
    async fn find_counted(&self, code: &ShortCode) -> Result<Option<UrlRecord>, ServiceError> {
        let (found, unflushed) = self
            .clicks
            .buffer
            .read_with_unflushed(
                || self.repo.find_by_short_code(code),
                |found| found.iter().map(|r| r.short_code.clone()).collect(),
            )
            .await?;
        Ok(found.map(|r| with_unflushed(r, &unflushed)))
    }
}

/// The codes of `links`, for [`ClickBuffer::read_with_unflushed`].
fn codes_of(links: &[UrlRecord]) -> Vec<ShortCode> {
    links.iter().map(|r| r.short_code.clone()).collect()
}

/// `record` with the unwritten clicks of this instance added to its counters.
fn with_unflushed(mut record: UrlRecord, unflushed: &Unflushed) -> UrlRecord {
    if let Some(pending) = unflushed.get(&record.short_code) {
        record.click_count = record.click_count.saturating_add(pending.count);
        record.last_accessed_at = Some(
            record
                .last_accessed_at
                .map_or(pending.last_at, |t| t.max(pending.last_at)),
        );
    }
    record
}
