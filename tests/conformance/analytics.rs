//! The click analytics contract (`repository::analytics`), checked on every backend that keeps
//! them: a tally adds to hourly buckets, totals and capped daily breakdowns in the same step as
//! the click count; a retried write adds once (stores with write marks); deleting a link drops
//! its analytics. Each check is written once and instantiated per backend by `analytics!`.

use crate::common;

use std::any::Any;
use std::sync::Arc;

use common::backends::{RedisScope, postgres_schema};
use url_shortener::config::SqliteSync;
use url_shortener::domain::{
    BREAKDOWN_KEYS_PER_DAY, ClickEvent, ClickSplit, ClickTally, ClickTarget, Clock, Country,
    DAY_MILLIS, DeviceClass, Dimension, HOUR_MILLIS, LongUrl, OTHER, ReferrerHost, ShortCode,
    SystemClock, Timestamp, UrlRecord, day_of, hour_of,
};
use url_shortener::repository::{
    ClickDelta, ClickStatsStore, MemoryRepository, Repository, SqliteRepository, WriteId,
};

struct Backend {
    repo: Arc<dyn Repository>,
    stats: Arc<dyn ClickStatsStore>,
    /// Whether retries of one write id are recognised (Redis, PostgreSQL, DynamoDB).
    marks: bool,
    _guard: Box<dyn Any + Send>,
}

fn of<R: Repository + ClickStatsStore>(
    repo: R,
    marks: bool,
    guard: Box<dyn Any + Send>,
) -> Backend {
    let repo = Arc::new(repo);
    Backend {
        repo: repo.clone(),
        stats: repo,
        marks,
        _guard: guard,
    }
}

async fn memory() -> Backend {
    of(MemoryRepository::new(), false, Box::new(()))
}

async fn sqlite() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let repo = SqliteRepository::open(dir.path().join("links.db"), SqliteSync::Normal)
        .await
        .unwrap();
    of(repo, false, Box::new(dir))
}

async fn redis() -> Backend {
    let (repo, scope) = RedisScope::open().await;
    of(repo, true, Box::new(scope))
}

async fn dynamodb() -> Backend {
    let (repo, table) = common::backends::dynamodb_table().await;
    of(repo, true, Box::new(table))
}

async fn postgres() -> Backend {
    let (repo, scope) = postgres_schema().await;
    of(repo, true, Box::new(scope))
}

fn code(s: &str) -> ShortCode {
    ShortCode::parse(s).unwrap()
}

/// Today at midnight UTC (real clock: Redis expires by its own).
fn today() -> i64 {
    let now = SystemClock.now().as_unix_millis();
    now - now.rem_euclid(DAY_MILLIS)
}

fn at(ms: i64) -> Timestamp {
    Timestamp::from_unix_millis(ms).unwrap()
}

async fn link(b: &Backend, c: &str) {
    let record = UrlRecord::new(
        code(c),
        LongUrl::from_trusted("https://example.com/".into()),
        at(today() - DAY_MILLIS),
        Some(at(today() + 30 * DAY_MILLIS)),
    );
    b.repo.save(&record).await.unwrap();
}

fn event(c: &str, ms: i64, referrer: Option<&str>, bot: bool) -> ClickEvent {
    ClickEvent {
        code: code(c),
        at: at(ms),
        referrer: referrer.map(ReferrerHost::from_stored),
        country: Country::from_header(b"SE"),
        device: if bot {
            DeviceClass::Bot
        } else {
            DeviceClass::Desktop
        },
        bot,
        target: None,
    }
}

static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn delta(c: &str, events: &[ClickEvent]) -> ClickDelta {
    let mut tally = ClickTally::default();
    for e in events {
        tally.add(e);
    }
    ClickDelta {
        code: code(c),
        count: events.len() as u64,
        last_at: events.iter().map(|e| e.at).max().unwrap(),
        write: WriteId {
            instance: 0xa11,
            seq: SEQ.fetch_add(1, std::sync::atomic::Ordering::SeqCst),
        },
        tally,
        shared_writer: false,
    }
}

async fn apply(b: &Backend, deltas: Vec<ClickDelta>) {
    let failed = b.repo.increment_click_counts(deltas).await;
    assert!(failed.is_empty(), "{failed:?}");
}

async fn breakdown_clicks(b: &Backend, c: &str, dimension: Dimension, key: &str) -> u64 {
    let day = day_of(at(today()));
    b.stats
        .click_breakdown(&code(c), day - 1..day + 2)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.dimension == dimension && r.key == key)
        .map(|r| r.clicks)
        .sum()
}

