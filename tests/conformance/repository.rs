//! One conformance suite for every storage backend: each check is written once against
//! `Arc<dyn Repository>` and instantiated per backend by `conformance!`. A backend joins by
//! adding one `conformance!` line with a factory for a fresh, isolated store.

//!
//! Times are anchored to the real clock (`now()`), because Redis expires keys by its own clock:
//! "expired" means before the real now, "live" means hours after it.

use crate::common;

use std::any::Any;
use std::sync::Arc;

use common::backends::{RedisScope, dynamodb_table, postgres_schema};
use url_shortener::config::SqliteSync;
use url_shortener::domain::{
    ApiKeyRecord, ApiKeySecret, Clock, LongUrl, ShortCode, SystemClock, Timestamp, UrlRecord,
};
use url_shortener::repository::{
    ApiKeyStore, ClickDelta, KeyInsert, LinkCursor, MemoryRepository, RepoError, Repository,
    SqliteRepository, Stores, WriteId,
};

/// A fresh store plus whatever must live as long as it (a temp dir, a key prefix).
pub(crate) struct Backend {
    pub(crate) repo: Arc<dyn Repository>,
    keys: Arc<dyn ApiKeyStore>,
    /// The same keys through a second instance (its own connections) where the store can be
    /// shared: what another server of a fleet sees.
    twin_keys: Arc<dyn ApiKeyStore>,
    /// The store deletes expired records by itself the moment they expire (Redis), so they
    /// are never seen again and `delete_expired` finds nothing to do.
    native_expiry: bool,
    _guard: Box<dyn Any + Send>,
}

impl Backend {
    /// The stored record for code `c`, if any (a store error fails the test).
    pub(crate) async fn found(&self, c: &str) -> Option<UrlRecord> {
        self.repo.find_by_short_code(&code(c)).await.unwrap()
    }
}

pub(crate) async fn memory() -> Backend {
    let stores = Stores::with_memory_accounts(MemoryRepository::new());
    Backend {
        repo: stores.links,
        twin_keys: stores.keys.clone(),
        keys: stores.keys,
        native_expiry: false,
        _guard: Box::new(()),
    }
}

pub(crate) async fn sqlite() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let repo = SqliteRepository::open(dir.path().join("links.db"), SqliteSync::Normal)
        .await
        .unwrap();
    let twin = SqliteRepository::open(dir.path().join("links.db"), SqliteSync::Normal)
        .await
        .unwrap();
    let stores = Stores::with_memory_accounts(repo);
    Backend {
        repo: stores.links,
        keys: stores.keys,
        twin_keys: Arc::new(twin),
        native_expiry: false,
        _guard: Box::new(dir),
    }
}

pub(crate) async fn redis() -> Backend {
    let (repo, scope) = RedisScope::open().await;
    let twin = url_shortener::repository::RedisRepository::connect(
        &common::backends::redis_url(),
        &scope.prefix,
        std::time::Duration::from_secs(2),
    )
    .await
    .unwrap();
    let stores = Stores::with_memory_accounts(repo);
    Backend {
        repo: stores.links,
        keys: stores.keys,
        twin_keys: Arc::new(twin),
        native_expiry: true,
        _guard: Box::new(scope),
    }
}

pub(crate) async fn postgres() -> Backend {
    let (repo, scope) = postgres_schema().await;
    let twin = scope.open().await;
    let stores = Stores::with_memory_accounts(repo);
    Backend {
        repo: stores.links,
        keys: stores.keys,
        twin_keys: Arc::new(twin),
        native_expiry: false,
        _guard: Box::new(scope),
    }
}

pub(crate) async fn dynamodb() -> Backend {
    let (repo, table) = dynamodb_table().await;
    let client = url_shortener::repository::DynamoDbRepository::client(
        "us-east-1",
        Some(&common::backends::dynamodb_endpoint()),
        std::time::Duration::from_secs(10),
    )
    .await;
    let twin = url_shortener::repository::DynamoDbRepository::new(client, &table, false)
        .await
        .unwrap();
    let stores = Stores::with_memory_accounts(repo);
    Backend {
        repo: stores.links,
        keys: stores.keys,
        twin_keys: Arc::new(twin),
        // Native TTL deletes within days, not at once: the sweep does the work.
        native_expiry: false,
        _guard: Box::new(table),
    }
}

pub(crate) fn at(ms: i64) -> Timestamp {
    Timestamp::from_unix_millis(ms).unwrap()
}

/// The real current time in milliseconds.
pub(crate) fn now() -> i64 {
    SystemClock.now().as_unix_millis()
}

pub(crate) const HOUR: i64 = 3_600_000;

/// The instance the tests write clicks as, unless a test plays several.
const TEST_INSTANCE: u64 = 0x7e57;

/// A click write of [`TEST_INSTANCE`] with a seq above every earlier one: applied once.
fn click(c: &str, count: u64, ms: i64) -> ClickDelta {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    written(c, count, ms, TEST_INSTANCE, seq)
}

