//! Settings: built-in defaults → optional TOML file → `URL_SHORTENER__SECTION__KEY` environment
//! variables, layered with the `config` crate, then checked once at start so a bad value stops
//! the process with a message that names its key.
//!
//! Every key and default here is documented in the README's configuration table; keep them in
//! step.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use url::Url;

use crate::domain::{MAX_GENERATED_LEN, MIN_GENERATED_LEN};

mod accounts;
mod clicks;
mod health;
mod storage;

pub use accounts::{AccountSettings, Signup};
pub use clicks::{ClickQueue, ClickSettings, WorkerSettings};
pub use health::LinkHealthSettings;
pub use storage::{
    DynamoDbSettings, PgSslMode, PostgresSettings, RedisSettings, SqliteSettings, SqliteSync,
    StorageBackend, StorageSettings, redact_password,
};

/// Environment variables that override settings start with this and use `__` between parts:
/// `URL_SHORTENER__SERVER__LISTEN`.
pub const ENV_PREFIX: &str = "URL_SHORTENER";

/// Ten years, the default ceiling for `links.max_ttl_seconds`.
pub const TEN_YEARS_SECONDS: u64 = 10 * 365 * 24 * 60 * 60;

/// A setting that cannot be used, with the key it belongs to.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {message}")]
pub struct ConfigError {
    /// What is wrong, naming the key (`server.base_url: ...`).
    pub message: String,
}

impl ConfigError {
    fn key(key: &str, problem: impl std::fmt::Display) -> Self {
        Self {
            message: format!("{key}: {problem}"),
        }
    }
}

/// All settings. Field docs give each key's meaning; defaults are in the `Default` impls.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// `[server]`: listening and the public origin.
    pub server: ServerSettings,
    /// `[storage]`: which store holds the links.
    pub storage: StorageSettings,
    /// `[links]`: code length, expiry policy and redirect status.
    pub links: LinkSettings,
    /// `[security]`: destination policy.
    pub security: SecuritySettings,
    /// `[clicks]`: click counting and the click queue.
    pub clicks: ClickSettings,
    /// `[workers]`: whether this process runs the background workers.
    pub workers: WorkerSettings,
    /// `[expiration]`: the sweep of expired links.
    pub expiration: ExpirationSettings,
    /// `[link_health]`: the checker of destinations.
    pub link_health: LinkHealthSettings,
    /// `[cache]`: hot links in memory.
    pub cache: CacheSettings,
    /// `[auth]`: API keys.
    pub auth: AuthSettings,
    /// `[accounts]`: sign-up, sessions and invites.
    pub accounts: AccountSettings,
    /// `[rate_limit]`: per-client budgets.
    pub rate_limit: RateLimitSettings,
    /// `[log]`: log level and format.
    pub log: LogSettings,
}

/// `[server]` settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// `server.listen`: address to bind. Default `127.0.0.1:8080`.
    pub listen: String,
    /// `server.base_url`: public origin used to build `short_url`; its host counts as "self".
    /// Default `http://127.0.0.1:8080`.
    pub base_url: String,
    /// `server.request_timeout_ms`: a request still running after this answers 503. Default 10000.
    pub request_timeout_ms: u64,
    /// `server.shutdown_timeout_seconds`: how long a graceful shutdown waits for in-flight
    /// requests before exiting anyway. Default 30.
    pub shutdown_timeout_seconds: u64,
    /// `server.header_read_timeout_ms`: a connection that has not sent a request's complete
    /// headers this long after its first byte (or after connecting) is closed. Default 10000.
    pub header_read_timeout_ms: u64,
    /// `server.idle_timeout_seconds`: a keep-alive connection with no request for this long
    /// is closed. Default 60.
    pub idle_timeout_seconds: u64,
    /// `server.max_connections`: connections served at once; further ones wait in the
    /// listen backlog until one closes. Default 512 (under the common 1,024-descriptor limit).
    pub max_connections: usize,
    /// `server.http2_max_concurrent_streams`: HTTP/2 streams per connection. Default 100.
    pub http2_max_concurrent_streams: u32,
    /// `server.worker_threads`: threads that serve requests; 0 (the default) = one per CPU this
    /// process may use (its CPU affinity and cgroup quota). With one, a single-threaded runtime
    /// serves everything without work stealing.
    pub worker_threads: usize,
    /// `server.runtime`: how the serving threads share connections. Default `sharded`.
    pub runtime: ServerRuntime,
}

