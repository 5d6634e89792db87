//! The gateway side of the Redis click queue: a bounded in-process outbox the redirect drops
//! its event into (never waiting), and a publisher that sends the outbox to the stream in
//! batches, each exactly once (see [`RedisClickStream::publish`]).
//!
//! While Redis is down the outbox fills up to `capacity` events and the publisher retries the
//! same batch with a growing pause; events past the capacity are dropped and counted, so
//! redirects keep their speed and memory stays bounded however long the outage lasts.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::domain::{ClickEvent, InstanceId};
use crate::repository::RedisClickStream;

/// Events per published stream entry at most.
pub const PUBLISH_BATCH: usize = 1000;

/// How often a quiet outbox is looked at: the longest an event waits before it is sent.
const PUBLISH_INTERVAL: Duration = Duration::from_millis(20);

/// The longest pause between attempts while Redis is down.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Events waiting to be published.
pub struct ClickOutbox {
    queue: Mutex<VecDeque<ClickEvent>>,
    /// Events of the batch the publisher is sending (out of `queue`, still held).
    in_flight: AtomicUsize,
    capacity: usize,
    dropped: AtomicU64,
    published: AtomicU64,
    failures: AtomicU64,
    wake: Notify,
    producer: InstanceId,
}

impl ClickOutbox {
    /// An outbox holding at most `capacity` events.
    pub fn new(capacity: usize) -> Self {
        Self {
            queue: Mutex::new(VecDeque::new()),
            in_flight: AtomicUsize::new(0),
            capacity: capacity.max(1),
            dropped: AtomicU64::new(0),
            published: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            wake: Notify::new(),
            producer: InstanceId::random(),
        }
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, VecDeque<ClickEvent>> {
        // Plain data: a panic elsewhere cannot leave the queue half-changed.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues one event, or drops and counts it when the outbox is full. Never waits on I/O.
    pub fn push(&self, event: ClickEvent) {
        let mut queue = self.queue();
        if queue.len() + self.in_flight.load(Ordering::Relaxed) >= self.capacity {
            drop(queue);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        queue.push_back(event);
        let full_batch = queue.len() == PUBLISH_BATCH;
        drop(queue);
        if full_batch {
            self.wake.notify_one();
        }
    }

    /// Events waiting, the batch being sent included.
    pub fn len(&self) -> usize {
        self.queue().len() + self.in_flight.load(Ordering::Relaxed)
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Events dropped because the outbox was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Events published, and failed publish attempts.
    pub fn published(&self) -> (u64, u64) {
        (
            self.published.load(Ordering::Relaxed),
            self.failures.load(Ordering::Relaxed),
        )
    }

    /// The next batch, counted as in flight until [`Self::sent`].
    fn take(&self) -> Vec<ClickEvent> {
        let mut queue = self.queue();
        let n = queue.len().min(PUBLISH_BATCH);
        self.in_flight.store(n, Ordering::Relaxed);
        queue.drain(..n).collect()
    }

    fn sent(&self, events: usize) {
        self.in_flight.store(0, Ordering::Relaxed);
        self.published.fetch_add(events as u64, Ordering::Relaxed);
    }

    /// Publishes to `stream` until `stop` turns true, then sends what is left (a few more
    /// attempts if Redis is down, then says how many events were lost).
    pub fn spawn_publisher(
        self: Arc<Self>,
        stream: Arc<RedisClickStream>,
        mut stop: watch::Receiver<bool>,
    ) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut seq = 0u64;
            let mut backoff = PUBLISH_INTERVAL;
            // A batch that failed is sent again unchanged, same seq, until it is in.
            let mut unsent: Option<(u64, Vec<ClickEvent>)> = None;
            loop {
                if unsent.is_none() {
                    // A full batch goes at once; anything less waits for the interval (or
                    // for the batch to fill). Publishing whatever had arrived as soon as the
                    // last publish returned sent a few events per XADD: at 20,000 redirects
                    // a second that was thousands of scripts a second, Redis took half a core
                    // and the redirect with the Redis queue ran at 0.4x the memory queue.
                    if self.queue().len() < PUBLISH_BATCH {
                        tokio::select! {
                            () = tokio::time::sleep(PUBLISH_INTERVAL) => {}
                            () = self.wake.notified() => {}
                            _ = stop.wait_for(|s| *s) => break,
                        }
                    }
                    let batch = self.take();
                    if batch.is_empty() {
                        continue;
                    }
                    seq += 1;
                    unsent = Some((seq, batch));
                }
                let Some((batch_seq, batch)) = &unsent else {
                    continue;
                };
                match stream.publish(self.producer.get(), *batch_seq, batch).await {
                    Ok(_) => {
                        self.sent(batch.len());
                        unsent = None;
                        backoff = PUBLISH_INTERVAL;
                    }
                    Err(e) => {
                        self.failures.fetch_add(1, Ordering::Relaxed);
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
                        let batch = self.take();
                        if batch.is_empty() {
                            break;
                        }
                        seq += 1;
                        (seq, batch)
                    }
                };
                match stream.publish(self.producer.get(), batch_seq, &batch).await {
                    Ok(_) => self.sent(batch.len()),
                    Err(_) if attempts < 5 => {
                        attempts += 1;
                        unsent = Some((batch_seq, batch));
                        tokio::time::sleep(Duration::from_millis(200 << attempts)).await;
                    }
                    Err(e) => {
                        let lost = self.len();
                        tracing::error!(error = %e, events = lost, "clicks lost at shutdown: the click queue is unavailable");
                        break;
                    }
                }
            }
        })
    }
}
