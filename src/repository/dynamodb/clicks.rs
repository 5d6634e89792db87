//! Click analytics in DynamoDB.
//!
//! - The human and bot totals live on the link's item (`human_clicks`, `bot_clicks`), added by
//!   the same conditional update that counts the click, under the same write mark.
//! - Each day a link was clicked on has its own item, keyed `#clicks#{code}#{created_at}#{day}`
//!   (the creation time in the key: a code the expiry sweep freed and someone took again never
//!   meets the old link's days), holding `h{hour}` and `b{hour}` (human and bot clicks of an
//!   hour since the epoch), `r|{host}`, `c|{country}`, `d|{device}` (the day's breakdown), `v`
//!   (a version for optimistic concurrency) and the day's own write marks `w_{instance}`. The
//!   link's number set `click_days` names the days that have an item, so reads fetch only those
//!   and a delete or a sweep knows what to remove.
//!
//! A day item is changed by read, compute, conditional write on `v`: the key cap needs to know
//! which keys the day holds, which no single update expression can branch on. The link's
//! update and its day items are separate requests, each applied once under its own mark: a
//! write that failed between them is retried whole, and the parts already applied skip.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};

use super::{DynamoDbRepository, MARK_PREFIX, is_condition_failure, n, s, unavailable};
use crate::domain::{
    ClickSplit, ClickTally, Dimension, DimensionClicks, HourClicks, OTHER, ShortCode, kept_key,
};
use crate::repository::{ClickStatsStore, RepoError, WriteId};

/// Partition key prefix of the day items; '#' is outside the code alphabet.
const DAY_PREFIX: &str = "#clicks#";
/// Hours per day.
const HOURS: i64 = 24;
/// Attempts at a day item's optimistic write before the delta is handed back for a retry.
const DAY_WRITE_ATTEMPTS: u32 = 8;
/// Keys one BatchGetItem may name.
const BATCH_GET_MAX: usize = 100;

type Item = HashMap<String, AttributeValue>;

fn letter(dimension: Dimension) -> &'static str {
    match dimension {
        Dimension::Referrer => "r|",
        Dimension::Country => "c|",
        Dimension::Device => "d|",
        Dimension::Target => "t|",
    }
}

/// The day item of `code` (created at `created_at`, Unix ms) for `day`.
fn day_key(code: &str, created_at: i64, day: i64) -> String {
    format!("{DAY_PREFIX}{code}#{created_at}#{day}")
}

/// The days a tally touches, for the link's `click_days`.
pub(super) fn tally_days(tally: &ClickTally) -> Vec<i64> {
    let mut days: Vec<i64> = tally
        .hours
        .iter()
        .map(|h| h.hour.div_euclid(HOURS))
        .chain(tally.breakdown.iter().map(|r| r.day))
        .collect();
    days.sort_unstable();
    days.dedup();
    days
}

/// `created_at` and the `click_days` of a link item.
fn link_days(item: &Item) -> Option<(i64, Vec<i64>)> {
    let created_at = item.get("created_at")?.as_n().ok()?.parse().ok()?;
    let days = item
        .get("click_days")
        .and_then(|v| v.as_ns().ok())
        .map(|ns| ns.iter().filter_map(|d| d.parse().ok()).collect())
        .unwrap_or_default();
    Some((created_at, days))
}

/// The keys of the day items an item of a link (with `short_code`, `created_at` and
/// `click_days`) has.
pub(super) fn day_item_keys(item: &Item) -> Vec<AttributeValue> {
    let Some(code) = item.get("short_code").and_then(|v| v.as_s().ok()) else {
        return Vec::new();
    };
    let Some((created_at, days)) = link_days(item) else {
        return Vec::new();
    };
    days.into_iter()
        .map(|day| s(day_key(code, created_at, day)))
        .collect()
}

fn number(item: &Item, name: &str) -> Result<u64, RepoError> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .map_or(Ok(0), |v| {
            v.parse::<u64>()
                .map_err(|_| RepoError::Corrupt(format!("{name} of a link in DynamoDB")))
        })
}

/// One day's part of a tally: hour attributes and breakdown rows.
#[derive(Default)]
struct DayPart<'a> {
    hours: Vec<(String, u64)>,
    rows: Vec<(Dimension, &'a str, u64)>,
}

fn split_by_day(tally: &ClickTally) -> BTreeMap<i64, DayPart<'_>> {
    let mut days: BTreeMap<i64, DayPart<'_>> = BTreeMap::new();
    for hour in &tally.hours {
        let part = days.entry(hour.hour.div_euclid(HOURS)).or_default();
        for (prefix, clicks) in [("h", hour.human), ("b", hour.bot)] {
            if clicks > 0 {
                part.hours.push((format!("{prefix}{}", hour.hour), clicks));
            }
        }
    }
    for row in &tally.breakdown {
        days.entry(row.day)
            .or_default()
            .rows
            .push((row.dimension, row.key.as_str(), row.clicks));
    }
    days
}

