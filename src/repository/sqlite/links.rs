//! Links in the SQLite file (`links`, migrations 1 and 4): the [`Repository`] implementation.
//! Writes go through the writer thread (group commit), reads through the reader threads.

use super::*;

/// The columns [`record_from_row`] reads, in its order.
const LINK_COLUMNS: &str = "short_code, long_url, created_at, expires_at, click_count, \
     last_accessed_at, owner_id, disabled_at, routing";

/// One page of an owner's links: answered from `links_owner` (see
/// `an_owners_listing_reads_only_the_owner_index` below).
pub(super) const OWNED_LINKS_SQL: &str =
    "SELECT short_code, long_url, created_at, expires_at, click_count, last_accessed_at, owner_id,
            disabled_at, routing
     FROM links WHERE owner_id = ?1 AND (created_at, short_code) < (?2, ?3)
     ORDER BY created_at DESC, short_code DESC LIMIT ?4";

/// One page of every link, by code: a walk of the primary key from the cursor on.
pub(super) const SCAN_LINKS_SQL: &str =
    "SELECT short_code, long_url, created_at, expires_at, click_count, last_accessed_at, owner_id,
            disabled_at, routing
     FROM links WHERE short_code > ?1 AND deleted_at IS NULL ORDER BY short_code LIMIT ?2";

fn record_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<UrlRecord, RepoError>> {
    let code: String = row.get(0)?;
    let long_url: String = row.get(1)?;
    let created_at: i64 = row.get(2)?;
    let expires_at: Option<i64> = row.get(3)?;
    let click_count: i64 = row.get(4)?;
    let last_accessed_at: Option<i64> = row.get(5)?;
    let owner: Option<String> = row.get(6)?;
    let disabled_at: Option<i64> = row.get(7)?;
    let routing: Option<String> = row.get(8)?;
    let corrupt = |what: &str| RepoError::Corrupt(format!("{what} of link '{code}'"));
    let time = |ms: i64, what: &str| Timestamp::from_unix_millis(ms).ok_or_else(|| corrupt(what));
    Ok((|| {
        Ok(UrlRecord {
            short_code: ShortCode::parse(&code).map_err(|_| corrupt("short_code"))?,
            long_url: LongUrl::from_trusted(long_url.clone()),
            created_at: time(created_at, "created_at")?,
            expires_at: expires_at.map(|ms| time(ms, "expires_at")).transpose()?,
            click_count: u64::try_from(click_count).unwrap_or(0),
            last_accessed_at: last_accessed_at
                .map(|ms| time(ms, "last_accessed_at"))
                .transpose()?,
            owner,
            disabled_at: disabled_at.map(|ms| time(ms, "disabled_at")).transpose()?,
            routing: Routing::from_stored(routing.as_deref()).map_err(|_| corrupt("routing"))?,
        })
    })())
}

#[async_trait]
impl Repository for SqliteRepository {
    async fn save(&self, record: &UrlRecord) -> Result<(), RepoError> {
        let record = record.clone();
        self.write(|reply| Command::Save(record, reply))
            .await
            .map(|_| ())
    }

