//! Storage: the `Repository` trait every backend implements, its error type, the other store
//! traits, and [`build_stores`], the one place that turns configuration into a backend.
//!
//! Backends map their own failures to [`RepoError`] here at the boundary; nothing above this
//! layer sees a driver's error type.

mod accounts;
mod analytics;
mod changes;
mod deadline;
mod dynamodb;
mod forward;
pub mod link_health;
mod memory;
mod metered;
mod postgres;
mod redis;
mod sqlite;
mod stores;
mod tier;

use async_trait::async_trait;
use futures_util::StreamExt;

use crate::domain::{
    ApiKeyHash, ApiKeyRecord, ClickTally, LongUrl, Routing, ShortCode, Timestamp, UrlRecord,
};

pub use accounts::{AccountEdited, InviteStore, PasswordSet, SessionStore, UserStore};
pub use analytics::{ClickStatsStore, MAX_BREAKDOWN_DAYS, MAX_SERIES_HOURS};
pub use changes::LinkChangeFeed;
pub use deadline::Deadline;
pub use dynamodb::{
    BROKEN_INDEX, DynamoDbRepository, EXPIRY_INDEX, EXPIRY_SHARDS, HEALTH_INDEX, OWNER_INDEX,
    SWEEP_LOOKBACK_DAYS, expiry_bucket,
};
pub use link_health::{DueWindow, HISTORY_LEN, LinkHealthRecord, LinkHealthStore};
pub use memory::MemoryRepository;
pub use metered::Metered;
pub use postgres::{MIGRATOR as POSTGRES_MIGRATOR, PostgresRepository};
pub use redis::{
    ConsumerState, READ_BLOCK, RedisChangeFeed, RedisClickStream, RedisLinkTier, RedisRepository,
    StreamBatch, connection_manager as redis_connection_manager, entry_millis, entry_seq,
};
pub use sqlite::SqliteRepository;
pub use stores::{AccountStores, Stores, build_stores};
pub use tier::{LinkTier, Tiered};

/// A storage failure as the layers above need to see it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RepoError {
    /// `save` found the code already taken (live, or expired but not yet purged).
    #[error("a record with this short code already exists")]
    Conflict,
    /// The store could not be reached or did not answer in time; the caller may retry later.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The store answered with data this version cannot read.
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
}

/// Clicks on one code, for [`Repository::increment_click_counts`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClickDelta {
    /// The link.
    pub code: ShortCode,
    /// Clicks to add.
    pub count: u64,
    /// The latest of them: `last_accessed_at` moves forward to it, never back.
    pub last_at: Timestamp,
    /// Which write this is. A retry carries the same id, so a write that landed although its
    /// answer never came is not counted again.
    pub write: WriteId,
    /// What these clicks add to the link's analytics, in the same atomic step and under the
    /// same write mark as the count. Empty for clicks counted without analytics.
    pub tally: ClickTally,
    /// The write may be sent again by another process (a click processor's batch, claimed
    /// after that processor died between its commit and its acknowledgement): the stores that
    /// keep no marks for an instance's own writes (SQLite) keep one for these. Stores that keep
    /// marks for every write (Redis, DynamoDB, PostgreSQL) treat all writes alike.
    pub shared_writer: bool,
}

/// Identifies one click write of one instance: the instance's random id and a sequence number
/// that grows with every flush it makes (the flush's start in Unix milliseconds, or one more
/// than its last, whichever is larger). The flusher keeps at most one unacknowledged write per
/// code, so "applied at most once" is "applied only if its `seq` is above the last `seq` this
/// store applied for that code and instance": a store keeps that mark in the same atomic step
/// as the increment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WriteId {
    /// The writing instance, random per process.
    pub instance: u64,
    /// Grows with every flush of that instance.
    pub seq: u64,
}

/// How long the networked stores keep another instance's write marks on a link. An instance
/// that has not written to a link for this long has no retry of it outstanding (the flusher
/// retries every interval), so its mark can go; marks of live instances are renewed by every
/// write.
pub const WRITE_MARK_TTL_MS: u64 = 24 * 60 * 60 * 1000;

/// Single increments the default [`Repository::increment_click_counts`] keeps in flight: enough
/// to hide a network store's round trips without flooding the server.
const FLUSH_CONCURRENCY: usize = 32;

/// A batch of increments hands the worker thread back after this many.
const FLUSH_YIELD_EVERY: usize = 64;

