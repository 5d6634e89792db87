//! Rate limiting: per-client GCRA budgets for creates, redirects and 404s, in process or in
//! Redis. Why not the `governor` crate: the enumeration throttle reserves a 404 before each
//! lookup and gives it back when the code existed, and governor has no refund; the Redis
//! limiter needs the same arithmetic in a Lua script anyway; the GCRA itself is a dozen lines
//! (`gcra.rs`) shared by both.
//!
//! Budgets are spent before the work they pay for, in one atomic step (a map entry's lock, a
//! Lua script), so N concurrent requests can never spend more than the budget: checking first
//! and charging after the work would let every concurrent request pass the check.

mod gcra;
mod memory;
mod redis;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub use gcra::{Decision, Quota, decide, refund};
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
    /// Login and signup attempts from one client.
    Login,
    /// Failed logins to one account (given back when a login succeeds), whichever clients
    /// they come from: password guessing spread over many addresses.
    AccountLogin,
    /// API keys made by one user (`POST /api/keys` and the keys page).
    KeyCreate,
}

impl Budget {
    /// Name used in keys and logs.
    pub fn name(self) -> &'static str {
        match self {
            Budget::Create => "create",
            Budget::Redirect => "redirect",
            Budget::NotFound => "not_found",
            Budget::Login => "login",
            Budget::AccountLogin => "account_login",
            Budget::KeyCreate => "key_create",
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
    /// Login attempts per client.
    pub login: Quota,
    /// Failed logins per account.
    pub account_login: Quota,
    /// Key creates per user.
    pub key_create: Quota,
}

impl Quotas {
    /// The quota of `budget`.
    pub fn get(&self, budget: Budget) -> Quota {
        match budget {
            Budget::Create => self.create,
            Budget::Redirect => self.redirect,
            Budget::NotFound => self.not_found,
            Budget::Login => self.login,
            Budget::AccountLogin => self.account_login,
            Budget::KeyCreate => self.key_create,
        }
    }

    /// Quotas from settings.
    pub fn from_settings(s: &RateLimitSettings) -> Self {
        Self {
            create: Quota::per_minute(s.creates_per_minute, s.create_burst),
            redirect: Quota::per_minute(s.redirects_per_minute, s.redirect_burst),
            not_found: Quota::per_minute(s.not_found_per_minute, s.not_found_burst),
            login: Quota::per_minute(s.logins_per_minute, s.login_burst),
            account_login: Quota::per_minute(s.account_logins_per_minute, s.account_login_burst),
            key_create: Quota::per_minute(s.keys_per_minute, s.key_burst),
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
    /// Everyone trying to log in as one user name (lower-case, as stored).
    Account(String),
    /// A signed-in user, whatever key, session or address they come with (their public id):
    /// what creates are charged to, so that minting keys does not mint budget.
    User(String),
}

impl ClientId {
    /// The client behind an API key.
    pub fn api_key(id: &str) -> Self {
        Self::ApiKey(id.to_owned())
    }

    /// The signed-in user with public id `id`.
    pub fn user(id: &str) -> Self {
        Self::User(id.to_owned())
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

    /// The identity as text: `key:{id}`, `ip:{address}` or `user:{name}`.
    pub fn identity(&self) -> String {
        match self {
            Self::ApiKey(id) => format!("key:{id}"),
            Self::Address(ip) => format!("ip:{ip}"),
            Self::Account(name) => format!("user:{name}"),
            Self::User(id) => format!("owner:{id}"),
        }
    }
}

/// The limiter's own store failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rate limiter unavailable: {0}")]
pub struct LimiterError(pub String);

/// How a lookup (`/s/{code}`, `/stats/{code}`) was admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupAdmission {
    /// Go ahead: one 404 is reserved (give it back with [`Limiter::refund`] unless the answer
    /// is a 404) and one redirect spent.
    Admitted,
    /// The 404 budget is spent (an enumeration loop, or more concurrent lookups than its
    /// burst): refused whatever the code, so a spent budget reveals nothing about codes.
    NotFoundSpent(Decision),
    /// The redirect budget is spent; nothing stays reserved.
    RedirectSpent(Decision),
}

/// A rate limiter.
#[async_trait]
pub trait Limiter: Send + Sync + 'static {
    /// Spends one request of `budget` for `client`, atomically: concurrent calls never spend
    /// more than the budget.
    ///
    /// # Errors
    /// [`LimiterError`] when the limiter's store does not answer.
    async fn hit(&self, budget: Budget, client: &ClientId) -> Result<Decision, LimiterError>;

    /// Gives back one request of `budget` that [`Self::hit`] spent and the outcome did not need.
    ///
    /// # Errors
    /// [`LimiterError`] when the limiter's store does not answer.
    async fn refund(&self, budget: Budget, client: &ClientId) -> Result<(), LimiterError>;

    /// Admits a lookup: reserves one 404 and spends one redirect, giving the 404 back when the
    /// redirect budget refuses. The default makes up to three calls; a remote limiter does it
    /// in one round trip.
    ///
    /// # Errors
    /// [`LimiterError`] when the limiter's store does not answer.
    async fn admit_lookup(&self, client: &ClientId) -> Result<LookupAdmission, LimiterError> {
        let not_found = self.hit(Budget::NotFound, client).await?;
        if !not_found.allowed {
            return Ok(LookupAdmission::NotFoundSpent(not_found));
        }
        let redirect = self.hit(Budget::Redirect, client).await?;
        if !redirect.allowed {
            self.refund(Budget::NotFound, client).await?;
            return Ok(LookupAdmission::RedirectSpent(redirect));
        }
        Ok(LookupAdmission::Admitted)
    }

    /// The same limiter answering without I/O, when it can: the guards then decide in place
    /// instead of awaiting a boxed future per call (the redirect path checks two budgets).
    /// `None` (the default) for limiters whose state lives in another process.
    fn local(&self) -> Option<&dyn LocalLimiter> {
        None
    }
}

/// A limiter whose state is in this process: [`Limiter::hit`] and [`Limiter::refund`] as
/// plain calls that cannot fail.
pub trait LocalLimiter: Send + Sync {
    /// As [`Limiter::hit`].
    fn hit_now(&self, budget: Budget, client: &ClientId) -> Decision;

    /// As [`Limiter::refund`].
    fn refund_now(&self, budget: Budget, client: &ClientId);

    /// As [`Limiter::admit_lookup`].
    fn admit_lookup_now(&self, client: &ClientId) -> LookupAdmission {
        let not_found = self.hit_now(Budget::NotFound, client);
        if !not_found.allowed {
            return LookupAdmission::NotFoundSpent(not_found);
        }
        let redirect = self.hit_now(Budget::Redirect, client);
        if !redirect.allowed {
            self.refund_now(Budget::NotFound, client);
            return LookupAdmission::RedirectSpent(redirect);
        }
        LookupAdmission::Admitted
    }
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
