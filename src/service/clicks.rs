//! Click counting off the hot path: a redirect adds one to an in-process buffer and answers; a
//! background flusher turns the buffer into one atomic increment per code every
//! `clicks.flush_interval_ms`, when the buffer grows past its threshold, and at shutdown.
//!
//! A flush that fails puts its deltas back for the next attempt. The buffer is bounded: when a
//! long outage would grow it past `max_codes` distinct codes, further clicks on new codes are
//! dropped and counted (`dropped()`), so memory stays bounded however long the store is down.
//!
//! Clicks a flush has taken stay visible to [`ClickBuffer::pending`] until the store has
//! answered, so `/stats` (storage plus pending) does not drop by a flush's clicks while the flush
//! is on its way: on a remote store that is most of every interval.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::domain::{ShortCode, Timestamp};
use crate::repository::{ClickDelta, Repository};

/// Clicks on one code not yet written to storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingClicks {
    /// How many.
    pub count: u64,
    /// The latest of them.
    pub last_at: Timestamp,
}

impl PendingClicks {
    fn merge(&mut self, other: PendingClicks) {
        self.count = self.count.saturating_add(other.count);
        self.last_at = self.last_at.max(other.last_at);
    }
}

/// The in-process click buffer shared by the redirect handler and the flusher.
pub struct ClickBuffer {
    pending: DashMap<ShortCode, PendingClicks>,
    /// Entries in `pending`, kept beside it because counting a `DashMap` locks every shard.
    codes: AtomicUsize,
    max_codes: usize,
    flush_threshold: usize,
    dropped: AtomicU64,
    flushes_ok: AtomicU64,
    flushes_failed: AtomicU64,
    flush_soon: Notify,
    /// Clicks a flush has taken and the store has not yet acknowledged. Its lock also makes
    /// taking (moving from `pending` to here) and settling atomic for [`Self::pending`].
    in_flight: Mutex<HashMap<ShortCode, PendingClicks>>,
    /// One flush at a time: settling clears `in_flight` whole.
    flushing: tokio::sync::Mutex<()>,
}

impl ClickBuffer {
    /// A buffer holding at most `max_codes` distinct codes, asking for an early flush once it
    /// holds `flush_threshold`, or half of `max_codes` if that is fewer: the clicks on new
    /// codes that arrive while the flush runs need room, or they would be dropped.
    pub fn new(max_codes: usize, flush_threshold: usize) -> Self {
        Self {
            pending: DashMap::new(),
            codes: AtomicUsize::new(0),
            max_codes: max_codes.max(1),
            flush_threshold: flush_threshold.clamp(1, (max_codes / 2).max(1)),
            dropped: AtomicU64::new(0),
            flushes_ok: AtomicU64::new(0),
            flushes_failed: AtomicU64::new(0),
            flush_soon: Notify::new(),
            in_flight: Mutex::new(HashMap::new()),
            flushing: tokio::sync::Mutex::new(()),
        }
    }

    /// Counts one click on `code` at `at`. Never waits on I/O.
    pub fn record(&self, code: &ShortCode, at: Timestamp) {
        self.add(
            code,
            PendingClicks {
                count: 1,
                last_at: at,
            },
        );
    }

    fn add(&self, code: &ShortCode, clicks: PendingClicks) {
        // The common case, a code already pending, needs no allocation.
        if let Some(mut pending) = self.pending.get_mut(code) {
            pending.merge(clicks);
            return;
        }
        // The counter, not `DashMap::len`, which locks every shard: with many distinct codes
        // (a million links) nearly every click is a new code.
        if self.codes.load(Ordering::Relaxed) >= self.max_codes {
            self.dropped.fetch_add(clicks.count, Ordering::Relaxed);
            return;
        }
        match self.pending.entry(code.clone()) {
            Entry::Occupied(mut pending) => pending.get_mut().merge(clicks),
            Entry::Vacant(slot) => {
                slot.insert(clicks);
                if self.codes.fetch_add(1, Ordering::Relaxed) + 1 == self.flush_threshold {
                    self.flush_soon.notify_one();
                }
            }
        }
    }

