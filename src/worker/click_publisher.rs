//! The gateway side of the Redis click queue: sends the outbox the redirects drop their events
//! into to the stream, in batches, each exactly once (see `RedisClickStream::publish`), and
//! what is left at shutdown.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::domain::ClickEvent;
use crate::repository::RedisClickStream;
use crate::service::{ClickOutbox, PUBLISH_BATCH};

/// How often a quiet outbox is looked at: the longest an event waits before it is sent.
const PUBLISH_INTERVAL: Duration = Duration::from_millis(20);

/// The longest pause between attempts while Redis is down.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Publishes `outbox` to `stream` until `stop` turns true, then sends what is left (a few more
/// attempts if Redis is down, then says how many events were lost).
pub async fn run(
    outbox: Arc<ClickOutbox>,
    stream: Arc<RedisClickStream>,
    mut stop: watch::Receiver<bool>,
) {
    let producer = outbox.producer().get();
    let mut seq = 0u64;
    let mut backoff = PUBLISH_INTERVAL;
    // A batch that failed is sent again unchanged, same seq, until it is in.
    let mut unsent: Option<(u64, Vec<ClickEvent>)> = None;
    loop {
        if unsent.is_none() {
            // A full batch goes at once; anything less waits for the interval (or for the
            // batch to fill). Publishing whatever had arrived as soon as the last publish
            // returned sent a few events per XADD: at 20,000 redirects a second that was
            // thousands of scripts a second, Redis took half a core and the redirect with the
            // Redis queue ran at 0.4x the memory queue.
            if outbox.waiting() < PUBLISH_BATCH {
                tokio::select! {
                    () = tokio::time::sleep(PUBLISH_INTERVAL) => {}
                    () = outbox.batch_ready() => {}
                    _ = stop.wait_for(|s| *s) => break,
                }
            }
            let batch = outbox.take_batch();
            if batch.is_empty() {
                continue;
            }
            seq += 1;
            unsent = Some((seq, batch));
        }
        let Some((batch_seq, batch)) = &unsent else {
            continue;
        };
        match stream.publish(producer, *batch_seq, batch).await {
            Ok(_) => {
                outbox.sent(batch.len());
                unsent = None;
                backoff = PUBLISH_INTERVAL;
            }
            Err(e) => {
                outbox.count_failure();
                tracing::warn!(error = %e, events = batch.len(), "click publish failed; will retry");
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    _ = stop.wait_for(|s| *s) => break,
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
    // Shutdown: the server has drained, so the outbox holds the last requests' clicks.
    let mut attempts = 0u32;
    loop {
        let (batch_seq, batch) = match unsent.take() {
            Some(unsent) => unsent,
            None => {
                let batch = outbox.take_batch();
                if batch.is_empty() {
                    break;
                }
                seq += 1;
                (seq, batch)
            }
        };
        match stream.publish(producer, batch_seq, &batch).await {
            Ok(_) => outbox.sent(batch.len()),
            Err(_) if attempts < 5 => {
                attempts += 1;
                unsent = Some((batch_seq, batch));
                tokio::time::sleep(Duration::from_millis(200 << attempts)).await;
            }
            Err(e) => {
                let lost = outbox.len();
                tracing::error!(error = %e, events = lost, "clicks lost at shutdown: the click queue is unavailable");
                break;
            }
        }
    }
}
