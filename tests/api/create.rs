//! `POST /shorten` over a real socket: success, every 4xx code, collisions and races.

use crate::common;

use std::sync::Arc;

use common::doubles::ScriptedCodes;
use common::{BASE_URL, T0, TestApp, assert_problem};
use serde_json::{Value, json};
use url_shortener::domain::Timestamp;

#[tokio::test]
async fn a_valid_url_gets_201_with_location_and_the_documented_body() {
    let app = TestApp::spawn().await;

    let response = app
        .shorten(json!({ "long_url": "HTTPS://Example.COM:443/a/./b?q=1#top" }))
        .await;

    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(response.headers().contains_key("x-processing-time-micros"));
    let body: Value = response.json().await.unwrap();
    let code = body["short_code"].as_str().unwrap();
    assert_eq!(code.len(), 8);
    assert!(code.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_eq!(body["short_url"], format!("{BASE_URL}/{code}"));
    assert_eq!(location, format!("{BASE_URL}/{code}"));
    assert_eq!(body["long_url"], "https://example.com/a/b?q=1#top");
    assert_eq!(body["created_at"], "2026-01-01T00:00:00.000Z");
    assert_eq!(body["expires_at"], Value::Null);
    // A plain link's redirect settings: all defaults.
    assert_eq!(body["redirect_status"], Value::Null);
    assert_eq!(body["forward_query"], Value::Null);
    assert_eq!(body["forward_path"], Value::Null);
    assert_eq!(body["rules"], serde_json::json!([]));
    assert_eq!(body["crawlable"], false);
    assert_eq!(body.as_object().unwrap().len(), 10, "{body}");
}

#[tokio::test]
async fn an_alias_and_a_ttl_are_honoured() {
    let app = TestApp::spawn().await;

    let response = app
        .shorten(json!({ "long_url": "https://example.com/", "alias": "my-Link_1", "ttl_seconds": 3600 }))
        .await;

    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["short_code"], "my-Link_1");
    assert_eq!(body["expires_at"], "2026-01-01T01:00:00.000Z");
    assert_eq!(app.follow("my-Link_1").await.status(), 302);
}

#[tokio::test]
async fn null_optional_fields_mean_absent() {
    let app = TestApp::spawn().await;
    let response = app
        .shorten(json!({ "long_url": "https://example.com/", "alias": null, "ttl_seconds": null }))
        .await;
    assert_eq!(response.status(), 201);
}

#[tokio::test]
async fn the_configured_default_ttl_applies_when_none_is_given() {
    let app = TestApp::builder()
        .settings(|s| s.links.default_ttl_seconds = Some(60))
        .spawn()
        .await;
    let body = app.create("https://example.com/").await;
    assert_eq!(body["expires_at"], "2026-01-01T00:01:00.000Z");
}

/// Bad destinations, each with the error code it must produce.
const BAD_URLS: &[(&str, &str)] = &[
    ("not a url", "invalid_url"),
    ("", "invalid_url"),
    ("/relative/path", "invalid_url"),
    ("http://", "invalid_url"),
    ("https://exa\tmple.com/", "invalid_url"),
    ("https://example.com/\r\nSet-Cookie: x=1", "invalid_url"),
    ("https://example.com/\u{0}", "invalid_url"),
    ("ftp://example.com/file", "unsupported_scheme"),
    ("javascript:alert(1)", "unsupported_scheme"),
    (
        "data:text/html,<script>alert(1)</script>",
        "unsupported_scheme",
    ),
    ("file:///etc/passwd", "unsupported_scheme"),
    ("mailto:someone@example.com", "unsupported_scheme"),
    ("https://user:pass@example.com/", "credentials_in_url"),
    ("https://user@example.com/", "credentials_in_url"),
    ("https://:secret@example.com/", "credentials_in_url"),
    ("https://example..com/", "invalid_hostname"),
    ("https://-a.com/", "invalid_hostname"),
    ("https://a-.com/", "invalid_hostname"),
    ("https://ex_ample.com/", "invalid_hostname"),
    ("http://127.0.0.1/", "forbidden_destination"),
    ("http://127.1/", "forbidden_destination"),
    ("http://0x7f.1/", "forbidden_destination"),
    ("http://2130706433/", "forbidden_destination"),
    ("http://017700000001/", "forbidden_destination"),
    ("http://0/", "forbidden_destination"),
    ("http://0.0.0.0:8080/", "forbidden_destination"),
    ("http://[::1]/", "forbidden_destination"),
    ("http://[::]/", "forbidden_destination"),
    ("http://[::ffff:127.0.0.1]/", "forbidden_destination"),
    ("http://[::ffff:10.0.0.1]/", "forbidden_destination"),
    ("http://[fe80::1]/", "forbidden_destination"),
    ("http://[fd00::1]/", "forbidden_destination"),
    (
        "http://169.254.169.254/latest/meta-data/",
        "forbidden_destination",
    ),
    ("http://10.1.2.3/", "forbidden_destination"),
    ("http://172.16.0.1/", "forbidden_destination"),
    ("http://192.168.1.1/", "forbidden_destination"),
    ("http://100.64.0.1/", "forbidden_destination"),
    ("http://224.0.0.1/", "forbidden_destination"),
    ("http://255.255.255.255/", "forbidden_destination"),
    ("http://localhost/", "forbidden_destination"),
    ("http://LocalHost.:3000/", "forbidden_destination"),
    ("http://admin.localhost/", "forbidden_destination"),
    ("http://intranet/", "forbidden_destination"),
    ("https://sho.rt/s/abcdefgh", "self_referencing_url"),
    ("https://SHO.RT./x", "self_referencing_url"),
    ("http://sho.rt:8443/", "self_referencing_url"),
];