/// `server.runtime` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerRuntime {
    /// Each serving thread runs its own single-threaded runtime and keeps the connections it
    /// accepted ([`crate::serve_sharded`]): no request's work crosses threads.
    #[default]
    Sharded,
    /// One runtime whose threads take tasks from each other: a long request (a big page, a
    /// slow query) never holds up the other connections of its thread.
    WorkStealing,
}

impl ServerSettings {
    /// The serving threads `worker_threads` asks for: itself, or for 0 one per CPU this process
    /// may use.
    pub fn threads(&self) -> usize {
        match self.worker_threads {
            0 => std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            n => n,
        }
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".to_owned(),
            base_url: "http://127.0.0.1:8080".to_owned(),
            request_timeout_ms: 10_000,
            shutdown_timeout_seconds: 30,
            header_read_timeout_ms: 10_000,
            idle_timeout_seconds: 60,
            max_connections: 512,
            http2_max_concurrent_streams: 100,
            worker_threads: 0,
            runtime: ServerRuntime::Sharded,
        }
    }
}

/// `[expiration]` settings: the background sweep that deletes expired links.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExpirationSettings {
    /// `expiration.interval_seconds`: average time between sweeps (each instance adds ±20%
    /// jitter). Default 300.
    pub interval_seconds: u64,
    /// `expiration.batch_size`: links deleted per storage call. Default 1000.
    pub batch_size: usize,
}

impl Default for ExpirationSettings {
    fn default() -> Self {
        Self {
            interval_seconds: 300,
            batch_size: 1_000,
        }
    }
}

/// `[links]` settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinkSettings {
    /// `links.code_length`: length of generated codes, 4–32. Default 8.
    pub code_length: usize,
    /// `links.default_ttl_seconds`: expiry of links created without `ttl_seconds`; unset = never.
    pub default_ttl_seconds: Option<u64>,
    /// `links.max_ttl_seconds`: the largest `ttl_seconds` accepted. Default ten years.
    pub max_ttl_seconds: u64,
    /// `links.redirect_status`: 301, 302, 307 or 308. Default 302.
    pub redirect_status: u16,
}

impl Default for LinkSettings {
    fn default() -> Self {
        Self {
            code_length: 8,
            default_ttl_seconds: None,
            max_ttl_seconds: TEN_YEARS_SECONDS,
            redirect_status: 302,
        }
    }
}

/// `[security]` settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecuritySettings {
    /// `security.allow_private_destinations`: accept loopback, private and other non-global
    /// destinations (intranets, tests). Default false.
    pub allow_private_destinations: bool,
}

/// `[cache]` settings: hot links kept in process memory, and the optional shared tier in
/// Redis. `Debug` hides the Redis password.
#[derive(Clone, Deserialize)]
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

/// `[auth]` settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// `auth.anonymous_create`: `POST /shorten` (and the create form) work without an API key
    /// or a session; the link then has no owner. Default true (local use); set false in
    /// production.
    pub anonymous_create: Option<bool>,
    /// `auth.require_api_key`: the former name of `auth.anonymous_create = false`, still read.
    pub require_api_key: Option<bool>,
    /// `auth.max_keys_per_user`: live (unrevoked) API keys one user may hold at once; a create
    /// past it answers `409 too_many_keys`. Default 20.
    pub max_keys_per_user: usize,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            anonymous_create: None,
            require_api_key: None,
            max_keys_per_user: 20,
        }
    }
}

