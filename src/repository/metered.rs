//! `Metered`: counts failed storage calls by backend and operation for `/metrics`.

use async_trait::async_trait;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use super::{ApiKeyStore, ClickDelta, KeyInsert, LinkCursor, LinkScan, RepoError, Repository};
use crate::domain::{ApiKeyHash, ApiKeyRecord, LongUrl, Routing, ShortCode, Timestamp, UrlRecord};
use crate::metrics::StorageLabels;

/// Wraps a backend and counts its `Unavailable` and `Corrupt` answers (a `Conflict` is an
/// answer, not a failure).
pub struct Metered<R> {
    inner: R,
    backend: &'static str,
    errors: Family<StorageLabels, Counter>,
}

impl<R> Metered<R> {
    /// `inner`, reporting as `backend` into `errors`.
    pub fn new(inner: R, backend: &'static str, errors: Family<StorageLabels, Counter>) -> Self {
        Self {
            inner,
            backend,
            errors,
        }
    }

    fn count<T>(
        &self,
        operation: &'static str,
        result: Result<T, RepoError>,
    ) -> Result<T, RepoError> {
        if let Err(RepoError::Unavailable(_) | RepoError::Corrupt(_)) = &result {
            self.errors
                .get_or_create(&StorageLabels {
                    backend: self.backend,
                    operation,
                })
                .inc();
        }
        result
    }
}

#[async_trait]
impl<R: Repository> Repository for Metered<R> {
    async fn save(&self, record: &UrlRecord) -> Result<(), RepoError> {
        self.count("save", self.inner.save(record).await)
    }

    async fn find_by_short_code(&self, code: &ShortCode) -> Result<Option<UrlRecord>, RepoError> {
        self.count("find", self.inner.find_by_short_code(code).await)
    }

    async fn increment_click_count(&self, delta: &ClickDelta) -> Result<(), RepoError> {
        self.count("increment", self.inner.increment_click_count(delta).await)
    }

    /// The backend's own batch (SQLite orders and groups it); each delta it gives back counts
    /// as one failed `increment`, as if sent alone.
    async fn increment_click_counts(&self, batch: Vec<ClickDelta>) -> Vec<ClickDelta> {
        let failed = self.inner.increment_click_counts(batch).await;
        if !failed.is_empty() {
            self.errors
                .get_or_create(&StorageLabels {
                    backend: self.backend,
                    operation: "increment",
                })
                .inc_by(u64::try_from(failed.len()).unwrap_or(u64::MAX));
        }
        failed
    }

    async fn delete_expired(&self, before: Timestamp, limit: usize) -> Result<u64, RepoError> {
        self.count(
            "delete_expired",
            self.inner.delete_expired(before, limit).await,
        )
    }

    async fn exists(&self, code: &ShortCode) -> Result<bool, RepoError> {
        self.count("exists", self.inner.exists(code).await)
    }

    async fn ping(&self) -> Result<(), RepoError> {
        self.count("ping", self.inner.ping().await)
    }

    async fn list_owned(
        &self,
        owner: &str,
        after: Option<&LinkCursor>,
        limit: usize,
    ) -> Result<Vec<UrlRecord>, RepoError> {
        self.count(
            "list_owned",
            self.inner.list_owned(owner, after, limit).await,
        )
    }

    async fn scan_links(&self, after: Option<&str>, limit: usize) -> Result<LinkScan, RepoError> {
        self.count("scan_links", self.inner.scan_links(after, limit).await)
    }

    async fn update_link(
        &self,
        code: &ShortCode,
        long_url: &LongUrl,
        expires_at: Option<Timestamp>,
    ) -> Result<bool, RepoError> {
        self.count(
            "update_link",
            self.inner.update_link(code, long_url, expires_at).await,
        )
    }

    async fn set_routing(&self, code: &ShortCode, routing: &Routing) -> Result<bool, RepoError> {
        self.count("set_routing", self.inner.set_routing(code, routing).await)
    }

    async fn set_disabled(
        &self,
        code: &ShortCode,
        at: Option<Timestamp>,
    ) -> Result<bool, RepoError> {
        self.count("set_disabled", self.inner.set_disabled(code, at).await)
    }

    async fn delete_link(&self, code: &ShortCode, at: Timestamp) -> Result<bool, RepoError> {
        self.count("delete_link", self.inner.delete_link(code, at).await)
    }
}

#[async_trait]
impl<R: ApiKeyStore> ApiKeyStore for Metered<R> {
    async fn insert_key(
        &self,
        key: &ApiKeyRecord,
        max_live: usize,
    ) -> Result<KeyInsert, RepoError> {
        self.count("insert_key", self.inner.insert_key(key, max_live).await)
    }

    async fn find_key(&self, hash: &ApiKeyHash) -> Result<Option<ApiKeyRecord>, RepoError> {
        self.count("find_key", self.inner.find_key(hash).await)
    }

    async fn list_keys(&self) -> Result<Vec<ApiKeyRecord>, RepoError> {
        self.count("list_keys", self.inner.list_keys().await)
    }

    async fn list_user_keys(&self, owner: &str) -> Result<Vec<ApiKeyRecord>, RepoError> {
        self.count("list_user_keys", self.inner.list_user_keys(owner).await)
    }

    async fn revoke_key(&self, hash: &ApiKeyHash, at: Timestamp) -> Result<bool, RepoError> {
        self.count("revoke_key", self.inner.revoke_key(hash, at).await)
    }

    async fn touch_key(&self, hash: &ApiKeyHash, at: Timestamp) -> Result<(), RepoError> {
        self.count("touch_key", self.inner.touch_key(hash, at).await)
    }
}
