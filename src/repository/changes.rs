//! `LinkChangeFeed`: how an instance tells the others that a link was edited or deleted, so
//! they drop their cached copies before their cache entries would end on their own.

use crate::domain::ShortCode;

/// A fleet-wide announcement of changed links. Implemented over Redis pub/sub; without one,
/// other instances notice a change when their cache entry ends (`cache.ttl_seconds`).
pub trait LinkChangeFeed: Send + Sync + 'static {
    /// Tells every instance that `code` changed. Best effort and never blocks: the caller
    /// has already changed the store and its own cache.
    fn announce(&self, code: &ShortCode);
}
