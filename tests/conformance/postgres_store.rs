//! What only the PostgreSQL store has: migrations applied once by instances starting together,
//! a newer schema refused, the sweep and the owner listing served by their indexes, and the
//! libpq TLS modes. The real server `scripts/test` provides, a fresh schema per test.

use crate::common;

use std::time::Duration;

use common::backends::PostgresScope;
use url_shortener::config::{PgSslMode, PostgresSettings};
use url_shortener::repository::{POSTGRES_MIGRATOR, PostgresRepository};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_instances_starting_at_once_migrate_the_database_once() {
    let scope = PostgresScope::new();
    let settings = scope.settings();
    let starts = (0..10).map(|_| {
        let settings = settings.clone();
        tokio::spawn(async move {
            PostgresRepository::connect(&settings, Duration::from_secs(10)).await
        })
    });
    for started in futures_util::future::join_all(starts).await {
        started.unwrap().expect("every instance starts");
    }
    let known = POSTGRES_MIGRATOR.iter().count();
    assert_eq!(
        scope.psql("SELECT count(*) FROM _sqlx_migrations WHERE success"),
        known.to_string()
    );
    assert_eq!(
        scope.psql("SELECT count(*) FROM pg_tables WHERE tablename = 'links' AND schemaname = current_schema()"),
        "1"
    );
}

#[tokio::test]
async fn a_database_migrated_by_a_newer_build_is_refused_with_a_clear_message() {
    let scope = PostgresScope::new();
    drop(scope.open().await);
    scope.psql(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (9999, 'from the future', true, '\\x00', 0)",
    );
    let refused = PostgresRepository::connect(&scope.settings(), Duration::from_secs(5))
        .await
        .err()
        .expect("a newer schema is refused");
    let message = refused.to_string();
    assert!(message.contains("9999"), "{message}");
    assert!(message.contains("newer"), "{message}");
    assert!(message.contains("run a newer url-shortener"), "{message}");
}

/// The plan PostgreSQL picks for `query` once the tables hold enough rows that a scan would
/// cost more than an index.
fn plan(scope: &PostgresScope, query: &str) -> String {
    scope.psql(&format!("EXPLAIN (COSTS OFF) {query}"))
}

#[tokio::test]
async fn the_sweep_and_the_owner_listing_are_served_by_their_indexes() {
    let scope = PostgresScope::new();
    drop(scope.open().await);
    // 50,000 links: most never expire, 100 have; owners spread over 500 users.
    scope.psql(
        "INSERT INTO links (short_code, long_url, created_at, expires_at, owner_id)
         SELECT 'c' || i, 'https://example.com/', now() - i * interval '1 second',
                CASE WHEN i % 500 = 0 THEN now() - interval '1 day' END, 'u' || (i % 500)
         FROM generate_series(1, 50000) AS i;
         ANALYZE links",
    );

    let sweep = plan(
        &scope,
        "DELETE FROM links WHERE short_code IN (
             SELECT short_code FROM links WHERE expires_at < now()
             ORDER BY expires_at LIMIT 1000 FOR UPDATE SKIP LOCKED)",
    );
    assert!(sweep.contains("links_expires_at"), "{sweep}");
    assert!(!sweep.contains("Seq Scan"), "{sweep}");

    let listing = plan(
        &scope,
        "SELECT short_code, long_url, created_at, expires_at, click_count, last_accessed_at,
                owner_id
         FROM links WHERE owner_id = 'u7' AND (created_at, short_code) < (now(), '')
         ORDER BY created_at DESC, short_code DESC LIMIT 20",
    );
    assert!(
        listing.contains("Index Scan Backward using links_owner"),
        "{listing}"
    );
    assert!(
        listing.contains("Index Cond"),
        "the cursor bounds the scan: {listing}"
    );
    assert!(
        !listing.contains("Sort"),
        "no sort of the owner's links: {listing}"
    );
}

/// Whether the store's connections to the server are encrypted.
async fn encrypted(settings: &PostgresSettings) -> Result<bool, String> {
    let repo = PostgresRepository::connect(settings, Duration::from_secs(5))
        .await
        .map_err(|e| e.to_string())?;
    let ssl: bool = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(repo.pool())
        .await
        .map_err(|e| e.to_string())?;
    Ok(ssl)
}

#[tokio::test]
async fn sslmode_chooses_plain_tls_or_a_verified_server_as_libpq_does() {
    let scope = PostgresScope::new();
    assert_eq!(
        common::backends::psql(&common::backends::postgres_url(), "SHOW ssl"),
        "on",
        "the test server offers TLS (Debian's cluster does, with its snakeoil certificate)"
    );
    let with = |mode: PgSslMode| PostgresSettings {
        sslmode: Some(mode),
        ..scope.settings()
    };
    assert_eq!(encrypted(&with(PgSslMode::Disable)).await, Ok(false));
    assert_eq!(encrypted(&with(PgSslMode::Require)).await, Ok(true));
    // The server's certificate is self-signed: a verifying mode refuses it rather than
    // talking to a server it cannot authenticate.
    let refused = encrypted(&with(PgSslMode::VerifyFull))
        .await
        .expect_err("verify-full refuses an untrusted certificate");
    assert!(
        refused.to_lowercase().contains("certificate"),
        "the error says why: {refused}"
    );
}
