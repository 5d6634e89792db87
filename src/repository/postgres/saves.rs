//! Creates in PostgreSQL: the writer tasks' batches of new links, each batch inserted in one
//! statement that also puts every new link in the link-health schedule.

use std::collections::HashSet;

use sqlx::PgPool;
use time::OffsetDateTime;

use super::{PendingSave, repo_error, to_pg};
use crate::repository::RepoError;

/// Inserts a writer task's batch in one statement and answers each create: inserted, or
/// `Conflict` when the code was taken (by a row already there or earlier in the same batch).
pub(super) async fn insert_batch(pool: &PgPool, batch: Vec<PendingSave>) {
    // Two creates of one code in a batch: the first goes in, the second is a conflict (the
    // statement would report the code once and both would think they won).
    let mut seen = HashSet::with_capacity(batch.len());
    let (batch, duplicates): (Vec<_>, Vec<_>) = batch
        .into_iter()
        .partition(|(record, _)| seen.insert(record.short_code.clone()));
    for (_, reply) in duplicates {
        let _ = reply.send(Err(RepoError::Conflict));
    }
    let mut codes = Vec::with_capacity(batch.len());
    let mut urls = Vec::with_capacity(batch.len());
    let mut created = Vec::with_capacity(batch.len());
    let mut expires = Vec::with_capacity(batch.len());
    let mut clicks = Vec::with_capacity(batch.len());
    let mut accessed = Vec::with_capacity(batch.len());
    let mut owners = Vec::with_capacity(batch.len());
    let mut routings = Vec::with_capacity(batch.len());
    for (record, _) in &batch {
        codes.push(record.short_code.to_string());
        urls.push(record.long_url.as_str().to_owned());
        created.push(to_pg(record.created_at));
        expires.push(record.expires_at.map(to_pg));
        clicks.push(i64::try_from(record.click_count).unwrap_or(i64::MAX));
        accessed.push(record.last_accessed_at.map(to_pg));
        owners.push(record.owner.clone());
        routings.push(record.routing.to_stored());
    }
    let inserted = sqlx::query_scalar!(
        // Each new link enters the link-health schedule in the same statement.
        r#"WITH inserted AS (
               INSERT INTO links (short_code, long_url, created_at, expires_at, click_count,
                                  last_accessed_at, owner_id, routing)
               SELECT * FROM UNNEST($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[],
                                    $5::bigint[], $6::timestamptz[], $7::text[], $8::text[])
               ON CONFLICT (short_code) DO NOTHING
               RETURNING short_code, created_at
           ),
           scheduled AS (
               INSERT INTO link_health (short_code, due_at)
               SELECT short_code, created_at FROM inserted
           )
           SELECT short_code AS "short_code!" FROM inserted"#,
        &codes,
        &urls,
        &created,
        &expires as &[Option<OffsetDateTime>],
        &clicks,
        &accessed as &[Option<OffsetDateTime>],
        &owners as &[Option<String>],
        &routings as &[Option<String>],
    )
    .fetch_all(pool)
    .await;
    match inserted {
        Ok(inserted) => {
            let inserted: HashSet<String> = inserted.into_iter().collect();
            for (record, reply) in batch {
                let answer = if inserted.contains(record.short_code.as_str()) {
                    Ok(())
                } else {
                    Err(RepoError::Conflict)
                };
                let _ = reply.send(answer);
            }
        }
        Err(e) => {
            let error = repo_error(e);
            for (_, reply) in batch {
                let _ = reply.send(Err(error.clone()));
            }
        }
    }
}
