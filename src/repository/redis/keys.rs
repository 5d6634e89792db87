//! API keys in Redis (`apikey:{hash}` hashes, the `apikeys` set and each user's `user-keys:{id}`
//! set): the [`ApiKeyStore`] implementation.

use super::*;

fn parse_key(hash: &str, fields: &HashMap<String, String>) -> Result<ApiKeyRecord, RepoError> {
    let corrupt = || RepoError::Corrupt(format!("API key {hash} in Redis"));
    let time = |name: &str| millis_field(fields, name, corrupt);
    Ok(ApiKeyRecord {
        id: fields.get("id").ok_or_else(corrupt)?.clone(),
        name: fields.get("name").cloned().unwrap_or_default(),
        hash: ApiKeyHash::from_hex(hash.to_owned()),
        created_at: time("c")?.ok_or_else(corrupt)?,
        revoked_at: time("r")?,
        owner: fields.get("o").cloned(),
        last_used_at: time("l")?,
    })
}

#[async_trait]
impl ApiKeyStore for RedisRepository {
    async fn insert_key(&self, key: &ApiKeyRecord) -> Result<(), RepoError> {
        let mut connection = self.connection.clone();
        let created: i64 = self
            .insert_key
            .key(self.api_key(key.hash.as_str()))
            .arg(&key.id)
            .arg(&key.name)
            .arg(key.created_at.as_unix_millis())
            .arg(key.owner.as_deref().unwrap_or_default())
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)?;
        if created != 1 {
            return Err(RepoError::Conflict);
        }
        let _: i64 = connection
            .sadd(self.api_key_index(), key.hash.as_str())
            .await
            .map_err(unavailable)?;
        if let Some(owner) = &key.owner {
            let _: i64 = connection
                .sadd(self.user_keys(owner), key.hash.as_str())
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }

    async fn find_key(&self, hash: &ApiKeyHash) -> Result<Option<ApiKeyRecord>, RepoError> {
        let mut connection = self.connection.clone();
        let fields: HashMap<String, String> = connection
            .hgetall(self.api_key(hash.as_str()))
            .await
            .map_err(unavailable)?;
        if fields.is_empty() {
            return Ok(None);
        }
        parse_key(hash.as_str(), &fields).map(Some)
    }

    async fn list_keys(&self) -> Result<Vec<ApiKeyRecord>, RepoError> {
        self.keys_in(self.api_key_index()).await
    }

    async fn list_user_keys(&self, owner: &str) -> Result<Vec<ApiKeyRecord>, RepoError> {
        self.keys_in(self.user_keys(owner)).await
    }

    async fn revoke_key(&self, hash: &ApiKeyHash, at: Timestamp) -> Result<bool, RepoError> {
        self.set_key_time(hash, "r", at, "first").await
    }

    async fn touch_key(&self, hash: &ApiKeyHash, at: Timestamp) -> Result<(), RepoError> {
        self.set_key_time(hash, "l", at, "max").await.map(|_| ())
    }
}
