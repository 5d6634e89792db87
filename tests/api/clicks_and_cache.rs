//! The click buffer and its flusher, and the hot-link cache: behaviour, not timing.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::doubles::InstrumentedRepository;
use common::{TestApp, assert_problem};
use serde_json::{Value, json};
use tokio::sync::watch;
use url_shortener::domain::{Clock, LongUrl, ShortCode, SystemClock, Timestamp, UrlRecord};
use url_shortener::repository::{MemoryRepository, Repository};
use url_shortener::service::{ClickBuffer, ClickFlusher};
use url_shortener::worker;

fn at(ms: i64) -> Timestamp {
    Timestamp::from_unix_millis(ms).unwrap()
}

/// The clock that dates the flushes' writes; any clock will do, their seqs grow regardless.
fn clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

fn code(s: &str) -> ShortCode {
    ShortCode::parse(s).unwrap()
}

async fn store_with(codes: &[(&str, Option<i64>)]) -> Arc<InstrumentedRepository> {
    let repo = Arc::new(InstrumentedRepository::new(Arc::new(
        MemoryRepository::new(),
    )));
    for (c, expires) in codes {
        let record = UrlRecord::new(
            code(c),
            LongUrl::from_trusted("https://example.com/".into()),
            at(0),
            expires.map(at),
        );
        repo.save(&record).await.unwrap();
    }
    repo
}

async fn clicks_in_store(repo: &InstrumentedRepository, c: &str) -> Option<u64> {
    repo.find_by_short_code(&code(c))
        .await
        .unwrap()
        .map(|r| r.click_count)
}

/// A buffer with room to spare and a flusher into `repo` whose interval never comes: it writes
/// when the test calls `flush` (or spawns it and stops it).
fn buffer_and_flusher(repo: &Arc<InstrumentedRepository>) -> (Arc<ClickBuffer>, ClickFlusher) {
    let buffer = Arc::new(ClickBuffer::new(1_000, 1_000));
    let flusher = ClickFlusher::new(
        buffer.clone(),
        repo.clone(),
        clock(),
        Duration::from_secs(3_600),
    );
    (buffer, flusher)
}