#[tokio::test]
async fn every_bad_url_is_refused_with_its_code_and_stores_nothing() {
    let app = TestApp::spawn().await;
    for (raw, code) in BAD_URLS {
        let response = app.shorten(json!({ "long_url": raw })).await;
        let body = assert_problem(response, 400, code).await;
        assert!(!body["detail"].as_str().unwrap().is_empty(), "{raw:?}");
    }
    let memory = app
        .repo
        .exists(&url_shortener::domain::ShortCode::parse("abc").unwrap())
        .await;
    assert_eq!(memory, Ok(false));
}

#[tokio::test]
async fn a_url_over_2048_characters_once_normalized_is_too_long() {
    let app = TestApp::spawn().await;
    let prefix = "https://example.com/";
    let at_limit = format!("{prefix}{}", "a".repeat(2048 - prefix.len()));
    assert_eq!(
        app.shorten(json!({ "long_url": at_limit })).await.status(),
        201
    );

    let over = format!("{prefix}{}", "a".repeat(2049 - prefix.len()));
    assert_problem(
        app.shorten(json!({ "long_url": over })).await,
        400,
        "url_too_long",
    )
    .await;

    // 1,000 raw characters, 2,000+ once each `"` is percent-encoded.
    let grows = format!("{prefix}{}", "\"".repeat(700));
    assert_problem(
        app.shorten(json!({ "long_url": grows })).await,
        400,
        "url_too_long",
    )
    .await;
}

#[tokio::test]
async fn private_destinations_are_accepted_when_the_operator_allows_them() {
    let app = TestApp::builder()
        .settings(|s| s.security.allow_private_destinations = true)
        .spawn()
        .await;
    for raw in [
        "http://127.0.0.1:9000/x",
        "http://10.0.0.7/",
        "http://intranet/wiki",
    ] {
        assert_eq!(
            app.shorten(json!({ "long_url": raw })).await.status(),
            201,
            "{raw}"
        );
    }
    // The service's own host stays refused.
    assert_problem(
        app.shorten(json!({ "long_url": "https://sho.rt/" })).await,
        400,
        "self_referencing_url",
    )
    .await;
}

#[tokio::test]
async fn bad_ttls_are_refused_with_invalid_ttl() {
    let app = TestApp::builder()
        .settings(|s| s.links.max_ttl_seconds = 86_400)
        .spawn()
        .await;
    for ttl in [
        json!(0),
        json!(-1),
        json!(1.5),
        json!(86_401),
        json!(u64::MAX),
        json!(1e300),
    ] {
        let response = app
            .shorten(json!({ "long_url": "https://example.com/", "ttl_seconds": ttl }))
            .await;
        assert_problem(response, 400, "invalid_ttl").await;
    }
    let ok = app
        .shorten(json!({ "long_url": "https://example.com/", "ttl_seconds": 86_400 }))
        .await;
    assert_eq!(ok.status(), 201);
}

#[tokio::test]
async fn a_ttl_reaching_past_the_year_9999_is_refused_not_overflowed() {
    let app = TestApp::builder()
        .settings(|s| s.links.max_ttl_seconds = u64::MAX)
        .spawn()
        .await;
    let response = app
        .shorten(json!({ "long_url": "https://example.com/", "ttl_seconds": u64::MAX }))
        .await;
    assert_problem(response, 400, "invalid_ttl").await;
}

#[tokio::test]
async fn bad_aliases_are_refused_with_their_codes() {
    let app = TestApp::spawn().await;
    let cases = [
        ("ab", "invalid_alias"),
        ("a/b", "invalid_alias"),
        ("has space", "invalid_alias"),
        ("ünï", "invalid_alias"),
        ("", "invalid_alias"),
        (&*"x".repeat(65), "invalid_alias"),
        ("stats", "reserved_alias"),
        ("SHORTEN", "reserved_alias"),
        ("Health", "reserved_alias"),
    ];
    for (alias, code) in cases {
        let response = app
            .shorten(json!({ "long_url": "https://example.com/", "alias": alias }))
            .await;
        assert_problem(response, 400, code).await;
    }
}

