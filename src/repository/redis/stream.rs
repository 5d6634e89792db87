//! `RedisClickStream`: the click queue of a fleet (`clicks.queue = "redis"`), one Redis Stream.
//!
//! An entry is one batch of [`ClickEvent`]s from one gateway, published exactly once: a script
//! sets the batch's dedupe key (`{stream}:pub:{producer}:{seq}`, same hash slot, ten minutes)
//! and adds the entry in one step, so a publish retried after a lost answer is recognised and
//! not added twice. The stream is capped with `MAXLEN ~`.
//!
//! Click processors read it through one consumer group (`XREADGROUP`), acknowledge an entry
//! (`XACK`) only after the store committed its clicks, and take over the entries a dead
//! processor left pending by claiming them *under that processor's own name* (`XCLAIM` to the
//! same consumer): the batch keeps the writer identity it was first written with, so the
//! store's write marks recognise a batch that was committed before the crash, and the effect is
//! exactly once on at-least-once delivery.
//!
//! Blocking reads run on their own connection: a blocked `XREADGROUP` would hold up every
//! command queued behind it on a shared one.

use std::fmt::Write as _;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::streams::{
    StreamClaimReply, StreamId, StreamInfoConsumersReply, StreamPendingCountReply, StreamReadReply,
};
use redis::{FromRedisValue, Script, Value};

use super::{connection_manager, unavailable};
use crate::domain::{
    ClickEvent, ClickTarget, Country, DeviceClass, ReferrerHost, ShortCode, Timestamp,
};
use crate::repository::RepoError;

/// Publishes one batch: `SET key NX PX` and `XADD` together, or neither.
const PUBLISH_SCRIPT: &str = r"
if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[1]) then return 0 end
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'p', ARGV[3], 'e', ARGV[4])
return 1
";

/// How long a published batch's dedupe key lives: far longer than a gateway retries one batch.
const DEDUPE_TTL_MS: u64 = 10 * 60 * 1000;

/// How long a blocking read waits for entries before it returns empty.
pub const READ_BLOCK: Duration = Duration::from_millis(500);

/// One stream entry as a processor sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamBatch {
    /// The entry id (`{ms}-{n}`).
    pub id: String,
    /// The events it carries (entries this version cannot read carry none).
    pub events: Vec<ClickEvent>,
}

/// The id as one growing number: milliseconds in the high bits, the sequence in the low 20.
/// Entry ids grow through the stream, so the number grows with them (the write mark's `seq`).
pub fn entry_seq(id: &str) -> u64 {
    let (ms, n) = id.split_once('-').unwrap_or((id, "0"));
    let ms: u64 = ms.parse().unwrap_or(0);
    let n: u64 = n.parse().unwrap_or(0);
    (ms << 20) | n.min((1 << 20) - 1)
}

/// The milliseconds of an entry id: when it was added.
pub fn entry_millis(id: &str) -> i64 {
    id.split_once('-')
        .and_then(|(ms, _)| ms.parse().ok())
        .unwrap_or(0)
}

/// A consumer of the group as `XINFO CONSUMERS` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerState {
    /// Its name.
    pub name: String,
    /// Entries delivered to it and not acknowledged.
    pub pending: usize,
    /// Milliseconds since it last read or claimed.
    pub idle_ms: u64,
}

/// The click stream of one key prefix.
pub struct RedisClickStream {
    commands: ConnectionManager,
    reads: ConnectionManager,
    stream: String,
    dedupe_prefix: String,
    group: String,
    max_len: u64,
    publish: Script,
}

