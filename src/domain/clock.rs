//! `Clock`: where the current time comes from. Nothing else in the crate reads the system clock,
//! so tests can move time by hand (see `clippy.toml`).

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::Timestamp;

/// A source of the current time. Must be cheap: it is read on every redirect.
pub trait Clock: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> Timestamp;
}

/// The operating system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one sanctioned read of the wall clock
    fn now(&self) -> Timestamp {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Timestamp::from_unix_millis(millis.min(Timestamp::MAX.as_unix_millis()))
            .unwrap_or(Timestamp::UNIX_EPOCH)
    }
}

/// A clock that only moves when told to: for tests and simulations.
///
/// Shared freely between threads; every reader sees the latest `set`/`advance`.
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: Timestamp) -> Self {
        Self(AtomicI64::new(start.as_unix_millis()))
    }

    /// Moves the clock to `to` (backwards too: tests of clock skew need it).
    pub fn set(&self, to: Timestamp) {
        self.0.store(to.as_unix_millis(), Ordering::SeqCst);
    }

    /// Moves the clock forward by `millis`, saturating at [`Timestamp::MAX`].
    pub fn advance_millis(&self, millis: u64) {
        let next = self
            .now()
            .checked_add_millis(millis)
            .unwrap_or(Timestamp::MAX);
        self.set(next);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix_millis(self.0.load(Ordering::SeqCst)).unwrap_or(Timestamp::UNIX_EPOCH)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_clock_is_after_2020() {
        assert!(SystemClock.now().as_unix_millis() > 1_577_836_800_000);
    }

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(Timestamp::from_unix_millis(1_000).unwrap());
        assert_eq!(clock.now().as_unix_millis(), 1_000);
        clock.advance_millis(500);
        assert_eq!(clock.now().as_unix_millis(), 1_500);
        clock.advance_millis(u64::MAX);
        assert_eq!(clock.now(), Timestamp::MAX);
    }
}
