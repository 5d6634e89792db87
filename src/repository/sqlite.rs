//! `SqliteRepository`: the embedded default store. One file, WAL mode, every acknowledged write
//! committed before the caller hears back, so a `kill -9` loses nothing that was acknowledged.
//!
//! Why rusqlite (with the bundled SQLite) rather than sqlx: group commit needs one writer that
//! owns its connection and decides where transactions begin and end, and the bundled library
//! makes the build independent of the system's SQLite. All blocking work stays off the async
//! workers: writes go to a dedicated writer thread, reads to a few reader threads that each own
//! a read-only connection (WAL lets them read while the writer writes).
//!
//! Why reader threads rather than `spawn_blocking`: under load `spawn_blocking` fans the reads
//! out over many pool threads that then queue on the few connections' mutexes, two context
//! switches or more per lookup; a reader thread instead drains every queued lookup in turn and
//! sleeps only when none is left, so a burst costs one wake-up.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use tokio::sync::{mpsc, oneshot};

use super::{ClickDelta, LinkCursor, LinkScan, RepoError, Repository, WRITE_MARK_TTL_MS};
use crate::config::SqliteSync;
use crate::domain::{LongUrl, ShortCode, Timestamp, UrlRecord};

mod accounts;
mod clicks;
mod keys;
mod link_health;
mod links;

/// Schema versions, applied in order; `PRAGMA user_version` records how many have run.
/// Append only: a released migration is never edited.
const MIGRATIONS: &[&str] = &[
    // 1: links. WITHOUT ROWID keeps each link in the primary-key B-tree, so a lookup by code is
    // one tree descent. The partial index serves the expiry sweep and holds only expiring links.
    "CREATE TABLE links (
        short_code       TEXT    NOT NULL PRIMARY KEY,
        long_url         TEXT    NOT NULL,
        created_at       INTEGER NOT NULL,
        expires_at       INTEGER,
        click_count      INTEGER NOT NULL DEFAULT 0,
        last_accessed_at INTEGER
    ) WITHOUT ROWID;
    CREATE INDEX links_expires_at ON links (expires_at) WHERE expires_at IS NOT NULL;",
    // 2: API keys, stored as SHA-256 hashes only.
    "CREATE TABLE api_keys (
        id         TEXT    NOT NULL PRIMARY KEY,
        hash       TEXT    NOT NULL UNIQUE,
        name       TEXT    NOT NULL,
        created_at INTEGER NOT NULL,
        revoked_at INTEGER
    );",
    // 3: users, sessions and invites.
    accounts::MIGRATION,
    // 4: owners of keys and links, last use of keys, retired (deleted) links. A deleted link
    // stays as a row with `deleted_at` set, so its code is never issued again; the owner index
    // serves "my links, newest first" without scanning the table.
    "ALTER TABLE api_keys ADD COLUMN owner_id TEXT;
    ALTER TABLE api_keys ADD COLUMN last_used_at INTEGER;
    CREATE INDEX api_keys_owner ON api_keys (owner_id) WHERE owner_id IS NOT NULL;
    ALTER TABLE links ADD COLUMN owner_id TEXT;
    ALTER TABLE links ADD COLUMN deleted_at INTEGER;
    CREATE INDEX links_owner ON links (owner_id, created_at, short_code)
        WHERE owner_id IS NOT NULL;",
    // 5: click analytics.
    clicks::MIGRATION,
    // 6: link health.
    link_health::MIGRATION,
    // 7: links an administrator disabled (they answer 404 until enabled again).
    "ALTER TABLE links ADD COLUMN disabled_at INTEGER;",
];

/// The expiry sweep's candidate query. It must be answered from `links_expires_at` (see
/// `the_expiry_sweep_reads_only_the_index` below, or run
/// `sqlite3 data/url-shortener.db "EXPLAIN QUERY PLAN SELECT short_code FROM links WHERE expires_at < 0 ORDER BY expires_at LIMIT 1"`
/// which prints `SEARCH links USING COVERING INDEX links_expires_at (expires_at<?)`), so its
/// cost follows the number of expired links, not the size of the table.
const EXPIRED_CODES_SQL: &str =
    "SELECT short_code FROM links WHERE expires_at < ?1 ORDER BY expires_at LIMIT ?2";

/// Most commands committed in one transaction.
const MAX_BATCH: usize = 1024;
/// Commands that may wait for the writer before callers feel backpressure.
const QUEUE_DEPTH: usize = 8192;
/// How long a connection waits for a lock held by another process before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