/// Serializes events as lines of tab-separated fields (codes, hosts, countries and classes
/// never hold a tab or a newline). The seventh, the target (`d` default, a rule's index from
/// 0, empty for none), came later: a line without it (from an older gateway) has none.
fn encode(events: &[ClickEvent]) -> String {
    let mut out = String::with_capacity(events.len() * 48);
    for e in events {
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}",
            e.code,
            e.at.as_unix_millis(),
            e.referrer.as_ref().map_or("", |r| r.as_str()),
            e.country.as_ref().map_or("", |c| c.as_str()),
            e.device.as_str(),
            u8::from(e.bot),
            match e.target {
                None => String::new(),
                Some(ClickTarget::Default) => "d".to_owned(),
                Some(ClickTarget::Rule(i)) => i.to_string(),
            }
        );
    }
    out
}

fn decode(text: &str) -> Vec<ClickEvent> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split('\t');
            let code = ShortCode::parse(f.next()?).ok()?;
            let at = Timestamp::from_unix_millis(f.next()?.parse().ok()?)?;
            let referrer = f.next()?;
            let country = f.next()?;
            let device = DeviceClass::parse(f.next()?)?;
            let bot = f.next()? == "1";
            let target = match f.next() {
                None | Some("") => None,
                Some("d") => Some(ClickTarget::Default),
                Some(i) => Some(ClickTarget::Rule(i.parse().ok()?)),
            };
            Some(ClickEvent {
                code,
                at,
                referrer: (!referrer.is_empty()).then(|| ReferrerHost::from_stored(referrer)),
                country: Country::from_header(country.as_bytes()),
                device,
                bot,
                target,
            })
        })
        .collect()
}

fn batch_of(entry: StreamId) -> StreamBatch {
    let events = match entry.map.get("e").cloned() {
        Some(Value::BulkString(bytes)) => decode(&String::from_utf8_lossy(&bytes)),
        Some(other) => String::from_redis_value(other)
            .map(|t| decode(&t))
            .unwrap_or_default(),
        None => Vec::new(),
    };
    StreamBatch {
        id: entry.id,
        events,
    }
}

impl RedisClickStream {
    /// Connects to `url` and makes sure the stream `{prefix}{clicks}` and its consumer group
    /// `{prefix}click-processors` exist (a new group starts at the stream's first entry, so
    /// clicks published before any processor ran are not skipped).
    ///
    /// # Errors
    /// When Redis cannot be reached within `timeout` or refuses the group.
    pub async fn connect(
        url: &str,
        prefix: &str,
        max_len: u64,
        timeout: Duration,
    ) -> Result<Self, RepoError> {
        let commands = connection_manager(url, timeout)
            .await
            .map_err(unavailable)?;
        // Blocking reads outlast the command timeout by design.
        let reads = connection_manager(url, timeout + READ_BLOCK + Duration::from_secs(1))
            .await
            .map_err(unavailable)?;
        // `{clicks}` is the hash tag: the stream and its dedupe keys share a slot on a cluster.
        let stream = format!("{prefix}{{clicks}}");
        let this = Self {
            commands,
            reads,
            dedupe_prefix: format!("{stream}:pub:"),
            stream,
            group: format!("{prefix}click-processors"),
            max_len,
            publish: Script::new(PUBLISH_SCRIPT),
        };
        this.ensure_group().await?;
        Ok(this)
    }

