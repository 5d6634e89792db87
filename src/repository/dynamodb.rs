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
//! | `owner_sort` | S | `{created_at:016}:{code}`: sort key of the owner index |
//! | `deleted_at` | N | set on a deleted link's tombstone, which keeps the code taken for ever |
//!
//! The global secondary index `owner-index` (keys only) lists an owner's links newest first.
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
    DeleteRequest, GlobalSecondaryIndex, GlobalSecondaryIndexUpdate, KeySchemaElement, KeyType,
    Projection, ProjectionType, ReturnValue, ScalarAttributeType, TableStatus,
    TimeToLiveSpecification, WriteRequest,
};

use super::{ApiKeyStore, ClickDelta, LinkCursor, RepoError, Repository, WRITE_MARK_TTL_MS};

mod accounts;
use crate::domain::{ApiKeyHash, ApiKeyRecord, LongUrl, ShortCode, Timestamp, UrlRecord};

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

fn key_element(name: &str, kind: KeyType) -> Result<KeySchemaElement, RepoError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .map_err(unavailable)
}

/// A global secondary index named `name` on (`hash`, `range`) that projects only the keys.
fn keys_only_index(name: &str, hash: &str, range: &str) -> Result<GlobalSecondaryIndex, RepoError> {
    GlobalSecondaryIndex::builder()
        .index_name(name)
        .key_schema(key_element(hash, KeyType::Hash)?)
        .key_schema(key_element(range, KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::KeysOnly)
                .build(),
        )
        .build()
        .map_err(unavailable)
}

/// `{day}#{shard}` for a link expiring at `expires_at`; the shard is a stable hash of the code.
pub fn expiry_bucket(code: &ShortCode, expires_at: Timestamp) -> String {
    bucket("", code.as_str(), expires_at)
}

