//! `LinkTier`: a cache shared by a fleet, between each instance's in-process cache and the
//! store (cache-aside). It holds what a redirect needs, never counters, and a short "no such
//! link" for unknown codes. Implemented over Redis (`cache.redis_url`).

use std::time::Duration;

use async_trait::async_trait;

use super::RepoError;
use crate::domain::{ShortCode, UrlRecord};

/// What the shared tier knows about a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tiered {
    /// The link, without its counters (zero).
    Link(UrlRecord),
    /// The store recently said there is no such link.
    Missing,
}

/// A cache shared by every instance. Failures are the caller's to ignore: a tier that does
/// not answer is skipped, never a reason to fail a request.
#[async_trait]
pub trait LinkTier: Send + Sync + 'static {
    /// What the tier holds for `code`, if anything.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`] when the tier is down or slow (it is then skipped for a
    /// moment without being asked).
    async fn get(&self, code: &ShortCode) -> Result<Option<Tiered>, RepoError>;

    /// Keeps `record` for `ttl` (which the caller ends no later than the link's expiry).
    ///
    /// # Errors
    /// [`RepoError::Unavailable`].
    async fn put(&self, record: &UrlRecord, ttl: Duration) -> Result<(), RepoError>;

    /// Remembers for `ttl` that `code` has no link.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`].
    async fn put_missing(&self, code: &ShortCode, ttl: Duration) -> Result<(), RepoError>;

    /// Forgets `code` (it was created, edited or deleted).
    ///
    /// # Errors
    /// [`RepoError::Unavailable`].
    async fn forget(&self, code: &ShortCode) -> Result<(), RepoError>;
}
