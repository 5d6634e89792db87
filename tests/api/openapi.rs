//! The OpenAPI document served at `/openapi.json` describes what the server really answers:
//! every response a scenario provokes must be documented for its path, method and status, with
//! its media type, its documented headers, and a body valid under the documented JSON Schema
//! with no undocumented properties.

use crate::common;

use std::sync::Arc;

use common::TestApp;
use common::doubles::DownRepository;
use reqwest::{Method, Response};
use serde_json::{Map, Value, json};

/// The schema at `pointer` (following `$ref`s into `doc`).
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let target = doc
                .pointer(reference.trim_start_matches('#'))
                .unwrap_or_else(|| panic!("dangling $ref {reference}"));
            resolve(doc, target)
        }
        None => schema,
    }
}

/// Fails on any object property the schema does not declare.
fn assert_no_undocumented_fields(doc: &Value, schema: &Value, body: &Value, at: &str) {
    let schema = resolve(doc, schema);
    if let (Some(props), Some(object)) = (schema.get("properties"), body.as_object()) {
        for (key, value) in object {
            let declared = props
                .get(key)
                .unwrap_or_else(|| panic!("{at}: field '{key}' is not documented"));
            assert_no_undocumented_fields(doc, declared, value, &format!("{at}.{key}"));
        }
    }
}

struct Conformance {
    doc: Value,
}

impl Conformance {
    async fn load(app: &TestApp) -> Self {
        let response = app.get("/openapi.json").await;
        assert_eq!(response.status(), 200);
        let doc: Value = response.json().await.unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        Self { doc }
    }

    /// Checks one real response against the document.
    async fn check(&self, method: Method, template: &str, response: Response) {
        let status = response.status().as_u16().to_string();
        let operation = &self.doc["paths"][template][method.as_str().to_lowercase()];
        assert!(
            operation.is_object(),
            "{method} {template} is not documented"
        );
        let documented = &operation["responses"][&status];
        assert!(
            documented.is_object(),
            "{method} {template} answered {status}, which is not documented"
        );
        if let Some(headers) = documented.get("headers").and_then(Value::as_object) {
            for name in headers.keys() {
                assert!(
                    response.headers().contains_key(name.as_str()),
                    "{method} {template} {status}: documented header {name} missing"
                );
            }
        }
        let media = response.headers().get("content-type").map(|v| {
            v.to_str()
                .unwrap()
                .split(';')
                .next()
                .unwrap()
                .trim()
                .to_owned()
        });
        let body = response.bytes().await.unwrap();
        let Some(content) = documented.get("content").and_then(Value::as_object) else {
            assert!(
                body.is_empty(),
                "{method} {template} {status}: undocumented body"
            );
            return;
        };
        let media =
            media.unwrap_or_else(|| panic!("{method} {template} {status}: no content type"));
        let entry = content.get(&media).unwrap_or_else(|| {
            panic!("{method} {template} {status}: media type {media} undocumented")
        });
        if !media.ends_with("json") || method == Method::HEAD {
            return;
        }
        let instance: Value = serde_json::from_slice(&body).unwrap();
        let mut root = Map::new();
        root.insert("components".into(), self.doc["components"].clone());
        for (k, v) in entry["schema"].as_object().unwrap() {
            root.insert(k.clone(), v.clone());
        }
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(&Value::Object(root))
            .unwrap();
        if let Err(error) = validator.validate(&instance) {
            panic!("{method} {template} {status}: body {instance} violates the schema: {error}");
        }
        assert_no_undocumented_fields(&self.doc, &entry["schema"], &instance, template);
    }
}