#[tokio::test(start_paused = true)]
async fn buffered_clicks_reach_storage_on_the_flush_interval() {
    let repo = store_with(&[("popular", None)]).await;
    let buffer = Arc::new(ClickBuffer::new(1_000, 1_000));
    let (stop, stopped) = watch::channel(false);
    let flusher = ClickFlusher::new(
        buffer.clone(),
        repo.clone(),
        clock(),
        Duration::from_secs(1),
    );
    let flusher = tokio::spawn(worker::click_flusher::run(flusher, stopped));
    for i in 0..5 {
        buffer.record(&code("popular"), at(1_000 + i));
    }
    assert_eq!(clicks_in_store(&repo, "popular").await, Some(0));

    tokio::time::sleep(Duration::from_millis(1_100)).await;

    assert_eq!(clicks_in_store(&repo, "popular").await, Some(5));
    let record = repo
        .find_by_short_code(&code("popular"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.last_accessed_at, Some(at(1_004)));
    assert!(buffer.is_empty());
    stop.send(true).unwrap();
    flusher.await.unwrap();
}

/// Records clicks on two codes into `buffer` under a flusher whose interval never comes, and
/// checks that both reached storage anyway: the buffer asked for an early flush.
async fn two_codes_flush_before_the_interval(buffer: ClickBuffer) {
    let buffer = Arc::new(buffer);
    let repo = store_with(&[("a-code", None), ("b-code", None)]).await;
    let (_stop, stopped) = watch::channel(false);
    let flusher = ClickFlusher::new(
        buffer.clone(),
        repo.clone(),
        clock(),
        Duration::from_secs(3_600),
    );
    let _flusher = tokio::spawn(worker::click_flusher::run(flusher, stopped));
    tokio::task::yield_now().await;

    buffer.record(&code("a-code"), at(1));
    buffer.record(&code("b-code"), at(2));
    tokio::time::sleep(Duration::from_millis(10)).await;

    assert_eq!(clicks_in_store(&repo, "a-code").await, Some(1));
    assert_eq!(clicks_in_store(&repo, "b-code").await, Some(1));
    assert_eq!(buffer.len(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_full_enough_buffer_flushes_before_the_interval() {
    two_codes_flush_before_the_interval(ClickBuffer::new(1_000, 2)).await;
}

#[tokio::test(start_paused = true)]
async fn the_early_flush_comes_by_half_the_bound_whatever_the_threshold() {
    // A threshold above the bound would let the buffer fill before flushing, dropping the clicks
    // on new codes that arrive while that flush runs.
    two_codes_flush_before_the_interval(ClickBuffer::new(4, 100)).await;
}

#[tokio::test]
async fn shutdown_flushes_what_is_left() {
    let repo = store_with(&[("last-one", None)]).await;
    let (buffer, flusher) = buffer_and_flusher(&repo);
    let (stop, stopped) = watch::channel(false);
    let flusher = tokio::spawn(worker::click_flusher::run(flusher, stopped));
    buffer.record(&code("last-one"), at(7));
    buffer.record(&code("last-one"), at(8));

    stop.send(true).unwrap();
    flusher.await.unwrap();

    assert_eq!(clicks_in_store(&repo, "last-one").await, Some(2));
}

#[tokio::test]
async fn a_failed_flush_keeps_its_deltas_for_the_next_attempt() {
    let repo = store_with(&[("flaky", None)]).await;
    let (buffer, flusher) = buffer_and_flusher(&repo);
    for i in 0..5 {
        buffer.record(&code("flaky"), at(i));
    }
    repo.fail_increments(true);

    let failed = flusher.flush().await;

    assert_eq!((failed.written, failed.failed), (0, 1));
    // In doubt: the store may hold the five already, so they no longer count as pending.
    assert_eq!(buffer.pending(&code("flaky")), None);
    assert_eq!(buffer.len(), 1);
    buffer.record(&code("flaky"), at(100));
    repo.fail_increments(false);

    let healed = flusher.flush().await;

    // The failed write goes again unchanged; the later click waits for the next write.
    assert_eq!((healed.written, healed.failed), (1, 0));
    assert_eq!(clicks_in_store(&repo, "flaky").await, Some(5));
    assert_eq!(flusher.flush().await.written, 1);
    let record = repo
        .find_by_short_code(&code("flaky"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.click_count, 6);
    assert_eq!(record.last_accessed_at, Some(at(100)));
}

#[tokio::test]
async fn a_write_whose_answer_was_lost_is_sent_again_unchanged() {
    let repo = store_with(&[("stalled", None)]).await;
    let (buffer, flusher) = buffer_and_flusher(&repo);
    for i in 0..20 {
        buffer.record(&code("stalled"), at(i));
    }
    repo.lose_increment_answers(true);

    // Three flushes during the "stall": no answer comes back.
    for _ in 0..3 {
        let report = flusher.flush().await;
        assert_eq!((report.written, report.failed), (0, 1));
        buffer.record(&code("stalled"), at(100));
    }
    assert_eq!(buffer.pending(&code("stalled")).unwrap().count, 3);
    repo.lose_increment_answers(false);
    flusher.flush().await;
    flusher.flush().await;
    assert!(buffer.is_empty());

    // The first write went four times, unchanged (same id, same count: a store applies it
    // once, tests/conformance/repository.rs); the later clicks went once, in a newer write.
    let sent = repo.sent_increments();
    let (counts, ids): (Vec<u64>, Vec<_>) = sent.iter().map(|d| (d.count, d.write)).unzip();
    assert_eq!(counts, [20, 20, 20, 20, 3]);
    assert!(ids[..4].iter().all(|id| *id == ids[0]));
    assert_eq!(ids[4].instance, ids[0].instance);
    assert!(ids[4].seq > ids[0].seq);
}

#[tokio::test]
async fn flushing_clicks_of_a_deleted_link_does_not_resurrect_it() {
    let repo = store_with(&[("doomed", Some(1_000))]).await;
    let (buffer, flusher) = buffer_and_flusher(&repo);
    buffer.record(&code("doomed"), at(500));
    assert_eq!(repo.delete_expired(at(2_000), 10).await.unwrap(), 1);

    flusher.flush().await;

    assert_eq!(
        repo.find_by_short_code(&code("doomed")).await.unwrap(),
        None
    );
    assert!(buffer.is_empty());
}

#[tokio::test]
async fn clicks_on_their_way_to_storage_still_count_as_pending() {
    let repo = store_with(&[("busy", None)]).await;
    let (buffer, flusher) = buffer_and_flusher(&repo);
    for i in 0..5 {
        buffer.record(&code("busy"), at(i));
    }
    repo.hold_increments(true);

    let flush = tokio::spawn(async move { flusher.flush().await });
    while repo.calls() < 2 {
        // The save, then the held increment: the flush has taken the clicks.
        tokio::task::yield_now().await;
    }
    assert_eq!(
        buffer.len(),
        1,
        "the flush took the buffered clicks into one write"
    );
    assert_eq!(buffer.pending(&code("busy")).unwrap().count, 5);
    buffer.record(&code("busy"), at(10));
    let during = buffer.pending(&code("busy")).unwrap();
    assert_eq!((during.count, during.last_at), (6, at(10)));
    assert_eq!(clicks_in_store(&repo, "busy").await, Some(0));

    repo.hold_increments(false);
    assert_eq!(flush.await.unwrap().written, 1);

    assert_eq!(clicks_in_store(&repo, "busy").await, Some(5));
    assert_eq!(
        buffer.pending(&code("busy")).unwrap().count,
        1,
        "the acknowledged five are no longer pending, the later click still is"
    );
}

/// A flush whose write has landed in the store but not been acknowledged yet (its answer is
/// on its way): a read of the link must count those clicks once, not once from the store and
/// once as still pending. On a current-thread runtime the order is fixed: the read runs until
/// it has to wait, then the test looks.
#[tokio::test(flavor = "current_thread")]
async fn stats_never_count_a_click_twice_while_a_flush_is_between_its_write_and_its_settle() {
    let repo = store_with(&[("landed", None)]).await;
    let (buffer, flusher) = buffer_and_flusher(&repo);
    let service = common::url_service_over(repo.clone(), buffer.clone());
    for i in 0..5 {
        buffer.record(&code("landed"), at(i));
    }
    repo.hold_answers(true);
    let flush = tokio::spawn(async move { flusher.flush().await });
    repo.landed(1).await;
    assert_eq!(clicks_in_store(&repo, "landed").await, Some(5));
    buffer.record(&code("landed"), at(10));

    let read = {
        let service = service.clone();
        tokio::spawn(async move { service.stats(&code("landed")).await.unwrap() })
    };
    let mut read = std::pin::pin!(read);
    let finished_early = tokio::select! {
        biased;
        stats = &mut read => Some(stats.unwrap()),
        () = repo.next_find() => None,
    };
    if let Some(stats) = &finished_early {
        // Answered while the write was in limbo: it must not have counted it twice.
        assert_eq!(stats.click_count, 6, "five stored, one buffered");
    }
    repo.hold_answers(false);
    assert_eq!(flush.await.unwrap().written, 1);
    if finished_early.is_none() {
        let stats = read.await.unwrap();
        assert_eq!(stats.click_count, 6, "five stored, one buffered");
    }
    assert_eq!(
        service.stats(&code("landed")).await.unwrap().click_count,
        6,
        "and after the settle"
    );
}

#[test]
fn a_full_buffer_drops_and_counts_clicks_on_new_codes_only() {
    let buffer = ClickBuffer::new(2, 2);
    buffer.record(&code("first"), at(1));
    buffer.record(&code("second"), at(1));
    buffer.record(&code("third"), at(1));
    buffer.record(&code("first"), at(2));

    assert_eq!(buffer.len(), 2);
    assert_eq!(buffer.dropped(), 1);
    assert_eq!(buffer.pending(&code("first")).unwrap().count, 2);
}

#[tokio::test]
async fn stats_include_clicks_not_yet_flushed() {
    let app = TestApp::spawn().await;
    let body = app.create("https://example.com/pending").await;
    let c = body["short_code"].as_str().unwrap();
    for _ in 0..3 {
        assert_eq!(app.follow(c).await.status(), 302);
    }

    let stats: Value = app.stats(c).await.json().await.unwrap();

    assert_eq!(stats["click_count"], 3);
    assert_eq!(stats["last_accessed_at"], "2026-01-01T00:00:00.000Z");
    let stored = app
        .repo
        .find_by_short_code(&code(c))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.click_count, 0,
        "nothing flushed yet: the 3 are pending"
    );
}

#[tokio::test]
async fn a_hot_link_is_served_from_memory_after_the_first_lookup() {
    let repo = Arc::new(InstrumentedRepository::new(Arc::new(
        MemoryRepository::new(),
    )));
    let app = TestApp::builder().repo(repo.clone()).spawn().await;
    let body = app.create("https://example.com/hot").await;
    let c = body["short_code"].as_str().unwrap();

    for _ in 0..10 {
        assert_eq!(app.follow(c).await.status(), 302);
        assert_eq!(app.head(c).await.status(), 302);
    }

    assert_eq!(repo.finds(), 1);
}

#[tokio::test]
async fn unknown_codes_are_remembered_briefly_so_a_flood_does_not_reach_storage() {
    let repo = Arc::new(InstrumentedRepository::new(Arc::new(
        MemoryRepository::new(),
    )));
    // A minute rather than the default 2 s, so a slow machine cannot let the entry lapse.
    let app = TestApp::builder()
        .repo(repo.clone())
        .settings(|s| s.cache.negative_ttl_ms = 60_000)
        .spawn()
        .await;

    for _ in 0..10 {
        assert_problem(app.follow("no-such-code").await, 404, "not_found").await;
    }

    assert_eq!(repo.finds(), 1);
}

#[tokio::test]
async fn a_local_create_invalidates_the_negative_entry() {
    let app = TestApp::spawn().await;
    assert_problem(app.follow("fresh-alias").await, 404, "not_found").await;

    let created = app
        .shorten(json!({ "long_url": "https://example.com/fresh", "alias": "fresh-alias" }))
        .await;
    assert_eq!(created.status(), 201);

    let response = app.follow("fresh-alias").await;
    assert_eq!(response.status(), 302);
    assert_eq!(response.headers()["location"], "https://example.com/fresh");
}

#[tokio::test]
async fn a_cached_link_is_never_served_past_its_expiry() {
    let repo = Arc::new(InstrumentedRepository::new(Arc::new(
        MemoryRepository::new(),
    )));
    let app = TestApp::builder().repo(repo.clone()).spawn().await;
    let created = app
        .shorten(json!({ "long_url": "https://example.com/", "ttl_seconds": 10, "alias": "brief" }))
        .await;
    assert_eq!(created.status(), 201);
    assert_eq!(app.follow("brief").await.status(), 302);
    let finds = repo.finds();

    app.clock.advance_millis(10_000);

    assert_problem(app.follow("brief").await, 404, "not_found").await;
    assert_eq!(app.head("brief").await.status(), 404);
    assert_eq!(
        repo.finds(),
        finds,
        "answered from the cache, still judged by the clock"
    );
}

#[tokio::test]
async fn the_memory_store_runs_without_a_cache() {
    let app = TestApp::builder()
        .settings(|s| s.storage.backend = url_shortener::config::StorageBackend::Memory)
        .spawn()
        .await;
    let body = app.create("https://example.com/").await;
    assert_eq!(
        app.follow(body["short_code"].as_str().unwrap())
            .await
            .status(),
        302
    );
    assert!(app.state.urls.cache().is_none());
}
