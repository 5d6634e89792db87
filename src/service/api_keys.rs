//! `ApiKeyService`: issuing, listing, revoking and checking API keys. Only SHA-256 hashes reach
//! the store; the key itself exists once, in the answer to `create`.

use std::sync::Arc;

use crate::domain::{ApiKeyRecord, ApiKeySecret, Clock};
use crate::repository::{ApiKeyStore, KeyInsert, RepoError};

use super::ServiceError;

/// Longest key name accepted.
pub const MAX_KEY_NAME_LEN: usize = 64;

/// A key's `last_used_at` is written at most this often (milliseconds), so a busy client does
/// not turn every create into two writes.
const TOUCH_EVERY_MS: u64 = 60_000;

/// API key use cases over an [`ApiKeyStore`].
pub struct ApiKeyService {
    store: Arc<dyn ApiKeyStore>,
    clock: Arc<dyn Clock>,
    max_per_user: usize,
}

impl ApiKeyService {
    /// Wires a service; a user may hold at most `max_per_user` live keys at once
    /// (`auth.max_keys_per_user`).
    pub fn new(store: Arc<dyn ApiKeyStore>, clock: Arc<dyn Clock>, max_per_user: usize) -> Self {
        Self {
            store,
            clock,
            max_per_user,
        }
    }

    /// Issues a key named `name` for user `owner` (`None`: an operator's key, which acts for
    /// the first administrator) and returns it with its record. The key cannot be shown again.
    ///
    /// # Errors
    /// [`ServiceError::InvalidKeyName`] for an empty, overlong or non-printable name;
    /// [`ServiceError::TooManyKeys`] when `owner` holds as many live keys as allowed (checked by
    /// the store with the insert, so concurrent creates cannot pass it);
    /// [`ServiceError::Storage`].
    pub async fn create(
        &self,
        name: &str,
        owner: Option<&str>,
    ) -> Result<(ApiKeySecret, ApiKeyRecord), ServiceError> {
        // Counted in characters as sent, as the API's schema states it.
        if name.chars().count() > MAX_KEY_NAME_LEN || name.chars().any(char::is_control) {
            return Err(ServiceError::InvalidKeyName(MAX_KEY_NAME_LEN));
        }
        let name = name.trim();
        if name.is_empty() {
            return Err(ServiceError::InvalidKeyName(MAX_KEY_NAME_LEN));
        }
        let secret = ApiKeySecret::generate();
        let record = ApiKeyRecord::new(&secret, name, owner, self.clock.now());
        match self.store.insert_key(&record, self.max_per_user).await? {
            KeyInsert::Inserted => Ok((secret, record)),
            KeyInsert::AtCap => Err(ServiceError::TooManyKeys(self.max_per_user)),
        }
    }

    /// Every key, oldest first (the operator's listing; it may scan the store).
    ///
    /// # Errors
    /// [`ServiceError::Storage`].
    pub async fn list(&self) -> Result<Vec<ApiKeyRecord>, ServiceError> {
        Ok(self.store.list_keys().await?)
    }

    /// The keys of user `owner`, oldest first.
    ///
    /// # Errors
    /// [`ServiceError::Storage`].
    pub async fn list_for(&self, owner: &str) -> Result<Vec<ApiKeyRecord>, ServiceError> {
        Ok(self.store.list_user_keys(owner).await?)
    }

    /// Revokes the key with public id `id`, whoever owns it; `false` when there is none.
    ///
    /// # Errors
    /// [`ServiceError::Storage`].
    pub async fn revoke(&self, id: &str) -> Result<bool, ServiceError> {
        let Some(key) = self
            .store
            .list_keys()
            .await?
            .into_iter()
            .find(|k| k.id == id)
        else {
            return Ok(false);
        };
        Ok(self.store.revoke_key(&key.hash, self.clock.now()).await?)
    }

    /// Revokes the key with public id `id` if it belongs to `owner`; `false` otherwise (another
    /// user's key looks like no key).
    ///
    /// # Errors
    /// [`ServiceError::Storage`].
    pub async fn revoke_own(&self, owner: &str, id: &str) -> Result<bool, ServiceError> {
        let Some(key) = self
            .store
            .list_user_keys(owner)
            .await?
            .into_iter()
            .find(|k| k.id == id)
        else {
            return Ok(false);
        };
        Ok(self.store.revoke_key(&key.hash, self.clock.now()).await?)
    }

    /// Revokes every live key of user `owner` (a password change or "log out everywhere" that
    /// asks for it); how many it revoked.
    ///
    /// # Errors
    /// [`ServiceError::Storage`].
    pub async fn revoke_all_of(&self, owner: &str) -> Result<usize, ServiceError> {
        let now = self.clock.now();
        let mut revoked = 0;
        for key in self.store.list_user_keys(owner).await? {
            if key.is_active() && self.store.revoke_key(&key.hash, now).await? {
                revoked += 1;
            }
        }
        Ok(revoked)
    }

    /// The active key matching `presented`, or `None` for a malformed, unknown or revoked key
    /// (callers answer all three the same way). Records the use at most once a minute; a
    /// failure to record it does not refuse the key.
    ///
    /// # Errors
    /// [`ServiceError::Storage`] when the store cannot say.
    pub async fn authenticate(
        &self,
        presented: &str,
    ) -> Result<Option<ApiKeyRecord>, ServiceError> {
        let Some(secret) = ApiKeySecret::parse(presented) else {
            return Ok(None);
        };
        let key = match self.store.find_key(&secret.hash()).await {
            Ok(found) => found.filter(ApiKeyRecord::is_active),
            Err(RepoError::Conflict) => None,
            Err(e) => return Err(e.into()),
        };
        if let Some(key) = &key {
            let now = self.clock.now();
            let stale = key
                .last_used_at
                .is_none_or(|t| now.millis_since(t) >= TOUCH_EVERY_MS);
            if stale && let Err(error) = self.store.touch_key(&key.hash, now).await {
                tracing::warn!(%error, key = %key.id, "could not record an API key's use");
            }
        }
        Ok(key)
    }
}
