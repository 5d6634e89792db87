//! Link health: what one check of a destination found, and the rule that turns a run of
//! failures into `broken` (DESIGN §11).
//!
//! A check is one of [`CheckOutcome`]; a link's [`LinkHealthState`] folds its checks with
//! [`LinkHealthState::apply`]. Only a run of failures spanning time makes a link broken, so one
//! bad night of a destination's server never marks it: [`BrokenRule`] says how many failures
//! over how long. `refused` (a bot wall: 403, 429, 999) is neither a failure nor a success: the
//! destination answers people, it only turns our checker away.

use super::Timestamp;

/// What one check of a destination found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckOutcome {
    /// A 2xx answer at the destination itself.
    Ok,
    /// A 2xx answer after redirects to another URL.
    Redirected,
    /// 4xx other than the bot walls (404, 410, …), or too many redirects.
    ClientError,
    /// 5xx.
    ServerError,
    /// No answer within the time limit.
    Timeout,
    /// The name does not resolve.
    Dns,
    /// The TLS handshake failed (expired or mismatched certificate, no common protocol).
    Tls,
    /// The destination, or a redirect hop, is at an address the creation rules forbid: the
    /// checker opened no connection to it.
    Blocked,
    /// A bot wall (403, 429, 999): the site is up and refuses automated checks.
    Refused,
}

impl CheckOutcome {
    /// Every outcome, for metrics.
    pub const ALL: [CheckOutcome; 9] = [
        CheckOutcome::Ok,
        CheckOutcome::Redirected,
        CheckOutcome::ClientError,
        CheckOutcome::ServerError,
        CheckOutcome::Timeout,
        CheckOutcome::Dns,
        CheckOutcome::Tls,
        CheckOutcome::Blocked,
        CheckOutcome::Refused,
    ];

    /// The name in the API, stores and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckOutcome::Ok => "ok",
            CheckOutcome::Redirected => "redirected",
            CheckOutcome::ClientError => "client_error",
            CheckOutcome::ServerError => "server_error",
            CheckOutcome::Timeout => "timeout",
            CheckOutcome::Dns => "dns",
            CheckOutcome::Tls => "tls",
            CheckOutcome::Blocked => "blocked",
            CheckOutcome::Refused => "refused",
        }
    }

    /// The outcome named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == name)
    }

    /// Whether the destination works for people.
    pub fn is_success(self) -> bool {
        matches!(self, CheckOutcome::Ok | CheckOutcome::Redirected)
    }

    /// Whether it counts toward `broken`.
    pub fn is_failure(self) -> bool {
        !self.is_success() && self != CheckOutcome::Refused
    }
}

/// One check of a link's destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkCheck {
    /// When it finished.
    pub at: Timestamp,
    /// What it found.
    pub outcome: CheckOutcome,
    /// The last HTTP status seen, if an answer came.
    pub http_status: Option<u16>,
    /// How long it took, in milliseconds.
    pub duration_ms: u32,
}

/// How many failures over how long make a link broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokenRule {
    /// Failures in a row (`link_health.failures_for_broken`).
    pub failures: u32,
    /// The least time from the first of them to the last, in milliseconds.
    pub span_ms: i64,
}

impl Default for BrokenRule {
    fn default() -> Self {
        Self {
            failures: 3,
            span_ms: 24 * 60 * 60 * 1000,
        }
    }
}

/// The summary of a link's checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkHealthState {
    /// The latest check, if any.
    pub last: Option<LinkCheck>,
    /// Failures since the last success.
    pub failures: u32,
    /// When the first of them happened.
    pub failing_since: Option<Timestamp>,
    /// When the link became broken; `None` while it is not.
    pub broken_since: Option<Timestamp>,
}

/// What [`LinkHealthState::status`] calls a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkHealthStatus {
    /// Never checked yet.
    Unchecked,
    /// The latest check that told anything succeeded.
    Healthy,
    /// Failing, not (yet) for long enough to be broken.
    Failing,
    /// Failed [`BrokenRule::failures`] times over at least [`BrokenRule::span_ms`].
    Broken,
}