/// Persistence for link records. Every backend passes the same conformance suite
/// (`tests/conformance/repository.rs`); the contracts below are what it checks.
#[async_trait]
pub trait Repository: Send + Sync + 'static {
    /// Inserts `record` if no record has its code, atomically.
    ///
    /// # Errors
    /// [`RepoError::Conflict`] when the code exists, whether or not that record has expired.
    async fn save(&self, record: &UrlRecord) -> Result<(), RepoError>;

    /// The record for `code`, expired or not: the service judges expiry with its clock.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`] or [`RepoError::Corrupt`]; a missing record is `Ok(None)`.
    async fn find_by_short_code(&self, code: &ShortCode) -> Result<Option<UrlRecord>, RepoError>;

    /// Adds `delta.count` to the click count and moves `last_accessed_at` forward to
    /// `delta.last_at` (never back), atomically, and exactly once for a write the caller sends
    /// again after an error: a missing record stays missing.
    ///
    /// A store whose call can fail with the write's outcome unknown (a timeout, a lost answer:
    /// Redis, DynamoDB) applies each [`WriteId`] at most once per link: a delta whose
    /// `write.seq` is not above the last one it applied for that link and `write.instance`
    /// changes nothing, and the mark is kept in the same atomic step as the increment. The
    /// memory and SQLite stores answer every write for certain (applied and `Ok`, or not
    /// applied and `Err`), so a retry cannot repeat a landed write and they keep no marks.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`]; the caller keeps the delta and retries it unchanged.
    async fn increment_click_count(&self, delta: &ClickDelta) -> Result<(), RepoError>;

    /// Applies every delta as [`Self::increment_click_count`] would, and returns the deltas that
    /// could not be written, for the caller to keep and retry. Deltas are independent: one
    /// failing does not undo the others.
    ///
    /// The default sends [`FLUSH_CONCURRENCY`] single increments at a time. A store that can
    /// apply many in one step overrides it (the memory store under one lock, SQLite in sorted
    /// writer transactions).
    async fn increment_click_counts(&self, batch: Vec<ClickDelta>) -> Vec<ClickDelta> {
        futures_util::stream::iter(batch)
            .enumerate()
            .map(|(i, delta)| async move {
                // A store that answers at once (no I/O) would otherwise hold the worker thread
                // for the whole batch and stall the redirects queued behind it.
                if i % FLUSH_YIELD_EVERY == FLUSH_YIELD_EVERY - 1 {
                    tokio::task::yield_now().await;
                }
                match self.increment_click_count(&delta).await {
                    Ok(()) => None,
                    Err(_) => Some(delta),
                }
            })
            .buffer_unordered(FLUSH_CONCURRENCY)
            .filter_map(std::future::ready)
            .collect()
            .await
    }

    /// Removes up to `limit` records with `expires_at < before` and returns how many it removed.
    /// Never touches a record without an expiry. Its cost follows the number of expired records,
    /// not the size of the store.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`].
    async fn delete_expired(&self, before: Timestamp, limit: usize) -> Result<u64, RepoError>;

    /// Whether a record with `code` exists (expired or not).
    ///
    /// # Errors
    /// [`RepoError::Unavailable`].
    async fn exists(&self, code: &ShortCode) -> Result<bool, RepoError>;

    /// One cheap round trip to the store, for health checks.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`] when the store does not answer.
    async fn ping(&self) -> Result<(), RepoError>;

    /// Up to `limit` links of `owner`, newest first (by `created_at`, then code, both
    /// descending), starting after `after` when given, expired ones included, deleted ones
    /// never. Found through an index of the owner's links, never a scan of the store; a page
    /// boundary is stable under concurrent inserts (a cursor names a position, not an offset).
    ///
    /// # Errors
    /// [`RepoError::Unavailable`] or [`RepoError::Corrupt`].
    async fn list_owned(
        &self,
        owner: &str,
        after: Option<&LinkCursor>,
        limit: usize,
    ) -> Result<Vec<UrlRecord>, RepoError>;

    /// One page of every link, whoever owns it (or nobody), for administrators: a scan of the
    /// store in its own order (by code on memory, SQLite and PostgreSQL; the scan's order on
    /// Redis and DynamoDB), resumed after `after`, a [`LinkScan::next`] this store returned.
    /// Deleted links never; expired ones until they are swept. A page may hold fewer than
    /// `limit` links (none, even) while [`LinkScan::next`] is set; `next` is `None` at the end.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`] or [`RepoError::Corrupt`] (also for a cursor this store
    /// never gave).
    async fn scan_links(&self, after: Option<&str>, limit: usize) -> Result<LinkScan, RepoError>;

    /// Sets the destination and expiry of the link `code`, atomically; `false` when there is
    /// no such link (or it was deleted). Counters, owner and creation time are kept; a store
    /// with native expiry moves it.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`].
    async fn update_link(
        &self,
        code: &ShortCode,
        long_url: &LongUrl,
        expires_at: Option<Timestamp>,
    ) -> Result<bool, RepoError>;

    /// Sets where the link `code` sends people ([`Routing`]), atomically, keeping the rest;
    /// `false` when there is no live record (none, or a deleted link's tombstone).
    ///
    /// # Errors
    /// [`RepoError::Unavailable`].
    async fn set_routing(&self, code: &ShortCode, routing: &Routing) -> Result<bool, RepoError>;

    /// Disables the link `code` as of `at` (`Some`), or enables it again (`None`): a disabled
    /// link keeps its code, destination, counters and owner, and is found with `disabled_at`
    /// set (the service then answers 404 for it). `false` when there is no live record (none,
    /// or a deleted link's tombstone).
    ///
    /// # Errors
    /// [`RepoError::Unavailable`].
    async fn set_disabled(
        &self,
        code: &ShortCode,
        at: Option<Timestamp>,
    ) -> Result<bool, RepoError>;

    /// Deletes the link `code` and retires its code for ever: from then on
    /// [`Self::find_by_short_code`] and [`Self::list_owned`] do not see it, [`Self::save`] of
    /// the code is a `Conflict`, increments change nothing and no sweep or native expiry
    /// brings the code back. `false` when there was no live record to delete.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`].
    async fn delete_link(&self, code: &ShortCode, at: Timestamp) -> Result<bool, RepoError>;
}

