//! The generic cell rate algorithm (GCRA): a token bucket kept as one number per client, the
//! theoretical arrival time (TAT) of the next request. The same arithmetic runs in process
//! (`MemoryLimiter`) and inside Redis (`RedisLimiter`'s script mirrors `decide`).

/// A budget: `burst` requests at once, refilled at one per `interval_us`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Microseconds between two requests at the sustained rate.
    pub interval_us: i64,
    /// Requests allowed at once.
    pub burst: u32,
}

impl Quota {
    /// `per_minute` requests a minute with bursts of `burst`.
    pub fn per_minute(per_minute: u32, burst: u32) -> Self {
        Self {
            interval_us: 60_000_000 / i64::from(per_minute.max(1)),
            burst: burst.max(1),
        }
    }

    /// How far the TAT may run ahead of now: `(burst - 1)` intervals.
    pub fn tolerance_us(&self) -> i64 {
        self.interval_us * i64::from(self.burst - 1)
    }
}

/// The answer for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request is admitted.
    pub allowed: bool,
    /// Further requests that would be admitted right now.
    pub remaining: u32,
    /// Microseconds until a request would be admitted (0 when allowed).
    pub retry_after_us: i64,
    /// Microseconds until the budget is full again.
    pub reset_us: i64,
    /// The budget's burst size.
    pub limit: u32,
}

/// Judges a request at `now_us` against a stored TAT (`None` for a new client); returns the
/// decision and the TAT to store (unchanged when denied).
pub fn decide(stored_tat_us: Option<i64>, now_us: i64, quota: Quota) -> (Decision, i64) {
    let tat = stored_tat_us.unwrap_or(now_us).max(now_us);
    let tolerance = quota.tolerance_us();
    if tat - now_us > tolerance {
        let decision = Decision {
            allowed: false,
            remaining: 0,
            retry_after_us: tat - tolerance - now_us,
            reset_us: tat - now_us,
            limit: quota.burst,
        };
        return (decision, tat);
    }
    let new_tat = tat + quota.interval_us;
    let remaining = (now_us + tolerance - tat) / quota.interval_us;
    let decision = Decision {
        allowed: true,
        remaining: u32::try_from(remaining).unwrap_or(0),
        retry_after_us: 0,
        reset_us: new_tat - now_us,
        limit: quota.burst,
    };
    (decision, new_tat)
}

/// Gives back one request spent by [`decide`]: the TAT moves back one interval, never before
/// `now_us` (a budget cannot grow past full). `None` when the client is back to a full budget
/// and need not be stored.
pub fn refund(stored_tat_us: Option<i64>, now_us: i64, quota: Quota) -> Option<i64> {
    let tat = stored_tat_us? - quota.interval_us;
    (tat > now_us).then_some(tat)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_admitted_then_one_per_interval() {
        let quota = Quota::per_minute(60, 3); // one a second, three at once
        let mut tat = None;
        let mut admitted = 0;
        for _ in 0..5 {
            let (d, next) = decide(tat, 0, quota);
            tat = Some(next);
            admitted += u32::from(d.allowed);
        }
        assert_eq!(admitted, 3);
        let (denied, _) = decide(tat, 0, quota);
        assert_eq!(denied.retry_after_us, 1_000_000);
        let (later, _) = decide(tat, 1_000_000, quota);
        assert!(later.allowed);
    }

    #[test]
    fn remaining_counts_down_and_reset_says_when_full() {
        let quota = Quota::per_minute(60, 3);
        let (first, tat) = decide(None, 0, quota);
        assert_eq!((first.remaining, first.reset_us), (2, 1_000_000));
        let (second, _) = decide(Some(tat), 0, quota);
        assert_eq!((second.remaining, second.reset_us), (1, 2_000_000));
    }

    #[test]
    fn a_refund_gives_back_exactly_one_request() {
        let quota = Quota::per_minute(60, 2);
        let (_, tat) = decide(None, 0, quota);
        let (_, tat) = decide(Some(tat), 0, quota);
        assert!(!decide(Some(tat), 0, quota).0.allowed);
        let refunded = refund(Some(tat), 0, quota);
        assert!(decide(refunded, 0, quota).0.allowed);
        // Refunding a full budget changes nothing.
        assert_eq!(refund(None, 0, quota), None);
        assert_eq!(refund(Some(500_000), 0, quota), None);
    }
}
