//! Accounts over HTTP: login, sessions and their cookie, CSRF, password changes, signup with
//! invites, the administrators' endpoints, and login throttling. A real socket, the memory
//! store.

use crate::common;

use common::{BASE_URL, TestApp, assert_problem, session_cookie};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{Value, json};
use url_shortener::domain::Role;

const PASSWORD: &str = "correct horse battery";

/// A browser's session: the cookie, sent with this site's `Origin` on state changes.
#[derive(Clone)]
struct Session {
    cookie: String,
}

async fn add_user(app: &TestApp, name: &str, role: Role) {
    app.state
        .accounts
        .create_user(name, PASSWORD, None, role)
        .await
        .unwrap();
}

async fn login_as(app: &TestApp, name: &str, password: &str) -> Response {
    app.client
        .post(app.url("/api/session"))
        .json(&json!({ "username": name, "password": password }))
        .send()
        .await
        .unwrap()
}

async fn log_in(app: &TestApp, name: &str) -> Session {
    let response = login_as(app, name, PASSWORD).await;
    assert_eq!(response.status(), 200, "logging in as {name}");
    Session {
        cookie: session_cookie(&response).expect("a session cookie"),
    }
}

/// A request with the session cookie, sent from our own origin as a browser would.
fn as_browser(app: &TestApp, session: &Session, method: Method, path: &str) -> RequestBuilder {
    app.client
        .request(method, app.url(path))
        .header("cookie", &session.cookie)
        .header("origin", BASE_URL)
        .header("sec-fetch-site", "same-origin")
}

async fn me(app: &TestApp, session: &Session) -> Response {
    as_browser(app, session, Method::GET, "/api/me")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn login_sets_a_host_prefixed_http_only_cookie_and_me_knows_the_user() {
    let app = TestApp::spawn().await;
    add_user(&app, "ada", Role::User).await;

    let response = login_as(&app, "Ada", PASSWORD).await;
    assert_eq!(response.status(), 200);
    let set = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    for part in [
        "__Host-session=",
        "Path=/",
        "HttpOnly",
        "Secure",
        "SameSite=Lax",
    ] {
        assert!(set.contains(part), "{set} lacks {part}");
    }
    assert!(!set.contains("Domain"), "{set}");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["user"]["username"], "ada");
    assert_eq!(body["user"]["role"], "user");
    assert!(!body.to_string().contains("argon2"), "{body}");

    let session = Session {
        cookie: set.split(';').next().unwrap().to_owned(),
    };
    let response = me(&app, &session).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["user"]["username"], "ada");
    assert_eq!(body["authenticated_by"], "session");
}

#[tokio::test]
async fn every_login_issues_a_new_session() {
    let app = TestApp::spawn().await;
    add_user(&app, "ada", Role::User).await;
    let first = log_in(&app, "ada").await;
    let second = log_in(&app, "ada").await;
    assert_ne!(first.cookie, second.cookie);
    assert_eq!(me(&app, &first).await.status(), 200);
    assert_eq!(me(&app, &second).await.status(), 200);
}

#[tokio::test]
async fn unknown_user_wrong_password_and_disabled_account_get_one_identical_answer() {
    let app = TestApp::spawn().await;
    add_user(&app, "ada", Role::User).await;
    add_user(&app, "bob", Role::User).await;
    app.state
        .accounts
        .update_account("bob", None, Some(true))
        .await
        .unwrap();

    let mut bodies = Vec::new();
    for (name, password) in [
        ("nobody", PASSWORD),
        ("ada", "wrong password!!"),
        ("bob", PASSWORD),
        ("x", "short"),
    ] {
        let response = login_as(&app, name, password).await;
        assert!(response.headers().get("set-cookie").is_none());
        bodies.push(assert_problem(response, 401, "invalid_credentials").await);
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:?}");
}

