//! `RedisRepository`: links in Redis, for fleets of instances sharing one store.
//!
//! One hash per link at `{prefix}link:{code}` with short field names (`u` long URL, `c` created,
//! `e` expires, `n` clicks, `a` last access, `o` owner, `d` disabled by an administrator, `r`
//! the link's routing as JSON (absent for a plain link);
//! times in Unix milliseconds;
//! `w:{instance}` the last click write of each instance; `hn`, `bn` the human and bot
//! totals). A link's click analytics are in a second hash in the same slot (`redis::clicks`). Every script touches exactly one
//! key, so the same code works on Redis Cluster. Expiry is native (`PEXPIREAT`): Redis deletes
//! an expired link itself and never returns it, so `delete_expired` has nothing left to do.
//!
//! A deleted link keeps its hash as a tombstone (`x` the deletion time, no destination, no
//! expiry), so the code stays taken for ever. Each owner's links are in a sorted set
//! `{prefix}owner:{id}` whose members are [`LinkCursor::sort_key`]s (all scores 0, so the set
//! is ordered by member and pages are `ZRANGE … BYLEX REV`). It lives in another slot than the
//! link, so it is written first and read with a check: a member whose link is gone or not the
//! owner's is skipped.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};

use super::{
    ApiKeyStore, ClickDelta, KeyInsert, LinkCursor, LinkScan, RepoError, Repository,
    WRITE_MARK_TTL_MS,
};

mod accounts;
mod changes;
mod clicks;
mod keys;
mod link_health;
mod links;
mod stream;
mod tier;

use crate::domain::{ApiKeyHash, ApiKeyRecord, LongUrl, Routing, ShortCode, Timestamp, UrlRecord};
pub use changes::RedisChangeFeed;
pub use stream::{
    ConsumerState, READ_BLOCK, RedisClickStream, StreamBatch, entry_millis, entry_seq,
};
pub use tier::RedisLinkTier;

/// Creates the hash only if the key is absent, and sets its expiry, in one atomic step. The
/// analytics of an earlier link with this code (purged after it expired) go (KEYS[2]).
const SAVE_SCRIPT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[1], 'u', ARGV[1], 'c', ARGV[2], 'n', ARGV[4])
if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'a', ARGV[5]) end
if ARGV[6] ~= '' then redis.call('HSET', KEYS[1], 'o', ARGV[6]) end
if ARGV[7] ~= '' then redis.call('HSET', KEYS[1], 'r', ARGV[7]) end
if ARGV[3] ~= '' then
  redis.call('HSET', KEYS[1], 'e', ARGV[3])
  redis.call('PEXPIREAT', KEYS[1], ARGV[3])
end
return 1
";

/// Adds clicks to an existing hash only: checking existence in the same script is what keeps
/// an increment from recreating an expired or deleted link as a hash with just a counter.
///
/// At most once per write: the field `w:{instance}` holds the last seq applied for that
/// instance (ARGV[3] the field, ARGV[4] the seq), checked and set in the same script as the
/// increment. Once the hash holds more than 16 fields, marks older than ARGV[5] (instances
/// gone for a day) are removed, so restarts do not grow a hot link's hash for ever. Seqs are
/// milliseconds, exact in Lua's doubles.
///
/// The analytics ride in the same step: ARGV[6] and ARGV[7] add to the human and bot totals
/// (`hn`, `bn`), and from ARGV[8] on come operations on the analytics hash KEYS[2], four
/// arguments each: `h`, a field, '', n (an hourly count), or `k`, `{day}|{dimension}`, a key,
/// n (a breakdown count, under the key cap: see `redis::clicks`). KEYS[2] expires with the link.
const INCREMENT_SCRIPT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('HEXISTS', KEYS[1], 'x') == 1 then return 0 end
local seen = redis.call('HGET', KEYS[1], ARGV[3])
if seen and tonumber(seen) >= tonumber(ARGV[4]) then return 2 end
if #ARGV > 7 then
  if ARGV[6] ~= '0' then redis.call('HINCRBY', KEYS[1], 'hn', ARGV[6]) end
  if ARGV[7] ~= '0' then redis.call('HINCRBY', KEYS[1], 'bn', ARGV[7]) end
  local cap = tonumber(ARGV[8])
  local other = ARGV[9]
  for i = 10, #ARGV, 4 do
    local kind, a, b, n = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
    if kind == 'h' then
      redis.call('HINCRBY', KEYS[2], a, n)
    else
      local field = a .. '|' .. b
      if b == other or redis.call('HEXISTS', KEYS[2], field) == 1 then
        redis.call('HINCRBY', KEYS[2], field, n)
      else
        local list = redis.call('HGET', KEYS[2], 'k' .. a)
        local held = 0
        if list then held = select(2, string.gsub(list, '\n', '')) + 1 end
        if held < cap then
          redis.call('HINCRBY', KEYS[2], field, n)
          if list then list = list .. '\n' .. b else list = b end
          redis.call('HSET', KEYS[2], 'k' .. a, list)
        else
          redis.call('HINCRBY', KEYS[2], a .. '|' .. other, n)
        end
      end
    end
  end
  local expires = redis.call('HGET', KEYS[1], 'e')
  if expires then redis.call('PEXPIREAT', KEYS[2], expires) end