type Reply = oneshot::Sender<Result<u64, RepoError>>;

/// A write the API-key operations need; `Fn` so a failed batch can run it again alone.
type Exec =
    Box<dyn Fn(&rusqlite::Transaction<'_>) -> rusqlite::Result<Result<u64, RepoError>> + Send>;

enum Command {
    Save(UrlRecord, Reply),
    Increment(ClickDelta, Reply),
    /// A run of a click flush, in code order (see `increment_click_counts`).
    Clicks(Arc<[ClickDelta]>, Reply),
    DeleteExpired(Timestamp, usize, Reply),
    Exec(Exec, Reply),
}

/// A link store in one SQLite file.
pub struct SqliteRepository {
    writer: mpsc::Sender<Command>,
    readers: crossbeam_channel::Sender<ReadJob>,
    path: PathBuf,
}

/// A lookup for a reader thread: runs against the thread's connection and sends its own answer.
type ReadJob = Box<dyn FnOnce(&Connection) + Send>;

/// Lookups waiting for a reader thread at most; beyond it a lookup fails fast as unavailable
/// instead of queueing behind work that would outlive its request's deadline.
const READ_QUEUE_DEPTH: usize = 8192;

/// Address space each connection (the readers and the writer) maps the file into: B-tree pages
/// come straight from the OS page cache instead of a `pread` each (SQLite's own cache is 2 MiB).
const MMAP_BYTES: u64 = 1 << 30;

/// The writer's page cache (KiB): click flushes update rows all over the table, and each page
/// they find in memory is a `pread` saved (SQLite's default is 2 MiB).
const WRITER_CACHE_KIB: u64 = 64 * 1024;

/// WAL pages (4 KiB each) before SQLite copies them back into the database file. The default,
/// 1,000, checkpoints after nearly every click flush, writing each page twice and paying an
/// fsync of the database file each time; at 16,384 (64 MiB of WAL at most between checkpoints)
/// a page updated by several flushes is copied back once. Measured with 1,000,000 links and
/// uniformly random redirects: about 21k -> 28k req/s, 47 -> 36 µs of CPU per redirect.
const WAL_CHECKPOINT_PAGES: u32 = 16_384;

fn unavailable(e: impl std::fmt::Display) -> RepoError {
    RepoError::Unavailable(e.to_string())
}

impl SqliteRepository {
    /// Opens (creating it and its folder if needed) the database at `path`, applies pending
    /// migrations and starts the writer thread.
    ///
    /// # Errors
    /// When the folder or file cannot be created or opened, or the file was written by a newer
    /// schema version.
    pub async fn open(path: impl AsRef<Path>, sync: SqliteSync) -> Result<Self, RepoError> {
        let path = path.as_ref().to_owned();
        tokio::task::spawn_blocking(move || Self::open_blocking(path, sync))
            .await
            .map_err(unavailable)?
    }

    fn open_blocking(path: PathBuf, sync: SqliteSync) -> Result<Self, RepoError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| unavailable(format!("cannot create {}: {e}", dir.display())))?;
        }
        let mut writer = Connection::open(&path)
            .map_err(|e| unavailable(format!("cannot open {}: {e}", path.display())))?;
        writer.busy_timeout(BUSY_TIMEOUT).map_err(unavailable)?;
        let mode: String = writer
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(unavailable)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(unavailable(format!(
                "{} cannot use WAL mode (got {mode})",
                path.display()
            )));
        }
        let synchronous = match sync {
            SqliteSync::Full => "FULL",
            SqliteSync::Normal => "NORMAL",
        };
        writer
            .execute_batch(&format!(
                "PRAGMA synchronous = {synchronous};
                 PRAGMA mmap_size = {MMAP_BYTES};
                 PRAGMA cache_size = -{WRITER_CACHE_KIB};
                 PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES};"
            ))
            .map_err(unavailable)?;
        migrate(&mut writer)?;

        let readers = (0..read_pool_size())
            .map(|_| {
                let conn = Connection::open_with_flags(
                    &path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(unavailable)?;
                conn.busy_timeout(BUSY_TIMEOUT).map_err(unavailable)?;
                conn.execute_batch(&format!("PRAGMA mmap_size = {MMAP_BYTES};"))
                    .map_err(unavailable)?;
                Ok(conn)
            })
            .collect::<Result<Vec<_>, RepoError>>()?;
        let (read_tx, read_rx) = crossbeam_channel::bounded::<ReadJob>(READ_QUEUE_DEPTH);
        for (i, conn) in readers.into_iter().enumerate() {
            let jobs = read_rx.clone();
            std::thread::Builder::new()
                .name(format!("sqlite-reader-{i}"))
                .spawn(move || run_reader(&conn, &jobs))
                .map_err(unavailable)?;
        }

        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        std::thread::Builder::new()
            .name("sqlite-writer".to_owned())
            .spawn(move || run_writer(writer, rx, sync))
            .map_err(unavailable)?;
        Ok(Self {
            writer: tx,
            readers: read_tx,
            path,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn write(&self, make: impl FnOnce(Reply) -> Command) -> Result<u64, RepoError> {
        let (reply, answer) = oneshot::channel();
        self.writer
            .send(make(reply))
            .await
            .map_err(|_| unavailable("the SQLite writer has stopped"))?;
        answer
            .await
            .map_err(|_| unavailable("the SQLite writer dropped a command"))?
    }

    /// Runs `f` in a writer transaction (see [`Command::Exec`]).
    async fn exec(
        &self,
        f: impl Fn(&rusqlite::Transaction<'_>) -> rusqlite::Result<Result<u64, RepoError>>
        + Send
        + 'static,
    ) -> Result<u64, RepoError> {
        self.write(|reply| Command::Exec(Box::new(f), reply)).await
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, RepoError> + Send + 'static,
    ) -> Result<T, RepoError> {
        let (reply, answer) = oneshot::channel();
        let job: ReadJob = Box::new(move |conn| {
            // The requester may have given up (deadline); its answer is then dropped unread.
            let _ = reply.send(f(conn));
        });
        self.readers.try_send(job).map_err(|e| match e {
            crossbeam_channel::TrySendError::Full(_) => unavailable("SQLite read queue is full"),
            crossbeam_channel::TrySendError::Disconnected(_) => {
                unavailable("the SQLite readers have stopped")
            }
        })?;
        answer
            .await
            .map_err(|_| unavailable("a SQLite reader failed during a lookup"))?
    }
}

/// A reader thread: runs lookups until the repository (the channel's sender) is dropped.
fn run_reader(conn: &Connection, jobs: &crossbeam_channel::Receiver<ReadJob>) {
    while let Ok(job) = jobs.recv() {
        // A panicking lookup drops its reply (the caller sees `Unavailable`) and must not take
        // the thread with it. It cannot leave the connection half-used either: every statement
        // is reset when dropped during the unwind.
        if std::panic::catch_unwind(AssertUnwindSafe(|| job(conn))).is_err() {
            tracing::error!("a SQLite lookup panicked");
        }
    }
}

fn read_pool_size() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8))
}

