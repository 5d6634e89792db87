//! Rate limits and API keys over a real socket: the in-process limiter, and the lookup budgets
//! on the Redis limiter too (the guard decides the two differently; the binary-level Redis
//! tests are in `e2e_guards.rs`).

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::backends::{redis_url, unique};
use common::doubles::DownLimiter;
use common::{TestApp, assert_problem};
use reqwest::Response;
use serde_json::{Value, json};
use url_shortener::config::RateLimitSettings;
use url_shortener::limiter::{Quotas, RedisLimiter};
use url_shortener::repository::{ApiKeyStore, MemoryRepository};
use url_shortener::service::ApiKeyService;

fn header(response: &Response, name: &str) -> String {
    response.headers()[name].to_str().unwrap().to_owned()
}

async fn limited_app(tune: impl FnOnce(&mut RateLimitSettings)) -> TestApp {
    TestApp::builder()
        .settings(|s| {
            s.rate_limit.enabled = true;
            tune(&mut s.rate_limit);
        })
        .spawn()
        .await
}

async fn create_with(app: &TestApp, headers: &[(&str, &str)]) -> Response {
    let mut request = app
        .client
        .post(app.url("/shorten"))
        .json(&json!({ "long_url": "https://example.com/" }));
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn a_client_over_its_create_budget_gets_429_with_retry_after() {
    // One a minute: no refill can land between the four creates, however slow the machine.
    let app = limited_app(|r| {
        r.creates_per_minute = 1;
        r.create_burst = 3;
    })
    .await;

    let mut remaining = Vec::new();
    for _ in 0..3 {
        let response = create_with(&app, &[]).await;
        assert_eq!(response.status(), 201);
        assert_eq!(header(&response, "ratelimit-limit"), "3");
        remaining.push(header(&response, "ratelimit-remaining"));
    }
    assert_eq!(remaining, ["2", "1", "0"]);

    let refused = create_with(&app, &[]).await;
    let retry_after: u64 = header(&refused, "retry-after").parse().unwrap();
    assert!(
        (59..=60).contains(&retry_after),
        "one create a minute refills the budget: retry-after {retry_after}"
    );
    assert_eq!(header(&refused, "ratelimit-remaining"), "0");
    // The whole burst of three refills in three minutes.
    assert!(header(&refused, "ratelimit-reset").parse::<u64>().unwrap() >= 120);
    assert_problem(refused, 429, "rate_limited").await;
}

#[tokio::test]
async fn a_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored() {
    let app = limited_app(|r| {
        r.creates_per_minute = 1;
        r.create_burst = 2;
    })
    .await;
    let statuses = [
        create_with(&app, &[("x-forwarded-for", "192.0.2.1")])
            .await
            .status(),
        create_with(&app, &[("x-forwarded-for", "192.0.2.2")])
            .await
            .status(),
        create_with(&app, &[("x-forwarded-for", "192.0.2.3")])
            .await
            .status(),
    ];
    assert_eq!(statuses.map(|s| s.as_u16()), [201, 201, 429]);
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget() {
    let app = limited_app(|r| {
        r.creates_per_minute = 1;
        r.create_burst = 1;
        r.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    for client in ["192.0.2.1", "192.0.2.2", "2001:db8::1"] {
        let response = create_with(&app, &[("x-forwarded-for", client)]).await;
        assert_eq!(response.status(), 201, "{client}");
    }
    // Same /64 as 2001:db8::1: the same IPv6 client.
    let same_64 = create_with(&app, &[("x-forwarded-for", "2001:db8::ffff")]).await;
    assert_eq!(same_64.status(), 429);
}

#[tokio::test]
async fn a_garbled_or_ported_forwarded_hop_does_not_merge_clients_into_the_proxy() {
    let app = limited_app(|r| {
        r.creates_per_minute = 1;
        r.create_burst = 1;
        r.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    // A client that writes junk in front of the header, and a gateway that appends ports: each
    // is still its own client, not the proxy (which would make them share one budget).
    for header in [
        "x, 192.0.2.1",
        "unknown, 192.0.2.2",
        "192.0.2.3:51234",
        "[2001:db8::1]:443",
    ] {
        let response = create_with(&app, &[("x-forwarded-for", header)]).await;
        assert_eq!(response.status(), 201, "{header}");
    }
    let again = create_with(&app, &[("x-forwarded-for", "junk, 192.0.2.1:9")]).await;
    assert_eq!(again.status(), 429, "192.0.2.1 spent its budget already");
}

/// An app whose limiter is the Redis one (the guard's asynchronous path), with the quotas
/// `tune` sets on top of the defaults.
async fn redis_limited_app(tune: impl FnOnce(&mut RateLimitSettings)) -> TestApp {
    let mut settings = RateLimitSettings {
        enabled: true,
        ..RateLimitSettings::default()
    };
    tune(&mut settings);
    let limiter = RedisLimiter::connect(
        Quotas::from_settings(&settings),
        &redis_url(),
        &format!("{}:", unique("guards")),
        "test-secret",
        Duration::from_secs(2),
    )
    .await
    .unwrap_or_else(|e| {
        panic!(
            "Redis at {} is not reachable ({e}); scripts/test starts one",
            redis_url()
        )
    });
    TestApp::builder()
        .settings(|s| s.rate_limit = settings)
        .limiter(Arc::new(limiter))
        .spawn()
        .await
}

fn tight_404_budget(r: &mut RateLimitSettings) {
    r.not_found_per_minute = 1;
    r.not_found_burst = 5;
}

async fn the_404_budget_stops_an_enumeration_loop(app: TestApp) {
    let real = app.create("https://example.com/real").await;
    let real = real["short_code"].as_str().unwrap().to_owned();

    let mut statuses = Vec::new();
    for i in 0..12 {
        statuses.push(app.follow(&format!("guess{i:04}")).await.status().as_u16());
    }

    assert_eq!(statuses[..5], [404; 5]);
    assert!(statuses[5..].iter().all(|&s| s == 429), "{statuses:?}");
    // Once throttled, even a real code answers 429: hits cannot be told from misses.
    let blocked = app.follow(&real).await;
    assert!(header(&blocked, "retry-after").parse::<u64>().unwrap() >= 1);
    assert_problem(blocked, 429, "rate_limited").await;
}

#[tokio::test]
async fn the_404_budget_stops_an_enumeration_loop_in_process() {
    the_404_budget_stops_an_enumeration_loop(limited_app(tight_404_budget).await).await;
}

#[tokio::test]
async fn the_404_budget_stops_an_enumeration_loop_on_redis() {
    the_404_budget_stops_an_enumeration_loop(redis_limited_app(tight_404_budget).await).await;
}

fn tight_redirect_budget(r: &mut RateLimitSettings) {
    // One a minute: no refill can land while the 25 follows run, however slow the machine.
    r.redirects_per_minute = 1;
    r.redirect_burst = 20;
}

async fn the_redirect_budget_is_generous_but_finite(app: TestApp) {
    let body = app.create("https://example.com/").await;
    let code = body["short_code"].as_str().unwrap().to_owned();
    let mut statuses = Vec::new();
    for _ in 0..25 {
        statuses.push(app.follow(&code).await.status().as_u16());
    }
    assert_eq!(statuses[..20], [302; 20], "{statuses:?}");
    assert_eq!(statuses[20..], [429; 5], "{statuses:?}");
}

#[tokio::test]
async fn the_redirect_budget_is_generous_but_finite_in_process() {
    the_redirect_budget_is_generous_but_finite(limited_app(tight_redirect_budget).await).await;
}

#[tokio::test]
async fn the_redirect_budget_is_generous_but_finite_on_redis() {
    the_redirect_budget_is_generous_but_finite(redis_limited_app(tight_redirect_budget).await)
        .await;
}

#[tokio::test]
async fn when_the_limiter_is_down_redirects_pass_and_creates_are_refused() {
    let app = TestApp::builder()
        .settings(|s| s.rate_limit.enabled = true)
        .limiter(Arc::new(DownLimiter))
        .spawn()
        .await;
    // Seed a link behind the limiter's back.
    let seeded = TestApp::builder().repo(app.repo.clone()).spawn().await;
    let body = seeded.create("https://example.com/open").await;
    let code = body["short_code"].as_str().unwrap();

    assert_eq!(app.follow(code).await.status(), 302);
    assert_eq!(app.stats(code).await.status(), 200);
    let refused = app
        .shorten(json!({ "long_url": "https://example.com/" }))
        .await;
    assert_eq!(header(&refused, "retry-after"), "2");
    assert_problem(refused, 503, "storage_unavailable").await;
}

async fn keyed_app(keys: Arc<MemoryRepository>) -> TestApp {
    TestApp::builder()
        .keys(keys)
        .settings(|s| s.auth.anonymous_create = Some(false))
        .spawn()
        .await
}

#[tokio::test]
async fn missing_unknown_malformed_and_revoked_keys_get_one_identical_401() {
    let store = Arc::new(MemoryRepository::new());
    let keys = ApiKeyService::new(
        store.clone(),
        Arc::new(url_shortener::domain::SystemClock),
        20,
    );
    let (revoked, record) = keys.create("old app", None).await.unwrap();
    assert!(keys.revoke(&record.id).await.unwrap());
    let unknown = url_shortener::domain::ApiKeySecret::generate();
    let app = keyed_app(store).await;

    let answers = [
        create_with(&app, &[]).await,
        create_with(
            &app,
            &[("authorization", &format!("Bearer {}", unknown.expose()))],
        )
        .await,
        create_with(&app, &[("x-api-key", "not-a-key")]).await,
        create_with(
            &app,
            &[("authorization", &format!("Bearer {}", revoked.expose()))],
        )
        .await,
    ];
    let mut bodies = Vec::new();
    for response in answers {
        assert_eq!(header(&response, "www-authenticate"), "Bearer");
        bodies.push(assert_problem(response, 401, "unauthorized").await);
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:?}");
}

#[tokio::test]
async fn a_valid_key_is_accepted_from_either_header_but_never_the_query_string() {
    let store = Arc::new(MemoryRepository::new());
    let keys = ApiKeyService::new(
        store.clone(),
        Arc::new(url_shortener::domain::SystemClock),
        20,
    );
    let (key, _) = keys.create("app", None).await.unwrap();
    let app = keyed_app(store.clone()).await;

    let bearer = create_with(
        &app,
        &[("authorization", &format!("Bearer {}", key.expose()))],
    )
    .await;
    let x_api_key = create_with(&app, &[("x-api-key", key.expose())]).await;
    let in_query = app
        .client
        .post(app.url(&format!("/shorten?api_key={}", key.expose())))
        .json(&json!({ "long_url": "https://example.com/" }))
        .send()
        .await
        .unwrap();

    assert_eq!(bearer.status(), 201);
    assert_eq!(x_api_key.status(), 201);
    assert_problem(in_query, 401, "unauthorized").await;
    let listed = store.list_keys().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_ne!(
        listed[0].hash.as_str(),
        key.expose(),
        "only the hash is stored"
    );
}

#[tokio::test]
async fn an_invalid_key_is_refused_even_when_keys_are_optional() {
    let app = TestApp::spawn().await;
    let response = create_with(&app, &[("x-api-key", "usk_wrong")]).await;
    assert_problem(response, 401, "unauthorized").await;
    assert_eq!(create_with(&app, &[]).await.status(), 201);
}

#[tokio::test]
async fn an_api_key_client_has_its_own_create_budget() {
    let store = Arc::new(MemoryRepository::new());
    let keys = ApiKeyService::new(
        store.clone(),
        Arc::new(url_shortener::domain::SystemClock),
        20,
    );
    let (key, _) = keys.create("batch job", None).await.unwrap();
    let app = TestApp::builder()
        .keys(store)
        .settings(|s| {
            s.rate_limit.enabled = true;
            s.rate_limit.creates_per_minute = 1;
            s.rate_limit.create_burst = 1;
        })
        .spawn()
        .await;
    let auth = format!("Bearer {}", key.expose());

    assert_eq!(create_with(&app, &[]).await.status(), 201);
    assert_eq!(create_with(&app, &[]).await.status(), 429);
    let keyed: Value = create_with(&app, &[("authorization", &auth)])
        .await
        .json()
        .await
        .unwrap();
    assert!(keyed["short_code"].is_string(), "{keyed}");
}

/// `POST /api/keys` with the session `cookie`, as the UI's own origin would send it.
async fn new_key(app: &TestApp, cookie: &str, name: &str) -> Response {
    app.client
        .post(app.url("/api/keys"))
        .header("cookie", cookie)
        .header("origin", common::BASE_URL)
        .json(&json!({ "name": name }))
        .send()
        .await
        .unwrap()
}

async fn secret_of(response: Response) -> String {
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    body["secret"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn fresh_api_keys_do_not_mint_create_budget() {
    let app = limited_app(|r| {
        r.creates_per_minute = 1;
        r.create_burst = 3;
    })
    .await;
    let cookie = app.login_as("ada", url_shortener::domain::Role::User).await;
    let first = secret_of(new_key(&app, &cookie, "first").await).await;
    let bearer = |secret: &str| format!("Bearer {secret}");
    for _ in 0..3 {
        let made = create_with(&app, &[("authorization", &bearer(&first))]).await;
        assert_eq!(made.status(), 201);
    }
    // A second key, the session, and the alias oracle all spend the same user's budget.
    let second = secret_of(new_key(&app, &cookie, "second").await).await;
    let with_second = create_with(&app, &[("authorization", &bearer(&second))]).await;
    assert_problem(with_second, 429, "rate_limited").await;
    let with_session =
        create_with(&app, &[("cookie", &cookie), ("origin", common::BASE_URL)]).await;
    assert_problem(with_session, 429, "rate_limited").await;
    let third = secret_of(new_key(&app, &cookie, "third").await).await;
    let probe = app
        .client
        .post(app.url("/shorten"))
        .header("authorization", bearer(&third))
        .json(&json!({ "long_url": "https://example.com/", "alias": "taken-or-not" }))
        .send()
        .await
        .unwrap();
    assert_problem(probe, 429, "rate_limited").await;
    // Another user has a budget of their own.
    let other = app.login_as("bob", url_shortener::domain::Role::User).await;
    let theirs = secret_of(new_key(&app, &other, "bob's").await).await;
    let made = create_with(&app, &[("authorization", &bearer(&theirs))]).await;
    assert_eq!(made.status(), 201);
}

#[tokio::test]
async fn making_api_keys_spends_a_budget_of_its_own() {
    let app = limited_app(|r| {
        r.keys_per_minute = 1;
        r.key_burst = 2;
    })
    .await;
    let cookie = app.login_as("ada", url_shortener::domain::Role::User).await;
    for name in ["one", "two"] {
        assert_eq!(new_key(&app, &cookie, name).await.status(), 201);
    }
    let refused = new_key(&app, &cookie, "three").await;
    assert!(refused.headers().contains_key("retry-after"));
    assert_problem(refused, 429, "rate_limited").await;
}

#[tokio::test]
async fn a_user_holds_at_most_the_configured_live_keys_even_when_asking_at_once() {
    let app = TestApp::builder()
        .settings(|s| s.auth.max_keys_per_user = 3)
        .spawn()
        .await;
    let cookie = app.login_as("ada", url_shortener::domain::Role::User).await;
    let asks = (0..10).map(|i| {
        let (app, cookie) = (&app, &cookie);
        async move { new_key(app, cookie, &format!("key {i}")).await }
    });
    let answers = futures_util::future::join_all(asks).await;
    let mut made = 0;
    for answer in answers {
        match answer.status().as_u16() {
            201 => made += 1,
            _ => {
                assert_problem(answer, 409, "too_many_keys").await;
            }
        }
    }
    assert_eq!(made, 3);
    // Revoking one makes room for exactly one.
    let listed: Value = app
        .client
        .get(app.url("/api/keys"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = listed["keys"][0]["id"].as_str().unwrap();
    let revoked = app
        .client
        .delete(app.url(&format!("/api/keys/{id}")))
        .header("cookie", &cookie)
        .header("origin", common::BASE_URL)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 204);
    assert_eq!(new_key(&app, &cookie, "again").await.status(), 201);
    assert_problem(new_key(&app, &cookie, "more").await, 409, "too_many_keys").await;
}
