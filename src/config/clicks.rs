//! `[clicks]` and `[workers]`: how clicks are counted and queued, and whether this process runs
//! the background workers. `Debug` hides the queue's Redis password.

use serde::{Deserialize, Serialize};

use super::{ConfigError, redact_password};

/// Where a redirect's click event goes (`clicks.queue`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClickQueueKind {
    /// In process: the click buffer, written by this process's own flusher (the default).
    #[default]
    Memory,
    /// A Redis Stream shared by a fleet: gateways publish, click processors (in any process
    /// with workers) consume.
    Redis,
}

/// `[clicks]` settings.
#[derive(Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClickSettings {
    /// `clicks.flush_interval_ms`: how often buffered clicks reach storage. Default 1000.
    pub flush_interval_ms: u64,
    /// `clicks.flush_threshold`: distinct codes pending that trigger an early flush, so the
    /// buffer does not reach `max_pending_codes` between interval flushes; at most half of
    /// `max_pending_codes` takes effect. Default 50000: half the default bound, and large enough
    /// that a busy instance flushes on the interval, where each flush covers more clicks per
    /// code and per B-tree page (SQLite with 1,000,000 links and uniformly random redirects:
    /// 10000 flushed three times a second and cost 20-25% more CPU per redirect).
    pub flush_threshold: usize,
    /// `clicks.max_pending_codes`: distinct codes the buffer holds at most (while storage is
    /// down); clicks on further codes are dropped and counted. Default 100000.
    pub max_pending_codes: usize,
    /// `clicks.country_header`: the request header a trusted CDN or proxy in front of the
    /// service sets to the visitor's country (`CloudFront-Viewer-Country`, `CF-IPCountry`).
    /// Only two letters are taken from it. Unset by default: a client could send any header
    /// itself, so name one only when every request passes the CDN that overwrites it.
    pub country_header: Option<String>,
    /// `clicks.queue`: `memory` (default) or `redis`.
    pub queue: ClickQueueKind,
    /// `clicks.redis_url`: the Redis of the click stream. Default `redis://127.0.0.1:6379`.
    pub redis_url: String,
    /// `clicks.redis_key_prefix`: the stream is `{prefix}{clicks}`, its consumer group
    /// `{prefix}click-processors`. Default `url-shortener:`.
    pub redis_key_prefix: String,
    /// `clicks.redis_timeout_ms`: deadline of each stream command. Default 1000.
    pub redis_timeout_ms: u64,
    /// `clicks.stream_max_len`: entries the stream keeps at most (approximately; an entry is
    /// one gateway's batch of up to 1000 events). Default 100000.
    pub stream_max_len: u64,
    /// `clicks.outbox_capacity`: events a gateway holds while Redis is unreachable; further
    /// ones are dropped and counted. Default 100000.
    pub outbox_capacity: usize,
    /// `clicks.read_batch`: stream entries a processor reads and writes at once. Default 100.
    pub read_batch: usize,
    /// `clicks.claim_idle_ms`: how long a processor may leave a batch unacknowledged before
    /// another takes it over. Default 30000.
    pub claim_idle_ms: u64,
}

impl std::fmt::Debug for ClickSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClickSettings")
            .field("flush_interval_ms", &self.flush_interval_ms)
            .field("flush_threshold", &self.flush_threshold)
            .field("max_pending_codes", &self.max_pending_codes)
            .field("country_header", &self.country_header)
            .field("queue", &self.queue)
            .field("redis_url", &redact_password(&self.redis_url))
            .field("redis_key_prefix", &self.redis_key_prefix)
            .field("redis_timeout_ms", &self.redis_timeout_ms)
            .field("stream_max_len", &self.stream_max_len)
            .field("outbox_capacity", &self.outbox_capacity)
            .field("read_batch", &self.read_batch)
            .field("claim_idle_ms", &self.claim_idle_ms)
            .finish()
    }
}

impl Default for ClickSettings {
    fn default() -> Self {
        Self {
            flush_interval_ms: 1_000,
            flush_threshold: 50_000,
            max_pending_codes: 100_000,
            country_header: None,
            queue: ClickQueueKind::Memory,
            redis_url: "redis://127.0.0.1:6379".to_owned(),
            redis_key_prefix: "url-shortener:".to_owned(),
            redis_timeout_ms: 1_000,
            stream_max_len: 100_000,
            outbox_capacity: 100_000,
            read_batch: 100,
            claim_idle_ms: 30_000,
        }
    }
}

/// `[workers]` settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerSettings {
    /// `workers.enabled`: run the background workers (click processor or flusher, expiry
    /// sweeper) in this process. Default true; `false` makes a gateway that only answers
    /// requests, for fleets that run `url-shortener worker` apart (needs `clicks.queue =
    /// "redis"`).
    pub enabled: bool,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self { enabled: true }
    }
}

impl ClickSettings {
    /// Checks the flush and queue settings; `workers` because only the Redis queue lets a
    /// process leave its clicks to workers elsewhere.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first bad key.
    pub fn validate(&self, workers: &WorkerSettings) -> Result<(), ConfigError> {
        if self.flush_interval_ms == 0 {
            return Err(ConfigError::key(
                "clicks.flush_interval_ms",
                "must be at least 1",
            ));
        }
        let clicks = self;
        if clicks.queue == ClickQueueKind::Memory && !workers.enabled {
            return Err(ConfigError::key(
                "workers.enabled",
                "false needs clicks.queue = \"redis\": with the memory queue only this process \
                 can write its clicks",
            ));
        }
        if clicks.queue == ClickQueueKind::Redis {
            if !(clicks.redis_url.starts_with("redis://")
                || clicks.redis_url.starts_with("rediss://"))
            {
                return Err(ConfigError::key(
                    "clicks.redis_url",
                    "must start with redis:// or rediss://",
                ));
            }
            if clicks.claim_idle_ms < 2 * clicks.flush_interval_ms {
                return Err(ConfigError::key(
                    "clicks.claim_idle_ms",
                    format!(
                        "must be at least twice clicks.flush_interval_ms ({} ms): a processor \
                         holds what it read for that long before writing it",
                        clicks.flush_interval_ms
                    ),
                ));
            }
            for (key, value) in [
                ("clicks.redis_timeout_ms", clicks.redis_timeout_ms),
                ("clicks.stream_max_len", clicks.stream_max_len),
                ("clicks.claim_idle_ms", clicks.claim_idle_ms),
                ("clicks.read_batch", clicks.read_batch as u64),
                ("clicks.outbox_capacity", clicks.outbox_capacity as u64),
            ] {
                if value == 0 {
                    return Err(ConfigError::key(key, "must be at least 1"));
                }
            }
        }
        if let Some(name) = &self.country_header
            && axum::http::HeaderName::from_bytes(name.as_bytes()).is_err()
        {
            return Err(ConfigError::key(
                "clicks.country_header",
                format!("'{name}' is not a header name"),
            ));
        }
        Ok(())
    }
}
