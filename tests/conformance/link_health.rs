//! The link-health store contract (`repository::link_health`), checked on every backend that keeps
//! link health: a new link waits for its first check, a lease hands a link to one caller until
//! it runs out, a recorded check sets the next due time and is read back, deleted and swept
//! links leave the schedule, and broken links are listed oldest first. Each check is written
//! once and instantiated per backend by `health!`.

use crate::common;

use std::any::Any;
use std::sync::Arc;

use common::backends::{RedisScope, postgres_schema};
use url_shortener::config::SqliteSync;
use url_shortener::domain::{
    BrokenRule, CheckOutcome, Clock, LinkCheck, LinkHealthStatus, LongUrl, ShortCode, Timestamp,
    UrlRecord,
};
use url_shortener::repository::{
    DueWindow, LinkHealthRecord, LinkHealthStore, MemoryRepository, Repository, SqliteRepository,
};

struct Backend {
    repo: Arc<dyn Repository>,
    health: Arc<dyn LinkHealthStore>,
    /// Whether `delete_expired` removes expired links (Redis expires them by itself).
    sweeps: bool,
    _guard: Box<dyn Any + Send>,
}

fn of<R: Repository + LinkHealthStore>(
    repo: R,
    sweeps: bool,
    guard: Box<dyn Any + Send>,
) -> Backend {
    let repo = Arc::new(repo);
    Backend {
        repo: repo.clone(),
        health: repo,
        sweeps,
        _guard: guard,
    }
}

async fn memory() -> Backend {
    of(MemoryRepository::new(), true, Box::new(()))
}

async fn sqlite() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let repo = SqliteRepository::open(dir.path().join("links.db"), SqliteSync::Normal)
        .await
        .unwrap();
    of(repo, true, Box::new(dir))
}

async fn redis() -> Backend {
    let (repo, scope) = RedisScope::open().await;
    of(repo, false, Box::new(scope))
}

async fn dynamodb() -> Backend {
    let (repo, table) = common::backends::dynamodb_table().await;
    of(repo, true, Box::new(table))
}

async fn postgres() -> Backend {
    let (repo, scope) = postgres_schema().await;
    of(repo, true, Box::new(scope))
}

const T0: i64 = 1_767_225_600_000;
const MINUTE: i64 = 60_000;

fn at(ms: i64) -> Timestamp {
    Timestamp::from_unix_millis(ms).unwrap()
}

fn code(s: &str) -> ShortCode {
    ShortCode::parse(s).unwrap()
}

async fn link(b: &Backend, c: &str, created: i64, expires: Option<i64>) {
    let record = UrlRecord::new(
        code(c),
        LongUrl::from_trusted(format!("https://example.com/{c}")),
        at(created),
        expires.map(at),
    );
    b.repo.save(&record).await.unwrap();
}

/// Due links at `now`, new ones after a minute, leased for ten minutes.
fn window(now: i64) -> DueWindow {
    DueWindow {
        now: at(now),
        new_before: at(now - MINUTE),
        lease_until: at(now + 10 * MINUTE),
    }
}

fn checked(outcome: CheckOutcome, when: i64) -> LinkHealthRecord {
    let check = LinkCheck {
        at: at(when),
        outcome,
        http_status: Some(200),
        duration_ms: 12,
    };
    let mut record = LinkHealthRecord::default();
    record.state.apply(check.clone(), BrokenRule::default());
    record.push(check);
    record
}

fn sorted(mut codes: Vec<ShortCode>) -> Vec<String> {
    codes.sort();
    codes.into_iter().map(|c| c.as_str().to_owned()).collect()
}

