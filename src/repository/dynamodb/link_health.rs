//! Link health in the DynamoDB table: the [`LinkHealthStore`] implementation.
//!
//! The schedule lives on the link's own item, in two sparse indexes (keys only):
//!
//! - `health-index`: partition `health_bucket` = `hn#{shard}` (never checked) or `hc#{shard}`
//!   (checked), sort `health_due` (Unix ms: the creation, the next round or a lease's end);
//! - `broken-index`: partition `broken_bucket` = `b#{shard}`, sort `broken_since`, only on
//!   broken links.
//!
//! The shard (a stable hash of the code, as for the expiry index) spreads the schedule over
//! [`HEALTH_SHARDS`] partitions so no index key is hot. A lease is a conditional update of the
//! item (`health_due` still what the index showed, the link not deleted nor expired): two
//! workers that read the same candidates from the index (which is only eventually consistent)
//! cannot both win, and a stale index entry only costs a failed condition. A delete removes the
//! attributes, which takes the tombstone out of both indexes; the sweep deletes whole items.

use super::*;
use crate::domain::ShortCode;
use crate::repository::link_health::codec;
use crate::repository::{DueWindow, LinkHealthRecord, LinkHealthStore};

/// Name of the schedule index.
pub const HEALTH_INDEX: &str = "health-index";
/// Name of the broken-links index.
pub const BROKEN_INDEX: &str = "broken-index";
/// Partitions of each index.
const HEALTH_SHARDS: u32 = 4;
/// Conditional leases in flight at once.
const LEASE_CONCURRENCY: usize = 16;

/// The attributes a link's item gets at its creation: due at `created_at`, never checked.
pub(super) fn schedule_attributes(
    code: &ShortCode,
    created_at: Timestamp,
) -> [(&'static str, AttributeValue); 2] {
    [
        ("health_due", n(created_at.as_unix_millis())),
        (
            "health_bucket",
            s(format!("hn#{}", shard_of(code.as_str()))),
        ),
    ]
}

/// What a delete removes so the tombstone leaves both indexes.
pub(super) const HEALTH_ATTRIBUTES: &str =
    "health_due, health_bucket, health, broken_bucket, broken_since";

fn shard_of(code: &str) -> u32 {
    stable_hash(code) % HEALTH_SHARDS
}

/// A candidate from the schedule index.
struct Due {
    at: i64,
    code: String,
}

impl DynamoDbRepository {
    /// Up to `limit` entries of `bucket` in `index` with a sort key at or below `bound`
    /// (`None`: any), oldest first, as (sort key, code).
    async fn index_head(
        &self,
        index: &str,
        (bucket_attr, sort_attr): (&str, &str),
        bucket: String,
        bound: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Due>, RepoError> {
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .expression_attribute_names("#b", bucket_attr)
            .expression_attribute_values(":b", s(bucket))
            .limit(i32::try_from(limit).unwrap_or(i32::MAX));
        query = match bound {
            Some(bound) => query
                .key_condition_expression("#b = :b AND #s <= :t")
                .expression_attribute_names("#s", sort_attr)
                .expression_attribute_values(":t", n(bound)),
            None => query.key_condition_expression("#b = :b"),
        };
        let page = query.send().await.map_err(unavailable)?;
        Ok(page
            .items()
            .iter()
            .filter_map(|item| {
                let code = item.get("short_code")?.as_s().ok()?.clone();
                let at = item.get(sort_attr)?.as_n().ok()?.parse().ok()?;
                Some(Due { at, code })
            })
            .collect())
    }

    /// Moves `due`'s next check to `until` if nobody did since the index was read and the link
    /// is still live at `now`; whether this caller got it.
    async fn lease_one(&self, due: &Due, now: i64, until: i64) -> Result<bool, RepoError> {
        let leased = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&due.code)))
            .update_expression("SET health_due = :until")
            .condition_expression(
                "health_due = :seen AND attribute_not_exists(deleted_at) \
                 AND (attribute_not_exists(expires_at) OR expires_at > :now)",
            )
            .expression_attribute_values(":until", n(until))
            .expression_attribute_values(":seen", n(due.at))
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        match leased {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }
}

