//! `GET`/`HEAD /s/{code}` and `GET /stats/{code}` over a real socket.

use crate::common;

use std::sync::Arc;

use common::doubles::InstrumentedRepository;
use common::{T0, TestApp, assert_problem};
use serde_json::{Value, json};
use url_shortener::domain::Timestamp;
use url_shortener::repository::MemoryRepository;

fn code_of(body: &Value) -> String {
    body["short_code"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_live_link_redirects_with_302_an_empty_body_and_no_caching() {
    let app = TestApp::spawn().await;
    let code = code_of(&app.create("https://example.com/landing?utm=1").await);

    let response = app.follow(&code).await;

    assert_eq!(response.status(), 302);
    assert_eq!(
        response.headers()["location"],
        "https://example.com/landing?utm=1"
    );
    let cache = response.headers()["cache-control"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cache.contains("no-store") && cache.contains("private"),
        "{cache}"
    );
    assert!(response.headers().contains_key("x-processing-time-micros"));
    assert!(response.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_redirect_status_is_configurable() {
    for status in [301u16, 302, 307, 308] {
        let app = TestApp::builder()
            .settings(|s| s.links.redirect_status = status)
            .spawn()
            .await;
        let code = code_of(&app.create("https://example.com/").await);
        assert_eq!(app.follow(&code).await.status(), status);
    }
}

#[tokio::test]
async fn a_query_string_on_the_short_url_never_chooses_the_target() {
    let app = TestApp::spawn().await;
    let code = code_of(&app.create("https://example.com/a").await);
    let response = app
        .get(&format!(
            "/s/{code}?url=https://evil.example/&redirect=https://evil.example/"
        ))
        .await;
    assert_eq!(response.headers()["location"], "https://example.com/a");
}

#[tokio::test]
async fn get_counts_a_click_and_head_does_not() {
    let app = TestApp::spawn().await;
    let code = code_of(&app.create("https://example.com/").await);

    let head = app.head(&code).await;
    assert_eq!(head.status(), 302);
    assert_eq!(head.headers()["location"], "https://example.com/");
    let stats: Value = app.stats(&code).await.json().await.unwrap();
    assert_eq!(stats["click_count"], 0);
    assert_eq!(stats["last_accessed_at"], Value::Null);

    app.clock
        .set(Timestamp::from_unix_millis(T0 + 5_000).unwrap());
    for _ in 0..3 {
        assert_eq!(app.follow(&code).await.status(), 302);
    }

    let stats: Value = app.stats(&code).await.json().await.unwrap();
    assert_eq!(stats["click_count"], 3);
    assert_eq!(stats["last_accessed_at"], "2026-01-01T00:00:05.000Z");
}

#[tokio::test]
async fn stats_returns_the_documented_body() {
    let app = TestApp::spawn().await;
    let created = app
        .shorten(
            json!({ "long_url": "https://example.com/x", "ttl_seconds": 60, "alias": "stat-me" }),
        )
        .await;
    assert_eq!(created.status(), 201);

    let response = app.stats("stat-me").await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({
            "short_code": "stat-me",
            "long_url": "https://example.com/x",
            "created_at": "2026-01-01T00:00:00.000Z",
            "expires_at": "2026-01-01T00:01:00.000Z",
            "click_count": 0,
            "human_clicks": 0,
            "bot_clicks": 0,
            "last_accessed_at": null,
            // This app's store keeps no link health: the field is there, null.
            "health": null,
        })
    );
}

#[tokio::test]
async fn a_link_is_served_until_the_instant_it_expires() {
    let app = TestApp::spawn().await;
    let body = app
        .shorten(json!({ "long_url": "https://example.com/", "ttl_seconds": 10 }))
        .await
        .json::<Value>()
        .await
        .unwrap();
    let code = code_of(&body);

    app.clock
        .set(Timestamp::from_unix_millis(T0 + 9_999).unwrap());
    assert_eq!(app.follow(&code).await.status(), 302);
    assert_eq!(app.stats(&code).await.status(), 200);

    app.clock
        .set(Timestamp::from_unix_millis(T0 + 10_000).unwrap());
    assert_problem(app.follow(&code).await, 404, "not_found").await;
    assert_problem(app.stats(&code).await, 404, "not_found").await;
    assert_eq!(app.head(&code).await.status(), 404);
}

#[tokio::test]
async fn unknown_and_expired_codes_look_the_same() {
    let app = TestApp::spawn().await;
    let created = app
        .shorten(json!({ "long_url": "https://example.com/", "ttl_seconds": 1, "alias": "gone" }))
        .await;
    assert_eq!(created.status(), 201);
    app.clock.advance_millis(1_000);

    let expired = app.follow("gone").await;
    let unknown = app.follow("never").await;

    assert_eq!(expired.status(), 404);
    assert_eq!(unknown.status(), 404);
    assert_eq!(expired.headers()["cache-control"], "no-store");
    assert_eq!(unknown.headers()["cache-control"], "no-store");
    assert_eq!(
        expired.json::<Value>().await.unwrap(),
        unknown.json::<Value>().await.unwrap()
    );
}

#[tokio::test]
async fn browsers_get_an_html_404_page() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(app.url("/s/unknown1"))
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 404);
    assert_eq!(
        response.headers()["content-type"],
        "text/html; charset=utf-8"
    );
    assert_eq!(response.headers()["cache-control"], "no-store");
    let page = response.text().await.unwrap();
    assert!(page.contains("Link not found"), "{page}");
}

#[tokio::test]
async fn impossible_codes_are_404_without_touching_storage() {
    let repo = Arc::new(InstrumentedRepository::new(Arc::new(
        MemoryRepository::new(),
    )));
    let app = TestApp::builder().repo(repo.clone()).spawn().await;
    let long = "x".repeat(65);
    for path in [
        "/s/ab".to_owned(),
        format!("/s/{long}"),
        "/s/bad%20code".to_owned(),
        "/s/%FF%FE".to_owned(),
        "/s/caf%C3%A9".to_owned(),
        "/s/a.b.c".to_owned(),
        "/stats/a!b".to_owned(),
    ] {
        assert_problem(app.get(&path).await, 404, "not_found").await;
    }
    assert_eq!(repo.calls(), 0);
}

#[tokio::test]
async fn other_methods_get_405_with_allow() {
    let app = TestApp::spawn().await;
    let cases = [
        (reqwest::Method::DELETE, "/s/abcdefgh", "GET,HEAD"),
        (reqwest::Method::POST, "/s/abcdefgh", "GET,HEAD"),
        (reqwest::Method::GET, "/shorten", "POST"),
        (reqwest::Method::PUT, "/stats/abcdefgh", "GET,HEAD"),
        (reqwest::Method::POST, "/health", "GET,HEAD"),
    ];
    for (method, path, allow) in cases {
        let response = app
            .client
            .request(method.clone(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["allow"], allow, "{method} {path}");
        assert!(response.headers().contains_key("x-processing-time-micros"));
        assert_problem(response, 405, "method_not_allowed").await;
    }
}

#[tokio::test]
async fn unknown_routes_are_404_problems() {
    let app = TestApp::spawn().await;
    for path in ["/nope", "/s/", "/s/abc/def", "/stats"] {
        let response = app.get(path).await;
        assert!(response.headers().contains_key("x-processing-time-micros"));
        assert_problem(response, 404, "not_found").await;
    }
    // `/` is the web UI's home page now.
    let home = app.get("/").await;
    assert_eq!(home.status(), 200);
    assert!(
        home.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
}
