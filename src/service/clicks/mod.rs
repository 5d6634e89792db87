//! The click pipeline: what a redirect records, how it reaches storage, and what is counted.

use std::sync::atomic::{AtomicI64, AtomicU64};

mod buffer;
mod outbox;

pub use buffer::{ClickBuffer, ClickFlusher, FlushReport, PendingClicks, Unflushed};
pub use outbox::{ClickOutbox, PUBLISH_BATCH};

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
