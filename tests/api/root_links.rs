//! Short links at the root: `GET|HEAD /{code}` answers exactly as `/s/{code}` does, short URLs
//! take the form `links.short_url_prefix` asks for, and the service's own paths and the codes
//! never shadow each other (reserved names, refused as aliases and never generated).

use crate::common;

use std::sync::Arc;

use common::doubles::{InstrumentedRepository, ScriptedCodes};
use common::{BASE_URL, T0, TestApp, assert_problem};
use serde_json::{Value, json};
use url_shortener::domain::{LongUrl, ShortCode, Timestamp, UrlRecord};
use url_shortener::http::routes;
use url_shortener::repository::MemoryRepository;

const HTML: &str = "text/html,application/xhtml+xml,*/*;q=0.8";

fn code_of(body: &Value) -> String {
    body["short_code"].as_str().unwrap().to_owned()
}

/// The headers a redirect answer is compared by (the timing header differs by nature).
fn answer_of(response: &reqwest::Response) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .filter(|(name, _)| *name != "x-processing-time-micros" && *name != "date")
        .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
        .collect();
    headers.sort();
    headers
}

#[tokio::test]
async fn a_code_at_the_root_redirects_and_counts_exactly_as_under_s() {
    let app = TestApp::spawn().await;
    let code = code_of(&app.create("https://example.com/landing?utm=1").await);
    app.clock
        .set(Timestamp::from_unix_millis(T0 + 5_000).unwrap());

    let at_root = app.get(&format!("/{code}")).await;
    let under_s = app.follow(&code).await;
    assert_eq!(at_root.status(), 302);
    assert_eq!(at_root.status(), under_s.status());
    assert_eq!(answer_of(&at_root), answer_of(&under_s));
    assert_eq!(
        at_root.headers()["location"],
        "https://example.com/landing?utm=1"
    );
    assert!(at_root.headers().contains_key("x-processing-time-micros"));
    assert!(at_root.bytes().await.unwrap().is_empty());

    let head = app
        .client
        .head(app.url(&format!("/{code}")))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 302);

    let stats: Value = app.stats(&code).await.json().await.unwrap();
    assert_eq!(
        stats["click_count"], 2,
        "GET at the root and under /s/; HEAD counts nothing"
    );
    assert_eq!(stats["last_accessed_at"], "2026-01-01T00:00:05.000Z");
}

#[tokio::test]
async fn unknown_and_impossible_codes_at_the_root_get_the_same_404s_without_storage() {
    let repo = Arc::new(InstrumentedRepository::new(Arc::new(
        MemoryRepository::new(),
    )));
    let app = TestApp::builder().repo(repo.clone()).spawn().await;
    let long = "x".repeat(65);
    for path in [
        "/ab".to_owned(),
        format!("/{long}"),
        "/bad%20code".to_owned(),
        "/caf%C3%A9".to_owned(),
        "/a.b.c".to_owned(),
        "/robots.txt".to_owned(),
    ] {
        assert_problem(app.get(&path).await, 404, "not_found").await;
    }
    assert_eq!(repo.calls(), 0, "an impossible code never reaches storage");

    assert_problem(app.get("/unknown1").await, 404, "not_found").await;
    let page = app
        .client
        .get(app.url("/unknown1"))
        .header("accept", HTML)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 404);
    assert_eq!(page.headers()["cache-control"], "no-store");
    assert!(page.text().await.unwrap().contains("Link not found"));
}

#[tokio::test]
async fn other_methods_at_the_root_get_405_with_allow() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .delete(app.url("/abcdefgh"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["allow"], "GET,HEAD");
    assert_problem(response, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn short_urls_are_at_the_root_unless_the_operator_keeps_the_s_prefix() {
    let app = TestApp::spawn().await;
    let body = app.create("https://example.com/").await;
    let code = code_of(&body);
    assert_eq!(body["short_url"], format!("{BASE_URL}/{code}"));

    let app = TestApp::builder()
        .settings(|s| s.links.short_url_prefix = "/s/".to_owned())
        .spawn()
        .await;
    let body = app.create("https://example.com/").await;
    let code = code_of(&body);
    assert_eq!(body["short_url"], format!("{BASE_URL}/s/{code}"));
    // Both paths redirect whatever the form.
    assert_eq!(app.get(&format!("/{code}")).await.status(), 302);
    assert_eq!(app.follow(&code).await.status(), 302);
}

/// The first segment of every route the router serves, when it is a literal that could be a
/// code.
fn served_names() -> Vec<String> {
    let mut names: Vec<String> = routes::API
        .iter()
        .chain(routes::WEB)
        .filter_map(|route| route.trim_start_matches('/').split('/').next())
        .filter(|segment| ShortCode::parse(segment).is_ok() || segment.len() < 3)
        .filter(|segment| !segment.is_empty() && !segment.starts_with('{'))
        .map(str::to_owned)
        .collect();
    names.sort();
    names.dedup();
    names
}

#[tokio::test]
async fn every_name_the_service_serves_is_refused_as_an_alias_in_any_case() {
    let app = TestApp::spawn().await;
    let names = served_names();
    for expected in ["api", "login", "links", "admin", "static", "s", "stats"] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    for name in names {
        for alias in [name.clone(), name.to_ascii_uppercase(), capitalized(&name)] {
            let response = app
                .shorten(json!({ "long_url": "https://example.com/", "alias": alias }))
                .await;
            let status = response.status();
            let body: Value = response.json().await.unwrap();
            let code = body["code"].as_str().unwrap_or_default();
            // Two-letter and one-letter names are too short to be codes at all.
            let refused = code == "reserved_alias" || (alias.len() < 3 && code == "invalid_alias");
            assert!(status == 400 && refused, "{alias}: {status} {body}");
        }
    }
}

fn capitalized(name: &str) -> String {
    let mut chars = name.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_ascii_uppercase().to_string() + chars.as_str()
    })
}

