//! Link health in the SQLite file (migration 6): one row per link in `link_health`, made by the
//! link's insert and removed with it, holding its due time (the schedule and the lease, see
//! `repository::link_health`), whether it was ever checked, and its record as text.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::SqliteRepository;
use crate::domain::{ShortCode, Timestamp};
use crate::repository::link_health::codec;
use crate::repository::{DueWindow, LinkHealthRecord, LinkHealthStore, RepoError};

/// Migration 6: the schedule and records, every existing live link due at its creation.
pub(super) const MIGRATION: &str = "
    CREATE TABLE link_health (
        short_code   TEXT    NOT NULL PRIMARY KEY,
        due_at       INTEGER NOT NULL,
        checked      INTEGER NOT NULL DEFAULT 0,
        record       TEXT,
        broken_since INTEGER
    ) WITHOUT ROWID;
    CREATE INDEX link_health_due ON link_health (due_at);
    CREATE INDEX link_health_broken ON link_health (broken_since) WHERE broken_since IS NOT NULL;
    INSERT INTO link_health (short_code, due_at)
        SELECT short_code, created_at FROM links WHERE deleted_at IS NULL;";

/// Puts a new link in the schedule, inside its insert's transaction.
pub(super) fn schedule(
    tx: &rusqlite::Transaction<'_>,
    code: &str,
    created_at: i64,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO link_health (short_code, due_at) VALUES (?1, ?2)
         ON CONFLICT (short_code) DO NOTHING",
    )?
    .execute(params![code, created_at])?;
    Ok(())
}

/// Removes a link's row, inside its delete's (or sweep's) transaction.
pub(super) fn forget(tx: &rusqlite::Transaction<'_>, code: &str) -> rusqlite::Result<()> {
    tx.prepare_cached("DELETE FROM link_health WHERE short_code = ?1")?
        .execute([code])?;
    Ok(())
}

fn limit_of(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[async_trait]
impl LinkHealthStore for SqliteRepository {
    async fn lease_due(
        &self,
        window: DueWindow,
        limit: usize,
    ) -> Result<Vec<ShortCode>, RepoError> {
        let leased = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let out = leased.clone();
        self.exec(move |tx| {
            // The due index bounds the scan; never-checked rows wait for `new_before`.
            let codes: Vec<String> = tx
                .prepare_cached(
                    "SELECT short_code FROM link_health
                     WHERE due_at <= ?1 AND (checked = 1 OR due_at <= ?2)
                     ORDER BY due_at LIMIT ?3",
                )?
                .query_map(
                    params![
                        window.now.as_unix_millis(),
                        window.new_before.as_unix_millis(),
                        limit_of(limit)
                    ],
                    |r| r.get(0),
                )?
                .collect::<rusqlite::Result<_>>()?;
            let mut lease =
                tx.prepare_cached("UPDATE link_health SET due_at = ?2 WHERE short_code = ?1")?;
            for code in &codes {
                lease.execute(params![code, window.lease_until.as_unix_millis()])?;
            }
            *out.lock().unwrap_or_else(|e| e.into_inner()) = codes;
            Ok(Ok(0))
        })
        .await?;
        let codes = std::mem::take(&mut *leased.lock().unwrap_or_else(|e| e.into_inner()));
        Ok(codes
            .iter()
            .filter_map(|c| ShortCode::parse(c).ok())
            .collect())
    }

    async fn record_check(
        &self,
        code: &ShortCode,
        record: &LinkHealthRecord,
        next_check_at: Timestamp,
    ) -> Result<(), RepoError> {
        let code = code.clone();
        let text = codec::encode(record);
        let broken = record.state.broken_since.map(Timestamp::as_unix_millis);
        self.exec(move |tx| {
            tx.prepare_cached(
                "UPDATE link_health SET due_at = ?2, checked = 1, record = ?3, broken_since = ?4
                 WHERE short_code = ?1",
            )?
            .execute(params![
                code.as_str(),
                next_check_at.as_unix_millis(),
                text,
                broken
            ])?;
            Ok(Ok(0))
        })
        .await?;
        Ok(())
    }

    async fn link_health(&self, code: &ShortCode) -> Result<Option<LinkHealthRecord>, RepoError> {
        let code = code.clone();
        let text: Option<String> = self
            .read(move |conn| {
                conn.prepare_cached("SELECT record FROM link_health WHERE short_code = ?1")
                    .and_then(|mut s| {
                        s.query_row([code.as_str()], |r| r.get::<_, Option<String>>(0))
                            .optional()
                    })
                    .map(Option::flatten)
                    .map_err(super::unavailable)
            })
            .await?;
        text.as_deref().map(codec::decode).transpose()
    }

    async fn broken_links(&self, limit: usize) -> Result<Vec<(ShortCode, Timestamp)>, RepoError> {
        let rows: Vec<(String, i64)> = self
            .read(move |conn| {
                conn.prepare_cached(
                    "SELECT short_code, broken_since FROM link_health
                     WHERE broken_since IS NOT NULL ORDER BY broken_since, short_code LIMIT ?1",
                )
                .and_then(|mut s| {
                    s.query_map([limit_of(limit)], |r| Ok((r.get(0)?, r.get(1)?)))?
                        .collect::<rusqlite::Result<Vec<_>>>()
                })
                .map_err(super::unavailable)
            })
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(c, at)| {
                Some((ShortCode::parse(&c).ok()?, Timestamp::from_unix_millis(at)?))
            })
            .collect())
    }
}
