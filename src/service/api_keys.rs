//! `ApiKeyService`: issuing, listing, revoking and checking API keys. Only SHA-256 hashes reach
//! the store; the key itself exists once, in the answer to `create`.

use std::sync::Arc;

use crate::domain::{ApiKeyRecord, ApiKeySecret, Clock};
use crate::repository::{ApiKeyStore, RepoError};

use super::ServiceError;

/// Longest key name accepted.
pub const MAX_KEY_NAME_LEN: usize = 64;

/// API key use cases over an [`ApiKeyStore`].
pub struct ApiKeyService {
    store: Arc<dyn ApiKeyStore>,
    clock: Arc<dyn Clock>,
}

impl ApiKeyService {
    /// Wires a service.
    pub fn new(store: Arc<dyn ApiKeyStore>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// Issues a key named `name` and returns it with its record. The key cannot be shown again.
    ///
    /// # Errors
    /// [`ServiceError::InvalidKeyName`] for an empty, overlong or non-printable name;
    /// [`ServiceError::Storage`].
    pub async fn create(&self, name: &str) -> Result<(ApiKeySecret, ApiKeyRecord), ServiceError> {
        let name = name.trim();
        if name.is_empty() || name.len() > MAX_KEY_NAME_LEN || name.chars().any(char::is_control) {
            return Err(ServiceError::InvalidKeyName(MAX_KEY_NAME_LEN));
        }
        let secret = ApiKeySecret::generate();
        let record = ApiKeyRecord::new(&secret, name, self.clock.now());
        self.store.insert_key(&record).await?;
        Ok((secret, record))
    }

    /// Every key, oldest first.
    ///
    /// # Errors
    /// [`ServiceError::Storage`].
    pub async fn list(&self) -> Result<Vec<ApiKeyRecord>, ServiceError> {
        Ok(self.store.list_keys().await?)
    }

    /// Revokes the key with public id `id`; `false` when there is none.
    ///
    /// # Errors
    /// [`ServiceError::Storage`].
    pub async fn revoke(&self, id: &str) -> Result<bool, ServiceError> {
        Ok(self.store.revoke_key(id, self.clock.now()).await?)
    }

    /// The active key matching `presented`, or `None` for a malformed, unknown or revoked key
    /// (callers answer all three the same way).
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
        match self.store.find_key(&secret.hash()).await {
            Ok(found) => Ok(found.filter(ApiKeyRecord::is_active)),
            Err(RepoError::Conflict) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}