#[tokio::test]
async fn a_page_never_shadows_a_link_and_a_link_never_shadows_a_page() {
    let app = TestApp::spawn().await;
    // A link made before `login` was reserved (restored from an old backup, say).
    let legacy = UrlRecord::new(
        ShortCode::parse("login").unwrap(),
        LongUrl::from_trusted("https://example.com/old".into()),
        Timestamp::from_unix_millis(T0).unwrap(),
        None,
    );
    app.repo.save(&legacy).await.unwrap();
    let mine = code_of(&app.create("https://example.com/mine").await);

    // The page keeps its path; the link stays reachable under /s/.
    let page = app
        .client
        .get(app.url("/login"))
        .header("accept", HTML)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("<form"));
    let legacy = app.follow("login").await;
    assert_eq!(legacy.status(), 302);
    assert_eq!(legacy.headers()["location"], "https://example.com/old");

    // A code at the root is never taken for a page: the home page is `/`, not a code.
    let link = app.get(&format!("/{mine}")).await;
    assert_eq!(link.headers()["location"], "https://example.com/mine");
    assert_eq!(app.get("/").await.status(), 200);
}

#[tokio::test]
async fn a_generated_code_never_spells_a_reserved_name() {
    let codes = Arc::new(ScriptedCodes::new(&["keys", "ADMIN", "Login", "good1234"]));
    let app = TestApp::builder().codes(codes.clone()).spawn().await;

    let body = app.create("https://example.com/").await;

    assert_eq!(body["short_code"], "good1234");
    assert_eq!(codes.drawn(), 4);
}

#[tokio::test]
async fn a_preview_shows_where_a_link_goes_without_following_or_counting() {
    let app = TestApp::spawn().await;
    let response = app
        .shorten(json!({
            "long_url": "https://example.com/landing?a=1&b=<2>",
            "ttl_seconds": 60,
            "rules": [{ "device": ["ios"], "country": ["DE"], "to": "https://apps.example.com/de" }],
        }))
        .await;
    assert_eq!(response.status(), 201);
    let code = code_of(&response.json().await.unwrap());

    for path in [format!("/{code}+"), format!("/s/{code}+")] {
        let page = app
            .client
            .get(app.url(&path))
            .header("accept", HTML)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200, "{path}");
        assert!(!page.headers().contains_key("location"));
        assert_eq!(page.headers()["x-robots-tag"], "noindex");
        assert!(
            page.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let html = page.text().await.unwrap();
        // The destination as text, escaped.
        assert!(
            html.contains("https://example.com/landing?a=1&amp;b=&lt;2&gt;")
                || html.contains("https://example.com/landing?a=1&#38;b=%3C2%3E")
                || html.contains("https://example.com/landing?a=1&amp;b=%3C2%3E"),
            "{html}"
        );
        assert!(!html.contains("<2>"), "never unescaped");
        assert!(
            html.contains("Visitors on iOS, in DE go to https://apps.example.com/de"),
            "{html}"
        );
        assert!(
            html.contains("2026-01-01T00:00:00.000Z"),
            "when it was made"
        );
    }
    let stats: Value = app.stats(&code).await.json().await.unwrap();
    assert_eq!(stats["click_count"], 0, "a preview counts no visit");

    // Unknown and expired codes get the redirect's 404.
    assert_problem(app.get("/unknown1+").await, 404, "not_found").await;
    app.clock
        .set(Timestamp::from_unix_millis(T0 + 61_000).unwrap());
    assert_problem(app.get(&format!("/{code}+")).await, 404, "not_found").await;
}