async fn a_tally_adds_hours_totals_and_breakdowns(b: Backend) {
    link(&b, "counted").await;
    let t = today();
    let first = vec![
        event("counted", t + 10, Some("news.example"), false),
        event("counted", t + 20, None, true),
    ];
    let second = vec![
        event("counted", t + HOUR_MILLIS + 5, Some("news.example"), false),
        event("counted", t + HOUR_MILLIS + 6, Some("t.co"), false),
    ];
    apply(&b, vec![delta("counted", &first)]).await;
    apply(&b, vec![delta("counted", &second)]).await;

    let record = b
        .repo
        .find_by_short_code(&code("counted"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.click_count, 4);
    let split = b.stats.click_split(&code("counted")).await.unwrap();
    assert_eq!(split, ClickSplit { human: 3, bot: 1 });
    let h = hour_of(at(t));
    let hours = b
        .stats
        .click_hours(&code("counted"), h - 2..h + 5)
        .await
        .unwrap();
    let got: Vec<_> = hours.iter().map(|x| (x.hour - h, x.human, x.bot)).collect();
    assert_eq!(got, vec![(0, 1, 1), (1, 2, 0)]);
    // A range that misses them finds nothing.
    assert!(
        b.stats
            .click_hours(&code("counted"), h + 2..h + 9)
            .await
            .unwrap()
            .is_empty()
    );

    assert_eq!(
        breakdown_clicks(&b, "counted", Dimension::Referrer, "news.example").await,
        2
    );
    assert_eq!(
        breakdown_clicks(&b, "counted", Dimension::Referrer, "t.co").await,
        1
    );
    assert_eq!(
        breakdown_clicks(&b, "counted", Dimension::Referrer, "(direct)").await,
        1
    );
    assert_eq!(
        breakdown_clicks(&b, "counted", Dimension::Country, "SE").await,
        4
    );
    assert_eq!(
        breakdown_clicks(&b, "counted", Dimension::Device, "bot").await,
        1
    );
    assert_eq!(
        breakdown_clicks(&b, "counted", Dimension::Device, "desktop").await,
        3
    );
}

/// A link with redirect rules counts which target served each click; a link without counts
/// none.
async fn the_targets_of_a_routed_link_are_counted(b: Backend) {
    link(&b, "routed").await;
    let t = today();
    let served = |ms, target| ClickEvent {
        target: Some(target),
        ..event("routed", ms, None, false)
    };
    let first = vec![
        served(t + 10, ClickTarget::Default),
        served(t + 11, ClickTarget::Rule(0)),
        served(t + 12, ClickTarget::Rule(19)),
    ];
    let second = vec![
        served(t + 20, ClickTarget::Rule(0)),
        event("routed", t + 21, None, false),
    ];
    apply(&b, vec![delta("routed", &first)]).await;
    apply(&b, vec![delta("routed", &second)]).await;

    for (key, clicks) in [("default", 1), ("rule-1", 2), ("rule-20", 1)] {
        assert_eq!(
            breakdown_clicks(&b, "routed", Dimension::Target, key).await,
            clicks,
            "{key}"
        );
    }
    link(&b, "plain").await;
    apply(
        &b,
        vec![delta("plain", &[event("plain", t + 5, None, false)])],
    )
    .await;
    let rows = b
        .stats
        .click_breakdown(&code("plain"), day_of(at(t))..day_of(at(t)) + 1)
        .await
        .unwrap();
    assert!(
        rows.iter().all(|r| r.dimension != Dimension::Target),
        "{rows:?}"
    );
}

async fn keys_past_the_daily_cap_are_counted_as_other(b: Backend) {
    link(&b, "popular").await;
    let t = today() + 1000;
    let hosts = |range: std::ops::Range<usize>| -> Vec<ClickEvent> {
        range
            .map(|i| event("popular", t, Some(&format!("site{i}.example")), false))
            .collect()
    };
    // Two writes whose keys together pass the cap: the second finds the day nearly full.
    apply(&b, vec![delta("popular", &hosts(0..40))]).await;
    apply(&b, vec![delta("popular", &hosts(30..70))]).await;
    let day = day_of(at(t));
    let rows: Vec<_> = b
        .stats
        .click_breakdown(&code("popular"), day..day + 1)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.dimension == Dimension::Referrer)
        .collect();
    let keys = rows.iter().filter(|r| r.key != OTHER).count();
    assert_eq!(keys, BREAKDOWN_KEYS_PER_DAY);
    let total: u64 = rows.iter().map(|r| r.clicks).sum();
    assert_eq!(total, 80, "no click is lost by folding");
    let other: u64 = rows
        .iter()
        .filter(|r| r.key == OTHER)
        .map(|r| r.clicks)
        .sum();
    assert_eq!(other, 20);
    // Keys held before the cap was reached keep counting as themselves.
    assert_eq!(
        breakdown_clicks(&b, "popular", Dimension::Referrer, "site35.example").await,
        2
    );
}

