//! Click analytics in the SQLite file (migration 5): the link's human/bot totals as columns of
//! `links`, hourly buckets in `click_hours`, daily breakdowns in `click_breakdown`, and the
//! write marks of click processors in `click_writes`. Both tables
//! are keyed by code first, so a link's rows are one range of the primary-key B-tree: a read is
//! one descent and a scan of the range asked for, and deleting a link's rows is one range.

use std::ops::Range;

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::{SqliteRepository, unavailable};
use crate::domain::{
    BREAKDOWN_KEYS_PER_DAY, ClickSplit, ClickTally, Dimension, DimensionClicks, HourClicks, OTHER,
    ShortCode,
};
use crate::repository::{ClickStatsStore, RepoError};

/// Migration 5: the analytics tables.
pub(super) const MIGRATION: &str = "
    ALTER TABLE links ADD COLUMN human_clicks INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE links ADD COLUMN bot_clicks INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE click_hours (
        short_code TEXT    NOT NULL,
        hour       INTEGER NOT NULL,
        human      INTEGER NOT NULL,
        bot        INTEGER NOT NULL,
        PRIMARY KEY (short_code, hour)
    ) WITHOUT ROWID;
    CREATE TABLE click_breakdown (
        short_code TEXT    NOT NULL,
        day        INTEGER NOT NULL,
        dimension  TEXT    NOT NULL,
        key        TEXT    NOT NULL,
        clicks     INTEGER NOT NULL,
        PRIMARY KEY (short_code, day, dimension, key)
    ) WITHOUT ROWID;
    CREATE TABLE click_writes (
        short_code TEXT    NOT NULL,
        writer     INTEGER NOT NULL,
        seq        INTEGER NOT NULL,
        at         INTEGER NOT NULL,
        PRIMARY KEY (short_code, writer)
    ) WITHOUT ROWID;
    CREATE INDEX click_writes_at ON click_writes (at);";

/// Marks the write of a click processor's batch on `code` applied, inside the click write's
/// transaction: `false` when this writer's mark is already at or past the write's seq (the
/// batch was committed before its processor died, and was claimed again). Only shared
/// writers keep marks here: this process's own flushes are answered for certain.
pub(super) fn mark(
    tx: &rusqlite::Transaction<'_>,
    code: &str,
    writer: u64,
    seq: u64,
    at: i64,
) -> rusqlite::Result<bool> {
    // Bit patterns: ids and seqs use all 64 bits.
    let changed = tx
        .prepare_cached(
            "INSERT INTO click_writes (short_code, writer, seq, at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (short_code, writer) DO UPDATE SET seq = excluded.seq, at = excluded.at
             WHERE click_writes.seq < excluded.seq",
        )?
        .execute(params![code, writer as i64, seq as i64, at])?;
    Ok(changed == 1)
}

/// Drops the marks of writers silent since `before` (they have no batch left to redeliver).
pub(super) fn prune_marks(tx: &rusqlite::Transaction<'_>, before: i64) -> rusqlite::Result<()> {
    tx.prepare_cached("DELETE FROM click_writes WHERE at < ?1")?
        .execute([before])?;
    Ok(())
}

fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Adds `tally`'s hours and breakdowns to the analytics of `code`, inside the click write's
/// transaction, after its `UPDATE links` found the live link and added the human/bot totals
/// (so a deleted link gains nothing).
///
/// Each row is one statement, whether it is new or not: a flush over many links meets mostly
/// rows it has to create (the link's first click of the hour or day), and a look-up, a count
/// and an insert per breakdown row were three B-tree descents where one will do.
pub(super) fn add_tally(
    tx: &rusqlite::Transaction<'_>,
    code: &str,
    tally: &ClickTally,
) -> rusqlite::Result<()> {
    let mut hours = tx.prepare_cached(
        "INSERT INTO click_hours (short_code, hour, human, bot) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (short_code, hour)
         DO UPDATE SET human = human + excluded.human, bot = bot + excluded.bot",
    )?;
    for hour in &tally.hours {
        hours.execute(params![code, hour.hour, int(hour.human), int(hour.bot)])?;
    }
    // The key is counted under itself while the day holds fewer than ?7 other kept keys of the
    // dimension (an existing key always is: it is one of at most ?7), else under ?6 (OTHER):
    // the rule of `kept_key`, decided in the statement that writes the row. `VALUES`, not
    // `SELECT`: an `INSERT … SELECT` that reads its own table first copies the row into a
    // temporary table (an ephemeral B-tree opened and closed per row).
    let mut upsert = tx.prepare_cached(
        "INSERT INTO click_breakdown (short_code, day, dimension, key, clicks)
         VALUES (?1, ?2, ?3,
                 CASE WHEN (SELECT COUNT(*) FROM click_breakdown
                            WHERE short_code = ?1 AND day = ?2 AND dimension = ?3
                              AND key <> ?6 AND key <> ?4) < ?7
                      THEN ?4 ELSE ?6 END,
                 ?5)
         ON CONFLICT (short_code, day, dimension, key) DO UPDATE SET clicks = clicks + excluded.clicks",
    )?;
    let limit = i64::try_from(BREAKDOWN_KEYS_PER_DAY).unwrap_or(i64::MAX);
    for row in &tally.breakdown {
        upsert.execute(params![
            code,
            row.day,
            row.dimension.as_str(),
            row.key.as_str(),
            int(row.clicks),
            OTHER,
            limit
        ])?;
    }
    Ok(())
}

/// Removes every analytics row of `code` (its link is being deleted or swept).
pub(super) fn forget(tx: &rusqlite::Transaction<'_>, code: &str) -> rusqlite::Result<()> {
    tx.prepare_cached("DELETE FROM click_hours WHERE short_code = ?1")?
        .execute([code])?;
    tx.prepare_cached("DELETE FROM click_writes WHERE short_code = ?1")?
        .execute([code])?;
    tx.prepare_cached("DELETE FROM click_breakdown WHERE short_code = ?1")?
        .execute([code])?;
    Ok(())
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

#[async_trait]
impl ClickStatsStore for SqliteRepository {
    async fn click_split(&self, code: &ShortCode) -> Result<ClickSplit, RepoError> {
        let code = code.clone();
        self.read(move |conn| {
            let split = conn
                .prepare_cached(
                    "SELECT human_clicks, bot_clicks FROM links
                     WHERE short_code = ?1 AND deleted_at IS NULL",
                )
                .and_then(|mut stmt| {
                    stmt.query_row([code.as_str()], |r| {
                        Ok(ClickSplit {
                            human: count(r.get(0)?),
                            bot: count(r.get(1)?),
                        })
                    })
                    .optional()
                })
                .map_err(unavailable)?;
            Ok(split.unwrap_or_default())
        })
        .await
    }

    async fn click_hours(
        &self,
        code: &ShortCode,
        hours: Range<i64>,
    ) -> Result<Vec<HourClicks>, RepoError> {
        let code = code.clone();
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT hour, human, bot FROM click_hours
                     WHERE short_code = ?1 AND hour >= ?2 AND hour < ?3 ORDER BY hour",
                )
                .map_err(unavailable)?;
            stmt.query_map(params![code.as_str(), hours.start, hours.end], |r| {
                Ok(HourClicks {
                    hour: r.get(0)?,
                    human: count(r.get(1)?),
                    bot: count(r.get(2)?),
                })
            })
            .and_then(Iterator::collect)
            .map_err(unavailable)
        })
        .await
    }

    async fn click_breakdown(
        &self,
        code: &ShortCode,
        days: Range<i64>,
    ) -> Result<Vec<DimensionClicks>, RepoError> {
        let code = code.clone();
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT day, dimension, key, clicks FROM click_breakdown
                     WHERE short_code = ?1 AND day >= ?2 AND day < ?3",
                )
                .map_err(unavailable)?;
            let rows = stmt
                .query_map(params![code.as_str(), days.start, days.end], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                    ))
                })
                .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                .map_err(unavailable)?;
            rows.into_iter()
                .map(|(day, dimension, key, clicks)| {
                    Ok(DimensionClicks {
                        day,
                        dimension: Dimension::parse(&dimension).ok_or_else(|| {
                            RepoError::Corrupt(format!("click dimension '{dimension}'"))
                        })?,
                        key: key.into(),
                        clicks: count(clicks),
                    })
                })
                .collect()
        })
        .await
    }
}
