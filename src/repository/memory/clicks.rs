//! The memory store's click analytics: kept beside each link, boxed so that a link nobody
//! clicked costs one null pointer.

use std::collections::BTreeMap;
use std::ops::Range;

use async_trait::async_trait;
use compact_str::CompactString;

use super::{MemoryRepository, read};
use crate::domain::{
    ClickSplit, ClickTally, Dimension, DimensionClicks, HourClicks, OTHER, ShortCode, kept_key,
};
use crate::repository::{ClickStatsStore, RepoError};

/// One link's analytics.
#[derive(Debug, Default)]
pub(super) struct LinkStats {
    split: ClickSplit,
    /// hour → (human, bot).
    hours: BTreeMap<i64, (u64, u64)>,
    /// (day, dimension, key) → clicks.
    breakdown: BTreeMap<(i64, Dimension, CompactString), u64>,
}

impl LinkStats {
    /// Adds `tally` as every store does (see `repository::analytics`).
    pub(super) fn add(&mut self, tally: &ClickTally) {
        for hour in &tally.hours {
            let bucket = self.hours.entry(hour.hour).or_default();
            bucket.0 += hour.human;
            bucket.1 += hour.bot;
            self.split.human += hour.human;
            self.split.bot += hour.bot;
        }
        for row in &tally.breakdown {
            let key = (row.day, row.dimension, row.key.clone());
            if let Some(clicks) = self.breakdown.get_mut(&key) {
                *clicks += row.clicks;
                continue;
            }
            let kept = self
                .breakdown
                .range((row.day, row.dimension, CompactString::default())..)
                .take_while(|((day, dim, _), _)| *day == row.day && *dim == row.dimension)
                .filter(|((_, _, k), _)| k != OTHER)
                .count();
            let key = (row.day, row.dimension, kept_key(kept, &row.key).into());
            *self.breakdown.entry(key).or_default() += row.clicks;
        }
    }
}

#[async_trait]
impl ClickStatsStore for MemoryRepository {
    async fn click_split(&self, code: &ShortCode) -> Result<ClickSplit, RepoError> {
        Ok(self.with_stats(code, |s| s.split).unwrap_or_default())
    }

    async fn click_hours(
        &self,
        code: &ShortCode,
        hours: Range<i64>,
    ) -> Result<Vec<HourClicks>, RepoError> {
        Ok(self
            .with_stats(code, |s| {
                s.hours
                    .range(hours)
                    .map(|(&hour, &(human, bot))| HourClicks { hour, human, bot })
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn click_breakdown(
        &self,
        code: &ShortCode,
        days: Range<i64>,
    ) -> Result<Vec<DimensionClicks>, RepoError> {
        let start = (days.start, Dimension::Referrer, CompactString::default());
        Ok(self
            .with_stats(code, |s| {
                s.breakdown
                    .range(start..)
                    .take_while(|((day, _, _), _)| *day < days.end)
                    .map(|((day, dimension, key), &clicks)| DimensionClicks {
                        day: *day,
                        dimension: *dimension,
                        key: key.clone(),
                        clicks,
                    })
                    .collect()
            })
            .unwrap_or_default())
    }
}

impl MemoryRepository {
    fn with_stats<T>(&self, code: &ShortCode, f: impl FnOnce(&LinkStats) -> T) -> Option<T> {
        let shard = read(self.shard(code.as_str()));
        let entry = shard.records.get(code.as_str())?;
        if entry.is_deleted() {
            return None;
        }
        entry.stats.as_deref().map(f)
    }
}
