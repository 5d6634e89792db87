//! Ownership over HTTP: links made with a session or a key belong to the caller, who lists,
//! edits and deletes them; other users see 404; API keys are the caller's to make and revoke.

use crate::common;

use common::{BASE_URL, TestApp, assert_problem};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{Value, json};
use url_shortener::domain::Role;

const PASSWORD: &str = "correct horse battery";

/// How a test client proves who it is.
#[derive(Clone)]
enum Auth {
    /// A browser session: the cookie, with this site's origin on every request.
    Cookie(String),
    /// An API key.
    Key(String),
}

async fn user(app: &TestApp, name: &str, role: Role) -> Auth {
    app.state
        .accounts
        .create_user(name, PASSWORD, None, role)
        .await
        .unwrap();
    let response = app
        .client
        .post(app.url("/api/session"))
        .json(&json!({ "username": name, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let cookie = common::session_cookie(&response).expect("a session cookie");
    Auth::Cookie(cookie)
}

fn request(app: &TestApp, auth: &Auth, method: Method, path: &str) -> RequestBuilder {
    let request = app.client.request(method, app.url(path));
    match auth {
        Auth::Cookie(cookie) => request.header("cookie", cookie).header("origin", BASE_URL),
        Auth::Key(key) => request.bearer_auth(key),
    }
}

async fn create(app: &TestApp, auth: &Auth, body: Value) -> Value {
    let response = request(app, auth, Method::POST, "/shorten")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "creating {body}");
    response.json().await.unwrap()
}

async fn new_key(app: &TestApp, auth: &Auth, name: &str) -> (Auth, Value) {
    let response = request(app, auth, Method::POST, "/api/keys")
        .json(&json!({ "name": name }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    (Auth::Key(body["secret"].as_str().unwrap().to_owned()), body)
}

async fn list(app: &TestApp, auth: &Auth, query: &str) -> Response {
    request(app, auth, Method::GET, &format!("/api/links{query}"))
        .send()
        .await
        .unwrap()
}

fn codes(page: &Value) -> Vec<String> {
    page["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["short_code"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn links_made_with_a_session_or_a_key_are_the_callers_and_listed_newest_first() {
    let app = TestApp::spawn().await;
    let ada = user(&app, "ada", Role::User).await;
    let bob = user(&app, "bob", Role::User).await;

    create(
        &app,
        &ada,
        json!({ "long_url": "https://example.com/1", "alias": "ada-one" }),
    )
    .await;
    app.clock.advance_millis(10);
    let (key, _) = new_key(&app, &ada, "script").await;
    create(
        &app,
        &key,
        json!({ "long_url": "https://example.com/2", "alias": "ada-two" }),
    )
    .await;
    app.clock.advance_millis(10);
    create(
        &app,
        &bob,
        json!({ "long_url": "https://example.com/3", "alias": "bob-one" }),
    )
    .await;
    app.create("https://example.com/anonymous").await;

    for auth in [&ada, &key] {
        let response = list(&app, auth, "").await;
        assert_eq!(response.status(), 200);
        let page: Value = response.json().await.unwrap();
        assert_eq!(codes(&page), ["ada-two", "ada-one"]);
        assert_eq!(page["next_cursor"], Value::Null);
        let first = &page["links"][0];
        assert_eq!(first["short_url"], format!("{BASE_URL}/ada-two"));
        assert_eq!(first["long_url"], "https://example.com/2");
        assert_eq!(first["expired"], false);
        assert_eq!(first["click_count"], 0);
    }
    let page: Value = list(&app, &bob, "").await.json().await.unwrap();
    assert_eq!(codes(&page), ["bob-one"]);
    assert_problem(app.get("/api/links").await, 401, "unauthorized").await;
}

#[tokio::test]
async fn pages_follow_the_cursor_and_the_search_matches_code_or_destination() {
    let app = TestApp::spawn().await;
    let ada = user(&app, "ada", Role::User).await;
    for i in 0..25 {
        let destination = if i % 5 == 0 {
            format!("https://shop.example/SALE/{i}")
        } else {
            format!("https://example.com/{i}")
        };
        create(
            &app,
            &ada,
            json!({ "long_url": destination, "alias": format!("link-{i:02}") }),
        )
        .await;
        app.clock.advance_millis(1);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut sizes = Vec::new();
    loop {
        let query = match &cursor {
            Some(c) => format!("?limit=10&cursor={c}"),
            None => "?limit=10".to_owned(),
        };
        let page: Value = list(&app, &ada, &query).await.json().await.unwrap();
        sizes.push(page["links"].as_array().unwrap().len());
        seen.extend(codes(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(sizes, [10, 10, 5]);
    let expected: Vec<String> = (0..25).rev().map(|i| format!("link-{i:02}")).collect();
    assert_eq!(seen, expected);

    let page: Value = list(&app, &ada, "?q=sale&limit=3")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(codes(&page), ["link-20", "link-15", "link-10"]);
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let rest: Value = list(&app, &ada, &format!("?q=sale&limit=3&cursor={cursor}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(codes(&rest), ["link-05", "link-00"]);
    assert_eq!(rest["next_cursor"], Value::Null);
    let by_code: Value = list(&app, &ada, "?q=LINK-1").await.json().await.unwrap();
    assert_eq!(by_code["links"].as_array().unwrap().len(), 10);
}

#[tokio::test]
async fn bad_listing_parameters_are_a_clear_400() {
    let app = TestApp::spawn().await;
    let ada = user(&app, "ada", Role::User).await;
    let long_q = format!("?q={}", "x".repeat(201));
    for query in [
        "?limit=0",
        "?limit=101",
        "?limit=ten",
        "?cursor=garbage",
        "?cursor=0000000000000001:bad%20code",
        "?sort=oldest",
        long_q.as_str(),
    ] {
        assert_problem(list(&app, &ada, query).await, 400, "invalid_request").await;
    }
    assert_problem(list(&app, &ada, "?owner=bob").await, 403, "forbidden").await;
}

#[tokio::test]
async fn another_users_link_answers_404_and_an_administrator_reaches_it() {
    let app = TestApp::spawn().await;
    let ada = user(&app, "ada", Role::User).await;
    let bob = user(&app, "bob", Role::User).await;
    let root = user(&app, "root", Role::Admin).await;
    create(
        &app,
        &ada,
        json!({ "long_url": "https://example.com/a", "alias": "adas" }),
    )
    .await;
    app.create("https://example.com/anon").await;

    for (method, body) in [
        (Method::GET, None),
        (
            Method::PATCH,
            Some(json!({ "long_url": "https://evil.example/" })),
        ),
        (Method::DELETE, None),
    ] {
        let mut r = request(&app, &bob, method.clone(), "/api/links/adas");
        if let Some(body) = &body {
            r = r.json(body);
        }
        let theirs = r.send().await.unwrap();
        let mut r = request(&app, &bob, method, "/api/links/nonexistent");
        if let Some(body) = &body {
            r = r.json(body);
        }
        let missing = r.send().await.unwrap();
        let theirs = assert_problem(theirs, 404, "not_found").await;
        let missing = assert_problem(missing, 404, "not_found").await;
        assert_eq!(theirs, missing, "no existence oracle");
    }
    // Still ada's, still going where she said.
    assert_eq!(
        app.follow("adas").await.headers()["location"],
        "https://example.com/a"
    );

    let response = request(&app, &root, Method::GET, "/api/links/adas")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let page: Value = list(&app, &root, "?owner=ada").await.json().await.unwrap();
    assert_eq!(codes(&page), ["adas"]);
    assert_problem(list(&app, &root, "?owner=nobody").await, 404, "not_found").await;
}

#[tokio::test]
async fn an_edit_is_served_at_once_and_validated_like_a_create() {
    let app = TestApp::spawn().await;
    let ada = user(&app, "ada", Role::User).await;
    create(
        &app,
        &ada,
        json!({ "long_url": "https://example.com/old", "alias": "moving" }),
    )
    .await;
    // Warm this instance's cache with the old destination.
    assert_eq!(
        app.follow("moving").await.headers()["location"],
        "https://example.com/old"
    );

    let response = request(&app, &ada, Method::PATCH, "/api/links/moving")
        .json(&json!({ "long_url": "https://example.com/new" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["long_url"], "https://example.com/new");
    assert_eq!(
        app.follow("moving").await.headers()["location"],
        "https://example.com/new"
    );

    let soon = "2026-01-01T01:00:00Z";
    let body: Value = request(&app, &ada, Method::PATCH, "/api/links/moving")
        .json(&json!({ "expires_at": soon }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["expires_at"], "2026-01-01T01:00:00.000Z");
    assert_eq!(
        body["long_url"], "https://example.com/new",
        "untouched fields stay"
    );
    let body: Value = request(&app, &ada, Method::PATCH, "/api/links/moving")
        .json(&json!({ "expires_at": null }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["expires_at"], Value::Null);

    let cases = [
        (
            json!({ "long_url": "ftp://example.com/" }),
            "unsupported_scheme",
        ),
        (
            json!({ "long_url": "http://127.0.0.1/" }),
            "forbidden_destination",
        ),
        (
            json!({ "long_url": format!("{BASE_URL}/s/loop") }),
            "self_referencing_url",
        ),
        (
            json!({ "expires_at": "2025-01-01T00:00:00Z" }),
            "invalid_expiry",
        ),
        (json!({ "expires_at": "tomorrow" }), "invalid_expiry"),
        (
            json!({ "expires_at": "9999-01-01T00:00:00Z" }),
            "invalid_expiry",
        ),
        (json!({ "expires_at": 12 }), "invalid_request"),
        (json!({ "owner": "bob" }), "invalid_request"),
    ];
    for (body, code) in cases {
        let response = request(&app, &ada, Method::PATCH, "/api/links/moving")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_problem(response, 400, code).await;
    }
    assert_eq!(
        app.follow("moving").await.headers()["location"],
        "https://example.com/new"
    );
}

#[tokio::test]
async fn a_deleted_link_answers_404_at_once_and_its_code_is_never_reused() {
    let app = TestApp::spawn().await;
    let ada = user(&app, "ada", Role::User).await;
    create(
        &app,
        &ada,
        json!({ "long_url": "https://example.com/x", "alias": "gone-soon" }),
    )
    .await;
    assert_eq!(app.follow("gone-soon").await.status(), 302);

    let response = request(&app, &ada, Method::DELETE, "/api/links/gone-soon")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_problem(app.follow("gone-soon").await, 404, "not_found").await;
    assert_problem(app.stats("gone-soon").await, 404, "not_found").await;
    let again = request(&app, &ada, Method::DELETE, "/api/links/gone-soon")
        .send()
        .await
        .unwrap();
    assert_problem(again, 404, "not_found").await;
    let page: Value = list(&app, &ada, "").await.json().await.unwrap();
    assert!(codes(&page).is_empty());

    // Nobody gets the code again, as an alias or from the generator.
    let response = app
        .shorten(json!({ "long_url": "https://stranger.example/", "alias": "gone-soon" }))
        .await;
    assert_problem(response, 409, "alias_taken").await;
}

#[tokio::test]
async fn keys_are_listed_without_their_secret_and_revoked_by_their_owner_only() {
    let app = TestApp::spawn().await;
    let ada = user(&app, "ada", Role::User).await;
    let bob = user(&app, "bob", Role::User).await;
    let (key, created) = new_key(&app, &ada, "deploy").await;
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("usk_"));
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["last_used_at"], Value::Null);

    create(&app, &key, json!({ "long_url": "https://example.com/k" })).await;
    let listed = request(&app, &ada, Method::GET, "/api/keys")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!listed.contains(&secret[4..]), "{listed}");
    let listed: Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed["keys"][0]["id"], id.as_str());
    assert_eq!(listed["keys"][0]["prefix"], "usk_");
    assert!(listed["keys"][0]["last_used_at"].is_string(), "{listed}");
    let theirs: Value = request(&app, &bob, Method::GET, "/api/keys")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["keys"], json!([]));

    let response = request(&app, &bob, Method::DELETE, &format!("/api/keys/{id}"))
        .send()
        .await
        .unwrap();
    assert_problem(response, 404, "not_found").await;
    let response = request(&app, &ada, Method::DELETE, &format!("/api/keys/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let refused = request(&app, &key, Method::POST, "/shorten")
        .json(&json!({ "long_url": "https://example.com/after" }))
        .send()
        .await
        .unwrap();
    assert_problem(refused, 401, "unauthorized").await;
    assert_problem(
        request(&app, &key, Method::GET, "/api/me")
            .send()
            .await
            .unwrap(),
        401,
        "unauthorized",
    )
    .await;

    let bad = request(&app, &ada, Method::POST, "/api/keys")
        .json(&json!({ "name": "" }))
        .send()
        .await
        .unwrap();
    assert_problem(bad, 400, "invalid_request").await;
}

#[tokio::test]
async fn an_operators_key_from_before_accounts_keeps_working_as_the_administrators() {
    let app = TestApp::builder()
        .settings(|s| s.auth.anonymous_create = Some(false))
        .spawn()
        .await;
    let (secret, _) = app.state.guards.keys.create("legacy", None).await.unwrap();
    let legacy = Auth::Key(secret.expose().to_owned());

    // No administrator yet: it creates (unowned) links as before, and is nobody.
    create(
        &app,
        &legacy,
        json!({ "long_url": "https://example.com/early" }),
    )
    .await;
    assert_problem(
        request(&app, &legacy, Method::GET, "/api/me")
            .send()
            .await
            .unwrap(),
        401,
        "unauthorized",
    )
    .await;

    user(&app, "root", Role::Admin).await;
    // "No administrator" is believed for a minute before the users are listed again.
    app.clock.advance_millis(61_000);
    let me: Value = request(&app, &legacy, Method::GET, "/api/me")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["user"]["username"], "root");
    assert_eq!(me["authenticated_by"], "api_key");
    create(
        &app,
        &legacy,
        json!({ "long_url": "https://example.com/late", "alias": "late" }),
    )
    .await;
    let page: Value = list(&app, &legacy, "").await.json().await.unwrap();
    assert_eq!(codes(&page), ["late"]);
}
