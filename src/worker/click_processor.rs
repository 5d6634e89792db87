//! The click processor of the Redis click queue: reads batches of the stream through the
//! consumer group, folds their events into one delta per link, writes them to the store and
//! only then acknowledges them.
//!
//! Reads are held and written together once per `clicks.flush_interval_ms` (or past 100,000
//! events), so a link busy in every read is written once per interval, not once per read.
//!
//! Exactly once on at-least-once delivery: a batch (the reads of one write) is written with the
//! write id (this processor's id, the batch's largest entry id) and resent unchanged until the
//! store takes it, so a write whose answer was lost counts once (the store's marks). A
//! processor acknowledges a batch before it reads for the next write is due, so what it leaves
//! pending when it dies is one batch; another processor claims that batch under the dead one's name after
//! `clicks.claim_idle_ms` and writes it with the dead one's id and the same seq, so a batch the
//! dead one had committed is recognised and counted once.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::watch;

use crate::domain::{ClickTally, Clock, InstanceId, ShortCode, Timestamp};
use crate::repository::{
    ClickDelta, READ_BLOCK, RedisClickStream, Repository, StreamBatch, WriteId, entry_millis,
    entry_seq,
};
use crate::service::ProcessorStats;

/// Consumer names are this prefix and the processor's id in hex, so a claimer can write a dead
/// processor's batch under that processor's id.
const CONSUMER_PREFIX: &str = "processor-";

/// Events held for one write at most (a backlog is written in writes of about this size).
const MAX_HELD_EVENTS: usize = 100_000;

/// How long a stopping processor keeps writing what is left in the stream.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// The longest pause between attempts while the store or the queue is down.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Retries of one step after failures: a growing pause, and at most five more attempts once
/// the stop has come.
struct Retry {
    backoff: Duration,
    after_stop: u32,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            backoff: Duration::from_millis(50),
            after_stop: 0,
        }
    }
}

impl Retry {
    /// Counts a failure and pauses; `false` when the step should be given up.
    async fn again(&mut self, stats: &ProcessorStats, stop: &watch::Receiver<bool>) -> bool {
        stats.failures.fetch_add(1, Ordering::Relaxed);
        if *stop.borrow() {
            self.after_stop += 1;
            if self.after_stop > 5 {
                return false;
            }
        }
        tokio::time::sleep(self.backoff).await;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        true
    }
}

/// One processor.
pub struct StreamProcessor {
    stream: Arc<RedisClickStream>,
    repo: Arc<dyn Repository>,
    clock: Arc<dyn Clock>,
    id: InstanceId,
    batch: usize,
    window: Duration,
    claim_idle: Duration,
    stats: Arc<ProcessorStats>,
}

fn consumer_name(id: InstanceId) -> String {
    format!("{CONSUMER_PREFIX}{id}")
}

fn writer_of(name: &str) -> Option<u64> {
    let hex = name.strip_prefix(CONSUMER_PREFIX)?;
    u64::from_str_radix(hex, 16).ok().filter(|&id| id != 0)
}

/// One delta per link for the events of `batches`, all under `write` and marked as a shared
/// writer's (see [`ClickDelta::shared_writer`]).
pub fn deltas_of(batches: &[StreamBatch], write: WriteId) -> Vec<ClickDelta> {
    let mut per_code: HashMap<&ShortCode, (u64, Timestamp, ClickTally)> = HashMap::new();
    for event in batches.iter().flat_map(|b| &b.events) {
        let entry = per_code
            .entry(&event.code)
            .or_insert_with(|| (0, event.at, ClickTally::default()));
        entry.0 += 1;
        entry.1 = entry.1.max(event.at);
        entry.2.add(event);
    }
    per_code
        .into_iter()
        .map(|(code, (count, last_at, tally))| ClickDelta {
            code: code.clone(),
            count,
            last_at,
            write,
            tally,
            shared_writer: true,
        })
        .collect()
}

impl StreamProcessor {
    /// A processor reading up to `batch` entries at a time from `stream` into `repo`, writing
    /// what it read once per `window` (or sooner, past 100,000 events), taking over processors
    /// idle for `claim_idle`.
    pub fn new(
        stream: Arc<RedisClickStream>,
        repo: Arc<dyn Repository>,
        clock: Arc<dyn Clock>,
        batch: usize,
        window: Duration,
        claim_idle: Duration,
    ) -> Self {
        Self {
            stream,
            repo,
            clock,
            id: InstanceId::random(),
            batch: batch.max(1),
            window,
            claim_idle,
            stats: Arc::default(),
        }
    }

