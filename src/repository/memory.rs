//! `MemoryRepository`: everything in one process's memory. For tests, development and
//! `storage.backend = "memory"`; lost on exit.

use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasher, RandomState};
use std::sync::RwLock;

use compact_str::CompactString;

use async_trait::async_trait;

mod accounts;
mod clicks;
mod keys;
mod link_health;

use super::{ClickDelta, LinkCursor, LinkScan, RepoError, Repository};
use crate::domain::{ApiKeyRecord, LongUrl, Routing, ShortCode, Timestamp, UrlRecord};

/// A stored link, packed: the code lives once, as the map key; the strings are boxed (16 bytes,
/// not 24) and absent times are a sentinel rather than a 16-byte `Option`. A million links cost
/// about 100 bytes less each than storing `UrlRecord`s.
///
/// A deleted link stays as a tombstone: an entry with an empty `long_url` (never a valid URL),
/// which keeps its code taken for ever and is invisible to reads.
struct Entry {
    long_url: Box<str>,
    created_at: i64,
    expires_at: i64,
    click_count: u64,
    last_accessed_at: i64,
    owner: Option<Box<str>>,
    /// Click analytics; `None` until the first analysed click, and again once deleted.
    stats: Option<Box<clicks::LinkStats>>,
    /// When the link is next due for a destination check (or its lease ends); its creation
    /// until the first check.
    health_due: i64,
    /// What the checks found; `None` until the first.
    health: Option<Box<super::LinkHealthRecord>>,
    /// When an administrator disabled the link; [`NONE`] while it is enabled.
    disabled_at: i64,
    /// Where the link sends people beyond `long_url`; `None` for a plain link (8 bytes).
    routing: Option<Box<Routing>>,
}

/// Click deltas applied under one hold of the write lock: about a hundred microseconds with a
/// million links, short enough not to show in the redirects' tail waiting on the read lock.
const CLICK_CHUNK: usize = 1024;

/// Timestamps are never negative, so -1 can mean "none".
const NONE: i64 = -1;

fn pack(t: Option<Timestamp>) -> i64 {
    t.map_or(NONE, Timestamp::as_unix_millis)
}

fn unpack(ms: i64) -> Option<Timestamp> {
    if ms == NONE {
        None
    } else {
        Timestamp::from_unix_millis(ms)
    }
}

impl Entry {
    fn of(record: &UrlRecord) -> Self {
        Self {
            long_url: record.long_url.as_str().into(),
            created_at: record.created_at.as_unix_millis(),
            expires_at: pack(record.expires_at),
            click_count: record.click_count,
            last_accessed_at: pack(record.last_accessed_at),
            owner: record.owner.as_deref().map(Box::from),
            stats: None,
            health_due: record.created_at.as_unix_millis(),
            health: None,
            disabled_at: pack(record.disabled_at),
            routing: (!record.routing.is_plain()).then(|| Box::new(record.routing.clone())),
        }
    }

    fn is_deleted(&self) -> bool {
        self.long_url.is_empty()
    }

    fn to_record(&self, code: &ShortCode) -> UrlRecord {
        UrlRecord {
            short_code: code.clone(),
            long_url: LongUrl::from_trusted(self.long_url.to_string()),
            created_at: unpack(self.created_at).unwrap_or(Timestamp::UNIX_EPOCH),
            expires_at: unpack(self.expires_at),
            click_count: self.click_count,
            last_accessed_at: unpack(self.last_accessed_at),
            owner: self.owner.as_deref().map(str::to_owned),
            disabled_at: unpack(self.disabled_at),
            routing: self.routing.as_deref().cloned().unwrap_or_default(),
        }
    }
}

/// One slice of the store: its records and their expiry index, under one lock so that a save
/// or a purge updates both at once.
#[derive(Default)]
struct Shard {
    /// Keyed by the code inline (up to 24 bytes, every generated code): the lookup compares
    /// the key without following a pointer, one cache miss fewer per redirect in a large store.
    records: HashMap<CompactString, Entry>,
    /// Expiry index, so `delete_expired` walks only expired records.
    by_expiry: BTreeSet<(Timestamp, ShortCode)>,
}

/// One owner's links by (creation, code), oldest first.
type OwnedLinks = BTreeSet<(Timestamp, ShortCode)>;

/// Shards of the link map. One map under one lock stalled every request for the whole of each
/// resize: about 100 ms at two million links, the p99 of a create benchmark. Each shard
/// resizes on its own, a sixteenth of the work, and the two worker threads rarely meet on a lock.
const SHARDS: usize = 16;

/// An in-process store with the same semantics as the durable backends.
pub struct MemoryRepository {
    // Std locks are right here: no critical section awaits, and each is a few map operations.
    shards: Box<[RwLock<Shard>]>,
    /// Picks a code's shard.
    hasher: RandomState,
    /// API keys, in insertion order for listing.
    keys: RwLock<Vec<ApiKeyRecord>>,
    /// Users, sessions and invites.
    accounts: accounts::Accounts,
    /// Each owner's links by (creation, code): the listing index.
    owners: RwLock<HashMap<Box<str>, OwnedLinks>>,
}

