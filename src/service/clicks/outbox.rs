//! The gateway side of the Redis click queue: a bounded in-process outbox the redirect drops
//! its event into (never waiting); the publisher in `worker::click_publisher` sends it to the
//! stream in batches, each exactly once (see `RedisClickStream::publish`).
//!
//! While Redis is down the outbox fills up to `capacity` events and the publisher retries the
//! same batch with a growing pause; events past the capacity are dropped and counted, so
//! redirects keep their speed and memory stays bounded however long the outage lasts.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use tokio::sync::Notify;

use crate::domain::{ClickEvent, InstanceId};

/// Events per published stream entry at most.
pub const PUBLISH_BATCH: usize = 1000;

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

    /// The next batch (at most [`PUBLISH_BATCH`] events), counted as in flight until
    /// [`Self::sent`].
    pub fn take_batch(&self) -> Vec<ClickEvent> {
        let mut queue = self.queue();
        let n = queue.len().min(PUBLISH_BATCH);
        self.in_flight.store(n, Ordering::Relaxed);
        queue.drain(..n).collect()
    }

    /// The batch taken last is in the stream: `events` more published, none in flight.
    pub fn sent(&self, events: usize) {
        self.in_flight.store(0, Ordering::Relaxed);
        self.published.fetch_add(events as u64, Ordering::Relaxed);
    }

    /// Counts a failed publish attempt (for the metrics).
    pub fn count_failure(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Events waiting and not yet taken.
    pub fn waiting(&self) -> usize {
        self.queue().len()
    }

    /// Resolves when a full batch has gathered.
    pub async fn batch_ready(&self) {
        self.wake.notified().await;
    }

    /// Who publishes: the stream keeps one mark per producer.
    pub fn producer(&self) -> InstanceId {
        self.producer
    }
}
