//! The memory click queue's loop: writes this process's click buffer to the store on the
//! interval (`clicks.flush_interval_ms`), sooner when the buffer asks for an early flush, and
//! once more at shutdown.

use std::time::Duration;

use tokio::sync::watch;

use crate::service::ClickFlusher;

/// Flushes on the interval and on the buffer's early-flush signal until `stop` turns true,
/// then flushes what is left, retrying a failing store a few times before giving up (and
/// saying how many codes' clicks were lost).
pub async fn run(flusher: ClickFlusher, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(flusher.interval()) => {}
            () = flusher.flush_requested() => {}
            _ = stop.wait_for(|stop| *stop) => break,
        }
        let report = flusher.flush().await;
        if report.failed > 0 {
            tracing::warn!(codes = report.failed, "click flush failed; will retry");
        }
    }
    // A code whose earlier write was unsettled at one flush goes out in the next, so an
    // empty buffer can take two successful flushes; failures get a few retries.
    let (mut failures, mut rounds) = (0u32, 0u32);
    while flusher.pending_codes() > 0 && failures < 5 && rounds < 10 {
        rounds += 1;
        if flusher.flush().await.failed > 0 {
            tokio::time::sleep(Duration::from_millis(200 << failures)).await;
            failures += 1;
        }
    }
    if flusher.pending_codes() > 0 {
        tracing::error!(
            codes = flusher.pending_codes(),
            "clicks lost at shutdown: storage unavailable"
        );
    }
}