#[tokio::test]
async fn a_missing_or_bogus_cookie_is_unauthorized() {
    let app = TestApp::spawn().await;
    assert_problem(app.get("/api/me").await, 401, "unauthorized").await;
    for cookie in [
        "__Host-session=",
        "__Host-session=not-a-token",
        "__Host-session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        let response = app
            .client
            .get(app.url("/api/me"))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        assert_problem(response, 401, "unauthorized").await;
    }
}

#[tokio::test]
async fn logout_ends_the_session_and_clears_the_cookie() {
    let app = TestApp::spawn().await;
    add_user(&app, "ada", Role::User).await;
    let session = log_in(&app, "ada").await;

    let response = as_browser(&app, &session, Method::DELETE, "/api/session")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let set = response.headers()["set-cookie"].to_str().unwrap();
    assert!(set.contains("Max-Age=0"), "{set}");
    assert_problem(me(&app, &session).await, 401, "unauthorized").await;
}

#[tokio::test]
async fn cookie_authenticated_changes_from_other_origins_are_refused() {
    let app = TestApp::spawn().await;
    add_user(&app, "ada", Role::User).await;
    let session = log_in(&app, "ada").await;

    let cross: [&[(&str, &str)]; 4] = [
        &[],
        &[("origin", "https://evil.example")],
        &[("sec-fetch-site", "cross-site")],
        &[
            ("sec-fetch-site", "same-site"),
            ("origin", "https://a.sho.rt"),
        ],
    ];
    for headers in cross {
        for (method, path) in [
            (Method::DELETE, "/api/me/sessions"),
            (Method::DELETE, "/api/session"),
            (Method::POST, "/shorten"),
        ] {
            let mut request = app
                .client
                .request(method.clone(), app.url(path))
                .header("cookie", &session.cookie)
                .json(&json!({ "long_url": "https://example.com/" }));
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            let response = request.send().await.unwrap();
            assert_problem(response, 403, "csrf_rejected").await;
        }
    }
    // Reads need no proof, and the session survived every refused attempt.
    let response = app
        .client
        .get(app.url("/api/me"))
        .header("cookie", &session.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // The exact origin alone is enough.
    let response = app
        .client
        .post(app.url("/shorten"))
        .header("cookie", &session.cookie)
        .header("origin", BASE_URL)
        .json(&json!({ "long_url": "https://example.com/" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
}

#[tokio::test]
async fn a_login_form_posted_by_another_site_is_refused() {
    let app = TestApp::spawn().await;
    add_user(&app, "ada", Role::User).await;
    let response = app
        .client
        .post(app.url("/api/session"))
        .header("origin", "https://evil.example")
        .json(&json!({ "username": "ada", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_problem(response, 403, "csrf_rejected").await;
}

#[tokio::test]
async fn changing_the_password_ends_the_other_sessions_only() {
    let app = TestApp::spawn().await;
    add_user(&app, "ada", Role::User).await;
    let here = log_in(&app, "ada").await;
    let elsewhere = log_in(&app, "ada").await;
    let new = "a much better passphrase";

    let wrong = as_browser(&app, &here, Method::POST, "/api/me/password")
        .json(&json!({ "current": "not my password", "new": new }))
        .send()
        .await
        .unwrap();
    assert_problem(wrong, 401, "invalid_credentials").await;
    let weak = as_browser(&app, &here, Method::POST, "/api/me/password")
        .json(&json!({ "current": PASSWORD, "new": "short" }))
        .send()
        .await
        .unwrap();
    assert_problem(weak, 400, "weak_password").await;
    assert_eq!(me(&app, &elsewhere).await.status(), 200);

    let changed = as_browser(&app, &here, Method::POST, "/api/me/password")
        .json(&json!({ "current": PASSWORD, "new": new }))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 204);
    assert_eq!(me(&app, &here).await.status(), 200);
    assert_problem(me(&app, &elsewhere).await, 401, "unauthorized").await;
    assert_problem(
        login_as(&app, "ada", PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(login_as(&app, "ada", new).await.status(), 200);
}

#[tokio::test]
async fn logging_out_everywhere_ends_every_session() {
    let app = TestApp::spawn().await;
    add_user(&app, "ada", Role::User).await;
    let sessions = [
        log_in(&app, "ada").await,
        log_in(&app, "ada").await,
        log_in(&app, "ada").await,
    ];
    let response = as_browser(&app, &sessions[0], Method::DELETE, "/api/me/sessions")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    for session in &sessions {
        assert_problem(me(&app, session).await, 401, "unauthorized").await;
    }
}

#[tokio::test]
async fn an_invite_creates_one_account_and_signs_it_in() {
    let app = TestApp::spawn().await;
    add_user(&app, "root", Role::Admin).await;
    let admin = log_in(&app, "root").await;

    let response = as_browser(&app, &admin, Method::POST, "/api/invites")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    let token = created["token"].as_str().unwrap().to_owned();
    assert_eq!(created["url"], format!("{BASE_URL}/invite/{token}"));
    assert_eq!(created["invite"]["created_by"], "root");

    let signup = |name: &'static str, invite: Option<String>| {
        let app = &app;
        async move {
            app.client
                .post(app.url("/api/signup"))
                .json(&json!({ "username": name, "password": PASSWORD, "invite": invite }))
                .send()
                .await
                .unwrap()
        }
    };
    let response = signup("grace", Some(token.clone())).await;
    assert_eq!(response.status(), 201);
    let session = Session {
        cookie: session_cookie(&response).expect("signed in"),
    };
    let body: Value = me(&app, &session).await.json().await.unwrap();
    assert_eq!(body["user"]["username"], "grace");

    assert_problem(signup("mallory", Some(token)).await, 400, "invalid_invite").await;
    assert_problem(
        signup("mallory", Some("bogus".into())).await,
        400,
        "invalid_invite",
    )
    .await;
    // The default `accounts.signup = "invite"`: no invite, no account.
    assert_problem(signup("mallory", None).await, 403, "signup_closed").await;

    let listed: Value = as_browser(&app, &admin, Method::GET, "/api/invites")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(listed["invites"][0]["used_at"].is_string(), "{listed}");
}

#[tokio::test]
async fn open_signup_needs_no_invite_and_closed_signup_takes_none() {
    let open = TestApp::builder()
        .settings(|s| s.accounts.signup = url_shortener::config::Signup::Open)
        .spawn()
        .await;
    let response = open
        .client
        .post(open.url("/api/signup"))
        .json(&json!({ "username": "ada", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let again = open
        .client
        .post(open.url("/api/signup"))
        .json(&json!({ "username": "ADA", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_problem(again, 409, "username_taken").await;

    let closed = TestApp::builder()
        .settings(|s| s.accounts.signup = url_shortener::config::Signup::Closed)
        .spawn()
        .await;
    let response = closed
        .client
        .post(closed.url("/api/signup"))
        .json(&json!({ "username": "ada", "password": PASSWORD, "invite": "x" }))
        .send()
        .await
        .unwrap();
    assert_problem(response, 403, "signup_closed").await;
}

#[tokio::test]
async fn only_administrators_manage_accounts() {
    let app = TestApp::spawn().await;
    add_user(&app, "root", Role::Admin).await;
    add_user(&app, "ada", Role::User).await;
    let admin = log_in(&app, "root").await;
    let user = log_in(&app, "ada").await;

    for (method, path) in [(Method::GET, "/api/users"), (Method::GET, "/api/invites")] {
        let response = as_browser(&app, &user, method, path).send().await.unwrap();
        assert_problem(response, 403, "forbidden").await;
    }
    let response = as_browser(&app, &user, Method::PATCH, "/api/users/ada")
        .json(&json!({ "role": "admin" }))
        .send()
        .await
        .unwrap();
    assert_problem(response, 403, "forbidden").await;

    let response = as_browser(&app, &admin, Method::POST, "/api/users")
        .json(&json!({ "username": "Grace", "password": PASSWORD, "role": "admin" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["user"]["username"], "grace");
    assert_eq!(body["user"]["role"], "admin");

    let listed: Value = as_browser(&app, &admin, Method::GET, "/api/users")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = listed["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["root", "ada", "grace"]);

    // Disabling an account ends its sessions at once.
    let response = as_browser(&app, &admin, Method::PATCH, "/api/users/ada")
        .json(&json!({ "disabled": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_problem(me(&app, &user).await, 401, "unauthorized").await;
    assert_problem(
        login_as(&app, "ada", PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;

    let response = as_browser(&app, &admin, Method::PATCH, "/api/users/nobody")
        .json(&json!({ "disabled": true }))
        .send()
        .await
        .unwrap();
    assert_problem(response, 404, "not_found").await;
}

#[tokio::test]
async fn the_last_administrator_cannot_step_down() {
    let app = TestApp::spawn().await;
    add_user(&app, "root", Role::Admin).await;
    let admin = log_in(&app, "root").await;
    for change in [json!({ "role": "user" }), json!({ "disabled": true })] {
        let response = as_browser(&app, &admin, Method::PATCH, "/api/users/root")
            .json(&change)
            .send()
            .await
            .unwrap();
        assert_problem(response, 409, "last_admin").await;
    }
    assert_eq!(me(&app, &admin).await.status(), 200);
}

#[tokio::test]
async fn bad_account_input_gets_a_stable_code() {
    let app = TestApp::spawn().await;
    add_user(&app, "root", Role::Admin).await;
    let admin = log_in(&app, "root").await;
    let long_name = "a".repeat(65);
    let long_display = "d".repeat(101);
    let cases = [
        (
            json!({ "username": "ab", "password": PASSWORD }),
            "invalid_username",
        ),
        (
            json!({ "username": long_name, "password": PASSWORD }),
            "invalid_username",
        ),
        (
            json!({ "username": "a b", "password": PASSWORD }),
            "invalid_username",
        ),
        (
            json!({ "username": "ok-name", "password": "short" }),
            "weak_password",
        ),
        (
            json!({ "username": "ok-name", "password": "p".repeat(257) }),
            "weak_password",
        ),
        (
            json!({ "username": "ok-name", "password": PASSWORD, "display_name": long_display }),
            "invalid_display_name",
        ),
        (
            json!({ "username": "ok-name", "password": PASSWORD, "role": "root" }),
            "invalid_request",
        ),
        (
            json!({ "username": "ok-name", "password": PASSWORD, "admin": true }),
            "invalid_request",
        ),
        (json!({ "username": "ok-name" }), "invalid_request"),
    ];
    for (body, code) in cases {
        let response = as_browser(&app, &admin, Method::POST, "/api/users")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_problem(response, 400, code).await;
    }
    let response = as_browser(&app, &admin, Method::POST, "/api/users")
        .json(&json!({ "username": "root", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_problem(response, 409, "username_taken").await;
}

#[tokio::test]
async fn failed_logins_are_throttled_per_client() {
    let app = TestApp::builder()
        .settings(|s| {
            s.rate_limit.enabled = true;
            s.rate_limit.login_burst = 3;
            s.rate_limit.logins_per_minute = 1;
        })
        .spawn()
        .await;
    add_user(&app, "ada", Role::User).await;
    for _ in 0..3 {
        assert_eq!(
            login_as(&app, "ada", "wrong password!!").await.status(),
            401
        );
    }
    let response = login_as(&app, "ada", PASSWORD).await;
    assert!(response.headers().contains_key("retry-after"));
    assert_problem(response, 429, "rate_limited").await;
}

#[tokio::test]
async fn failed_logins_are_throttled_per_account_and_a_success_gives_back() {
    let app = TestApp::builder()
        .settings(|s| {
            s.rate_limit.enabled = true;
            s.rate_limit.login_burst = 100;
            s.rate_limit.account_login_burst = 3;
            s.rate_limit.account_logins_per_minute = 1;
        })
        .spawn()
        .await;
    add_user(&app, "ada", Role::User).await;
    add_user(&app, "bob", Role::User).await;
    // Successes spend nothing of the account's budget.
    for _ in 0..5 {
        assert_eq!(login_as(&app, "ada", PASSWORD).await.status(), 200);
    }
    for _ in 0..3 {
        assert_eq!(
            login_as(&app, "ada", "wrong password!!").await.status(),
            401
        );
    }
    assert_problem(login_as(&app, "ADA", PASSWORD).await, 429, "rate_limited").await;
    // Another account is untouched.
    assert_eq!(login_as(&app, "bob", PASSWORD).await.status(), 200);
}

async fn setup(app: &TestApp, token: &str, name: &str) -> Response {
    app.client
        .post(app.url("/api/setup"))
        .json(&json!({ "token": token, "username": name, "password": PASSWORD }))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_first_run_token_creates_the_first_administrator_once() {
    let app = TestApp::spawn().await;
    let token = app
        .state
        .accounts
        .open_setup()
        .await
        .unwrap()
        .expect("no admin yet");
    let token = token.expose().to_owned();

    assert_problem(
        setup(&app, "wrong", "root").await,
        403,
        "invalid_setup_token",
    )
    .await;
    let other = url_shortener::domain::Token::generate();
    assert_problem(
        setup(&app, other.expose(), "root").await,
        403,
        "invalid_setup_token",
    )
    .await;
    assert_problem(setup(&app, &token, "x").await, 400, "invalid_username").await;

    let response = setup(&app, &token, "root").await;
    assert_eq!(response.status(), 201);
    let session = Session {
        cookie: session_cookie(&response).expect("logged in"),
    };
    let body: Value = me(&app, &session).await.json().await.unwrap();
    assert_eq!(body["user"]["role"], "admin");

    // Used up, and never opened again once an administrator exists.
    assert_problem(
        setup(&app, &token, "root2").await,
        403,
        "invalid_setup_token",
    )
    .await;
    assert!(app.state.accounts.open_setup().await.unwrap().is_none());
}

#[tokio::test]
async fn setup_is_done_once_an_administrator_exists_by_other_means() {
    let app = TestApp::spawn().await;
    let token = app.state.accounts.open_setup().await.unwrap().unwrap();
    add_user(&app, "root", Role::Admin).await;
    assert_problem(setup(&app, token.expose(), "late").await, 409, "setup_done").await;
    assert_problem(
        setup(&app, token.expose(), "late").await,
        403,
        "invalid_setup_token",
    )
    .await;
}

/// A key made with `session`: its secret.
async fn key_of(app: &TestApp, session: &Session) -> String {
    let made: Value = as_browser(app, session, Method::POST, "/api/keys")
        .json(&json!({ "name": "script" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    made["secret"].as_str().unwrap().to_owned()
}

async fn key_works(app: &TestApp, secret: &str) -> bool {
    let response = app
        .client
        .get(app.url("/api/me"))
        .bearer_auth(secret)
        .send()
        .await
        .unwrap();
    response.status() == 200
}

#[tokio::test]
async fn a_password_change_or_logging_out_everywhere_can_revoke_the_users_keys_too() {
    let app = TestApp::spawn().await;
    add_user(&app, "ada", Role::User).await;
    let session = log_in(&app, "ada").await;
    let kept = key_of(&app, &session).await;
    let new = "a much better passphrase";
    let changed = as_browser(&app, &session, Method::POST, "/api/me/password")
        .json(&json!({ "current": PASSWORD, "new": new }))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 204);
    assert!(key_works(&app, &kept).await, "keys stay unless asked");

    let revoked = key_of(&app, &session).await;
    let changed = as_browser(&app, &session, Method::POST, "/api/me/password")
        .json(&json!({ "current": new, "new": PASSWORD, "revoke_keys": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 204);
    assert!(!key_works(&app, &kept).await);
    assert!(!key_works(&app, &revoked).await);

    let last = key_of(&app, &session).await;
    let out = as_browser(
        &app,
        &session,
        Method::DELETE,
        "/api/me/sessions?revoke_keys=true",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(out.status(), 204);
    assert!(!key_works(&app, &last).await);
    assert_problem(me(&app, &session).await, 401, "unauthorized").await;
}
