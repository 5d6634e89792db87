//! `Deadline`: gives every call to a networked store a time limit, so a hung store turns into
//! a prompt `Unavailable` (503 with `Retry-After`) instead of requests piling up.

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;

use super::{ApiKeyStore, ClickDelta, KeyInsert, LinkCursor, LinkScan, RepoError, Repository};
use crate::domain::{ApiKeyHash, ApiKeyRecord, LongUrl, Routing, ShortCode, Timestamp, UrlRecord};

/// Wraps a repository; each call that outlives `limit` fails with [`RepoError::Unavailable`].
///
/// A write that times out may still have been applied by the store: callers see an error for an
/// operation whose effect is unknown, which is safe here (a create that reports 503 may have
/// stored an unreachable link; a click delta is retried with its write id, which the store
/// applies at most once).
pub struct Deadline<R> {
    inner: R,
    limit: Duration,
}

impl<R> Deadline<R> {
    /// `inner` with every call limited to `limit`.
    pub fn new(inner: R, limit: Duration) -> Self {
        Self { inner, limit }
    }

    async fn within<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, RepoError>>,
    ) -> Result<T, RepoError> {
        match tokio::time::timeout(self.limit, call).await {
            Ok(result) => result,
            Err(_) => Err(RepoError::Unavailable(format!(
                "{operation} did not answer within {} ms",
                self.limit.as_millis()
            ))),
        }
    }
}

#[async_trait]
impl<R: Repository> Repository for Deadline<R> {
    async fn save(&self, record: &UrlRecord) -> Result<(), RepoError> {
        self.within("save", self.inner.save(record)).await
    }

    async fn find_by_short_code(&self, code: &ShortCode) -> Result<Option<UrlRecord>, RepoError> {
        self.within("find", self.inner.find_by_short_code(code))
            .await
    }

    async fn increment_click_count(&self, delta: &ClickDelta) -> Result<(), RepoError> {
        self.within("increment", self.inner.increment_click_count(delta))
            .await
    }

    // `increment_click_counts` keeps the trait's default on purpose: it calls the increment
    // above, so each delta gets its own deadline and a slow one fails alone.

    async fn delete_expired(&self, before: Timestamp, limit: usize) -> Result<u64, RepoError> {
        self.within("delete_expired", self.inner.delete_expired(before, limit))
            .await
    }

    async fn exists(&self, code: &ShortCode) -> Result<bool, RepoError> {
        self.within("exists", self.inner.exists(code)).await
    }

    async fn ping(&self) -> Result<(), RepoError> {
        self.within("ping", self.inner.ping()).await
    }

    async fn list_owned(
        &self,
        owner: &str,
        after: Option<&LinkCursor>,
        limit: usize,
    ) -> Result<Vec<UrlRecord>, RepoError> {
        self.within("list_owned", self.inner.list_owned(owner, after, limit))
            .await
    }

    async fn scan_links(&self, after: Option<&str>, limit: usize) -> Result<LinkScan, RepoError> {
        self.within("scan_links", self.inner.scan_links(after, limit))
            .await
    }

    async fn update_link(
        &self,
        code: &ShortCode,
        long_url: &LongUrl,
        expires_at: Option<Timestamp>,
    ) -> Result<bool, RepoError> {
        self.within(
            "update_link",
            self.inner.update_link(code, long_url, expires_at),
        )
        .await
    }

    async fn set_routing(&self, code: &ShortCode, routing: &Routing) -> Result<bool, RepoError> {
        self.within("set_routing", self.inner.set_routing(code, routing))
            .await
    }

    async fn set_disabled(
        &self,
        code: &ShortCode,
        at: Option<Timestamp>,
    ) -> Result<bool, RepoError> {
        self.within("set_disabled", self.inner.set_disabled(code, at))
            .await
    }

    async fn delete_link(&self, code: &ShortCode, at: Timestamp) -> Result<bool, RepoError> {
        self.within("delete_link", self.inner.delete_link(code, at))
            .await
    }
}

#[async_trait]
impl<R: ApiKeyStore> ApiKeyStore for Deadline<R> {
    async fn insert_key(
        &self,
        key: &ApiKeyRecord,
        max_live: usize,
    ) -> Result<KeyInsert, RepoError> {
        self.within("insert_key", self.inner.insert_key(key, max_live))
            .await
    }

    async fn find_key(&self, hash: &ApiKeyHash) -> Result<Option<ApiKeyRecord>, RepoError> {
        self.within("find_key", self.inner.find_key(hash)).await
    }

    async fn list_keys(&self) -> Result<Vec<ApiKeyRecord>, RepoError> {
        // Listing can scan a whole DynamoDB table: give it ten times the usual limit.
        match tokio::time::timeout(self.limit * 10, self.inner.list_keys()).await {
            Ok(result) => result,
            Err(_) => Err(RepoError::Unavailable(
                "list_keys did not answer in time".to_owned(),
            )),
        }
    }

    async fn list_user_keys(&self, owner: &str) -> Result<Vec<ApiKeyRecord>, RepoError> {
        self.within("list_user_keys", self.inner.list_user_keys(owner))
            .await
    }

    async fn revoke_key(&self, hash: &ApiKeyHash, at: Timestamp) -> Result<bool, RepoError> {
        self.within("revoke_key", self.inner.revoke_key(hash, at))
            .await
    }

    async fn touch_key(&self, hash: &ApiKeyHash, at: Timestamp) -> Result<(), RepoError> {
        self.within("touch_key", self.inner.touch_key(hash, at))
            .await
    }
}
