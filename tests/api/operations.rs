//! Health endpoints, storage failure, panics and deadlines, over a real socket.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::doubles::{DownRepository, InstrumentedRepository};
use common::{TestApp, assert_problem};
use serde_json::{Value, json};
use url_shortener::repository::MemoryRepository;

#[tokio::test]
async fn health_reports_ok_when_storage_answers() {
    let app = TestApp::spawn().await;
    for path in ["/health", "/health/ready"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["cache-control"], "no-store");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], "ok");
        assert_eq!(body["checks"]["storage"], "ok");
    }
    let live = app.get("/health/live").await;
    assert_eq!(live.status(), 200);
    assert_eq!(live.json::<Value>().await.unwrap()["status"], "ok");
}

#[tokio::test]
async fn health_fails_with_503_when_storage_is_down_but_liveness_holds() {
    let app = TestApp::builder()
        .repo(Arc::new(DownRepository))
        .spawn()
        .await;
    for path in ["/health", "/health/ready"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 503, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], "fail");
        assert_eq!(body["checks"]["storage"], "fail");
    }
    assert_eq!(app.get("/health/live").await.status(), 200);
}

#[tokio::test]
async fn readiness_fails_once_shutdown_begins() {
    let app = TestApp::spawn().await;
    app.lifecycle.begin_shutdown();
    let response = app.get("/health/ready").await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["checks"]["shutdown"], "in_progress");
    assert_eq!(app.get("/health").await.status(), 200);
}

#[tokio::test]
async fn a_storage_failure_is_503_with_retry_after_never_404_or_detail() {
    let app = TestApp::builder()
        .repo(Arc::new(DownRepository))
        .spawn()
        .await;
    let responses = [
        app.shorten(json!({ "long_url": "https://example.com/" }))
            .await,
        app.shorten(json!({ "long_url": "https://example.com/", "alias": "alias1" }))
            .await,
        app.follow("abcdefgh").await,
        app.stats("abcdefgh").await,
    ];
    for response in responses {
        assert_eq!(response.headers()["retry-after"], "2");
        let body = assert_problem(response, 503, "storage_unavailable").await;
        assert!(!body.to_string().contains("connection refused"), "{body}");
    }
    let head = app.head("abcdefgh").await;
    assert_eq!(head.status(), 503);
}

#[tokio::test]
async fn a_handler_panic_is_a_500_and_the_next_request_succeeds() {
    let repo = Arc::new(InstrumentedRepository::new(Arc::new(
        MemoryRepository::new(),
    )));
    let app = TestApp::builder().repo(repo.clone()).spawn().await;
    let ok = app
        .shorten(json!({ "long_url": "https://example.com/", "alias": "fine" }))
        .await;
    assert_eq!(ok.status(), 201);
    repo.panic_on_find("boom");

    let response = app.follow("boom").await;

    assert!(response.headers().contains_key("x-processing-time-micros"));
    let body = assert_problem(response, 500, "internal_error").await;
    assert!(!body.to_string().contains("injected"), "{body}");
    assert_eq!(app.follow("fine").await.status(), 302);
    assert_eq!(app.get("/health").await.status(), 200);
}

#[tokio::test]
async fn a_request_past_the_deadline_is_503_request_timeout() {
    let repo = Arc::new(InstrumentedRepository::new(Arc::new(
        MemoryRepository::new(),
    )));
    let app = TestApp::builder()
        .repo(repo.clone())
        .settings(|s| s.server.request_timeout_ms = 200)
        .spawn()
        .await;
    repo.stall_on_find(Duration::from_secs(30));

    let response = app.follow("slowcode").await;

    assert_eq!(response.headers()["retry-after"], "2");
    assert_problem(response, 503, "request_timeout").await;
}

#[tokio::test]
async fn every_response_carries_the_processing_time() {
    let app = TestApp::spawn().await;
    let responses = [
        app.get("/health").await,
        app.get("/nowhere").await,
        app.shorten(json!({ "long_url": "ftp://x" })).await,
        app.shorten_raw(Some("text/plain"), b"x".to_vec()).await,
        app.follow("missing1").await,
    ];
    for response in responses {
        let value = response.headers()["x-processing-time-micros"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(value.parse::<u64>().is_ok(), "{value}");
    }
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_never_carry_codes_urls_or_addresses() {
    let app = TestApp::spawn().await;
    let body = app.create("https://example.com/secret-path").await;
    let code = body["short_code"].as_str().unwrap().to_owned();
    assert_eq!(app.follow(&code).await.status(), 302);
    assert_eq!(app.follow(&code).await.status(), 302);
    assert_eq!(app.follow("missing99").await.status(), 404);

    let response = app.get("/metrics").await;

    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();
    for expected in [
        r#"http_requests_total{method="GET",route="/s/{code}",status="302"} 2"#,
        r#"http_requests_total{method="GET",route="/s/{code}",status="404"} 1"#,
        r#"http_requests_total{method="POST",route="/shorten",status="201"} 1"#,
        r#"http_request_duration_seconds_bucket{le="#,
        "links_created_total 1",
        "links_expired_removed_total 0",
        "cache_hits_total 1",
        "cache_misses_total 2",
        "click_buffer_codes 1",
        "clicks_dropped_total 0",
        "click_flushes_total 0",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert!(!text.contains(&code), "{text}");
    assert!(!text.contains("secret-path"), "{text}");
    assert!(!text.contains("127.0.0.1"), "{text}");
}