fn migrate(conn: &mut Connection) -> Result<(), RepoError> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(unavailable)?;
    let version = usize::try_from(version).unwrap_or(usize::MAX);
    if version > MIGRATIONS.len() {
        return Err(RepoError::Corrupt(format!(
            "the database has schema version {version}, newer than this build knows ({}); \
             run a newer url-shortener",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Exclusive)
            .map_err(unavailable)?;
        tx.execute_batch(sql).map_err(unavailable)?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))
            .map_err(unavailable)?;
        tx.commit().map_err(unavailable)?;
        tracing::info!(version = i + 1, "applied SQLite migration");
    }
    Ok(())
}

/// The writer thread: takes every command waiting (up to [`MAX_BATCH`]), applies them in one
/// transaction and answers each only after the commit. Concurrent creates thus share one
/// fsync (group commit) without any of them being acknowledged early.
///
/// With `sync` at `Full`, a batch of nothing but click increments commits without its own
/// fsync: clicks wait in memory for up to a flush interval anyway, so a power cut may lose that
/// much regardless, and the next create's fsync makes the earlier click commits durable too
/// (the WAL is one sequential file). It saves one WAL fsync per click batch.
///
/// The level changes only when the next batch needs the other one, not around every batch:
/// a flush over many links is many click batches in a row, and switching twice per batch
/// took a sixth of the writer's time with 1,000,000 links (perf). Every batch that is not
/// all clicks still runs at the configured level.
fn run_writer(mut conn: Connection, mut rx: mpsc::Receiver<Command>, sync: SqliteSync) {
    let mut relaxed = false;
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(command) => batch.push(command),
                Err(_) => break,
            }
        }
        let relax = matches!(sync, SqliteSync::Full)
            && batch
                .iter()
                .all(|c| matches!(c, Command::Increment(..) | Command::Clicks(..)));
        if relax && !relaxed {
            // A failure to switch only costs the fsync it would have saved: the batch still
            // runs at the configured (stricter) level.
            relaxed = conn
                .execute_batch("PRAGMA main.synchronous = NORMAL;")
                .is_ok();
        } else if !relax && relaxed {
            if let Err(e) = conn.execute_batch("PRAGMA main.synchronous = FULL;") {
                // Never acknowledge a create at a weaker level than configured.
                tracing::error!(error = %e, "cannot restore synchronous = FULL; the SQLite writer stops");
                return;
            }
            relaxed = false;
        }
        apply_batch(&mut conn, batch);
    }
}

