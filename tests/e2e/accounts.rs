//! The accounts issue's "done when", through the release binary on each durable store:
//! an operator creates the first administrator with the CLI; the administrator logs in over
//! HTTP, creates a user and an invite; links are made with a session and with keys (one from
//! the HTTP API, one from the CLI), listed, edited and deleted; another user's link answers
//! 404. Then the logs and the store itself are searched for every password, session token and
//! API key used: none may appear.

use crate::common;

use std::path::Path;

use common::backends::{RedisScope, dynamodb_endpoint, dynamodb_table, redis_url};
use common::process::ServerProcess;
use common::shared::Store;
use reqwest::{Client, Method, RequestBuilder};
use serde_json::{Value, json};

const ORIGIN: &str = "https://sho.rt";
const ROOT_PASSWORD: &str = "root's long passphrase";
const ADA_PASSWORD: &str = "ada's long passphrase";
const BOB_PASSWORD: &str = "bob's long passphrase";

struct Api {
    http: Client,
    root: String,
}

impl Api {
    fn new(addr: std::net::SocketAddr) -> Self {
        Self {
            http: Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            root: format!("http://{addr}"),
        }
    }

    fn with_cookie(&self, method: Method, path: &str, cookie: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.root))
            .header("cookie", cookie)
            .header("origin", ORIGIN)
    }

    fn with_key(&self, method: Method, path: &str, key: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.root))
            .bearer_auth(key)
    }

    /// Logs in; the session cookie (`name=value`) and its token.
    async fn login(&self, username: &str, password: &str) -> (String, String) {
        let response = self
            .http
            .post(format!("{}/api/session", self.root))
            .json(&json!({ "username": username, "password": password }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "login as {username}");
        let cookie = common::session_cookie(&response).expect("a session cookie");
        assert!(cookie.starts_with("__Host-session="), "{cookie}");
        let token = cookie.trim_start_matches("__Host-session=").to_owned();
        (cookie, token)
    }
}

async fn status(request: RequestBuilder) -> u16 {
    request.send().await.unwrap().status().as_u16()
}

async fn body(request: RequestBuilder, want: u16) -> Value {
    let response = request.send().await.unwrap();
    assert_eq!(response.status().as_u16(), want);
    response.json().await.unwrap()
}

