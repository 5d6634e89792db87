//! The click pipeline: what a redirect records, how it reaches storage, and what is counted.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64};

use crate::domain::ClickEvent;

mod buffer;
mod outbox;

pub use buffer::{ClickBuffer, ClickFlusher, FlushReport, PendingClicks, Unflushed};
pub use outbox::{ClickOutbox, PUBLISH_BATCH};

/// The click queue port: where a redirect puts its click. [`ClickQueue::push`] takes the event
/// at once and never waits on I/O; a loop in `worker/` carries it to the store. Two kinds,
/// chosen by `clicks.queue`: [`ClickBuffer`] (`"memory"`: this process folds and writes its
/// own clicks) and [`ClickOutbox`] (`"redis"`: a stream that processors anywhere in the fleet
/// write).
pub trait ClickQueue: Send + Sync {
    /// Takes one click, or drops and counts it when the queue is full.
    fn push(&self, event: ClickEvent);
}

impl ClickQueue for ClickBuffer {
    fn push(&self, event: ClickEvent) {
        self.record_event(&event);
    }
}

impl ClickQueue for ClickOutbox {
    fn push(&self, event: ClickEvent) {
        ClickOutbox::push(self, event);
    }
}

/// A process's click pipeline as its services see it, connected before they are built.
#[derive(Clone)]
pub struct ClickPipe {
    /// Where redirects put their clicks.
    pub queue: Arc<dyn ClickQueue>,
    /// This process's clicks not yet written, which reads add to the store's: the memory
    /// queue's buffer (empty with the Redis queue, whose clicks are in the store once written).
    pub buffer: Arc<ClickBuffer>,
    /// The Redis queue's outbox (for the metrics); `None` with the memory queue.
    pub outbox: Option<Arc<ClickOutbox>>,
    /// The counters of this process's stream processor, when it runs one.
    pub processor: Option<Arc<ProcessorStats>>,
}

impl ClickPipe {
    /// The memory queue: redirects put their clicks into `buffer`.
    pub fn memory(buffer: Arc<ClickBuffer>) -> Self {
        Self {
            queue: buffer.clone(),
            buffer,
            outbox: None,
            processor: None,
        }
    }
}

/// Counters of the click processor of the Redis queue (`worker::StreamProcessor`), read by
/// the metrics.
#[derive(Debug, Default)]
pub struct ProcessorStats {
    /// Batches written and acknowledged (read or claimed).
    pub batches: AtomicU64,
    /// Events in them.
    pub events: AtomicU64,
    /// Failed attempts to read, write or acknowledge.
    pub failures: AtomicU64,
    /// Batches taken over from processors that stopped answering.
    pub claimed: AtomicU64,
    /// Entries delivered and not acknowledged, group-wide, at the last look.
    pub pending: AtomicU64,
    /// Age in milliseconds of the oldest entry not yet acknowledged, at the last look (0 when
    /// caught up).
    pub lag_ms: AtomicI64,
}