async fn send(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> Response {
    let mut request = app.client.request(method, app.url(path));
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn every_answer_of_a_healthy_server_is_documented() {
    let app = TestApp::spawn().await;
    let api = Conformance::load(&app).await;
    let created =
        json!({ "long_url": "https://example.com/a", "ttl_seconds": 60, "alias": "doc-alias" });

    api.check(
        Method::POST,
        "/shorten",
        send(&app, Method::POST, "/shorten", Some(created.clone())).await,
    )
    .await;
    api.check(
        Method::POST,
        "/shorten",
        send(&app, Method::POST, "/shorten", Some(created)).await,
    )
    .await; // 409
    api.check(
        Method::POST,
        "/shorten",
        send(
            &app,
            Method::POST,
            "/shorten",
            Some(json!({ "long_url": "ftp://x" })),
        )
        .await,
    )
    .await; // 400
    api.check(
        Method::POST,
        "/shorten",
        app.shorten_raw(Some("text/plain"), b"x".to_vec()).await,
    )
    .await; // 415
    api.check(
        Method::POST,
        "/shorten",
        app.shorten_raw(Some("application/json"), vec![b' '; 20_000])
            .await,
    )
    .await; // 413
    api.check(Method::GET, "/s/{code}", app.follow("doc-alias").await)
        .await;
    api.check(Method::HEAD, "/s/{code}", app.head("doc-alias").await)
        .await;
    api.check(Method::GET, "/s/{code}", app.follow("unknown1").await)
        .await;
    api.check(Method::HEAD, "/s/{code}", app.head("unknown1").await)
        .await;
    let html = app
        .client
        .get(app.url("/s/unknown2"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    api.check(Method::GET, "/s/{code}", html).await;
    api.check(Method::GET, "/stats/{code}", app.stats("doc-alias").await)
        .await;
    api.check(Method::GET, "/stats/{code}", app.stats("unknown1").await)
        .await;
    for path in ["/health", "/health/live", "/health/ready"] {
        api.check(Method::GET, path, app.get(path).await).await;
    }
    api.check(Method::GET, "/metrics", app.get("/metrics").await)
        .await;
    api.check(Method::GET, "/openapi.json", app.get("/openapi.json").await)
        .await;
}

#[tokio::test]
async fn failure_answers_are_documented_too() {
    let down = TestApp::builder()
        .repo(Arc::new(DownRepository))
        .spawn()
        .await;
    let api = Conformance::load(&down).await;
    let body = Some(json!({ "long_url": "https://example.com/" }));
    api.check(
        Method::POST,
        "/shorten",
        send(&down, Method::POST, "/shorten", body.clone()).await,
    )
    .await;
    api.check(Method::GET, "/s/{code}", down.follow("anycode").await)
        .await;
    api.check(Method::HEAD, "/s/{code}", down.head("anycode").await)
        .await;
    api.check(Method::GET, "/stats/{code}", down.stats("anycode").await)
        .await;
    api.check(Method::GET, "/health", down.get("/health").await)
        .await;
    api.check(
        Method::GET,
        "/health/ready",
        down.get("/health/ready").await,
    )
    .await;

    let guarded = TestApp::builder()
        .settings(|s| {
            s.auth.anonymous_create = Some(false);
            s.rate_limit.enabled = true;
            s.rate_limit.not_found_burst = 1;
            s.rate_limit.not_found_per_minute = 1;
        })
        .spawn()
        .await;
    api.check(
        Method::POST,
        "/shorten",
        send(&guarded, Method::POST, "/shorten", body).await,
    )
    .await; // 401
    api.check(Method::GET, "/s/{code}", guarded.follow("missing1").await)
        .await; // 404
    api.check(Method::GET, "/s/{code}", guarded.follow("missing2").await)
        .await; // 429
    api.check(
        Method::GET,
        "/stats/{code}",
        guarded.stats("missing3").await,
    )
    .await; // 429
}

#[tokio::test]
async fn the_request_schema_refuses_what_the_server_refuses() {
    let app = TestApp::spawn().await;
    let api = Conformance::load(&app).await;
    let schema = resolve(
        &api.doc,
        &api.doc["components"]["schemas"]["ShortenRequest"],
    );
    assert_eq!(schema["additionalProperties"], false, "{schema}");
    assert_eq!(schema["required"], json!(["long_url"]));
    let codes = resolve(&api.doc, &api.doc["components"]["schemas"]["Problem"])["properties"]["code"]
        ["enum"]
        .clone();
    let table: Vec<&str> = url_shortener::http::ERRORS
        .iter()
        .map(|row| row.code)
        .collect();
    assert_eq!(
        codes,
        json!(table),
        "the Problem schema's codes are the error table's"
    );
}

/// Like [`send`], as a logged-in browser (the cookie, our origin) or with an API key.
async fn send_as(
    app: &TestApp,
    auth: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Response {
    let mut request = app.client.request(method, app.url(path));
    request = if let Some(key) = auth.strip_prefix("key:") {
        request.bearer_auth(key)
    } else {
        request
            .header("cookie", auth)
            .header("origin", common::BASE_URL)
    };
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn every_route_the_router_serves_is_documented() {
    let app = TestApp::spawn().await;
    let api = Conformance::load(&app).await;
    for route in url_shortener::http::routes::API {
        // OpenAPI has no catch-all: `{*rest}` is documented as `{rest}`.
        let route = &route.replace("{*", "{");
        assert!(
            api.doc["paths"][route].is_object(),
            "{route} is served but not in the OpenAPI document"
        );
    }
}

#[tokio::test]
async fn the_account_link_and_key_answers_are_documented() {
    let app = TestApp::spawn().await;
    let api = Conformance::load(&app).await;
    let password = "correct horse battery";
    app.state
        .accounts
        .create_user("root", password, None, url_shortener::domain::Role::Admin)
        .await
        .unwrap();
    let login = |name: &'static str, password: &'static str| {
        send(
            &app,
            Method::POST,
            "/api/session",
            Some(json!({ "username": name, "password": password })),
        )
    };
    api.check(
        Method::POST,
        "/api/session",
        login("root", "wrong password!!").await,
    )
    .await; // 401
    let response = login("root", "correct horse battery").await;
    let root = common::session_cookie(&response).expect("a session cookie");
    api.check(Method::POST, "/api/session", response).await; // 200
    api.check(Method::GET, "/api/me", app.get("/api/me").await)
        .await; // 401
    api.check(
        Method::GET,
        "/api/me",
        send_as(&app, &root, Method::GET, "/api/me", None).await,
    )
    .await;

    let user = json!({ "username": "ada", "password": password });
    for _ in 0..2 {
        // 201, then 409
        let response = send_as(&app, &root, Method::POST, "/api/users", Some(user.clone())).await;
        api.check(Method::POST, "/api/users", response).await;
    }
    let bad = json!({ "username": "a", "password": password });
    api.check(
        Method::POST,
        "/api/users",
        send_as(&app, &root, Method::POST, "/api/users", Some(bad)).await,
    )
    .await; // 400
    api.check(
        Method::GET,
        "/api/users",
        send_as(&app, &root, Method::GET, "/api/users", None).await,
    )
    .await;
    for (who, change) in [
        ("ada", json!({ "role": "user" })),
        ("nobody", json!({})),
        ("root", json!({ "disabled": true })),
    ] {
        // 200, 404, 409
        let path = format!("/api/users/{who}");
        api.check(
            Method::PATCH,
            "/api/users/{username}",
            send_as(&app, &root, Method::PATCH, &path, Some(change)).await,
        )
        .await;
    }
    let response = send_as(
        &app,
        &root,
        Method::POST,
        "/api/invites",
        Some(json!({ "role": "user" })),
    )
    .await;
    let invite: Value = {
        let bytes = response.bytes().await.unwrap();
        serde_json::from_slice(&bytes).unwrap()
    };
    let again = send_as(&app, &root, Method::POST, "/api/invites", Some(json!({}))).await;
    api.check(Method::POST, "/api/invites", again).await;
    api.check(
        Method::GET,
        "/api/invites",
        send_as(&app, &root, Method::GET, "/api/invites", None).await,
    )
    .await;
    let signup = |invite: Option<&str>| {
        send(
            &app,
            Method::POST,
            "/api/signup",
            Some(json!({ "username": "bob", "password": password, "invite": invite })),
        )
    };
    api.check(Method::POST, "/api/signup", signup(None).await)
        .await; // 403
    api.check(Method::POST, "/api/signup", signup(Some("bogus")).await)
        .await; // 400
    let response = signup(invite["token"].as_str()).await;
    let bob = common::session_cookie(&response).expect("a session cookie");
    api.check(Method::POST, "/api/signup", response).await; // 201
    let ada = common::session_cookie(&login("ada", "correct horse battery").await)
        .expect("a session cookie");
    api.check(
        Method::GET,
        "/api/users",
        send_as(&app, &ada, Method::GET, "/api/users", None).await,
    )
    .await; // 403

    // Keys.
    let response = send_as(
        &app,
        &ada,
        Method::POST,
        "/api/keys",
        Some(json!({ "name": "ci" })),
    )
    .await;
    let created: Value = response.json().await.unwrap();
    let key = format!("key:{}", created["secret"].as_str().unwrap());
    let id = created["id"].as_str().unwrap().to_owned();
    api.check(
        Method::POST,
        "/api/keys",
        send_as(
            &app,
            &ada,
            Method::POST,
            "/api/keys",
            Some(json!({ "name": "second" })),
        )
        .await,
    )
    .await; // 201
    api.check(
        Method::POST,
        "/api/keys",
        send_as(
            &app,
            &ada,
            Method::POST,
            "/api/keys",
            Some(json!({ "name": "" })),
        )
        .await,
    )
    .await; // 400
    api.check(
        Method::GET,
        "/api/keys",
        send_as(&app, &key, Method::GET, "/api/keys", None).await,
    )
    .await;

    // Links.
    let made = send_as(
        &app,
        &key,
        Method::POST,
        "/shorten",
        Some(json!({ "long_url": "https://example.com/", "alias": "ada-doc" })),
    )
    .await;
    assert_eq!(made.status(), 201);
    for query in ["", "?limit=1&q=doc", "?limit=0"] {
        // 200, 200, 400
        api.check(
            Method::GET,
            "/api/links",
            send_as(&app, &ada, Method::GET, &format!("/api/links{query}"), None).await,
        )
        .await;
    }
    api.check(
        Method::GET,
        "/api/links",
        send_as(&app, &ada, Method::GET, "/api/links?owner=root", None).await,
    )
    .await; // 403
    api.check(
        Method::GET,
        "/api/links",
        send_as(&app, &root, Method::GET, "/api/links?owner=nobody", None).await,
    )
    .await; // 404
    for path in ["/api/links/ada-doc", "/api/links/nothing"] {
        api.check(
            Method::GET,
            "/api/links/{code}",
            send_as(&app, &ada, Method::GET, path, None).await,
        )
        .await;
    }
    for change in [
        json!({ "long_url": "https://example.com/edited", "expires_at": "2026-06-01T00:00:00Z" }),
        json!({ "expires_at": "2020-01-01T00:00:00Z" }),
    ] {
        // 200, 400
        api.check(
            Method::PATCH,
            "/api/links/{code}",
            send_as(
                &app,
                &ada,
                Method::PATCH,
                "/api/links/ada-doc",
                Some(change),
            )
            .await,
        )
        .await;
    }
    api.check(
        Method::PATCH,
        "/api/links/{code}",
        send_as(
            &app,
            &bob,
            Method::PATCH,
            "/api/links/ada-doc",
            Some(json!({})),
        )
        .await,
    )
    .await; // 404
    let cross = app
        .client
        .delete(app.url("/api/links/ada-doc"))
        .header("cookie", &ada)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    api.check(Method::DELETE, "/api/links/{code}", cross).await; // 403
    for _ in 0..2 {
        // 204, 404
        api.check(
            Method::DELETE,
            "/api/links/{code}",
            send_as(&app, &ada, Method::DELETE, "/api/links/ada-doc", None).await,
        )
        .await;
    }
    let path = format!("/api/keys/{id}");
    api.check(
        Method::DELETE,
        "/api/keys/{id}",
        send_as(&app, &ada, Method::DELETE, &path, None).await,
    )
    .await; // 204
    api.check(
        Method::DELETE,
        "/api/keys/{id}",
        send_as(&app, &bob, Method::DELETE, &path, None).await,
    )
    .await; // 404

    // The caller's own account: 401 (wrong current), 400 (weak new), 204.
    for (current, new) in [
        ("wrong password!!", "a new long passphrase"),
        (password, "short"),
        (password, "a new long passphrase"),
    ] {
        let change = json!({ "current": current, "new": new });
        api.check(
            Method::POST,
            "/api/me/password",
            send_as(&app, &ada, Method::POST, "/api/me/password", Some(change)).await,
        )
        .await;
    }
    api.check(
        Method::DELETE,
        "/api/me/sessions",
        send_as(&app, &bob, Method::DELETE, "/api/me/sessions", None).await,
    )
    .await; // 204
    api.check(
        Method::DELETE,
        "/api/session",
        send_as(&app, &root, Method::DELETE, "/api/session", None).await,
    )
    .await; // 204
}

#[tokio::test]
async fn the_setup_answers_are_documented() {
    let app = TestApp::spawn().await;
    let api = Conformance::load(&app).await;
    let token = app.state.accounts.open_setup().await.unwrap().unwrap();
    let token = token.expose().to_owned();
    let attempt = |token: &str, name: &str| {
        send(
            &app,
            Method::POST,
            "/api/setup",
            Some(json!({ "token": token, "username": name, "password": "correct horse battery" })),
        )
    };
    api.check(Method::POST, "/api/setup", attempt("wrong", "root").await)
        .await; // 403
    api.check(Method::POST, "/api/setup", attempt(&token, "x").await)
        .await; // 400
    api.check(Method::POST, "/api/setup", attempt(&token, "root").await)
        .await; // 201
    let again = app.state.accounts.open_setup().await.unwrap();
    assert!(again.is_none());
    let late = TestApp::spawn().await;
    let token = late.state.accounts.open_setup().await.unwrap().unwrap();
    late.state
        .accounts
        .create_user(
            "root",
            "correct horse battery",
            None,
            url_shortener::domain::Role::Admin,
        )
        .await
        .unwrap();
    let response = send(
        &late,
        Method::POST,
        "/api/setup",
        Some(json!({ "token": token.expose(), "username": "other", "password": "correct horse battery" })),
    )
    .await;
    api.check(Method::POST, "/api/setup", response).await; // 409
}

/// schemathesis (installed by `scripts/test`, found through `URL_SHORTENER_SCHEMATHESIS`) runs
/// every check over the whole API of the release binary on SQLite, as an operator's key acting
/// for the first administrator, and finds no mismatch between the document and the answers.
/// Bounded: a fixed seed, deterministic generation and 40 examples per operation
/// (`tests/schemathesis/schemathesis.toml`), about 20 s.
#[tokio::test]
async fn schemathesis_finds_no_answer_the_document_does_not_describe() {
    let st = std::env::var("URL_SHORTENER_SCHEMATHESIS").expect(
        "URL_SHORTENER_SCHEMATHESIS is not set: run the suite with scripts/test, which installs \
         schemathesis, or point the variable at its `st`",
    );
    let dir = tempfile::tempdir().unwrap();
    let store = common::shared::Store::Sqlite;
    store.command_with_input(
        dir.path(),
        &["user", "create", "root", "--admin", "--password-stdin"],
        "root's long passphrase\n",
    );
    let created = store.command(dir.path(), &["api-key", "create", "--name", "schemathesis"]);
    let key = created
        .split_whitespace()
        .find(|word| word.starts_with("usk_"))
        .expect("the command prints the key")
        .to_owned();
    let server = common::process::start(dir.path(), &[]).await;
    let made = reqwest::Client::new()
        .post(format!("http://{}/shorten", server.addr))
        .json(&json!({ "long_url": "https://example.com/known", "alias": "st-known" }))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 201);

    let config = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/schemathesis/schemathesis.toml"
    );
    let run = tokio::process::Command::new(&st)
        .current_dir(dir.path())
        .env("URL_SHORTENER_ST_KEY", &key)
        .args([
            "--no-color",
            "--config-file",
            config,
            "run",
            "--checks",
            "all",
        ])
        .arg(format!("http://{}/openapi.json", server.addr))
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(600), run)
        .await
        .expect("schemathesis finishes within 10 minutes")
        .expect("schemathesis starts");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found mismatches:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary = report
        .lines()
        .find(|line| line.contains(" generated, "))
        .unwrap_or_default();
    println!("schemathesis: {}", summary.trim());
    assert!(summary.contains(" passed"), "{report}");
}
