//! Click analytics as the API shows them: a link's human/bot split, its clicks over time in
//! hourly or daily buckets (every bucket present, zeros included), and its top referrers,
//! countries and devices over a range of days. Reads the store and adds this instance's clicks
//! not yet written, as `/stats` does for the count.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use super::{ClickBuffer, ServiceError};
use crate::domain::{
    ClickSplit, DAY_MILLIS, Dimension, DimensionClicks, HOUR_MILLIS, HourClicks, OTHER, ShortCode,
    Timestamp,
};
use crate::repository::ClickStatsStore;

/// Keys a breakdown lists per dimension; the rest are summed into `(other)`.
pub const TOP_KEYS: usize = 10;

/// Widest time series with hourly buckets: 31 days.
pub const MAX_HOURLY_POINTS: i64 = 31 * 24;

/// Widest time series with daily buckets, and widest breakdown: 366 days.
pub const MAX_DAILY_POINTS: i64 = 366;

/// Bucket width of a time series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    /// UTC hours.
    Hour,
    /// UTC days.
    Day,
}

impl Interval {
    fn millis(self) -> i64 {
        match self {
            Interval::Hour => HOUR_MILLIS,
            Interval::Day => DAY_MILLIS,
        }
    }

    fn max_points(self) -> i64 {
        match self {
            Interval::Hour => MAX_HOURLY_POINTS,
            Interval::Day => MAX_DAILY_POINTS,
        }
    }
}

/// One bucket of a time series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeriesPoint {
    /// The bucket's first instant.
    pub start: Timestamp,
    /// Clicks by people.
    pub human: u64,
    /// Clicks by bots.
    pub bot: u64,
}

/// Top keys of one dimension, most clicked first, the tail summed into `(other)` last.
pub type Ranking = Vec<(String, u64)>;

/// A link's breakdowns over a range of days.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Breakdown {
    /// Referrer hosts (`(direct)` for none).
    pub referrers: Ranking,
    /// Countries (`(unknown)` where no CDN header said).
    pub countries: Ranking,
    /// Device classes.
    pub devices: Ranking,
    /// What served the clicks of a link with redirect rules (`default`, `rule-1`, …).
    pub targets: Ranking,
}

/// Reads analytics for the API.
pub struct ClickAnalytics {
    store: Arc<dyn ClickStatsStore>,
    buffer: Arc<ClickBuffer>,
}

/// The buckets of `[from, to)` at `interval`: `from` rounded down and `to` up to bucket
/// boundaries.
///
/// # Errors
/// [`ServiceError::InvalidRange`] when `to` is not after `from` or the range holds more buckets
/// than the interval allows.
pub fn buckets(
    from: Timestamp,
    to: Timestamp,
    interval: Interval,
) -> Result<Range<i64>, ServiceError> {
    if to <= from {
        return Err(ServiceError::InvalidRange(
            "`to` must be after `from`".into(),
        ));
    }
    let width = interval.millis();
    let first = from.as_unix_millis().div_euclid(width);
    let end = (to.as_unix_millis() + width - 1).div_euclid(width);
    if end <= first {
        return Err(ServiceError::InvalidRange(
            "`to` must be after `from`".into(),
        ));
    }
    if end - first > interval.max_points() {
        return Err(ServiceError::InvalidRange(format!(
            "at most {} {} buckets per request",
            interval.max_points(),
            match interval {
                Interval::Hour => "hourly",
                Interval::Day => "daily",
            }
        )));
    }
    Ok(first..end)
}

impl ClickAnalytics {
    /// Analytics read from `store`, with the unwritten clicks of `buffer` added.
    pub fn new(store: Arc<dyn ClickStatsStore>, buffer: Arc<ClickBuffer>) -> Self {
        Self { store, buffer }
    }

    /// The human/bot split of `code` (the caller has checked the link is live).
    ///
    /// # Errors
    /// [`ServiceError::Storage`].
    pub async fn split(&self, code: &ShortCode) -> Result<ClickSplit, ServiceError> {
        let (mut split, unflushed) = self
            .buffer
            .read_with_unflushed(|| self.store.click_split(code), |_| vec![code.clone()])
            .await?;
        if let Some(pending) = unflushed.get(code) {
            for hour in &pending.tally.hours {
                split.human += hour.human;
                split.bot += hour.bot;
            }
        }
        Ok(split)
    }