/// `{kind}{day}#{shard}` for the item `name` expiring at `expires_at`. Links have the empty
/// kind; other items that expire (sessions: `s`) have their own, so a sweep of one kind never
/// meets the other.
fn bucket(kind: &str, name: &str, expires_at: Timestamp) -> String {
    // FNV-1a: stable across processes and versions, unlike std's randomly seeded hasher.
    let hash = name.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    let day = expires_at.as_unix_millis().div_euclid(DAY_MS);
    format!("{kind}{day}#{}", hash % EXPIRY_SHARDS)
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

    async fn create_table(&self) -> Result<(), RepoError> {
        let attribute = |name: &str, kind: ScalarAttributeType| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(kind)
                .build()
                .map_err(unavailable)
        };

        let index = keys_only_index(EXPIRY_INDEX, "expiry_bucket", "expires_at")?;
        let owners = keys_only_index(OWNER_INDEX, "owner_id", "owner_sort")?;
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .attribute_definitions(attribute("short_code", ScalarAttributeType::S)?)
            .attribute_definitions(attribute("expiry_bucket", ScalarAttributeType::S)?)
            .attribute_definitions(attribute("expires_at", ScalarAttributeType::N)?)
            .attribute_definitions(attribute("owner_id", ScalarAttributeType::S)?)
            .attribute_definitions(attribute("owner_sort", ScalarAttributeType::S)?)
            .key_schema(key_element("short_code", KeyType::Hash)?)
            .global_secondary_indexes(index)
            .global_secondary_indexes(owners.clone())
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await;
        match created {
            Ok(_) => tracing::info!(table = %self.table, "created DynamoDB table"),
            Err(e) if e.code() == Some("ResourceInUseException") => {
                tracing::debug!(table = %self.table, "DynamoDB table exists");
                return self.add_owner_index(owners).await;
            }
            Err(e) => return Err(unavailable(e)),
        }
        for _ in 0..120 {
            let described = self
                .client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
                .map_err(unavailable)?;
            if described.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name("ttl")
                    .build()
                    .map_err(unavailable)?,
            )
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Adds the owner index to a table made by a version without it (development tables
    /// only: `create_table`; production tables get it from Terraform).
    async fn add_owner_index(&self, owners: GlobalSecondaryIndex) -> Result<(), RepoError> {
        let described = self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map_err(unavailable)?;
        let has_it = described
            .table()
            .map(|t| t.global_secondary_indexes())
            .is_some_and(|indexes| indexes.iter().any(|i| i.index_name() == Some(OWNER_INDEX)));
        if has_it {
            return Ok(());
        }
        let definition = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(unavailable)
        };
        let create = CreateGlobalSecondaryIndexAction::builder()
            .index_name(OWNER_INDEX)
            .set_key_schema(Some(owners.key_schema().to_vec()))
            .set_projection(owners.projection().cloned())
            .build()
            .map_err(unavailable)?;
        self.client
            .update_table()
            .table_name(&self.table)
            .attribute_definitions(definition("owner_id")?)
            .attribute_definitions(definition("owner_sort")?)
            .global_secondary_index_updates(
                GlobalSecondaryIndexUpdate::builder().create(create).build(),
            )
            .send()
            .await
            .map_err(unavailable)?;
        tracing::info!(table = %self.table, "added the owner index to the DynamoDB table");
        Ok(())
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
                    self.delete_keys(codes).await?;
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

/// The live link in an item, or `None` for a deleted link's tombstone.
fn parse_item(item: &HashMap<String, AttributeValue>) -> Result<Option<UrlRecord>, RepoError> {
    if item.contains_key("deleted_at") {
        return Ok(None);
    }
    parse_live_item(item).map(Some)
}

fn parse_live_item(item: &HashMap<String, AttributeValue>) -> Result<UrlRecord, RepoError> {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok());
    let number = |name: &str| item.get(name).and_then(|v| v.as_n().ok());
    let code = text("short_code").map_or("", String::as_str);
    let corrupt = |what: &str| RepoError::Corrupt(format!("{what} of link '{code}' in DynamoDB"));
    let time = |name: &str| -> Result<Option<Timestamp>, RepoError> {
        number(name)
            .map(|v| {
                v.parse::<i64>()
                    .ok()
                    .and_then(Timestamp::from_unix_millis)
                    .ok_or_else(|| corrupt(name))
            })
            .transpose()
    };
    Ok(UrlRecord {
        short_code: ShortCode::parse(code).map_err(|_| corrupt("short_code"))?,
        long_url: LongUrl::from_trusted(
            text("long_url").ok_or_else(|| corrupt("long_url"))?.clone(),
        ),
        created_at: time("created_at")?.ok_or_else(|| corrupt("created_at"))?,
        expires_at: time("expires_at")?,
        click_count: number("click_count").map_or(Ok(0), |v| {
            v.parse::<u64>().map_err(|_| corrupt("click_count"))
        })?,
        last_accessed_at: time("last_accessed_at")?,
        owner: text("owner_id").cloned(),
    })
}

/// The attributes that give a link its expiry: the value, native TTL and the expiry index.
fn expiry_attributes(
    code: &ShortCode,
    expires_at: Timestamp,
) -> [(&'static str, AttributeValue); 3] {
    let millis = expires_at.as_unix_millis();
    [
        ("expires_at", n(millis)),
        ("ttl", n((millis + 999).div_euclid(1000))),
        ("expiry_bucket", s(expiry_bucket(code, expires_at))),
    ]
}

#[async_trait]
impl Repository for DynamoDbRepository {
    async fn save(&self, record: &UrlRecord) -> Result<(), RepoError> {
        let mut item = HashMap::from([
            ("short_code".to_owned(), s(record.short_code.as_str())),
            ("long_url".to_owned(), s(record.long_url.as_str())),
            (
                "created_at".to_owned(),
                n(record.created_at.as_unix_millis()),
            ),
            ("click_count".to_owned(), n(record.click_count)),
        ]);
        if let Some(expires_at) = record.expires_at {
            for (name, value) in expiry_attributes(&record.short_code, expires_at) {
                item.insert(name.to_owned(), value);
            }
        }
        if let Some(owner) = &record.owner {
            item.insert("owner_id".to_owned(), s(owner));
            item.insert(
                "owner_sort".to_owned(),
                s(LinkCursor::after(record).sort_key()),
            );
        }
        if let Some(at) = record.last_accessed_at {
            item.insert("last_accessed_at".to_owned(), n(at.as_unix_millis()));
        }
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(short_code)")
            .send()
            .await;
        put_outcome(put)
    }

    async fn find_by_short_code(&self, code: &ShortCode) -> Result<Option<UrlRecord>, RepoError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(code.as_str())))
            // A link created on one instance must resolve on the next instance at once.
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(output.item().map(parse_item).transpose()?.flatten())
    }

    async fn increment_click_count(&self, delta: &ClickDelta) -> Result<(), RepoError> {
        let key = Self::key(delta.code.as_str());
        let mark = format!("{MARK_PREFIX}{:016x}", delta.write.instance);
        let seq = delta.write.seq;
        // The whole old item (to look for stale marks) on one write in PRUNE_SAMPLE: marks
        // belong to instances, which come and go far slower than flushes, and returning every
        // item would double what each increment moves.
        let returned = if seq.is_multiple_of(PRUNE_SAMPLE) {
            ReturnValue::AllOld
        } else {
            ReturnValue::None
        };
        // One request in the common case (clicks arrive in time order); if the condition
        // failed, a second request without the time condition tells the rest apart: it fails
        // again for a missing link or a write applied before, and adds the clicks alone when
        // only an older `at` stood in the way.
        let forward = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key.clone()))
            .update_expression("ADD click_count :n SET last_accessed_at = :at, #w = :seq")
            .condition_expression(
                "attribute_exists(short_code) AND attribute_not_exists(deleted_at) AND \
                 (attribute_not_exists(#w) OR #w < :seq) AND \
                 (attribute_not_exists(last_accessed_at) OR last_accessed_at < :at)",
            )
            .expression_attribute_names("#w", &mark)
            .expression_attribute_values(":n", n(delta.count))
            .expression_attribute_values(":at", n(delta.last_at.as_unix_millis()))
            .expression_attribute_values(":seq", n(seq))
            .return_values(returned.clone())
            .send()
            .await;
        let applied = match forward {
            Ok(output) => output,
            Err(e) if is_condition_failure(&e) => {
                let counted = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(key))
                    .update_expression("ADD click_count :n SET #w = :seq")
                    // Never create an item from a counter: a missing or deleted link stays
                    // missing; and never apply one write twice.
                    .condition_expression(
                        "attribute_exists(short_code) AND attribute_not_exists(deleted_at) AND \
                         (attribute_not_exists(#w) OR #w < :seq)",
                    )
                    .expression_attribute_names("#w", &mark)
                    .expression_attribute_values(":n", n(delta.count))
                    .expression_attribute_values(":seq", n(seq))
                    .return_values(returned)
                    .send()
                    .await;
                match counted {
                    Ok(output) => output,
                    // The link is gone, or this write was applied before: nothing to do.
                    Err(e) if is_condition_failure(&e) => return Ok(()),
                    Err(e) => return Err(unavailable(e)),
                }
            }
            Err(e) => return Err(unavailable(e)),
        };
        if let Some(old) = applied.attributes() {
            self.prune_marks(&delta.code, old, seq).await;
        }
        Ok(())
    }

    async fn delete_expired(&self, before: Timestamp, limit: usize) -> Result<u64, RepoError> {
        self.sweep("", before, limit).await
    }

    async fn exists(&self, code: &ShortCode) -> Result<bool, RepoError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(code.as_str())))
            .projection_expression("short_code")
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(output.item().is_some())
    }

    async fn ping(&self) -> Result<(), RepoError> {
        self.client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(PING_KEY)))
            .projection_expression("short_code")
            .send()
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    /// Through the owner index (keys only), then a consistent read of each link: the index is
    /// eventually consistent, so an entry for a link deleted a moment ago is skipped, and a
    /// link created a moment ago may be missing from the first page for as long.
    async fn list_owned(
        &self,
        owner: &str,
        after: Option<&LinkCursor>,
        limit: usize,
    ) -> Result<Vec<UrlRecord>, RepoError> {
        let mut records = Vec::with_capacity(limit);
        let mut start_key = None;
        while records.len() < limit {
            let want = limit - records.len();
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(OWNER_INDEX)
                .scan_index_forward(false)
                .expression_attribute_values(":o", s(owner))
                .limit(i32::try_from(want).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start_key);
            query = match after {
                Some(cursor) => query
                    .key_condition_expression("owner_id = :o AND owner_sort < :c")
                    .expression_attribute_values(":c", s(cursor.sort_key())),
                None => query.key_condition_expression("owner_id = :o"),
            };
            let page = query.send().await.map_err(unavailable)?;
            for item in page.items() {
                let Some(code) = item
                    .get("short_code")
                    .and_then(|v| v.as_s().ok())
                    .and_then(|c| ShortCode::parse(c).ok())
                else {
                    continue;
                };
                if let Some(record) = self
                    .find_by_short_code(&code)
                    .await?
                    .filter(|r| r.owner.as_deref() == Some(owner))
                {
                    records.push(record);
                }
            }
            start_key = page.last_evaluated_key;
            if start_key.is_none() {
                break;
            }
        }
        records.truncate(limit);
        Ok(records)
    }

    async fn update_link(
        &self,
        code: &ShortCode,
        long_url: &LongUrl,
        expires_at: Option<Timestamp>,
    ) -> Result<bool, RepoError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(code.as_str())))
            .condition_expression(
                "attribute_exists(short_code) AND attribute_not_exists(deleted_at)",
            )
            .expression_attribute_names("#t", "ttl")
            .expression_attribute_values(":u", s(long_url.as_str()));
        update = match expires_at {
            Some(at) => {
                let [(_, e), (_, t), (_, b)] = expiry_attributes(code, at);
                update
                    .update_expression(
                        "SET long_url = :u, expires_at = :e, #t = :t, expiry_bucket = :b",
                    )
                    .expression_attribute_values(":e", e)
                    .expression_attribute_values(":t", t)
                    .expression_attribute_values(":b", b)
            }
            None => {
                update.update_expression("SET long_url = :u REMOVE expires_at, #t, expiry_bucket")
            }
        };
        match update.send().await {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn delete_link(&self, code: &ShortCode, at: Timestamp) -> Result<bool, RepoError> {
        // The item stays as the code's tombstone: without destination, expiry (neither the
        // sweep nor native TTL takes it) or owner (out of the owner index).
        let deleted = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(code.as_str())))
            .update_expression(
                "SET deleted_at = :at REMOVE long_url, expires_at, #t, expiry_bucket, owner_id, owner_sort",
            )
            .condition_expression("attribute_exists(short_code) AND attribute_not_exists(deleted_at)")
            .expression_attribute_names("#t", "ttl")
            .expression_attribute_values(":at", n(at.as_unix_millis()))
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }
}

