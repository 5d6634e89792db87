//! API keys in the SQLite file (`api_keys`, migrations 2 and 4): hashes only, with the owner
//! and the last use. Writes go through the writer thread, reads through the reader threads.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::{SqliteRepository, unavailable};
use crate::domain::{ApiKeyHash, ApiKeyRecord, Timestamp};
use crate::repository::{ApiKeyStore, KeyInsert, RepoError};

const KEY_COLUMNS: &str = "id, hash, name, created_at, revoked_at, owner_id, last_used_at";

fn key_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<ApiKeyRecord, RepoError>> {
    let id: String = row.get(0)?;
    let hash: String = row.get(1)?;
    let name: String = row.get(2)?;
    let created_at: i64 = row.get(3)?;
    let revoked_at: Option<i64> = row.get(4)?;
    let owner: Option<String> = row.get(5)?;
    let last_used_at: Option<i64> = row.get(6)?;
    let corrupt = || RepoError::Corrupt(format!("timestamps of API key '{id}'"));
    let time = |ms: Option<i64>| {
        ms.map(|ms| Timestamp::from_unix_millis(ms).ok_or_else(corrupt))
            .transpose()
    };
    Ok((|| {
        Ok(ApiKeyRecord {
            id: id.clone(),
            name,
            hash: ApiKeyHash::from_hex(hash),
            created_at: time(Some(created_at))?.ok_or_else(corrupt)?,
            revoked_at: time(revoked_at)?,
            owner,
            last_used_at: time(last_used_at)?,
        })
    })())
}

impl SqliteRepository {
    async fn select_keys(
        &self,
        filter: &'static str,
        owner: Option<String>,
    ) -> Result<Vec<ApiKeyRecord>, RepoError> {
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {KEY_COLUMNS} FROM api_keys {filter} ORDER BY created_at, id"
                ))
                .map_err(unavailable)?;
            let rows = match &owner {
                Some(owner) => stmt.query_map([owner], key_from_row),
                None => stmt.query_map([], key_from_row),
            }
            .map_err(unavailable)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(unavailable)?;
            rows.into_iter().collect()
        })
        .await
    }
}

#[async_trait]
impl ApiKeyStore for SqliteRepository {
    async fn insert_key(
        &self,
        key: &ApiKeyRecord,
        max_live: usize,
    ) -> Result<KeyInsert, RepoError> {
        const AT_CAP: u64 = 1;
        let key = key.clone();
        // The count and the insert in one transaction of the one writer.
        let outcome = self.exec(move |tx| {
            if let Some(owner) = &key.owner {
                let live: i64 = tx
                    .prepare_cached(
                        "SELECT count(*) FROM api_keys WHERE owner_id = ?1 AND revoked_at IS NULL",
                    )?
                    .query_row([owner], |row| row.get(0))?;
                if usize::try_from(live).unwrap_or(usize::MAX) >= max_live {
                    return Ok(Ok(AT_CAP));
                }
            }
            let inserted = tx
                .prepare_cached(&format!(
                    "INSERT INTO api_keys ({KEY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT DO NOTHING"
                ))?
                .execute(params![
                    key.id,
                    key.hash.as_str(),
                    key.name,
                    key.created_at.as_unix_millis(),
                    key.revoked_at.map(Timestamp::as_unix_millis),
                    key.owner,
                    key.last_used_at.map(Timestamp::as_unix_millis),
                ])?;
            Ok(if inserted == 1 {
                Ok(0)
            } else {
                Err(RepoError::Conflict)
            })
        });
        Ok(match outcome.await? {
            AT_CAP => KeyInsert::AtCap,
            _ => KeyInsert::Inserted,
        })
    }

    async fn find_key(&self, hash: &ApiKeyHash) -> Result<Option<ApiKeyRecord>, RepoError> {
        let hash = hash.clone();
        self.read(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {KEY_COLUMNS} FROM api_keys WHERE hash = ?1"
            ))
            .and_then(|mut stmt| stmt.query_row([hash.as_str()], key_from_row).optional())
            .map_err(unavailable)?
            .transpose()
        })
        .await
    }

    async fn list_keys(&self) -> Result<Vec<ApiKeyRecord>, RepoError> {
        self.select_keys("", None).await
    }

    async fn list_user_keys(&self, owner: &str) -> Result<Vec<ApiKeyRecord>, RepoError> {
        self.select_keys("WHERE owner_id = ?1", Some(owner.to_owned()))
            .await
    }

    async fn revoke_key(&self, hash: &ApiKeyHash, at: Timestamp) -> Result<bool, RepoError> {
        let hash = hash.clone();
        let found = self
            .exec(move |tx| {
                let found: bool = tx
                    .prepare_cached("SELECT 1 FROM api_keys WHERE hash = ?1")?
                    .exists([hash.as_str()])?;
                tx.prepare_cached(
                    "UPDATE api_keys SET revoked_at = ?2 WHERE hash = ?1 AND revoked_at IS NULL",
                )?
                .execute(params![hash.as_str(), at.as_unix_millis()])?;
                Ok(Ok(u64::from(found)))
            })
            .await?;
        Ok(found == 1)
    }

    async fn touch_key(&self, hash: &ApiKeyHash, at: Timestamp) -> Result<(), RepoError> {
        let hash = hash.clone();
        self.exec(move |tx| {
            tx.prepare_cached(
                "UPDATE api_keys SET last_used_at = ?2
                 WHERE hash = ?1 AND (last_used_at IS NULL OR last_used_at < ?2)",
            )?
            .execute(params![hash.as_str(), at.as_unix_millis()])?;
            Ok(Ok(0))
        })
        .await
        .map(|_| ())
    }
}
