//! `RedisLimiter`: GCRA state in Redis, so a limit holds across every instance. Time is Redis's
//! own (`TIME`), so instance clock skew cannot widen a limit. Clients are stored as an HMAC of
//! their identity under a server secret: an address is never written to Redis in the clear.

use std::time::Duration;

use async_trait::async_trait;
use hmac::{Hmac, KeyInit, Mac};
use redis::Script;
use redis::aio::ConnectionManager;
use sha2::Sha256;

use super::gcra::Decision;
use super::{Budget, ClientId, Limiter, LimiterError, Quotas};

/// `decide` from `gcra.rs`, in Lua. Returns {allowed, remaining, retry_after_us, reset_us}.
const HIT_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
if tat - now > tolerance then
  return {0, 0, tat - tolerance - now, tat - now}
end
local new_tat = tat + interval
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1)
return {1, math.floor((now + tolerance - tat) / interval), 0, new_tat - now}
";

/// `wait_us` from `gcra.rs`, in Lua: reads, never writes.
const WAIT_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local wait = tat - tonumber(ARGV[1]) - now
if wait < 0 then wait = 0 end
return wait
";

/// Fleet-wide rate limiter in Redis.
pub struct RedisLimiter {
    quotas: Quotas,
    connection: ConnectionManager,
    prefix: String,
    secret: Vec<u8>,
    hit: Script,
    wait: Script,
}

fn unavailable(e: impl std::fmt::Display) -> LimiterError {
    LimiterError(e.to_string())
}

impl RedisLimiter {
    /// Connects to `url`; keys go under `{prefix}rl:`; client identities are hashed with
    /// `secret`.
    ///
    /// # Errors
    /// When Redis cannot be reached within `timeout`.
    pub async fn connect(
        quotas: Quotas,
        url: &str,
        prefix: &str,
        secret: &str,
        timeout: Duration,
    ) -> Result<Self, LimiterError> {
        let connection = crate::repository::redis_connection_manager(url, timeout)
            .await
            .map_err(unavailable)?;
        Ok(Self {
            quotas,
            connection,
            prefix: prefix.to_owned(),
            secret: secret.as_bytes().to_vec(),
            hit: Script::new(HIT_SCRIPT),
            wait: Script::new(WAIT_SCRIPT),
        })
    }

    fn key(&self, budget: Budget, client: &ClientId) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.secret)
            .expect("HMAC accepts keys of any length");
        mac.update(client.identity().as_bytes());
        let digest = hex::encode(&mac.finalize().into_bytes()[..16]);
        format!("{}rl:{}:{digest}", self.prefix, budget.name())
    }
}

#[async_trait]
impl Limiter for RedisLimiter {
    async fn hit(&self, budget: Budget, client: &ClientId) -> Result<Decision, LimiterError> {
        let quota = self.quotas.get(budget);
        let mut connection = self.connection.clone();
        let (allowed, remaining, retry_after_us, reset_us): (i64, i64, i64, i64) = self
            .hit
            .key(self.key(budget, client))
            .arg(quota.interval_us)
            .arg(quota.tolerance_us())
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(Decision {
            allowed: allowed == 1,
            remaining: u32::try_from(remaining).unwrap_or(0),
            retry_after_us,
            reset_us,
            limit: quota.burst,
        })
    }

    async fn wait_us(&self, budget: Budget, client: &ClientId) -> Result<i64, LimiterError> {
        let quota = self.quotas.get(budget);
        let mut connection = self.connection.clone();
        self.wait
            .key(self.key(budget, client))
            .arg(quota.tolerance_us())
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)
    }
}
