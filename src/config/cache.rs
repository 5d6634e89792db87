//! `[cache]` settings: hot links in process memory and the shared Redis tier.

use serde::{Deserialize, Serialize};

use super::redact_password;

/// `[cache]` settings: hot links kept in process memory, and the optional shared tier in
/// Redis. `Debug` hides the Redis password.
#[derive(Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheSettings {
    /// `cache.capacity`: links kept at most; 0 disables the cache. Default 100000. The memory
    /// store never uses a cache.
    pub capacity: u64,
    /// `cache.ttl_seconds`: longest time a link stays cached (never past its expiry).
    /// Default 300.
    pub ttl_seconds: u64,
    /// `cache.negative_ttl_ms`: how long an unknown code is remembered as unknown; a link
    /// created on another instance can take this long to resolve here. Default 2000.
    pub negative_ttl_ms: u64,
    /// `cache.redis_url`: a Redis shared by the fleet as a second cache tier in front of the
    /// store (any backend). Default unset (no shared tier).
    pub redis_url: Option<String>,
    /// `cache.redis_key_prefix`: prefix of the shared tier's keys. Default
    /// `url-shortener:cache:`.
    pub redis_key_prefix: String,
    /// `cache.redis_timeout_ms`: deadline of each call to the shared tier; past it the call
    /// goes to the store and the tier is skipped for a second. Default 50.
    pub redis_timeout_ms: u64,
}

impl std::fmt::Debug for CacheSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheSettings")
            .field("capacity", &self.capacity)
            .field("ttl_seconds", &self.ttl_seconds)
            .field("negative_ttl_ms", &self.negative_ttl_ms)
            .field("redis_url", &self.redis_url.as_deref().map(redact_password))
            .field("redis_key_prefix", &self.redis_key_prefix)
            .field("redis_timeout_ms", &self.redis_timeout_ms)
            .finish()
    }
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            capacity: 100_000,
            ttl_seconds: 300,
            negative_ttl_ms: 2_000,
            redis_url: None,
            redis_key_prefix: "url-shortener:cache:".to_owned(),
            redis_timeout_ms: 50,
        }
    }
}
