//! `[security]` settings: the destination policy.

use serde::{Deserialize, Serialize};

/// `[security]` settings.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecuritySettings {
    /// `security.allow_private_destinations`: accept loopback, private and other non-global
    /// destinations (intranets, tests). Default false.
    pub allow_private_destinations: bool,
}
