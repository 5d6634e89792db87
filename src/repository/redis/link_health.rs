//! Link health in Redis: four keys in one hash slot (`{health}`, or the prefix's own tag), so
//! every script is Redis Cluster-safe:
//!
//! - `health:new`, a sorted set of links never checked, scored by creation (then by lease end);
//! - `health:due`, a sorted set of checked links, scored by their next check (or lease end);
//! - `health:rec`, a hash of code → record (`repository::link_health::codec`);
//! - `health:broken`, a sorted set of broken links scored by `broken_since`.
//!
//! A link enters `health:new` when it is created, leaving what an earlier link of its code left
//! behind; a delete removes it everywhere. A link that
//! expired is removed by Redis itself, not from these keys: a lease looks at the leased links
//! and drops the ones that are gone (a link's hash is in another slot, so no script can).

use async_trait::async_trait;
use redis::{AsyncCommands, Script};

use super::{RedisRepository, unavailable};
use crate::domain::{ShortCode, Timestamp};
use crate::repository::link_health::codec;
use crate::repository::{DueWindow, LinkHealthRecord, LinkHealthStore, RepoError};

/// Leases: KEYS new, due; ARGV now, new_before, lease_until, limit. Checked links first, then
/// new ones, each moved to the lease's end.
const LEASE_SCRIPT: &str = r"
local out = {}
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, ARGV[4])
for _, c in ipairs(due) do
  redis.call('ZADD', KEYS[2], ARGV[3], c)
  out[#out + 1] = c
end
local left = tonumber(ARGV[4]) - #out
if left > 0 then
  local new = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, left)
  for _, c in ipairs(new) do
    redis.call('ZADD', KEYS[1], ARGV[3], c)
    out[#out + 1] = c
  end
end
return out
";

/// Records a check: KEYS new, due, rec, broken; ARGV code, next, record, broken_since ('' for
/// none). Nothing for a link no longer in the schedule (deleted meanwhile).
const RECORD_SCRIPT: &str = r"
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) and not redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  return 0
end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
if ARGV[4] == '' then
  redis.call('ZREM', KEYS[4], ARGV[1])
else
  redis.call('ZADD', KEYS[4], ARGV[4], ARGV[1])
end
return 1
";

/// Schedules a new link afresh: KEYS new, due, rec, broken; ARGV code, created.
const SCHEDULE_SCRIPT: &str = r"
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
return redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
";

/// Forgets links: KEYS new, due, rec, broken; ARGV the codes.
const FORGET_SCRIPT: &str = r"
for _, c in ipairs(ARGV) do
  redis.call('ZREM', KEYS[1], c)
  redis.call('ZREM', KEYS[2], c)
  redis.call('HDEL', KEYS[3], c)
  redis.call('ZREM', KEYS[4], c)
end
return #ARGV
";

impl RedisRepository {
    /// `{prefix}{health}:{part}`, or `{prefix}health:{part}` when the prefix has its own tag.
    fn health_key(&self, part: &str) -> String {
        if super::has_hash_tag(&self.prefix) {
            format!("{}health:{part}", self.prefix)
        } else {
            format!("{}{{health}}:{part}", self.prefix)
        }
    }

    fn health_keys<'s>(&self, script: &'s Script) -> redis::ScriptInvocation<'s> {
        let mut call = script.prepare_invoke();
        for part in ["new", "due", "rec", "broken"] {
            call.key(self.health_key(part));
        }
        call
    }

    /// Puts a new link in the schedule, after its save, with no record: whatever the schedule
    /// still held for its code belonged to an earlier link of that code, which Redis expired
    /// without telling these keys, and must not become the new link's history.
    pub(super) async fn schedule_health(
        &self,
        code: &ShortCode,
        created_at: Timestamp,
    ) -> Result<(), RepoError> {
        let mut connection = self.connection.clone();
        let script = Script::new(SCHEDULE_SCRIPT);
        let _: i64 = self
            .health_keys(&script)
            .arg(code.as_str())
            .arg(created_at.as_unix_millis())
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Removes links from the schedule and their records.
    pub(super) async fn forget_health(&self, codes: &[String]) -> Result<(), RepoError> {
        if codes.is_empty() {
            return Ok(());
        }
        let mut connection = self.connection.clone();
        let script = Script::new(FORGET_SCRIPT);
        let mut call = self.health_keys(&script);
        for code in codes {
            call.arg(code);
        }
        let _: i64 = call
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Which of `codes` are live links (not gone, not deleted).
    async fn live(&self, codes: &[String]) -> Result<Vec<bool>, RepoError> {
        let mut connection = self.connection.clone();
        let mut pipe = redis::pipe();
        for code in codes {
            pipe.cmd("HEXISTS")
                .arg(format!("{}link:{code}", self.prefix))
                .arg("u");
        }
        pipe.query_async(&mut connection).await.map_err(unavailable)
    }
}

#[async_trait]
impl LinkHealthStore for RedisRepository {
    async fn lease_due(
        &self,
        window: DueWindow,
        limit: usize,
    ) -> Result<Vec<ShortCode>, RepoError> {
        let mut connection = self.connection.clone();
        let script = Script::new(LEASE_SCRIPT);
        let mut call = script.prepare_invoke();
        call.key(self.health_key("new"))
            .key(self.health_key("due"))
            .arg(window.now.as_unix_millis())
            .arg(window.new_before.as_unix_millis())
            .arg(window.lease_until.as_unix_millis())
            .arg(limit);
        let leased: Vec<String> = call
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)?;
        if leased.is_empty() {
            return Ok(Vec::new());
        }
        let live = self.live(&leased).await?;
        let (kept, gone): (Vec<_>, Vec<_>) =
            leased.into_iter().zip(live).partition(|(_, live)| *live);
        let gone: Vec<String> = gone.into_iter().map(|(c, _)| c).collect();
        self.forget_health(&gone).await?;
        Ok(kept
            .into_iter()
            .filter_map(|(c, _)| ShortCode::parse(&c).ok())
            .collect())
    }

    async fn record_check(
        &self,
        code: &ShortCode,
        record: &LinkHealthRecord,
        next_check_at: Timestamp,
    ) -> Result<(), RepoError> {
        let mut connection = self.connection.clone();
        let script = Script::new(RECORD_SCRIPT);
        let mut call = self.health_keys(&script);
        call.arg(code.as_str())
            .arg(next_check_at.as_unix_millis())
            .arg(codec::encode(record))
            .arg(
                record
                    .state
                    .broken_since
                    .map_or(String::new(), |t| t.as_unix_millis().to_string()),
            );
        let _: i64 = call
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn link_health(&self, code: &ShortCode) -> Result<Option<LinkHealthRecord>, RepoError> {
        let mut connection = self.connection.clone();
        let text: Option<String> = connection
            .hget(self.health_key("rec"), code.as_str())
            .await
            .map_err(unavailable)?;
        text.as_deref().map(codec::decode).transpose()
    }

    async fn broken_links(&self, limit: usize) -> Result<Vec<(ShortCode, Timestamp)>, RepoError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut connection = self.connection.clone();
        let rows: Vec<(String, i64)> = connection
            .zrange_withscores(
                self.health_key("broken"),
                0,
                isize::try_from(limit).unwrap_or(isize::MAX) - 1,
            )
            .await
            .map_err(unavailable)?;
        Ok(rows
            .into_iter()
            .filter_map(|(c, at)| {
                Some((ShortCode::parse(&c).ok()?, Timestamp::from_unix_millis(at)?))
            })
            .collect())
    }
}
