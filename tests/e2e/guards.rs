//! Rate limits shared through Redis by two release binaries, the limiter's failure policy, and
//! the API-key lifecycle through the command line on every persistent backend.

use crate::common;

use std::time::Duration;

use common::backends::{RedisScope, dynamodb_endpoint, dynamodb_table, redis_url, unique};
use common::proxy::{Mode, Proxy};
use common::shared::Store;
use serde_json::json;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

async fn create(addr: std::net::SocketAddr, key: Option<&str>) -> u16 {
    let mut request = client()
        .post(format!("http://{addr}/shorten"))
        .json(&json!({ "long_url": "https://example.com/" }));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    request.send().await.unwrap().status().as_u16()
}

fn shared_limiter(redis: &str, prefix: &str) -> Vec<(&'static str, String)> {
    vec![
        ("URL_SHORTENER__RATE_LIMIT__ENABLED", "true".to_owned()),
        ("URL_SHORTENER__RATE_LIMIT__BACKEND", "redis".to_owned()),
        ("URL_SHORTENER__RATE_LIMIT__REDIS_URL", redis.to_owned()),
        ("URL_SHORTENER__RATE_LIMIT__KEY_PREFIX", prefix.to_owned()),
        (
            "URL_SHORTENER__RATE_LIMIT__SECRET",
            "test-secret-0123456789".to_owned(),
        ),
        (
            "URL_SHORTENER__RATE_LIMIT__CREATES_PER_MINUTE",
            "6".to_owned(),
        ),
        ("URL_SHORTENER__RATE_LIMIT__CREATE_BURST", "10".to_owned()),
    ]
}

fn pairs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test]
async fn two_instances_sharing_redis_admit_no_more_than_the_limit_together() {
    let dir = tempfile::tempdir().unwrap();
    let (_repo, scope) = RedisScope::open().await;
    let env = shared_limiter(&redis_url(), &scope.prefix);
    let a = Store::Sqlite
        .start_with(dir.path(), 2_000, &pairs(&env))
        .await;
    let other = tempfile::tempdir().unwrap();
    let b = Store::Sqlite
        .start_with(other.path(), 2_000, &pairs(&env))
        .await;

    let mut admitted = 0;
    for i in 0..30 {
        let addr = if i % 2 == 0 { a.addr } else { b.addr };
        match create(addr, None).await {
            201 => admitted += 1,
            429 => {}
            other => panic!("unexpected status {other}"),
        }
    }

    // Burst 10 plus at most one refill (one per 10 s) while the loop ran; alone, each instance
    // would have admitted 10.
    assert!((10..=11).contains(&admitted), "{admitted} creates admitted");
    let keys: Vec<String> = {
        let client = redis::Client::open(redis_url()).unwrap();
        let mut conn = client.get_connection().unwrap();
        redis::cmd("KEYS")
            .arg(format!("{}rl:*", scope.prefix))
            .query(&mut conn)
            .unwrap()
    };
    assert!(!keys.is_empty());
    assert!(
        keys.iter().all(|k| !k.contains("127.0.0.1")),
        "client addresses are stored only as keyed hashes: {keys:?}"
    );
}