impl DynamoDbRepository {
    /// Adds `tally` to the day items of `code`, created at `created_at`, once per `write`.
    pub(super) async fn add_tally(
        &self,
        code: &ShortCode,
        created_at: i64,
        tally: &ClickTally,
        write: WriteId,
    ) -> Result<(), RepoError> {
        for (day, part) in split_by_day(tally) {
            let key = day_key(code.as_str(), created_at, day);
            self.add_to_day(&key, &part, write).await?;
        }
        Ok(())
    }

    async fn add_to_day(
        &self,
        key: &str,
        part: &DayPart<'_>,
        write: WriteId,
    ) -> Result<(), RepoError> {
        let mark = format!("{MARK_PREFIX}{:016x}", write.instance);
        for attempt in 0..DAY_WRITE_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(5 << attempt)).await;
            }
            let old = self.get_raw(key).await?.unwrap_or_default();
            if number(&old, &mark)? >= write.seq {
                return Ok(()); // this write reached the day before
            }
            let version = number(&old, "v")?;
            let mut update = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(Self::key(key)))
                .expression_attribute_names("#w", &mark)
                .expression_attribute_values(":seq", n(write.seq))
                .expression_attribute_values(":one", n(1));
            let mut adds = vec!["v :one".to_owned()];
            let mut i = 0usize;
            let mut add = |update: aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
                           name: String,
                           clicks: u64| {
                adds.push(format!("#a{i} :a{i}"));
                let update = update
                    .expression_attribute_names(format!("#a{i}"), name)
                    .expression_attribute_values(format!(":a{i}"), n(clicks));
                i += 1;
                update
            };
            for (name, clicks) in &part.hours {
                update = add(update, name.clone(), *clicks);
            }
            let mut held: HashMap<Dimension, usize> = HashMap::new();
            for dimension in Dimension::ALL {
                let prefix = letter(dimension);
                let kept = old
                    .keys()
                    .filter(|k| k.starts_with(prefix) && k[prefix.len()..] != *OTHER)
                    .count();
                held.insert(dimension, kept);
            }
            let mut targets: BTreeMap<String, u64> = BTreeMap::new();
            for (dimension, row_key, clicks) in &part.rows {
                let prefix = letter(*dimension);
                let name = format!("{prefix}{row_key}");
                let name = if old.contains_key(&name) || targets.contains_key(&name) {
                    name
                } else {
                    let kept = held.entry(*dimension).or_default();
                    let chosen = kept_key(*kept, row_key);
                    if chosen != OTHER {
                        *kept += 1;
                    }
                    format!("{prefix}{chosen}")
                };
                *targets.entry(name).or_default() += clicks;
            }
            for (name, clicks) in targets {
                update = add(update, name, clicks);
            }
            update = if old.is_empty() {
                update.condition_expression("attribute_not_exists(short_code)")
            } else {
                update
                    .condition_expression("v = :v")
                    .expression_attribute_values(":v", n(version))
            };
            let result = update
                .update_expression(format!("SET #w = :seq ADD {}", adds.join(", ")))
                .send()
                .await;
            match result {
                Ok(_) => return Ok(()),
                // Another writer changed the day since the read: read again.
                Err(e) if is_condition_failure(&e) => continue,
                Err(e) => return Err(unavailable(e)),
            }
        }
        Err(RepoError::Unavailable(
            "a day of click analytics in DynamoDB kept changing under the write".into(),
        ))
    }

    async fn get_raw(&self, key: &str) -> Result<Option<Item>, RepoError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(output.item)
    }

    /// The live link's `created_at` and click days, or `None` for a missing or deleted link.
    async fn live_link_days(&self, code: &ShortCode) -> Result<Option<(i64, Vec<i64>)>, RepoError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(code.as_str())))
            .projection_expression("created_at, click_days, deleted_at")
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        match output.item {
            Some(item) if !item.contains_key("deleted_at") => link_days(&item)
                .map(Some)
                .ok_or_else(|| RepoError::Corrupt(format!("created_at of link '{code}'"))),
            _ => Ok(None),
        }
    }

    /// Adds a tally whose link update was applied before (a retried write): the day items'
    /// own marks skip what already landed.
    pub(super) async fn add_tally_again(
        &self,
        code: &ShortCode,
        tally: &ClickTally,
        write: WriteId,
    ) -> Result<(), RepoError> {
        match self.live_link_days(code).await? {
            Some((created_at, _)) => self.add_tally(code, created_at, tally, write).await,
            None => Ok(()),
        }
    }

    /// The day items of `code` in `days` that exist.
    async fn day_items(
        &self,
        code: &ShortCode,
        days: Range<i64>,
    ) -> Result<Vec<(i64, Item)>, RepoError> {
        let Some((created_at, held)) = self.live_link_days(code).await? else {
            return Ok(Vec::new());
        };
        let keys: Vec<Item> = held
            .into_iter()
            .filter(|d| days.contains(d))
            .map(|day| Self::key(&day_key(code.as_str(), created_at, day)))
            .collect();
        self.batch_get(keys, None)
            .await?
            .into_iter()
            .map(|item| {
                let day = item
                    .get("short_code")
                    .and_then(|v| v.as_s().ok())
                    .and_then(|k| k.rsplit('#').next())
                    .and_then(|d| d.parse().ok())
                    .ok_or_else(|| RepoError::Corrupt(format!("a click day of '{code}'")))?;
                Ok((day, item))
            })
            .collect()
    }

    /// The items with `keys` that exist (consistent reads, [`BATCH_GET_MAX`] at a time, the
    /// keys DynamoDB left unprocessed asked again), with only `projection` when given.
    async fn batch_get(
        &self,
        keys: Vec<Item>,
        projection: Option<&str>,
    ) -> Result<Vec<Item>, RepoError> {
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(BATCH_GET_MAX) {
            let mut keys = chunk.to_vec();
            for attempt in 0..8 {
                if keys.is_empty() {
                    break;
                }
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_millis(20 << attempt)).await;
                }
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .set_projection_expression(projection.map(str::to_owned))
                    .build()
                    .map_err(unavailable)?;
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(unavailable)?;
                found.extend(
                    output
                        .responses
                        .and_then(|mut r| r.remove(&self.table))
                        .unwrap_or_default(),
                );
                keys = output
                    .unprocessed_keys
                    .and_then(|mut m| m.remove(&self.table))
                    .map(|k| k.keys)
                    .unwrap_or_default();
            }
            if !keys.is_empty() {
                return Err(RepoError::Unavailable(
                    "DynamoDB kept throttling a read of click analytics".into(),
                ));
            }
        }
        Ok(found)
    }

    /// Deletes the day items named by the link items `links` (best effort: what is left is
    /// keyed by the link's creation time, so no later link with the same code reads it).
    pub(super) async fn forget_days(&self, links: &[Item]) {
        let keys: Vec<AttributeValue> = links.iter().flat_map(day_item_keys).collect();
        if keys.is_empty() {
            return;
        }
        if let Err(e) = self.delete_keys(keys).await {
            tracing::warn!(error = %e, "deleting click analytics from DynamoDB failed");
        }
    }

    /// The link items (code, `created_at`, `click_days`) of `codes`, for the sweep.
    pub(super) async fn click_days_of(
        &self,
        codes: &[AttributeValue],
    ) -> Result<Vec<Item>, RepoError> {
        let keys = codes
            .iter()
            .map(|c| HashMap::from([("short_code".to_owned(), c.clone())]))
            .collect();
        self.batch_get(keys, Some("short_code, created_at, click_days"))
            .await
    }
}