fn parse_key_item(item: &HashMap<String, AttributeValue>) -> Result<ApiKeyRecord, RepoError> {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok());
    let number = |name: &str| {
        item.get(name)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<i64>().ok())
    };
    let hash = text("short_code")
        .and_then(|k| k.strip_prefix(API_KEY_PREFIX))
        .unwrap_or_default()
        .to_owned();
    let corrupt = || RepoError::Corrupt(format!("API key item {hash} in DynamoDB"));
    Ok(ApiKeyRecord {
        id: text("key_id").ok_or_else(corrupt)?.clone(),
        name: text("name").cloned().unwrap_or_default(),
        hash: ApiKeyHash::from_hex(hash.clone()),
        created_at: number("created_at")
            .and_then(Timestamp::from_unix_millis)
            .ok_or_else(corrupt)?,
        revoked_at: number("revoked_at").and_then(Timestamp::from_unix_millis),
        owner: text("owner_id").cloned(),
        last_used_at: number("last_used_at").and_then(Timestamp::from_unix_millis),
    })
}

#[async_trait]
impl ApiKeyStore for DynamoDbRepository {
    async fn insert_key(&self, key: &ApiKeyRecord) -> Result<(), RepoError> {
        if let Some(owner) = &key.owner {
            // The owner's index first, so no key exists outside it.
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(Self::key(&format!("{USER_KEYS_PREFIX}{owner}"))))
                .update_expression("ADD #k :k")
                .expression_attribute_names("#k", "keys")
                .expression_attribute_values(
                    ":k",
                    AttributeValue::Ss(vec![key.hash.as_str().into()]),
                )
                .send()
                .await
                .map_err(unavailable)?;
        }
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("short_code", s(Self::api_key_item(&key.hash)))
            .item("key_id", s(&key.id))
            .item("name", s(&key.name))
            .item("created_at", n(key.created_at.as_unix_millis()))
            .condition_expression("attribute_not_exists(short_code)");
        if let Some(owner) = &key.owner {
            put = put.item("owner_id", s(owner));
        }
        put_outcome(put.send().await)
    }

    async fn find_key(&self, hash: &ApiKeyHash) -> Result<Option<ApiKeyRecord>, RepoError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&Self::api_key_item(hash))))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        output.item().map(parse_key_item).transpose()
    }

    async fn list_keys(&self) -> Result<Vec<ApiKeyRecord>, RepoError> {
        // A scan: API keys share the links' table, and listing them all is a rare operator
        // command (a user's own keys come from their index item instead).
        let mut keys = self
            .scan_prefix(API_KEY_PREFIX)
            .await?
            .iter()
            .map(parse_key_item)
            .collect::<Result<Vec<_>, _>>()?;
        keys.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(keys)
    }

    async fn list_user_keys(&self, owner: &str) -> Result<Vec<ApiKeyRecord>, RepoError> {
        let index = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&format!("{USER_KEYS_PREFIX}{owner}"))))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        let hashes = index
            .item()
            .and_then(|item| item.get("keys"))
            .and_then(|v| v.as_ss().ok())
            .cloned()
            .unwrap_or_default();
        let mut keys = Vec::with_capacity(hashes.len());
        for hash in hashes {
            if let Some(key) = self.find_key(&ApiKeyHash::from_hex(hash)).await? {
                keys.push(key);
            }
        }
        keys.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(keys)
    }

    async fn revoke_key(&self, hash: &ApiKeyHash, at: Timestamp) -> Result<bool, RepoError> {
        let revoked = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&Self::api_key_item(hash))))
            .update_expression("SET revoked_at = if_not_exists(revoked_at, :at)")
            .condition_expression("attribute_exists(short_code)")
            .expression_attribute_values(":at", n(at.as_unix_millis()))
            .send()
            .await;
        match revoked {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn touch_key(&self, hash: &ApiKeyHash, at: Timestamp) -> Result<(), RepoError> {
        let touched = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&Self::api_key_item(hash))))
            .update_expression("SET last_used_at = :at")
            .condition_expression(
                "attribute_exists(short_code) AND \
                 (attribute_not_exists(last_used_at) OR last_used_at < :at)",
            )
            .expression_attribute_values(":at", n(at.as_unix_millis()))
            .send()
            .await;
        match touched {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
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