    /// The clicks of `code` in the buckets `range` (from [`buckets`]) at `interval`, every
    /// bucket present.
    ///
    /// # Errors
    /// [`ServiceError::Storage`].
    pub async fn series(
        &self,
        code: &ShortCode,
        range: Range<i64>,
        interval: Interval,
    ) -> Result<Vec<SeriesPoint>, ServiceError> {
        let per_bucket = interval.millis() / HOUR_MILLIS;
        let hours = range.start * per_bucket..range.end * per_bucket;
        let (mut stored, unflushed) = self
            .buffer
            .read_with_unflushed(
                || self.store.click_hours(code, hours.clone()),
                |_| vec![code.clone()],
            )
            .await?;
        if let Some(pending) = unflushed.get(code) {
            stored.extend(
                pending
                    .tally
                    .hours
                    .iter()
                    .filter(|h| hours.contains(&h.hour)),
            );
        }
        let mut points: Vec<SeriesPoint> = range
            .clone()
            .map(|bucket| SeriesPoint {
                start: Timestamp::from_unix_millis(bucket * interval.millis())
                    .unwrap_or(Timestamp::MAX),
                human: 0,
                bot: 0,
            })
            .collect();
        for HourClicks { hour, human, bot } in stored {
            let index = usize::try_from(hour.div_euclid(per_bucket) - range.start).ok();
            if let Some(point) = index.and_then(|i| points.get_mut(i)) {
                point.human += human;
                point.bot += bot;
            }
        }
        Ok(points)
    }

    /// The top keys of each dimension of `code` over the days `days` (from [`buckets`] with
    /// [`Interval::Day`]).
    ///
    /// # Errors
    /// [`ServiceError::Storage`].
    pub async fn breakdown(
        &self,
        code: &ShortCode,
        days: Range<i64>,
    ) -> Result<Breakdown, ServiceError> {
        let (mut rows, unflushed) = self
            .buffer
            .read_with_unflushed(
                || self.store.click_breakdown(code, days.clone()),
                |_| vec![code.clone()],
            )
            .await?;
        if let Some(pending) = unflushed.get(code) {
            rows.extend(
                pending
                    .tally
                    .breakdown
                    .iter()
                    .filter(|r| days.contains(&r.day))
                    .cloned(),
            );
        }
        Ok(Breakdown {
            referrers: rank(&rows, Dimension::Referrer),
            countries: rank(&rows, Dimension::Country),
            devices: rank(&rows, Dimension::Device),
            targets: rank(&rows, Dimension::Target),
        })
    }
}

/// Sums `rows` of `dimension` per key, most clicks first (ties by key), [`TOP_KEYS`] of them,
/// the rest and any stored `(other)` last as `(other)`.
fn rank(rows: &[DimensionClicks], dimension: Dimension) -> Ranking {
    let mut totals: HashMap<&str, u64> = HashMap::new();
    for row in rows.iter().filter(|r| r.dimension == dimension) {
        *totals.entry(row.key.as_str()).or_default() += row.clicks;
    }
    let other = totals.remove(OTHER).unwrap_or(0);
    let mut ranked: Vec<(String, u64)> = totals
        .into_iter()
        .map(|(key, clicks)| (key.to_owned(), clicks))
        .collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let tail: u64 = ranked.iter().skip(TOP_KEYS).map(|(_, c)| c).sum::<u64>() + other;
    ranked.truncate(TOP_KEYS);
    if tail > 0 {
        ranked.push((OTHER.to_owned(), tail));
    }
    ranked
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_unix_millis(ms).unwrap()
    }

    #[test]
    fn ranges_round_out_to_whole_buckets_and_are_bounded() {
        let r = buckets(at(HOUR_MILLIS + 5), at(3 * HOUR_MILLIS + 1), Interval::Hour).unwrap();
        assert_eq!(r, 1..4);
        assert!(buckets(at(10), at(10), Interval::Hour).is_err());
        assert!(buckets(at(10), at(5), Interval::Day).is_err());
        let month = at(31 * DAY_MILLIS);
        assert!(buckets(at(0), month, Interval::Hour).is_ok());
        assert!(buckets(at(0), at(31 * DAY_MILLIS + 1), Interval::Hour).is_err());
        assert!(buckets(at(0), at(366 * DAY_MILLIS), Interval::Day).is_ok());
        assert!(buckets(at(0), at(367 * DAY_MILLIS), Interval::Day).is_err());
    }

    #[test]
    fn rankings_keep_the_top_and_fold_the_tail() {
        let row = |key: &str, clicks| DimensionClicks {
            day: 0,
            dimension: Dimension::Referrer,
            key: key.into(),
            clicks,
        };
        let mut rows: Vec<_> = (0..15).map(|i| row(&format!("h{i:02}"), 100 - i)).collect();
        rows.push(row("h00", 5));
        rows.push(row(OTHER, 7));
        let ranked = rank(&rows, Dimension::Referrer);
        assert_eq!(ranked.len(), TOP_KEYS + 1);
        assert_eq!(ranked[0], ("h00".to_owned(), 105));
        let tail: u64 = (10..15).map(|i| 100 - i).sum::<u64>() + 7;
        assert_eq!(ranked[TOP_KEYS], (OTHER.to_owned(), tail));
        assert!(rank(&rows, Dimension::Country).is_empty());
    }
}