    async fn find_by_short_code(&self, code: &ShortCode) -> Result<Option<UrlRecord>, RepoError> {
        let code = code.clone();
        self.read(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {LINK_COLUMNS} FROM links WHERE short_code = ?1 AND deleted_at IS NULL"
            ))
            .and_then(|mut stmt| stmt.query_row([code.as_str()], record_from_row).optional())
            .map_err(unavailable)?
            .transpose()
        })
        .await
    }

    async fn increment_click_count(&self, delta: &ClickDelta) -> Result<(), RepoError> {
        let delta = delta.clone();
        self.write(|reply| Command::Increment(delta, reply))
            .await
            .map(|_| ())
    }

    /// In code order, [`MAX_BATCH`] deltas per writer transaction, one run after another.
    ///
    /// Order matters with many distinct codes: each transaction rewrites every B-tree page it
    /// touches into the WAL, and runs of sorted codes are disjoint key ranges, so a page is
    /// written about once per flush instead of once per transaction that happens to hit it;
    /// consecutive updates also descend the same path through the tree. Runs, not one big
    /// transaction, so a create waits behind at most one of them.
    async fn increment_click_counts(&self, mut batch: Vec<ClickDelta>) -> Vec<ClickDelta> {
        batch.sort_unstable_by(|a, b| a.code.cmp(&b.code));
        let mut failed = Vec::new();
        let mut deltas = batch.into_iter().peekable();
        while deltas.peek().is_some() {
            let run: Arc<[ClickDelta]> = deltas.by_ref().take(MAX_BATCH).collect();
            if self
                .write(|reply| Command::Clicks(run.clone(), reply))
                .await
                .is_err()
            {
                failed.extend(run.iter().cloned());
            }
        }
        failed
    }

    async fn delete_expired(&self, before: Timestamp, limit: usize) -> Result<u64, RepoError> {
        self.write(|reply| Command::DeleteExpired(before, limit, reply))
            .await
    }

    async fn exists(&self, code: &ShortCode) -> Result<bool, RepoError> {
        let code = code.clone();
        self.read(move |conn| {
            conn.prepare_cached("SELECT 1 FROM links WHERE short_code = ?1")
                .and_then(|mut stmt| stmt.exists([code.as_str()]))
                .map_err(unavailable)
        })
        .await
    }

    async fn ping(&self) -> Result<(), RepoError> {
        self.read(|conn| {
            conn.query_row("SELECT 1", [], |_| Ok(()))
                .map_err(unavailable)
        })
        .await?;
        if self.writer.is_closed() {
            return Err(unavailable("the SQLite writer has stopped"));
        }
        Ok(())
    }

    async fn list_owned(
        &self,
        owner: &str,
        after: Option<&LinkCursor>,
        limit: usize,
    ) -> Result<Vec<UrlRecord>, RepoError> {
        let owner = owner.to_owned();
        // No cursor: start above every real position.
        let (created, code) = after.map_or((i64::MAX, String::new()), |c| {
            (c.created_at.as_unix_millis(), c.code.to_string())
        });
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(OWNED_LINKS_SQL).map_err(unavailable)?;
            let rows = stmt
                .query_map(params![owner, created, code, limit], record_from_row)
                .map_err(unavailable)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(unavailable)?;
            rows.into_iter().collect()
        })
        .await
    }

    async fn scan_links(&self, after: Option<&str>, limit: usize) -> Result<LinkScan, RepoError> {
        let after = after.unwrap_or_default().to_owned();
        let want = i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1);
        let mut links: Vec<UrlRecord> = self
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(SCAN_LINKS_SQL).map_err(unavailable)?;
                let rows = stmt
                    .query_map(params![after, want], record_from_row)
                    .map_err(unavailable)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(unavailable)?;
                rows.into_iter().collect()
            })
            .await?;
        let more = links.len() > limit;
        links.truncate(limit);
        let next = more
            .then(|| links.last().map(|r| r.short_code.to_string()))
            .flatten();
        Ok(LinkScan { links, next })
    }

    async fn update_link(
        &self,
        code: &ShortCode,
        long_url: &LongUrl,
        expires_at: Option<Timestamp>,
    ) -> Result<bool, RepoError> {
        let (code, long_url) = (code.clone(), long_url.clone());
        let changed = self
            .exec(move |tx| {
                let changed = tx
                    .prepare_cached(
                        "UPDATE links SET long_url = ?2, expires_at = ?3
                         WHERE short_code = ?1 AND deleted_at IS NULL",
                    )?
                    .execute(params![
                        code.as_str(),
                        long_url.as_str(),
                        expires_at.map(Timestamp::as_unix_millis),
                    ])?;
                Ok(Ok(changed as u64))
            })
            .await?;
        Ok(changed == 1)
    }

    async fn set_routing(&self, code: &ShortCode, routing: &Routing) -> Result<bool, RepoError> {
        let (code, stored) = (code.clone(), routing.to_stored());
        let changed = self
            .exec(move |tx| {
                let changed = tx
                    .prepare_cached(
                        "UPDATE links SET routing = ?2
                         WHERE short_code = ?1 AND deleted_at IS NULL",
                    )?
                    .execute(params![code.as_str(), stored])?;
                Ok(Ok(changed as u64))
            })
            .await?;
        Ok(changed == 1)
    }

    async fn set_disabled(
        &self,
        code: &ShortCode,
        at: Option<Timestamp>,
    ) -> Result<bool, RepoError> {
        let code = code.clone();
        let changed = self
            .exec(move |tx| {
                let changed = tx
                    .prepare_cached(
                        "UPDATE links SET disabled_at = ?2
                         WHERE short_code = ?1 AND deleted_at IS NULL",
                    )?
                    .execute(params![code.as_str(), at.map(Timestamp::as_unix_millis)])?;
                Ok(Ok(changed as u64))
            })
            .await?;
        Ok(changed == 1)
    }

    async fn delete_link(&self, code: &ShortCode, at: Timestamp) -> Result<bool, RepoError> {
        let code = code.clone();
        // The row stays as the code's tombstone: no destination, no expiry (no sweep takes
        // it), no owner (out of the owner index).
        let changed = self
            .exec(move |tx| {
                let changed = tx
                    .prepare_cached(
                        "UPDATE links SET deleted_at = ?2, long_url = '', expires_at = NULL,
                                owner_id = NULL
                         WHERE short_code = ?1 AND deleted_at IS NULL",
                    )?
                    .execute(params![code.as_str(), at.as_unix_millis()])?;
                if changed == 1 {
                    super::clicks::forget(tx, code.as_str())?;
                    super::link_health::forget(tx, code.as_str())?;
                }
                Ok(Ok(changed as u64))
            })
            .await?;
        Ok(changed == 1)
    }
}