end
redis.call('HINCRBY', KEYS[1], 'n', ARGV[1])
local last = redis.call('HGET', KEYS[1], 'a')
if (not last) or tonumber(last) < tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], 'a', ARGV[2])
end
redis.call('HSET', KEYS[1], ARGV[3], ARGV[4])
if redis.call('HLEN', KEYS[1]) > 18 then
  local fields = redis.call('HGETALL', KEYS[1])
  for i = 1, #fields, 2 do
    if string.sub(fields[i], 1, 2) == 'w:' and tonumber(fields[i + 1]) < tonumber(ARGV[5]) then
      redis.call('HDEL', KEYS[1], fields[i])
    end
  end
end
return 1
";

/// Changes the destination (ARGV[1]) and expiry (ARGV[2], '' = never) of a live link; its
/// analytics (KEYS[2]) keep expiring with it.
const UPDATE_SCRIPT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('HEXISTS', KEYS[1], 'x') == 1 then return 0 end
redis.call('HSET', KEYS[1], 'u', ARGV[1])
if ARGV[2] ~= '' then
  redis.call('HSET', KEYS[1], 'e', ARGV[2])
  redis.call('PEXPIREAT', KEYS[1], ARGV[2])
  redis.call('PEXPIREAT', KEYS[2], ARGV[2])
else
  redis.call('HDEL', KEYS[1], 'e')
  redis.call('PERSIST', KEYS[1])
  redis.call('PERSIST', KEYS[2])
end
return 1
";

/// Sets (ARGV[2] the value) or clears (ARGV[2] empty) field ARGV[1] of a live link: `d`, an
/// administrator's disabling, or `r`, the routing. 0 when there is no live link.
const SET_FIELD_SCRIPT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('HEXISTS', KEYS[1], 'x') == 1 then return 0 end
if ARGV[2] ~= '' then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
else
  redis.call('HDEL', KEYS[1], ARGV[1])
end
return 1
";

/// Turns a live link into its tombstone (ARGV[1] the time), dropping its analytics (KEYS[2]):
/// returns {owner, created} of the
/// link it was ('' for no owner), or false when there was none.
const DELETE_SCRIPT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('HEXISTS', KEYS[1], 'x') == 1 then return false end
local owner = redis.call('HGET', KEYS[1], 'o') or ''
local created = redis.call('HGET', KEYS[1], 'c') or '0'
redis.call('HDEL', KEYS[1], 'u', 'e', 'o', 'hn', 'bn', 'r')
redis.call('HSET', KEYS[1], 'x', ARGV[1])
redis.call('DEL', KEYS[2])
redis.call('PERSIST', KEYS[1])
return {owner, created}
";

/// Creates an API key hash only if absent (ARGV[4] the owner, '' for none).
const INSERT_KEY_SCRIPT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'name', ARGV[2], 'c', ARGV[3])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'o', ARGV[4]) end
return 1
";

/// Sets field ARGV[1] of an existing key hash to ARGV[2]: only if unset (ARGV[3] = 'first',
/// a revocation keeps its first time) or only forward (ARGV[3] = 'max', the last use).
/// Returns whether the key exists.
const KEY_TIME_SCRIPT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old or (ARGV[3] == 'max' and tonumber(old) < tonumber(ARGV[2])) then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
return 1
";

/// A link store in Redis.
pub struct RedisRepository {
    connection: ConnectionManager,
    prefix: String,
    save: Script,
    increment: Script,
    update: Script,
    set_field: Script,
    delete: Script,
    insert_key: Script,
    key_time: Script,
}

fn unavailable(e: impl std::fmt::Display) -> RepoError {
    RepoError::Unavailable(e.to_string())
}

