//! Link health in PostgreSQL (migration 5): the `link_health` table, one row per live link,
//! made by the link's insert (the same statement) and removed with it. A lease is an
//! `UPDATE … WHERE short_code IN (SELECT … FOR UPDATE SKIP LOCKED)`, so workers leasing at the
//! same moment skip each other's rows instead of waiting or sharing them.

use async_trait::async_trait;

use super::{PostgresRepository, from_pg, to_pg};
use crate::domain::{ShortCode, Timestamp};
use crate::repository::link_health::codec;
use crate::repository::{DueWindow, LinkHealthRecord, LinkHealthStore, RepoError};

#[async_trait]
impl LinkHealthStore for PostgresRepository {
    async fn lease_due(
        &self,
        window: DueWindow,
        limit: usize,
    ) -> Result<Vec<ShortCode>, RepoError> {
        let codes = self
            .within(
                sqlx::query_scalar!(
                    r#"UPDATE link_health SET due_at = $3
                       WHERE short_code IN (
                           SELECT short_code FROM link_health
                           WHERE due_at <= $1 AND (checked OR due_at <= $2)
                           ORDER BY due_at LIMIT $4 FOR UPDATE SKIP LOCKED)
                       RETURNING short_code AS "short_code!""#,
                    to_pg(window.now),
                    to_pg(window.new_before),
                    to_pg(window.lease_until),
                    i64::try_from(limit).unwrap_or(i64::MAX)
                )
                .fetch_all(&self.pool),
            )
            .await?;
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
        self.within(
            sqlx::query!(
                "UPDATE link_health SET due_at = $2, checked = true, record = $3, broken_since = $4
                 WHERE short_code = $1",
                code.as_str(),
                to_pg(next_check_at),
                codec::encode(record),
                record.state.broken_since.map(to_pg)
            )
            .execute(&self.pool),
        )
        .await?;
        Ok(())
    }

    async fn link_health(&self, code: &ShortCode) -> Result<Option<LinkHealthRecord>, RepoError> {
        let text = self
            .within(
                sqlx::query_scalar!(
                    "SELECT record FROM link_health WHERE short_code = $1",
                    code.as_str()
                )
                .fetch_optional(&self.pool),
            )
            .await?
            .flatten();
        text.as_deref().map(codec::decode).transpose()
    }

    async fn broken_links(&self, limit: usize) -> Result<Vec<(ShortCode, Timestamp)>, RepoError> {
        let rows = self
            .within(
                sqlx::query!(
                    r#"SELECT short_code, broken_since AS "broken_since!" FROM link_health
                       WHERE broken_since IS NOT NULL
                       ORDER BY broken_since, short_code LIMIT $1"#,
                    i64::try_from(limit).unwrap_or(i64::MAX)
                )
                .fetch_all(&self.pool),
            )
            .await?;
        rows.into_iter()
            .filter_map(|r| {
                let code = ShortCode::parse(&r.short_code).ok()?;
                Some(from_pg(r.broken_since, "broken_since").map(|at| (code, at)))
            })
            .collect()
    }
}