/// One page of [`Repository::scan_links`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkScan {
    /// The links of this page.
    pub links: Vec<UrlRecord>,
    /// Where the next page starts; `None` when the scan is complete.
    pub next: Option<String>,
}

/// A position in an owner's listing: the last link of the previous page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkCursor {
    /// Its creation time.
    pub created_at: Timestamp,
    /// Its code (ties on `created_at` are ordered by code).
    pub code: ShortCode,
}

impl LinkCursor {
    /// The cursor after `record`.
    pub fn after(record: &UrlRecord) -> Self {
        Self {
            created_at: record.created_at,
            code: record.short_code.clone(),
        }
    }

    /// `{created_at as 16 digits}:{code}`: sorts like (created_at, code), byte by byte. The
    /// sort key of the Redis and DynamoDB owner indexes.
    pub fn sort_key(&self) -> String {
        format!("{:016}:{}", self.created_at.as_unix_millis(), self.code)
    }

    /// Parses [`Self::sort_key`] text back (from a client's `cursor` parameter).
    pub fn parse(text: &str) -> Option<Self> {
        let (millis, code) = text.split_once(':')?;
        // 16 digits, the first two zeros: every instant until the year 5138, and exactly what
        // the API's documented pattern for a cursor admits.
        if millis.len() != 16
            || !millis.starts_with("00")
            || !millis.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        Some(Self {
            created_at: Timestamp::from_unix_millis(millis.parse().ok()?)?,
            code: ShortCode::parse(code).ok()?,
        })
    }
}

/// What [`ApiKeyStore::insert_key`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyInsert {
    /// The key is stored.
    Inserted,
    /// Nothing was stored: the owner has as many live keys as allowed.
    AtCap,
}

/// Persistence for API keys, in the same store as the links. Only hashes are stored.
#[async_trait]
pub trait ApiKeyStore: Send + Sync + 'static {
    /// Stores a new key record. A key with an owner is stored only while that owner has fewer
    /// than `max_live` live (unrevoked) keys, checked in the same atomic step as the insert, so
    /// concurrent creates on any number of instances never pass the cap. Keys without an owner
    /// (the operator's, from the command line) have no cap.
    ///
    /// # Errors
    /// [`RepoError::Conflict`] if a key with this hash exists; [`RepoError::Unavailable`].
    async fn insert_key(&self, key: &ApiKeyRecord, max_live: usize)
    -> Result<KeyInsert, RepoError>;

    /// The record whose hash is `hash`, revoked or not.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`] or [`RepoError::Corrupt`].
    async fn find_key(&self, hash: &ApiKeyHash) -> Result<Option<ApiKeyRecord>, RepoError>;

    /// Every key record, oldest first. An operator's command, not a hot path (it may scan).
    ///
    /// # Errors
    /// [`RepoError::Unavailable`] or [`RepoError::Corrupt`].
    async fn list_keys(&self) -> Result<Vec<ApiKeyRecord>, RepoError>;

    /// The keys of user `owner`, oldest first, revoked ones included; found through an index
    /// of the owner's keys, never a scan.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`] or [`RepoError::Corrupt`].
    async fn list_user_keys(&self, owner: &str) -> Result<Vec<ApiKeyRecord>, RepoError>;

    /// Marks the key whose hash is `hash` revoked at `at`; `false` when there is no such key.
    /// Revoking twice keeps the first time.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`].
    async fn revoke_key(&self, hash: &ApiKeyHash, at: Timestamp) -> Result<bool, RepoError>;

    /// Moves the key's `last_used_at` forward to `at` (never back); nothing for a missing key.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`].
    async fn touch_key(&self, hash: &ApiKeyHash, at: Timestamp) -> Result<(), RepoError>;
}
