//! `[storage]` settings: which store holds the links, keys and accounts, and how to reach it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use url::Url;

use super::ConfigError;

/// The storage backends `storage.backend` can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    /// In process memory; lost on exit.
    Memory,
    /// One embedded SQLite file (the default).
    #[default]
    Sqlite,
    /// A Redis server or cluster shared by every instance.
    Redis,
    /// A DynamoDB table shared by every instance.
    Dynamodb,
    /// A PostgreSQL database shared by every instance.
    Postgres,
}

/// `[storage]` settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageSettings {
    /// `storage.backend`: which store to use. Default `sqlite`.
    pub backend: StorageBackend,
    /// `storage.timeout_ms`: deadline of each call to a networked store (Redis, DynamoDB,
    /// PostgreSQL); past it the request answers 503 `storage_unavailable`. Default 2000.
    pub timeout_ms: u64,
    /// `[storage.sqlite]`.
    pub sqlite: SqliteSettings,
    /// `[storage.redis]`.
    pub redis: RedisSettings,
    /// `[storage.dynamodb]`.
    pub dynamodb: DynamoDbSettings,
    /// `[storage.postgres]`.
    pub postgres: PostgresSettings,
}

impl Default for StorageSettings {
    fn default() -> Self {
        Self {
            backend: StorageBackend::default(),
            timeout_ms: 2_000,
            sqlite: SqliteSettings::default(),
            redis: RedisSettings::default(),
            dynamodb: DynamoDbSettings::default(),
            postgres: PostgresSettings::default(),
        }
    }
}

/// `[storage.redis]` settings. `Debug` hides the password in the URL.
#[derive(Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisSettings {
    /// `storage.redis.url`: `redis://[:password@]host:port[/db]` or `rediss://` for TLS.
    /// Default `redis://127.0.0.1:6379`.
    pub url: String,
    /// `storage.redis.key_prefix`: prepended to every key, so several deployments can share one
    /// server. Default `url-shortener:`.
    pub key_prefix: String,
}

impl Default for RedisSettings {
    fn default() -> Self {
        Self {
            url: "redis://127.0.0.1:6379".to_owned(),
            key_prefix: "url-shortener:".to_owned(),
        }
    }
}

impl std::fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSettings")
            .field("url", &redact_password(&self.url))
            .field("key_prefix", &self.key_prefix)
            .finish()
    }
}

/// `url` with any password replaced by `***`, for logs and `Debug`.
pub fn redact_password(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(_) => url.to_owned(),
        Err(_) => "<unparseable URL>".to_owned(),
    }
}

/// `[storage.dynamodb]` settings. Credentials come from the standard AWS chain (environment,
/// profile, web identity, ECS or EC2 role), never from this file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DynamoDbSettings {
    /// `storage.dynamodb.table`: table name. Default `url-shortener`.
    pub table: String,
    /// `storage.dynamodb.endpoint_url`: endpoint override (DynamoDB Local, moto); unset = AWS.
    pub endpoint_url: Option<String>,
    /// `storage.dynamodb.region`: AWS region. Default `us-east-1`.
    pub region: String,
    /// `storage.dynamodb.create_table`: create the table, its expiry index and TTL at start when
    /// missing (development). Default false.
    pub create_table: bool,
}

impl Default for DynamoDbSettings {
    fn default() -> Self {
        Self {
            table: "url-shortener".to_owned(),
            endpoint_url: None,
            region: "us-east-1".to_owned(),
            create_table: false,
        }
    }
}

/// When SQLite waits for the disk (`PRAGMA synchronous`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSync {
    /// Every commit reaches the disk before it is acknowledged: survives power loss.
    #[default]
    Full,
    /// Commits survive a crash of the process (`kill -9`) but the last ones may be lost on
    /// power failure; faster on slow disks.
    Normal,
}

/// `[storage.sqlite]` settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SqliteSettings {
    /// `storage.sqlite.path`: the database file, created with its folder. Default
    /// `data/url-shortener.db` (relative to the working directory).
    pub path: PathBuf,
    /// `storage.sqlite.synchronous`: `full` or `normal`. Default `full`.
    pub synchronous: SqliteSync,
}

impl Default for SqliteSettings {
    fn default() -> Self {
        Self {
            path: PathBuf::from("data/url-shortener.db"),
            synchronous: SqliteSync::Full,
        }
    }
}

/// `storage.postgres.sslmode`: libpq's TLS modes, with libpq's meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PgSslMode {
    /// Never TLS.
    Disable,
    /// Plain TCP first; TLS only if the server insists.
    Allow,
    /// TLS if the server offers it, plain otherwise (libpq's default).
    Prefer,
    /// TLS or no connection, without checking the server's certificate.
    Require,
    /// TLS with a certificate signed by a trusted CA (`sslrootcert`), any host name.
    VerifyCa,
    /// TLS with a trusted certificate for the host connected to: the only mode that stops a
    /// man in the middle.
    VerifyFull,
}

/// `[storage.postgres]` settings. `Debug` hides the password in the URL.
#[derive(Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PostgresSettings {
    /// `storage.postgres.url`: `postgres://user:password@host:port/database` (libpq URL
    /// parameters such as `sslmode` work too). Default
    /// `postgres://postgres@127.0.0.1:5432/url_shortener`.
    pub url: String,
    /// `storage.postgres.pool_size`: connections each instance keeps open at most. Default 8.
    pub pool_size: u32,
    /// `storage.postgres.sslmode`: overrides the URL's `sslmode`; unset = the URL's, or
    /// `prefer` as in libpq.
    pub sslmode: Option<PgSslMode>,
    /// `storage.postgres.sslrootcert`: the CA that signed the server's certificate, for
    /// `verify-ca` and `verify-full`: a PEM file's path, or the PEM text itself (starting with
    /// `-----BEGIN`, for containers that get it through the environment); unset = the URL's,
    /// or the public web roots.
    pub sslrootcert: Option<String>,
}

impl Default for PostgresSettings {
    fn default() -> Self {
        Self {
            url: "postgres://postgres@127.0.0.1:5432/url_shortener".to_owned(),
            pool_size: 8,
            sslmode: None,
            sslrootcert: None,
        }
    }
}

impl std::fmt::Debug for PostgresSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresSettings")
            .field("url", &redact_password(&self.url))
            .field("pool_size", &self.pool_size)
            .field("sslmode", &self.sslmode)
            .field("sslrootcert", &self.sslrootcert)
            .finish()
    }
}

impl StorageSettings {
    /// Checks the chosen backend's settings.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first bad key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.backend == StorageBackend::Sqlite && self.sqlite.path.as_os_str().is_empty() {
            return Err(ConfigError::key("storage.sqlite.path", "must not be empty"));
        }
        if self.timeout_ms == 0 {
            return Err(ConfigError::key("storage.timeout_ms", "must be at least 1"));
        }
        if self.backend == StorageBackend::Redis {
            let url = &self.redis.url;
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
        if self.backend == StorageBackend::Dynamodb && self.dynamodb.table.is_empty() {
            return Err(ConfigError::key(
                "storage.dynamodb.table",
                "must not be empty",
            ));
        }
        if self.backend == StorageBackend::Postgres {
            let pg = &self.postgres;
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
        Ok(())
    }
}
