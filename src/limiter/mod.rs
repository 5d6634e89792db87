//! Rate limiting: per-client GCRA budgets for creates, redirects and 404s, in process or in
//! Redis. Why not the `governor` crate: the enumeration throttle must ask "would this client's
//! next 404 be refused?" without spending from the budget, which governor cannot answer, and
//! the Redis limiter needs the same arithmetic in a Lua script anyway; the GCRA itself is a
//! dozen lines (`gcra.rs`) shared by both.

mod gcra;
mod memory;
mod redis;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub use gcra::{Decision, Quota, decide, wait_us};
pub use memory::MemoryLimiter;
pub use redis::RedisLimiter;

use crate::config::{RateLimitBackend, RateLimitSettings};

/// Which budget a request spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Budget {
    /// `POST /shorten`.
    Create,
    /// `GET`/`HEAD /s/{code}` and `GET /stats/{code}`.
    Redirect,
    /// Answers of 404 from those routes: small, to throttle code enumeration.
    NotFound,
}

impl Budget {
    /// Name used in keys and logs.
    pub fn name(self) -> &'static str {
        match self {
            Budget::Create => "create",
            Budget::Redirect => "redirect",
            Budget::NotFound => "not_found",
        }
    }
}

/// The quota of each budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    /// Creates.
    pub create: Quota,
    /// Redirects.
    pub redirect: Quota,
    /// 404s.
    pub not_found: Quota,
}

impl Quotas {
    /// The quota of `budget`.
    pub fn get(&self, budget: Budget) -> Quota {
        match budget {
            Budget::Create => self.create,
            Budget::Redirect => self.redirect,
            Budget::NotFound => self.not_found,
        }
    }

    /// Quotas from settings.
    pub fn from_settings(s: &RateLimitSettings) -> Self {
        Self {
            create: Quota::per_minute(s.creates_per_minute, s.create_burst),
            redirect: Quota::per_minute(s.redirects_per_minute, s.redirect_burst),
            not_found: Quota::per_minute(s.not_found_per_minute, s.not_found_burst),
        }
    }
}

/// Who a request is counted against: an authenticated API key, else an address (IPv6 by its
/// /64). Held in memory only; the Redis limiter stores an HMAC of [`ClientId::identity`].
/// An address needs no allocation, which matters on the redirect path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ClientId {
    /// The client behind an API key (its public id).
    ApiKey(String),
    /// The client at an address, IPv6 truncated to its /64.
    Address(std::net::IpAddr),
}

impl ClientId {
    /// The client behind an API key.
    pub fn api_key(id: &str) -> Self {
        Self::ApiKey(id.to_owned())
    }

    /// The client at `ip`.
    pub fn address(ip: std::net::IpAddr) -> Self {
        match ip.to_canonical() {
            std::net::IpAddr::V4(v4) => Self::Address(v4.into()),
            // One subscriber usually holds a whole /64: count it as one client.
            std::net::IpAddr::V6(v6) => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                Self::Address(std::net::Ipv6Addr::from(prefix).into())
            }
        }
    }

    /// The identity as text: `key:{id}` or `ip:{address}`.
    pub fn identity(&self) -> String {
        match self {
            Self::ApiKey(id) => format!("key:{id}"),
            Self::Address(ip) => format!("ip:{ip}"),
        }
    }
}

/// The limiter's own store failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rate limiter unavailable: {0}")]
pub struct LimiterError(pub String);

/// A rate limiter.
#[async_trait]
pub trait Limiter: Send + Sync + 'static {
    /// Spends one request of `budget` for `client`.
    ///
    /// # Errors
    /// [`LimiterError`] when the limiter's store does not answer.
    async fn hit(&self, budget: Budget, client: &ClientId) -> Result<Decision, LimiterError>;

    /// Microseconds until `client` could spend from `budget` again, spending nothing (0 = now).
    ///
    /// # Errors
    /// [`LimiterError`] when the limiter's store does not answer.
    async fn wait_us(&self, budget: Budget, client: &ClientId) -> Result<i64, LimiterError>;

    /// The same limiter answering without I/O, when it can: the guards then decide in place
    /// instead of awaiting a boxed future per call (the redirect path checks two budgets).
    /// `None` (the default) for limiters whose state lives in another process.
    fn local(&self) -> Option<&dyn LocalLimiter> {
        None
    }
}

/// A limiter whose state is in this process: [`Limiter::hit`] and [`Limiter::wait_us`] as
/// plain calls that cannot fail.
pub trait LocalLimiter: Send + Sync {
    /// As [`Limiter::hit`].
    fn hit_now(&self, budget: Budget, client: &ClientId) -> Decision;

    /// As [`Limiter::wait_us`].
    fn wait_us_now(&self, budget: Budget, client: &ClientId) -> i64;
}

/// The limiter named by `rate_limit.backend`, or `None` when rate limiting is off.
///
/// # Errors
/// When the Redis limiter cannot connect.
pub async fn build_limiter(
    settings: &RateLimitSettings,
    timeout: Duration,
) -> Result<Option<Arc<dyn Limiter>>, anyhow::Error> {
    if !settings.enabled {
        return Ok(None);
    }
    let quotas = Quotas::from_settings(settings);
    match settings.backend {
        RateLimitBackend::Memory => Ok(Some(Arc::new(MemoryLimiter::new(quotas)))),
        RateLimitBackend::Redis => {
            let limiter = RedisLimiter::connect(
                quotas,
                &settings.redis_url,
                &settings.key_prefix,
                &settings.secret,
                timeout,
            )
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "rate_limit.redis_url: cannot connect to {}: {e}",
                    crate::config::redact_password(&settings.redis_url)
                )
            })?;
            Ok(Some(Arc::new(limiter)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_keyed_by_their_64() {
        let a = ClientId::address("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = ClientId::address("2001:db8:1:2:bbbb::9".parse().unwrap());
        let c = ClientId::address("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            ClientId::address("::ffff:192.0.2.7".parse().unwrap()),
            ClientId::address("192.0.2.7".parse().unwrap())
        );
    }
}