/// Runs the scenario on `store` and returns every secret it used, for the caller to look for
/// in the store; the logs are searched here.
async fn accounts_work_end_to_end(store: &Store, dir: &Path) -> Vec<String> {
    let created = store.command_with_input(
        dir,
        &["user", "create", "root", "--admin", "--password-stdin"],
        &format!("{ROOT_PASSWORD}\n"),
    );
    assert!(created.contains("root"), "{created}");
    let mut server = store.start(dir, 5_000).await;
    let api = Api::new(server.addr);

    let (root, root_token) = api.login("root", ROOT_PASSWORD).await;
    let made = body(
        api.with_cookie(Method::POST, "/api/users", &root)
            .json(&json!({ "username": "ada", "password": ADA_PASSWORD })),
        201,
    )
    .await;
    assert_eq!(made["user"]["username"], "ada");
    let invite = body(
        api.with_cookie(Method::POST, "/api/invites", &root)
            .json(&json!({})),
        201,
    )
    .await;
    let invite_token = invite["token"].as_str().unwrap().to_owned();
    let signup = api
        .http
        .post(format!("{}/api/signup", api.root))
        .json(&json!({ "username": "bob", "password": BOB_PASSWORD, "invite": invite_token }))
        .send()
        .await
        .unwrap();
    assert_eq!(signup.status(), 201);

    let (ada, ada_token) = api.login("ada", ADA_PASSWORD).await;
    let (bob, bob_token) = api.login("bob", BOB_PASSWORD).await;
    // A link with the session, one with a key from the API, one with a key from the CLI.
    body(
        api.with_cookie(Method::POST, "/shorten", &ada)
            .json(&json!({ "long_url": "https://example.com/one", "alias": "ada-one" })),
        201,
    )
    .await;
    let key = body(
        api.with_cookie(Method::POST, "/api/keys", &ada)
            .json(&json!({ "name": "script" })),
        201,
    )
    .await;
    let http_key = key["secret"].as_str().unwrap().to_owned();
    body(
        api.with_key(Method::POST, "/shorten", &http_key)
            .json(&json!({ "long_url": "https://example.com/two", "alias": "ada-two" })),
        201,
    )
    .await;
    let cli_key = store
        .command(
            dir,
            &["api-key", "create", "--name", "cron", "--user", "ada"],
        )
        .trim()
        .to_owned();
    body(
        api.with_key(Method::POST, "/shorten", &cli_key)
            .json(&json!({ "long_url": "https://example.com/three", "alias": "ada-three" })),
        201,
    )
    .await;

    let mine = body(api.with_key(Method::GET, "/api/links", &http_key), 200).await;
    let codes: Vec<&str> = mine["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["short_code"].as_str().unwrap())
        .collect();
    let mut sorted = codes.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, ["ada-one", "ada-three", "ada-two"], "{mine}");

    // Another user: 404 for every operation, nothing changed.
    for method in [Method::GET, Method::DELETE] {
        assert_eq!(
            status(api.with_cookie(method, "/api/links/ada-one", &bob)).await,
            404
        );
    }
    assert_eq!(
        status(
            api.with_cookie(Method::PATCH, "/api/links/ada-one", &bob)
                .json(&json!({ "long_url": "https://evil.example/" }))
        )
        .await,
        404
    );

    let edited = body(
        api.with_cookie(Method::PATCH, "/api/links/ada-one", &ada)
            .json(&json!({ "long_url": "https://example.com/edited" })),
        200,
    )
    .await;
    assert_eq!(edited["long_url"], "https://example.com/edited");
    let followed = api
        .http
        .get(format!("{}/s/ada-one", api.root))
        .send()
        .await
        .unwrap();
    assert_eq!(followed.headers()["location"], "https://example.com/edited");

    assert_eq!(
        status(api.with_cookie(Method::DELETE, "/api/links/ada-two", &ada)).await,
        204
    );
    assert_eq!(
        status(api.http.get(format!("{}/s/ada-two", api.root))).await,
        404
    );
    assert_eq!(
        status(
            api.with_key(Method::POST, "/shorten", &cli_key)
                .json(&json!({ "long_url": "https://example.com/again", "alias": "ada-two" }))
        )
        .await,
        409,
        "a deleted code is retired"
    );

    assert_eq!(
        status(api.with_cookie(Method::DELETE, "/api/session", &ada)).await,
        204
    );
    assert_eq!(
        status(api.with_cookie(Method::GET, "/api/me", &ada)).await,
        401
    );

    common::process::signal(&server.child, nix::sys::signal::Signal::SIGTERM);
    server.child.wait().await.unwrap();
    let logs = server.logs_after_exit().await;
    let secrets = vec![
        ROOT_PASSWORD.to_owned(),
        ADA_PASSWORD.to_owned(),
        BOB_PASSWORD.to_owned(),
        root_token,
        ada_token,
        bob_token,
        invite_token,
        http_key,
        cli_key,
    ];
    for secret in &secrets {
        assert!(!logs.contains(secret.as_str()), "a secret reached the log");
    }
    assert!(
        logs.contains("logged in"),
        "the log records logins, without secrets"
    );
    secrets
}

fn assert_absent(haystack: &[u8], secrets: &[String], what: &str) {
    for secret in secrets {
        assert!(
            !haystack
                .windows(secret.len())
                .any(|w| w == secret.as_bytes()),
            "a secret was written to {what}"
        );
    }
}

