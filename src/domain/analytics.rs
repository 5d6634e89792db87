//! What the analytics keep per link: hourly buckets of human and bot clicks, and daily counts
//! per referrer host, country and device class with a bounded number of keys per day (the
//! rest folded into [`OTHER`]), so an attacker who invents a million referrers grows nothing.
//!
//! [`ClickTally`] is one batch's worth of these for one link: the click pipeline folds events
//! into it and a store adds it to what it holds. Every store applies the same cap the same way
//! ([`BREAKDOWN_KEYS_PER_DAY`]), so totals read back equal on every backend.

use compact_str::CompactString;

use super::click::{ClickEvent, ClickTarget, day_of, hour_of};

/// Distinct keys a link keeps per day and dimension; clicks with further keys count under
/// [`OTHER`]. Larger than the top-N the API shows, so the top of a day is exact while the
/// tail stays bounded.
pub const BREAKDOWN_KEYS_PER_DAY: usize = 50;

/// The key the tail beyond [`BREAKDOWN_KEYS_PER_DAY`] is counted under. Parentheses cannot
/// appear in a host, a country code or a device class, so it never names a real key.
pub const OTHER: &str = "(other)";

/// The referrer key of a click that came without one (typed, bookmarked, an app).
pub const DIRECT: &str = "(direct)";

/// The country key of a click no CDN header placed.
pub const UNKNOWN_COUNTRY: &str = "(unknown)";

/// What a breakdown counts clicks by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dimension {
    /// The referring page's host.
    Referrer,
    /// The visitor's country.
    Country,
    /// The device class.
    Device,
    /// What served the click on a link with redirect rules: [`DEFAULT_TARGET`] or
    /// `rule-{n}` (the n-th rule, from 1); links without rules count none.
    Target,
}

/// The target key of a click the link's own destination served.
pub const DEFAULT_TARGET: &str = "default";

/// The target key of a click the rule at `index` (from 0) served.
pub fn rule_target(index: u8) -> String {
    format!("rule-{}", u16::from(index) + 1)
}

impl Dimension {
    /// Every dimension.
    pub const ALL: [Dimension; 4] = [
        Dimension::Referrer,
        Dimension::Country,
        Dimension::Device,
        Dimension::Target,
    ];

    /// The name used in stores.
    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Referrer => "referrer",
            Dimension::Country => "country",
            Dimension::Device => "device",
            Dimension::Target => "target",
        }
    }

    /// The dimension named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == name)
    }
}

/// Clicks on one link in one UTC hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HourClicks {
    /// Hours since the Unix epoch.
    pub hour: i64,
    /// Clicks by people.
    pub human: u64,
    /// Clicks by bots and link-preview fetchers.
    pub bot: u64,
}

/// Clicks on one link on one UTC day under one key of one dimension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DimensionClicks {
    /// Days since the Unix epoch.
    pub day: i64,
    /// What `key` is.
    pub dimension: Dimension,
    /// A host, a country code, a device class, or [`OTHER`], [`DIRECT`], [`UNKNOWN_COUNTRY`].
    pub key: CompactString,
    /// How many.
    pub clicks: u64,
}

/// A link's clicks split into people and bots (clicks counted before the split existed are in
/// neither).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClickSplit {
    /// Clicks by people.
    pub human: u64,
    /// Clicks by bots.
    pub bot: u64,
}

/// One batch's analytics for one link: what a store adds, in the same atomic step (and under
/// the same write mark) as the click count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClickTally {
    /// Of the batch's clicks, how many were bots (the rest were people).
    pub bots: u64,
    /// Per hour, few entries: a batch spans seconds.
    pub hours: Vec<HourClicks>,
    /// Per day, dimension and key, at most [`BREAKDOWN_KEYS_PER_DAY`] keys (plus [`OTHER`])
    /// per day and dimension.
    pub breakdown: Vec<DimensionClicks>,
}

impl ClickTally {
    /// Adds one event.
    pub fn add(&mut self, event: &ClickEvent) {
        self.bots += u64::from(event.bot);
        self.add_hour(HourClicks {
            hour: hour_of(event.at),
            human: u64::from(!event.bot),
            bot: u64::from(event.bot),
        });
        let day = day_of(event.at);
        let referrer = event.referrer.as_ref().map_or(DIRECT, |r| r.as_str());
        let country = event
            .country
            .as_ref()
            .map_or(UNKNOWN_COUNTRY, |c| c.as_str());
        self.add_key(day, Dimension::Referrer, referrer, 1);
        self.add_key(day, Dimension::Country, country, 1);
        self.add_key(day, Dimension::Device, event.device.as_str(), 1);
        match event.target {
            None => {}
            Some(ClickTarget::Default) => self.add_key(day, Dimension::Target, DEFAULT_TARGET, 1),
            Some(ClickTarget::Rule(i)) => self.add_key(day, Dimension::Target, &rule_target(i), 1),
        }
    }

