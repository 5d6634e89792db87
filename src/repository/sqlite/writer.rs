//! The writer thread: one connection applying queued commands in batches, one transaction each.

use super::*;

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
pub(super) fn run_writer(mut conn: Connection, mut rx: mpsc::Receiver<Command>, sync: SqliteSync) {
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
                    "INSERT INTO links (short_code, long_url, created_at, expires_at, click_count, last_accessed_at, owner_id, routing)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (short_code) DO NOTHING",
                )?
                .execute(params![
                    record.short_code.as_str(),
                    record.long_url.as_str(),
                    record.created_at.as_unix_millis(),
                    record.expires_at.map(Timestamp::as_unix_millis),
                    i64::try_from(record.click_count).unwrap_or(i64::MAX),
                    record.last_accessed_at.map(Timestamp::as_unix_millis),
                    record.owner,
                    record.routing.to_stored(),
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
