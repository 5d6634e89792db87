//! Links in PostgreSQL (`links` and `click_writes`, migration 1): the [`Repository`]
//! implementation, with creates grouped by the writer tasks (`saves.rs`) and click deltas
//! applied in batches, each exactly once.

use std::collections::HashSet;

use async_trait::async_trait;
use futures_util::StreamExt;
use time::OffsetDateTime;

use super::{
    MAX_CLICK_BATCH, PostgresRepository, from_pg, from_pg_opt, to_bigint, to_pg, unavailable,
};
use crate::domain::{LongUrl, Routing, ShortCode, Timestamp, UrlRecord};
use crate::repository::{ClickDelta, LinkCursor, LinkScan, RepoError, Repository};

/// Click statements in flight at once during one flush.
const CLICK_CONCURRENCY: usize = 2;

/// A `links` row as the queries select it.
struct LinkRow {
    short_code: String,
    long_url: String,
    created_at: OffsetDateTime,
    expires_at: Option<OffsetDateTime>,
    click_count: i64,
    last_accessed_at: Option<OffsetDateTime>,
    owner_id: Option<String>,
    disabled_at: Option<OffsetDateTime>,
    routing: Option<String>,
}

impl LinkRow {
    fn into_record(self) -> Result<UrlRecord, RepoError> {
        let corrupt = || RepoError::Corrupt(format!("short_code '{}'", self.short_code));
        Ok(UrlRecord {
            short_code: ShortCode::parse(&self.short_code).map_err(|_| corrupt())?,
            long_url: LongUrl::from_trusted(self.long_url),
            created_at: from_pg(self.created_at, "a link's created_at")?,
            expires_at: from_pg_opt(self.expires_at, "a link's expires_at")?,
            click_count: u64::try_from(self.click_count).unwrap_or(0),
            last_accessed_at: from_pg_opt(self.last_accessed_at, "a link's last_accessed_at")?,
            owner: self.owner_id,
            disabled_at: from_pg_opt(self.disabled_at, "a link's disabled_at")?,
            routing: Routing::from_stored(self.routing.as_deref()).map_err(|_| corrupt())?,
        })
    }
}