#[async_trait]
impl LinkHealthStore for DynamoDbRepository {
    async fn lease_due(
        &self,
        window: DueWindow,
        limit: usize,
    ) -> Result<Vec<ShortCode>, RepoError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let names = ("health_bucket", "health_due");
        let heads = ["hc", "hn"].into_iter().flat_map(|family| {
            let bound = if family == "hc" {
                window.now
            } else {
                window.new_before
            };
            (0..HEALTH_SHARDS).map(move |shard| (format!("{family}#{shard}"), bound))
        });
        let heads = heads.map(|(bucket, bound)| {
            self.index_head(
                HEALTH_INDEX,
                names,
                bucket,
                Some(bound.as_unix_millis()),
                limit,
            )
        });
        let mut candidates = Vec::new();
        for head in futures_util::future::join_all(heads).await {
            candidates.extend(head?);
        }
        // The oldest due first, across partitions, as every other store hands them out.
        candidates.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.code.cmp(&b.code)));
        let now = window.now.as_unix_millis();
        let until = window.lease_until.as_unix_millis();
        let mut leased = Vec::new();
        let mut rest = candidates.as_slice();
        // As many attempts at a time as leases still wanted, so no link is leased past the
        // limit (it would sit out a whole lease unchecked).
        while leased.len() < limit && !rest.is_empty() {
            let (now_tried, later) = rest.split_at((limit - leased.len()).min(rest.len()));
            rest = later;
            let mut attempts = Vec::with_capacity(now_tried.len());
            for chunk in now_tried.chunks(LEASE_CONCURRENCY) {
                let tries = chunk.iter().map(|due| self.lease_one(due, now, until));
                let won = futures_util::future::join_all(tries).await;
                attempts.extend(chunk.iter().zip(won));
            }
            for (due, won) in attempts {
                if won? {
                    leased.extend(ShortCode::parse(&due.code).ok());
                }
            }
        }
        Ok(leased)
    }

    async fn record_check(
        &self,
        code: &ShortCode,
        record: &LinkHealthRecord,
        next_check_at: Timestamp,
    ) -> Result<(), RepoError> {
        let shard = shard_of(code.as_str());
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(code.as_str())))
            .condition_expression(
                "attribute_exists(short_code) AND attribute_not_exists(deleted_at)",
            )
            .expression_attribute_values(":r", s(codec::encode(record)))
            .expression_attribute_values(":due", n(next_check_at.as_unix_millis()))
            .expression_attribute_values(":hb", s(format!("hc#{shard}")));
        let sets = "health = :r, health_due = :due, health_bucket = :hb";
        update = match record.state.broken_since {
            Some(since) => update
                .update_expression(format!(
                    "SET {sets}, broken_bucket = :bb, broken_since = :bs"
                ))
                .expression_attribute_values(":bb", s(format!("b#{shard}")))
                .expression_attribute_values(":bs", n(since.as_unix_millis())),
            None => {
                update.update_expression(format!("SET {sets} REMOVE broken_bucket, broken_since"))
            }
        };
        match update.send().await {
            Ok(_) => Ok(()),
            // Deleted or swept meanwhile: nothing to record.
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn link_health(&self, code: &ShortCode) -> Result<Option<LinkHealthRecord>, RepoError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(code.as_str())))
            .projection_expression("health")
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        output
            .item()
            .and_then(|item| item.get("health"))
            .and_then(|v| v.as_s().ok())
            .map(|text| codec::decode(text))
            .transpose()
    }

    async fn broken_links(&self, limit: usize) -> Result<Vec<(ShortCode, Timestamp)>, RepoError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let heads = (0..HEALTH_SHARDS).map(|shard| {
            self.index_head(
                BROKEN_INDEX,
                ("broken_bucket", "broken_since"),
                format!("b#{shard}"),
                None,
                limit,
            )
        });
        let mut broken = Vec::new();
        for head in futures_util::future::join_all(heads).await {
            broken.extend(head?);
        }
        broken.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.code.cmp(&b.code)));
        Ok(broken
            .into_iter()
            .filter_map(|d| {
                Some((
                    ShortCode::parse(&d.code).ok()?,
                    Timestamp::from_unix_millis(d.at)?,
                ))
            })
            .take(limit)
            .collect())
    }
}
