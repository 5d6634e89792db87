//! The release binary's link-health checker, as it runs by default (on SQLite, private
//! destinations not allowed): a link whose public-looking name resolves to a loopback address
//! is checked on schedule and recorded `blocked`, and neither that address nor a proxy named in
//! the environment (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`) sees a single connection attempt.

use crate::common;

use std::net::IpAddr;
use std::time::Duration;

use common::dns::FakeDns;
use common::fixture::CountingListener;
use common::process::{self, binary};
use nix::sys::signal::Signal;
use serde_json::{Value, json};

#[tokio::test]
async fn a_name_that_resolves_to_loopback_is_blocked_without_a_connection() {
    let trap = CountingListener::start("127.0.0.2").await;
    let proxy = CountingListener::start("127.0.0.1").await;
    let inside: IpAddr = "127.0.0.2".parse().unwrap();
    let dns = FakeDns::start(&[("inside.test", &[inside])]).await;

    let dir = process::temp_dir("e2e-link-health");
    let issued = std::process::Command::new(binary())
        .current_dir(&dir)
        .args(["api-key", "create", "--name", "health-test"])
        .output()
        .unwrap();
    assert!(issued.status.success(), "{issued:?}");
    let api_key = String::from_utf8(issued.stdout).unwrap().trim().to_owned();

    let proxy_url = format!("http://{}", proxy.addr);
    let dns_server = dns.addr.to_string();
    let mut server = process::start(
        &dir,
        &[
            ("URL_SHORTENER__LINK_HEALTH__ENABLED", "true"),
            ("URL_SHORTENER__LINK_HEALTH__DNS_SERVERS", &dns_server),
            ("URL_SHORTENER__LINK_HEALTH__FIRST_CHECK_AFTER_SECONDS", "0"),
            ("HTTP_PROXY", &proxy_url),
            ("HTTPS_PROXY", &proxy_url),
            ("ALL_PROXY", &proxy_url),
            ("http_proxy", &proxy_url),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let root = format!("http://{}", server.addr);
    let created: Value = client
        .post(format!("{root}/shorten"))
        .bearer_auth(&api_key)
        .json(&json!({ "long_url": format!("http://inside.test:{}/admin", trap.addr.port()) }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let code = created["short_code"].as_str().expect("created").to_owned();

    // The scheduled checker takes it within a few seconds.
    let mut health = Value::Null;
    for _ in 0..100 {
        let stats: Value = client
            .get(format!("{root}/stats/{code}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        health = stats["health"].clone();
        if health["status"] != "unchecked" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(health["outcome"], "blocked", "{health}");
    assert_eq!(health["status"], "failing");
    assert!(
        dns.questions() >= 1,
        "the checker asked the configured DNS server"
    );
    assert_eq!(trap.attempts(), 0, "a connection to the forbidden address");
    assert_eq!(
        proxy.attempts(),
        0,
        "a connection to the environment's proxy"
    );

    let history: Value = client
        .get(format!("{root}/stats/{code}/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(history["checks"][0]["outcome"], "blocked");

    process::signal(&server.child, Signal::SIGTERM);
    assert!(server.child.wait().await.unwrap().success());
    let logs = server.logs_after_exit().await;
    assert!(
        !logs.contains("127.0.0.2"),
        "the log names the address: {logs}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
