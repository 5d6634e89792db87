//! Link health through the service and over HTTP: a check asked for by the owner, who else may
//! ask, the summary in `/stats` and the history; the broken rule across simulated days (manual
//! clock); the schedule (first check after a minute, the next a round later); two checkers on
//! one store checking each link once per round; and a destination that resolves to a forbidden
//! address recorded `blocked` with no connection to it.

use crate::common;

use std::net::IpAddr;
use std::sync::Arc;

use common::dns::FakeDns;
use common::fixture::{CountingListener, Destination};
use common::{BASE_URL, TestApp};
use serde_json::{Value, json};
use url_shortener::domain::{Clock, Role};
use url_shortener::repository::{AccountStores, MemoryRepository, Repository};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// An app on a memory store with link health on, asking `dns`; `allow_private` as given.
async fn app(dns: &FakeDns, allow_private: bool) -> (TestApp, Arc<MemoryRepository>) {
    let store = Arc::new(MemoryRepository::new());
    let dns_server = dns.addr.to_string();
    let app = TestApp::builder()
        .repo(store.clone())
        .accounts(AccountStores::of(store.clone()))
        .clicks(store.clone())
        .link_health(store.clone())
        .settings(move |s| {
            s.security.allow_private_destinations = allow_private;
            s.link_health.dns_servers = vec![dns_server];
            s.link_health.min_host_interval_ms = 0;
            s.link_health.timeout_ms = 2000;
        })
        .spawn()
        .await;
    (app, store)
}

async fn check(app: &TestApp, cookie: Option<&str>, code: &str) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url(&format!("/api/links/{code}/check")))
        .header("origin", BASE_URL);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request.send().await.unwrap()
}

async fn stats(app: &TestApp, code: &str) -> Value {
    app.stats(code).await.json().await.unwrap()
}

