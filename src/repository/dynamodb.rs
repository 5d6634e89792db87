//! `DynamoDbRepository`: links in a DynamoDB table, for fleets of instances on AWS.
//!
//! Table layout (created by `storage.dynamodb.create_table = true`, or by `terraform/aws`):
//!
//! | attribute | type | meaning |
//! |---|---|---|
//! | `short_code` | S | partition key |
//! | `long_url` | S | normalized destination |
//! | `created_at` | N | Unix milliseconds |
//! | `expires_at` | N | Unix milliseconds; absent = never; sort key of the expiry index |
//! | `ttl` | N | `expires_at` in Unix seconds, rounded up: the table's native TTL attribute |
//! | `expiry_bucket` | S | `{day}#{shard}`: partition key of the expiry index (absent = never) |
//! | `click_count` | N | clicks so far |
//! | `last_accessed_at` | N | Unix milliseconds of the latest click |
//! | `w_{instance}` | N | the last click write (seq) of that instance applied to the link |
//! | `owner_id` | S | the owning user's id; partition key of the owner index (absent = no owner) |
//! | `disabled_at` | N | Unix milliseconds an administrator disabled the link at; absent = enabled |
//! | `routing` | S | where the link sends people beyond `long_url` (`domain::Routing` as JSON); absent = a plain link |
//! | `owner_sort` | S | `{created_at:016}:{code}`: sort key of the owner index |
//! | `deleted_at` | N | set on a deleted link's tombstone, which keeps the code taken for ever |
//! | `human_clicks`, `bot_clicks` | N | the clicks split into people and bots |
//! | `click_days` | NS | the days that have a click analytics item (see `clicks`) |
//! | `health_due`, `health_bucket`, `health` | N, S, S | the link-health schedule and record (see `health`) |
//! | `broken_bucket`, `broken_since` | S, N | only while the destination is broken (see `health`) |
//!
//! The global secondary index `owner-index` (keys only) lists an owner's links newest first;
//! `health-index` and `broken-index` (keys only, sparse) hold the link-health schedule.
//! The global secondary index `expiry-index` (keys only) is keyed by `expiry_bucket` with
//! `expires_at` as sort key. A GSI keyed by `expires_at` itself could only answer equality, not
//! "everything before T"; bucketing by expiry day makes it a range query per day, and the shard
//! suffix spreads one busy day over several partitions so the index never becomes a hot key.
//! Native TTL deletes expired items too, but only within days, so the sweep does the prompt work
//! and the service never serves an expired link meanwhile (every read checks `expires_at`).

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, CreateGlobalSecondaryIndexAction,
    DeleteRequest, GlobalSecondaryIndex, GlobalSecondaryIndexUpdate, IndexStatus, KeySchemaElement,
    KeyType, Projection, ProjectionType, ReturnValue, ScalarAttributeType, TableStatus,
    TimeToLiveSpecification, WriteRequest,
};

use super::{
    ApiKeyStore, ClickDelta, KeyInsert, LinkCursor, LinkScan, RepoError, Repository,
    WRITE_MARK_TTL_MS,
};

mod accounts;
mod clicks;
mod keys;
mod link_health;
pub use link_health::{BROKEN_INDEX, HEALTH_INDEX};
mod links;
mod table;
use crate::domain::{ApiKeyHash, ApiKeyRecord, LongUrl, Routing, ShortCode, Timestamp, UrlRecord};

/// Name of the expiry index.
pub const EXPIRY_INDEX: &str = "expiry-index";
/// Name of the owner index: `owner_id` partition key, `owner_sort` sort key, keys only.
pub const OWNER_INDEX: &str = "owner-index";
/// Shards per expiry day in the index's partition key.
pub const EXPIRY_SHARDS: u32 = 4;
/// How many days back a sweep looks for expired items; older ones are left to native TTL,
/// which deletes them within a few days of expiry.
pub const SWEEP_LOOKBACK_DAYS: i64 = 7;

const DAY_MS: i64 = 86_400_000;
/// A key no link can have ('#' is outside the code alphabet): what `ping` reads.
const PING_KEY: &str = "#ping";
/// API keys live in the same table under `#apikey#{hash}`, which no short code can spell.
const API_KEY_PREFIX: &str = "#apikey#";
/// `#ukeys#{user id}` holds the string set `keys` of that user's key hashes.
const USER_KEYS_PREFIX: &str = "#ukeys#";
/// Attribute name prefix of a link's write marks: `w_{instance}` holds the last click write
/// (seq) of that instance applied to the link.
const MARK_PREFIX: &str = "w_";
/// Marks an item may carry before the stale ones are pruned.
const MAX_MARKS: usize = 8;
/// One click write in this many (by seq, milliseconds) looks for stale marks to prune.
const PRUNE_SAMPLE: u64 = 64;

