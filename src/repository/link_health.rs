//! `LinkHealthStore`: when each link is next checked, who holds its check, and what the checks
//! found.
//!
//! Every link has a place in the schedule from its creation (each backend's `save` puts it
//! there): due at its `created_at` and not yet checked. A worker *leases* due links: the lease
//! is the link's due time moved to the lease's end, in one atomic step, so two workers never
//! hold one link, and a worker that dies lets its leases run out by themselves (the links fall
//! due again). Recording a check sets the due time to the next round.

use async_trait::async_trait;

use super::RepoError;
use crate::domain::{LinkCheck, LinkHealthState, ShortCode, Timestamp};

/// Checks a link's history keeps, newest first.
pub const HISTORY_LEN: usize = 20;

/// What a store keeps of a link's health.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkHealthRecord {
    /// The summary.
    pub state: LinkHealthState,
    /// The latest checks, newest first, at most [`HISTORY_LEN`].
    pub history: Vec<LinkCheck>,
}

impl LinkHealthRecord {
    /// Adds `check` (the state was updated by the caller) at the front of the history.
    pub fn push(&mut self, check: LinkCheck) {
        self.history.insert(0, check);
        self.history.truncate(HISTORY_LEN);
    }
}

/// Which links [`LinkHealthStore::lease_due`] may hand out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueWindow {
    /// Links checked before whose next check is due at or before this.
    pub now: Timestamp,
    /// Links never checked that were created (or last leased) at or before this: `now`
    /// minus `link_health.first_check_after_seconds`.
    pub new_before: Timestamp,
    /// The end of the lease the handed-out links get.
    pub lease_until: Timestamp,
}

/// The link-health schedule and records. Every backend
/// passes the same conformance tests (`tests/conformance/link_health.rs`).
#[async_trait]
pub trait LinkHealthStore: Send + Sync + 'static {
    /// Leases up to `limit` links that are due in `window`: each one's due time becomes
    /// `window.lease_until` atomically, so no other caller gets it until then. Links deleted
    /// or gone are skipped (and may be dropped from the schedule).
    ///
    /// # Errors
    /// [`RepoError::Unavailable`].
    async fn lease_due(&self, window: DueWindow, limit: usize)
    -> Result<Vec<ShortCode>, RepoError>;

    /// Stores `record` as the link's health and makes it due again at `next_check_at`. A link
    /// that no longer exists is left alone.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`].
    async fn record_check(
        &self,
        code: &ShortCode,
        record: &LinkHealthRecord,
        next_check_at: Timestamp,
    ) -> Result<(), RepoError>;

    /// The link's health, or `None` before its first check (or for an unknown link).
    ///
    /// # Errors
    /// [`RepoError::Unavailable`] or [`RepoError::Corrupt`].
    async fn link_health(&self, code: &ShortCode) -> Result<Option<LinkHealthRecord>, RepoError>;

    /// Up to `limit` broken links, the longest broken first.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`].
    async fn broken_links(&self, limit: usize) -> Result<Vec<(ShortCode, Timestamp)>, RepoError>;
}

/// The text form every store keeps a [`LinkHealthRecord`] in (one column, field or attribute):
/// compact JSON, `{"f":failures,"fs":failing_since,"bs":broken_since,"c":[[at,outcome,status,ms],…]}`
/// with times in Unix milliseconds, newest check first. The state's `last` is the first check.
pub mod codec {
    use serde::{Deserialize, Serialize};

    use super::LinkHealthRecord;
    use crate::domain::{CheckOutcome, LinkCheck, LinkHealthState, Timestamp};
    use crate::repository::RepoError;

    #[derive(Serialize, Deserialize)]
    struct Stored {
        f: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fs: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bs: Option<i64>,
        c: Vec<(i64, String, Option<u16>, u32)>,
    }

    /// `record` as text.
    pub fn encode(record: &LinkHealthRecord) -> String {
        let stored = Stored {
            f: record.state.failures,
            fs: record.state.failing_since.map(Timestamp::as_unix_millis),
            bs: record.state.broken_since.map(Timestamp::as_unix_millis),
            c: record
                .history
                .iter()
                .map(|c| {
                    (
                        c.at.as_unix_millis(),
                        c.outcome.as_str().to_owned(),
                        c.http_status,
                        c.duration_ms,
                    )
                })
                .collect(),
        };
        serde_json::to_string(&stored).unwrap_or_default()
    }

    /// The record `text` holds.
    ///
    /// # Errors
    /// [`RepoError::Corrupt`] for text [`encode`] did not write.
    pub fn decode(text: &str) -> Result<LinkHealthRecord, RepoError> {
        let corrupt = || RepoError::Corrupt("a link's health record".into());
        let stored: Stored = serde_json::from_str(text).map_err(|_| corrupt())?;
        let time = |ms: i64| Timestamp::from_unix_millis(ms).ok_or_else(corrupt);
        let history = stored
            .c
            .into_iter()
            .map(|(at, outcome, http_status, duration_ms)| {
                Ok(LinkCheck {
                    at: time(at)?,
                    outcome: CheckOutcome::parse(&outcome).ok_or_else(corrupt)?,
                    http_status,
                    duration_ms,
                })
            })
            .collect::<Result<Vec<_>, RepoError>>()?;
        Ok(LinkHealthRecord {
            state: LinkHealthState {
                last: history.first().cloned(),
                failures: stored.f,
                failing_since: stored.fs.map(time).transpose()?,
                broken_since: stored.bs.map(time).transpose()?,
            },
            history,
        })
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn a_record_survives_the_round_trip() {
            let check = LinkCheck {
                at: Timestamp::from_unix_millis(1_700_000_000_123).unwrap(),
                outcome: CheckOutcome::ServerError,
                http_status: Some(503),
                duration_ms: 42,
            };
            let mut record = LinkHealthRecord::default();
            record.state.failures = 1;
            record.state.failing_since = Some(check.at);
            record.state.last = Some(check.clone());
            record.push(check);
            assert_eq!(decode(&encode(&record)).unwrap(), record);
            assert!(decode("{not json").is_err());
        }
    }
}