#[tokio::test]
async fn the_owner_asks_for_a_check_and_stats_show_it() {
    let site = Destination::start("127.0.0.1").await;
    let dns = FakeDns::start(&[("site.test", &[ip("127.0.0.1")])]).await;
    let (app, _) = app(&dns, true).await;
    let alice = app.login_as("alice", Role::User).await;
    let bob = app.login_as("bob", Role::User).await;
    let code = app
        .create_link(&alice, &format!("http://site.test:{}/ok", site.addr.port()))
        .await;

    assert_eq!(stats(&app, &code).await["health"]["status"], "unchecked");
    let response = check(&app, Some(&alice), &code).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["outcome"], "ok");
    assert_eq!(body["http_status"], 200);
    assert_eq!(body["checks"].as_array().unwrap().len(), 1);

    let health = &stats(&app, &code).await["health"];
    assert_eq!(health["status"], "healthy");
    assert!(health["checked_at"].is_string());
    assert!(health["broken_since"].is_null());

    // Someone else's link is not there for them; nobody at all is asked to log in.
    assert_eq!(check(&app, Some(&bob), &code).await.status(), 404);
    assert_eq!(check(&app, None, &code).await.status(), 401);
    // A form posted from another site with the owner's cookie is refused.
    let forged = app
        .client
        .post(app.url(&format!("/api/links/{code}/check")))
        .header("cookie", &alice)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    // An administrator may check anyone's link.
    let admin = app.login_as("root", Role::Admin).await;
    assert_eq!(check(&app, Some(&admin), &code).await.status(), 200);
    let history: Value = app
        .get(&format!("/stats/{code}/health"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(history["checks"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn failures_over_a_day_make_a_link_broken_and_one_success_clears_it() {
    let site = Destination::start("127.0.0.1").await;
    let dns = FakeDns::start(&[("site.test", &[ip("127.0.0.1")])]).await;
    let (app, _) = app(&dns, true).await;
    let alice = app.login_as("alice", Role::User).await;
    let url = |path: &str| format!("http://site.test:{}{path}", site.addr.port());
    let code = app.create_link(&alice, &url("/broken")).await;

    for hours in [0, 12] {
        app.clock.advance_millis((hours * 3600) * 1000);
        let body: Value = check(&app, Some(&alice), &code).await.json().await.unwrap();
        assert_eq!(body["status"], "failing", "after {hours} h");
        assert_eq!(body["outcome"], "server_error");
    }
    app.clock.advance_millis((12 * 3600) * 1000);
    let body: Value = check(&app, Some(&alice), &code).await.json().await.unwrap();
    assert_eq!(body["status"], "broken");
    let broken_since = body["broken_since"].as_str().unwrap().to_owned();
    assert_eq!(stats(&app, &code).await["health"]["status"], "broken");
    let broken = app
        .state
        .link_health
        .as_ref()
        .unwrap()
        .store()
        .broken_links(10)
        .await
        .unwrap();
    assert_eq!(broken.len(), 1);

    // The owner fixes the destination: the next check clears it.
    let patched = app
        .client
        .patch(app.url(&format!("/api/links/{code}")))
        .header("cookie", &alice)
        .header("origin", BASE_URL)
        .json(&json!({ "long_url": url("/ok") }))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    app.clock.advance_millis((3600) * 1000);
    let body: Value = check(&app, Some(&alice), &code).await.json().await.unwrap();
    assert_eq!(body["status"], "healthy");
    assert!(body["broken_since"].is_null());
    let history = body["checks"].as_array().unwrap();
    assert_eq!(history.len(), 4);
    assert_eq!(history[0]["outcome"], "ok", "newest first");
    assert_ne!(broken_since, "");
}

#[tokio::test]
async fn a_new_link_is_checked_after_a_minute_and_again_a_round_later() {
    let site = Destination::start("127.0.0.1").await;
    let dns = FakeDns::start(&[("site.test", &[ip("127.0.0.1")])]).await;
    let (app, _) = app(&dns, true).await;
    let alice = app.login_as("alice", Role::User).await;
    let code = app
        .create_link(&alice, &format!("http://site.test:{}/ok", site.addr.port()))
        .await;
    let health = app.state.link_health.clone().unwrap();

    assert_eq!(health.run_round().await.unwrap(), 0, "too new");
    app.clock.advance_millis((61) * 1000);
    assert_eq!(health.run_round().await.unwrap(), 1);
    assert_eq!(health.run_round().await.unwrap(), 0, "checked this round");
    assert_eq!(stats(&app, &code).await["health"]["status"], "healthy");
    // The next check comes one interval (24 h) later, give or take 5% of jitter: not yet at
    // 22 h, due by 26 h whatever the jitter drew.
    app.clock.advance_millis((22 * 3600) * 1000);
    assert_eq!(
        health.run_round().await.unwrap(),
        0,
        "not due before the interval"
    );
    app.clock.advance_millis((4 * 3600) * 1000);
    assert_eq!(health.run_round().await.unwrap(), 1);
    assert_eq!(site.seen().len(), 2);
}

#[tokio::test]
async fn two_checkers_on_one_store_check_each_link_once_per_round() {
    let site = Destination::start("127.0.0.1").await;
    let dns = FakeDns::start(&[("site.test", &[ip("127.0.0.1")])]).await;
    let (first, store) = app(&dns, true).await;
    // A second instance on the same store, with its own checker.
    let dns_server = dns.addr.to_string();
    let second = TestApp::builder()
        .repo(store.clone())
        .accounts(AccountStores::of(store.clone()))
        .clicks(store.clone())
        .link_health(store.clone())
        .settings(move |s| {
            s.security.allow_private_destinations = true;
            s.link_health.dns_servers = vec![dns_server];
            s.link_health.min_host_interval_ms = 0;
        })
        .spawn()
        .await;
    let alice = first.login_as("alice", Role::User).await;
    for i in 0..40 {
        first
            .create_link(
                &alice,
                &format!("http://site.test:{}/ok?n={i}", site.addr.port()),
            )
            .await;
    }
    // Both clocks past the first-check delay (they are separate manual clocks).
    first.clock.advance_millis((61) * 1000);
    second.clock.advance_millis((61) * 1000);
    let (a, b) = (
        first.state.link_health.clone().unwrap(),
        second.state.link_health.clone().unwrap(),
    );
    let mut checked = 0;
    loop {
        let (x, y) = tokio::join!(a.run_round(), b.run_round());
        let round = x.unwrap() + y.unwrap();
        if round == 0 {
            break;
        }
        checked += round;
    }
    assert_eq!(checked, 40);
    assert_eq!(site.seen().len(), 40, "each link once");
    assert_eq!(store.len(), 40);
    let _ = first.clock.now();
}

#[tokio::test]
async fn a_destination_that_resolves_inside_is_blocked_with_no_connection() {
    let trap = CountingListener::start("127.0.0.2").await;
    let dns = FakeDns::start(&[("inside.test", &[ip("127.0.0.2")])]).await;
    let (app, _) = app(&dns, false).await;
    let alice = app.login_as("alice", Role::User).await;
    // Creation never resolves a name: the link is accepted.
    let code = app
        .create_link(&alice, &format!("http://inside.test:{}/", trap.addr.port()))
        .await;
    let body: Value = check(&app, Some(&alice), &code).await.json().await.unwrap();
    assert_eq!(body["outcome"], "blocked");
    assert_eq!(body["status"], "failing");
    assert_eq!(trap.attempts(), 0);
    // The scheduled checker refuses it the same way (due again within 24 h + 5% jitter).
    app.clock.advance_millis((26 * 3600) * 1000);
    assert_eq!(
        app.state
            .link_health
            .clone()
            .unwrap()
            .run_round()
            .await
            .unwrap(),
        1
    );
    assert_eq!(trap.attempts(), 0);
    let _: &dyn Repository = app.repo.as_ref();
}
