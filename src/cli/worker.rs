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
    let workers = crate::worker::start(
        settings,
        None,
        stores.links,
        Some(stores.accounts.sessions),
        Arc::new(SystemClock),
        None,
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
