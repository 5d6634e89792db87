//! Politeness toward destination hosts: one check at a time per host, at least
//! `link_health.min_host_interval_ms` between the start of one and the next, and a backoff for
//! a host that answered 429 or 503 (its `Retry-After` when it gave one, else doubling from
//! the interval, at most [`MAX_BACKOFF`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::OwnedMutexGuard;
use tokio::time::Instant;

/// The longest a host is left alone after it asked for a pause.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60 * 60);

/// Hosts remembered before idle ones are forgotten.
const FORGET_PAST: usize = 10_000;

struct Host {
    turn: Arc<tokio::sync::Mutex<()>>,
    next_start: Instant,
    backoff: Duration,
}

/// The per-host gates of one checker.
pub struct HostGates {
    min_interval: Duration,
    hosts: Mutex<HashMap<String, Host>>,
}

/// A host's turn: held while its check runs.
pub struct Turn {
    _guard: OwnedMutexGuard<()>,
}

impl HostGates {
    /// Gates that keep `min_interval` between checks of one host.
    pub fn new(min_interval: Duration) -> Self {
        Self {
            min_interval,
            hosts: Mutex::new(HashMap::new()),
        }
    }

    /// Waits for `host`'s turn: until no other check of it runs and its interval (or backoff)
    /// has passed.
    pub async fn turn(&self, host: &str) -> Turn {
        let lock = {
            let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
            if hosts.len() > FORGET_PAST {
                let now = Instant::now();
                hosts.retain(|_, h| h.next_start > now || Arc::strong_count(&h.turn) > 1);
            }
            hosts
                .entry(host.to_owned())
                .or_insert_with(|| Host {
                    turn: Arc::new(tokio::sync::Mutex::new(())),
                    next_start: Instant::now(),
                    backoff: Duration::ZERO,
                })
                .turn
                .clone()
        };
        let guard = lock.lock_owned().await;
        loop {
            let wait_until = {
                let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
                let now = Instant::now();
                let entry = hosts.get_mut(host);
                match entry {
                    Some(h) if h.next_start > now => Some(h.next_start),
                    Some(h) => {
                        h.next_start = now + self.min_interval;
                        None
                    }
                    None => None,
                }
            };
            match wait_until {
                Some(at) => tokio::time::sleep_until(at).await,
                None => return Turn { _guard: guard },
            }
        }
    }

    /// Records that `host` asked for a pause (429 or 503), `retry_after` if it said how long.
    pub fn back_off(&self, host: &str, retry_after: Option<Duration>) {
        let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(h) = hosts.get_mut(host) {
            let doubled = (h.backoff * 2).max(self.min_interval).min(MAX_BACKOFF);
            h.backoff = doubled;
            let pause = retry_after.map_or(doubled, |r| r.min(MAX_BACKOFF));
            h.next_start = h.next_start.max(Instant::now() + pause);
        }
    }

    /// Records that `host` answered normally: its backoff starts again from nothing.
    pub fn answered(&self, host: &str) {
        let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(h) = hosts.get_mut(host) {
            h.backoff = Duration::ZERO;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn one_host_waits_its_interval_and_its_backoff() {
        let gates = HostGates::new(Duration::from_millis(500));
        let start = Instant::now();
        drop(gates.turn("a.example").await);
        drop(gates.turn("b.example").await);
        assert!(
            start.elapsed() < Duration::from_millis(10),
            "other hosts do not wait"
        );
        drop(gates.turn("a.example").await);
        assert!(start.elapsed() >= Duration::from_millis(500));
        gates.back_off("a.example", Some(Duration::from_secs(30)));
        let before = Instant::now();
        drop(gates.turn("a.example").await);
        assert!(before.elapsed() >= Duration::from_secs(29));
    }
}
