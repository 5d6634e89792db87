//! `ClickStatsStore`: reading a link's click analytics back.
//!
//! The writes are not here: a link's hourly buckets and breakdowns change only inside
//! [`super::Repository::increment_click_counts`], in the same atomic step and under the same
//! write mark as its click count, so a redelivered batch is counted once everywhere or nowhere.
//! Every backend applies a [`crate::domain::ClickTally`] the same way:
//!
//! - each hour's `human` and `bot` are added to that hour's bucket, and to the link's totals;
//! - each breakdown row is added to its key when the link's day already holds that key, else
//!   to the key [`crate::domain::kept_key`] names (the key itself while the day holds fewer
//!   than [`crate::domain::BREAKDOWN_KEYS_PER_DAY`] keys of that dimension, else `(other)`);
//! - deleting a link (or its expiry sweep) removes its analytics with it.

use std::ops::Range;

use async_trait::async_trait;

use super::RepoError;
use crate::domain::{ClickSplit, DimensionClicks, HourClicks, ShortCode};

/// The widest range of hours one [`ClickStatsStore::click_hours`] call may ask for: a year and
/// a day. The service refuses wider ranges before a store is asked.
pub const MAX_SERIES_HOURS: i64 = 366 * 24;

/// The widest range of days one [`ClickStatsStore::click_breakdown`] call may ask for.
pub const MAX_BREAKDOWN_DAYS: i64 = 366;

/// Read access to click analytics. Every backend passes the same conformance tests
/// (`tests/conformance/repository.rs`, `analytics_*`).
#[async_trait]
pub trait ClickStatsStore: Send + Sync + 'static {
    /// The link's clicks by people and by bots since analytics began; zeros for an unknown,
    /// deleted or unclicked link.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`].
    async fn click_split(&self, code: &ShortCode) -> Result<ClickSplit, RepoError>;

    /// The link's hourly buckets with `hours.start <= hour < hours.end` that hold clicks,
    /// oldest first; the range is at most [`MAX_SERIES_HOURS`] wide.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`] or [`RepoError::Corrupt`].
    async fn click_hours(
        &self,
        code: &ShortCode,
        hours: Range<i64>,
    ) -> Result<Vec<HourClicks>, RepoError>;

    /// The link's breakdown rows of days `days.start <= day < days.end`, in no particular
    /// order; the range is at most [`MAX_BREAKDOWN_DAYS`] wide.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`] or [`RepoError::Corrupt`].
    async fn click_breakdown(
        &self,
        code: &ShortCode,
        days: Range<i64>,
    ) -> Result<Vec<DimensionClicks>, RepoError>;
}