impl Default for MemoryRepository {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            hasher: RandomState::new(),
            keys: RwLock::default(),
            accounts: accounts::Accounts::default(),
            owners: RwLock::default(),
        }
    }
}

// A panic while holding a lock cannot leave a half-applied write (each write is a single map
// operation plus its index update), so a poisoned lock is still consistent.
fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

/// Every write is applied where it is made and answered for certain, so the memory store needs
/// no write marks (see `Repository::increment_click_count`).
fn add_clicks(entry: &mut Entry, delta: &ClickDelta) {
    entry.click_count = entry.click_count.saturating_add(delta.count);
    entry.last_accessed_at = entry.last_accessed_at.max(delta.last_at.as_unix_millis());
    if !delta.tally.is_empty() {
        entry.stats.get_or_insert_default().add(&delta.tally);
    }
}

impl MemoryRepository {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of records held, expired or not.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| read(shard).records.len())
            .sum()
    }

    /// Whether the store holds no record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn shard_index(&self, code: &str) -> usize {
        // The remainder is below SHARDS, so the cast cannot truncate.
        (self.hasher.hash_one(code) % SHARDS as u64) as usize
    }

    fn shard(&self, code: &str) -> &RwLock<Shard> {
        &self.shards[self.shard_index(code)]
    }

    fn unindex_owner(&self, owner: Option<&str>, created_at: i64, code: &ShortCode) {
        let Some(owner) = owner else { return };
        let mut owners = write(&self.owners);
        if let Some(links) = owners.get_mut(owner) {
            links.remove(&(
                unpack(created_at).unwrap_or(Timestamp::UNIX_EPOCH),
                code.clone(),
            ));
            if links.is_empty() {
                owners.remove(owner);
            }
        }
    }
}

#[async_trait]
impl Repository for MemoryRepository {
    async fn save(&self, record: &UrlRecord) -> Result<(), RepoError> {
        let code = &record.short_code;
        let mut shard = write(self.shard(code.as_str()));
        if shard.records.contains_key(code.as_str()) {
            return Err(RepoError::Conflict);
        }
        if let Some(exp) = record.expires_at {
            shard.by_expiry.insert((exp, code.clone()));
        }
        shard
            .records
            .insert(code.as_str().into(), Entry::of(record));
        // Under the shard lock, so a delete of this code cannot run between the two.
        if let Some(owner) = &record.owner {
            write(&self.owners)
                .entry(owner.as_str().into())
                .or_default()
                .insert((record.created_at, code.clone()));
        }
        Ok(())
    }

    async fn find_by_short_code(&self, code: &ShortCode) -> Result<Option<UrlRecord>, RepoError> {
        Ok(read(self.shard(code.as_str()))
            .records
            .get(code.as_str())
            .filter(|entry| !entry.is_deleted())
            .map(|entry| entry.to_record(code)))
    }

    async fn increment_click_count(&self, delta: &ClickDelta) -> Result<(), RepoError> {
        let code = delta.code.as_str();
        if let Some(entry) = write(self.shard(code)).records.get_mut(code)
            && !entry.is_deleted()
        {
            add_clicks(entry, delta);
        }
        Ok(())
    }

    /// Shard by shard, under one write lock per [`CLICK_CHUNK`] deltas rather than one per
    /// code: with many distinct codes pending, the per-call overhead was most of a flush.
    async fn increment_click_counts(&self, batch: Vec<ClickDelta>) -> Vec<ClickDelta> {
        let mut by_shard: Vec<Vec<ClickDelta>> = (0..SHARDS).map(|_| Vec::new()).collect();
        for delta in batch {
            by_shard[self.shard_index(delta.code.as_str())].push(delta);
        }
        for (shard, deltas) in self.shards.iter().zip(by_shard) {
            for chunk in deltas.chunks(CLICK_CHUNK) {
                {
                    let mut shard = write(shard);
                    for delta in chunk {
                        if let Some(entry) = shard.records.get_mut(delta.code.as_str())
                            && !entry.is_deleted()
                        {
                            add_clicks(entry, delta);
                        }
                    }
                }
                // Let the redirects queued on this worker thread run between chunks.
                tokio::task::yield_now().await;
            }
        }
        Vec::new()
    }

