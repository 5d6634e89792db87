//! Click analytics in Redis: one hash per link beside the link's own (same hash slot, expiring
//! with it, dropped with it), holding
//!
//! - `h{hour}` and `b{hour}`: the human and bot clicks of an hour (hours since the epoch);
//! - `{day}|{r|c|d}|{key}`: the clicks of a day under a referrer host, country or device;
//! - `k{day}|{r|c|d}`: the keys that day holds, newline-separated, so a read can name the
//!   fields it wants (`HMGET`, never a scan of a hash that grows with the link's age) and the
//!   increment script can enforce the key cap.
//!
//! The human and bot totals are fields of the link's hash (`hn`, `bn`). Every change happens in
//! the increment script, under the link's write mark.

use std::ops::Range;

use async_trait::async_trait;
use redis::ScriptInvocation;

use super::{RedisRepository, unavailable};
use crate::domain::{
    BREAKDOWN_KEYS_PER_DAY, ClickSplit, ClickTally, Dimension, DimensionClicks, HourClicks, OTHER,
    ShortCode,
};
use crate::repository::{ClickStatsStore, RepoError};

fn letter(dimension: Dimension) -> &'static str {
    match dimension {
        Dimension::Referrer => "r",
        Dimension::Country => "c",
        Dimension::Device => "d",
        Dimension::Target => "t",
    }
}

/// Appends the analytics arguments of the increment script (see `INCREMENT_SCRIPT`); nothing
/// for an empty tally.
pub(super) fn tally_args(call: &mut ScriptInvocation<'_>, tally: &ClickTally) {
    if tally.is_empty() {
        return;
    }
    let (human, bot) = tally
        .hours
        .iter()
        .fold((0u64, 0u64), |(h, b), hour| (h + hour.human, b + hour.bot));
    call.arg(human)
        .arg(bot)
        .arg(BREAKDOWN_KEYS_PER_DAY)
        .arg(OTHER);
    for hour in &tally.hours {
        for (prefix, n) in [("h", hour.human), ("b", hour.bot)] {
            if n > 0 {
                call.arg("h")
                    .arg(format!("{prefix}{}", hour.hour))
                    .arg("")
                    .arg(n);
            }
        }
    }
    for row in &tally.breakdown {
        call.arg("k")
            .arg(format!("{}|{}", row.day, letter(row.dimension)))
            .arg(row.key.as_str())
            .arg(row.clicks);
    }
}

fn count(value: Option<String>) -> Result<u64, RepoError> {
    value.map_or(Ok(0), |v| {
        v.parse()
            .map_err(|_| RepoError::Corrupt("a click count in Redis".into()))
    })
}

impl RedisRepository {
    async fn hmget(&self, key: &str, fields: &[String]) -> Result<Vec<Option<String>>, RepoError> {
        if fields.is_empty() {
            return Ok(Vec::new());
        }
        let mut connection = self.connection.clone();
        redis::cmd("HMGET")
            .arg(key)
            .arg(fields)
            .query_async(&mut connection)
            .await
            .map_err(unavailable)
    }
}

#[async_trait]
impl ClickStatsStore for RedisRepository {
    async fn click_split(&self, code: &ShortCode) -> Result<ClickSplit, RepoError> {
        let fields = ["hn", "bn", "x"].map(String::from);
        let mut values = self.hmget(&self.key(code), &fields).await?.into_iter();
        let (human, bot, deleted) = (values.next(), values.next(), values.next());
        if deleted.flatten().is_some() {
            return Ok(ClickSplit::default());
        }
        Ok(ClickSplit {
            human: count(human.flatten())?,
            bot: count(bot.flatten())?,
        })
    }

    async fn click_hours(
        &self,
        code: &ShortCode,
        hours: Range<i64>,
    ) -> Result<Vec<HourClicks>, RepoError> {
        let fields: Vec<String> = hours
            .clone()
            .flat_map(|h| [format!("h{h}"), format!("b{h}")])
            .collect();
        let values = self.hmget(&self.clicks_key(code), &fields).await?;
        let mut found = Vec::new();
        for (hour, pair) in hours.zip(values.chunks(2)) {
            let human = count(pair[0].clone())?;
            let bot = count(pair.get(1).cloned().flatten())?;
            if human > 0 || bot > 0 {
                found.push(HourClicks { hour, human, bot });
            }
        }
        Ok(found)
    }

    async fn click_breakdown(
        &self,
        code: &ShortCode,
        days: Range<i64>,
    ) -> Result<Vec<DimensionClicks>, RepoError> {
        let key = self.clicks_key(code);
        let groups: Vec<(i64, Dimension)> = days
            .flat_map(|day| Dimension::ALL.map(|d| (day, d)))
            .collect();
        let lists: Vec<String> = groups
            .iter()
            .map(|(day, d)| format!("k{day}|{}", letter(*d)))
            .collect();
        let lists = self.hmget(&key, &lists).await?;
        let mut wanted: Vec<(i64, Dimension, String)> = Vec::new();
        for ((day, dimension), list) in groups.into_iter().zip(lists) {
            if let Some(list) = list {
                wanted.extend(list.split('\n').map(|k| (day, dimension, k.to_owned())));
                wanted.push((day, dimension, OTHER.to_owned()));
            }
        }
        let fields: Vec<String> = wanted
            .iter()
            .map(|(day, d, k)| format!("{day}|{}|{k}", letter(*d)))
            .collect();
        let values = self.hmget(&key, &fields).await?;
        let mut rows = Vec::new();
        for ((day, dimension, key), value) in wanted.into_iter().zip(values) {
            let clicks = count(value)?;
            if clicks > 0 {
                rows.push(DimensionClicks {
                    day,
                    dimension,
                    key: key.into(),
                    clicks,
                });
            }
        }
        Ok(rows)
    }
}
