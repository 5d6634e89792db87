//! The SQLite store's own behaviour: migrations, the writer's batches, the read pool.

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