impl LinkHealthStatus {
    /// The name in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkHealthStatus::Unchecked => "unchecked",
            LinkHealthStatus::Healthy => "healthy",
            LinkHealthStatus::Failing => "failing",
            LinkHealthStatus::Broken => "broken",
        }
    }
}

impl LinkHealthState {
    /// The state after `check`: a success clears everything; a failure extends the run and
    /// makes the link broken once the run meets `rule`; `refused` changes only `last`.
    pub fn apply(&mut self, check: LinkCheck, rule: BrokenRule) {
        let at = check.at;
        if check.outcome.is_success() {
            self.failures = 0;
            self.failing_since = None;
            self.broken_since = None;
        } else if check.outcome.is_failure() {
            self.failures = self.failures.saturating_add(1);
            let since = *self.failing_since.get_or_insert(at);
            if self.broken_since.is_none()
                && self.failures >= rule.failures
                && at.as_unix_millis() - since.as_unix_millis() >= rule.span_ms
            {
                self.broken_since = Some(at);
            }
        }
        self.last = Some(check);
    }

    /// What to call the link.
    pub fn status(&self) -> LinkHealthStatus {
        if self.broken_since.is_some() {
            LinkHealthStatus::Broken
        } else if self.failures > 0 {
            LinkHealthStatus::Failing
        } else if self.last.is_some() {
            LinkHealthStatus::Healthy
        } else {
            LinkHealthStatus::Unchecked
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 60 * 60 * 1000;

    fn check(hours: i64, outcome: CheckOutcome) -> LinkCheck {
        LinkCheck {
            at: Timestamp::from_unix_millis(1_700_000_000_000 + hours * HOUR).unwrap(),
            outcome,
            http_status: None,
            duration_ms: 5,
        }
    }

    #[test]
    fn three_failures_within_a_day_are_failing_not_broken() {
        let mut state = LinkHealthState::default();
        for h in [0, 1, 2, 3] {
            state.apply(check(h, CheckOutcome::ServerError), BrokenRule::default());
        }
        assert_eq!(state.status(), LinkHealthStatus::Failing);
        assert_eq!(state.failures, 4);
    }

    #[test]
    fn failures_spanning_a_day_make_it_broken_and_one_success_clears_it() {
        let rule = BrokenRule::default();
        let mut state = LinkHealthState::default();
        state.apply(check(0, CheckOutcome::Timeout), rule);
        state.apply(check(12, CheckOutcome::Dns), rule);
        assert_eq!(state.status(), LinkHealthStatus::Failing);
        state.apply(check(24, CheckOutcome::ClientError), rule);
        assert_eq!(state.status(), LinkHealthStatus::Broken);
        let since = state.broken_since;
        state.apply(check(48, CheckOutcome::ClientError), rule);
        assert_eq!(state.broken_since, since, "broken since the first time");
        state.apply(check(49, CheckOutcome::Redirected), rule);
        assert_eq!(state.status(), LinkHealthStatus::Healthy);
        assert_eq!(state.failing_since, None);
    }

    #[test]
    fn a_bot_wall_neither_fails_nor_clears() {
        let rule = BrokenRule::default();
        let mut state = LinkHealthState::default();
        state.apply(check(0, CheckOutcome::Refused), rule);
        assert_eq!(state.status(), LinkHealthStatus::Healthy);
        state.apply(check(1, CheckOutcome::ServerError), rule);
        state.apply(check(30, CheckOutcome::Refused), rule);
        assert_eq!(state.failures, 1);
        assert_eq!(state.status(), LinkHealthStatus::Failing);
    }

    #[test]
    fn outcome_names_round_trip() {
        for outcome in CheckOutcome::ALL {
            assert_eq!(CheckOutcome::parse(outcome.as_str()), Some(outcome));
        }
    }
}
