//! The memory queue: click counting off the hot path: a redirect adds one to an in-process buffer and answers; a
//! background flusher turns the buffer into one atomic increment per code every
//! `clicks.flush_interval_ms`, when the buffer grows past its threshold, and at shutdown.
//!
//! Exactly once: every write a flush sends carries a [`WriteId`] (this instance, the flush's
//! sequence number) that the store applies at most once per code. A write that fails, or
//! times out with its outcome unknown, stays *unsettled* and is sent again unchanged, same id,
//! same count, until the store acknowledges it; new clicks on that code wait in the buffer for
//! a later write. So a timed-out write that did land is not counted twice, and a code never has
//! two writes in doubt at once (which is what lets a store keep one mark per instance).
//!
//! The buffer is bounded: when a long outage would grow it past `max_codes` distinct codes,
//! further clicks on new codes are dropped and counted (`dropped()`), so memory stays bounded
//! however long the store is down.
//!
//! Reads that add this instance's unwritten clicks to what the store holds go through
//! [`ClickBuffer::read_with_unflushed`]: a store read and the buffer seen together, so that a
//! click is counted once. A write on its way may land in the store at any moment before the
//! flush settles it, so a read that overlaps a flush of one of its codes waits for that flush
//! and reads again; every other read costs two atomic loads more than the store read. A write in
//! doubt (an attempt failed, so the store may already hold it) is never added: the count may lag
//! until it settles, but never shows a click twice.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use tokio::sync::Notify;

use crate::domain::{ClickEvent, ClickTally, Clock, InstanceId, ShortCode, Timestamp};
use crate::repository::{ClickDelta, Repository, WriteId};

/// Clicks on one code not yet written to storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingClicks {
    /// How many.
    pub count: u64,
    /// The latest of them.
    pub last_at: Timestamp,
    /// Their analytics (empty for clicks recorded without an event).
    pub tally: ClickTally,
}

impl PendingClicks {
    fn merge(&mut self, other: &PendingClicks) {
        self.count = self.count.saturating_add(other.count);
        self.last_at = self.last_at.max(other.last_at);
        self.tally.merge(&other.tally);
    }

    fn add_event(&mut self, event: &ClickEvent) {
        self.count = self.count.saturating_add(1);
        self.last_at = self.last_at.max(event.at);
        self.tally.add(event);
    }
}

/// Clicks taken by a flush as one write, until the store acknowledges that write.
#[derive(Debug, Clone)]
struct Unsettled {
    clicks: PendingClicks,
    seq: u64,
    /// An attempt failed: the store may or may not hold these clicks already.
    in_doubt: bool,
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
    /// Writes a flush has sent and the store has not acknowledged: in flight, or failed and
    /// waiting to be sent again unchanged. Its lock also makes taking (moving from `pending`
    /// to here) and settling atomic for [`Self::pending`].
    unsettled: Mutex<HashMap<ShortCode, Unsettled>>,
    /// Who writes: the store keeps one mark per instance and code.
    instance: InstanceId,
    /// The last flush's sequence number; guarded by `flushing`.
    last_seq: AtomicU64,
    /// One flush at a time, so settling sees only its own writes in `unsettled`.
    flushing: tokio::sync::Mutex<()>,
    /// Moves on at every take and every settle (under the `unsettled` lock): a read that sees it
    /// unchanged across a store read knows no write of this instance started or ended meanwhile.
    epoch: AtomicU64,
}

/// This instance's clicks that a store read could not include, per code: what
/// [`ClickBuffer::read_with_unflushed`] returns beside the read.
#[derive(Debug, Default)]
pub struct Unflushed(HashMap<ShortCode, PendingClicks>);

