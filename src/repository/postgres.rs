//! `PostgresRepository`: every store trait (links, API keys, users, sessions, invites) on one
//! PostgreSQL database, for fleets of instances that share it.
//!
//! The schema lives in `migrations/` (embedded by `sqlx::migrate!`) and is applied at start
//! under sqlx's advisory lock, so instances starting together migrate once and the rest wait;
//! a database migrated by a newer build is refused. Queries are `sqlx::query!` macros, checked
//! at compile time against the committed offline data in `.sqlx/` (`scripts/sqlx-prepare`
//! rewrites it; `scripts/test` fails when it is stale).
//!
//! Every call has the `storage.timeout_ms` deadline twice: as the server's
//! `statement_timeout`, so a slow statement stops using the database, and as a client
//! deadline around the whole call (pool wait included), so a dead or hung server costs a
//! request at most that long. A call that timed out may still have landed: creates are
//! insert-if-absent and click writes carry marks (`click_writes`), so a retry never repeats one.
//!
//! Creates are grouped like SQLite's writer thread groups them: concurrent `save`s are
//! collected by a few writer tasks and inserted with one `INSERT … SELECT FROM UNNEST … ON
//! CONFLICT DO NOTHING RETURNING` per batch, one commit (one WAL flush) for the lot, each caller
//! answered after that commit.

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection};
use time::OffsetDateTime;
use tokio::sync::{Mutex, mpsc, oneshot};

use super::RepoError;
use crate::config::{PgSslMode, PostgresSettings};
use crate::domain::{Timestamp, UrlRecord};

mod accounts;
mod clicks;
mod keys;
mod link_health;
mod links;
mod saves;

/// The schema, `migrations/*.sql` in version order, embedded at compile time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Creates one insert statement carries at most.
const MAX_SAVE_BATCH: usize = 512;
/// Creates that may wait for a writer task before callers feel backpressure.
const SAVE_QUEUE_DEPTH: usize = 8192;
/// Click deltas one increment statement carries at most.
const MAX_CLICK_BATCH: usize = 1000;
/// How often at most the sweep also drops the click marks of instances gone for a day: the
/// query reads the whole marks table, so not at every sweep.
const MARK_SWEEP_EVERY_MS: i64 = 60 * 60 * 1000;

/// A create waiting for a writer task, with where to send its answer.
type PendingSave = (UrlRecord, oneshot::Sender<Result<(), RepoError>>);

/// Every store on one PostgreSQL database.
pub struct PostgresRepository {
    pool: PgPool,
    timeout: Duration,
    saves: mpsc::Sender<PendingSave>,
    /// When (the sweep's `before`, Unix ms) old click marks were last dropped.
    marks_swept_at: AtomicI64,
}

fn unavailable(e: impl std::fmt::Display) -> RepoError {
    RepoError::Unavailable(e.to_string())
}

/// A driver error as the layers above see it: undecodable data is `Corrupt`, everything else
/// (connection, timeout, server error) `Unavailable`.
fn repo_error(e: sqlx::Error) -> RepoError {
    match e {
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
            RepoError::Corrupt(e.to_string())
        }
        other => unavailable(format!("PostgreSQL: {other}")),
    }
}

/// `t` as PostgreSQL's `timestamptz`.
fn to_pg(t: Timestamp) -> OffsetDateTime {
    // Every Timestamp (0 to year 9999, in milliseconds) is an OffsetDateTime; the fallback
    // cannot be reached.
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.as_unix_millis()) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// A stored `timestamptz` as a [`Timestamp`] (sub-millisecond digits dropped), or `Corrupt`
/// naming `what` when it is outside the range the domain can represent.
fn from_pg(t: OffsetDateTime, what: &str) -> Result<Timestamp, RepoError> {
    i64::try_from(t.unix_timestamp_nanos().div_euclid(1_000_000))
        .ok()
        .and_then(Timestamp::from_unix_millis)
        .ok_or_else(|| RepoError::Corrupt(format!("{what} out of range in PostgreSQL")))
}

/// [`from_pg`] of a nullable column.
fn from_pg_opt(t: Option<OffsetDateTime>, what: &str) -> Result<Option<Timestamp>, RepoError> {
    t.map(|t| from_pg(t, what)).transpose()
}

/// A count or id that PostgreSQL keeps as `bigint`: the same 64 bits, reinterpreted.
#[allow(clippy::cast_possible_wrap)]
fn to_bigint(n: u64) -> i64 {
    n as i64
}

/// The connection options of `settings`, with the server-side `statement_timeout` when given.
fn connect_options(
    settings: &PostgresSettings,
    statement_timeout: Option<Duration>,
) -> Result<PgConnectOptions, RepoError> {
    use sqlx::postgres::PgSslMode as Mode;
    let mut options = PgConnectOptions::from_str(&settings.url)
        .map_err(|e| unavailable(format!("invalid URL: {e}")))?
        .application_name("url-shortener");
    if let Some(mode) = settings.sslmode {
        options = options.ssl_mode(match mode {
            PgSslMode::Disable => Mode::Disable,
            PgSslMode::Allow => Mode::Allow,
            PgSslMode::Prefer => Mode::Prefer,
            PgSslMode::Require => Mode::Require,
            PgSslMode::VerifyCa => Mode::VerifyCa,
            PgSslMode::VerifyFull => Mode::VerifyFull,
        });
    }
    match settings.sslrootcert.as_deref().map(str::trim_start) {
        Some(pem) if pem.starts_with("-----BEGIN") => {
            options = options.ssl_root_cert_from_pem(pem.as_bytes().to_vec());
        }
        Some(path) => options = options.ssl_root_cert(path),
        None => {}
    }
    if let Some(limit) = statement_timeout {
        options = options.options([("statement_timeout", format!("{}ms", limit.as_millis()))]);
    }
    // Statements are logged by our own request log, not once more by the driver.
    Ok(options.disable_statement_logging())
}