impl AuthSettings {
    /// Whether creates without credentials are allowed: `anonymous_create`, else the negation
    /// of the old `require_api_key`, else true.
    pub fn anonymous_create(&self) -> bool {
        self.anonymous_create
            .or(self.require_api_key.map(|required| !required))
            .unwrap_or(true)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=1_000).contains(&self.max_keys_per_user) {
            return Err(ConfigError::key(
                "auth.max_keys_per_user",
                "must be between 1 and 1000",
            ));
        }
        match (self.anonymous_create, self.require_api_key) {
            (Some(anonymous), Some(required)) if anonymous == required => Err(ConfigError::key(
                "auth.anonymous_create",
                "contradicts auth.require_api_key (its former name); set only auth.anonymous_create",
            )),
            _ => Ok(()),
        }
    }
}

/// Where rate-limit state lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RateLimitBackend {
    /// In this process: limits hold per instance.
    #[default]
    Memory,
    /// In Redis: limits hold for the whole fleet.
    Redis,
}

/// `[rate_limit]` settings. `Debug` hides the secret and the Redis password.
#[derive(Clone, Deserialize)]
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
            .finish()
    }
}

/// Log output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// `[log]` settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// `log.level`: a `tracing` filter such as `info` or `url_shortener=debug`. Default `info`.
    /// `RUST_LOG`, when set, wins.
    pub level: String,
    /// `log.format`: `text` or `json`. Default `text`.
    pub format: LogFormat,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            level: "info".to_owned(),
            format: LogFormat::Text,
        }
    }
}

