//! The Redis click queue (`clicks.queue = "redis"`) on a real Redis with real stores: gateways
//! publish exactly once, processors count every click once across instances, a batch a dead
//! processor committed but never acknowledged is claimed and recognised, and a Redis outage
//! costs redirects nothing while the outbox holds the clicks (and counts what it must drop).

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::backends::{RedisScope, postgres_schema, redis_url};
use common::proxy::{Mode, Proxy};
use common::{BASE_URL, TestApp};
use serde_json::Value;
use tokio::sync::watch;
use url_shortener::config::{ClickQueueKind, Settings, SqliteSync};
use url_shortener::domain::{ClickEvent, Clock, DeviceClass, ShortCode, SystemClock};
use url_shortener::repository::{
    AccountStores, ClickStatsStore, RedisClickStream, Repository, SqliteRepository, UserStore,
    WriteId, entry_seq,
};
use url_shortener::worker::{self, Background, deltas_of};

const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";

fn queue_settings(url: &str, prefix: &str, workers: bool) -> Settings {
    let mut s = Settings::default();
    s.server.base_url = BASE_URL.to_owned();
    s.rate_limit.enabled = false;
    s.clicks.queue = ClickQueueKind::Redis;
    s.clicks.redis_url = url.to_owned();
    s.clicks.redis_key_prefix = prefix.to_owned();
    s.clicks.claim_idle_ms = 300;
    s.clicks.flush_interval_ms = 100;
    s.workers.enabled = workers;
    s
}

/// A serving instance on `store` publishing to the queue at `url`/`prefix`, with its
/// processor when `workers`.
async fn instance<S>(
    store: Arc<S>,
    settings: Settings,
    stop: &watch::Receiver<bool>,
) -> (TestApp, Background)
where
    S: Repository
        + ClickStatsStore
        + UserStore
        + url_shortener::repository::SessionStore
        + url_shortener::repository::InviteStore,
{
    let s = settings.clone();
    let clicks = worker::ClickPipeline::connect(&settings.clicks, settings.workers.enabled, true)
        .await
        .unwrap();
    let app = TestApp::builder()
        .repo(store.clone())
        .accounts(AccountStores::of(store.clone()))
        .clicks(store.clone())
        .clicks_through(clicks.pipe())
        .settings(move |x| *x = s)
        .spawn()
        .await;
    let background = worker::start(
        &settings,
        worker::Parts {
            clicks,
            repo: store,
            sessions: None,
            clock: app.clock.clone(),
            expired: None,
            link_health: None,
            changes: None,
        },
        stop,
    );
    (app, background)
}

async fn visit(app: &TestApp, code: &str, agent: &str) {
    let response = app
        .client
        .get(app.url(&format!("/s/{code}")))
        .header("user-agent", agent)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
}

async fn stats(app: &TestApp, code: &str) -> Value {
    app.stats(code).await.json().await.unwrap()
}

