//! `[server]` settings: listening, the public origin, timeouts and connection bounds.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use url::Url;

use super::ConfigError;

/// `[server]` settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
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
    /// `server.listen` as a socket address.
    ///
    /// # Errors
    /// When it is not `IP:PORT`.
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen.parse().map_err(|e| {
            ConfigError::key(
                "server.listen",
                format!("'{}' is not an IP:PORT address ({e})", self.listen),
            )
        })
    }

    /// The transport bounds of every connection, from the `server.*` keys.
    pub fn connection_limits(&self) -> crate::server::ConnectionLimits {
        let server = self;
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
        let raw = &self.base_url;
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

    /// The serving threads `worker_threads` asks for: itself, or for 0 one per CPU this process
    /// may use.
    pub fn threads(&self) -> usize {
        match self.worker_threads {
            0 => std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            n => n,
        }
    }
}

impl ServerSettings {
    /// Checks the addresses, the timeouts and the connection bounds.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first bad key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.listen_addr()?;
        self.base_url()?;
        if self.request_timeout_ms == 0 {
            return Err(ConfigError::key(
                "server.request_timeout_ms",
                "must be at least 1",
            ));
        }
        for (key, value) in [
            ("server.header_read_timeout_ms", self.header_read_timeout_ms),
            ("server.idle_timeout_seconds", self.idle_timeout_seconds),
            (
                "server.max_connections",
                u64::try_from(self.max_connections).unwrap_or(u64::MAX),
            ),
            (
                "server.http2_max_concurrent_streams",
                u64::from(self.http2_max_concurrent_streams),
            ),
        ] {
            if value == 0 {
                return Err(ConfigError::key(key, "must be at least 1"));
            }
        }
        if self.worker_threads > 1024 {
            return Err(ConfigError::key(
                "server.worker_threads",
                "must be at most 1024 (0 = one per CPU)",
            ));
        }
        if self.max_connections > 1_000_000 {
            return Err(ConfigError::key(
                "server.max_connections",
                "must be at most 1000000",
            ));
        }
        Ok(())
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