    /// The same processor counting in `stats` (shown by the serving process's metrics).
    pub fn counting_in(mut self, stats: Arc<ProcessorStats>) -> Self {
        self.stats = stats;
        self
    }

    /// Its counters.
    pub fn stats(&self) -> Arc<ProcessorStats> {
        self.stats.clone()
    }

    /// Its consumer name in the group.
    pub fn name(&self) -> String {
        consumer_name(self.id)
    }

    /// Processes until `stop` turns true. A batch being written when the stop comes is
    /// finished (a few more attempts if the store is down), then what the stream still holds
    /// is written (for at most 10 s); what is left stays for another processor (or this one's
    /// successor).
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let name = self.name();
        let mut backoff = Duration::from_millis(50);
        let mut last_look: Option<tokio::time::Instant> = None;
        // Reads held for one write: a write per `window`, not per read, so that each link is
        // written about once per window however the reads are spread (the memory queue's
        // flusher does the same per interval).
        let mut held: Vec<StreamBatch> = Vec::new();
        let mut held_events = 0usize;
        let mut held_since: Option<tokio::time::Instant> = None;
        loop {
            if *stop.borrow() {
                break;
            }
            let due = last_look.is_none_or(|t| t.elapsed() >= self.claim_idle / 4);
            if due {
                last_look = Some(tokio::time::Instant::now());
                self.take_over_stale(&name, &stop).await;
                self.look_at_backlog().await;
            }
            let block = held_since.map_or(READ_BLOCK, |t| self.window.saturating_sub(t.elapsed()));
            // Never cancelled: entries Redis delivered to a read whose answer is dropped would
            // sit in this processor's pending list, unseen. A read waits half a second at most.
            let read = self.stream.read(&name, self.batch, block).await;
            match read {
                Ok(batches) => {
                    backoff = Duration::from_millis(50);
                    if !batches.is_empty() {
                        held_since.get_or_insert_with(tokio::time::Instant::now);
                        held_events += batches.iter().map(|b| b.events.len()).sum::<usize>();
                        held.extend(batches);
                    }
                }
                Err(e) => {
                    self.stats.failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, "click queue read failed; will retry");
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        _ = stop.wait_for(|s| *s) => break,
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
            let ripe = held_since.is_some_and(|t| t.elapsed() >= self.window)
                || held_events >= MAX_HELD_EVENTS;
            if ripe {
                self.settle_own(&held, &stop).await;
                held.clear();
                held_events = 0;
                held_since = None;
            }
        }
        if !held.is_empty() {
            self.settle_own(&held, &stop).await;
        }
        self.drain(&name, &stop).await;
    }

    async fn settle_own(&self, batches: &[StreamBatch], stop: &watch::Receiver<bool>) -> bool {
        let seq = batches.iter().map(|b| entry_seq(&b.id)).max().unwrap_or(0);
        self.settle(self.id.get(), seq, batches, stop).await
    }

    /// At a stop: writes what is left in the stream (a single instance's last clicks, which
    /// its publisher sent before this stop came) until a read finds nothing, for at most
    /// [`DRAIN_LIMIT`]. In a fleet the others would take it; alone, nobody else would.
    async fn drain(&self, name: &str, stop: &watch::Receiver<bool>) {
        let deadline = tokio::time::Instant::now() + DRAIN_LIMIT;
        while tokio::time::Instant::now() < deadline {
            let Ok(batches) = self.stream.read(name, self.batch, READ_BLOCK).await else {
                return;
            };
            if batches.is_empty() || !self.settle_own(&batches, stop).await {
                return;
            }
        }
    }

