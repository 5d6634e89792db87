//! Clicks are counted exactly once whatever a networked store does with a write whose answer
//! never came: a Redis stopped mid-flush (SIGSTOP), and a network that delivers a write and
//! loses its answer, on Redis, DynamoDB and PostgreSQL. Release binary, real servers.

use crate::common;

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::backends::{
    PostgresScope, RedisScope, dynamodb_endpoint, dynamodb_table, redis_url, unique,
};
use common::process::{self, ServerProcess};
use common::proxy::Proxy;
use common::shared::Store;
use serde_json::{Value, json};

/// Clicks sent while the store misbehaves.
const CLICKS: u64 = 20;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Starts an instance on `store` with 1 s store deadlines and 200 ms flushes.
async fn start_on(store: &Store, dir: &std::path::Path) -> ServerProcess {
    store
        .start_with(
            dir,
            1_000,
            &[("URL_SHORTENER__CLICKS__FLUSH_INTERVAL_MS", "200")],
        )
        .await
}

/// Creates a link and follows it once, so it is in the instance's cache; its code.
async fn cached_link(addr: SocketAddr) -> String {
    let created: Value = client()
        .post(format!("http://{addr}/shorten"))
        .json(&json!({ "long_url": "https://example.com/counted" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let code = created["short_code"].as_str().unwrap().to_owned();
    wait_for_clicks(addr, &code, 0).await;
    follow(addr, &code, 1).await;
    wait_for_clicks(addr, &code, 1).await;
    code
}

async fn follow(addr: SocketAddr, code: &str, times: u64) {
    let client = client();
    for _ in 0..times {
        let status = client
            .get(format!("http://{addr}/s/{code}"))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(
            status, 302,
            "the cached link redirects whatever the store does"
        );
    }
}

/// Polls `/stats` until the stored count is `want` (at most 30 s), then checks that it stays
/// there while several more flushes go by.
async fn wait_for_clicks(addr: SocketAddr, code: &str, want: u64) {
    let client = client();
    let deadline = Instant::now() + Duration::from_secs(30);
    let count = || async {
        let response = client
            .get(format!("http://{addr}/stats/{code}"))
            .send()
            .await
            .unwrap();
        if response.status() != 200 {
            return None; // the store is still recovering
        }
        response.json::<Value>().await.unwrap()["click_count"].as_u64()
    };
    loop {
        if let Some(seen) = count().await {
            assert!(seen <= want, "{seen} clicks counted for {want} redirects");
            if seen == want {
                break;
            }
        }
        assert!(Instant::now() < deadline, "the count never reached {want}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(
        count().await,
        Some(want),
        "the count moved on after settling"
    );
}

/// A Redis server of the test's own, which it may stop and resume without disturbing others.
struct OwnRedis {
    child: tokio::process::Child,
    url: String,
}

impl OwnRedis {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = tokio::process::Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server is installed (scripts/test installs it)");
        let url = format!("redis://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "redis-server did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self { child, url }
    }

    fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = i32::try_from(self.child.id().unwrap()).unwrap();
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal).unwrap();
    }
}

#[tokio::test]
async fn clicks_during_a_four_second_redis_stall_are_counted_once() {
    let redis = OwnRedis::start().await;
    let store = Store::Redis {
        url: redis.url.clone(),
        prefix: format!("{}:", unique("stall")),
    };
    let dir = tempfile::tempdir().unwrap();
    let server = start_on(&store, dir.path()).await;
    let code = cached_link(server.addr).await;

    redis.signal(nix::sys::signal::Signal::SIGSTOP);
    follow(server.addr, &code, CLICKS).await;
    // Flushes time out (1 s deadline) while their writes wait in Redis's socket.
    tokio::time::sleep(Duration::from_secs(4)).await;
    redis.signal(nix::sys::signal::Signal::SIGCONT);

    wait_for_clicks(server.addr, &code, 1 + CLICKS).await;
    println!("{CLICKS} clicks during a 4 s SIGSTOP of Redis: counted {CLICKS}");
}

/// Clicks while the proxy in front of the store delivers writes and loses every answer.
async fn clicks_whose_answers_are_lost_are_counted_once(proxy: &Proxy, store: Store) {
    let dir = tempfile::tempdir().unwrap();
    let server = start_on(&store, dir.path()).await;
    let code = cached_link(server.addr).await;

    proxy.drop_answers(true);
    follow(server.addr, &code, CLICKS).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    proxy.drop_answers(false);

    wait_for_clicks(server.addr, &code, 1 + CLICKS).await;
}

#[tokio::test]
async fn clicks_whose_redis_answers_are_lost_are_counted_once() {
    let (_repo, scope) = RedisScope::open().await;
    let upstream = redis_url().trim_start_matches("redis://").to_owned();
    let proxy = Proxy::start(upstream.parse().unwrap()).await;
    let store = Store::Redis {
        url: format!("redis://{}", proxy.addr),
        prefix: scope.prefix.clone(),
    };
    clicks_whose_answers_are_lost_are_counted_once(&proxy, store).await;
}

#[tokio::test]
async fn clicks_whose_dynamodb_answers_are_lost_are_counted_once() {
    let (_repo, table) = dynamodb_table().await;
    let endpoint = dynamodb_endpoint();
    let upstream = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let proxy = Proxy::start(upstream.parse().unwrap()).await;
    let store = Store::Dynamodb {
        endpoint: format!("http://{}", proxy.addr),
        table,
    };
    clicks_whose_answers_are_lost_are_counted_once(&proxy, store).await;
}

#[tokio::test]
async fn clicks_whose_postgres_answers_are_lost_are_counted_once() {
    let scope = PostgresScope::new();
    let proxy = Proxy::start(PostgresScope::server_addr()).await;
    let store = Store::Postgres {
        url: scope.url_via(proxy.addr),
    };
    clicks_whose_answers_are_lost_are_counted_once(&proxy, store).await;
}

#[tokio::test]
async fn a_stalled_store_loses_no_click_at_shutdown_once_it_heals() {
    // The shutdown flush retries with the same writes, so a stall that ends during shutdown
    // still counts every click once.
    let redis = OwnRedis::start().await;
    let prefix = format!("{}:", unique("shutdown"));
    let store = Store::Redis {
        url: redis.url.clone(),
        prefix: prefix.clone(),
    };
    let dir = tempfile::tempdir().unwrap();
    let mut server = start_on(&store, dir.path()).await;
    let code = cached_link(server.addr).await;

    redis.signal(nix::sys::signal::Signal::SIGSTOP);
    follow(server.addr, &code, CLICKS).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    process::signal(&server.child, nix::sys::signal::Signal::SIGTERM);
    tokio::time::sleep(Duration::from_millis(500)).await;
    redis.signal(nix::sys::signal::Signal::SIGCONT);
    let status = tokio::time::timeout(Duration::from_secs(30), server.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());

    let client = redis::Client::open(redis.url.as_str()).unwrap();
    let mut conn = client.get_connection().unwrap();
    let count: u64 = redis::cmd("HGET")
        .arg(format!("{prefix}link:{code}"))
        .arg("n")
        .query(&mut conn)
        .unwrap();
    assert_eq!(count, 1 + CLICKS);
}
