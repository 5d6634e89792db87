//! The Redis click queue with the real binaries: a gateway without workers publishes, and a
//! `url-shortener worker` process is killed with SIGKILL in the middle of a batch, while
//! PostgreSQL holds its write (a row lock: a stalled store), either before the write commits or
//! after it committed and before the acknowledgement could reach Redis. A second worker claims
//! the batch and every redirect is counted exactly once.

use crate::common;

use std::time::Duration;

use common::backends::{PostgresScope, RedisScope, redis_url};
use common::process::{self, start_worker, temp_dir};
use common::proxy::{Mode, Proxy};
use serde_json::json;

const CLICKS: u64 = 400;

fn click_count(pg: &PostgresScope, code: &str) -> u64 {
    pg.psql(&format!(
        "SELECT click_count FROM links WHERE short_code = '{code}'"
    ))
    .lines()
    .filter_map(|l| l.trim().parse().ok())
    .next()
    .unwrap_or(0)
}

fn pending(prefix: &str) -> i64 {
    let mut conn = redis::Client::open(redis_url())
        .unwrap()
        .get_connection()
        .unwrap();
    let summary: redis::Value = redis::cmd("XPENDING")
        .arg(format!("{prefix}{{clicks}}"))
        .arg(format!("{prefix}click-processors"))
        .query(&mut conn)
        .unwrap();
    match summary {
        redis::Value::Array(items) => match items.first() {
            Some(redis::Value::Int(n)) => *n,
            _ => 0,
        },
        _ => 0,
    }
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..300 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting until {what}");
}

async fn killed_mid_batch(ack_blocked: bool) {
    let pg = PostgresScope::new();
    drop(pg.open().await); // migrated before the processes start
    let redis = RedisScope::open().await.1;
    let redis_proxy =
        Proxy::start(redis_url().trim_start_matches("redis://").parse().unwrap()).await;
    let pg_url = pg.url();
    let proxied_redis = format!("redis://{}", redis_proxy.addr);
    let common: Vec<(&str, &str)> = vec![
        ("URL_SHORTENER__STORAGE__BACKEND", "postgres"),
        ("URL_SHORTENER__STORAGE__POSTGRES__URL", &pg_url),
        // Long enough that a write waiting on the row lock does not time out.
        ("URL_SHORTENER__STORAGE__TIMEOUT_MS", "15000"),
        ("URL_SHORTENER__CLICKS__QUEUE", "redis"),
        ("URL_SHORTENER__CLICKS__REDIS_KEY_PREFIX", &redis.prefix),
        ("URL_SHORTENER__CLICKS__CLAIM_IDLE_MS", "1000"),
        ("URL_SHORTENER__CLICKS__FLUSH_INTERVAL_MS", "200"),
        (
            "URL_SHORTENER__SECURITY__ALLOW_PRIVATE_DESTINATIONS",
            "true",
        ),
    ];
    let dir = temp_dir(if ack_blocked {
        "queue-ack"
    } else {
        "queue-stall"
    });
    let mut gateway_env = common.clone();
    gateway_env.push(("URL_SHORTENER__WORKERS__ENABLED", "false"));
    let mut gateway = process::start(&dir, &gateway_env).await;
    let mut first_env = common.clone();
    first_env.push(("URL_SHORTENER__CLICKS__REDIS_URL", &proxied_redis));
    let mut first = start_worker(&dir, &first_env).await;

    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let base = format!("http://{}", gateway.addr);
    let created = client
        .post(format!("{base}/shorten"))
        .json(&json!({"long_url": "https://example.com/killed", "alias": "killed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);

    // Hold the link's row for 3 s: the worker's write waits behind it.
    let locker = std::process::Command::new("psql")
        .args([
            &common::backends::postgres_url(),
            "-X",
            "-q",
            "-c",
            &format!(
                "SET search_path TO {}; BEGIN; SELECT 1 FROM links WHERE short_code = 'killed' \
                 FOR UPDATE; SELECT pg_sleep(3); COMMIT;",
                pg.schema
            ),
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..CLICKS {
        let r = client.get(format!("{base}/s/killed")).send().await.unwrap();
        assert_eq!(r.status(), 302);
    }
    let prefix = redis.prefix.clone();
    wait_until("the worker holds the batch", || pending(&prefix) > 0).await;
    assert_eq!(click_count(&pg, "killed"), 0, "the write waits on the lock");

    if ack_blocked {
        // The acknowledgement cannot reach Redis; the write commits when the lock goes.
        redis_proxy.set(Mode::Refuse);
        // (The first batch the worker read may hold only part of the clicks.)
        wait_until("the write commits", || click_count(&pg, "killed") > 0).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    first.child.start_kill().unwrap(); // SIGKILL
    first.child.wait().await.unwrap();
    let mut locker = locker;
    locker.wait().unwrap();
    assert!(
        pending(&prefix) > 0,
        "the killed worker's batch is still pending"
    );

    // A new worker (straight to Redis) claims the batch after claim_idle_ms.
    let mut second = start_worker(&dir, &common).await;
    wait_until("the batch is claimed and acknowledged", || {
        pending(&prefix) == 0
    })
    .await;
    wait_until("every click is stored", || {
        click_count(&pg, "killed") >= CLICKS
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        click_count(&pg, "killed"),
        CLICKS,
        "each redirect counted once"
    );
    let stats = process::get_json(&client, &format!("{base}/stats/killed")).await;
    assert_eq!(stats["click_count"], CLICKS);
    assert_eq!(stats["bot_clicks"], CLICKS, "reqwest sends no user agent");
    let logs = second.logs.lock().unwrap().join("\n");
    assert!(logs.contains("claimed the click batch"), "{logs}");

    process::signal(&second.child, nix::sys::signal::Signal::SIGTERM);
    assert!(second.child.wait().await.unwrap().success());
    process::signal(&gateway.child, nix::sys::signal::Signal::SIGTERM);
    assert!(gateway.child.wait().await.unwrap().success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_while_its_write_waits_is_replaced_and_counts_once() {
    killed_mid_batch(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_after_its_commit_before_its_ack_is_replaced_and_counts_once() {
    killed_mid_batch(true).await;
}