    /// Adds everything `other` holds.
    pub fn merge(&mut self, other: &ClickTally) {
        self.bots += other.bots;
        for hour in &other.hours {
            self.add_hour(*hour);
        }
        for row in &other.breakdown {
            self.add_key(row.day, row.dimension, &row.key, row.clicks);
        }
    }

    /// Whether there is nothing to add.
    pub fn is_empty(&self) -> bool {
        self.bots == 0 && self.hours.is_empty() && self.breakdown.is_empty()
    }

    fn add_hour(&mut self, add: HourClicks) {
        // Events arrive roughly in time order: the hour is nearly always the last one.
        match self.hours.iter_mut().rev().find(|h| h.hour == add.hour) {
            Some(hour) => {
                hour.human += add.human;
                hour.bot += add.bot;
            }
            None => self.hours.push(add),
        }
    }

    fn add_key(&mut self, day: i64, dimension: Dimension, key: &str, clicks: u64) {
        let same = |r: &&mut DimensionClicks| r.day == day && r.dimension == dimension;
        if let Some(row) = self
            .breakdown
            .iter_mut()
            .rev()
            .filter(same)
            .find(|r| r.key == key)
        {
            row.clicks += clicks;
            return;
        }
        let kept = self
            .breakdown
            .iter()
            .filter(|r| r.day == day && r.dimension == dimension && r.key != OTHER)
            .count();
        let key = kept_key(kept, key);
        if key == OTHER
            && let Some(row) = self
                .breakdown
                .iter_mut()
                .find(|r| r.day == day && r.dimension == dimension && r.key == OTHER)
        {
            row.clicks += clicks;
            return;
        }
        self.breakdown.push(DimensionClicks {
            day,
            dimension,
            key: key.into(),
            clicks,
        });
    }
}

/// The key a new `key` is counted under when a link's day already holds `kept` distinct keys
/// of that dimension (not counting [`OTHER`]): itself while there is room, else [`OTHER`].
/// Every store applies this rule when it meets a key it does not hold yet.
pub fn kept_key(kept: usize, key: &str) -> &str {
    if kept < BREAKDOWN_KEYS_PER_DAY {
        key
    } else {
        OTHER
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Country, DeviceClass, ReferrerHost, ShortCode, Timestamp};

    fn event(ms: i64, referrer: Option<&str>, bot: bool) -> ClickEvent {
        ClickEvent {
            code: ShortCode::parse("abc").unwrap(),
            at: Timestamp::from_unix_millis(ms).unwrap(),
            referrer: referrer.map(ReferrerHost::from_stored),
            country: Country::from_header(b"DE"),
            device: if bot {
                DeviceClass::Bot
            } else {
                DeviceClass::Mobile
            },
            bot,
            target: None,
        }
    }

    fn clicks(t: &ClickTally, dimension: Dimension, key: &str) -> u64 {
        t.breakdown
            .iter()
            .filter(|r| r.dimension == dimension && r.key == key)
            .map(|r| r.clicks)
            .sum()
    }

    #[test]
    fn events_fold_into_hours_and_keys() {
        let mut t = ClickTally::default();
        t.add(&event(10, Some("t.co"), false));
        t.add(&event(20, None, true));
        t.add(&event(3_600_000, Some("t.co"), false));
        assert_eq!(t.bots, 1);
        assert_eq!(
            t.hours,
            vec![
                HourClicks {
                    hour: 0,
                    human: 1,
                    bot: 1
                },
                HourClicks {
                    hour: 1,
                    human: 1,
                    bot: 0
                },
            ]
        );
        assert_eq!(clicks(&t, Dimension::Referrer, "t.co"), 2);
        assert_eq!(clicks(&t, Dimension::Referrer, DIRECT), 1);
        assert_eq!(clicks(&t, Dimension::Country, "DE"), 3);
        assert_eq!(clicks(&t, Dimension::Device, "bot"), 1);
        assert_eq!(clicks(&t, Dimension::Device, "mobile"), 2);
    }

    #[test]
    fn keys_past_the_cap_fold_into_other() {
        let mut t = ClickTally::default();
        for i in 0..BREAKDOWN_KEYS_PER_DAY + 25 {
            t.add(&event(0, Some(&format!("h{i}.example")), false));
        }
        t.add(&event(0, Some("h0.example"), false));
        let referrers = t
            .breakdown
            .iter()
            .filter(|r| r.dimension == Dimension::Referrer)
            .count();
        assert_eq!(referrers, BREAKDOWN_KEYS_PER_DAY + 1);
        assert_eq!(clicks(&t, Dimension::Referrer, OTHER), 25);
        assert_eq!(clicks(&t, Dimension::Referrer, "h0.example"), 2);

        let mut merged = ClickTally::default();
        merged.merge(&t);
        merged.merge(&t);
        assert_eq!(clicks(&merged, Dimension::Referrer, OTHER), 50);
        assert_eq!(merged.bots, 0);
        assert_eq!(
            merged.hours[0].human,
            2 * (BREAKDOWN_KEYS_PER_DAY as u64 + 26)
        );
    }
}
