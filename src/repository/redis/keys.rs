//! API keys in Redis (`apikey:{hash}` hashes, the `apikeys` set and each user's `user-keys:{id}`
//! set): the [`ApiKeyStore`] implementation.
//!
//! The cap on a user's live keys is kept in `user-live-keys:{id}`, a sorted set of the hashes of
//! their unrevoked keys plus the member `#` once it has been filled from the keys made before
//! it existed: one key, so the script that counts and adds is one atomic step on Redis Cluster
//! too. A hash is added before its key is written and removed when the key is revoked; a hash
//! whose key was never written, or was revoked without the set hearing of it, is pruned when
//! the cap is reached, so the set errs only towards refusing, and never for long.

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

/// KEYS: a user's live-key set. ARGV: cap, hash. -1: the set was never filled; 0: at the cap;
/// 1: the hash holds a place.
const RESERVE_KEY_SCRIPT: &str = r"
if not redis.call('ZSCORE', KEYS[1], '#') then return -1 end
if redis.call('ZSCORE', KEYS[1], ARGV[2]) then return 1 end
if redis.call('ZCARD', KEYS[1]) - 1 >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], 1, ARGV[2])
return 1
";

/// KEYS: a user's live-key set. ARGV: the hashes of their live keys. Fills the set once.
const FILL_LIVE_KEYS_SCRIPT: &str = r"
if redis.call('ZSCORE', KEYS[1], '#') then return 0 end
redis.call('ZADD', KEYS[1], 0, '#')
for _, hash in ipairs(ARGV) do redis.call('ZADD', KEYS[1], 1, hash) end
return 1
";

impl RedisRepository {
    fn live_keys(&self, owner: &str) -> String {
        format!("{}user-live-keys:{owner}", self.prefix)
    }

    /// Holds a place for `hash` among `owner`'s live keys; `false` at the cap.
    async fn reserve_key(&self, owner: &str, hash: &str, cap: usize) -> Result<bool, RepoError> {
        let mut connection = self.connection.clone();
        let set = self.live_keys(owner);
        let mut pruned = false;
        loop {
            let script = Script::new(RESERVE_KEY_SCRIPT);
            let reserved: i64 = script
                .key(&set)
                .arg(cap)
                .arg(hash)
                .invoke_async(&mut connection)
                .await
                .map_err(unavailable)?;
            match reserved {
                1 => return Ok(true),
                -1 => {
                    // Keys made before the set existed: fill it from the owner's index.
                    let live: Vec<String> = self
                        .list_user_keys(owner)
                        .await?
                        .into_iter()
                        .filter(ApiKeyRecord::is_active)
                        .map(|k| k.hash.as_str().to_owned())
                        .collect();
                    let script = Script::new(FILL_LIVE_KEYS_SCRIPT);
                    let mut fill = script.key(&set);
                    for hash in &live {
                        fill.arg(hash);
                    }
                    let _: i64 = fill
                        .invoke_async(&mut connection)
                        .await
                        .map_err(unavailable)?;
                }
                _ if pruned => return Ok(false),
                _ => {
                    // At the cap: drop places whose key is revoked or was never written.
                    pruned = true;
                    let held: Vec<String> = connection
                        .zrangebyscore(&set, 1, 1)
                        .await
                        .map_err(unavailable)?;
                    let mut stale = Vec::new();
                    for hash in held {
                        let key = self.find_key(&ApiKeyHash::from_hex(hash.clone())).await?;
                        if key.is_none_or(|k| !k.is_active()) {
                            stale.push(hash);
                        }
                    }
                    if stale.is_empty() {
                        return Ok(false);
                    }
                    let _: i64 = connection.zrem(&set, stale).await.map_err(unavailable)?;
                }
            }
        }
    }
}

#[async_trait]
impl ApiKeyStore for RedisRepository {
    async fn insert_key(
        &self,
        key: &ApiKeyRecord,
        max_live: usize,
    ) -> Result<KeyInsert, RepoError> {
        if let Some(owner) = &key.owner
            && !self.reserve_key(owner, key.hash.as_str(), max_live).await?
        {
            return Ok(KeyInsert::AtCap);
        }
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
            if let Some(owner) = &key.owner {
                let _: i64 = connection
                    .zrem(self.live_keys(owner), key.hash.as_str())
                    .await
                    .map_err(unavailable)?;
            }
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
        Ok(KeyInsert::Inserted)
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
        if !self.set_key_time(hash, "r", at, "first").await? {
            return Ok(false);
        }
        if let Some(owner) = self.find_key(hash).await?.and_then(|k| k.owner) {
            let mut connection = self.connection.clone();
            let _: i64 = connection
                .zrem(self.live_keys(&owner), hash.as_str())
                .await
                .map_err(unavailable)?;
        }
        Ok(true)
    }

    async fn touch_key(&self, hash: &ApiKeyHash, at: Timestamp) -> Result<(), RepoError> {
        self.set_key_time(hash, "l", at, "max").await.map(|_| ())
    }
}