impl PostgresRepository {
    /// Applies `deltas` (distinct codes) in one statement, each at most once per write id:
    /// the live link rows are locked in code order (two instances flushing the same codes
    /// cannot deadlock), a delta's mark moves only if its `seq` is above the stored one, and
    /// only the links whose mark moved are incremented, by the figures the mark returns, all
    /// atomically. Every join is a lookup of one side's rows in an index of the other (the
    /// array against `links`, the moved marks against `links`), never a scan of either CTE per
    /// row of the other.
    async fn apply_clicks(&self, deltas: &[ClickDelta]) -> Result<(), RepoError> {
        let codes: Vec<String> = deltas.iter().map(|d| d.code.to_string()).collect();
        let counts: Vec<i64> = deltas
            .iter()
            .map(|d| i64::try_from(d.count).unwrap_or(i64::MAX))
            .collect();
        let last: Vec<OffsetDateTime> = deltas.iter().map(|d| to_pg(d.last_at)).collect();
        let instances: Vec<i64> = deltas.iter().map(|d| to_bigint(d.write.instance)).collect();
        let seqs: Vec<i64> = deltas.iter().map(|d| to_bigint(d.write.seq)).collect();
        let (humans, bots): (Vec<i64>, Vec<i64>) = deltas
            .iter()
            .map(|d| {
                let (h, b) = d
                    .tally
                    .hours
                    .iter()
                    .fold((0, 0), |(h, b), hour| (h + hour.human, b + hour.bot));
                (super::clicks::sat(h), super::clicks::sat(b))
            })
            .unzip();
        let analysed = deltas.iter().any(|d| !d.tally.is_empty());
        self.within(async {
            let statement = sqlx::query_scalar!(
                r#"WITH live AS (
                       SELECT l.short_code, d.clicks, d.last_at, d.instance, d.seq, d.human, d.bot
                       FROM UNNEST($1::text[], $2::bigint[], $3::timestamptz[], $4::bigint[],
                                   $5::bigint[], $6::bigint[], $7::bigint[])
                            AS d (code, clicks, last_at, instance, seq, human, bot)
                       JOIN links l ON l.short_code = d.code
                       WHERE l.deleted_at IS NULL
                       ORDER BY l.short_code
                       FOR UPDATE OF l
                   ),
                   marked AS (
                       INSERT INTO click_writes (short_code, instance, seq, clicks, last_at)
                       SELECT short_code, instance, seq, clicks, last_at FROM live
                       ON CONFLICT (short_code, instance) DO UPDATE
                           SET seq = EXCLUDED.seq, clicks = EXCLUDED.clicks,
                               last_at = EXCLUDED.last_at
                           WHERE click_writes.seq < EXCLUDED.seq
                       RETURNING short_code, clicks, last_at
                   )
                   UPDATE links l
                   SET click_count = l.click_count + marked.clicks,
                       last_accessed_at = GREATEST(l.last_accessed_at, marked.last_at),
                       human_clicks = l.human_clicks + live.human,
                       bot_clicks = l.bot_clicks + live.bot
                   FROM marked JOIN live ON live.short_code = marked.short_code
                   WHERE l.short_code = marked.short_code
                   RETURNING l.short_code AS "short_code!""#,
                &codes,
                &counts,
                &last,
                &instances,
                &seqs,
                &humans,
                &bots,
            );
            // Plain counts are one statement on its own; the analytics need the links whose
            // marks moved, in the same transaction.
            if !analysed {
                statement.fetch_all(&self.pool).await?;
                return Ok(());
            }
            let mut tx = self.pool.begin().await?;
            let moved: HashSet<String> = statement.fetch_all(&mut *tx).await?.into_iter().collect();
            let applied = deltas.iter().filter(|d| moved.contains(d.code.as_str()));
            super::clicks::add_tallies(&mut tx, applied).await?;
            tx.commit().await
        })
        .await
    }
}

