//! `[expiration]` settings: the background sweep that deletes expired links.

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// `[expiration]` settings: the background sweep that deletes expired links.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExpirationSettings {
    /// `expiration.interval_seconds`: average time between sweeps (each instance adds ±20%
    /// jitter). Default 300.
    pub interval_seconds: u64,
    /// `expiration.batch_size`: links deleted per storage call. Default 1000.
    pub batch_size: usize,
}

impl Default for ExpirationSettings {
    fn default() -> Self {
        Self {
            interval_seconds: 300,
            batch_size: 1_000,
        }
    }
}

impl ExpirationSettings {
    /// Checks the interval and the batch.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first bad key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.interval_seconds == 0 {
            return Err(ConfigError::key(
                "expiration.interval_seconds",
                "must be at least 1",
            ));
        }
        if self.batch_size == 0 {
            return Err(ConfigError::key(
                "expiration.batch_size",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}
