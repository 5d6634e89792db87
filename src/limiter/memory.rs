//! `MemoryLimiter`: per-client GCRA state in this process. Limits hold per instance; use the
//! Redis limiter for a fleet.

use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use dashmap::DashMap;
use tokio::time::Instant;

use super::gcra::{self, Decision};
use super::{Budget, ClientId, Limiter, LimiterError, LocalLimiter, LookupAdmission, Quotas};

/// Forget fully replenished clients every this many requests, so memory follows the number of
/// recently active clients.
const SWEEP_EVERY: u64 = 4_096;

/// A client's theoretical arrival times, one per [`Budget`] (0 = never used): one map entry
/// per client, so a lookup's two budgets are judged under one entry lock and one hash.
type Tats = [i64; 6];

fn slot(budget: Budget) -> usize {
    match budget {
        Budget::Create => 0,
        Budget::Redirect => 1,
        Budget::NotFound => 2,
        Budget::Login => 3,
        Budget::AccountLogin => 4,
        Budget::KeyCreate => 5,
    }
}

/// In-process rate limiter.
pub struct MemoryLimiter {
    quotas: Quotas,
    tats: DashMap<ClientId, Tats>,
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

    /// The time now, after forgetting fully replenished clients once every [`SWEEP_EVERY`]
    /// calls.
    fn now_and_sweep(&self) -> i64 {
        let now = self.now_us();
        if self.calls.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.tats
                .retain(|_, tats| tats.iter().any(|&tat| tat > now));
        }
        now
    }

    /// Back to a full budget leaves the slot at `now`; the sweep forgets the client.
    fn give_back(&self, tats: &mut Tats, budget: Budget, now: i64) {
        let tat = &mut tats[slot(budget)];
        *tat = gcra::refund(Some(*tat), now, self.quotas.get(budget)).unwrap_or(now);
    }

    fn spend(&self, tats: &mut Tats, budget: Budget, now: i64) -> Decision {
        let tat = &mut tats[slot(budget)];
        let (decision, next) = gcra::decide(Some((*tat).max(now)), now, self.quotas.get(budget));
        *tat = next;
        decision
    }
}

impl LocalLimiter for MemoryLimiter {
    fn hit_now(&self, budget: Budget, client: &ClientId) -> Decision {
        let now = self.now_and_sweep();
        let mut tats = self.tats.entry(client.clone()).or_insert([now; 6]);
        self.spend(&mut tats, budget, now)
    }

    fn refund_now(&self, budget: Budget, client: &ClientId) {
        let now = self.now_us();
        if let Some(mut tats) = self.tats.get_mut(client) {
            self.give_back(&mut tats, budget, now);
        }
    }

    /// Both budgets under one entry lock: a reservation and a spend, or neither.
    fn admit_lookup_now(&self, client: &ClientId) -> LookupAdmission {
        let now = self.now_and_sweep();
        let mut tats = self.tats.entry(client.clone()).or_insert([now; 6]);
        let not_found = self.spend(&mut tats, Budget::NotFound, now);
        if !not_found.allowed {
            return LookupAdmission::NotFoundSpent(not_found);
        }
        let redirect = self.spend(&mut tats, Budget::Redirect, now);
        if !redirect.allowed {
            self.give_back(&mut tats, Budget::NotFound, now);
            return LookupAdmission::RedirectSpent(redirect);
        }
        LookupAdmission::Admitted
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