fn apply_batch(conn: &mut Connection, batch: Vec<Command>) {
    let outcome = (|| {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut results = Vec::with_capacity(batch.len());
        for command in &batch {
            match execute(&tx, command) {
                Ok(result) => results.push(result),
                // A real failure: undo the batch and run its commands one by one below, so
                // one bad command cannot fail its neighbours.
                Err(e) => return Err(e),
            }
        }
        tx.commit()?;
        Ok(results)
    })();
    match outcome {
        Ok(results) => {
            for (command, result) in batch.into_iter().zip(results) {
                let _ = reply_of(command).send(result);
            }
        }
        Err(batch_error) => {
            tracing::warn!(error = %batch_error, "SQLite batch failed; retrying its commands one by one");
            for command in batch {
                let result = (|| {
                    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                    let result = execute(&tx, &command)?;
                    tx.commit()?;
                    Ok(result)
                })()
                .unwrap_or_else(|e: rusqlite::Error| Err(unavailable(e)));
                let _ = reply_of(command).send(result);
            }
        }
    }
}

fn reply_of(command: Command) -> Reply {
    match command {
        Command::Save(_, r)
        | Command::Increment(_, r)
        | Command::Clicks(_, r)
        | Command::DeleteExpired(_, _, r)
        | Command::Exec(_, r) => r,
    }
}

/// Runs one command inside the batch's transaction. The outer `Err` is a database failure; the
/// inner result is the command's own answer (a conflict is an answer, not a failure).
fn execute(
    tx: &rusqlite::Transaction<'_>,
    command: &Command,
) -> rusqlite::Result<Result<u64, RepoError>> {
    match command {
        Command::Save(record, _) => {
            let inserted = tx
                .prepare_cached(
                    "INSERT INTO links (short_code, long_url, created_at, expires_at, click_count, last_accessed_at, owner_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (short_code) DO NOTHING",
                )?
                .execute(params![
                    record.short_code.as_str(),
                    record.long_url.as_str(),
                    record.created_at.as_unix_millis(),
                    record.expires_at.map(Timestamp::as_unix_millis),
                    i64::try_from(record.click_count).unwrap_or(i64::MAX),
                    record.last_accessed_at.map(Timestamp::as_unix_millis),
                    record.owner,
                ])?;
            if inserted == 1 {
                link_health::schedule(
                    tx,
                    record.short_code.as_str(),
                    record.created_at.as_unix_millis(),
                )?;
            }
            Ok(if inserted == 1 {
                Ok(0)
            } else {
                Err(RepoError::Conflict)
            })
        }
        Command::Increment(delta, _) => {
            increment(tx, delta)?;
            Ok(Ok(0))
        }
        Command::Clicks(deltas, _) => {
            for delta in deltas.iter() {
                increment(tx, delta)?;
            }
            Ok(Ok(0))
        }
        Command::DeleteExpired(before, limit, _) => {
            let codes: Vec<String> = tx
                .prepare_cached(EXPIRED_CODES_SQL)?
                .query_map(
                    params![
                        before.as_unix_millis(),
                        i64::try_from(*limit).unwrap_or(i64::MAX)
                    ],
                    |r| r.get(0),
                )?
                .collect::<rusqlite::Result<_>>()?;
            let mut delete = tx.prepare_cached("DELETE FROM links WHERE short_code = ?1")?;
            for code in &codes {
                clicks::forget(tx, code)?;
                link_health::forget(tx, code)?;
                delete.execute([code])?;
            }
            let silent =
                before.as_unix_millis() - i64::try_from(WRITE_MARK_TTL_MS).unwrap_or(i64::MAX);
            clicks::prune_marks(tx, silent)?;
            Ok(Ok(codes.len() as u64))
        }
        Command::Exec(exec, _) => exec(tx),
    }
}

