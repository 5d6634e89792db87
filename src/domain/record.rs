//! `UrlRecord`: one short link as stored.

use super::{LongUrl, ShortCode, Timestamp};

/// A short link and its counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlRecord {
    /// The code under `/s/{code}`: generated or an alias.
    pub short_code: ShortCode,
    /// Normalized destination.
    pub long_url: LongUrl,
    /// When the link was created.
    pub created_at: Timestamp,
    /// When the link stops resolving; `None` = never.
    pub expires_at: Option<Timestamp>,
    /// Redirects counted so far (as stored; buffered clicks are added by the service).
    pub click_count: u64,
    /// When the last counted click happened; `None` until the first.
    pub last_accessed_at: Option<Timestamp>,
    /// The user (id) the link belongs to; `None` for a link made anonymously or with an
    /// operator's key.
    pub owner: Option<String>,
}

impl UrlRecord {
    /// A new record with no clicks.
    pub fn new(
        short_code: ShortCode,
        long_url: LongUrl,
        created_at: Timestamp,
        expires_at: Option<Timestamp>,
    ) -> Self {
        Self {
            short_code,
            long_url,
            created_at,
            expires_at,
            click_count: 0,
            last_accessed_at: None,
            owner: None,
        }
    }

    /// The same record, belonging to `owner`.
    pub fn owned_by(mut self, owner: Option<String>) -> Self {
        self.owner = owner;
        self
    }

    /// Whether the link still resolves at `now`: served while `now < expires_at`.
    pub fn is_live_at(&self, now: Timestamp) -> bool {
        self.expires_at.is_none_or(|exp| now < exp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_is_live_until_the_instant_it_expires() {
        let at = |ms| Timestamp::from_unix_millis(ms).unwrap();
        let record = UrlRecord::new(
            ShortCode::parse("abc").unwrap(),
            LongUrl::from_trusted("https://example.com/".into()),
            at(0),
            Some(at(1_000)),
        );
        assert!(record.is_live_at(at(999)));
        assert!(!record.is_live_at(at(1_000)));
        assert!(!record.is_live_at(at(1_001)));
    }
}