    /// Clicks on `code` not yet in storage: buffered, or taken by a flush the store has not
    /// acknowledged yet. Never counts a click twice.
    pub fn pending(&self, code: &ShortCode) -> Option<PendingClicks> {
        let in_flight = self.in_flight();
        let buffered = self.pending.get(code).map(|p| *p);
        match (buffered, in_flight.get(code).copied()) {
            (Some(mut buffered), Some(taken)) => {
                buffered.merge(taken);
                Some(buffered)
            }
            (buffered, taken) => buffered.or(taken),
        }
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashMap<ShortCode, PendingClicks>> {
        // The map holds plain counts; a panic elsewhere cannot leave it half-updated.
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Distinct codes with pending clicks.
    pub fn len(&self) -> usize {
        self.codes.load(Ordering::Relaxed)
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Clicks dropped because the buffer was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Flushes that wrote everything, and flushes that had to put deltas back.
    pub fn flushes(&self) -> (u64, u64) {
        (
            self.flushes_ok.load(Ordering::Relaxed),
            self.flushes_failed.load(Ordering::Relaxed),
        )
    }

    /// Removes and returns everything pending, keeping a copy in flight until [`Self::settle`].
    fn take_all(&self) -> Vec<ClickDelta> {
        let mut in_flight = self.in_flight();
        let mut taken = Vec::with_capacity(self.len());
        in_flight.reserve(self.len());
        self.pending.retain(|code, clicks| {
            self.codes.fetch_sub(1, Ordering::Relaxed);
            in_flight.insert(code.clone(), *clicks);
            taken.push(ClickDelta {
                code: code.clone(),
                count: clicks.count,
                last_at: clicks.last_at,
            });
            false
        });
        taken
    }

    /// Ends a flush: what is in flight has reached storage, except `failed`, which goes back
    /// into the buffer (merged with clicks that arrived meanwhile).
    fn settle(&self, failed: Vec<ClickDelta>) {
        let mut in_flight = self.in_flight();
        for delta in failed {
            let clicks = PendingClicks {
                count: delta.count,
                last_at: delta.last_at,
            };
            self.add(&delta.code, clicks);
        }
        in_flight.clear();
        // A burst of distinct codes must not pin its peak size until the next burst.
        if in_flight.capacity() > 4 * self.flush_threshold {
            in_flight.shrink_to(self.flush_threshold);
        }
    }
}

/// What one flush did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FlushReport {
    /// Codes whose clicks reached storage.
    pub written: usize,
    /// Codes whose clicks were put back to retry.
    pub failed: usize,
}

/// Writes the buffer to storage.
pub struct ClickFlusher {
    buffer: Arc<ClickBuffer>,
    repo: Arc<dyn Repository>,
    interval: Duration,
}

impl ClickFlusher {
    /// A flusher of `buffer` into `repo` every `interval`.
    pub fn new(buffer: Arc<ClickBuffer>, repo: Arc<dyn Repository>, interval: Duration) -> Self {
        Self {
            buffer,
            repo,
            interval,
        }
    }

    /// Sends one increment per pending code; failures go back into the buffer.
    pub async fn flush(&self) -> FlushReport {
        let _one_at_a_time = self.buffer.flushing.lock().await;
        let batch = self.buffer.take_all();
        if batch.is_empty() {
            return FlushReport::default();
        }
        let attempted = batch.len();
        let failures = self.repo.increment_click_counts(batch).await;
        let report = FlushReport {
            written: attempted - failures.len(),
            failed: failures.len(),
        };
        let outcome = if report.failed == 0 {
            &self.buffer.flushes_ok
        } else {
            &self.buffer.flushes_failed
        };
        outcome.fetch_add(1, Ordering::Relaxed);
        self.buffer.settle(failures);
        report
    }

    /// Flushes on the interval and on the buffer's early-flush signal until `stop` turns true,
    /// then flushes what is left, retrying a failing store a few times before giving up (and
    /// saying how many clicks were lost).
    pub fn spawn(self, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(self.interval) => {}
                    () = self.buffer.flush_soon.notified() => {}
                    _ = stop.wait_for(|stop| *stop) => break,
                }
                let report = self.flush().await;
                if report.failed > 0 {
                    tracing::warn!(codes = report.failed, "click flush failed; will retry");
                }
            }
            for attempt in 0..5u32 {
                if self.flush().await.failed == 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
            }
            if !self.buffer.is_empty() {
                tracing::error!(
                    codes = self.buffer.len(),
                    "clicks lost at shutdown: storage unavailable"
                );
            }
        })
    }
}