impl Unflushed {
    /// The unwritten clicks on `code`, if any (only codes the read named are kept).
    pub fn get(&self, code: &ShortCode) -> Option<&PendingClicks> {
        self.0.get(code)
    }
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
            unsettled: Mutex::new(HashMap::new()),
            instance: InstanceId::random(),
            last_seq: AtomicU64::new(0),
            flushing: tokio::sync::Mutex::new(()),
            epoch: AtomicU64::new(0),
        }
    }

    /// The same buffer writing as `instance`, for tests that play several instances.
    pub fn with_instance(mut self, instance: InstanceId) -> Self {
        self.instance = instance;
        self
    }

    /// Counts one click on `code` at `at`, without analytics. Never waits on I/O.
    pub fn record(&self, code: &ShortCode, at: Timestamp) {
        self.add(code, |p| {
            p.count = p.count.saturating_add(1);
            p.last_at = p.last_at.max(at);
        });
    }

    /// Counts one click with its analytics. Never waits on I/O.
    pub fn record_event(&self, event: &ClickEvent) {
        self.add(&event.code, |p| p.add_event(event));
    }

    fn add(&self, code: &ShortCode, add: impl FnOnce(&mut PendingClicks)) {
        // The common case, a code already pending, needs no allocation.
        if let Some(mut pending) = self.pending.get_mut(code) {
            add(&mut pending);
            return;
        }
        // The counter, not `DashMap::len`, which locks every shard: with many distinct codes
        // (a million links) nearly every click is a new code.
        if self.codes.load(Ordering::Relaxed) >= self.max_codes {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        match self.pending.entry(code.clone()) {
            Entry::Occupied(mut pending) => add(pending.get_mut()),
            Entry::Vacant(slot) => {
                let mut clicks = PendingClicks {
                    count: 0,
                    last_at: Timestamp::UNIX_EPOCH,
                    tally: ClickTally::default(),
                };
                add(&mut clicks);
                slot.insert(clicks);
                if self.codes.fetch_add(1, Ordering::Relaxed) + 1 == self.flush_threshold {
                    self.flush_soon.notify_one();
                }
            }
        }
    }

    /// Runs `read` (a read of the store) and returns it with this instance's clicks on the codes
    /// `codes` names in its result that the store cannot hold yet: buffered clicks, never a
    /// write on its way or in doubt. Adding the two counts every click at most once, and every
    /// acknowledged or buffered click exactly once.
    ///
    /// When a write of one of those codes was on its way during the read, or a flush began or
    /// ended meanwhile, the read cannot tell whether the store held that write: it then waits
    /// for the flush to settle and reads again under the flush lock, where nothing is on its
    /// way.
    ///
    /// # Errors
    /// Whatever `read` returns.
    pub async fn read_with_unflushed<T, E, Fut>(
        &self,
        read: impl Fn() -> Fut,
        codes: impl Fn(&T) -> Vec<ShortCode>,
    ) -> Result<(T, Unflushed), E>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        let before = self.epoch.load(Ordering::Acquire);
        let value = read().await?;
        {
            let unsettled = self.unsettled();
            let codes = codes(&value);
            let quiet = self.epoch.load(Ordering::Acquire) == before
                && codes
                    .iter()
                    .all(|code| unsettled.get(code).is_none_or(|u| u.in_doubt));
            if quiet {
                return Ok((value, self.buffered(&codes)));
            }
        }
        // A flush overlapped the read: after it settles, only writes in doubt are unsettled,
        // and none starts while the lock is held.
        let _no_flush = self.flushing.lock().await;
        let value = read().await?;
        let _unsettled = self.unsettled();
        let unflushed = self.buffered(&codes(&value));
        Ok((value, unflushed))
    }

    /// The buffered clicks of `codes`; call with the `unsettled` lock held, so no take moves
    /// them meanwhile.
    fn buffered(&self, codes: &[ShortCode]) -> Unflushed {
        Unflushed(
            codes
                .iter()
                .filter_map(|code| Some((code.clone(), self.pending.get(code)?.clone())))
                .collect(),
        )
    }

    /// Clicks on `code` not yet in storage: buffered, or in a write on its way that has not
    /// failed before. Never counts a click twice within itself; a store read must not be added
    /// to it (the write on its way may have landed): use [`Self::read_with_unflushed`].
    pub fn pending(&self, code: &ShortCode) -> Option<PendingClicks> {
        let unsettled = self.unsettled();
        let buffered = self.pending.get(code).map(|p| p.clone());
        let on_its_way = unsettled
            .get(code)
            .filter(|u| !u.in_doubt)
            .map(|u| &u.clicks);
        match (buffered, on_its_way) {
            (Some(mut buffered), Some(taken)) => {
                buffered.merge(taken);
                Some(buffered)
            }
            (buffered, taken) => buffered.or_else(|| taken.cloned()),
        }
    }

    fn unsettled(&self) -> std::sync::MutexGuard<'_, HashMap<ShortCode, Unsettled>> {
        // The map holds plain counts; a panic elsewhere cannot leave it half-updated.
        self.unsettled
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Distinct codes with clicks not yet in storage (buffered or unsettled).
    pub fn len(&self) -> usize {
        self.codes.load(Ordering::Relaxed) + self.unsettled().len()
    }

    /// Whether nothing is waiting for storage.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Clicks dropped because the buffer was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Flushes that wrote everything, and flushes that had to keep writes for a retry.
    pub fn flushes(&self) -> (u64, u64) {
        (
            self.flushes_ok.load(Ordering::Relaxed),
            self.flushes_failed.load(Ordering::Relaxed),
        )
    }

    /// The writes of one flush starting at `now`: every unsettled write again, unchanged, and
    /// one new write (a new seq) per buffered code that has none unsettled. Call under
    /// `flushing`.
    fn take(&self, now: Timestamp) -> Vec<ClickDelta> {
        let seq = self
            .last_seq
            .load(Ordering::Relaxed)
            .saturating_add(1)
            .max(u64::try_from(now.as_unix_millis()).unwrap_or(0));
        self.last_seq.store(seq, Ordering::Relaxed);
        let instance = self.instance.get();
        let delta = |code: &ShortCode, u: &Unsettled| ClickDelta {
            code: code.clone(),
            count: u.clicks.count,
            last_at: u.clicks.last_at,
            write: WriteId {
                instance,
                seq: u.seq,
            },
            tally: u.clicks.tally.clone(),
            shared_writer: false,
        };
        let mut unsettled = self.unsettled();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        let mut taken = Vec::with_capacity(unsettled.len() + self.codes.load(Ordering::Relaxed));
        taken.extend(unsettled.iter().map(|(code, u)| delta(code, u)));
        self.pending.retain(|code, clicks| {
            if unsettled.contains_key(code) {
                return true; // its earlier write must settle first
            }
            self.codes.fetch_sub(1, Ordering::Relaxed);
            let write = Unsettled {
                clicks: std::mem::replace(
                    clicks,
                    PendingClicks {
                        count: 0,
                        last_at: Timestamp::UNIX_EPOCH,
                        tally: ClickTally::default(),
                    },
                ),
                seq,
                in_doubt: false,
            };
            taken.push(delta(code, &write));
            unsettled.insert(code.clone(), write);
            false
        });
        taken
    }

    /// Ends a flush: every write is acknowledged except `failed`, which stay unsettled to be
    /// sent again as they are.
    fn settle(&self, failed: &[ClickDelta]) {
        let mut unsettled = self.unsettled();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        if failed.is_empty() {
            unsettled.clear();
        } else {
            let failed: std::collections::HashSet<&ShortCode> =
                failed.iter().map(|d| &d.code).collect();
            unsettled.retain(|code, write| {
                write.in_doubt = true;
                failed.contains(code)
            });
        }
        // A burst of distinct codes must not pin its peak size until the next burst.
        let keep = self.flush_threshold.max(unsettled.len());
        if unsettled.capacity() > 4 * keep {
            unsettled.shrink_to(keep);
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
    clock: Arc<dyn Clock>,
    interval: Duration,
}

impl ClickFlusher {
    /// A flusher of `buffer` into `repo` every `interval`; `clock` dates each flush's writes.
    pub fn new(
        buffer: Arc<ClickBuffer>,
        repo: Arc<dyn Repository>,
        clock: Arc<dyn Clock>,
        interval: Duration,
    ) -> Self {
        Self {
            buffer,
            repo,
            clock,
            interval,
        }
    }

    /// Sends every unsettled write again and one new write per other pending code; writes the
    /// store did not acknowledge stay unsettled for the next flush.
    pub async fn flush(&self) -> FlushReport {
        let _one_at_a_time = self.buffer.flushing.lock().await;
        let batch = self.buffer.take(self.clock.now());
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
        self.buffer.settle(&failures);
        report
    }

    /// How often the flusher writes.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Resolves when the buffer asks for a flush before the interval is up (it has grown past
    /// its threshold).
    pub async fn flush_requested(&self) {
        self.buffer.flush_soon.notified().await;
    }

    /// Codes with clicks not yet written (pending or unsettled).
    pub fn pending_codes(&self) -> usize {
        self.buffer.len()
    }
}
