//! `[links]` settings: generated codes, expiry policy, the redirect status and the form of
//! short URLs.

use serde::{Deserialize, Serialize};

use super::{ConfigError, TEN_YEARS_SECONDS};
use crate::domain::{MAX_GENERATED_LEN, MIN_GENERATED_LEN};

/// `[links]` settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinkSettings {
    /// `links.code_length`: length of generated codes, 4–32. Default 8.
    pub code_length: usize,
    /// `links.default_ttl_seconds`: expiry of links created without `ttl_seconds`; unset = never.
    pub default_ttl_seconds: Option<u64>,
    /// `links.max_ttl_seconds`: the largest `ttl_seconds` accepted. Default ten years.
    pub max_ttl_seconds: u64,
    /// `links.redirect_status`: 301, 302, 307 or 308. Default 302.
    pub redirect_status: u16,
    /// `links.short_url_prefix`: the form of `short_url` in answers, the UI and QR codes:
    /// `"/"` (`{base_url}/{code}`, the default) or `"/s/"` (`{base_url}/s/{code}`). Both
    /// paths redirect whatever this says.
    pub short_url_prefix: String,
    /// `links.forward_query`: whether links that do not say add the visitor's query string to
    /// their destination's (a key in both keeps the destination's value). Default false.
    pub forward_query: bool,
    /// `links.forward_path`: whether links that do not say append what follows `/{code}/` to
    /// their destination's path. Default false.
    pub forward_path: bool,
}

impl Default for LinkSettings {
    fn default() -> Self {
        Self {
            code_length: 8,
            default_ttl_seconds: None,
            max_ttl_seconds: TEN_YEARS_SECONDS,
            redirect_status: 302,
            short_url_prefix: "/".to_owned(),
            forward_query: false,
            forward_path: false,
        }
    }
}

impl LinkSettings {
    /// Checks the code length, the TTLs and the status.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first bad key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let len = self.code_length;
        if !(MIN_GENERATED_LEN..=MAX_GENERATED_LEN).contains(&len) {
            return Err(ConfigError::key(
                "links.code_length",
                format!("must be between {MIN_GENERATED_LEN} and {MAX_GENERATED_LEN}, got {len}"),
            ));
        }
        if self.max_ttl_seconds == 0 {
            return Err(ConfigError::key(
                "links.max_ttl_seconds",
                "must be at least 1",
            ));
        }
        if let Some(ttl) = self.default_ttl_seconds
            && !(1..=self.max_ttl_seconds).contains(&ttl)
        {
            return Err(ConfigError::key(
                "links.default_ttl_seconds",
                format!(
                    "must be between 1 and links.max_ttl_seconds ({})",
                    self.max_ttl_seconds
                ),
            ));
        }
        if ![301, 302, 307, 308].contains(&self.redirect_status) {
            return Err(ConfigError::key(
                "links.redirect_status",
                format!("must be 301, 302, 307 or 308, got {}", self.redirect_status),
            ));
        }
        if !SHORT_URL_PREFIXES.contains(&self.short_url_prefix.as_str()) {
            return Err(ConfigError::key(
                "links.short_url_prefix",
                format!("must be \"/\" or \"/s/\", got {:?}", self.short_url_prefix),
            ));
        }
        Ok(())
    }
}

/// The values `links.short_url_prefix` takes: the two paths that redirect.
const SHORT_URL_PREFIXES: &[&str] = &["/", "/s/"];
