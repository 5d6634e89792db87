//! Several release binaries sharing one Redis, DynamoDB or PostgreSQL store, and the service
//! riding out a store outage. The stores are the real servers `scripts/test` provides.

use crate::common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::backends::{PostgresScope, RedisScope, dynamodb_endpoint, dynamodb_table, redis_url};
use common::process;
use common::proxy::{Mode, Proxy};
use common::shared::Store;
use serde_json::{Value, json};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

async fn shorten(addr: SocketAddr, body: Value) -> reqwest::Response {
    client()
        .post(format!("http://{addr}/shorten"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// `n` instances on `store`: a link created on one redirects on every other at once, clicks
/// spread over all of them add up exactly, and of `n` concurrent creates of one alias (one per
/// instance) exactly one wins.
async fn instances_share_links_clicks_and_aliases(store: Store, n: usize) {
    let dir = tempfile::tempdir().unwrap();
    // A generous deadline: moto answers 60 concurrent requests slowly, and this test is about
    // sharing, not about outages.
    let mut servers = Vec::new();
    for _ in 0..n {
        servers.push(store.start(dir.path(), 10_000).await);
    }
    let addrs: Vec<SocketAddr> = servers.iter().map(|s| s.addr).collect();
    let client = client();

    // A link created on the first redirects on every other at once.
    let created: Value = shorten(
        addrs[0],
        json!({ "long_url": "https://example.com/shared" }),
    )
    .await
    .json()
    .await
    .unwrap();
    let code = created["short_code"].as_str().unwrap().to_owned();
    for addr in &addrs[1..] {
        let there = client
            .get(format!("http://{addr}/s/{code}"))
            .send()
            .await
            .unwrap();
        assert_eq!(there.status(), 302);
        assert_eq!(there.headers()["location"], "https://example.com/shared");
    }
    let followed = u64::try_from(n - 1).unwrap();

    // Clicks sent to all of them add up exactly.
    let mut sends = Vec::new();
    for i in 0..60 {
        let addr = addrs[i % n];
        let (client, code) = (client.clone(), code.clone());
        sends.push(tokio::spawn(async move {
            client
                .get(format!("http://{addr}/s/{code}"))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    for send in sends {
        assert_eq!(send.await.unwrap(), 302);
    }
    let want = 60 + followed;
    // Each instance flushes on its own interval; poll rather than sleep a fixed time, so a
    // slow store (moto serves one request at a time) or a loaded machine cannot fail it.
    for addr in &addrs {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let stats = process::get_json(&client, &format!("http://{addr}/stats/{code}")).await;
            if stats["click_count"] == want {
                break;
            }
            assert!(
                stats["click_count"].as_u64().unwrap() < want,
                "more clicks than redirects: {stats}"
            );
            assert!(Instant::now() < deadline, "clicks never added up: {stats}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    // Concurrent creates of one alias, one on each instance: one 201, the rest 409.
    let alias = json!({ "long_url": "https://example.com/alias", "alias": "contested-alias" });
    let races = addrs.iter().map(|addr| shorten(*addr, alias.clone()));
    let mut statuses: Vec<u16> = futures_util::future::join_all(races)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    statuses.sort_unstable();
    let mut expected = vec![409; n];
    expected[0] = 201;
    assert_eq!(statuses, expected);
}

#[tokio::test]
async fn two_instances_on_redis_act_as_one() {
    let (_repo, scope) = RedisScope::open().await;
    let store = Store::Redis {
        url: redis_url(),
        prefix: scope.prefix.clone(),
    };
    instances_share_links_clicks_and_aliases(store, 2).await;
}

#[tokio::test]
async fn three_instances_on_postgres_act_as_one() {
    let scope = PostgresScope::new();
    let store = Store::Postgres { url: scope.url() };
    instances_share_links_clicks_and_aliases(store, 3).await;
}

#[tokio::test]
async fn two_instances_on_postgres_act_as_one() {
    let scope = PostgresScope::new();
    let store = Store::Postgres { url: scope.url() };
    instances_share_links_clicks_and_aliases(store, 2).await;
}

#[tokio::test]
async fn two_instances_on_dynamodb_act_as_one() {
    let (_repo, table) = dynamodb_table().await;
    let store = Store::Dynamodb {
        endpoint: dynamodb_endpoint(),
        table,
    };
    instances_share_links_clicks_and_aliases(store, 2).await;
}

/// Polls `/health/ready` until it answers `want`, for at most 30 s.
async fn wait_ready(addr: SocketAddr, want: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = client()
            .get(format!("http://{addr}/health/ready"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        if status == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "/health/ready stayed {status}, wanted {want}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A create that is retried while it answers 503: with a 500 ms storage deadline, a store busy
/// with another test (moto serves one request at a time) may miss it even when it is up.
async fn create_eventually(addr: SocketAddr, long_url: &str) -> reqwest::Response {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = shorten(addr, json!({ "long_url": long_url })).await;
        if response.status() != 503 || Instant::now() >= deadline {
            return response;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A create during an outage answers 503 `storage_unavailable` within the deadline, and a
/// redirect 503 (never 404); how long the create waited.
async fn assert_storage_unavailable(addr: SocketAddr) -> Duration {
    let started = Instant::now();
    let response = shorten(
        addr,
        json!({ "long_url": "https://example.com/during-outage" }),
    )
    .await;
    let waited = started.elapsed();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "2");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "storage_unavailable", "{body}");
    // storage.timeout_ms is 500; the answer must not wait on the store much longer than that.
    assert!(
        waited < Duration::from_secs(5),
        "a create waited {waited:?} on a dead store"
    );
    let redirect = client()
        .get(format!("http://{addr}/s/whatever1"))
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), 503, "a store outage is never a 404");
    waited
}

async fn the_service_rides_out_a_store_outage(store: Store, proxy: &Proxy) {
    let dir = tempfile::tempdir().unwrap();
    let server = store.start(dir.path(), 500).await;
    let before: Value = create_eventually(server.addr, "https://example.com/before")
        .await
        .json()
        .await
        .unwrap();
    let code = before["short_code"].as_str().unwrap().to_owned();

    let backend = store.backend();
    for mode in [Mode::Blackhole, Mode::Refuse] {
        proxy.set(mode);
        let started = Instant::now();
        let waited = assert_storage_unavailable(server.addr).await;
        wait_ready(server.addr, 503).await;
        println!(
            "{backend} {mode:?} (storage.timeout_ms 500): create answered 503 after {waited:?}, \
             /health/ready 503 {:?} after the outage began",
            started.elapsed()
        );
        let health = client()
            .get(format!("http://{}/health", server.addr))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status(), 503);
        let live = client()
            .get(format!("http://{}/health/live", server.addr))
            .send()
            .await
            .unwrap();
        assert_eq!(live.status(), 200);
    }

    let metrics = client()
        .get(format!("http://{}/metrics", server.addr))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(&format!(
            r#"storage_errors_total{{backend="{backend}",operation="save"}}"#
        )),
        "{metrics}"
    );

    proxy.set(Mode::Forward);
    let healing = Instant::now();
    wait_ready(server.addr, 200).await;
    let after = create_eventually(server.addr, "https://example.com/after").await;
    assert_eq!(after.status(), 201);
    println!(
        "{backend}: ready and creating again {:?} after the store came back",
        healing.elapsed()
    );
    let redirect = client()
        .get(format!("http://{}/s/{code}", server.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.headers()["location"], "https://example.com/before");
}

fn socket_of(url: &str) -> SocketAddr {
    let parsed = url::Url::parse(url).unwrap();
    let host = parsed.host_str().unwrap();
    format!("{host}:{}", parsed.port_or_known_default().unwrap())
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_redis_outage_is_503_and_heals_without_a_restart() {
    let (_repo, scope) = RedisScope::open().await;
    let proxy = Proxy::start(socket_of(&redis_url())).await;
    let store = Store::Redis {
        url: format!("redis://{}", proxy.addr),
        prefix: scope.prefix.clone(),
    };
    the_service_rides_out_a_store_outage(store, &proxy).await;
}

#[tokio::test]
async fn a_dynamodb_outage_is_503_and_heals_without_a_restart() {
    let (_repo, table) = dynamodb_table().await;
    let proxy = Proxy::start(socket_of(&dynamodb_endpoint())).await;
    let store = Store::Dynamodb {
        endpoint: format!("http://{}", proxy.addr),
        table,
    };
    the_service_rides_out_a_store_outage(store, &proxy).await;
}

#[tokio::test]
async fn a_postgres_outage_is_503_and_heals_without_a_restart() {
    let scope = PostgresScope::new();
    let proxy = Proxy::start(PostgresScope::server_addr()).await;
    let store = Store::Postgres {
        url: scope.url_via(proxy.addr),
    };
    the_service_rides_out_a_store_outage(store, &proxy).await;
}

#[tokio::test]
async fn an_unreachable_store_at_start_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    for (backend, key, url) in [
        ("redis", "redis", format!("redis://:s3cret@{closed}")),
        (
            "postgres",
            "postgres",
            format!("postgres://ops:s3cret@{closed}/links"),
        ),
    ] {
        let output = tokio::process::Command::new(process::binary())
            .current_dir(dir.path())
            .env("URL_SHORTENER__STORAGE__BACKEND", backend)
            .env(
                format!("URL_SHORTENER__STORAGE__{}__URL", key.to_uppercase()),
                url,
            )
            .env("URL_SHORTENER__STORAGE__TIMEOUT_MS", "300")
            .env("URL_SHORTENER__SERVER__LISTEN", "127.0.0.1:0")
            .env("URL_SHORTENER__LOG__FORMAT", "json")
            .output()
            .await
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(&format!("storage.{key}.url")), "{stderr}");
        assert!(!stderr.contains("s3cret"), "{stderr}");
    }
}

#[tokio::test]
async fn redis_over_tls_works_with_a_private_ca() {
    // A TLS-only redis-server with a self-signed certificate, trusted through SSL_CERT_FILE
    // exactly as a deployment trusts Memorystore's or ElastiCache's CA.
    let dir = tempfile::tempdir().unwrap();
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap();
    let cert_file = dir.path().join("ca.pem");
    let key_file = dir.path().join("key.pem");
    std::fs::write(&cert_file, cert.cert.pem()).unwrap();
    std::fs::write(&key_file, cert.signing_key.serialize_pem()).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut redis = tokio::process::Command::new("redis-server")
        .args([
            "--port",
            "0",
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .args(["--tls-port", &port.to_string(), "--tls-auth-clients", "no"])
        .arg("--tls-cert-file")
        .arg(&cert_file)
        .arg("--tls-key-file")
        .arg(&key_file)
        .arg("--tls-ca-cert-file")
        .arg(&cert_file)
        .kill_on_drop(true)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server is installed (scripts/test installs it)");
    let mut listening = false;
    for _ in 0..600 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            listening = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(listening, "redis-server with TLS did not start");

    let url = format!("rediss://127.0.0.1:{port}");
    let cert_path = cert_file.to_str().unwrap().to_owned();
    let server = process::start(
        dir.path(),
        &[
            ("URL_SHORTENER__STORAGE__BACKEND", "redis"),
            ("URL_SHORTENER__STORAGE__REDIS__URL", url.as_str()),
            ("SSL_CERT_FILE", cert_path.as_str()),
        ],
    )
    .await;
    let created = shorten(
        server.addr,
        json!({ "long_url": "https://example.com/tls" }),
    )
    .await;
    assert_eq!(created.status(), 201);
    let code = created.json::<Value>().await.unwrap()["short_code"]
        .as_str()
        .unwrap()
        .to_owned();
    let redirect = client()
        .get(format!("http://{}/s/{code}", server.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.headers()["location"], "https://example.com/tls");
    redis.kill().await.unwrap();
}
