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
use super::{Budget, ClientId, Limiter, LimiterError, LookupAdmission, Quotas};

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

/// `refund` from `gcra.rs`, in Lua. KEYS[1] the budget; ARGV[1] its interval.
const REFUND_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat then return 0 end
tat = tat - tonumber(ARGV[1])
if tat <= now then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], tat, 'PX', math.ceil((tat - now) / 1000) + 1)
end
return 1
";

/// `LocalLimiter::admit_lookup_now` in one round trip: reserve a 404 (KEYS[1]), spend a
/// redirect (KEYS[2]), give the 404 back if the redirect is refused. ARGV: the 404 interval and
/// tolerance, the redirect interval and tolerance. Returns {outcome, remaining, retry_after_us,
/// reset_us} with outcome 1 admitted, 2 the 404 budget spent, 3 the redirect budget spent.
const LOOKUP_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local function spend(key, interval, tolerance)
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  if tat - now > tolerance then
    return {0, 0, tat - tolerance - now, tat - now}
  end
  local new_tat = tat + interval
  redis.call('SET', key, new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1)
  return {1, math.floor((now + tolerance - tat) / interval), 0, new_tat - now}
end
local nf = spend(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))
if nf[1] == 0 then return {2, nf[2], nf[3], nf[4]} end
local rd = spend(KEYS[2], tonumber(ARGV[3]), tonumber(ARGV[4]))
if rd[1] == 1 then return {1, rd[2], rd[3], rd[4]} end
local tat = tonumber(redis.call('GET', KEYS[1])) - tonumber(ARGV[1])
if tat <= now then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], tat, 'PX', math.ceil((tat - now) / 1000) + 1)
end
return {3, rd[2], rd[3], rd[4]}
";

/// Fleet-wide rate limiter in Redis.
pub struct RedisLimiter {
    quotas: Quotas,
    connection: ConnectionManager,
    prefix: String,
    secret: Vec<u8>,
    hit: Script,
    refund: Script,
    lookup: Script,
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
            refund: Script::new(REFUND_SCRIPT),
            lookup: Script::new(LOOKUP_SCRIPT),
        })
    }

    /// The client's HMAC, which names every key of that client.
    fn digest(&self, client: &ClientId) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.secret)
            .expect("HMAC accepts keys of any length");
        mac.update(client.identity().as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }

    /// `{prefix}rl:{digest}:{budget}`: the braces put every budget of one client in one
    /// Redis Cluster slot, so the lookup script may touch two of them.
    fn key(&self, budget: Budget, digest: &str) -> String {
        format!("{}rl:{{{digest}}}:{}", self.prefix, budget.name())
    }

    fn decision(quota: crate::limiter::Quota, allowed: bool, reply: [i64; 3]) -> Decision {
        let [remaining, retry_after_us, reset_us] = reply;
        Decision {
            allowed,
            remaining: u32::try_from(remaining).unwrap_or(0),
            retry_after_us,
            reset_us,
            limit: quota.burst,
        }
    }
}

#[async_trait]
impl Limiter for RedisLimiter {
    async fn hit(&self, budget: Budget, client: &ClientId) -> Result<Decision, LimiterError> {
        let quota = self.quotas.get(budget);
        let mut connection = self.connection.clone();
        let (allowed, remaining, retry_after_us, reset_us): (i64, i64, i64, i64) = self
            .hit
            .key(self.key(budget, &self.digest(client)))
            .arg(quota.interval_us)
            .arg(quota.tolerance_us())
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(Self::decision(
            quota,
            allowed == 1,
            [remaining, retry_after_us, reset_us],
        ))
    }

    async fn refund(&self, budget: Budget, client: &ClientId) -> Result<(), LimiterError> {
        let quota = self.quotas.get(budget);
        let mut connection = self.connection.clone();
        let _: i64 = self
            .refund
            .key(self.key(budget, &self.digest(client)))
            .arg(quota.interval_us)
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn admit_lookup(&self, client: &ClientId) -> Result<LookupAdmission, LimiterError> {
        let (not_found, redirect) = (self.quotas.not_found, self.quotas.redirect);
        let digest = self.digest(client);
        let mut connection = self.connection.clone();
        let (outcome, remaining, retry_after_us, reset_us): (i64, i64, i64, i64) = self
            .lookup
            .key(self.key(Budget::NotFound, &digest))
            .key(self.key(Budget::Redirect, &digest))
            .arg(not_found.interval_us)
            .arg(not_found.tolerance_us())
            .arg(redirect.interval_us)
            .arg(redirect.tolerance_us())
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)?;
        let reply = [remaining, retry_after_us, reset_us];
        Ok(match outcome {
            1 => LookupAdmission::Admitted,
            2 => LookupAdmission::NotFoundSpent(Self::decision(not_found, false, reply)),
            _ => LookupAdmission::RedirectSpent(Self::decision(redirect, false, reply)),
        })
    }
}