/// A click write with a given id.
fn written(c: &str, count: u64, ms: i64, instance: u64, seq: u64) -> ClickDelta {
    ClickDelta {
        code: code(c),
        count,
        last_at: at(ms),
        write: WriteId { instance, seq },
        tally: Default::default(),
        shared_writer: false,
    }
}

pub(crate) fn code(s: &str) -> ShortCode {
    ShortCode::parse(s).unwrap()
}

fn record(c: &str, expires_at: Option<i64>) -> UrlRecord {
    UrlRecord::new(
        code(c),
        LongUrl::from_trusted(format!("https://example.com/{c}")),
        at(now() - HOUR),
        expires_at.map(at),
    )
}

async fn save_then_find_round_trips_every_field(b: Backend) {
    let long = format!("https://example.com/{}?q=%C3%A9#frag", "p".repeat(1_900));
    let base = now();
    let mut full = UrlRecord::new(
        code("round_Trip-1"),
        LongUrl::from_trusted(long),
        at(base - 123),
        Some(at(base + 365 * 24 * HOUR + 456)),
    );
    b.repo.save(&full).await.unwrap();
    let never = record("never-expires", None);
    b.repo.save(&never).await.unwrap();

    assert_eq!(
        b.repo.find_by_short_code(&full.short_code).await.unwrap(),
        Some(full.clone())
    );
    assert_eq!(
        b.repo.find_by_short_code(&never.short_code).await.unwrap(),
        Some(never)
    );

    b.repo
        .increment_click_count(&click(full.short_code.as_str(), 3, base + 1_000))
        .await
        .unwrap();
    full.click_count = 3;
    full.last_accessed_at = Some(at(base + 1_000));
    assert_eq!(
        b.repo.find_by_short_code(&full.short_code).await.unwrap(),
        Some(full)
    );
}

async fn find_misses_are_none(b: Backend) {
    assert_eq!(b.found("absent").await, None);
}

async fn codes_are_case_sensitive(b: Backend) {
    b.repo.save(&record("CaseCode", None)).await.unwrap();
    b.repo.save(&record("casecode", None)).await.unwrap();
    assert_eq!(b.found("CASECODE").await, None);
    assert!(b.repo.exists(&code("casecode")).await.unwrap());
}

async fn saving_an_existing_code_is_a_conflict_and_keeps_the_original(b: Backend) {
    let original = record("dupe", None);
    b.repo.save(&original).await.unwrap();
    let mut other = record("dupe", Some(1));
    other.long_url = LongUrl::from_trusted("https://other.example/".into());

    assert_eq!(b.repo.save(&other).await, Err(RepoError::Conflict));
    assert_eq!(b.found("dupe").await, Some(original));
}

async fn a_code_past_its_expiry_conflicts_until_purged(b: Backend) {
    let stale = record("stale", Some(now() - 1_000));
    b.repo.save(&stale).await.unwrap();
    let fresh = record("stale", None);
    if b.native_expiry {
        // Already purged: the code is free again, and the new record is whole.
        b.repo.save(&fresh).await.unwrap();
        assert_eq!(b.found("stale").await, Some(fresh));
    } else {
        assert_eq!(b.repo.save(&fresh).await, Err(RepoError::Conflict));
        assert_eq!(b.found("stale").await, Some(stale));
    }
}

async fn fifty_concurrent_saves_of_one_code_admit_exactly_one(b: Backend) {
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let repo = b.repo.clone();
            tokio::spawn(async move {
                let mut r = record("contested", None);
                r.long_url = LongUrl::from_trusted(format!("https://example.com/{i}"));
                repo.save(&r).await
            })
        })
        .collect();
    let mut ok = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => ok += 1,
            Err(RepoError::Conflict) => {}
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert_eq!(ok, 1);
}

