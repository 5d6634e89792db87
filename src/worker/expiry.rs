//! The expiry sweep's loop: on a jittered interval (`expiration.interval_seconds` ±20%), deletes
//! expired links and then expired login sessions, in bounded batches.

use tokio::sync::watch;

use crate::service::ExpirationService;

/// Runs sweeps until `stop` turns true (or its sender is dropped). A sweep in progress
/// finishes its current batch first; a failed sweep is logged and tried again next time.
pub async fn run(sweeper: ExpirationService, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(sweeper.next_delay()) => {}
            _ = stop.wait_for(|stop| *stop) => break,
        }
        match sweeper.sweep().await {
            Ok(0) => tracing::debug!("expiration sweep removed nothing"),
            Ok(removed) => {
                tracing::info!(removed, "expiration sweep removed expired links")
            }
            Err(error) => tracing::warn!(%error, "expiration sweep failed; will retry"),
        }
        match sweeper.sweep_sessions().await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "removed expired sessions"),
            Err(error) => tracing::warn!(%error, "session sweep failed; will retry"),
        }
    }
    tracing::debug!("expiration sweeper stopped");
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::domain::{LongUrl, ManualClock, ShortCode, Timestamp, UrlRecord};
    use crate::repository::{MemoryRepository, Repository};

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_unix_millis(ms).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn the_loop_sweeps_on_its_interval_and_stops_on_shutdown() {
        let repo = Arc::new(MemoryRepository::new());
        for (code, expires) in [("soon", Some(5_000)), ("forever", None)] {
            let record = UrlRecord::new(
                ShortCode::parse(code).unwrap(),
                LongUrl::from_trusted("https://example.com/".into()),
                at(0),
                expires.map(at),
            );
            repo.save(&record).await.unwrap();
        }
        let clock = Arc::new(ManualClock::new(at(0)));
        let (stop, stopped) = watch::channel(false);
        let sweeper =
            ExpirationService::new(repo.clone(), clock.clone(), Duration::from_secs(60), 10);
        let task = tokio::spawn(run(sweeper, stopped));

        // Nothing has expired at the first sweep (≤ 72 s in).
        tokio::time::sleep(Duration::from_secs(75)).await;
        assert_eq!(repo.len(), 2);

        clock.set(at(10_000));
        tokio::time::sleep(Duration::from_secs(150)).await;
        assert_eq!(repo.len(), 1);

        stop.send(true).unwrap();
        task.await.unwrap();
    }
}
