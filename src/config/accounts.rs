//! `[accounts]` settings: who may sign up, and how long sessions and invites live.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ConfigError;
use crate::domain::SessionLifetime;

/// Who may create an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Signup {
    /// Only the operator (`url-shortener user create`) and admins.
    Closed,
    /// Also whoever holds an admin's one-time invite link (the default).
    #[default]
    Invite,
    /// Anyone may register a user name.
    Open,
}

/// `[accounts]` settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountSettings {
    /// `accounts.signup`: `closed`, `invite` or `open`. Default `invite`.
    pub signup: Signup,
    /// `accounts.session_idle_minutes`: a session unused this long ends. Default 10080 (7 days).
    pub session_idle_minutes: u64,
    /// `accounts.session_absolute_days`: a session ends this long after login, however much
    /// it is used. Default 30.
    pub session_absolute_days: u64,
    /// `accounts.invite_ttl_hours`: how long an invite link can be used. Default 168 (7 days).
    pub invite_ttl_hours: u64,
    /// `accounts.max_concurrent_hashes`: password hashes (argon2id, 19 MiB each) this process
    /// runs at once, for logins, signups and password changes together. Default 0: twice the
    /// CPUs it may use.
    pub max_concurrent_hashes: usize,
    /// `accounts.hash_wait_ms`: how long a request waits for a free hashing slot before it is
    /// answered `503` with `Retry-After`. Default 1000.
    pub hash_wait_ms: u64,
}

impl Default for AccountSettings {
    fn default() -> Self {
        Self {
            signup: Signup::default(),
            session_idle_minutes: 7 * 24 * 60,
            session_absolute_days: 30,
            invite_ttl_hours: 7 * 24,
            max_concurrent_hashes: 0,
            hash_wait_ms: 1_000,
        }
    }
}

/// Ten years: longer lifetimes are refused rather than overflowing anything.
const MAX_MINUTES: u64 = 10 * 366 * 24 * 60;

impl AccountSettings {
    /// How long sessions live.
    pub fn session_lifetime(&self) -> SessionLifetime {
        SessionLifetime {
            idle: Duration::from_secs(self.session_idle_minutes * 60),
            absolute: Duration::from_secs(self.session_absolute_days * 24 * 60 * 60),
        }
    }

    /// How long invites can be used.
    pub fn invite_ttl(&self) -> Duration {
        Duration::from_secs(self.invite_ttl_hours * 60 * 60)
    }

    /// Checks every key's range.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first key out of range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (key, minutes) in [
            ("accounts.session_idle_minutes", self.session_idle_minutes),
            (
                "accounts.session_absolute_days",
                self.session_absolute_days.saturating_mul(24 * 60),
            ),
            (
                "accounts.invite_ttl_hours",
                self.invite_ttl_hours.saturating_mul(60),
            ),
        ] {
            if minutes == 0 || minutes > MAX_MINUTES {
                return Err(ConfigError::key(
                    key,
                    "must be at least 1 and at most ten years",
                ));
            }
        }
        if self.max_concurrent_hashes > 1_024 {
            return Err(ConfigError::key(
                "accounts.max_concurrent_hashes",
                "must be at most 1024 (0 = twice the CPUs)",
            ));
        }
        if !(1..=60_000).contains(&self.hash_wait_ms) {
            return Err(ConfigError::key(
                "accounts.hash_wait_ms",
                "must be between 1 and 60000",
            ));
        }
        Ok(())
    }
}
