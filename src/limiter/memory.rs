//! `MemoryLimiter`: per-client GCRA state in this process. Limits hold per instance; use the
//! Redis limiter for a fleet.

use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use dashmap::DashMap;
use tokio::time::Instant;

use super::gcra::{self, Decision};
use super::{Budget, ClientId, Limiter, LimiterError, LocalLimiter, Quotas};

/// Forget fully replenished clients every this many requests, so memory follows the number of
/// recently active clients.
const SWEEP_EVERY: u64 = 4_096;

/// In-process rate limiter.
pub struct MemoryLimiter {
    quotas: Quotas,
    tats: DashMap<(Budget, ClientId), i64>,
    origin: Instant,
    calls: AtomicU64,
}

impl MemoryLimiter {
    /// A limiter with `quotas`.
    pub fn new(quotas: Quotas) -> Self {
        Self {
            quotas,
            tats: DashMap::new(),
            origin: Instant::now(),
            calls: AtomicU64::new(0),
        }
    }

    fn now_us(&self) -> i64 {
        i64::try_from(self.origin.elapsed().as_micros()).unwrap_or(i64::MAX)
    }

    /// Clients currently tracked (for tests).
    pub fn tracked(&self) -> usize {
        self.tats.len()
    }
}

impl LocalLimiter for MemoryLimiter {
    fn hit_now(&self, budget: Budget, client: &ClientId) -> Decision {
        let now = self.now_us();
        if self.calls.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.tats.retain(|_, tat| *tat > now);
        }
        let quota = self.quotas.get(budget);
        let mut entry = self.tats.entry((budget, client.clone())).or_insert(now);
        let (decision, tat) = gcra::decide(Some(*entry), now, quota);
        *entry = tat;
        decision
    }

    fn refund_now(&self, budget: Budget, client: &ClientId) {
        let now = self.now_us();
        let quota = self.quotas.get(budget);
        let key = (budget, client.clone());
        if let Some(mut tat) = self.tats.get_mut(&key) {
            // Back to a full budget leaves the entry at `now`; the sweep forgets it.
            *tat = gcra::refund(Some(*tat), now, quota).unwrap_or(now);
        }
    }
}

#[async_trait]
impl Limiter for MemoryLimiter {
    async fn hit(&self, budget: Budget, client: &ClientId) -> Result<Decision, LimiterError> {
        Ok(self.hit_now(budget, client))
    }

    async fn refund(&self, budget: Budget, client: &ClientId) -> Result<(), LimiterError> {
        self.refund_now(budget, client);
        Ok(())
    }

    fn local(&self) -> Option<&dyn LocalLimiter> {
        Some(self)
    }
}
