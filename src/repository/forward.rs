//! `Arc<R>` is a backend wherever `R` is: one instance can sit behind a wrapper (metering) and
//! serve its other interfaces directly.

use std::sync::Arc;

use async_trait::async_trait;

use super::*;

/// A shared backend is the backend: so one instance can sit behind a wrapper (metering) and
/// serve other interfaces directly. Every method forwards, the batch increment included, so a
/// backend's own batching survives the `Arc`.
#[async_trait]
impl<R: Repository + ?Sized> Repository for Arc<R> {
    async fn save(&self, record: &UrlRecord) -> Result<(), RepoError> {
        (**self).save(record).await
    }

    async fn find_by_short_code(&self, code: &ShortCode) -> Result<Option<UrlRecord>, RepoError> {
        (**self).find_by_short_code(code).await
    }

    async fn increment_click_count(&self, delta: &ClickDelta) -> Result<(), RepoError> {
        (**self).increment_click_count(delta).await
    }

    async fn increment_click_counts(&self, batch: Vec<ClickDelta>) -> Vec<ClickDelta> {
        (**self).increment_click_counts(batch).await
    }

    async fn delete_expired(&self, before: Timestamp, limit: usize) -> Result<u64, RepoError> {
        (**self).delete_expired(before, limit).await
    }

    async fn exists(&self, code: &ShortCode) -> Result<bool, RepoError> {
        (**self).exists(code).await
    }

    async fn ping(&self) -> Result<(), RepoError> {
        (**self).ping().await
    }

    async fn list_owned(
        &self,
        owner: &str,
        after: Option<&LinkCursor>,
        limit: usize,
    ) -> Result<Vec<UrlRecord>, RepoError> {
        (**self).list_owned(owner, after, limit).await
    }

    async fn scan_links(&self, after: Option<&str>, limit: usize) -> Result<LinkScan, RepoError> {
        (**self).scan_links(after, limit).await
    }

    async fn update_link(
        &self,
        code: &ShortCode,
        long_url: &LongUrl,
        expires_at: Option<Timestamp>,
    ) -> Result<bool, RepoError> {
        (**self).update_link(code, long_url, expires_at).await
    }

    async fn set_routing(&self, code: &ShortCode, routing: &Routing) -> Result<bool, RepoError> {
        (**self).set_routing(code, routing).await
    }

    async fn set_disabled(
        &self,
        code: &ShortCode,
        at: Option<Timestamp>,
    ) -> Result<bool, RepoError> {
        (**self).set_disabled(code, at).await
    }

    async fn delete_link(&self, code: &ShortCode, at: Timestamp) -> Result<bool, RepoError> {
        (**self).delete_link(code, at).await
    }
}

#[async_trait]
impl<R: ApiKeyStore + ?Sized> ApiKeyStore for Arc<R> {
    async fn insert_key(
        &self,
        key: &ApiKeyRecord,
        max_live: usize,
    ) -> Result<KeyInsert, RepoError> {
        (**self).insert_key(key, max_live).await
    }

    async fn find_key(&self, hash: &ApiKeyHash) -> Result<Option<ApiKeyRecord>, RepoError> {
        (**self).find_key(hash).await
    }

    async fn list_keys(&self) -> Result<Vec<ApiKeyRecord>, RepoError> {
        (**self).list_keys().await
    }

    async fn list_user_keys(&self, owner: &str) -> Result<Vec<ApiKeyRecord>, RepoError> {
        (**self).list_user_keys(owner).await
    }

    async fn revoke_key(&self, hash: &ApiKeyHash, at: Timestamp) -> Result<bool, RepoError> {
        (**self).revoke_key(hash, at).await
    }

    async fn touch_key(&self, hash: &ApiKeyHash, at: Timestamp) -> Result<(), RepoError> {
        (**self).touch_key(hash, at).await
    }
}
