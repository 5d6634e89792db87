//! Click analytics in PostgreSQL (migration 4): the link's human/bot totals on its row, hourly
//! buckets in `click_hours`, daily breakdowns in `click_breakdown`. The writes run inside the
//! click statement's transaction, after it locked the link rows and moved their marks, and
//! only for the links whose mark moved: so they are exactly once with the count, and two
//! workers adding to one link's day take turns (the row lock), which keeps the key cap exact.

use std::ops::Range;

use async_trait::async_trait;
use sqlx::PgConnection;

use super::PostgresRepository;
use crate::domain::{
    BREAKDOWN_KEYS_PER_DAY, ClickSplit, Dimension, DimensionClicks, HourClicks, OTHER, ShortCode,
};
use crate::repository::{ClickDelta, ClickStatsStore, RepoError};

/// Adds the hourly buckets and breakdown rows of `deltas` (whose marks just moved, distinct
/// codes) inside the caller's transaction. Totals are added by the click statement itself.
pub(super) async fn add_tallies<'a>(
    tx: &mut PgConnection,
    deltas: impl Iterator<Item = &'a ClickDelta>,
) -> Result<(), sqlx::Error> {
    let (mut h_codes, mut h_hours, mut h_human, mut h_bot) = (vec![], vec![], vec![], vec![]);
    let (mut b_codes, mut b_days, mut b_dims, mut b_keys, mut b_clicks) =
        (vec![], vec![], vec![], vec![], vec![]);
    for delta in deltas {
        for hour in &delta.tally.hours {
            h_codes.push(delta.code.to_string());
            h_hours.push(hour.hour);
            h_human.push(sat(hour.human));
            h_bot.push(sat(hour.bot));
        }
        for row in &delta.tally.breakdown {
            b_codes.push(delta.code.to_string());
            b_days.push(row.day);
            b_dims.push(row.dimension.as_str().to_owned());
            b_keys.push(row.key.to_string());
            b_clicks.push(sat(row.clicks));
        }
    }
    if !h_codes.is_empty() {
        sqlx::query!(
            "INSERT INTO click_hours (short_code, hour, human, bot)
             SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::bigint[], $4::bigint[])
             ON CONFLICT (short_code, hour) DO UPDATE
                 SET human = click_hours.human + EXCLUDED.human,
                     bot = click_hours.bot + EXCLUDED.bot",
            &h_codes,
            &h_hours,
            &h_human,
            &h_bot,
        )
        .execute(&mut *tx)
        .await?;
    }
    if !b_codes.is_empty() {
        // A key the day already holds is added to; a new key goes in while the day holds fewer
        // than the cap (the new keys with the most clicks first), the rest into `(other)`. The
        // GROUP BY merges the keys folded into `(other)`, which ON CONFLICT may meet once only.
        sqlx::query!(
            r#"WITH d AS (
                   SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::text[],
                                        $5::bigint[]) AS d (code, day, dimension, key, clicks)
               ),
               held AS (
                   SELECT b.short_code, b.day, b.dimension, count(*) AS keys
                   FROM click_breakdown b
                   JOIN (SELECT DISTINCT code, day, dimension FROM d) g
                     ON b.short_code = g.code AND b.day = g.day AND b.dimension = g.dimension
                   WHERE b.key <> $6
                   GROUP BY b.short_code, b.day, b.dimension
               ),
               placed AS (
                   SELECT d.code, d.day, d.dimension, d.clicks,
                          CASE WHEN e.key IS NOT NULL OR d.key = $6 THEN d.key
                               WHEN coalesce(h.keys, 0) + row_number() OVER (
                                        PARTITION BY d.code, d.day, d.dimension,
                                                     (e.key IS NULL AND d.key <> $6)
                                        ORDER BY d.clicks DESC, d.key) <= $7 THEN d.key
                               ELSE $6 END AS key
                   FROM d
                   LEFT JOIN click_breakdown e
                     ON e.short_code = d.code AND e.day = d.day AND e.dimension = d.dimension
                        AND e.key = d.key
                   LEFT JOIN held h
                     ON h.short_code = d.code AND h.day = d.day AND h.dimension = d.dimension
               )
               INSERT INTO click_breakdown (short_code, day, dimension, key, clicks)
               SELECT code, day, dimension, key, sum(clicks)::bigint
               FROM placed GROUP BY code, day, dimension, key
               ON CONFLICT (short_code, day, dimension, key) DO UPDATE
                   SET clicks = click_breakdown.clicks + EXCLUDED.clicks"#,
            &b_codes,
            &b_days,
            &b_dims,
            &b_keys,
            &b_clicks,
            OTHER,
            BREAKDOWN_KEYS_PER_DAY as i64,
        )
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// A count as a `bigint` (saturating: no count comes near it).
pub(super) fn sat(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

#[async_trait]
impl ClickStatsStore for PostgresRepository {
    async fn click_split(&self, code: &ShortCode) -> Result<ClickSplit, RepoError> {
        let row = self
            .within(
                sqlx::query!(
                    "SELECT human_clicks, bot_clicks FROM links
                     WHERE short_code = $1 AND deleted_at IS NULL",
                    code.as_str()
                )
                .fetch_optional(&self.pool),
            )
            .await?;
        Ok(row.map_or_else(ClickSplit::default, |r| ClickSplit {
            human: count(r.human_clicks),
            bot: count(r.bot_clicks),
        }))
    }

    async fn click_hours(
        &self,
        code: &ShortCode,
        hours: Range<i64>,
    ) -> Result<Vec<HourClicks>, RepoError> {
        let rows = self
            .within(
                sqlx::query!(
                    "SELECT hour, human, bot FROM click_hours
                     WHERE short_code = $1 AND hour >= $2 AND hour < $3 ORDER BY hour",
                    code.as_str(),
                    hours.start,
                    hours.end
                )
                .fetch_all(&self.pool),
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| HourClicks {
                hour: r.hour,
                human: count(r.human),
                bot: count(r.bot),
            })
            .collect())
    }

    async fn click_breakdown(
        &self,
        code: &ShortCode,
        days: Range<i64>,
    ) -> Result<Vec<DimensionClicks>, RepoError> {
        let rows = self
            .within(
                sqlx::query!(
                    "SELECT day, dimension, key, clicks FROM click_breakdown
                     WHERE short_code = $1 AND day >= $2 AND day < $3",
                    code.as_str(),
                    days.start,
                    days.end
                )
                .fetch_all(&self.pool),
            )
            .await?;
        rows.into_iter()
            .map(|r| {
                Ok(DimensionClicks {
                    day: r.day,
                    dimension: Dimension::parse(&r.dimension).ok_or_else(|| {
                        RepoError::Corrupt(format!("click dimension '{}'", r.dimension))
                    })?,
                    key: r.key.into(),
                    clicks: count(r.clicks),
                })
            })
            .collect()
    }
}
