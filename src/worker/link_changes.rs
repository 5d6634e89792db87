//! The change-feed listener: with a Redis (the store's or the cache tier's), each instance
//! hears the others' edits and deletes and drops those codes from its own link cache at once.

use std::sync::Arc;

use tokio::sync::watch;

use crate::repository::RedisChangeFeed;
use crate::service::LinkCache;

/// Listens on `feed` until `stop` turns true, forgetting each announced code in `cache`, and
/// the whole cache after a reconnection (announcements may have been missed meanwhile).
pub async fn run(feed: Arc<RedisChangeFeed>, cache: Arc<LinkCache>, stop: watch::Receiver<bool>) {
    feed.listen(
        move |code| match code {
            Some(code) => cache.forget(&code),
            None => cache.clear(),
        },
        stop,
    )
    .await;
}