    async fn ensure_group(&self) -> Result<(), RepoError> {
        let mut connection = self.commands.clone();
        let created: redis::RedisResult<()> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&self.stream)
            .arg(&self.group)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut connection)
            .await;
        match created {
            Ok(()) => Ok(()),
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Adds `events` as the batch `seq` of gateway `producer`, exactly once: `Ok(false)` when
    /// that batch was added before (an earlier attempt whose answer was lost).
    ///
    /// # Errors
    /// [`RepoError::Unavailable`]; the caller retries the same batch with the same `seq`.
    pub async fn publish(
        &self,
        producer: u64,
        seq: u64,
        events: &[ClickEvent],
    ) -> Result<bool, RepoError> {
        let mut connection = self.commands.clone();
        let added: i64 = self
            .publish
            .key(&self.stream)
            .key(format!("{}{producer:016x}:{seq}", self.dedupe_prefix))
            .arg(DEDUPE_TTL_MS)
            .arg(self.max_len)
            .arg(format!("{producer:016x}"))
            .arg(encode(events))
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(added == 1)
    }

    /// Up to `count` entries never delivered to any consumer, read as `consumer`; waits up to
    /// `block` (at most [`READ_BLOCK`], at least a millisecond) when there are none.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`].
    pub async fn read(
        &self,
        consumer: &str,
        count: usize,
        block: Duration,
    ) -> Result<Vec<StreamBatch>, RepoError> {
        // BLOCK 0 would wait for ever.
        let block_ms = block.min(READ_BLOCK).as_millis().max(1) as u64;
        let mut connection = self.reads.clone();
        let reply: Option<StreamReadReply> = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(&self.group)
            .arg(consumer)
            .arg("COUNT")
            .arg(count)
            .arg("BLOCK")
            .arg(block_ms)
            .arg("STREAMS")
            .arg(&self.stream)
            .arg(">")
            .query_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(reply
            .into_iter()
            .flat_map(|r| r.keys)
            .flat_map(|k| k.ids)
            .map(batch_of)
            .collect())
    }

    /// Acknowledges `ids`: their clicks are in the store.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`]; the entries stay pending and are claimed later (their
    /// clicks are recognised as written).
    pub async fn ack(&self, ids: &[String]) -> Result<(), RepoError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut connection = self.commands.clone();
        redis::cmd("XACK")
            .arg(&self.stream)
            .arg(&self.group)
            .arg(ids)
            .query_async::<i64>(&mut connection)
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    /// The group's consumers.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`].
    pub async fn consumers(&self) -> Result<Vec<ConsumerState>, RepoError> {
        let mut connection = self.commands.clone();
        let reply: StreamInfoConsumersReply = redis::cmd("XINFO")
            .arg("CONSUMERS")
            .arg(&self.stream)
            .arg(&self.group)
            .query_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(reply
            .consumers
            .into_iter()
            .map(|c| ConsumerState {
                name: c.name,
                pending: c.pending,
                idle_ms: c.idle as u64,
            })
            .collect())
    }

    /// Takes over every entry pending for `consumer` that has been idle `min_idle` or longer,
    /// keeping it under that consumer's name (see the module doc), up to `count`. Returns the
    /// entries with their events and the largest pending id (the batch's write `seq`, even
    /// when some of its entries were trimmed from the stream meanwhile).
    ///
    /// # Errors
    /// [`RepoError::Unavailable`].
    pub async fn claim(
        &self,
        consumer: &str,
        min_idle: Duration,
        count: usize,
    ) -> Result<(Vec<StreamBatch>, Option<String>), RepoError> {
        let mut connection = self.commands.clone();
        let pending: StreamPendingCountReply = redis::cmd("XPENDING")
            .arg(&self.stream)
            .arg(&self.group)
            .arg("IDLE")
            .arg(min_idle.as_millis() as u64)
            .arg("-")
            .arg("+")
            .arg(count)
            .arg(consumer)
            .query_async(&mut connection)
            .await
            .map_err(unavailable)?;
        let ids: Vec<String> = pending.ids.into_iter().map(|p| p.id).collect();
        let Some(last) = ids.iter().max_by_key(|id| entry_seq(id)).cloned() else {
            return Ok((Vec::new(), None));
        };
        let claimed: StreamClaimReply = redis::cmd("XCLAIM")
            .arg(&self.stream)
            .arg(&self.group)
            .arg(consumer)
            .arg(min_idle.as_millis() as u64)
            .arg(&ids)
            .query_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok((claimed.ids.into_iter().map(batch_of).collect(), Some(last)))
    }

    /// Removes `consumer` from the group (once it has nothing pending).
    ///
    /// # Errors
    /// [`RepoError::Unavailable`].
    pub async fn forget_consumer(&self, consumer: &str) -> Result<(), RepoError> {
        let mut connection = self.commands.clone();
        redis::cmd("XGROUP")
            .arg("DELCONSUMER")
            .arg(&self.stream)
            .arg(&self.group)
            .arg(consumer)
            .query_async::<i64>(&mut connection)
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    /// Entries delivered and not acknowledged, and the id of the oldest entry not yet
    /// acknowledged or not yet delivered (`None` when the group is caught up): the queue's
    /// lag is the age of that entry.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`].
    pub async fn backlog(&self) -> Result<(u64, Option<String>), RepoError> {
        let mut connection = self.commands.clone();
        let summary: Value = redis::cmd("XPENDING")
            .arg(&self.stream)
            .arg(&self.group)
            .query_async(&mut connection)
            .await
            .map_err(unavailable)?;
        let (pending, oldest_pending) = match summary {
            Value::Array(items) if items.len() >= 2 => (
                u64::from_redis_value(items[0].clone()).unwrap_or(0),
                Option::<String>::from_redis_value(items[1].clone()).unwrap_or(None),
            ),
            _ => (0, None),
        };
        if oldest_pending.is_some() {
            return Ok((pending, oldest_pending));
        }
        // Nothing pending: the oldest entry after the group's last delivered one, if any.
        let groups: redis::streams::StreamInfoGroupsReply = redis::cmd("XINFO")
            .arg("GROUPS")
            .arg(&self.stream)
            .query_async(&mut connection)
            .await
            .map_err(unavailable)?;
        let Some(group) = groups.groups.into_iter().find(|g| g.name == self.group) else {
            return Ok((pending, None));
        };
        let next: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg(&self.stream)
            .arg(format!("({}", group.last_delivered_id))
            .arg("+")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok((pending, next.ids.into_iter().next().map(|e| e.id)))
    }

    /// The stream's key (for tests and operators).
    pub fn key(&self) -> &str {
        &self.stream
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_survive_the_entry_encoding() {
        let events = vec![
            ClickEvent {
                code: ShortCode::parse("abc-123").unwrap(),
                at: Timestamp::from_unix_millis(1_700_000_000_123).unwrap(),
                referrer: ReferrerHost::from_referer(b"https://t.co/x"),
                country: Country::from_header(b"JP"),
                device: DeviceClass::Mobile,
                bot: false,
                target: None,
            },
            ClickEvent {
                code: ShortCode::parse("zzz").unwrap(),
                at: Timestamp::from_unix_millis(5).unwrap(),
                referrer: None,
                country: None,
                device: DeviceClass::Bot,
                bot: true,
                target: None,
            },
            ClickEvent {
                code: ShortCode::parse("ruled").unwrap(),
                at: Timestamp::from_unix_millis(7).unwrap(),
                referrer: None,
                country: None,
                device: DeviceClass::Desktop,
                bot: false,
                target: Some(ClickTarget::Rule(19)),
            },
            ClickEvent {
                code: ShortCode::parse("ruled").unwrap(),
                at: Timestamp::from_unix_millis(8).unwrap(),
                referrer: None,
                country: None,
                device: DeviceClass::Desktop,
                bot: false,
                target: Some(ClickTarget::Default),
            },
        ];
        assert_eq!(decode(&encode(&events)), events);
        // A line from a gateway of the version before targets: six fields, no target.
        let old = decode("abc\t5\t\t\tdesktop\t0\n");
        assert_eq!(old.len(), 1);
        assert_eq!(old[0].target, None);
        assert!(decode("garbage\nmore\tgarbage").is_empty());
    }

    #[test]
    fn entry_ids_order_as_numbers() {
        assert!(entry_seq("1700000000000-0") < entry_seq("1700000000000-1"));
        assert!(entry_seq("1700000000000-99") < entry_seq("1700000000001-0"));
        assert_eq!(entry_millis("1700000000000-7"), 1_700_000_000_000);
    }
}
