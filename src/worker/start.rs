//! Starting one process's background work from its settings, and waiting for it to stop: the
//! click pipeline's loops (the memory queue's flusher, or the Redis queue's publisher and
//! processor) and the expiry sweeper. `url-shortener` runs them beside the server unless
//! `workers.enabled = false`; `url-shortener worker` runs the workers alone.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::StreamProcessor;
use crate::config::{ClickQueue, Settings};
use crate::domain::Clock;
use crate::repository::{RedisClickStream, RepoError, Repository, SessionStore};
use crate::service::link_health::LinkHealthService;
use crate::service::{ClickOutbox, ExpirationService, UrlService};

/// The loops one process started, by name.
#[derive(Default)]
pub struct Background(Vec<(&'static str, JoinHandle<()>)>);

impl Background {
    /// Waits for every loop to end (they end on the stop signal they were started with).
    pub async fn join(self) {
        for (name, handle) in self.0 {
            if let Err(error) = handle.await {
                tracing::error!(worker = name, %error, "background loop failed");
            }
        }
    }

    fn add(&mut self, name: &'static str, handle: JoinHandle<()>) {
        self.0.push((name, handle));
    }
}

/// What the background loops work on.
pub struct Parts {
    /// The serving process's service (its clicks are flushed or published); `None` in
    /// `url-shortener worker`, which answers no redirects.
    pub urls: Option<Arc<UrlService>>,
    /// The links.
    pub repo: Arc<dyn Repository>,
    /// Swept with the links.
    pub sessions: Option<Arc<dyn SessionStore>>,
    /// The clock of the sweeps and the processor.
    pub clock: Arc<dyn Clock>,
    /// Counts what the expiry sweep removes.
    pub expired: Option<Counter>,
    /// Checks destinations; `None`: link health is off.
    pub link_health: Option<Arc<LinkHealthService>>,
}

/// Starts the loops `settings` ask for over `parts`, each stopping when `stop` turns true.
///
/// # Errors
/// When the Redis of `clicks.redis_url` cannot be reached (the message names the key).
pub async fn start(
    settings: &Settings,
    parts: Parts,
    stop: &watch::Receiver<bool>,
) -> Result<Background, RepoError> {
    let Parts {
        urls,
        repo,
        sessions,
        clock,
        expired,
        link_health,
    } = parts;
    let urls = urls.as_ref();
    let clicks = &settings.clicks;
    let workers = settings.workers.enabled;
    let mut background = Background::default();
    match clicks.queue {
        ClickQueue::Memory => {
            if let Some(urls) = urls.filter(|_| workers) {
                let flusher = urls.click_flusher(Duration::from_millis(clicks.flush_interval_ms));
                background.add(
                    "click flusher",
                    tokio::spawn(super::click_flusher::run(flusher, stop.clone())),
                );
            }
        }
        ClickQueue::Redis => {
            let stream = RedisClickStream::connect(
                &clicks.redis_url,
                &clicks.redis_key_prefix,
                clicks.stream_max_len,
                Duration::from_millis(clicks.redis_timeout_ms),
            )
            .await
            .map_err(|e| {
                RepoError::Unavailable(format!(
                    "clicks.redis_url: cannot use {}: {e}",
                    crate::config::redact_password(&clicks.redis_url)
                ))
            })?;
            let stream = Arc::new(stream);
            // The processor stops after the publisher has sent the last requests' clicks, so
            // that it can write them before it exits.
            let mut processor_stop = stop.clone();
            if let Some(urls) = urls {
                let outbox = Arc::new(ClickOutbox::new(clicks.outbox_capacity));
                urls.use_click_outbox(outbox.clone());
                let publisher = tokio::spawn(super::click_publisher::run(
                    outbox.clone(),
                    stream.clone(),
                    stop.clone(),
                ));
                let (published, after_publisher) = watch::channel(false);
                processor_stop = after_publisher;
                let mut stopping = stop.clone();
                let relay = tokio::spawn(async move {
                    let _ = stopping.wait_for(|s| *s).await;
                    if let Err(error) = publisher.await {
                        tracing::error!(%error, "click publisher failed");
                    }
                    published.send_replace(true);
                });
                background.add("click publisher", relay);
            }
            if workers {
                let processor = StreamProcessor::new(
                    stream,
                    repo.clone(),
                    clock.clone(),
                    clicks.read_batch,
                    Duration::from_millis(clicks.flush_interval_ms),
                    Duration::from_millis(clicks.claim_idle_ms),
                );
                if let Some(urls) = urls {
                    urls.observe_processor(processor.stats());
                }
                tracing::info!(consumer = %processor.name(), "click processor started");
                background.add(
                    "click processor",
                    tokio::spawn(processor.run(processor_stop)),
                );
            }
        }
    }
    if workers {
        let mut sweeper = ExpirationService::new(
            repo,
            clock,
            Duration::from_secs(settings.expiration.interval_seconds),
            settings.expiration.batch_size,
        );
        if let Some(sessions) = sessions {
            sweeper = sweeper.sweeping_sessions(sessions);
        }
        if let Some(counter) = expired {
            sweeper = sweeper.count_removed_in(counter);
        }
        background.add(
            "expiration sweeper",
            tokio::spawn(super::expiry::run(sweeper, stop.clone())),
        );
        if let Some(health) = link_health {
            background.add(
                "link health checker",
                tokio::spawn(super::link_health::run(health, stop.clone())),
            );
        }
    }
    Ok(background)
}