impl PostgresRepository {
    /// Connects to the database of `settings`, applies the pending migrations (waiting for an
    /// instance that is applying them) and starts the create writers. Each later call gives up
    /// after `timeout`.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`] when the URL is invalid or the server cannot be reached
    /// within `timeout`; [`RepoError::Corrupt`] when the database has a schema newer than this
    /// build or a migration that differs from this build's.
    pub async fn connect(
        settings: &PostgresSettings,
        timeout: Duration,
    ) -> Result<Self, RepoError> {
        // Migrations run on a connection of their own without the statement timeout: waiting
        // for another instance's migration lock, or building an index, may take longer.
        let plain = connect_options(settings, None)?;
        let mut conn = tokio::time::timeout(timeout, PgConnection::connect_with(&plain))
            .await
            .map_err(|_| unavailable(format!("no connection within {} ms", timeout.as_millis())))?
            .map_err(repo_error)?;
        migrate(&mut conn).await?;
        // Closing is a courtesy to the server; the migration is committed either way.
        let _ = conn.close().await;

        let pool = PgPoolOptions::new()
            .max_connections(settings.pool_size)
            .min_connections(0)
            .acquire_timeout(timeout)
            // One round trip less per call: a broken connection fails its call (503, retried
            // by the client or the flusher) and is replaced.
            .test_before_acquire(false)
            .connect_lazy_with(connect_options(settings, Some(timeout))?);

        let (saves, queue) = mpsc::channel(SAVE_QUEUE_DEPTH);
        let queue = Arc::new(Mutex::new(queue));
        // Half the pool writes creates, so reads and clicks always find a connection.
        for _ in 0..(settings.pool_size / 2).clamp(1, 4) {
            tokio::spawn(run_save_writer(pool.clone(), queue.clone()));
        }
        Ok(Self {
            pool,
            timeout,
            saves,
            marks_swept_at: AtomicI64::new(0),
        })
    }

    /// The connection pool, for tests that look at the database directly.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Runs `call` with the client deadline, mapping its error.
    async fn within<T>(
        &self,
        call: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, RepoError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => result.map_err(repo_error),
            Err(_) => Err(self.timed_out()),
        }
    }

    /// The error of a call that outlived the client deadline.
    fn timed_out(&self) -> RepoError {
        unavailable(format!(
            "PostgreSQL did not answer within {} ms",
            self.timeout.as_millis()
        ))
    }
}

/// Applies the pending migrations of [`MIGRATOR`] under its advisory lock.
async fn migrate(conn: &mut PgConnection) -> Result<(), RepoError> {
    use sqlx::migrate::MigrateError;
    let known = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    // `run_direct` on the connection itself: `run` goes through `Acquire`, whose future is not
    // `Send` for every lifetime, so a start could not be spawned on the runtime.
    MIGRATOR
        .run_direct(None, conn, false)
        .await
        .map_err(|e| match e {
            MigrateError::VersionMissing(version) => RepoError::Corrupt(format!(
                "the database has schema version {version}, newer than this build knows ({known}); \
             run a newer url-shortener"
            )),
            MigrateError::VersionMismatch(version) => RepoError::Corrupt(format!(
                "migration {version} in the database differs from this build's; the database was \
             migrated by another build of url-shortener"
            )),
            MigrateError::Dirty(version) => RepoError::Corrupt(format!(
                "migration {version} failed part-way earlier; repair the database, then restart"
            )),
            MigrateError::Execute(e) => repo_error(e),
            other => unavailable(format!("migration failed: {other}")),
        })
}

/// A writer task: takes every create waiting (up to [`MAX_SAVE_BATCH`]) and inserts them in one
/// statement. Runs until the repository (the queue's sender) is dropped.
async fn run_save_writer(pool: PgPool, queue: Arc<Mutex<mpsc::Receiver<PendingSave>>>) {
    loop {
        let batch = {
            let mut queue = queue.lock().await;
            let Some(first) = queue.recv().await else {
                return;
            };
            let mut batch = vec![first];
            while batch.len() < MAX_SAVE_BATCH {
                match queue.try_recv() {
                    Ok(save) => batch.push(save),
                    Err(_) => break,
                }
            }
            batch
        };
        saves::insert_batch(&pool, batch).await;
    }
}

impl PostgresRepository {
    /// Drops click marks older than a day before `before`, at most once per
    /// [`MARK_SWEEP_EVERY_MS`]: their instances have no retry outstanding.
    async fn sweep_marks(&self, before: Timestamp, limit: usize) -> Result<(), RepoError> {
        let now = before.as_unix_millis();
        let last = self.marks_swept_at.load(Ordering::Relaxed);
        if now.saturating_sub(last) < MARK_SWEEP_EVERY_MS
            || self
                .marks_swept_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return Ok(());
        }
        let cutoff = now.saturating_sub(to_bigint(super::WRITE_MARK_TTL_MS));
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.within(
            sqlx::query!(
                "DELETE FROM click_writes WHERE ctid = ANY(ARRAY(
                    SELECT ctid FROM click_writes WHERE seq < $1 LIMIT $2))",
                cutoff,
                limit
            )
            .execute(&self.pool),
        )
        .await?;
        Ok(())
    }
}
