//! `url-shortener worker`: the background workers without the HTTP server.

use std::sync::Arc;

use anyhow::Context;
use tokio::sync::watch;

use crate::config::{ClickQueue, Settings};
use crate::domain::SystemClock;
use crate::metrics::Metrics;
use crate::repository::build_stores;

/// Runs the click processor (`clicks.queue = "redis"`) and the expiry sweeper until SIGTERM or
/// Ctrl-C, then lets them finish their current batch.
///
/// # Errors
/// When the settings ask for the memory queue (nothing to process from another process), or
/// the store or the queue cannot be reached.
pub async fn run_worker(settings: &Settings) -> anyhow::Result<()> {
    if settings.clicks.queue == ClickQueue::Memory {
        anyhow::bail!(
            "clicks.queue: `url-shortener worker` processes the Redis click queue; with \
             clicks.queue = \"memory\" every instance writes its own clicks"
        );
    }
    if !settings.workers.enabled {
        anyhow::bail!("workers.enabled: `url-shortener worker` with workers disabled runs nothing");
    }
    settings.validate()?;
    let _log_guard = crate::telemetry::init(&settings.log)?;
    let metrics = Metrics::new();
    let stores = build_stores(&settings.storage, &metrics).await?;
    let (stop, stopped) = watch::channel(false);
    let clock = Arc::new(SystemClock);
    let link_health = crate::service::link_health::build(
        settings,
        stores.link_health.clone(),
        stores.links.clone(),
        clock.clone(),
        &metrics,
    )
    .map_err(anyhow::Error::msg)?;
    let workers = crate::worker::start(
        settings,
        crate::worker::Parts {
            urls: None,
            repo: stores.links,
            sessions: Some(stores.accounts.sessions),
            clock,
            expired: None,
            link_health,
        },
        &stopped,
    )
    .await
    .context("cannot start the workers")?;
    tracing::info!(storage = ?settings.storage.backend, "url-shortener worker ready");
    crate::shutdown::signal().await;
    tracing::info!("shutdown requested; finishing the current batches");
    stop.send_replace(true);
    workers.join().await;
    tracing::info!("stopped");
    Ok(())
}
