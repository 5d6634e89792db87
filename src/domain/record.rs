//! `UrlRecord`: one short link as stored.

use super::{LongUrl, Routing, ShortCode, Timestamp};

/// A short link and its counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlRecord {
    /// The code under `/{code}` and `/s/{code}`: generated or an alias.
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
    /// Set while an administrator has disabled the link: it answers 404 like an unknown one,
    /// keeps its code, clicks and owner, and can be enabled again.
    pub disabled_at: Option<Timestamp>,
    /// Where the link sends each visitor beyond `long_url` (plain by default).
    pub routing: Routing,
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
            disabled_at: None,
            routing: Routing::default(),
        }
    }

    /// The same record, belonging to `owner`.
    pub fn owned_by(mut self, owner: Option<String>) -> Self {
        self.owner = owner;
        self
    }

    /// The same record, with `routing`.
    pub fn routed(mut self, routing: Routing) -> Self {
        self.routing = routing;
        self
    }

    /// Whether the link resolves at `now`: not disabled, and served while `now < expires_at`.
    pub fn is_live_at(&self, now: Timestamp) -> bool {
        self.disabled_at.is_none() && !self.has_expired_at(now)
    }

    /// Whether the link's expiry has passed at `now` (whether or not it is disabled).
    pub fn has_expired_at(&self, now: Timestamp) -> bool {
        self.expires_at.is_some_and(|exp| now >= exp)
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
        assert!(record.has_expired_at(at(1_000)) && !record.has_expired_at(at(999)));
    }

    #[test]
    fn a_disabled_link_does_not_resolve_whatever_its_expiry() {
        let at = |ms| Timestamp::from_unix_millis(ms).unwrap();
        let mut record = UrlRecord::new(
            ShortCode::parse("abc").unwrap(),
            LongUrl::from_trusted("https://example.com/".into()),
            at(0),
            None,
        );
        record.disabled_at = Some(at(5));
        assert!(!record.is_live_at(at(10)));
        assert!(!record.has_expired_at(at(10)));
    }
}
