//! Starting one process's background work from its settings, and waiting for it to stop: the
//! click pipeline's loops (the memory queue's flusher, or the Redis queue's publisher and
//! processor), the expiry sweeper, the link-health checker and the change-feed listener.
//! `url-shortener` runs them beside the server unless `workers.enabled = false` (the publisher
//! and the listener serve the server and always run); `url-shortener worker` runs the workers
//! alone.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{ClickPipeline, StreamProcessor};
use crate::config::Settings;
use crate::domain::Clock;
use crate::repository::{RedisChangeFeed, Repository, SessionStore};
use crate::service::link_health::LinkHealthService;
use crate::service::{ClickFlusher, ExpirationService, LinkCache};

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
    /// The click pipeline, connected (its pipe is in the serving process's services).
    pub clicks: ClickPipeline,
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
    /// Other instances' link changes, and the cache they are dropped from; `None`: no feed.
    pub changes: Option<(Arc<RedisChangeFeed>, Arc<LinkCache>)>,
}

/// Starts the loops `settings` ask for over `parts`, each stopping when `stop` turns true.
pub fn start(settings: &Settings, parts: Parts, stop: &watch::Receiver<bool>) -> Background {
    let Parts {
        clicks: pipeline,
        repo,
        sessions,
        clock,
        expired,
        link_health,
        changes,
    } = parts;
    let clicks = &settings.clicks;
    let workers = settings.workers.enabled;
    let mut background = Background::default();
    match &pipeline.stream {
        None => {
            if pipeline.serving && workers {
                let flusher = ClickFlusher::new(
                    pipeline.pipe.buffer.clone(),
                    repo.clone(),
                    clock.clone(),
                    Duration::from_millis(clicks.flush_interval_ms),
                );
                background.add(
                    "click flusher",
                    tokio::spawn(super::click_flusher::run(flusher, stop.clone())),
                );
            }
        }
        Some(stream) => {
            // The processor stops after the publisher has sent the last requests' clicks, so
            // that it can write them before it exits.
            let mut processor_stop = stop.clone();
            if let Some(outbox) = &pipeline.pipe.outbox {
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
            if let Some(stats) = pipeline.pipe.processor.clone().filter(|_| workers) {
                let processor = StreamProcessor::new(
                    stream.clone(),
                    repo.clone(),
                    clock.clone(),
                    clicks.read_batch,
                    Duration::from_millis(clicks.flush_interval_ms),
                    Duration::from_millis(clicks.claim_idle_ms),
                )
                .counting_in(stats);
                tracing::info!(consumer = %processor.name(), "click processor started");
                background.add(
                    "click processor",
                    tokio::spawn(processor.run(processor_stop)),
                );
            }
        }
    }
    if let Some((feed, cache)) = changes {
        background.add(
            "link-change listener",
            tokio::spawn(super::link_changes::run(feed, cache, stop.clone())),
        );
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
    background
}