/// One click write. No write mark for this process's own flushes: the writer thread answers
/// every write for certain (committed, or rolled back and reported), so a retry never repeats a
/// write that landed, and a mark would grow every row that is clicked (a quarter slower
/// redirects with a million links). A click processor's batch (`shared_writer`) can be
/// redelivered to another process after a crash, so it keeps one, in `click_writes`.
fn increment(tx: &rusqlite::Transaction<'_>, delta: &ClickDelta) -> rusqlite::Result<usize> {
    if delta.shared_writer
        && !clicks::mark(
            tx,
            delta.code.as_str(),
            delta.write.instance,
            delta.write.seq,
            delta.last_at.as_unix_millis(),
        )?
    {
        return Ok(0); // applied before
    }
    // The link's totals in one row write: the count, the last access and the human/bot split.
    let (human, bot) = delta
        .tally
        .hours
        .iter()
        .fold((0u64, 0u64), |(h, b), hour| (h + hour.human, b + hour.bot));
    let int = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let changed = tx
        .prepare_cached(
            "UPDATE links SET click_count = click_count + ?2,
                last_accessed_at = MAX(COALESCE(last_accessed_at, ?3), ?3),
                human_clicks = human_clicks + ?4, bot_clicks = bot_clicks + ?5
         WHERE short_code = ?1 AND deleted_at IS NULL",
        )?
        .execute(params![
            delta.code.as_str(),
            int(delta.count),
            delta.last_at.as_unix_millis(),
            int(human),
            int(bot)
        ])?;
    if changed == 1 && !delta.tally.is_empty() {
        clicks::add_tally(tx, delta.code.as_str(), &delta.tally)?;
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "url-shortener-sqlite-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("nested").join("links.db")
    }

    #[test]
    fn the_expiry_sweep_reads_only_the_index() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {EXPIRED_CODES_SQL}"))
            .unwrap()
            .query_map(params![0, 10], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            plan,
            vec!["SEARCH links USING COVERING INDEX links_expires_at (expires_at<?)"]
        );
    }

    #[test]
    fn an_owners_listing_reads_only_the_owner_index() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {}", links::OWNED_LINKS_SQL))
            .unwrap()
            .query_map(params!["u", 0, "", 10], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(plan.len(), 1, "{plan:?}");
        assert!(
            plan[0].starts_with("SEARCH links USING INDEX links_owner (owner_id=?"),
            "{plan:?}"
        );
    }

    #[test]
    fn the_sweep_visits_expired_rows_only() {
        // 10,000 links that never expire, 5,000 that expire later and 10 that have expired:
        // stepping through the candidates must touch about 10 rows, not 15,010.
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        let tx = conn.transaction().unwrap();
        for i in 0..15_010i64 {
            let expires = match i {
                0..10_000 => None,
                10_000..15_000 => Some(1_000_000 + i),
                _ => Some(i),
            };
            tx.execute(
                "INSERT INTO links (short_code, long_url, created_at, expires_at) VALUES (?1, 'https://e.x/', 0, ?2)",
                params![format!("code{i}"), expires],
            )
            .unwrap();
        }
        tx.commit().unwrap();
        let mut stmt = conn.prepare(EXPIRED_CODES_SQL).unwrap();
        let found = stmt
            .query_map(params![1_000_000, 1_000], |r| r.get::<_, String>(0))
            .unwrap()
            .count();
        assert_eq!(found, 10);
        assert_eq!(stmt.get_status(rusqlite::StatementStatus::FullscanStep), 0);
        let steps = stmt.get_status(rusqlite::StatementStatus::VmStep);
        assert!(steps < 200, "{steps} VM steps for 10 expired rows");
    }

    #[tokio::test]
    async fn opening_creates_the_folder_and_reopening_keeps_the_data() {
        let path = scratch("reopen");
        let record = UrlRecord::new(
            ShortCode::parse("keepme").unwrap(),
            LongUrl::from_trusted("https://example.com/".into()),
            Timestamp::from_unix_millis(1_000).unwrap(),
            None,
        );
        {
            let repo = SqliteRepository::open(&path, SqliteSync::Full)
                .await
                .unwrap();
            repo.save(&record).await.unwrap();
        }
        let repo = SqliteRepository::open(&path, SqliteSync::Full)
            .await
            .unwrap();
        assert_eq!(
            repo.find_by_short_code(&record.short_code).await.unwrap(),
            Some(record)
        );
        std::fs::remove_dir_all(path.parent().unwrap().parent().unwrap()).unwrap();
    }

    #[tokio::test]
    async fn creates_stay_at_synchronous_full_after_click_only_batches() {
        let path = scratch("sync");
        let repo = SqliteRepository::open(&path, SqliteSync::Full)
            .await
            .unwrap();
        let code = ShortCode::parse("clicked").unwrap();
        repo.save(&UrlRecord::new(
            code.clone(),
            LongUrl::from_trusted("https://example.com/".into()),
            Timestamp::from_unix_millis(1_000).unwrap(),
            None,
        ))
        .await
        .unwrap();
        let at = Timestamp::from_unix_millis(2_000).unwrap();
        // Two hundred writers, each its own instance, so none is a retry of another.
        let deltas: Vec<_> = (0..200u64)
            .map(|i| ClickDelta {
                code: code.clone(),
                count: 1,
                last_at: at,
                write: crate::repository::WriteId {
                    instance: i + 1,
                    seq: 1,
                },
                tally: Default::default(),
                shared_writer: false,
            })
            .collect();
        let clicks: Vec<_> = deltas
            .iter()
            .map(|delta| repo.increment_click_count(delta))
            .collect();
        for click in futures_util::future::join_all(clicks).await {
            click.unwrap();
        }
        // What the writer connection would commit the next create with.
        let level = repo
            .write(|reply| {
                Command::Exec(
                    Box::new(|tx| {
                        tx.query_row("PRAGMA synchronous", [], |r| r.get::<_, i64>(0))
                            .map(|level| Ok(level.unsigned_abs()))
                    }),
                    reply,
                )
            })
            .await
            .unwrap();
        assert_eq!(level, 2, "PRAGMA synchronous: 2 is FULL");
        let record = repo.find_by_short_code(&code).await.unwrap().unwrap();
        assert_eq!(record.click_count, 200);
        std::fs::remove_dir_all(path.parent().unwrap().parent().unwrap()).unwrap();
    }

    #[tokio::test]
    async fn a_database_from_a_newer_version_is_refused() {
        let path = scratch("newer");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        Connection::open(&path)
            .unwrap()
            .execute_batch("PRAGMA user_version = 999")
            .unwrap();
        let err = SqliteRepository::open(&path, SqliteSync::Full)
            .await
            .err()
            .unwrap();
        assert!(err.to_string().contains("newer"), "{err}");
        std::fs::remove_dir_all(path.parent().unwrap().parent().unwrap()).unwrap();
    }

    #[tokio::test]
    async fn a_file_written_before_accounts_opens_migrates_and_keeps_its_data() {
        use crate::repository::{ApiKeyStore, LinkCursor};
        let path = scratch("before-accounts");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        {
            // Exactly what the version with links and API keys only (schema 2) left on disk.
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.execute_batch(MIGRATIONS[1]).unwrap();
            conn.execute_batch(
                "PRAGMA user_version = 2;
                 INSERT INTO links VALUES ('old-link', 'https://example.com/', 1000, NULL, 7, 2000);
                 INSERT INTO api_keys VALUES ('abcdef012345', 'abcdef0123456789', 'ops', 1000, NULL);",
            )
            .unwrap();
        }
        let repo = SqliteRepository::open(&path, SqliteSync::Full)
            .await
            .unwrap();
        let code = ShortCode::parse("old-link").unwrap();
        let link = repo.find_by_short_code(&code).await.unwrap().unwrap();
        assert_eq!((link.click_count, link.owner), (7, None));
        let keys = repo.list_keys().await.unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!((keys[0].owner.as_ref(), keys[0].last_used_at), (None, None));
        // And the new capabilities work on the old rows.
        assert!(
            repo.delete_link(&code, Timestamp::from_unix_millis(3_000).unwrap())
                .await
                .unwrap()
        );
        assert_eq!(repo.find_by_short_code(&code).await.unwrap(), None);
        let none: Option<&LinkCursor> = None;
        assert!(repo.list_owned("u", none, 10).await.unwrap().is_empty());
        std::fs::remove_dir_all(path.parent().unwrap().parent().unwrap()).unwrap();
    }
}