#[async_trait]
impl ClickStatsStore for DynamoDbRepository {
    async fn click_split(&self, code: &ShortCode) -> Result<ClickSplit, RepoError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(code.as_str())))
            .projection_expression("human_clicks, bot_clicks, deleted_at")
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        let Some(item) = output.item() else {
            return Ok(ClickSplit::default());
        };
        if item.contains_key("deleted_at") {
            return Ok(ClickSplit::default());
        }
        Ok(ClickSplit {
            human: number(item, "human_clicks")?,
            bot: number(item, "bot_clicks")?,
        })
    }

    async fn click_hours(
        &self,
        code: &ShortCode,
        hours: Range<i64>,
    ) -> Result<Vec<HourClicks>, RepoError> {
        let days = hours.start.div_euclid(HOURS)..(hours.end - 1).div_euclid(HOURS) + 1;
        let items = self.day_items(code, days).await?;
        let mut found = Vec::new();
        for (_, item) in &items {
            for (name, _) in item.iter().filter(|(k, _)| k.starts_with('h')) {
                let Ok(hour) = name[1..].parse::<i64>() else {
                    continue;
                };
                if !hours.contains(&hour) {
                    continue;
                }
                let human = number(item, name)?;
                let bot = number(item, &format!("b{hour}"))?;
                found.push(HourClicks { hour, human, bot });
            }
            // Hours with bot clicks alone.
            for (name, _) in item.iter().filter(|(k, _)| k.starts_with('b')) {
                let Ok(hour) = name[1..].parse::<i64>() else {
                    continue;
                };
                if hours.contains(&hour) && !item.contains_key(&format!("h{hour}")) {
                    found.push(HourClicks {
                        hour,
                        human: 0,
                        bot: number(item, name)?,
                    });
                }
            }
        }
        found.retain(|h| h.human > 0 || h.bot > 0);
        found.sort_by_key(|h| h.hour);
        Ok(found)
    }

    async fn click_breakdown(
        &self,
        code: &ShortCode,
        days: Range<i64>,
    ) -> Result<Vec<DimensionClicks>, RepoError> {
        let items = self.day_items(code, days).await?;
        let mut rows = Vec::new();
        for (day, item) in &items {
            for dimension in Dimension::ALL {
                let prefix = letter(dimension);
                for (name, _) in item.iter().filter(|(k, _)| k.starts_with(prefix)) {
                    rows.push(DimensionClicks {
                        day: *day,
                        dimension,
                        key: name[prefix.len()..].into(),
                        clicks: number(item, name)?,
                    });
                }
            }
        }
        Ok(rows)
    }
}