#[tokio::test]
async fn when_the_limiters_redis_goes_down_redirects_pass_and_creates_fail_closed() {
    let dir = tempfile::tempdir().unwrap();
    let proxy = Proxy::start(
        url::Url::parse(&redis_url())
            .unwrap()
            .socket_addrs(|| Some(6379))
            .unwrap()[0],
    )
    .await;
    let prefix = format!("{}:", unique("limiter"));
    let env = shared_limiter(&format!("redis://{}", proxy.addr), &prefix);
    let server = Store::Sqlite
        .start_with(dir.path(), 500, &pairs(&env))
        .await;
    let created: serde_json::Value = client()
        .post(format!("http://{}/shorten", server.addr))
        .json(&json!({ "long_url": "https://example.com/open" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let code = created["short_code"].as_str().unwrap().to_owned();

    proxy.set(Mode::Refuse);

    let redirect = client()
        .get(format!("http://{}/s/{code}", server.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), 302, "redirects fail open");
    assert_eq!(create(server.addr, None).await, 503, "creates fail closed");

    proxy.set(Mode::Forward);
    let mut healed = false;
    for _ in 0..100 {
        if create(server.addr, None).await == 201 {
            healed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        healed,
        "creates work again once the limiter's Redis is back"
    );
}

async fn api_key_lifecycle(store: Store) {
    let dir = tempfile::tempdir().unwrap();
    let key = store
        .command(dir.path(), &["api-key", "create", "--name", "ci robot"])
        .trim()
        .to_owned();
    assert!(key.starts_with("usk_"), "{key}");
    let listed = store.command(dir.path(), &["api-key", "list"]);
    let id = listed
        .lines()
        .find(|l| l.contains("ci robot"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("key not listed: {listed}"))
        .to_owned();
    assert!(listed.contains("active"), "{listed}");
    assert!(
        !listed.contains(&key[4..]),
        "list never shows a key: {listed}"
    );

    let server = store
        .start_with(
            dir.path(),
            5_000,
            // The setting's former name, which keeps working.
            &[("URL_SHORTENER__AUTH__REQUIRE_API_KEY", "true")],
        )
        .await;
    assert_eq!(create(server.addr, Some(&key)).await, 201);
    assert_eq!(create(server.addr, None).await, 401);

    let revoked = store.command(dir.path(), &["api-key", "revoke", &id]);
    assert!(revoked.contains(&id), "{revoked}");
    assert_eq!(create(server.addr, Some(&key)).await, 401);
    assert!(
        store
            .command(dir.path(), &["api-key", "list"])
            .contains("revoked")
    );
}

#[tokio::test]
async fn api_keys_work_end_to_end_on_sqlite() {
    api_key_lifecycle(Store::Sqlite).await;
}

#[tokio::test]
async fn api_keys_work_end_to_end_on_redis() {
    let (_repo, scope) = RedisScope::open().await;
    api_key_lifecycle(Store::Redis {
        url: redis_url(),
        prefix: scope.prefix.clone(),
    })
    .await;
}

#[tokio::test]
async fn api_keys_work_end_to_end_on_dynamodb() {
    let (_repo, table) = dynamodb_table().await;
    api_key_lifecycle(Store::Dynamodb {
        endpoint: dynamodb_endpoint(),
        table,
    })
    .await;
}

#[test]
fn revoking_an_unknown_id_fails_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(common::process::binary())
        .current_dir(dir.path())
        .args(["api-key", "revoke", "nosuchid"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no API key with id 'nosuchid'"), "{stderr}");
}

/// `VmRSS` or `VmHWM` (the peak) of process `pid`, in KiB.
fn memory_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// 100 failed logins in flight at once from 10 addresses (127.0.0.2 to 127.0.0.11, each within
/// its own login budget): password hashing is bounded per process, so the peak resident memory
/// stays within 200 MiB of idle, and every answer is the login's own 401 or `503 busy` with
/// `Retry-After`.
#[tokio::test]
async fn a_burst_of_failed_logins_from_many_addresses_keeps_memory_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::process::start(
        dir.path(),
        &[("URL_SHORTENER__RATE_LIMIT__ENABLED", "true")],
    )
    .await;
    let pid = server.child.id().unwrap();
    let idle = memory_kib(pid, "VmRSS");
    let clients: Vec<reqwest::Client> = (2..12)
        .map(|host| {
            reqwest::Client::builder()
                .local_address(std::net::IpAddr::from([127, 0, 0, host]))
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap()
        })
        .collect();
    let logins = (0..100).map(|i| {
        let client = &clients[i % clients.len()];
        let url = format!("http://{}/api/session", server.addr);
        async move {
            let response = client
                .post(url)
                .json(&json!({ "username": format!("nobody-{i}"), "password": "wrong but long enough" }))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let retry_after = response.headers().contains_key("retry-after");
            let body: serde_json::Value = response.json().await.unwrap();
            (status, retry_after, body["code"].as_str().unwrap_or_default().to_owned())
        }
    });
    let answers = futures_util::future::join_all(logins).await;
    let peak = memory_kib(pid, "VmHWM");

    let mut checked = 0;
    for (status, retry_after, code) in &answers {
        match status {
            401 => {
                assert_eq!(code, "invalid_credentials");
                checked += 1;
            }
            503 => assert!(code == "busy" && *retry_after, "{code}"),
            other => panic!("a failed login answered {other} {code}"),
        }
    }
    assert!(checked > 0, "some logins were checked");
    let grown_mib = peak.saturating_sub(idle) / 1024;
    println!(
        "100 failed logins from 10 addresses: {checked} checked, {} busy; RSS idle {} MiB, peak {} MiB",
        answers.len() - checked,
        idle / 1024,
        peak / 1024
    );
    assert!(
        grown_mib <= 200,
        "peak RSS grew {grown_mib} MiB above idle ({} MiB idle, {} MiB peak)",
        idle / 1024,
        peak / 1024
    );
}
