//! `[rate_limit]` settings: per-client budgets and where they are kept.

use serde::{Deserialize, Serialize};
use url::Url;

use super::{ConfigError, redact_password};

/// Where rate-limit state lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RateLimitBackend {
    /// In this process: limits hold per instance.
    #[default]
    Memory,
    /// In Redis: limits hold for the whole fleet.
    Redis,
}

/// `[rate_limit]` settings. `Debug` hides the secret and the Redis password.
#[derive(Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitSettings {
    /// `rate_limit.enabled`: default true.
    pub enabled: bool,
    /// `rate_limit.backend`: `memory` or `redis`. Default `memory`.
    pub backend: RateLimitBackend,
    /// `rate_limit.redis_url`: Redis for the shared limiter. Default `redis://127.0.0.1:6379`.
    pub redis_url: String,
    /// `rate_limit.key_prefix`: prefix of the limiter's Redis keys. Default `url-shortener:`.
    pub key_prefix: String,
    /// `rate_limit.secret`: HMAC key under which client identities are hashed in Redis;
    /// required with the Redis backend, identical on every instance.
    pub secret: String,
    /// `rate_limit.trusted_proxies`: addresses or CIDR ranges of proxies whose
    /// `X-Forwarded-For` is believed. Default none.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// `rate_limit.creates_per_minute`: sustained creates per client. Default 60.
    pub creates_per_minute: u32,
    /// `rate_limit.create_burst`: creates a client may make at once. Default 20.
    pub create_burst: u32,
    /// `rate_limit.redirects_per_minute`: sustained redirects per client. Default 1200.
    pub redirects_per_minute: u32,
    /// `rate_limit.redirect_burst`: redirects at once. Default 200.
    pub redirect_burst: u32,
    /// `rate_limit.not_found_per_minute`: sustained 404s per client before redirects are
    /// refused, which throttles code enumeration. Default 30.
    pub not_found_per_minute: u32,
    /// `rate_limit.not_found_burst`: 404s at once. Default 10.
    pub not_found_burst: u32,
    /// `rate_limit.logins_per_minute`: sustained login and signup attempts per client.
    /// Default 10.
    pub logins_per_minute: u32,
    /// `rate_limit.login_burst`: login attempts at once per client. Default 10.
    pub login_burst: u32,
    /// `rate_limit.account_logins_per_minute`: sustained failed logins per user name, from
    /// all clients together. Default 5.
    pub account_logins_per_minute: u32,
    /// `rate_limit.account_login_burst`: failed logins at once per user name. Default 10.
    pub account_login_burst: u32,
    /// `rate_limit.keys_per_minute`: sustained API key creates per user. Default 5.
    pub keys_per_minute: u32,
    /// `rate_limit.key_burst`: API key creates at once per user. Default 5.
    pub key_burst: u32,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            backend: RateLimitBackend::Memory,
            redis_url: "redis://127.0.0.1:6379".to_owned(),
            key_prefix: "url-shortener:".to_owned(),
            secret: String::new(),
            trusted_proxies: Vec::new(),
            creates_per_minute: 60,
            create_burst: 20,
            redirects_per_minute: 1_200,
            redirect_burst: 200,
            not_found_per_minute: 30,
            not_found_burst: 10,
            logins_per_minute: 10,
            login_burst: 10,
            account_logins_per_minute: 5,
            account_login_burst: 10,
            keys_per_minute: 5,
            key_burst: 5,
        }
    }
}

impl std::fmt::Debug for RateLimitSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimitSettings")
            .field("enabled", &self.enabled)
            .field("backend", &self.backend)
            .field("redis_url", &redact_password(&self.redis_url))
            .field("key_prefix", &self.key_prefix)
            .field("secret", &if self.secret.is_empty() { "" } else { "***" })
            .field("trusted_proxies", &self.trusted_proxies)
            .field("creates_per_minute", &self.creates_per_minute)
            .field("create_burst", &self.create_burst)
            .field("redirects_per_minute", &self.redirects_per_minute)
            .field("redirect_burst", &self.redirect_burst)
            .field("not_found_per_minute", &self.not_found_per_minute)
            .field("not_found_burst", &self.not_found_burst)
            .field("logins_per_minute", &self.logins_per_minute)
            .field("login_burst", &self.login_burst)
            .field("account_logins_per_minute", &self.account_logins_per_minute)
            .field("account_login_burst", &self.account_login_burst)
            .field("keys_per_minute", &self.keys_per_minute)
            .field("key_burst", &self.key_burst)
            .finish()
    }
}

impl RateLimitSettings {
    /// Checks every budget and, with the Redis backend, its secret and URL.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first bad key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let rl = self;
        for (key, value) in [
            ("rate_limit.creates_per_minute", rl.creates_per_minute),
            ("rate_limit.create_burst", rl.create_burst),
            ("rate_limit.redirects_per_minute", rl.redirects_per_minute),
            ("rate_limit.redirect_burst", rl.redirect_burst),
            ("rate_limit.not_found_per_minute", rl.not_found_per_minute),
            ("rate_limit.not_found_burst", rl.not_found_burst),
            ("rate_limit.logins_per_minute", rl.logins_per_minute),
            ("rate_limit.login_burst", rl.login_burst),
            (
                "rate_limit.account_logins_per_minute",
                rl.account_logins_per_minute,
            ),
            ("rate_limit.account_login_burst", rl.account_login_burst),
            ("rate_limit.keys_per_minute", rl.keys_per_minute),
            ("rate_limit.key_burst", rl.key_burst),
        ] {
            if value == 0 || value > 6_000_000 {
                return Err(ConfigError::key(key, "must be between 1 and 6000000"));
            }
        }
        if rl.enabled && rl.backend == RateLimitBackend::Redis {
            if rl.secret.len() < 16 {
                return Err(ConfigError::key(
                    "rate_limit.secret",
                    "must be at least 16 characters with the redis backend (it keys the hash of client addresses)",
                ));
            }
            if !Url::parse(&rl.redis_url).is_ok_and(|u| matches!(u.scheme(), "redis" | "rediss")) {
                return Err(ConfigError::key(
                    "rate_limit.redis_url",
                    "is not a redis:// or rediss:// URL",
                ));
            }
        }
        Ok(())
    }
}