    /// Shard by shard: the records removed are expired, not necessarily the oldest of all.
    async fn delete_expired(&self, before: Timestamp, limit: usize) -> Result<u64, RepoError> {
        let mut removed = 0;
        for shard in self.shards.iter() {
            if removed == limit {
                break;
            }
            let mut shard = write(shard);
            let doomed: Vec<(Timestamp, ShortCode)> = shard
                .by_expiry
                .iter()
                .take_while(|(exp, _)| *exp < before)
                .take(limit - removed)
                .cloned()
                .collect();
            for key in &doomed {
                shard.by_expiry.remove(key);
                if let Some(entry) = shard.records.remove(key.1.as_str()) {
                    self.unindex_owner(entry.owner.as_deref(), entry.created_at, &key.1);
                }
            }
            removed += doomed.len();
        }
        Ok(removed as u64)
    }

    async fn exists(&self, code: &ShortCode) -> Result<bool, RepoError> {
        Ok(read(self.shard(code.as_str()))
            .records
            .contains_key(code.as_str()))
    }

    async fn ping(&self) -> Result<(), RepoError> {
        Ok(())
    }

    async fn list_owned(
        &self,
        owner: &str,
        after: Option<&LinkCursor>,
        limit: usize,
    ) -> Result<Vec<UrlRecord>, RepoError> {
        let keys: Vec<(Timestamp, ShortCode)> = {
            let owners = read(&self.owners);
            let Some(links) = owners.get(owner) else {
                return Ok(Vec::new());
            };
            let older = match after {
                Some(cursor) => links.range(..(cursor.created_at, cursor.code.clone())),
                None => links.range(..),
            };
            older.rev().take(limit).cloned().collect()
        };
        let mut records = Vec::with_capacity(keys.len());
        for (_, code) in keys {
            if let Some(record) = self.find_by_short_code(&code).await? {
                records.push(record);
            }
        }
        Ok(records)
    }

    async fn scan_links(&self, after: Option<&str>, limit: usize) -> Result<LinkScan, RepoError> {
        // By code across the shards: the smallest codes past the cursor, found without a sort
        // of the whole store (a development store; the durable ones walk an index).
        let mut codes: Vec<CompactString> = Vec::new();
        for shard in &self.shards {
            codes.extend(
                read(shard)
                    .records
                    .iter()
                    .filter(|(code, entry)| {
                        !entry.is_deleted() && after.is_none_or(|a| code.as_str() > a)
                    })
                    .map(|(code, _)| code.clone()),
            );
        }
        let more = codes.len() > limit;
        if more {
            codes.select_nth_unstable(limit);
            codes.truncate(limit);
        }
        codes.sort_unstable();
        let mut links = Vec::with_capacity(codes.len());
        for code in &codes {
            if let Ok(code) = ShortCode::parse(code)
                && let Some(record) = self.find_by_short_code(&code).await?
            {
                links.push(record);
            }
        }
        let next = more
            .then(|| codes.last().map(ToString::to_string))
            .flatten();
        Ok(LinkScan { links, next })
    }

    async fn update_link(
        &self,
        code: &ShortCode,
        long_url: &LongUrl,
        expires_at: Option<Timestamp>,
    ) -> Result<bool, RepoError> {
        let mut shard = write(self.shard(code.as_str()));
        let Some(entry) = shard.records.get_mut(code.as_str()) else {
            return Ok(false);
        };
        if entry.is_deleted() {
            return Ok(false);
        }
        let old_expiry = unpack(entry.expires_at);
        entry.long_url = long_url.as_str().into();
        entry.expires_at = pack(expires_at);
        if let Some(old) = old_expiry {
            shard.by_expiry.remove(&(old, code.clone()));
        }
        if let Some(new) = expires_at {
            shard.by_expiry.insert((new, code.clone()));
        }
        Ok(true)
    }

    async fn set_routing(&self, code: &ShortCode, routing: &Routing) -> Result<bool, RepoError> {
        let mut shard = write(self.shard(code.as_str()));
        match shard.records.get_mut(code.as_str()) {
            Some(entry) if !entry.is_deleted() => {
                entry.routing = (!routing.is_plain()).then(|| Box::new(routing.clone()));
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn set_disabled(
        &self,
        code: &ShortCode,
        at: Option<Timestamp>,
    ) -> Result<bool, RepoError> {
        let mut shard = write(self.shard(code.as_str()));
        match shard.records.get_mut(code.as_str()) {
            Some(entry) if !entry.is_deleted() => {
                entry.disabled_at = pack(at);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn delete_link(&self, code: &ShortCode, _at: Timestamp) -> Result<bool, RepoError> {
        let mut shard = write(self.shard(code.as_str()));
        let Some(entry) = shard.records.get_mut(code.as_str()) else {
            return Ok(false);
        };
        if entry.is_deleted() {
            return Ok(false);
        }
        let old_expiry = unpack(entry.expires_at);
        let owner = entry.owner.take();
        let created_at = entry.created_at;
        entry.long_url = Box::from("");
        entry.expires_at = NONE;
        entry.stats = None;
        entry.health = None;
        if let Some(old) = old_expiry {
            shard.by_expiry.remove(&(old, code.clone()));
        }
        self.unindex_owner(owner.as_deref(), created_at, code);
        Ok(true)
    }
}
