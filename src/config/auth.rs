//! `[auth]` settings: anonymous creates and API keys.

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// `[auth]` settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// `auth.anonymous_create`: `POST /shorten` (and the create form) work without an API key
    /// or a session; the link then has no owner. Default true (local use); set false in
    /// production.
    pub anonymous_create: Option<bool>,
    /// `auth.require_api_key`: the former name of `auth.anonymous_create = false`, still read.
    pub require_api_key: Option<bool>,
    /// `auth.max_keys_per_user`: live (unrevoked) API keys one user may hold at once; a create
    /// past it answers `409 too_many_keys`. Default 20.
    pub max_keys_per_user: usize,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            anonymous_create: None,
            require_api_key: None,
            max_keys_per_user: 20,
        }
    }
}

impl AuthSettings {
    /// Whether creates without credentials are allowed: `anonymous_create`, else the negation
    /// of the old `require_api_key`, else true.
    pub fn anonymous_create(&self) -> bool {
        self.anonymous_create
            .or(self.require_api_key.map(|required| !required))
            .unwrap_or(true)
    }

    /// Checks the key cap and that the old and new names do not contradict each other.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the bad key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=1_000).contains(&self.max_keys_per_user) {
            return Err(ConfigError::key(
                "auth.max_keys_per_user",
                "must be between 1 and 1000",
            ));
        }
        match (self.anonymous_create, self.require_api_key) {
            (Some(anonymous), Some(required)) if anonymous == required => Err(ConfigError::key(
                "auth.anonymous_create",
                "contradicts auth.require_api_key (its former name); set only auth.anonymous_create",
            )),
            _ => Ok(()),
        }
    }
}
