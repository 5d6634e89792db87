//! The expiration sweep against the SQLite store, with a manual clock.

use std::sync::Arc;
use std::time::Duration;

use url_shortener::config::SqliteSync;
use url_shortener::domain::{LongUrl, ManualClock, ShortCode, Timestamp, UrlRecord};
use url_shortener::repository::{Repository, SqliteRepository};
use url_shortener::service::ExpirationService;

fn at(ms: i64) -> Timestamp {
    Timestamp::from_unix_millis(ms).unwrap()
}

#[tokio::test]
async fn the_sweeper_removes_expired_sqlite_links_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Arc::new(
        SqliteRepository::open(dir.path().join("links.db"), SqliteSync::Normal)
            .await
            .unwrap(),
    );
    let links = [
        ("expired-a", Some(1_000)),
        ("expired-b", Some(59_999)),
        ("boundary", Some(60_000)),
        ("future", Some(3_600_000)),
        ("forever", None),
    ];
    for (code, expires) in links {
        let record = UrlRecord::new(
            ShortCode::parse(code).unwrap(),
            LongUrl::from_trusted(format!("https://example.com/{code}")),
            at(0),
            expires.map(at),
        );
        repo.save(&record).await.unwrap();
    }
    let clock = Arc::new(ManualClock::new(at(60_000)));
    let sweeper = ExpirationService::new(repo.clone(), clock.clone(), Duration::from_secs(300), 1);

    let removed = sweeper.sweep().await.unwrap();

    assert_eq!(removed, 2);
    for (code, present) in [
        ("expired-a", false),
        ("expired-b", false),
        ("boundary", true),
        ("future", true),
        ("forever", true),
    ] {
        let exists = repo.exists(&ShortCode::parse(code).unwrap()).await.unwrap();
        assert_eq!(exists, present, "{code}");
    }
    clock.set(at(i64::from(i32::MAX)));
    assert_eq!(sweeper.sweep().await.unwrap(), 2);
    assert!(
        repo.exists(&ShortCode::parse("forever").unwrap())
            .await
            .unwrap()
    );
}
