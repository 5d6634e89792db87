//! `[link_health]`: the worker that checks links' destinations (README "Link health").

use serde::{Deserialize, Serialize};

/// `[link_health]` settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinkHealthSettings {
    /// `link_health.enabled`: whether this process's workers check destinations. Default true.
    pub enabled: bool,
    /// `link_health.interval_hours`: every live link is checked once per interval, spread
    /// evenly over it. Default 24.
    pub interval_hours: u64,
    /// `link_health.first_check_after_seconds`: a new link is first checked this long after
    /// its creation. Default 60.
    pub first_check_after_seconds: u64,
    /// `link_health.failures_for_broken`: failures in a row, spanning at least a day, that
    /// make a link `broken`. Default 3.
    pub failures_for_broken: u32,
    /// `link_health.min_host_interval_ms`: the least time between two checks of one host.
    /// Default 2000.
    pub min_host_interval_ms: u64,
    /// `link_health.concurrency`: checks in flight at once (each on another host). Default 8.
    pub concurrency: usize,
    /// `link_health.connect_timeout_ms`: connecting to one address. Default 5000.
    pub connect_timeout_ms: u64,
    /// `link_health.timeout_ms`: one whole check, redirects included. Default 8000: below the
    /// default `server.request_timeout_ms`, so that a check asked for by hand answers before
    /// the request's deadline (past it the request answers 503 and the check is not recorded).
    pub timeout_ms: u64,
    /// `link_health.max_body_bytes`: body bytes read before the connection is dropped.
    /// Default 65536.
    pub max_body_bytes: usize,
    /// `link_health.dns_servers`: the DNS servers (`ip:port`) the checker asks; empty (the
    /// default) uses the system's (`/etc/resolv.conf`).
    pub dns_servers: Vec<String>,
}

impl Default for LinkHealthSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            interval_hours: 24,
            first_check_after_seconds: 60,
            failures_for_broken: 3,
            min_host_interval_ms: 2000,
            concurrency: 8,
            connect_timeout_ms: 5000,
            timeout_ms: 8000,
            max_body_bytes: 65_536,
            dns_servers: Vec::new(),
        }
    }
}

impl LinkHealthSettings {
    /// Refuses settings the checker cannot run with.
    ///
    /// # Errors
    /// A message naming the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.interval_hours == 0 {
            return Err("link_health.interval_hours must be at least 1".into());
        }
        if self.failures_for_broken == 0 {
            return Err("link_health.failures_for_broken must be at least 1".into());
        }
        if self.concurrency == 0 {
            return Err("link_health.concurrency must be at least 1".into());
        }
        if self.timeout_ms == 0 || self.connect_timeout_ms == 0 {
            return Err("link_health.timeout_ms and connect_timeout_ms must be positive".into());
        }
        for server in &self.dns_servers {
            if server.parse::<std::net::SocketAddr>().is_err() {
                return Err(format!(
                    "link_health.dns_servers: '{server}' is not an ip:port address"
                ));
            }
        }
        Ok(())
    }
}