/// Waits (at most 15 s) until `/stats` on `app` shows `want` clicks, then checks a little
/// later that no click arrives twice.
async fn settles_at(app: &TestApp, code: &str, want: u64) -> Value {
    for _ in 0..300 {
        let body = stats(app, code).await;
        if body["click_count"].as_u64() == Some(want) {
            tokio::time::sleep(Duration::from_millis(700)).await;
            let later = stats(app, code).await;
            assert_eq!(later["click_count"], want, "counted twice: {later}");
            return later;
        }
        assert!(
            body["click_count"].as_u64().unwrap() <= want,
            "more clicks than redirects: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "{code} never reached {want} clicks: {}",
        stats(app, code).await
    );
}

fn code_of(body: &Value) -> String {
    body["short_code"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_gateways_and_two_processors_count_every_click_once() {
    let (repo, _pg) = postgres_schema().await;
    let store = Arc::new(repo);
    let scope = RedisScope::open().await.1;
    let (stop_tx, stop) = watch::channel(false);
    let settings = queue_settings(&redis_url(), &scope.prefix, true);
    let (a, a_bg) = instance(store.clone(), settings.clone(), &stop).await;
    let (b, b_bg) = instance(store.clone(), settings, &stop).await;
    let code = code_of(&a.create("https://example.com/shared").await);

    for i in 0..150 {
        let agent = if i % 3 == 0 {
            "Twitterbot/1.0"
        } else {
            BROWSER
        };
        visit(&a, &code, agent).await;
        visit(&b, &code, agent).await;
    }
    let body = settles_at(&b, &code, 300).await;
    assert_eq!(body["bot_clicks"], 100);
    assert_eq!(body["human_clicks"], 200);
    // Both processors took part or not, the group has nothing left pending. The processors
    // sample the backlog now and then, so the figure may lag the counts: poll (up to 10 s).
    let pending_now = || {
        [&a, &b]
            .iter()
            .map(|app| {
                app.state
                    .urls
                    .processor_stats()
                    .unwrap()
                    .pending
                    .load(std::sync::atomic::Ordering::Relaxed)
            })
            .sum::<u64>()
    };
    let mut pending = pending_now();
    for _ in 0..200 {
        if pending <= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        pending = pending_now();
    }
    assert!(pending <= 2, "{pending}");

    stop_tx.send_replace(true);
    a_bg.join().await;
    b_bg.join().await;
}

#[tokio::test]
async fn a_batch_is_published_once_however_often_it_is_sent() {
    let scope = RedisScope::open().await.1;
    let stream =
        RedisClickStream::connect(&redis_url(), &scope.prefix, 1000, Duration::from_secs(2))
            .await
            .unwrap();
    let event = ClickEvent {
        code: ShortCode::parse("once").unwrap(),
        at: SystemClock.now(),
        referrer: None,
        country: None,
        device: DeviceClass::Desktop,
        bot: false,
        target: None,
    };
    assert!(
        stream
            .publish(7, 1, std::slice::from_ref(&event))
            .await
            .unwrap()
    );
    assert!(
        !stream
            .publish(7, 1, std::slice::from_ref(&event))
            .await
            .unwrap(),
        "a resend is recognised"
    );
    assert!(
        stream
            .publish(7, 2, std::slice::from_ref(&event))
            .await
            .unwrap()
    );
    assert!(
        stream.publish(8, 1, &[event]).await.unwrap(),
        "another gateway's batch 1"
    );
    let mut conn = redis::Client::open(redis_url())
        .unwrap()
        .get_connection()
        .unwrap();
    let len: u64 = redis::cmd("XLEN")
        .arg(stream.key())
        .query(&mut conn)
        .unwrap();
    assert_eq!(len, 3);
}

/// A processor read a batch and committed it, then died before acknowledging it: the batch is
/// claimed by another processor, written again under the dead one's id, and counted once.
async fn a_batch_committed_before_a_crash_is_claimed_and_counted_once<S>(store: Arc<S>)
where
    S: Repository
        + ClickStatsStore
        + UserStore
        + url_shortener::repository::SessionStore
        + url_shortener::repository::InviteStore,
{
    let scope = RedisScope::open().await.1;
    let (stop_tx, stop) = watch::channel(false);
    // A gateway without workers publishes 40 clicks.
    let gateway_settings = queue_settings(&redis_url(), &scope.prefix, false);
    let (gateway, gateway_bg) = instance(store.clone(), gateway_settings, &stop).await;
    let code = code_of(&gateway.create("https://example.com/crash").await);
    for _ in 0..40 {
        visit(&gateway, &code, BROWSER).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await; // the publisher's interval

    // The processor that will die: reads as `processor-…0dead`, commits, never acknowledges.
    let stream =
        RedisClickStream::connect(&redis_url(), &scope.prefix, 1000, Duration::from_secs(2))
            .await
            .unwrap();
    let dead = "processor-000000000000dead";
    let batches = stream
        .read(dead, 100, Duration::from_millis(500))
        .await
        .unwrap();
    let events: usize = batches.iter().map(|b| b.events.len()).sum();
    assert_eq!(events, 40);
    let seq = batches.iter().map(|b| entry_seq(&b.id)).max().unwrap();
    let write = WriteId {
        instance: 0xdead,
        seq,
    };
    let failed = store
        .increment_click_counts(deltas_of(&batches, write))
        .await;
    assert!(failed.is_empty());
    assert_eq!(stats(&gateway, &code).await["click_count"], 40);

    // A live processor takes the dead one's batch over after claim_idle_ms.
    let processor_settings = queue_settings(&redis_url(), &scope.prefix, true);
    let clicks = worker::ClickPipeline::connect(&processor_settings.clicks, true, false)
        .await
        .unwrap();
    let survivor = worker::start(
        &processor_settings,
        worker::Parts {
            clicks,
            repo: store.clone(),
            sessions: None,
            clock: Arc::new(SystemClock),
            expired: None,
            link_health: None,
            changes: None,
        },
        &stop,
    );
    let mut conn = redis::Client::open(redis_url())
        .unwrap()
        .get_connection()
        .unwrap();
    let group = format!("{}click-processors", scope.prefix);
    let mut acknowledged = false;
    for _ in 0..100 {
        let summary: redis::Value = redis::cmd("XPENDING")
            .arg(stream.key())
            .arg(&group)
            .query(&mut conn)
            .unwrap();
        if let redis::Value::Array(items) = summary
            && items.first() == Some(&redis::Value::Int(0))
        {
            acknowledged = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        acknowledged,
        "the survivor never acknowledged the dead processor's batch"
    );
    let body = stats(&gateway, &code).await;
    assert_eq!(body["click_count"], 40, "{body}");
    assert_eq!(body["human_clicks"], 40, "{body}");

    stop_tx.send_replace(true);
    survivor.join().await;
    gateway_bg.join().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_batch_committed_before_a_crash_is_counted_once() {
    let (repo, _pg) = postgres_schema().await;
    a_batch_committed_before_a_crash_is_claimed_and_counted_once(Arc::new(repo)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_a_batch_committed_before_a_crash_is_counted_once() {
    let dir = tempfile::tempdir().unwrap();
    let repo = SqliteRepository::open(dir.path().join("links.db"), SqliteSync::Normal)
        .await
        .unwrap();
    a_batch_committed_before_a_crash_is_claimed_and_counted_once(Arc::new(repo)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_costs_redirects_nothing_and_the_outbox_delivers_afterwards() {
    let scope = RedisScope::open().await.1;
    let proxy = Proxy::start(redis_url().trim_start_matches("redis://").parse().unwrap()).await;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        SqliteRepository::open(dir.path().join("links.db"), SqliteSync::Normal)
            .await
            .unwrap(),
    );
    let (stop_tx, stop) = watch::channel(false);
    let mut settings = queue_settings(&format!("redis://{}", proxy.addr), &scope.prefix, true);
    settings.clicks.outbox_capacity = 120;
    let (app, background) = instance(store, settings, &stop).await;
    let code = code_of(&app.create("https://example.com/outage").await);
    visit(&app, &code, BROWSER).await;
    settles_at(&app, &code, 1).await;

    proxy.set(Mode::Refuse);
    for _ in 0..150 {
        visit(&app, &code, BROWSER).await;
    }
    let outbox = app.state.urls.click_outbox().unwrap().clone();
    assert_eq!(outbox.len(), 120, "the outbox holds what it can");
    assert_eq!(outbox.dropped(), 30, "and counts what it cannot");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("clicks_dropped_total 30"), "{metrics}");

    proxy.set(Mode::Forward);
    settles_at(&app, &code, 121).await;
    assert!(outbox.is_empty());

    stop_tx.send_replace(true);
    background.join().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_instance_writes_its_last_clicks_before_it_stops() {
    let scope = RedisScope::open().await.1;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        SqliteRepository::open(dir.path().join("links.db"), SqliteSync::Normal)
            .await
            .unwrap(),
    );
    let (stop_tx, stop) = watch::channel(false);
    let settings = queue_settings(&redis_url(), &scope.prefix, true);
    let (app, background) = instance(store.clone(), settings, &stop).await;
    let code = code_of(&app.create("https://example.com/last").await);
    for _ in 0..50 {
        visit(&app, &code, BROWSER).await;
    }
    // Stop at once: the outbox still holds (some of) them.
    stop_tx.send_replace(true);
    background.join().await;
    let record = store
        .find_by_short_code(&ShortCode::parse(&code).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.click_count, 50);
}