async fn a_new_link_waits_for_its_first_check_and_is_leased_once(b: Backend) {
    link(&b, "fresh", T0, None).await;
    assert!(
        b.health
            .lease_due(window(T0 + 30_000), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let (x, y) = tokio::join!(
        b.health.lease_due(window(T0 + MINUTE), 10),
        b.health.lease_due(window(T0 + MINUTE), 10)
    );
    let mut all = x.unwrap();
    all.extend(y.unwrap());
    assert_eq!(sorted(all), vec!["fresh"], "one caller gets it");
    // Held until the lease runs out; then due again (its holder died).
    assert!(
        b.health
            .lease_due(window(T0 + 5 * MINUTE), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let again = b
        .health
        .lease_due(window(T0 + 12 * MINUTE), 10)
        .await
        .unwrap();
    assert_eq!(sorted(again), vec!["fresh"]);
}

async fn a_recorded_check_is_read_back_and_sets_the_next_round(b: Backend) {
    link(&b, "watched", T0, None).await;
    assert_eq!(b.health.link_health(&code("watched")).await.unwrap(), None);
    let now = T0 + 2 * MINUTE;
    assert_eq!(b.health.lease_due(window(now), 10).await.unwrap().len(), 1);
    let record = checked(CheckOutcome::Ok, now);
    let next = now + 24 * 60 * MINUTE;
    b.health
        .record_check(&code("watched"), &record, at(next))
        .await
        .unwrap();
    let read = b
        .health
        .link_health(&code("watched"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read, record);
    assert_eq!(read.state.status(), LinkHealthStatus::Healthy);
    // Not due before the next round, whatever the lease said.
    assert!(
        b.health
            .lease_due(window(next - 1), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(b.health.lease_due(window(next), 10).await.unwrap().len(), 1);
}

async fn the_oldest_due_come_first_and_the_limit_holds(b: Backend) {
    for i in 0..5 {
        link(&b, &format!("many{i}"), T0 + i * 1000, None).await;
    }
    let first = b
        .health
        .lease_due(window(T0 + 10 * MINUTE), 3)
        .await
        .unwrap();
    assert_eq!(sorted(first), vec!["many0", "many1", "many2"]);
    let rest = b
        .health
        .lease_due(window(T0 + 10 * MINUTE), 3)
        .await
        .unwrap();
    assert_eq!(sorted(rest), vec!["many3", "many4"]);
}

async fn deleted_and_swept_links_leave_the_schedule(b: Backend) {
    link(&b, "deleted", T0, None).await;
    link(&b, "expiring", T0, Some(T0 + MINUTE)).await;
    assert!(
        b.repo
            .delete_link(&code("deleted"), at(T0 + 1))
            .await
            .unwrap()
    );
    let swept = b
        .repo
        .delete_expired(at(T0 + 2 * MINUTE), 10)
        .await
        .unwrap();
    if b.sweeps {
        assert_eq!(swept, 1);
    }
    assert!(
        b.health
            .lease_due(window(T0 + 5 * MINUTE), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(b.health.link_health(&code("deleted")).await.unwrap(), None);
    // A check that finishes after the delete records nothing.
    b.health
        .record_check(&code("deleted"), &checked(CheckOutcome::Ok, T0), at(T0))
        .await
        .unwrap();
    assert_eq!(b.health.link_health(&code("deleted")).await.unwrap(), None);
}

async fn broken_links_are_listed_the_longest_broken_first(b: Backend) {
    for c in ["fine", "dead1", "dead2"] {
        link(&b, c, T0, None).await;
    }
    let dead = |since: i64| {
        let mut r = checked(CheckOutcome::ServerError, since);
        r.state.broken_since = Some(at(since));
        r
    };
    let later = dead(T0 + 5 * MINUTE);
    let earlier = dead(T0 + MINUTE);
    b.health
        .record_check(&code("dead2"), &later, at(T0 + 60 * MINUTE))
        .await
        .unwrap();
    b.health
        .record_check(&code("dead1"), &earlier, at(T0 + 60 * MINUTE))
        .await
        .unwrap();
    b.health
        .record_check(
            &code("fine"),
            &checked(CheckOutcome::Ok, T0),
            at(T0 + 60 * MINUTE),
        )
        .await
        .unwrap();
    let broken = b.health.broken_links(10).await.unwrap();
    let names: Vec<&str> = broken.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(names, vec!["dead1", "dead2"]);
    assert_eq!(broken[0].1, at(T0 + MINUTE));
    assert_eq!(b.health.broken_links(1).await.unwrap().len(), 1);
}

async fn a_code_created_again_after_its_link_ended_starts_with_no_health(b: Backend) {
    // Real time: Redis expires the first link by itself.
    let now = url_shortener::domain::SystemClock.now().as_unix_millis();
    link(&b, "reborn", now, Some(now + 1_500)).await;
    let mut broken = checked(CheckOutcome::ServerError, now);
    broken.state.broken_since = Some(at(now));
    b.health
        .record_check(&code("reborn"), &broken, at(now + 60 * MINUTE))
        .await
        .unwrap();
    assert!(
        b.health
            .link_health(&code("reborn"))
            .await
            .unwrap()
            .is_some()
    );

    if b.sweeps {
        assert_eq!(b.repo.delete_expired(at(now + 2_000), 10).await.unwrap(), 1);
    } else {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while b
            .repo
            .find_by_short_code(&code("reborn"))
            .await
            .unwrap()
            .is_some()
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the link never expired"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    let again = UrlRecord::new(
        code("reborn"),
        LongUrl::from_trusted("https://example.org/someone-else".into()),
        at(now + 3_000),
        None,
    );
    b.repo.save(&again).await.unwrap();

    assert_eq!(
        b.health.link_health(&code("reborn")).await.unwrap(),
        None,
        "the new link has never been checked"
    );
    assert!(b.health.broken_links(10).await.unwrap().is_empty());
    let leased = b
        .health
        .lease_due(window(now + 3_000 + 2 * MINUTE), 10)
        .await
        .unwrap();
    assert_eq!(
        sorted(leased),
        vec!["reborn"],
        "it waits for its first check"
    );
}

backends!(2;
    a_new_link_waits_for_its_first_check_and_is_leased_once,
    a_recorded_check_is_read_back_and_sets_the_next_round,
    the_oldest_due_come_first_and_the_limit_holds,
    deleted_and_swept_links_leave_the_schedule,
    broken_links_are_listed_the_longest_broken_first,
    a_code_created_again_after_its_link_ended_starts_with_no_health,
);

/// A development table made by a version before link health (`create_table = true`) gets the
/// schedule's indexes at start, and its new links are leased from them.
#[tokio::test]
async fn an_older_dynamodb_table_gets_the_health_indexes_at_start() {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    use url_shortener::repository::{BROKEN_INDEX, DynamoDbRepository, HEALTH_INDEX};

    common::backends::local_aws_env();
    let table = common::backends::unique("older");
    let client = DynamoDbRepository::client(
        "us-east-1",
        Some(&common::backends::dynamodb_endpoint()),
        std::time::Duration::from_secs(10),
    )
    .await;
    client
        .create_table()
        .table_name(&table)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("short_code")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("short_code")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("the DynamoDB-compatible server (scripts/test starts one) takes a bare table");

    let repo = DynamoDbRepository::new(client.clone(), &table, true)
        .await
        .unwrap();

    let described = client
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let mut names: Vec<String> = described
        .table()
        .unwrap()
        .global_secondary_indexes()
        .iter()
        .filter_map(|i| i.index_name().map(str::to_owned))
        .collect();
    names.sort();
    for wanted in [BROKEN_INDEX, HEALTH_INDEX, "expiry-index", "owner-index"] {
        assert!(
            names.iter().any(|n| n == wanted),
            "{wanted} missing from {names:?}"
        );
    }
    let b = of(repo, true, Box::new(table));
    link(&b, "upgraded", T0, None).await;
    let leased = b.health.lease_due(window(T0 + MINUTE), 10).await.unwrap();
    assert_eq!(sorted(leased), vec!["upgraded"]);
}
