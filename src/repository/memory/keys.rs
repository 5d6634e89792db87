//! API keys in memory: one list under one lock (a handful of keys per user; the cap is checked
//! and the key added under the same lock).

use async_trait::async_trait;

use super::{MemoryRepository, read, write};
use crate::domain::{ApiKeyHash, ApiKeyRecord, Timestamp};
use crate::repository::{ApiKeyStore, KeyInsert, RepoError};

#[async_trait]
impl ApiKeyStore for MemoryRepository {
    async fn insert_key(
        &self,
        key: &ApiKeyRecord,
        max_live: usize,
    ) -> Result<KeyInsert, RepoError> {
        let mut keys = write(&self.keys);
        if keys.iter().any(|k| k.hash == key.hash) {
            return Err(RepoError::Conflict);
        }
        if let Some(owner) = &key.owner {
            let live = keys
                .iter()
                .filter(|k| k.owner.as_ref() == Some(owner) && k.revoked_at.is_none())
                .count();
            if live >= max_live {
                return Ok(KeyInsert::AtCap);
            }
        }
        keys.push(key.clone());
        Ok(KeyInsert::Inserted)
    }

    async fn find_key(&self, hash: &ApiKeyHash) -> Result<Option<ApiKeyRecord>, RepoError> {
        Ok(read(&self.keys).iter().find(|k| &k.hash == hash).cloned())
    }

    async fn list_keys(&self) -> Result<Vec<ApiKeyRecord>, RepoError> {
        Ok(read(&self.keys).clone())
    }

    async fn list_user_keys(&self, owner: &str) -> Result<Vec<ApiKeyRecord>, RepoError> {
        Ok(read(&self.keys)
            .iter()
            .filter(|k| k.owner.as_deref() == Some(owner))
            .cloned()
            .collect())
    }

    async fn revoke_key(&self, hash: &ApiKeyHash, at: Timestamp) -> Result<bool, RepoError> {
        let mut keys = write(&self.keys);
        match keys.iter_mut().find(|k| &k.hash == hash) {
            Some(key) => {
                key.revoked_at.get_or_insert(at);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn touch_key(&self, hash: &ApiKeyHash, at: Timestamp) -> Result<(), RepoError> {
        if let Some(key) = write(&self.keys).iter_mut().find(|k| &k.hash == hash) {
            key.last_used_at = Some(key.last_used_at.map_or(at, |t| t.max(at)));
        }
        Ok(())
    }
}
