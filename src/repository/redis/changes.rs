//! `RedisChangeFeed`: [`LinkChangeFeed`] over Redis pub/sub on the channel
//! `{prefix}link-changes`, whose messages are short codes.
//!
//! Pub/sub delivers only to connected subscribers, so a listener that lost its connection may
//! have missed announcements: each time it (re)subscribes after the first, it reports "forget
//! everything" and the cache starts cold rather than stale.

use std::time::Duration;

use futures_util::StreamExt;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use tokio::sync::watch;

use super::{connection_manager, unavailable};
use crate::domain::ShortCode;
use crate::repository::{LinkChangeFeed, RepoError};

/// Wait between attempts to reach a Redis that is down.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// Link changes announced and heard through Redis.
pub struct RedisChangeFeed {
    client: redis::Client,
    publisher: ConnectionManager,
    channel: String,
}

impl RedisChangeFeed {
    /// Connects to `url`; announcements go to `{prefix}link-changes`.
    ///
    /// # Errors
    /// When the URL is invalid or Redis cannot be reached within `timeout`.
    pub async fn connect(url: &str, prefix: &str, timeout: Duration) -> Result<Self, RepoError> {
        Ok(Self {
            client: redis::Client::open(url).map_err(unavailable)?,
            publisher: connection_manager(url, timeout)
                .await
                .map_err(unavailable)?,
            channel: format!("{prefix}link-changes"),
        })
    }

    /// Listens until `shutdown` turns true, calling `on_change(Some(code))` for each
    /// announced code and `on_change(None)` ("forget everything") after a reconnection; a lost
    /// connection is retried every second. `worker::link_changes` runs it.
    pub async fn listen(
        &self,
        on_change: impl Fn(Option<ShortCode>),
        mut shutdown: watch::Receiver<bool>,
    ) {
        let (client, channel) = (&self.client, &self.channel);
        let mut subscribed_before = false;
        loop {
            match client.get_async_pubsub().await {
                Ok(mut pubsub) => match pubsub.subscribe(channel).await {
                    Ok(()) => {
                        if subscribed_before {
                            on_change(None);
                        }
                        subscribed_before = true;
                        let mut messages = pubsub.into_on_message();
                        loop {
                            tokio::select! {
                                message = messages.next() => match message {
                                    Some(message) => {
                                        let code = message
                                            .get_payload::<String>()
                                            .ok()
                                            .and_then(|c| ShortCode::parse(&c).ok());
                                        if code.is_some() {
                                            on_change(code);
                                        }
                                    }
                                    None => break,
                                },
                                _ = shutdown.wait_for(|stop| *stop) => return,
                            }
                        }
                        tracing::warn!("lost the link-change subscription; reconnecting");
                    }
                    Err(error) => tracing::warn!(%error, "cannot subscribe to link changes"),
                },
                Err(error) => tracing::warn!(%error, "cannot reach Redis for link changes"),
            }
            tokio::select! {
                () = tokio::time::sleep(RECONNECT_AFTER) => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
        }
    }
}

impl LinkChangeFeed for RedisChangeFeed {
    fn announce(&self, code: &ShortCode) {
        let (mut publisher, channel, code) = (
            self.publisher.clone(),
            self.channel.clone(),
            code.to_string(),
        );
        tokio::spawn(async move {
            let sent: redis::RedisResult<i64> = publisher.publish(&channel, &code).await;
            if let Err(error) = sent {
                tracing::warn!(%error, code, "could not announce a link change");
            }
        });
    }
}
