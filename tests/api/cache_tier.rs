//! The shared cache tier (`cache.redis_url`) on a real Redis: instances that share a store and
//! a tier read a link from the store once between them; unknown codes are remembered and
//! forgotten when created; edits and deletes leave the tier at once; a dead or hung tier is
//! skipped, never a failed redirect.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::backends::{RedisScope, redis_url};
use common::doubles::InstrumentedRepository;
use common::proxy::{Mode, Proxy};
use common::{TestApp, assert_problem};
use serde_json::json;
use url_shortener::domain::{Role, ShortCode};
use url_shortener::repository::{LinkTier, MemoryRepository, RedisLinkTier, Repository, Tiered};
use url_shortener::service::SharedTier;

/// An instance on `repo` whose shared tier is Redis at `url` under `prefix`.
async fn instance(repo: &Arc<InstrumentedRepository>, url: &str, prefix: &str) -> TestApp {
    let tier = RedisLinkTier::connect(url, prefix, Duration::from_millis(200))
        .await
        .unwrap();
    TestApp::builder()
        .repo(repo.clone() as Arc<dyn Repository>)
        .shared_tier(SharedTier {
            tier: Arc::new(tier),
            ttl: Duration::from_secs(300),
            negative_ttl: Duration::from_secs(30),
        })
        .spawn()
        .await
}

