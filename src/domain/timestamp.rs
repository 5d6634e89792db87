//! `Timestamp`: an instant with millisecond precision, the only notion of time the domain uses.
//!
//! Millisecond integers are what every store keeps natively (SQLite integers, Redis `PEXPIREAT`,
//! DynamoDB numbers), so a record written to any backend reads back equal. On the wire a
//! timestamp is an RFC 3339 UTC string.

use std::fmt;

use serde::{Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::FormatItem;
use time::macros::format_description;

/// RFC 3339 in UTC with exactly three fractional digits, so timestamps sort as strings too.
const RFC3339_MILLIS: &[FormatItem<'_>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// Milliseconds since the Unix epoch, UTC.
///
/// Ordering and equality are those of the millisecond count. Arithmetic is checked: adding a
/// duration that would leave the representable range yields `None`, never a wrapped value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The latest instant RFC 3339 can spell (9999-12-31T23:59:59.999Z); later values are refused
    /// so that every timestamp serializes.
    pub const MAX: Timestamp = Timestamp(253_402_300_799_999);

    /// The Unix epoch.
    pub const UNIX_EPOCH: Timestamp = Timestamp(0);

    /// Builds a timestamp from milliseconds since the Unix epoch.
    ///
    /// Returns `None` before the epoch or after [`Timestamp::MAX`].
    pub fn from_unix_millis(millis: i64) -> Option<Self> {
        (0..=Self::MAX.0).contains(&millis).then_some(Self(millis))
    }

    /// Milliseconds since the Unix epoch.
    pub fn as_unix_millis(self) -> i64 {
        self.0
    }

    /// Whole seconds since the Unix epoch, rounded down.
    pub fn as_unix_seconds(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// This instant plus `seconds`, or `None` if the result would pass [`Timestamp::MAX`].
    pub fn checked_add_seconds(self, seconds: u64) -> Option<Self> {
        let millis = i64::try_from(seconds).ok()?.checked_mul(1000)?;
        Self::from_unix_millis(self.0.checked_add(millis)?)
    }

    /// This instant plus `millis` milliseconds, or `None` past [`Timestamp::MAX`].
    pub fn checked_add_millis(self, millis: u64) -> Option<Self> {
        Self::from_unix_millis(self.0.checked_add(i64::try_from(millis).ok()?)?)
    }

    /// This instant plus `duration`, or [`Timestamp::MAX`] past it.
    pub fn saturating_add(self, duration: std::time::Duration) -> Self {
        u64::try_from(duration.as_millis())
            .ok()
            .and_then(|ms| self.checked_add_millis(ms))
            .unwrap_or(Self::MAX)
    }

    /// Milliseconds from `earlier` to `self`, or zero when `earlier` is not earlier.
    pub fn millis_since(self, earlier: Timestamp) -> u64 {
        u64::try_from(self.0 - earlier.0).unwrap_or(0)
    }

    /// Parses an RFC 3339 date-time with any offset (`2026-11-22T10:15:30Z`,
    /// `2026-11-22T11:15:30.25+01:00`), truncated to the millisecond; `None` for anything else
    /// or an instant outside the representable range.
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        let parsed =
            OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
        let millis = i64::try_from(parsed.unix_timestamp_nanos().div_euclid(1_000_000)).ok()?;
        Self::from_unix_millis(millis)
    }

    /// RFC 3339 in UTC with millisecond precision, always three digits: `2026-11-22T10:15:30.250Z`.
    pub fn to_rfc3339(self) -> String {
        let nanos = i128::from(self.0) * 1_000_000;
        match OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .ok()
            .and_then(|t| t.format(RFC3339_MILLIS).ok())
        {
            Some(s) => s,
            // Unreachable for values built through `from_unix_millis`; keep a total function.
            None => "1970-01-01T00:00:00.000Z".to_owned(),
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_render_as_rfc3339_utc() {
        let t = Timestamp::from_unix_millis(1_700_000_000_250).unwrap();
        assert_eq!(t.to_rfc3339(), "2023-11-14T22:13:20.250Z");
        assert_eq!(
            Timestamp::UNIX_EPOCH.to_rfc3339(),
            "1970-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn adding_a_huge_duration_is_none_rather_than_a_wrap() {
        let t = Timestamp::from_unix_millis(1_700_000_000_000).unwrap();
        assert_eq!(t.checked_add_seconds(u64::MAX), None);
        assert_eq!(
            Timestamp::parse_rfc3339("2026-11-22T11:15:30.2509+01:00"),
            Timestamp::parse_rfc3339("2026-11-22T10:15:30.250Z")
        );
        for bad in [
            "",
            "2026-11-22",
            "yesterday",
            "1969-12-31T23:59:59Z",
            "2026-13-01T00:00:00Z",
        ] {
            assert_eq!(Timestamp::parse_rfc3339(bad), None, "{bad}");
        }
        assert_eq!(t.checked_add_seconds(i64::MAX as u64), None);
        assert_eq!(Timestamp::MAX.checked_add_millis(1), None);
        assert_eq!(
            t.checked_add_seconds(1).unwrap().as_unix_millis(),
            1_700_000_001_000
        );
    }

    #[test]
    fn out_of_range_millis_are_refused() {
        assert_eq!(Timestamp::from_unix_millis(-1), None);
        assert_eq!(Timestamp::from_unix_millis(Timestamp::MAX.0 + 1), None);
        assert!(
            Timestamp::MAX
                .to_rfc3339()
                .starts_with("9999-12-31T23:59:59.999")
        );
    }
}
