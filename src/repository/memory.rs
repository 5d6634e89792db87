//! `MemoryRepository`: everything in one process's memory. For tests, development and
//! `storage.backend = "memory"`; lost on exit.

use std::collections::{BTreeSet, HashMap};
use std::sync::RwLock;

use compact_str::CompactString;

use async_trait::async_trait;

use super::{ApiKeyStore, ClickDelta, RepoError, Repository};
use crate::domain::{ApiKeyHash, ApiKeyRecord, LongUrl, ShortCode, Timestamp, UrlRecord};

/// A stored link, packed: the code lives once, as the map key; the strings are boxed (16 bytes,
/// not 24) and absent times are a sentinel rather than a 16-byte `Option`. A million links cost
/// about 100 bytes less each than storing `UrlRecord`s.
struct Entry {
    long_url: Box<str>,
    created_at: i64,
    expires_at: i64,
    click_count: u64,
    last_accessed_at: i64,
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
        }
    }

    fn to_record(&self, code: &ShortCode) -> UrlRecord {
        UrlRecord {
            short_code: code.clone(),
            long_url: LongUrl::from_trusted(self.long_url.to_string()),
            created_at: unpack(self.created_at).unwrap_or(Timestamp::UNIX_EPOCH),
            expires_at: unpack(self.expires_at),
            click_count: self.click_count,
            last_accessed_at: unpack(self.last_accessed_at),
        }
    }
}

#[derive(Default)]
struct Inner {
    /// Keyed by the code inline (up to 24 bytes, every generated code): the lookup compares
    /// the key without following a pointer, one cache miss fewer per redirect in a large store.
    records: HashMap<CompactString, Entry>,
    /// Expiry index, so `delete_expired` walks only expired records.
    by_expiry: BTreeSet<(Timestamp, ShortCode)>,
    /// API keys by hash, in insertion order for listing.
    keys: Vec<ApiKeyRecord>,
}

/// An in-process store with the same semantics as the durable backends.
#[derive(Default)]
pub struct MemoryRepository {
    // A std lock is right here: no critical section awaits, and each is a few map operations.
    inner: RwLock<Inner>,
}

impl MemoryRepository {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of records held, expired or not.
    pub fn len(&self) -> usize {
        self.read().records.len()
    }

    /// Whether the store holds no record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-applied write (each write is a
        // single map operation plus its index update), so a poisoned lock is still consistent.
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl Repository for MemoryRepository {
    async fn save(&self, record: &UrlRecord) -> Result<(), RepoError> {
        let mut inner = self.write();
        if inner.records.contains_key(record.short_code.as_str()) {
            return Err(RepoError::Conflict);
        }
        if let Some(exp) = record.expires_at {
            inner.by_expiry.insert((exp, record.short_code.clone()));
        }
        inner
            .records
            .insert(record.short_code.as_str().into(), Entry::of(record));
        Ok(())
    }

    async fn find_by_short_code(&self, code: &ShortCode) -> Result<Option<UrlRecord>, RepoError> {
        Ok(self
            .read()
            .records
            .get(code.as_str())
            .map(|entry| entry.to_record(code)))
    }

    async fn increment_click_count(
        &self,
        code: &ShortCode,
        n: u64,
        at: Timestamp,
    ) -> Result<(), RepoError> {
        if let Some(entry) = self.write().records.get_mut(code.as_str()) {
            entry.click_count = entry.click_count.saturating_add(n);
            entry.last_accessed_at = entry.last_accessed_at.max(at.as_unix_millis());
        }
        Ok(())
    }

    /// Under one write lock per [`CLICK_CHUNK`] deltas rather than one per code: with many
    /// distinct codes pending, the per-call overhead was most of a flush.
    async fn increment_click_counts(&self, batch: Vec<ClickDelta>) -> Vec<ClickDelta> {
        for chunk in batch.chunks(CLICK_CHUNK) {
            {
                let mut inner = self.write();
                for delta in chunk {
                    if let Some(entry) = inner.records.get_mut(delta.code.as_str()) {
                        entry.click_count = entry.click_count.saturating_add(delta.count);
                        entry.last_accessed_at =
                            entry.last_accessed_at.max(delta.last_at.as_unix_millis());
                    }
                }
            }
            // Let the redirects queued on this worker thread run between chunks.
            tokio::task::yield_now().await;
        }
        Vec::new()
    }

    async fn delete_expired(&self, before: Timestamp, limit: usize) -> Result<u64, RepoError> {
        let mut inner = self.write();
        let doomed: Vec<(Timestamp, ShortCode)> = inner
            .by_expiry
            .iter()
            .take_while(|(exp, _)| *exp < before)
            .take(limit)
            .cloned()
            .collect();
        for key in &doomed {
            inner.by_expiry.remove(key);
            inner.records.remove(key.1.as_str());
        }
        Ok(doomed.len() as u64)
    }

    async fn exists(&self, code: &ShortCode) -> Result<bool, RepoError> {
        Ok(self.read().records.contains_key(code.as_str()))
    }

    async fn ping(&self) -> Result<(), RepoError> {
        Ok(())
    }
}

#[async_trait]
impl ApiKeyStore for MemoryRepository {
    async fn insert_key(&self, key: &ApiKeyRecord) -> Result<(), RepoError> {
        let mut inner = self.write();
        if inner.keys.iter().any(|k| k.hash == key.hash) {
            return Err(RepoError::Conflict);
        }
        inner.keys.push(key.clone());
        Ok(())
    }

    async fn find_key(&self, hash: &ApiKeyHash) -> Result<Option<ApiKeyRecord>, RepoError> {
        Ok(self.read().keys.iter().find(|k| &k.hash == hash).cloned())
    }

    async fn list_keys(&self) -> Result<Vec<ApiKeyRecord>, RepoError> {
        Ok(self.read().keys.clone())
    }

    async fn revoke_key(&self, id: &str, at: Timestamp) -> Result<bool, RepoError> {
        let mut inner = self.write();
        match inner.keys.iter_mut().find(|k| k.id == id) {
            Some(key) => {
                key.revoked_at.get_or_insert(at);
                Ok(true)
            }
            None => Ok(false),
        }
    }
}