/// Splits `batch` into statements of at most [`MAX_CLICK_BATCH`] deltas with distinct codes,
/// sorted by code (the flusher sends one delta per code, so a repeat is rare: it goes to a
/// later statement).
fn click_statements(mut batch: Vec<ClickDelta>) -> Vec<Vec<ClickDelta>> {
    batch.sort_by(|a, b| a.code.cmp(&b.code));
    let mut statements: Vec<Vec<ClickDelta>> = Vec::new();
    let mut current: Vec<ClickDelta> = Vec::new();
    let mut repeats: Vec<ClickDelta> = Vec::new();
    for delta in batch {
        if current.last().is_some_and(|last| last.code == delta.code) {
            repeats.push(delta);
            continue;
        }
        current.push(delta);
        if current.len() == MAX_CLICK_BATCH {
            statements.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        statements.push(current);
    }
    if !repeats.is_empty() {
        statements.extend(click_statements(repeats));
    }
    statements
}

#[async_trait]
impl Repository for PostgresRepository {
    async fn save(&self, record: &UrlRecord) -> Result<(), RepoError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let wait = async {
            self.saves
                .send((record.clone(), reply))
                .await
                .map_err(|_| unavailable("the PostgreSQL writers have stopped"))?;
            answer
                .await
                .map_err(|_| unavailable("a PostgreSQL writer dropped a create"))?
        };
        tokio::time::timeout(self.timeout, wait)
            .await
            .unwrap_or_else(|_| Err(self.timed_out()))
    }

    async fn find_by_short_code(&self, code: &ShortCode) -> Result<Option<UrlRecord>, RepoError> {
        self.within(
            sqlx::query_as!(
                LinkRow,
                "SELECT short_code, long_url, created_at, expires_at, click_count,
                        last_accessed_at, owner_id, disabled_at, routing
                 FROM links WHERE short_code = $1 AND deleted_at IS NULL",
                code.as_str()
            )
            .fetch_optional(&self.pool),
        )
        .await?
        .map(LinkRow::into_record)
        .transpose()
    }

    async fn increment_click_count(&self, delta: &ClickDelta) -> Result<(), RepoError> {
        self.apply_clicks(std::slice::from_ref(delta)).await
    }

    /// In statements of up to [`MAX_CLICK_BATCH`] deltas, [`CLICK_CONCURRENCY`] at a time; a
    /// failed statement's deltas come back whole (the statement is atomic).
    async fn increment_click_counts(&self, batch: Vec<ClickDelta>) -> Vec<ClickDelta> {
        futures_util::stream::iter(click_statements(batch))
            .map(|deltas| async move {
                match self.apply_clicks(&deltas).await {
                    Ok(()) => Vec::new(),
                    Err(_) => deltas,
                }
            })
            .buffer_unordered(CLICK_CONCURRENCY)
            .flat_map(futures_util::stream::iter)
            .collect()
            .await
    }

    async fn delete_expired(&self, before: Timestamp, limit: usize) -> Result<u64, RepoError> {
        // Concurrent sweeps of several instances skip each other's rows instead of waiting.
        let removed = self
            .within(
                sqlx::query!(
                    "DELETE FROM links WHERE short_code IN (
                         SELECT short_code FROM links WHERE expires_at < $1
                         ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)",
                    to_pg(before),
                    i64::try_from(limit).unwrap_or(i64::MAX)
                )
                .execute(&self.pool),
            )
            .await?
            .rows_affected();
        if let Err(e) = self.sweep_marks(before, limit).await {
            tracing::warn!(error = %e, "could not drop old click marks; the next sweep retries");
        }
        Ok(removed)
    }

    async fn exists(&self, code: &ShortCode) -> Result<bool, RepoError> {
        self.within(
            sqlx::query_scalar!(
                r#"SELECT EXISTS (SELECT 1 FROM links WHERE short_code = $1) AS "exists!""#,
                code.as_str()
            )
            .fetch_one(&self.pool),
        )
        .await
    }

    async fn ping(&self) -> Result<(), RepoError> {
        self.within(sqlx::query!("SELECT 1 AS one").fetch_one(&self.pool))
            .await
            .map(|_| ())
    }

    async fn list_owned(
        &self,
        owner: &str,
        after: Option<&LinkCursor>,
        limit: usize,
    ) -> Result<Vec<UrlRecord>, RepoError> {
        // No cursor: start above every real position (no link is created at the end of time).
        let (created, code) = after.map_or((Timestamp::MAX, String::new()), |c| {
            (c.created_at, c.code.to_string())
        });
        self.within(
            sqlx::query_as!(
                LinkRow,
                "SELECT short_code, long_url, created_at, expires_at, click_count,
                        last_accessed_at, owner_id, disabled_at, routing
                 FROM links WHERE owner_id = $1 AND (created_at, short_code) < ($2, $3)
                 ORDER BY created_at DESC, short_code DESC LIMIT $4",
                owner,
                to_pg(created),
                code,
                i64::try_from(limit).unwrap_or(i64::MAX)
            )
            .fetch_all(&self.pool),
        )
        .await?
        .into_iter()
        .map(LinkRow::into_record)
        .collect()
    }

    async fn scan_links(&self, after: Option<&str>, limit: usize) -> Result<LinkScan, RepoError> {
        // A walk of the primary key from the cursor on; one more row says whether more follow.
        let mut links: Vec<UrlRecord> = self
            .within(
                sqlx::query_as!(
                    LinkRow,
                    "SELECT short_code, long_url, created_at, expires_at, click_count,
                            last_accessed_at, owner_id, disabled_at, routing
                     FROM links WHERE short_code > $1 AND deleted_at IS NULL
                     ORDER BY short_code LIMIT $2",
                    after.unwrap_or_default(),
                    i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1)
                )
                .fetch_all(&self.pool),
            )
            .await?
            .into_iter()
            .map(LinkRow::into_record)
            .collect::<Result<_, _>>()?;
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
        let changed = self
            .within(
                sqlx::query!(
                    "UPDATE links SET long_url = $2, expires_at = $3
                     WHERE short_code = $1 AND deleted_at IS NULL",
                    code.as_str(),
                    long_url.as_str(),
                    expires_at.map(to_pg)
                )
                .execute(&self.pool),
            )
            .await?
            .rows_affected();
        Ok(changed == 1)
    }

    async fn set_routing(&self, code: &ShortCode, routing: &Routing) -> Result<bool, RepoError> {
        let changed = self
            .within(
                sqlx::query!(
                    "UPDATE links SET routing = $2 WHERE short_code = $1 AND deleted_at IS NULL",
                    code.as_str(),
                    routing.to_stored()
                )
                .execute(&self.pool),
            )
            .await?;
        Ok(changed.rows_affected() == 1)
    }

    async fn set_disabled(
        &self,
        code: &ShortCode,
        at: Option<Timestamp>,
    ) -> Result<bool, RepoError> {
        let changed = self
            .within(
                sqlx::query!(
                    "UPDATE links SET disabled_at = $2 WHERE short_code = $1 AND deleted_at IS NULL",
                    code.as_str(),
                    at.map(to_pg)
                )
                .execute(&self.pool),
            )
            .await?;
        Ok(changed.rows_affected() == 1)
    }

    async fn delete_link(&self, code: &ShortCode, at: Timestamp) -> Result<bool, RepoError> {
        // The row stays as the code's tombstone: no destination, no expiry (no sweep takes
        // it), no owner (out of the owner index).
        let changed = self
            .within(
                // Its analytics and link health go in the same statement.
                sqlx::query_scalar!(
                    r#"WITH gone AS (
                           UPDATE links SET deleted_at = $2, long_url = '', expires_at = NULL,
                                  owner_id = NULL, human_clicks = 0, bot_clicks = 0
                           WHERE short_code = $1 AND deleted_at IS NULL
                           RETURNING short_code
                       ),
                       hours AS (
                           DELETE FROM click_hours WHERE short_code IN (SELECT short_code FROM gone)
                       ),
                       breakdown AS (
                           DELETE FROM click_breakdown
                           WHERE short_code IN (SELECT short_code FROM gone)
                       ),
                       health AS (
                           DELETE FROM link_health WHERE short_code IN (SELECT short_code FROM gone)
                       )
                       SELECT count(*) AS "deleted!" FROM gone"#,
                    code.as_str(),
                    to_pg(at)
                )
                .fetch_one(&self.pool),
            )
            .await?;
        Ok(changed == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repository::WriteId;

    fn delta(code: &str) -> ClickDelta {
        ClickDelta {
            code: ShortCode::parse(code).unwrap(),
            count: 1,
            last_at: Timestamp::UNIX_EPOCH,
            write: WriteId {
                instance: 1,
                seq: 1,
            },
            tally: Default::default(),
            shared_writer: false,
        }
    }

    #[test]
    fn a_flush_becomes_sorted_statements_of_distinct_codes() {
        let batch = vec![delta("ccc"), delta("aaa"), delta("bbb"), delta("aaa")];
        let codes: Vec<Vec<String>> = click_statements(batch)
            .iter()
            .map(|s| s.iter().map(|d| d.code.to_string()).collect())
            .collect();
        assert_eq!(codes, vec![vec!["aaa", "bbb", "ccc"], vec!["aaa"]]);
    }

    #[test]
    fn a_large_flush_is_split_at_the_statement_limit() {
        let batch: Vec<_> = (0..2_500).map(|i| delta(&format!("c{i:05}"))).collect();
        let sizes: Vec<usize> = click_statements(batch).iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![1_000, 1_000, 500]);
    }
}