#[tokio::test]
async fn a_taken_alias_is_409_and_the_first_link_is_untouched() {
    let app = TestApp::spawn().await;
    let first = app
        .shorten(json!({ "long_url": "https://example.com/one", "alias": "promo" }))
        .await;
    assert_eq!(first.status(), 201);

    let second = app
        .shorten(json!({ "long_url": "https://example.com/two", "alias": "promo" }))
        .await;
    assert_problem(second, 409, "alias_taken").await;

    let redirect = app.follow("promo").await;
    assert_eq!(redirect.headers()["location"], "https://example.com/one");
}

#[tokio::test]
async fn concurrent_creates_of_one_alias_yield_exactly_one_201() {
    let app = Arc::new(TestApp::spawn().await);
    let attempts = (0..50).map(|i| {
        let app = app.clone();
        tokio::spawn(async move {
            app.shorten(json!({ "long_url": format!("https://example.com/{i}"), "alias": "race" }))
                .await
                .status()
                .as_u16()
        })
    });
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|&&s| s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&s| s == 409).count(),
        49,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn a_generated_code_that_collides_is_retried_with_a_fresh_one() {
    let codes = Arc::new(ScriptedCodes::new(&["taken123", "taken123", "fresh456"]));
    let app = TestApp::builder().codes(codes.clone()).spawn().await;
    let taken = app
        .shorten(json!({ "long_url": "https://example.com/first", "alias": "taken123" }))
        .await;
    assert_eq!(taken.status(), 201);

    let body = app.create("https://example.com/second").await;

    assert_eq!(body["short_code"], "fresh456");
    assert_eq!(codes.drawn(), 3);
    assert_eq!(
        app.follow("taken123").await.headers()["location"],
        "https://example.com/first"
    );
}

#[tokio::test]
async fn endless_collisions_end_in_a_500_without_detail() {
    let codes = Arc::new(ScriptedCodes::new(&["always11"]));
    let app = TestApp::builder().codes(codes.clone()).spawn().await;
    app.create("https://example.com/first").await;

    let response = app
        .shorten(json!({ "long_url": "https://example.com/2" }))
        .await;

    let body = assert_problem(response, 500, "internal_error").await;
    assert_eq!(body["detail"], "Internal server error");
    assert_eq!(codes.drawn(), 11);
}

#[tokio::test]
async fn malformed_requests_are_invalid_request() {
    let app = TestApp::spawn().await;
    let json_ct = Some("application/json");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("syntax error", b"{\"long_url\": ".to_vec()),
        ("not an object", b"[1, 2]".to_vec()),
        ("wrong type", br#"{"long_url": 42}"#.to_vec()),
        (
            "ttl as string",
            br#"{"long_url": "https://example.com/", "ttl_seconds": "60"}"#.to_vec(),
        ),
        (
            "alias as number",
            br#"{"long_url": "https://example.com/", "alias": 7}"#.to_vec(),
        ),
        ("missing long_url", br#"{"alias": "abc"}"#.to_vec()),
        (
            "unknown field",
            br#"{"long_url": "https://example.com/", "ttl": 5}"#.to_vec(),
        ),
        ("empty body", Vec::new()),
        ("invalid utf-8", b"{\"long_url\": \"\xff\"}".to_vec()),
    ];
    for (what, body) in cases {
        let response = app.shorten_raw(json_ct, body).await;
        assert_eq!(response.status(), 400, "{what}");
        assert_problem(response, 400, "invalid_request").await;
    }
}

#[tokio::test]
async fn a_body_that_is_not_json_is_415() {
    let app = TestApp::spawn().await;
    for ct in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let response = app
            .shorten_raw(ct, br#"{"long_url": "https://example.com/"}"#.to_vec())
            .await;
        assert_problem(response, 415, "unsupported_media_type").await;
    }
    let with_charset = app
        .shorten_raw(
            Some("application/json; charset=utf-8"),
            br#"{"long_url": "https://example.com/"}"#.to_vec(),
        )
        .await;
    assert_eq!(with_charset.status(), 201);
}

#[tokio::test]
async fn a_body_over_16_kib_is_413() {
    let app = TestApp::spawn().await;
    let padding = "a".repeat(16 * 1024);
    let body = format!(r#"{{"long_url": "https://example.com/{padding}"}}"#);
    let response = app
        .shorten_raw(Some("application/json"), body.into_bytes())
        .await;
    assert_problem(response, 413, "payload_too_large").await;
}

#[tokio::test]
async fn created_at_comes_from_the_clock() {
    let app = TestApp::spawn().await;
    app.clock
        .set(Timestamp::from_unix_millis(T0 + 1_234).unwrap());
    let body = app.create("https://example.com/").await;
    assert_eq!(body["created_at"], "2026-01-01T00:00:01.234Z");
}