#[tokio::test]
async fn accounts_work_end_to_end_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = accounts_work_end_to_end(&Store::Sqlite, dir.path()).await;
    for entry in std::fs::read_dir(dir.path().join("data")).unwrap() {
        let path = entry.unwrap().path();
        assert_absent(
            &std::fs::read(&path).unwrap(),
            &secrets,
            &path.display().to_string(),
        );
    }
}

#[tokio::test]
async fn accounts_work_end_to_end_on_redis() {
    let (_repo, scope) = RedisScope::open().await;
    let store = Store::Redis {
        url: redis_url(),
        prefix: scope.prefix.clone(),
    };
    let dir = tempfile::tempdir().unwrap();
    let secrets = accounts_work_end_to_end(&store, dir.path()).await;
    // Every key and value under the prefix.
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_connection().unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}*", scope.prefix))
        .query(&mut conn)
        .unwrap();
    assert!(!keys.is_empty());
    let mut dump = Vec::new();
    for key in keys {
        dump.extend_from_slice(key.as_bytes());
        let kind: String = redis::cmd("TYPE").arg(&key).query(&mut conn).unwrap();
        let values: Vec<String> = match kind.as_str() {
            "hash" => redis::cmd("HGETALL").arg(&key).query(&mut conn).unwrap(),
            "set" => redis::cmd("SMEMBERS").arg(&key).query(&mut conn).unwrap(),
            "zset" => redis::cmd("ZRANGE")
                .arg(&key)
                .arg(0)
                .arg(-1)
                .query(&mut conn)
                .unwrap(),
            "string" => vec![redis::cmd("GET").arg(&key).query(&mut conn).unwrap()],
            other => panic!("unexpected key type {other} at {key}"),
        };
        for value in values {
            dump.extend_from_slice(value.as_bytes());
        }
    }
    assert_absent(&dump, &secrets, "Redis");
}

#[tokio::test]
async fn accounts_work_end_to_end_on_dynamodb() {
    let (repo, table) = dynamodb_table().await;
    drop(repo);
    let store = Store::Dynamodb {
        endpoint: dynamodb_endpoint(),
        table: table.clone(),
    };
    let dir = tempfile::tempdir().unwrap();
    let secrets = accounts_work_end_to_end(&store, dir.path()).await;
    let client = url_shortener::repository::DynamoDbRepository::client(
        "us-east-1",
        Some(&dynamodb_endpoint()),
        std::time::Duration::from_secs(10),
    )
    .await;
    let items = client.scan().table_name(&table).send().await.unwrap();
    let dump = format!("{:?}", items.items());
    assert!(dump.contains("#user#"), "the scan sees the accounts");
    assert_absent(dump.as_bytes(), &secrets, "DynamoDB");
}

#[tokio::test]
async fn accounts_work_end_to_end_on_postgres() {
    let scope = common::backends::PostgresScope::new();
    let store = Store::Postgres { url: scope.url() };
    let dir = tempfile::tempdir().unwrap();
    let secrets = accounts_work_end_to_end(&store, dir.path()).await;
    // Every row of every table, as a backup would hold it.
    let dump = scope.dump();
    assert!(dump.contains("COPY"), "the dump sees the tables");
    assert!(dump.contains("root"), "the dump sees the accounts");
    assert_absent(dump.as_bytes(), &secrets, "PostgreSQL");
}