impl Settings {
    /// Loads settings from the defaults, `file` (when given; it must exist) and the process
    /// environment, then validates them.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first bad key.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(file, std::env::vars())
    }

    /// As [`Settings::load`] with an explicit environment, so tests need not touch the process's.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first bad key.
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let prefix = format!("{ENV_PREFIX}__");
        let env: HashMap<String, String> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .collect();
        let mut builder = config::Config::builder();
        if let Some(path) = file {
            builder = builder.add_source(
                config::File::from(PathBuf::from(path))
                    .format(config::FileFormat::Toml)
                    .required(true),
            );
        }
        builder = builder.add_source(
            config::Environment::with_prefix(ENV_PREFIX)
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .list_separator(",")
                .with_list_parse_key("rate_limit.trusted_proxies")
                .with_list_parse_key("link_health.dns_servers")
                .source(Some(env)),
        );
        let settings: Settings =
            builder
                .build()
                .and_then(|c| c.try_deserialize())
                .map_err(|e| ConfigError {
                    message: e.to_string(),
                })?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks what types alone cannot.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first bad key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.listen_addr()?;
        self.base_url()?;
        if self.server.request_timeout_ms == 0 {
            return Err(ConfigError::key(
                "server.request_timeout_ms",
                "must be at least 1",
            ));
        }
        for (key, value) in [
            (
                "server.header_read_timeout_ms",
                self.server.header_read_timeout_ms,
            ),
            (
                "server.idle_timeout_seconds",
                self.server.idle_timeout_seconds,
            ),
            (
                "server.max_connections",
                u64::try_from(self.server.max_connections).unwrap_or(u64::MAX),
            ),
            (
                "server.http2_max_concurrent_streams",
                u64::from(self.server.http2_max_concurrent_streams),
            ),
        ] {
            if value == 0 {
                return Err(ConfigError::key(key, "must be at least 1"));
            }
        }
        if self.server.worker_threads > 1024 {
            return Err(ConfigError::key(
                "server.worker_threads",
                "must be at most 1024 (0 = one per CPU)",
            ));
        }
        if self.server.max_connections > 1_000_000 {
            return Err(ConfigError::key(
                "server.max_connections",
                "must be at most 1000000",
            ));
        }
        self.accounts.validate()?;
        self.auth.validate()?;
        self.link_health
            .validate()
            .map_err(|message| ConfigError { message })?;
        let len = self.links.code_length;
        if !(MIN_GENERATED_LEN..=MAX_GENERATED_LEN).contains(&len) {
            return Err(ConfigError::key(
                "links.code_length",
                format!("must be between {MIN_GENERATED_LEN} and {MAX_GENERATED_LEN}, got {len}"),
            ));
        }
        if self.links.max_ttl_seconds == 0 {
            return Err(ConfigError::key(
                "links.max_ttl_seconds",
                "must be at least 1",
            ));
        }
        if let Some(ttl) = self.links.default_ttl_seconds
            && !(1..=self.links.max_ttl_seconds).contains(&ttl)
        {
            return Err(ConfigError::key(
                "links.default_ttl_seconds",
                format!(
                    "must be between 1 and links.max_ttl_seconds ({})",
                    self.links.max_ttl_seconds
                ),
            ));
        }
        if ![301, 302, 307, 308].contains(&self.links.redirect_status) {
            return Err(ConfigError::key(
                "links.redirect_status",
                format!(
                    "must be 301, 302, 307 or 308, got {}",
                    self.links.redirect_status
                ),
            ));
        }
        if self.expiration.interval_seconds == 0 {
            return Err(ConfigError::key(
                "expiration.interval_seconds",
                "must be at least 1",
            ));
        }
        if self.expiration.batch_size == 0 {
            return Err(ConfigError::key(
                "expiration.batch_size",
                "must be at least 1",
            ));
        }
        if self.storage.backend == StorageBackend::Sqlite
            && self.storage.sqlite.path.as_os_str().is_empty()
        {
            return Err(ConfigError::key("storage.sqlite.path", "must not be empty"));
        }
        let rl = &self.rate_limit;
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
        if self.storage.timeout_ms == 0 {
            return Err(ConfigError::key("storage.timeout_ms", "must be at least 1"));
        }
        if self.storage.backend == StorageBackend::Redis {
            let url = &self.storage.redis.url;
            if !Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "redis" | "rediss")) {
                return Err(ConfigError::key(
                    "storage.redis.url",
                    format!(
                        "'{}' is not a redis:// or rediss:// URL",
                        redact_password(url)
                    ),
                ));
            }
        }
        if self.storage.backend == StorageBackend::Dynamodb
            && self.storage.dynamodb.table.is_empty()
        {
            return Err(ConfigError::key(
                "storage.dynamodb.table",
                "must not be empty",
            ));
        }
        if self.storage.backend == StorageBackend::Postgres {
            let pg = &self.storage.postgres;
            if !Url::parse(&pg.url).is_ok_and(|u| matches!(u.scheme(), "postgres" | "postgresql")) {
                return Err(ConfigError::key(
                    "storage.postgres.url",
                    format!("'{}' is not a postgres:// URL", redact_password(&pg.url)),
                ));
            }
            if pg.pool_size == 0 {
                return Err(ConfigError::key(
                    "storage.postgres.pool_size",
                    "must be at least 1",
                ));
            }
        }
        if self.clicks.flush_interval_ms == 0 {
            return Err(ConfigError::key(
                "clicks.flush_interval_ms",
                "must be at least 1",
            ));
        }
        let clicks = &self.clicks;
        if clicks.queue == ClickQueue::Memory && !self.workers.enabled {
            return Err(ConfigError::key(
                "workers.enabled",
                "false needs clicks.queue = \"redis\": with the memory queue only this process \
                 can write its clicks",
            ));
        }
        if clicks.queue == ClickQueue::Redis {
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
        if let Some(name) = &self.clicks.country_header
            && axum::http::HeaderName::from_bytes(name.as_bytes()).is_err()
        {
            return Err(ConfigError::key(
                "clicks.country_header",
                format!("'{name}' is not a header name"),
            ));
        }
        Ok(())
    }

    /// `server.listen` as a socket address.
    ///
    /// # Errors
    /// When it is not `IP:PORT`.
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.server.listen.parse().map_err(|e| {
            ConfigError::key(
                "server.listen",
                format!("'{}' is not an IP:PORT address ({e})", self.server.listen),
            )
        })
    }

    /// The transport bounds of every connection, from the `server.*` keys.
    pub fn connection_limits(&self) -> crate::server::ConnectionLimits {
        let server = &self.server;
        crate::server::ConnectionLimits {
            header_read_timeout: std::time::Duration::from_millis(server.header_read_timeout_ms),
            idle_timeout: std::time::Duration::from_secs(server.idle_timeout_seconds),
            max_connections: server.max_connections,
            http2_max_concurrent_streams: server.http2_max_concurrent_streams,
            ..crate::server::ConnectionLimits::default()
        }
    }

    /// `server.base_url` parsed: an `http`/`https` origin, optionally with a path prefix.
    ///
    /// # Errors
    /// When it is not such a URL.
    pub fn base_url(&self) -> Result<Url, ConfigError> {
        let raw = &self.server.base_url;
        let url = Url::parse(raw).map_err(|e| {
            ConfigError::key("server.base_url", format!("'{raw}' is not a URL ({e})"))
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(ConfigError::key(
                "server.base_url",
                format!("'{raw}' must be an http or https URL with a host"),
            ));
        }
        if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
            return Err(ConfigError::key(
                "server.base_url",
                "must not carry a query, fragment or credentials",
            ));
        }
        Ok(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let s = Settings::load_from(None, env(&[])).unwrap();
        assert_eq!(s.server.listen, "127.0.0.1:8080");
        assert_eq!(s.server.base_url, "http://127.0.0.1:8080");
        assert_eq!(s.links.code_length, 8);
        assert_eq!(s.links.redirect_status, 302);
        assert_eq!(s.links.max_ttl_seconds, 315_360_000);
        assert_eq!(s.links.default_ttl_seconds, None);
        assert!(!s.security.allow_private_destinations);
        assert_eq!(s.clicks.flush_interval_ms, 1_000);
        assert_eq!(s.storage.backend, StorageBackend::Sqlite);
        assert_eq!(
            s.storage.sqlite.path,
            PathBuf::from("data/url-shortener.db")
        );
        assert_eq!(s.storage.sqlite.synchronous, SqliteSync::Full);
        assert_eq!(s.expiration.interval_seconds, 300);
        assert_eq!(s.expiration.batch_size, 1_000);
    }

    #[test]
    fn link_health_defaults_and_bad_values_are_named() {
        let s = Settings::load_from(None, env(&[])).unwrap();
        assert!(s.link_health.enabled);
        assert_eq!(s.link_health.interval_hours, 24);
        assert_eq!(s.link_health.first_check_after_seconds, 60);
        assert_eq!(s.link_health.failures_for_broken, 3);
        assert!(s.link_health.dns_servers.is_empty());
        for (key, value, named) in [
            (
                "URL_SHORTENER__LINK_HEALTH__DNS_SERVERS",
                "resolver.local",
                "dns_servers",
            ),
            (
                "URL_SHORTENER__LINK_HEALTH__INTERVAL_HOURS",
                "0",
                "interval_hours",
            ),
            (
                "URL_SHORTENER__LINK_HEALTH__TIMEOUT_MS",
                "0",
                "link_health.timeout_ms",
            ),
        ] {
            let err = Settings::load_from(None, env(&[(key, value)])).unwrap_err();
            assert!(err.to_string().contains(named), "{key}: {err}");
        }
    }

    #[test]
    fn debug_output_hides_the_redis_password() {
        let mut s = Settings::default();
        s.storage.redis.url = "redis://:hunter2@cache.internal:6379/0".to_owned();
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("cache.internal"), "{shown}");
    }

    #[test]
    fn trusted_proxies_parse_from_a_comma_separated_variable() {
        let s = Settings::load_from(
            None,
            env(&[(
                "URL_SHORTENER__RATE_LIMIT__TRUSTED_PROXIES",
                "10.0.0.0/8,192.0.2.1/32",
            )]),
        )
        .unwrap();
        assert_eq!(s.rate_limit.trusted_proxies.len(), 2);
        assert!(s.rate_limit.enabled);
    }

    #[test]
    fn the_redis_limiter_needs_a_secret() {
        let err = Settings::load_from(
            None,
            env(&[("URL_SHORTENER__RATE_LIMIT__BACKEND", "redis")]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("rate_limit.secret"), "{err}");
    }

    #[test]
    fn worker_threads_default_to_one_per_cpu_and_are_bounded() {
        assert_eq!(Settings::default().server.worker_threads, 0);
        let s = Settings::load_from(None, env(&[("URL_SHORTENER__SERVER__WORKER_THREADS", "1")]))
            .unwrap();
        assert_eq!(s.server.worker_threads, 1);
        let err = Settings::load_from(
            None,
            env(&[("URL_SHORTENER__SERVER__WORKER_THREADS", "5000")]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("server.worker_threads"), "{err}");
    }

    #[test]
    fn the_runtime_defaults_to_sharded_and_an_unknown_one_is_named() {
        assert_eq!(Settings::default().server.runtime, ServerRuntime::Sharded);
        assert!(Settings::default().server.threads() >= 1);
        let s = Settings::load_from(
            None,
            env(&[("URL_SHORTENER__SERVER__RUNTIME", "work_stealing")]),
        )
        .unwrap();
        assert_eq!(s.server.runtime, ServerRuntime::WorkStealing);
        let err = Settings::load_from(None, env(&[("URL_SHORTENER__SERVER__RUNTIME", "fibers")]))
            .unwrap_err();
        assert!(err.to_string().contains("runtime"), "{err}");
    }

    #[test]
    fn an_unknown_backend_is_named() {
        let err = Settings::load_from(None, env(&[("URL_SHORTENER__STORAGE__BACKEND", "mongo")]))
            .unwrap_err();
        assert!(err.to_string().contains("mongo"), "{err}");
    }

    #[test]
    fn environment_variables_override_defaults() {
        let s = Settings::load_from(
            None,
            env(&[
                ("URL_SHORTENER__LINKS__REDIRECT_STATUS", "308"),
                ("URL_SHORTENER__LINKS__DEFAULT_TTL_SECONDS", "60"),
                (
                    "URL_SHORTENER__SECURITY__ALLOW_PRIVATE_DESTINATIONS",
                    "true",
                ),
                ("URL_SHORTENER_CONFIG", "/not/a/setting.toml"),
            ]),
        )
        .unwrap();
        assert_eq!(s.links.redirect_status, 308);
        assert_eq!(s.links.default_ttl_seconds, Some(60));
        assert!(s.security.allow_private_destinations);
    }

    #[test]
    fn a_bad_value_names_its_key() {
        let err = Settings::load_from(
            None,
            env(&[("URL_SHORTENER__LINKS__REDIRECT_STATUS", "303")]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("links.redirect_status"), "{err}");

        let err = Settings::load_from(None, env(&[("URL_SHORTENER__SERVER__BASE_URL", "ftp://x")]))
            .unwrap_err();
        assert!(err.to_string().contains("server.base_url"), "{err}");

        let err = Settings::load_from(None, env(&[("URL_SHORTENER__LINKS__CODE_LENGTH", "abc")]))
            .unwrap_err();
        assert!(err.to_string().contains("code_length"), "{err}");
    }

    #[test]
    fn an_unknown_key_is_an_error_not_a_silent_typo() {
        let err = Settings::load_from(None, env(&[("URL_SHORTENER__LINKS__CODE_LENGHT", "9")]))
            .unwrap_err();
        assert!(err.to_string().contains("code_lenght"), "{err}");
    }

    #[test]
    fn a_toml_file_is_layered_under_the_environment() {
        let dir = std::env::temp_dir().join(format!("url-shortener-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("settings.toml");
        std::fs::write(
            &file,
            "[server]\nlisten = \"127.0.0.1:9999\"\n[links]\ncode_length = 10\n",
        )
        .unwrap();
        let s = Settings::load_from(
            Some(&file),
            env(&[("URL_SHORTENER__LINKS__CODE_LENGTH", "12")]),
        )
        .unwrap();
        assert_eq!(s.server.listen, "127.0.0.1:9999");
        assert_eq!(s.links.code_length, 12);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
