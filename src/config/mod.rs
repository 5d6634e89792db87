//! Settings: built-in defaults → optional TOML file → `URL_SHORTENER__SECTION__KEY` environment
//! variables, layered with the `config` crate, then checked once at start so a bad value stops
//! the process with a message that names its key.
//!
//! One file per section, each with its own `validate`; [`Settings::validate`] runs them all.
//! Every key and default is documented in docs/configuration.md; keep them in step.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use url::Url;

mod accounts;
mod auth;
mod cache;
mod clicks;
mod expiration;
mod link_health;
mod links;
mod log;
mod rate_limit;
mod security;
mod server;
mod storage;

pub use accounts::{AccountSettings, Signup};
pub use auth::AuthSettings;
pub use cache::CacheSettings;
pub use clicks::{ClickQueueKind, ClickSettings, WorkerSettings};
pub use expiration::ExpirationSettings;
pub use link_health::LinkHealthSettings;
pub use links::LinkSettings;
pub use log::{LogFormat, LogSettings};
pub use rate_limit::{RateLimitBackend, RateLimitSettings};
pub use security::SecuritySettings;
pub use server::{ServerRuntime, ServerSettings};
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
/// `Serialize` is for the check that docs/configuration.md lists every key with its default;
/// settings are never written out (they hold secrets).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
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
        self.server.validate()?;
        self.accounts.validate()?;
        self.auth.validate()?;
        self.link_health
            .validate()
            .map_err(|message| ConfigError { message })?;
        self.links.validate()?;
        self.expiration.validate()?;
        self.storage.validate()?;
        self.rate_limit.validate()?;
        self.clicks.validate(&self.workers)?;
        Ok(())
    }

    /// Whether each instance keeps a link cache of its own (`cache.capacity` > 0): never on the
    /// memory store, which answers as fast as a cache would (caching it would only double
    /// memory).
    pub fn keeps_link_cache(&self) -> bool {
        self.cache.capacity > 0 && self.storage.backend != StorageBackend::Memory
    }

    /// `server.listen` as a socket address.
    ///
    /// # Errors
    /// When it is not `IP:PORT`.
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.server.listen_addr()
    }

    /// The transport bounds of every connection, from the `server.*` keys.
    pub fn connection_limits(&self) -> crate::server::ConnectionLimits {
        self.server.connection_limits()
    }

    /// `server.base_url` parsed: an `http`/`https` origin, optionally with a path prefix.
    ///
    /// # Errors
    /// When it is not such a URL.
    pub fn base_url(&self) -> Result<Url, ConfigError> {
        self.server.base_url()
    }
}

#[cfg(test)]
mod tests;