/// Polls `GET /s/{code}` on `api` until its answer satisfies `done`, for at most 5 s (without
/// the change feed the old answer would stay for `cache.ttl_seconds`, 300 s).
async fn eventually(api: &Api, code: &str, done: impl Fn(&reqwest::Response) -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let response = api
            .http
            .get(format!("{}/s/{code}", api.root))
            .send()
            .await
            .unwrap();
        if done(&response) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the other instance still answers {} for {code}",
            response.status()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_edit_or_delete_reaches_every_instances_cache_at_once_on_redis() {
    let (_repo, scope) = RedisScope::open().await;
    let store = Store::Redis {
        url: redis_url(),
        prefix: scope.prefix.clone(),
    };
    edits_reach_every_instance(&store, &[]).await;
}

#[tokio::test]
async fn an_edit_or_delete_reaches_every_instances_cache_at_once_on_dynamodb_with_the_redis_tier() {
    let (repo, table) = dynamodb_table().await;
    drop(repo);
    let store = Store::Dynamodb {
        endpoint: dynamodb_endpoint(),
        table,
    };
    let scope = RedisScope {
        prefix: format!("{}:", common::backends::unique("tier")),
    };
    let url = redis_url();
    edits_reach_every_instance(
        &store,
        &[
            ("URL_SHORTENER__CACHE__REDIS_URL", url.as_str()),
            (
                "URL_SHORTENER__CACHE__REDIS_KEY_PREFIX",
                scope.prefix.as_str(),
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn an_edit_or_delete_reaches_every_instances_cache_at_once_on_postgres_with_the_redis_tier() {
    let scope = common::backends::PostgresScope::new();
    let store = Store::Postgres { url: scope.url() };
    let tier = RedisScope {
        prefix: format!("{}:", common::backends::unique("tier")),
    };
    let url = redis_url();
    edits_reach_every_instance(
        &store,
        &[
            ("URL_SHORTENER__CACHE__REDIS_URL", url.as_str()),
            (
                "URL_SHORTENER__CACHE__REDIS_KEY_PREFIX",
                tier.prefix.as_str(),
            ),
        ],
    )
    .await;
}

/// Two instances on `store` (with `extra` settings): an edit and a delete on the first are
/// served by the second at once, though it had the link cached.
async fn edits_reach_every_instance(store: &Store, extra: &[(&str, &str)]) {
    let dir = tempfile::tempdir().unwrap();
    store.command_with_input(
        dir.path(),
        &["user", "create", "root", "--admin", "--password-stdin"],
        &format!("{ROOT_PASSWORD}\n"),
    );
    let first = store.start_with(dir.path(), 5_000, extra).await;
    let second = store.start_with(dir.path(), 5_000, extra).await;
    let (a, b) = (Api::new(first.addr), Api::new(second.addr));
    let (root, _) = a.login("root", ROOT_PASSWORD).await;
    body(
        a.with_cookie(Method::POST, "/shorten", &root)
            .json(&json!({ "long_url": "https://example.com/v1", "alias": "shared" })),
        201,
    )
    .await;
    // The second instance caches the link.
    for _ in 0..3 {
        eventually(&b, "shared", |r| {
            r.headers()["location"] == "https://example.com/v1"
        })
        .await;
    }

    body(
        a.with_cookie(Method::PATCH, "/api/links/shared", &root)
            .json(&json!({ "long_url": "https://example.com/v2" })),
        200,
    )
    .await;
    eventually(&b, "shared", |r| {
        r.headers()
            .get("location")
            .is_some_and(|l| l == "https://example.com/v2")
    })
    .await;

    assert_eq!(
        status(a.with_cookie(Method::DELETE, "/api/links/shared", &root)).await,
        204
    );
    eventually(&b, "shared", |r| r.status() == 404).await;
}

#[tokio::test]
async fn a_fresh_install_logs_a_setup_token_that_creates_the_first_administrator() {
    let dir = tempfile::tempdir().unwrap();
    let server = Store::Sqlite.start(dir.path(), 5_000).await;
    let token = {
        let logs = server.logs.lock().unwrap();
        logs.iter()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .find_map(|event| event["setup_token"].as_str().map(str::to_owned))
            .expect("the log names the setup token")
    };
    let api = Api::new(server.addr);
    let response = api
        .http
        .post(format!("{}/api/setup", api.root))
        .json(&json!({ "token": token, "username": "root", "password": ROOT_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    api.login("root", ROOT_PASSWORD).await;
}

/// `instances` servers on `store` (several where it can be shared), with `root` made by the
/// command line and logged in on the first: the servers, their APIs and root's cookie.
async fn race_track(
    store: &Store,
    dir: &Path,
    instances: usize,
) -> (Vec<ServerProcess>, Vec<Api>, String) {
    store.command_with_input(
        dir,
        &["user", "create", "root", "--admin", "--password-stdin"],
        &format!("{ROOT_PASSWORD}\n"),
    );
    let mut servers = Vec::new();
    for _ in 0..instances {
        servers.push(store.start(dir, 5_000).await);
    }
    let apis: Vec<Api> = servers.iter().map(|s| Api::new(s.addr)).collect();
    let (root, _) = apis[0].login("root", ROOT_PASSWORD).await;
    (servers, apis, root)
}

/// Administrators demoting (or disabling) each other at the same moment, through different
/// instances where there are several, never leave no administrator: one of the two edits wins.
async fn administrators_demoting_each_other(store: &Store, dir: &Path, instances: usize) {
    let (_servers, apis, mut boss) = race_track(store, dir, instances).await;
    let other = |i: usize| &apis[(i + 1) % apis.len()];
    let mut boss_name = "root".to_owned();
    for round in 0..4 {
        // Two new administrators; the one from the last round steps down.
        let (a, b) = (format!("admin-a{round}"), format!("admin-b{round}"));
        for name in [&a, &b] {
            body(
                apis[0]
                    .with_cookie(Method::POST, "/api/users", &boss)
                    .json(&json!({ "username": name, "password": ADA_PASSWORD, "role": "admin" })),
                201,
            )
            .await;
        }
        let (a_cookie, _) = apis[0].login(&a, ADA_PASSWORD).await;
        let (b_cookie, _) = other(0).login(&b, ADA_PASSWORD).await;
        assert_eq!(
            status(
                apis[0]
                    .with_cookie(Method::PATCH, &format!("/api/users/{boss_name}"), &a_cookie)
                    .json(&json!({ "role": "user" }))
            )
            .await,
            200
        );
        // Each demotes (or disables) the other, at once, through different instances.
        let change = if round % 2 == 0 {
            json!({ "role": "user" })
        } else {
            json!({ "disabled": true })
        };
        let (by_a, by_b) = tokio::join!(
            status(
                apis[0]
                    .with_cookie(Method::PATCH, &format!("/api/users/{b}"), &a_cookie)
                    .json(&change)
            ),
            status(
                other(0)
                    .with_cookie(Method::PATCH, &format!("/api/users/{a}"), &b_cookie)
                    .json(&change)
            ),
        );
        let mut outcomes = [by_a, by_b];
        outcomes.sort_unstable();
        // The loser is refused (409), or, once demoted, no longer an administrator (403), or,
        // once disabled, no longer logged in (401).
        assert_eq!(outcomes[0], 200, "round {round}: {by_a} {by_b}");
        assert!(
            [401, 403, 409].contains(&outcomes[1]),
            "round {round}: {by_a} {by_b}"
        );
        let survivor = if by_a == 200 {
            (&a, a_cookie)
        } else {
            (&b, b_cookie)
        };
        let listed = body(
            apis[0].with_cookie(Method::GET, "/api/users", &survivor.1),
            200,
        )
        .await;
        let active_admins: Vec<&str> = listed["users"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|u| u["role"] == "admin" && u["disabled_at"].is_null())
            .map(|u| u["username"].as_str().unwrap())
            .collect();
        assert_eq!(active_admins, [survivor.0.as_str()], "round {round}");
        boss = survivor.1;
        boss_name = survivor.0.clone();
    }
}

/// A user changes their password on one instance while an administrator disables them on
/// another, the disable sent while the change is on its way (argon2 takes tens of ms): the
/// account stays disabled, no session of it works, and neither write undoes the other.
async fn a_password_change_racing_a_disable(store: &Store, dir: &Path, instances: usize) {
    let (_servers, apis, boss) = race_track(store, dir, instances).await;
    let other = |i: usize| &apis[(i + 1) % apis.len()];
    for round in 0..5 {
        let name = format!("racer{round}");
        body(
            apis[0]
                .with_cookie(Method::POST, "/api/users", &boss)
                .json(&json!({ "username": name, "password": BOB_PASSWORD })),
            201,
        )
        .await;
        let (racer, _) = other(round).login(&name, BOB_PASSWORD).await;
        let new_password = format!("{ADA_PASSWORD} {round}");
        let change = other(round)
            .with_cookie(Method::POST, "/api/me/password", &racer)
            .json(&json!({ "current": BOB_PASSWORD, "new": new_password }))
            .send();
        let disable = async {
            // The change is polled first, so it is on its way when this one starts; the
            // assertions hold whichever the server finishes first.
            tokio::task::yield_now().await;
            status(
                apis[0]
                    .with_cookie(Method::PATCH, &format!("/api/users/{name}"), &boss)
                    .json(&json!({ "disabled": true })),
            )
            .await
        };
        let (changed, disabled) = tokio::join!(change, disable);
        let changed = changed.unwrap().status().as_u16();
        assert!([204, 401].contains(&changed), "round {round}: {changed}");
        assert_eq!(disabled, 200, "round {round}");
        let listed = body(apis[0].with_cookie(Method::GET, "/api/users", &boss), 200).await;
        let racer_view = listed["users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["username"] == name.as_str())
            .unwrap()
            .clone();
        assert!(
            !racer_view["disabled_at"].is_null(),
            "round {round}: the account stays disabled"
        );
        for api in &apis {
            assert_eq!(
                status(api.with_cookie(Method::GET, "/api/me", &racer)).await,
                401,
                "round {round}: no session of a disabled account works"
            );
            for password in [BOB_PASSWORD, new_password.as_str()] {
                let login = api
                    .http
                    .post(format!("{}/api/session", api.root))
                    .json(&json!({ "username": name, "password": password }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(
                    login.status(),
                    401,
                    "round {round}: a disabled account cannot log in"
                );
            }
        }
        // The administrator's edit did not bring the old password back either.
        assert_eq!(
            status(
                apis[0]
                    .with_cookie(Method::PATCH, &format!("/api/users/{name}"), &boss)
                    .json(&json!({ "disabled": false }))
            )
            .await,
            200
        );
        if changed == 204 {
            let (_, _) = apis[0].login(&name, &new_password).await;
        }
    }
}

macro_rules! on_every_store {
    ($race:ident) => {
        mod $race {
            use super::*;

            #[tokio::test]
            async fn on_sqlite() {
                let dir = tempfile::tempdir().unwrap();
                super::$race(&Store::Sqlite, dir.path(), 1).await;
            }

            #[tokio::test]
            async fn across_two_instances_on_redis() {
                let (_repo, scope) = RedisScope::open().await;
                let store = Store::Redis {
                    url: redis_url(),
                    prefix: scope.prefix.clone(),
                };
                let dir = tempfile::tempdir().unwrap();
                super::$race(&store, dir.path(), 2).await;
            }

            #[tokio::test]
            async fn across_two_instances_on_dynamodb() {
                let (repo, table) = dynamodb_table().await;
                drop(repo);
                let store = Store::Dynamodb {
                    endpoint: dynamodb_endpoint(),
                    table,
                };
                let dir = tempfile::tempdir().unwrap();
                super::$race(&store, dir.path(), 2).await;
            }

            #[tokio::test]
            async fn across_two_instances_on_postgres() {
                let scope = common::backends::PostgresScope::new();
                let store = Store::Postgres { url: scope.url() };
                let dir = tempfile::tempdir().unwrap();
                super::$race(&store, dir.path(), 2).await;
            }
        }
    };
}

on_every_store!(administrators_demoting_each_other);
on_every_store!(a_password_change_racing_a_disable);