/// A connection manager for `url` whose connects and commands give up after `timeout`. It
/// reconnects by itself in the background after failures, so a request never waits on a
/// reconnect for longer than the response timeout. Shared with the Redis rate limiter.
///
/// # Errors
/// When the URL is invalid or the server cannot be reached within `timeout`.
pub async fn connection_manager(
    url: &str,
    timeout: Duration,
) -> redis::RedisResult<ConnectionManager> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_number_of_retries(2)
        .set_max_delay(Duration::from_secs(2));
    redis::Client::open(url)?
        .get_connection_manager_with_config(config)
        .await
}

/// Parses the optional millisecond timestamp field `name` of a Redis hash.
fn millis_field(
    fields: &HashMap<String, String>,
    name: &str,
    corrupt: impl Fn() -> RepoError,
) -> Result<Option<Timestamp>, RepoError> {
    fields
        .get(name)
        .map(|v| {
            v.parse::<i64>()
                .ok()
                .and_then(Timestamp::from_unix_millis)
                .ok_or_else(&corrupt)
        })
        .transpose()
}

/// Whether `key` names a Redis Cluster hash tag (a non-empty `{…}`), which then decides its
/// hash slot.
fn has_hash_tag(key: &str) -> bool {
    key.find('{')
        .and_then(|open| key[open + 1..].find('}').map(|len| len > 0))
        .unwrap_or(false)
}

impl RedisRepository {
    /// Connects to `url` (`redis://[:password@]host:port[/db]`, or `rediss://` for TLS), with
    /// keys under `prefix`. The connection manager reconnects by itself after failures.
    ///
    /// # Errors
    /// When the URL is invalid or the server cannot be reached within `timeout`.
    pub async fn connect(url: &str, prefix: &str, timeout: Duration) -> Result<Self, RepoError> {
        let connection = connection_manager(url, timeout)
            .await
            .map_err(unavailable)?;
        Ok(Self {
            connection,
            prefix: prefix.to_owned(),
            save: Script::new(SAVE_SCRIPT),
            increment: Script::new(INCREMENT_SCRIPT),
            update: Script::new(UPDATE_SCRIPT),
            set_field: Script::new(SET_FIELD_SCRIPT),
            delete: Script::new(DELETE_SCRIPT),
            insert_key: Script::new(INSERT_KEY_SCRIPT),
            key_time: Script::new(KEY_TIME_SCRIPT),
        })
    }

    fn key(&self, code: &ShortCode) -> String {
        format!("{}link:{code}", self.prefix)
    }

    /// The analytics hash of a link: in the link's hash slot (its whole key as the hash tag,
    /// or the link key's own tag if the prefix has one), so scripts may touch both on Redis
    /// Cluster.
    fn clicks_key(&self, code: &ShortCode) -> String {
        let link = self.key(code);
        if has_hash_tag(&link) {
            format!("{link}:clicks")
        } else {
            format!("{{{link}}}:clicks")
        }
    }

    /// The sorted set of one owner's links.
    fn owner_index(&self, owner: &str) -> String {
        format!("{}owner:{owner}", self.prefix)
    }

    fn api_key(&self, hash: &str) -> String {
        format!("{}apikey:{hash}", self.prefix)
    }

    /// The set of every API key hash, for the operator's listing.
    fn api_key_index(&self) -> String {
        format!("{}apikeys", self.prefix)
    }

    /// The set of the hashes of one user's keys.
    fn user_keys(&self, owner: &str) -> String {
        format!("{}user-keys:{owner}", self.prefix)
    }

    async fn keys_in(&self, set: String) -> Result<Vec<ApiKeyRecord>, RepoError> {
        let mut connection = self.connection.clone();
        let hashes: Vec<String> = connection.smembers(set).await.map_err(unavailable)?;
        let mut keys = Vec::with_capacity(hashes.len());
        for hash in hashes {
            if let Some(key) = self.find_key(&ApiKeyHash::from_hex(hash)).await? {
                keys.push(key);
            }
        }
        keys.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(keys)
    }

    async fn set_key_time(
        &self,
        hash: &ApiKeyHash,
        field: &str,
        at: Timestamp,
        mode: &str,
    ) -> Result<bool, RepoError> {
        let mut connection = self.connection.clone();
        let found: i64 = self
            .key_time
            .key(self.api_key(hash.as_str()))
            .arg(field)
            .arg(at.as_unix_millis())
            .arg(mode)
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(found == 1)
    }
}

fn millis(t: Timestamp) -> i64 {
    t.as_unix_millis()
}