async fn a_retried_write_adds_its_analytics_once(b: Backend) {
    if !b.marks {
        return; // memory and SQLite answer every write for certain: no retry of a landed one
    }
    link(&b, "retried").await;
    let t = today() + 2000;
    let d = delta("retried", &[event("retried", t, Some("a.example"), true)]);
    apply(&b, vec![d.clone()]).await;
    apply(&b, vec![d]).await;
    let split = b.stats.click_split(&code("retried")).await.unwrap();
    assert_eq!(split, ClickSplit { human: 0, bot: 1 });
    assert_eq!(
        breakdown_clicks(&b, "retried", Dimension::Referrer, "a.example").await,
        1
    );
    let h = hour_of(at(t));
    let hours = b
        .stats
        .click_hours(&code("retried"), h..h + 1)
        .await
        .unwrap();
    assert_eq!(hours.iter().map(|x| x.bot).sum::<u64>(), 1);
}

async fn deleting_a_link_drops_its_analytics(b: Backend) {
    link(&b, "doomed").await;
    let t = today() + 3000;
    apply(
        &b,
        vec![delta(
            "doomed",
            &[event("doomed", t, Some("x.example"), false)],
        )],
    )
    .await;
    assert!(
        b.repo
            .delete_link(&code("doomed"), at(t + 1))
            .await
            .unwrap()
    );
    assert_eq!(
        b.stats.click_split(&code("doomed")).await.unwrap(),
        ClickSplit::default()
    );
    let h = hour_of(at(t));
    assert!(
        b.stats
            .click_hours(&code("doomed"), h - 1..h + 1)
            .await
            .unwrap()
            .is_empty()
    );
    let day = day_of(at(t));
    assert!(
        b.stats
            .click_breakdown(&code("doomed"), day..day + 1)
            .await
            .unwrap()
            .is_empty()
    );
    // Clicks still on their way change nothing.
    apply(
        &b,
        vec![delta("doomed", &[event("doomed", t + 5, None, false)])],
    )
    .await;
    assert!(
        b.stats
            .click_hours(&code("doomed"), h - 1..h + 1)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_code_taken_again_after_the_sweep_starts_clean(b: Backend) {
    // Redis expires the link by its own clock: a real expiry a moment ahead.
    let now = SystemClock.now().as_unix_millis();
    let short_lived = UrlRecord::new(
        code("reused"),
        LongUrl::from_trusted("https://example.com/old".into()),
        at(now - 10),
        Some(at(now + 1500)),
    );
    b.repo.save(&short_lived).await.unwrap();
    apply(
        &b,
        vec![delta(
            "reused",
            &[event("reused", now, Some("old.example"), false)],
        )],
    )
    .await;
    assert_eq!(b.stats.click_split(&code("reused")).await.unwrap().human, 1);
    tokio::time::sleep(std::time::Duration::from_millis(1600)).await;
    b.repo.delete_expired(at(now + 1600), 100).await.unwrap();
    let fresh = UrlRecord::new(
        code("reused"),
        LongUrl::from_trusted("https://example.com/new".into()),
        at(now + 1601),
        None,
    );
    b.repo.save(&fresh).await.unwrap();
    assert_eq!(
        b.stats.click_split(&code("reused")).await.unwrap(),
        ClickSplit::default()
    );
    let h = hour_of(at(now));
    assert!(
        b.stats
            .click_hours(&code("reused"), h - 1..h + 2)
            .await
            .unwrap()
            .is_empty()
    );
    let day = day_of(at(now));
    assert!(
        b.stats
            .click_breakdown(&code("reused"), day - 1..day + 2)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn counts_without_a_tally_leave_analytics_alone(b: Backend) {
    link(&b, "plain").await;
    let mut d = delta("plain", &[event("plain", today() + 10, None, false)]);
    d.tally = ClickTally::default();
    apply(&b, vec![d]).await;
    let record = b
        .repo
        .find_by_short_code(&code("plain"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.click_count, 1);
    assert_eq!(
        b.stats.click_split(&code("plain")).await.unwrap(),
        ClickSplit::default()
    );
    let unknown = b.stats.click_split(&code("never-made")).await.unwrap();
    assert_eq!(unknown, ClickSplit::default());
}

backends!(2;
    a_tally_adds_hours_totals_and_breakdowns,
    the_targets_of_a_routed_link_are_counted,
    keys_past_the_daily_cap_are_counted_as_other,
    a_retried_write_adds_its_analytics_once,
    deleting_a_link_drops_its_analytics,
    a_code_taken_again_after_the_sweep_starts_clean,
    counts_without_a_tally_leave_analytics_alone,
);
