//! API keys in PostgreSQL (`api_keys`, migration 2): hashes only, with the owner and the last
//! use.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{PostgresRepository, from_pg, from_pg_opt, to_pg};
use crate::domain::{ApiKeyHash, ApiKeyRecord, Timestamp};
use crate::repository::{ApiKeyStore, KeyInsert, RepoError};

/// An `api_keys` row as the queries select it.
struct KeyRow {
    id: String,
    hash: String,
    name: String,
    created_at: OffsetDateTime,
    revoked_at: Option<OffsetDateTime>,
    owner_id: Option<String>,
    last_used_at: Option<OffsetDateTime>,
}

impl KeyRow {
    fn into_record(self) -> Result<ApiKeyRecord, RepoError> {
        Ok(ApiKeyRecord {
            created_at: from_pg(self.created_at, "an API key's created_at")?,
            revoked_at: from_pg_opt(self.revoked_at, "an API key's revoked_at")?,
            last_used_at: from_pg_opt(self.last_used_at, "an API key's last_used_at")?,
            id: self.id,
            name: self.name,
            hash: ApiKeyHash::from_hex(self.hash),
            owner: self.owner_id,
        })
    }
}

fn records(rows: Vec<KeyRow>) -> Result<Vec<ApiKeyRecord>, RepoError> {
    rows.into_iter().map(KeyRow::into_record).collect()
}

#[async_trait]
impl ApiKeyStore for PostgresRepository {
    async fn insert_key(
        &self,
        key: &ApiKeyRecord,
        max_live: usize,
    ) -> Result<KeyInsert, RepoError> {
        let inserted = self
            .within(async {
                let mut tx = self.pool.begin().await?;
                if let Some(owner) = &key.owner {
                    // One owner's key creations queue on a lock of the transaction (whatever
                    // instance runs them), so the count below cannot miss another's insert.
                    sqlx::query!(
                        "SELECT pg_advisory_xact_lock(hashtextextended('api_keys:' || $1, 0))",
                        owner
                    )
                    .fetch_one(&mut *tx)
                    .await?;
                    let live = sqlx::query_scalar!(
                        r#"SELECT count(*) AS "live!" FROM api_keys
                           WHERE owner_id = $1 AND revoked_at IS NULL"#,
                        owner
                    )
                    .fetch_one(&mut *tx)
                    .await?;
                    if usize::try_from(live).unwrap_or(usize::MAX) >= max_live {
                        return Ok(None);
                    }
                }
                let rows = sqlx::query!(
                    "INSERT INTO api_keys (id, hash, name, created_at, revoked_at, owner_id,
                                           last_used_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
                    key.id,
                    key.hash.as_str(),
                    key.name,
                    to_pg(key.created_at),
                    key.revoked_at.map(to_pg),
                    key.owner,
                    key.last_used_at.map(to_pg),
                )
                .execute(&mut *tx)
                .await?
                .rows_affected();
                tx.commit().await?;
                Ok(Some(rows))
            })
            .await?;
        match inserted {
            None => Ok(KeyInsert::AtCap),
            Some(1) => Ok(KeyInsert::Inserted),
            Some(_) => Err(RepoError::Conflict),
        }
    }

    async fn find_key(&self, hash: &ApiKeyHash) -> Result<Option<ApiKeyRecord>, RepoError> {
        self.within(
            sqlx::query_as!(
                KeyRow,
                "SELECT id, hash, name, created_at, revoked_at, owner_id, last_used_at
                 FROM api_keys WHERE hash = $1",
                hash.as_str()
            )
            .fetch_optional(&self.pool),
        )
        .await?
        .map(KeyRow::into_record)
        .transpose()
    }

    async fn list_keys(&self) -> Result<Vec<ApiKeyRecord>, RepoError> {
        records(
            self.within(
                sqlx::query_as!(
                    KeyRow,
                    "SELECT id, hash, name, created_at, revoked_at, owner_id, last_used_at
                     FROM api_keys ORDER BY created_at, id"
                )
                .fetch_all(&self.pool),
            )
            .await?,
        )
    }

    async fn list_user_keys(&self, owner: &str) -> Result<Vec<ApiKeyRecord>, RepoError> {
        records(
            self.within(
                sqlx::query_as!(
                    KeyRow,
                    "SELECT id, hash, name, created_at, revoked_at, owner_id, last_used_at
                     FROM api_keys WHERE owner_id = $1 ORDER BY created_at, id",
                    owner
                )
                .fetch_all(&self.pool),
            )
            .await?,
        )
    }

    async fn revoke_key(&self, hash: &ApiKeyHash, at: Timestamp) -> Result<bool, RepoError> {
        // COALESCE keeps the first revocation; the row counts as found either way.
        let found = self
            .within(
                sqlx::query!(
                    "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE hash = $1",
                    hash.as_str(),
                    to_pg(at)
                )
                .execute(&self.pool),
            )
            .await?
            .rows_affected();
        Ok(found == 1)
    }

    async fn touch_key(&self, hash: &ApiKeyHash, at: Timestamp) -> Result<(), RepoError> {
        self.within(
            sqlx::query!(
                "UPDATE api_keys SET last_used_at = $2
                 WHERE hash = $1 AND (last_used_at IS NULL OR last_used_at < $2)",
                hash.as_str(),
                to_pg(at)
            )
            .execute(&self.pool),
        )
        .await
        .map(|_| ())
    }
}