/// A link store in one DynamoDB table.
pub struct DynamoDbRepository {
    client: Client,
    table: String,
}

fn unavailable<E>(e: E) -> RepoError
where
    E: std::error::Error + 'static,
{
    RepoError::Unavailable(DisplayErrorContext(e).to_string())
}

/// Whether `error` is DynamoDB refusing a write because its condition did not hold.
fn is_condition_failure<E, R>(error: &aws_sdk_dynamodb::error::SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata,
{
    error.code() == Some("ConditionalCheckFailedException")
}

/// A conditional put: `Conflict` when the condition failed.
fn put_outcome<T, E, R>(
    result: Result<T, aws_sdk_dynamodb::error::SdkError<E, R>>,
) -> Result<(), RepoError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    match result {
        Ok(_) => Ok(()),
        Err(e) if is_condition_failure(&e) => Err(RepoError::Conflict),
        Err(e) => Err(unavailable(e)),
    }
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// `{day}#{shard}` for a link expiring at `expires_at`; the shard is a stable hash of the code.
pub fn expiry_bucket(code: &ShortCode, expires_at: Timestamp) -> String {
    bucket("", code.as_str(), expires_at)
}

/// `{kind}{day}#{shard}` for the item `name` expiring at `expires_at`. Links have the empty
/// kind; other items that expire (sessions: `s`) have their own, so a sweep of one kind never
/// meets the other.
fn bucket(kind: &str, name: &str, expires_at: Timestamp) -> String {
    let day = expires_at.as_unix_millis().div_euclid(DAY_MS);
    format!("{kind}{day}#{}", stable_hash(name) % EXPIRY_SHARDS)
}

/// FNV-1a of `name`: stable across processes and versions, unlike std's randomly seeded
/// hasher, so an item's index shard never moves.
fn stable_hash(name: &str) -> u32 {
    name.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

impl DynamoDbRepository {
    /// Removes the write marks of instances that have not written to this link for
    /// [`WRITE_MARK_TTL_MS`], once the item carries more than [`MAX_MARKS`], so instance
    /// restarts do not grow a hot link's item for ever (looked at on one write in
    /// [`PRUNE_SAMPLE`]). Best effort: a failure leaves them for
    /// the next write. Each removal is conditional on the mark being unchanged.
    async fn prune_marks(&self, code: &ShortCode, old: &HashMap<String, AttributeValue>, seq: u64) {
        let marks: Vec<(&String, &String)> = old
            .iter()
            .filter(|(name, _)| name.starts_with(MARK_PREFIX))
            .filter_map(|(name, value)| value.as_n().ok().map(|v| (name, v)))
            .collect();
        if marks.len() < MAX_MARKS {
            return;
        }
        let horizon = seq.saturating_sub(WRITE_MARK_TTL_MS);
        let stale: Vec<_> = marks
            .into_iter()
            .filter(|(_, v)| v.parse::<u64>().is_ok_and(|v| v < horizon))
            .take(16)
            .collect();
        if stale.is_empty() {
            return;
        }
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(code.as_str())));
        let mut removes = Vec::new();
        let mut conditions = Vec::new();
        for (i, (name, value)) in stale.iter().enumerate() {
            update = update
                .expression_attribute_names(format!("#m{i}"), name.as_str())
                .expression_attribute_values(format!(":m{i}"), AttributeValue::N((*value).clone()));
            removes.push(format!("#m{i}"));
            conditions.push(format!("#m{i} = :m{i}"));
        }
        let result = update
            .update_expression(format!("REMOVE {}", removes.join(", ")))
            .condition_expression(conditions.join(" AND "))
            .send()
            .await;
        if let Err(e) = result
            && !is_condition_failure(&e)
        {
            tracing::debug!(error = %DisplayErrorContext(&e), "pruning write marks failed");
        }
    }

    /// A repository over `table` through `client`. With `create_table`, creates the table, its
    /// expiry index and TTL setting when missing (for development; production tables come from
    /// Terraform).
    ///
    /// # Errors
    /// When the table cannot be created or reached.
    pub async fn new(client: Client, table: &str, create_table: bool) -> Result<Self, RepoError> {
        let repo = Self {
            client,
            table: table.to_owned(),
        };
        if create_table {
            repo.create_table().await?;
        }
        repo.ping().await?;
        Ok(repo)
    }

    /// Builds a client from the standard AWS chain (environment, profile, web identity, ECS or
    /// EC2 role) with `region`, an optional `endpoint_url` (DynamoDB Local, moto, ...) and
    /// `timeout` for each operation.
    pub async fn client(region: &str, endpoint_url: Option<&str>, timeout: Duration) -> Client {
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .operation_timeout(timeout)
            .connect_timeout(timeout)
            .build();
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_owned()))
            .timeout_config(timeouts);
        if let Some(endpoint) = endpoint_url {
            loader = loader.endpoint_url(endpoint);
        }
        Client::new(&loader.load().await)
    }

    fn api_key_item(hash: &ApiKeyHash) -> String {
        format!("{API_KEY_PREFIX}{}", hash.as_str())
    }

    fn key(code: &str) -> HashMap<String, AttributeValue> {
        HashMap::from([("short_code".to_owned(), s(code))])
    }

    /// Deletes up to `limit` items of bucket kind `kind` (see [`bucket`]) whose `expires_at` is
    /// before `before`, found through the expiry index; how many.
    async fn sweep(&self, kind: &str, before: Timestamp, limit: usize) -> Result<u64, RepoError> {
        let before_ms = before.as_unix_millis();
        let last_day = (before_ms - 1).div_euclid(DAY_MS);
        let mut removed = 0usize;
        'days: for day in (last_day - SWEEP_LOOKBACK_DAYS)..=last_day {
            for shard in 0..EXPIRY_SHARDS {
                let mut start_key = None;
                loop {
                    if removed >= limit {
                        break 'days;
                    }
                    let page = self
                        .client
                        .query()
                        .table_name(&self.table)
                        .index_name(EXPIRY_INDEX)
                        .key_condition_expression("expiry_bucket = :b AND expires_at < :before")
                        .expression_attribute_values(":b", s(format!("{kind}{day}#{shard}")))
                        .expression_attribute_values(":before", n(before_ms))
                        .limit(i32::try_from(limit - removed).unwrap_or(i32::MAX))
                        .set_exclusive_start_key(start_key)
                        .send()
                        .await
                        .map_err(unavailable)?;
                    let codes: Vec<AttributeValue> = page
                        .items()
                        .iter()
                        .filter_map(|item| item.get("short_code").cloned())
                        .collect();
                    removed += codes.len();
                    // Links keep their click days' keys; other kinds have none.
                    let links = if kind.is_empty() {
                        self.click_days_of(&codes).await?
                    } else {
                        Vec::new()
                    };
                    self.delete_keys(codes).await?;
                    self.forget_days(&links).await;
                    start_key = page.last_evaluated_key;
                    if start_key.is_none() {
                        break;
                    }
                }
            }
        }
        Ok(removed as u64)
    }

    async fn delete_keys(&self, codes: Vec<AttributeValue>) -> Result<(), RepoError> {
        for chunk in codes.chunks(25) {
            let mut requests = chunk
                .iter()
                .map(|code| {
                    let delete = DeleteRequest::builder()
                        .key("short_code", code.clone())
                        .build()
                        .map_err(unavailable)?;
                    Ok(WriteRequest::builder().delete_request(delete).build())
                })
                .collect::<Result<Vec<_>, RepoError>>()?;
            // BatchWriteItem may leave some requests unprocessed under throttling: resend them.
            for attempt in 0..8 {
                if requests.is_empty() {
                    break;
                }
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
                }
                let output = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(unavailable)?;
                requests = output
                    .unprocessed_items
                    .and_then(|mut m| m.remove(&self.table))
                    .unwrap_or_default();
            }
            if !requests.is_empty() {
                return Err(RepoError::Unavailable(
                    "DynamoDB kept throttling the expiry sweep".to_owned(),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_day_and_a_stable_shard() {
        let code = ShortCode::parse("abcdefgh").unwrap();
        let t = Timestamp::from_unix_millis(20_000 * DAY_MS + 5).unwrap();
        let bucket = expiry_bucket(&code, t);
        assert!(bucket.starts_with("20000#"), "{bucket}");
        assert_eq!(bucket, expiry_bucket(&code, t));
        let shards: std::collections::HashSet<String> = (0..64)
            .map(|i| expiry_bucket(&ShortCode::parse(&format!("code{i}")).unwrap(), t))
            .collect();
        assert_eq!(shards.len(), EXPIRY_SHARDS as usize);
    }
}