async fn concurrent_increments_add_up_exactly(b: Backend) {
    const BASE: i64 = 1_700_000_000_000;
    b.repo.save(&record("popular", None)).await.unwrap();
    let tasks: Vec<_> = (0..20)
        .map(|t| {
            let repo = b.repo.clone();
            tokio::spawn(async move {
                for i in 0..500 {
                    // One writer per task, as each instance's flusher is: its seqs grow.
                    let write = written(
                        "popular",
                        1,
                        BASE + t * 1_000 + i,
                        1 + t as u64,
                        1 + i as u64,
                    );
                    repo.increment_click_count(&write).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let found = b.found("popular").await.unwrap();
    assert_eq!(found.click_count, 10_000);
    assert_eq!(found.last_accessed_at, Some(at(BASE + 19 * 1_000 + 499)));
}

async fn increments_by_n_add_n(b: Backend) {
    b.repo.save(&record("batched", None)).await.unwrap();
    b.repo
        .increment_click_count(&click("batched", 40, 5))
        .await
        .unwrap();
    b.repo
        .increment_click_count(&click("batched", 2, 6))
        .await
        .unwrap();
    let found = b.found("batched").await.unwrap();
    assert_eq!(found.click_count, 42);
}

async fn a_batch_of_increments_applies_each_delta_and_skips_missing_codes(b: Backend) {
    b.repo.save(&record("batch-a", None)).await.unwrap();
    b.repo.save(&record("batch-b", None)).await.unwrap();
    b.repo
        .increment_click_count(&click("batch-b", 1, 9_000))
        .await
        .unwrap();
    let delta = click;
    // More deltas than the memory store applies under one lock, most for codes never saved.
    let mut batch: Vec<ClickDelta> = (0..1_100)
        .map(|i| delta(&format!("gone{i:04}"), 1, 1))
        .collect();
    batch.insert(0, delta("batch-a", 5, 7_000));
    batch.push(delta("batch-b", 2, 8_000));

    let failed = b.repo.increment_click_counts(batch).await;

    assert!(failed.is_empty(), "{failed:?}");
    let a = b.found("batch-a").await.unwrap();
    assert_eq!((a.click_count, a.last_accessed_at), (5, Some(at(7_000))));
    let b_found = b.found("batch-b").await.unwrap();
    // The older delta adds its clicks but does not move the last access back.
    assert_eq!(
        (b_found.click_count, b_found.last_accessed_at),
        (3, Some(at(9_000)))
    );
    assert!(!b.repo.exists(&code("gone0000")).await.unwrap());
    assert!(!b.repo.exists(&code("gone1099")).await.unwrap());
}

async fn a_write_applied_twice_counts_once(b: Backend) {
    b.repo.save(&record("retried", None)).await.unwrap();
    let first = written("retried", 3, 1_000, TEST_INSTANCE, 50);
    b.repo.increment_click_count(&first).await.unwrap();
    // The answer was lost and the flusher sends the same write again, alone and in a batch.
    b.repo.increment_click_count(&first).await.unwrap();
    let failed = b.repo.increment_click_counts(vec![first.clone()]).await;
    assert!(failed.is_empty(), "{failed:?}");
    // An older write of the same instance is one that was applied before, too.
    let older = written("retried", 7, 900, TEST_INSTANCE, 49);
    b.repo.increment_click_count(&older).await.unwrap();
    assert_eq!(b.found("retried").await.unwrap().click_count, 3);

    let next = written("retried", 2, 2_000, TEST_INSTANCE, 51);
    b.repo.increment_click_counts(vec![next]).await;
    let found = b.found("retried").await.unwrap();
    assert_eq!(
        (found.click_count, found.last_accessed_at),
        (5, Some(at(2_000)))
    );
}

async fn another_instance_writing_between_a_write_and_its_retry_changes_nothing(b: Backend) {
    b.repo.save(&record("shared", None)).await.unwrap();
    let a = written("shared", 4, 1_000, 0xa, 10);
    b.repo.increment_click_count(&a).await.unwrap();
    b.repo
        .increment_click_count(&written("shared", 1, 1_500, 0xb, 3))
        .await
        .unwrap();
    // Instance A's answer was lost; its retry comes after B's write.
    b.repo.increment_click_count(&a).await.unwrap();
    b.repo
        .increment_click_count(&written("shared", 1, 1_600, 0xb, 3))
        .await
        .unwrap();
    assert_eq!(b.found("shared").await.unwrap().click_count, 5);
}

async fn incrementing_a_missing_code_creates_nothing(b: Backend) {
    b.repo
        .increment_click_count(&click("ghost", 5, 10))
        .await
        .unwrap();
    assert_eq!(b.found("ghost").await, None);
    assert!(!b.repo.exists(&code("ghost")).await.unwrap());
}

async fn incrementing_a_deleted_link_does_not_resurrect_it(b: Backend) {
    b.repo
        .save(&record("deleted", Some(now() - 1_000)))
        .await
        .unwrap();
    let removed = b.repo.delete_expired(at(now()), 10).await.unwrap();
    assert_eq!(removed, if b.native_expiry { 0 } else { 1 });
    b.repo
        .increment_click_count(&click("deleted", 1, now()))
        .await
        .unwrap();
    assert_eq!(b.found("deleted").await, None);
    assert!(!b.repo.exists(&code("deleted")).await.unwrap());
}

async fn last_accessed_at_only_moves_forward(b: Backend) {
    b.repo.save(&record("clock", None)).await.unwrap();
    b.repo
        .increment_click_count(&click("clock", 1, 5_000))
        .await
        .unwrap();
    b.repo
        .increment_click_count(&click("clock", 1, 3_000))
        .await
        .unwrap();
    let found = b.found("clock").await.unwrap();
    assert_eq!(found.last_accessed_at, Some(at(5_000)));
    assert_eq!(found.click_count, 2);
    b.repo
        .increment_click_count(&click("clock", 1, 7_000))
        .await
        .unwrap();
    let found = b.found("clock").await.unwrap();
    assert_eq!(found.last_accessed_at, Some(at(7_000)));
}

async fn delete_expired_removes_exactly_the_records_expired_before(b: Backend) {
    let base = now();
    for (c, exp) in [
        ("past-long", Some(base - HOUR)),
        ("past-just", Some(base - 1)),
        ("future", Some(base + HOUR)),
        ("no-expiry", None),
    ] {
        b.repo.save(&record(c, exp)).await.unwrap();
    }

    let removed = b.repo.delete_expired(at(base), 100).await.unwrap();

    assert_eq!(removed, if b.native_expiry { 0 } else { 2 });
    for (c, present) in [
        ("past-long", false),
        ("past-just", false),
        ("future", true),
        ("no-expiry", true),
    ] {
        assert_eq!(b.repo.exists(&code(c)).await.unwrap(), present, "{c}");
    }
    if b.native_expiry {
        return; // such stores judge expiry by the real clock alone
    }
    // `before` is exclusive, and a record without expiry is never a candidate.
    for (c, exp) in [
        ("edge-in", base + 2 * HOUR - 1),
        ("edge-out", base + 2 * HOUR),
    ] {
        b.repo.save(&record(c, Some(exp))).await.unwrap();
    }
    assert_eq!(
        b.repo
            .delete_expired(at(base + 2 * HOUR), 100)
            .await
            .unwrap(),
        2
    );
    assert!(!b.repo.exists(&code("future")).await.unwrap());
    assert!(!b.repo.exists(&code("edge-in")).await.unwrap());
    assert!(b.repo.exists(&code("edge-out")).await.unwrap());
    assert!(b.repo.exists(&code("no-expiry")).await.unwrap());
}

async fn delete_expired_honours_its_batch_limit(b: Backend) {
    let base = now();
    for i in 0..25 {
        b.repo
            .save(&record(&format!("batch{i:02}"), Some(base - 10_000 + i)))
            .await
            .unwrap();
    }
    let remaining = |b: &Backend| {
        let repo = b.repo.clone();
        async move {
            let mut left = Vec::new();
            for i in 0..25 {
                if repo.exists(&code(&format!("batch{i:02}"))).await.unwrap() {
                    left.push(i);
                }
            }
            left
        }
    };
    if b.native_expiry {
        assert_eq!(b.repo.delete_expired(at(base), 10).await.unwrap(), 0);
        assert!(remaining(&b).await.is_empty());
        return;
    }
    assert_eq!(b.repo.delete_expired(at(base), 10).await.unwrap(), 10);
    assert_eq!(remaining(&b).await.len(), 15);
    assert_eq!(b.repo.delete_expired(at(base), 10).await.unwrap(), 10);
    assert_eq!(b.repo.delete_expired(at(base), 10).await.unwrap(), 5);
    assert_eq!(b.repo.delete_expired(at(base), 10).await.unwrap(), 0);
    assert!(remaining(&b).await.is_empty());
}

async fn exists_tells_present_from_absent(b: Backend) {
    b.repo.save(&record("here", None)).await.unwrap();
    assert!(b.repo.exists(&code("here")).await.unwrap());
    assert!(!b.repo.exists(&code("there")).await.unwrap());
}

async fn ping_answers(b: Backend) {
    b.repo.ping().await.unwrap();
}

async fn api_keys_are_stored_found_listed_and_revoked(b: Backend) {
    let first = ApiKeySecret::generate();
    let second = ApiKeySecret::generate();
    let first_record = ApiKeyRecord::new(&first, "first app", Some("u-ada"), at(1_000));
    let second_record = ApiKeyRecord::new(&second, "second app", None, at(2_000));
    b.keys.insert_key(&first_record, 20).await.unwrap();
    b.keys.insert_key(&second_record, 20).await.unwrap();

    assert_eq!(
        b.keys.find_key(&first.hash()).await.unwrap(),
        Some(first_record.clone())
    );
    assert_eq!(
        b.keys
            .find_key(&ApiKeySecret::generate().hash())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        b.keys.list_keys().await.unwrap(),
        vec![first_record.clone(), second_record.clone()]
    );

    assert!(
        b.keys
            .revoke_key(&first_record.hash, at(3_000))
            .await
            .unwrap()
    );
    assert!(
        b.keys
            .revoke_key(&first_record.hash, at(4_000))
            .await
            .unwrap()
    );
    let unknown = ApiKeySecret::generate().hash();
    assert!(!b.keys.revoke_key(&unknown, at(3_000)).await.unwrap());
    // Revoking an unknown key creates nothing.
    assert_eq!(b.keys.find_key(&unknown).await.unwrap(), None);

    let revoked = b.keys.find_key(&first.hash()).await.unwrap().unwrap();
    assert_eq!(
        revoked.revoked_at,
        Some(at(3_000)),
        "the first revocation time stays"
    );
    let still = b.keys.find_key(&second.hash()).await.unwrap().unwrap();
    assert!(still.is_active());
}

async fn a_users_live_keys_stay_within_the_cap_under_concurrent_creates(b: Backend) {
    const CAP: usize = 5;
    // Two live keys and one revoked one already: three more fit.
    for (i, revoked) in [(0, false), (1, true), (2, false)] {
        let key = ApiKeyRecord::new(&ApiKeySecret::generate(), "old", Some("u-cap"), at(i));
        b.keys.insert_key(&key, CAP).await.unwrap();
        if revoked {
            b.keys.revoke_key(&key.hash, at(10)).await.unwrap();
        }
    }
    // Twelve creates at once, through two instances.
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let store = if i % 2 == 0 {
                b.keys.clone()
            } else {
                b.twin_keys.clone()
            };
            tokio::spawn(async move {
                let key = ApiKeyRecord::new(
                    &ApiKeySecret::generate(),
                    &format!("new {i}"),
                    Some("u-cap"),
                    at(100 + i),
                );
                store.insert_key(&key, CAP).await.unwrap()
            })
        })
        .collect();
    let mut inserted = 0;
    for task in tasks {
        if task.await.unwrap() == KeyInsert::Inserted {
            inserted += 1;
        }
    }
    assert_eq!(inserted, 3, "exactly the room left under the cap");
    let live = |keys: Vec<ApiKeyRecord>| keys.iter().filter(|k| k.is_active()).count();
    assert_eq!(live(b.keys.list_user_keys("u-cap").await.unwrap()), CAP);
    // Revoking one makes room for one; other users and the operator's keys are not capped by it.
    let one = b.keys.list_user_keys("u-cap").await.unwrap()[0].clone();
    b.keys.revoke_key(&one.hash, at(500)).await.unwrap();
    let again = ApiKeyRecord::new(&ApiKeySecret::generate(), "again", Some("u-cap"), at(600));
    assert_eq!(
        b.keys.insert_key(&again, CAP).await.unwrap(),
        KeyInsert::Inserted
    );
    let more = ApiKeyRecord::new(&ApiKeySecret::generate(), "more", Some("u-cap"), at(700));
    assert_eq!(
        b.twin_keys.insert_key(&more, CAP).await.unwrap(),
        KeyInsert::AtCap
    );
    let other = ApiKeyRecord::new(&ApiKeySecret::generate(), "other", Some("u-other"), at(8));
    assert_eq!(
        b.keys.insert_key(&other, CAP).await.unwrap(),
        KeyInsert::Inserted
    );
    let operator = ApiKeyRecord::new(&ApiKeySecret::generate(), "ops", None, at(9));
    assert_eq!(
        b.keys.insert_key(&operator, 0).await.unwrap(),
        KeyInsert::Inserted
    );
}

async fn api_keys_are_listed_by_owner_and_remember_their_last_use(b: Backend) {
    let mine: Vec<ApiKeyRecord> = (0..3)
        .map(|i| {
            ApiKeyRecord::new(
                &ApiKeySecret::generate(),
                &format!("mine {i}"),
                Some("u-me"),
                at(1_000 + i),
            )
        })
        .collect();
    let theirs = ApiKeyRecord::new(&ApiKeySecret::generate(), "theirs", Some("u-them"), at(5));
    let operator = ApiKeyRecord::new(&ApiKeySecret::generate(), "ops", None, at(6));
    for key in mine.iter().chain([&theirs, &operator]) {
        b.keys.insert_key(key, 20).await.unwrap();
    }
    assert_eq!(b.keys.list_user_keys("u-me").await.unwrap(), mine);
    assert_eq!(
        b.keys.list_user_keys("u-them").await.unwrap(),
        vec![theirs.clone()]
    );
    assert_eq!(b.keys.list_user_keys("u-nobody").await.unwrap(), vec![]);

    let hash = &mine[0].hash;
    b.keys.touch_key(hash, at(9_000)).await.unwrap();
    // Never backwards.
    b.keys.touch_key(hash, at(8_000)).await.unwrap();
    let used = b.keys.find_key(hash).await.unwrap().unwrap();
    assert_eq!(used.last_used_at, Some(at(9_000)));
    // Touching an unknown key creates nothing.
    let unknown = ApiKeySecret::generate().hash();
    b.keys.touch_key(&unknown, at(9_000)).await.unwrap();
    assert_eq!(b.keys.find_key(&unknown).await.unwrap(), None);
}

pub(crate) fn owned(c: &str, owner: &str, created: i64) -> UrlRecord {
    UrlRecord::new(
        code(c),
        LongUrl::from_trusted(format!("https://example.com/{c}")),
        at(created),
        None,
    )
    .owned_by(Some(owner.to_owned()))
}

/// Every page of `owner`'s listing, `limit` at a time, as codes.
async fn pages(b: &Backend, owner: &str, limit: usize) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut after = None;
    loop {
        let page = b
            .repo
            .list_owned(owner, after.as_ref(), limit)
            .await
            .unwrap();
        if page.is_empty() {
            return pages;
        }
        assert!(page.len() <= limit);
        after = page.last().map(LinkCursor::after);
        pages.push(page.iter().map(|r| r.short_code.to_string()).collect());
    }
}

async fn an_owners_links_are_listed_newest_first_in_stable_pages(b: Backend) {
    let base = now() - HOUR;
    // Twelve links of mine, two pairs created in the same millisecond.
    let times = [0, 10, 10, 20, 30, 40, 40, 50, 60, 70, 80, 90];
    let mine: Vec<UrlRecord> = times
        .iter()
        .enumerate()
        .map(|(i, t)| owned(&format!("mine{i:02}"), "u-me", base + t))
        .collect();
    for record in &mine {
        b.repo.save(record).await.unwrap();
    }
    b.repo
        .save(&owned("theirs1", "u-them", base + 5))
        .await
        .unwrap();
    b.repo.save(&record("nobodys1", None)).await.unwrap();

    let mut expected: Vec<&UrlRecord> = mine.iter().collect();
    expected.sort_by(|a, b| (b.created_at, &b.short_code).cmp(&(a.created_at, &a.short_code)));
    let expected: Vec<String> = expected.iter().map(|r| r.short_code.to_string()).collect();

    let first = b.repo.list_owned("u-me", None, 5).await.unwrap();
    assert_eq!(first[0], mine[11], "every field comes back");
    let listed: Vec<String> = pages(&b, "u-me", 5).await.concat();
    assert_eq!(listed, expected);

    // A link created while someone pages does not shift the pages after the cursor.
    let cursor = LinkCursor::after(&first[4]);
    b.repo
        .save(&owned("mine-new", "u-me", base + 1_000))
        .await
        .unwrap();
    let next = b.repo.list_owned("u-me", Some(&cursor), 5).await.unwrap();
    let next: Vec<String> = next.iter().map(|r| r.short_code.to_string()).collect();
    assert_eq!(next, expected[5..10]);

    assert_eq!(
        pages(&b, "u-them", 10).await,
        vec![vec!["theirs1".to_owned()]]
    );
    assert!(pages(&b, "u-nobody", 10).await.is_empty());
}

async fn a_scan_of_every_link_sees_each_live_link_once(b: Backend) {
    // Links of two owners and of nobody, one expiring later; one deleted; an API key beside
    // them (DynamoDB keeps it in the same table, Redis in the same keyspace).
    let mut expected = Vec::new();
    for i in 0..23 {
        let c = format!("scan{i:02}");
        let link = match i % 3 {
            0 => owned(&c, "u-a", now() - HOUR),
            1 => owned(&c, "u-b", now() - HOUR),
            _ => record(&c, Some(now() + HOUR)),
        };
        b.repo.save(&link).await.unwrap();
        expected.push(c);
    }
    assert!(
        b.repo
            .delete_link(&code("scan05"), at(now()))
            .await
            .unwrap()
    );
    expected.retain(|c| c != "scan05");
    let key = ApiKeySecret::generate();
    b.keys
        .insert_key(
            &ApiKeyRecord::new(&key, "beside the links", None, at(1_000)),
            20,
        )
        .await
        .unwrap();

    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..100 {
        let page = b.repo.scan_links(after.as_deref(), 5).await.unwrap();
        seen.extend(page.links.iter().map(|r| r.short_code.to_string()));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    seen.sort();
    assert_eq!(seen, expected, "each live link once, the deleted one never");
    let one = b.repo.scan_links(None, 100).await.unwrap();
    let first = one.links.iter().find(|r| r.short_code.as_str() == "scan00");
    assert_eq!(
        first.and_then(|r| r.owner.as_deref()),
        Some("u-a"),
        "whole records"
    );
    assert!(matches!(
        b.repo.scan_links(Some("not a cursor"), 5).await,
        Ok(_) | Err(RepoError::Corrupt(_))
    ));
}

async fn a_link_is_disabled_and_enabled_again_keeping_the_rest(b: Backend) {
    let link = owned("tobedisabled", "u-a", now() - HOUR);
    b.repo.save(&link).await.unwrap();
    b.repo
        .increment_click_count(&click("tobedisabled", 3, now()))
        .await
        .unwrap();
    let when = at(now());
    assert!(
        b.repo
            .set_disabled(&code("tobedisabled"), Some(when))
            .await
            .unwrap()
    );
    let found = b.found("tobedisabled").await.unwrap();
    assert_eq!(found.disabled_at, Some(when));
    assert_eq!(
        (found.long_url, found.owner.as_deref(), found.click_count),
        (link.long_url.clone(), Some("u-a"), 3),
        "all else kept"
    );
    let listed = b.repo.list_owned("u-a", None, 10).await.unwrap();
    assert_eq!(listed[0].disabled_at, Some(when), "listed with its state");

    assert!(
        b.repo
            .set_disabled(&code("tobedisabled"), None)
            .await
            .unwrap()
    );
    assert_eq!(b.found("tobedisabled").await.unwrap().disabled_at, None);

    assert!(
        !b.repo
            .set_disabled(&code("nosuchlink"), Some(when))
            .await
            .unwrap()
    );
    assert!(b.found("nosuchlink").await.is_none(), "nothing created");
    assert!(
        b.repo
            .delete_link(&code("tobedisabled"), at(now()))
            .await
            .unwrap()
    );
    assert!(
        !b.repo
            .set_disabled(&code("tobedisabled"), Some(when))
            .await
            .unwrap()
    );
    assert!(
        b.found("tobedisabled").await.is_none(),
        "the tombstone stays one"
    );
}

async fn a_deleted_link_is_gone_and_its_code_retired_for_ever(b: Backend) {
    let base = now() - HOUR;
    let link = owned("doomed", "u-me", base).owned_by(Some("u-me".into()));
    b.repo.save(&link).await.unwrap();
    let expiring = record("doomed-too", Some(now() + HOUR));
    b.repo.save(&expiring).await.unwrap();

    assert!(
        b.repo
            .delete_link(&code("doomed"), at(now()))
            .await
            .unwrap()
    );
    assert!(
        b.repo
            .delete_link(&code("doomed-too"), at(now()))
            .await
            .unwrap()
    );
    assert!(
        !b.repo
            .delete_link(&code("doomed"), at(now()))
            .await
            .unwrap()
    );
    assert!(
        !b.repo
            .delete_link(&code("never-was"), at(now()))
            .await
            .unwrap()
    );

    for c in ["doomed", "doomed-too"] {
        assert_eq!(b.found(c).await, None);
        b.repo
            .increment_click_count(&click(c, 3, now()))
            .await
            .unwrap();
        assert_eq!(b.found(c).await, None, "an increment does not revive {c}");
        assert_eq!(
            b.repo.save(&record(c, None)).await,
            Err(RepoError::Conflict),
            "{c} is retired"
        );
        assert!(
            !b.repo
                .update_link(
                    &code(c),
                    &LongUrl::from_trusted("https://e.x/".into()),
                    None
                )
                .await
                .unwrap()
        );
    }
    // No sweep frees the code, even past the expiry the link had.
    b.repo
        .delete_expired(at(now() + 2 * HOUR), 100)
        .await
        .unwrap();
    assert_eq!(
        b.repo.save(&record("doomed-too", None)).await,
        Err(RepoError::Conflict)
    );
    assert!(
        b.repo
            .list_owned("u-me", None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn an_update_changes_destination_and_expiry_and_keeps_the_rest(b: Backend) {
    let mut link = owned("editable", "u-me", now() - HOUR);
    link.expires_at = Some(at(now() + HOUR));
    b.repo.save(&link).await.unwrap();
    b.repo
        .increment_click_count(&click("editable", 4, now() - 10))
        .await
        .unwrap();

    let moved = LongUrl::from_trusted("https://example.org/moved".into());
    let later = at(now() + 5 * HOUR);
    assert!(
        b.repo
            .update_link(&code("editable"), &moved, Some(later))
            .await
            .unwrap()
    );
    let found = b.found("editable").await.unwrap();
    assert_eq!(found.long_url, moved);
    assert_eq!(found.expires_at, Some(later));
    assert_eq!(found.click_count, 4);
    assert_eq!(found.created_at, link.created_at);
    assert_eq!(found.owner.as_deref(), Some("u-me"));

    // The old expiry no longer applies: a sweep past it keeps the link.
    b.repo
        .delete_expired(at(now() + 2 * HOUR), 100)
        .await
        .unwrap();
    assert!(b.found("editable").await.is_some());

    // Never expiring, then a sweep past the new time keeps it too.
    assert!(
        b.repo
            .update_link(&code("editable"), &moved, None)
            .await
            .unwrap()
    );
    b.repo
        .delete_expired(at(now() + 10 * HOUR), 100)
        .await
        .unwrap();
    assert_eq!(b.found("editable").await.unwrap().expires_at, None);

    // An expiry moved into the past is swept like any other.
    assert!(
        b.repo
            .update_link(&code("editable"), &moved, Some(at(now() - 1_000)))
            .await
            .unwrap()
    );
    if !b.native_expiry {
        assert_eq!(b.repo.delete_expired(at(now()), 100).await.unwrap(), 1);
    }
    assert_eq!(b.found("editable").await, None);
    assert!(
        !b.repo
            .update_link(&code("never-was"), &moved, None)
            .await
            .unwrap()
    );
}

async fn an_api_key_hash_is_stored_once(b: Backend) {
    let secret = ApiKeySecret::generate();
    let record = ApiKeyRecord::new(&secret, "once", None, at(1_000));
    b.keys.insert_key(&record, 20).await.unwrap();
    assert_eq!(
        b.keys.insert_key(&record, 20).await,
        Err(RepoError::Conflict)
    );
    assert_eq!(b.keys.list_keys().await.unwrap().len(), 1);
    // Keys and links do not see each other.
    assert!(!b.repo.exists(&code("apikey")).await.unwrap());
}

backends!(4;
    save_then_find_round_trips_every_field,
    find_misses_are_none,
    codes_are_case_sensitive,
    saving_an_existing_code_is_a_conflict_and_keeps_the_original,
    a_code_past_its_expiry_conflicts_until_purged,
    fifty_concurrent_saves_of_one_code_admit_exactly_one,
    concurrent_increments_add_up_exactly,
    increments_by_n_add_n,
    a_batch_of_increments_applies_each_delta_and_skips_missing_codes,
    incrementing_a_missing_code_creates_nothing,
    incrementing_a_deleted_link_does_not_resurrect_it,
    last_accessed_at_only_moves_forward,
    delete_expired_removes_exactly_the_records_expired_before,
    delete_expired_honours_its_batch_limit,
    exists_tells_present_from_absent,
    ping_answers,
    api_keys_are_stored_found_listed_and_revoked,
    api_keys_are_listed_by_owner_and_remember_their_last_use,
    a_users_live_keys_stay_within_the_cap_under_concurrent_creates,
    an_api_key_hash_is_stored_once,
    an_owners_links_are_listed_newest_first_in_stable_pages,
    a_deleted_link_is_gone_and_its_code_retired_for_ever,
    a_scan_of_every_link_sees_each_live_link_once,
    a_link_is_disabled_and_enabled_again_keeping_the_rest,
    an_update_changes_destination_and_expiry_and_keeps_the_rest,
);

/// Checks for the stores whose writes can time out with their outcome unknown, which keep one
/// write mark per instance and link (memory and SQLite answer every write for certain and keep
/// none).
mod shared_stores {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn redis_prunes_the_marks_of_instances_gone_for_a_day() {
        let (repo, scope) = super::RedisScope::open().await;
        let stores = super::Stores::with_memory_accounts(repo);
        let b = super::Backend {
            repo: stores.links,
            twin_keys: stores.keys.clone(),
            keys: stores.keys,
            native_expiry: true,
            _guard: Box::new(()),
        };
        b.repo.save(&super::record("marked", None)).await.unwrap();
        // Twenty instances wrote a day and more ago; a live one writes now.
        for instance in 1..=20 {
            let old = super::written("marked", 1, 1_000, instance, 1_000 + instance);
            b.repo.increment_click_count(&old).await.unwrap();
        }
        let now = super::now().cast_unsigned();
        let fresh = super::written("marked", 1, 2_000, 99, now);
        b.repo.increment_click_count(&fresh).await.unwrap();

        assert_eq!(b.found("marked").await.unwrap().click_count, 21);
        let client = redis::Client::open(super::common::backends::redis_url()).unwrap();
        let mut conn = client.get_connection().unwrap();
        let fields: Vec<String> = redis::cmd("HKEYS")
            .arg(format!("{}link:marked", scope.prefix))
            .query(&mut conn)
            .unwrap();
        let marks: Vec<&String> = fields.iter().filter(|f| f.starts_with("w:")).collect();
        assert_eq!(marks, [&format!("w:{:016x}", 99)], "{fields:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn redis_applies_a_write_sent_twice_once() {
        super::a_write_applied_twice_counts_once(super::redis().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn dynamodb_applies_a_write_sent_twice_once() {
        super::a_write_applied_twice_counts_once(super::dynamodb().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres_prunes_the_marks_of_instances_gone_for_a_day() {
        let (repo, scope) = super::postgres_schema().await;
        let repo: std::sync::Arc<dyn super::Repository> = std::sync::Arc::new(repo);
        repo.save(&super::record("marked", None)).await.unwrap();
        for instance in 1..=20 {
            let old = super::written("marked", 1, 1_000, instance, 1_000 + instance);
            repo.increment_click_count(&old).await.unwrap();
        }
        let now = super::now();
        let fresh = super::written("marked", 1, 2_000, 99, now.cast_unsigned());
        repo.increment_click_count(&fresh).await.unwrap();
        assert_eq!(scope.psql("SELECT count(*) FROM click_writes"), "21");

        repo.delete_expired(super::at(now), 1_000).await.unwrap();

        assert_eq!(
            scope.psql("SELECT instance FROM click_writes WHERE short_code = 'marked'"),
            "99"
        );
        let found = repo
            .find_by_short_code(&super::code("marked"))
            .await
            .unwrap();
        assert_eq!(found.unwrap().click_count, 21);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres_applies_a_write_sent_twice_once() {
        super::a_write_applied_twice_counts_once(super::postgres().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres_keeps_a_retry_exact_across_instances() {
        super::another_instance_writing_between_a_write_and_its_retry_changes_nothing(
            super::postgres().await,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn redis_keeps_a_retry_exact_across_instances() {
        super::another_instance_writing_between_a_write_and_its_retry_changes_nothing(
            super::redis().await,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn dynamodb_keeps_a_retry_exact_across_instances() {
        super::another_instance_writing_between_a_write_and_its_retry_changes_nothing(
            super::dynamodb().await,
        )
        .await;
    }
}