    /// Writes `batches` as `writer`/`seq` until the store takes them, then acknowledges them
    /// until the queue takes that. Gives up only when stopping (the batch stays pending).
    async fn settle(
        &self,
        writer: u64,
        seq: u64,
        batches: &[StreamBatch],
        stop: &watch::Receiver<bool>,
    ) -> bool {
        let write = WriteId {
            instance: writer,
            seq,
        };
        let mut todo = deltas_of(batches, write);
        let mut retry = Retry::default();
        while !todo.is_empty() {
            todo = self.repo.increment_click_counts(todo).await;
            if !todo.is_empty() && !retry.again(&self.stats, stop).await {
                return false;
            }
        }
        let ids: Vec<String> = batches.iter().map(|b| b.id.clone()).collect();
        let mut retry = Retry::default();
        while let Err(e) = self.stream.ack(&ids).await {
            tracing::warn!(error = %e, "click queue acknowledgement failed; will retry");
            if !retry.again(&self.stats, stop).await {
                return false;
            }
        }
        self.stats.batches.fetch_add(1, Ordering::Relaxed);
        let events: usize = batches.iter().map(|b| b.events.len()).sum();
        self.stats
            .events
            .fetch_add(events as u64, Ordering::Relaxed);
        true
    }

    /// Claims and writes the pending batch of every other processor idle for `claim_idle`,
    /// under that processor's own id; forgets processors long gone with nothing pending.
    async fn take_over_stale(&self, me: &str, stop: &watch::Receiver<bool>) {
        let consumers = match self.stream.consumers().await {
            Ok(consumers) => consumers,
            Err(_) => return, // the read below reports Redis being down
        };
        let idle = u64::try_from(self.claim_idle.as_millis()).unwrap_or(u64::MAX);
        for consumer in consumers {
            if consumer.name == me || consumer.idle_ms < idle {
                continue;
            }
            if consumer.pending == 0 {
                if consumer.idle_ms >= idle.saturating_mul(10) {
                    let _ = self.stream.forget_consumer(&consumer.name).await;
                }
                continue;
            }
            let Some(writer) = writer_of(&consumer.name) else {
                continue;
            };
            let claimed = self
                .stream
                .claim(&consumer.name, self.claim_idle, self.batch.max(10_000))
                .await;
            let Ok((batches, Some(last))) = claimed else {
                continue;
            };
            tracing::info!(
                consumer = %consumer.name,
                entries = batches.len(),
                "claimed the click batch of a processor that stopped answering"
            );
            if self.settle(writer, entry_seq(&last), &batches, stop).await {
                self.stats.claimed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    async fn look_at_backlog(&self) {
        if let Ok((pending, oldest)) = self.stream.backlog().await {
            self.stats.pending.store(pending, Ordering::Relaxed);
            let lag = oldest.map_or(0, |id| {
                (self.clock.now().as_unix_millis() - entry_millis(&id)).max(0)
            });
            self.stats.lag_ms.store(lag, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ClickEvent, DeviceClass};

    #[test]
    fn consumer_names_carry_the_writer_id() {
        let id = InstanceId::from_u64(0xabc);
        assert_eq!(writer_of(&consumer_name(id)), Some(0xabc));
        assert_eq!(writer_of("someone-else"), None);
        assert_eq!(writer_of("processor-0000000000000000"), None);
    }

    #[test]
    fn a_batch_folds_into_one_delta_per_link() {
        let event = |code: &str, ms: i64, bot: bool| ClickEvent {
            code: ShortCode::parse(code).unwrap(),
            at: Timestamp::from_unix_millis(ms).unwrap(),
            referrer: None,
            country: None,
            device: if bot {
                DeviceClass::Bot
            } else {
                DeviceClass::Desktop
            },
            bot,
            target: None,
        };
        let batches = vec![
            StreamBatch {
                id: "1-0".into(),
                events: vec![event("aaa", 5, false), event("bbb", 7, true)],
            },
            StreamBatch {
                id: "2-0".into(),
                events: vec![event("aaa", 9, true)],
            },
        ];
        let write = WriteId {
            instance: 1,
            seq: 2,
        };
        let mut deltas = deltas_of(&batches, write);
        deltas.sort_by(|a, b| a.code.cmp(&b.code));
        assert_eq!(deltas.len(), 2);
        assert_eq!((deltas[0].count, deltas[0].tally.bots), (2, 1));
        assert_eq!(deltas[0].last_at.as_unix_millis(), 9);
        assert!(deltas.iter().all(|d| d.write == write && d.shared_writer));
    }
}