/// Waits (at most 5 s) until the tier at `prefix` holds what `want` accepts for `code`. A read
/// of this checking client that times out (the suite loads the machine's Redis) is a "not yet",
/// not a verdict.
async fn tier_holds(prefix: &str, code: &str, want: impl Fn(&Option<Tiered>) -> bool) {
    let tier = RedisLinkTier::connect(&redis_url(), prefix, Duration::from_secs(1))
        .await
        .unwrap();
    let code = ShortCode::parse(code).unwrap();
    for _ in 0..500 {
        if tier.get(&code).await.is_ok_and(|entry| want(&entry)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the tier never held the expected entry for {code}");
}

fn store() -> Arc<InstrumentedRepository> {
    Arc::new(InstrumentedRepository::new(Arc::new(
        MemoryRepository::new(),
    )))
}

#[tokio::test]
async fn instances_sharing_a_tier_read_a_link_from_the_store_once_between_them() {
    let scope = RedisScope {
        prefix: format!("{}:", common::backends::unique("tier")),
    };
    let repo = store();
    let first = instance(&repo, &redis_url(), &scope.prefix).await;
    let response = first
        .shorten(json!({ "long_url": "https://example.com/hot", "alias": "hot-link" }))
        .await;
    assert_eq!(response.status(), 201);

    let before = repo.finds();
    assert_eq!(first.follow("hot-link").await.status(), 302);
    assert_eq!(
        repo.finds(),
        before + 1,
        "the first instance asks the store"
    );
    tier_holds(&scope.prefix, "hot-link", |t| {
        matches!(t, Some(Tiered::Link(_)))
    })
    .await;

    for _ in 0..3 {
        let other = instance(&repo, &redis_url(), &scope.prefix).await;
        let response = other.follow("hot-link").await;
        assert_eq!(response.status(), 302);
        assert_eq!(response.headers()["location"], "https://example.com/hot");
    }
    assert_eq!(
        repo.finds(),
        before + 1,
        "every other instance is served by the tier"
    );
}

#[tokio::test]
async fn an_unknown_code_is_remembered_until_it_is_created() {
    let scope = RedisScope {
        prefix: format!("{}:", common::backends::unique("tier")),
    };
    let repo = store();
    let first = instance(&repo, &redis_url(), &scope.prefix).await;
    assert_problem(first.follow("later-link").await, 404, "not_found").await;
    tier_holds(&scope.prefix, "later-link", |t| {
        matches!(t, Some(Tiered::Missing))
    })
    .await;
    let finds = repo.finds();
    let second = instance(&repo, &redis_url(), &scope.prefix).await;
    assert_problem(second.follow("later-link").await, 404, "not_found").await;
    assert_eq!(repo.finds(), finds, "the tier remembers the miss");

    let created = second
        .shorten(json!({ "long_url": "https://example.com/now", "alias": "later-link" }))
        .await;
    assert_eq!(created.status(), 201);
    // The create removed the tier's negative entry before it answered.
    let third = instance(&repo, &redis_url(), &scope.prefix).await;
    assert_eq!(third.follow("later-link").await.status(), 302);
}

#[tokio::test]
async fn an_edit_or_a_delete_leaves_the_tier_at_once() {
    let scope = RedisScope {
        prefix: format!("{}:", common::backends::unique("tier")),
    };
    let repo = store();
    let first = instance(&repo, &redis_url(), &scope.prefix).await;
    first
        .state
        .accounts
        .create_user("ada", "correct horse battery", None, Role::User)
        .await
        .unwrap();
    let login = first
        .client
        .post(first.url("/api/session"))
        .json(&json!({ "username": "ada", "password": "correct horse battery" }))
        .send()
        .await
        .unwrap();
    let cookie = common::session_cookie(&login).expect("a session cookie");
    let send = |method: reqwest::Method, path: &str| {
        first
            .client
            .request(method, first.url(path))
            .header("cookie", &cookie)
            .header("origin", common::BASE_URL)
    };
    let made = send(reqwest::Method::POST, "/shorten")
        .json(&json!({ "long_url": "https://example.com/v1", "alias": "edited" }))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 201);
    assert_eq!(first.follow("edited").await.status(), 302);
    tier_holds(&scope.prefix, "edited", |t| {
        matches!(t, Some(Tiered::Link(_)))
    })
    .await;

    let patched = send(reqwest::Method::PATCH, "/api/links/edited")
        .json(&json!({ "long_url": "https://example.com/v2" }))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    let fresh = instance(&repo, &redis_url(), &scope.prefix).await;
    assert_eq!(
        fresh.follow("edited").await.headers()["location"],
        "https://example.com/v2"
    );

    let deleted = send(reqwest::Method::DELETE, "/api/links/edited")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let fresh = instance(&repo, &redis_url(), &scope.prefix).await;
    assert_problem(fresh.follow("edited").await, 404, "not_found").await;
}

#[tokio::test]
async fn a_dead_or_hung_tier_is_skipped_and_redirects_keep_working() {
    let scope = RedisScope {
        prefix: format!("{}:", common::backends::unique("tier")),
    };
    let upstream: std::net::SocketAddr = redis_url()
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let proxy = Proxy::start(upstream).await;
    let repo = store();
    let app = instance(&repo, &format!("redis://{}", proxy.addr), &scope.prefix).await;
    for i in 0..20 {
        let response = app
            .shorten(json!({ "long_url": format!("https://example.com/{i}"), "alias": format!("link-{i}") }))
            .await;
        assert_eq!(response.status(), 201);
    }
    assert_eq!(app.follow("link-0").await.status(), 302);

    for (mode, code) in [(Mode::Refuse, "link-1"), (Mode::Blackhole, "link-2")] {
        proxy.set(mode);
        let response = app.follow(code).await;
        assert_eq!(response.status(), 302, "{mode:?}: the store answers");
        assert_problem(app.follow("unknown-1").await, 404, "not_found").await;
    }
    proxy.set(Mode::Forward);
    // Once the skip has ended and the connection is back (its reconnect backs off while the
    // tier is down, longer on a loaded machine), the same instance fills the tier again: a
    // code it reads from the store is then in Redis. Each attempt uses a code the instance
    // has not cached yet.
    let checker = RedisLinkTier::connect(&redis_url(), &scope.prefix, Duration::from_secs(1))
        .await
        .unwrap();
    let mut refilled = None;
    for i in 3..20 {
        tokio::time::sleep(Duration::from_millis(600)).await;
        let code = format!("link-{i}");
        assert_eq!(app.follow(&code).await.status(), 302);
        let parsed = ShortCode::parse(&code).unwrap();
        for _ in 0..20 {
            if matches!(checker.get(&parsed).await, Ok(Some(Tiered::Link(_)))) {
                refilled = Some(code.clone());
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if refilled.is_some() {
            break;
        }
    }
    assert!(
        refilled.is_some(),
        "the instance never used the tier again after it came back"
    );
}
