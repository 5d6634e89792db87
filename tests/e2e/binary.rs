//! The release-shaped binary end to end: command line, configuration errors, and graceful
//! shutdown on SIGTERM.

use crate::common;

use std::time::Duration;

use common::process::{self, binary};
use nix::sys::signal::Signal;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[test]
fn help_explains_the_settings() {
    let output = std::process::Command::new(binary())
        .arg("--help")
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("--config"), "{text}");
    assert!(text.contains("URL_SHORTENER__SECTION__KEY"), "{text}");
}

#[test]
fn a_bad_setting_stops_the_start_and_names_the_key() {
    let output = std::process::Command::new(binary())
        .env("URL_SHORTENER__LINKS__REDIRECT_STATUS", "303")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let text = String::from_utf8(output.stderr).unwrap();
    assert!(text.contains("links.redirect_status"), "{text}");
}

#[test]
fn a_missing_config_file_is_an_error() {
    let output = std::process::Command::new(binary())
        .args(["--config", "/nonexistent/url-shortener.toml"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let text = String::from_utf8(output.stderr).unwrap();
    assert!(text.contains("url-shortener.toml"), "{text}");
}

#[tokio::test]
async fn create_redirect_and_stats_work_against_the_binary() {
    let dir = process::temp_dir("e2e-basic");
    let server = process::start(
        &dir,
        &[("URL_SHORTENER__SERVER__BASE_URL", "https://sho.rt")],
    )
    .await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let root = format!("http://{}", server.addr);

    let created: Value = client
        .post(format!("{root}/shorten"))
        .json(&json!({ "long_url": "https://example.com/e2e" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let code = created["short_code"].as_str().unwrap();
    let redirect = client.get(format!("{root}/s/{code}")).send().await.unwrap();
    let stats = process::get_json(&client, &format!("{root}/stats/{code}")).await;

    assert_eq!(redirect.status(), 302);
    assert_eq!(redirect.headers()["location"], "https://example.com/e2e");
    assert_eq!(stats["click_count"], 1);
    std::fs::remove_dir_all(dir).unwrap();
}

/// Many connections at once, each with requests of its own, on `runtime` with three serving
/// threads: every redirect answers, every click is counted in the one shared state, and
/// SIGTERM ends the process cleanly.
async fn many_connections_on(runtime: &str) {
    let dir = process::temp_dir(&format!("e2e-runtime-{runtime}"));
    let mut server = process::start(
        &dir,
        &[
            ("URL_SHORTENER__SERVER__RUNTIME", runtime),
            ("URL_SHORTENER__SERVER__WORKER_THREADS", "3"),
        ],
    )
    .await;
    let root = format!("http://{}", server.addr);
    let created: Value = reqwest::Client::new()
        .post(format!("{root}/shorten"))
        .json(&json!({ "long_url": "https://example.com/threads" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let code = created["short_code"].as_str().unwrap().to_owned();

    // A client each, so each task holds its own keep-alive connection.
    let tasks: Vec<_> = (0..24)
        .map(|_| {
            let url = format!("{root}/s/{code}");
            tokio::spawn(async move {
                let client = reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .unwrap();
                let mut statuses = Vec::new();
                for _ in 0..10 {
                    statuses.push(client.get(&url).send().await.unwrap().status().as_u16());
                }
                statuses
            })
        })
        .collect();
    let mut answered = 0;
    for task in tasks {
        for status in task.await.unwrap() {
            assert_eq!(status, 302);
            answered += 1;
        }
    }
    let stats = process::get_json(&reqwest::Client::new(), &format!("{root}/stats/{code}")).await;

    assert_eq!(answered, 240);
    assert_eq!(stats["click_count"], 240);
    process::signal(&server.child, Signal::SIGTERM);
    let status = tokio::time::timeout(Duration::from_secs(30), server.child.wait())
        .await
        .expect("the server exits after SIGTERM")
        .unwrap();
    assert!(status.success(), "exit status {status}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn a_sharded_server_answers_every_connection_and_counts_every_click() {
    many_connections_on("sharded").await;
}

#[tokio::test]
async fn a_work_stealing_server_answers_every_connection_and_counts_every_click() {
    many_connections_on("work_stealing").await;
}

/// Reads one HTTP/1.1 response head from `stream`.
async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).await.unwrap();
        assert_eq!(
            n,
            1,
            "connection closed mid-response: {:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

#[tokio::test]
async fn sigterm_during_requests_loses_none_of_them() {
    let dir = process::temp_dir("e2e-sigterm");
    let mut server = process::start(&dir, &[]).await;

    // Arrange: ten requests the server has started on (it answered `100 Continue`, so the
    // handler is reading the body) but not finished.
    let mut in_flight = Vec::new();
    for i in 0..10 {
        let body = json!({ "long_url": format!("https://example.com/{i}") }).to_string();
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        let head = format!(
            "POST /shorten HTTP/1.1\r\nHost: sho.rt\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nExpect: 100-continue\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let continue_head = read_head(&mut stream).await;
        assert!(continue_head.starts_with("HTTP/1.1 100"), "{continue_head}");
        in_flight.push((stream, body));
    }

    // Act: SIGTERM, and wait until the listener is closed so shutdown is certainly under way.
    process::signal(&server.child, Signal::SIGTERM);
    let mut refused = false;
    for _ in 0..1_200 {
        if TcpStream::connect(server.addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(refused, "the listener stays open after SIGTERM");
    for (stream, body) in &mut in_flight {
        stream.write_all(body.as_bytes()).await.unwrap();
    }

    // Assert: every in-flight request completes with 201, then the process exits 0.
    for (stream, _) in &mut in_flight {
        let head = read_head(stream).await;
        assert!(head.starts_with("HTTP/1.1 201"), "{head}");
    }
    let status = tokio::time::timeout(Duration::from_secs(30), server.child.wait())
        .await
        .expect("the server exits after draining")
        .unwrap();
    assert!(status.success(), "exit status {status}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn request_logs_name_the_route_but_never_the_client_the_url_or_headers() {
    let dir = process::temp_dir("e2e-logs");
    let issued = std::process::Command::new(binary())
        .current_dir(&dir)
        .args(["api-key", "create", "--name", "log-test"])
        .output()
        .unwrap();
    assert!(issued.status.success(), "{issued:?}");
    let api_key = String::from_utf8(issued.stdout).unwrap().trim().to_owned();
    assert!(api_key.starts_with("usk_"), "{api_key}");
    let mut server = process::start(&dir, &[]).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("agent-SENTINEL-42")
        .build()
        .unwrap();
    let root = format!("http://{}", server.addr);
    let long_url = "https://example.com/private/path-SENTINEL-url";

    let created: Value = client
        .post(format!("{root}/shorten"))
        .header("authorization", format!("Bearer {api_key}"))
        .header("x-forwarded-for", "198.51.100.77")
        .json(&json!({ "long_url": long_url }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let code = created["short_code"].as_str().unwrap().to_owned();
    let redirect = client
        .get(format!("{root}/s/{code}?q=query-SENTINEL"))
        .header(
            "referer",
            "https://forum.example/thread/refpath-SENTINEL?token=reftoken-SENTINEL",
        )
        .header("x-forwarded-for", "198.51.100.77")
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), 302);
    process::signal(&server.child, Signal::SIGTERM);
    assert!(server.child.wait().await.unwrap().success());

    let logs = server.logs_after_exit().await;
    let requests: Vec<Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["target"] == "url_shortener::request")
        .collect();
    assert_eq!(requests.len(), 2, "{logs}");
    assert_eq!(requests[0]["route"], "/shorten");
    assert_eq!(requests[0]["status"], 201);
    assert_eq!(requests[1]["route"], "/s/{code}");
    assert_eq!(requests[1]["status"], 302);
    assert!(requests[1]["latency_us"].is_u64());
    assert!(!logs.contains("SENTINEL"), "{logs}");
    assert!(!logs.contains(&api_key[4..]), "{logs}");
    assert!(!logs.contains("198.51.100.77"), "{logs}");
    // The click was stored (the graceful stop flushed it), with the referrer's host alone.
    let mut stored = Vec::new();
    for entry in std::fs::read_dir(dir.join("data")).unwrap() {
        stored.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let stored = String::from_utf8_lossy(&stored);
    assert!(stored.contains("forum.example"), "the click was not stored");
    for secret in [
        "refpath-SENTINEL",
        "reftoken-SENTINEL",
        "198.51.100.77",
        "agent-SENTINEL",
    ] {
        assert!(!stored.contains(secret), "{secret} is in the store");
    }
    let peer_port = format!(":{}", server.addr.port());
    for event in &requests {
        let line = event.to_string();
        assert!(
            !line.contains("127.0.0.1") && !line.contains(&peer_port),
            "{line}"
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn the_healthcheck_command_tells_a_running_service_from_a_missing_one() {
    let dir = process::temp_dir("e2e-healthcheck");
    let mut server = process::start(&dir, &[]).await;
    let listen = server.addr.to_string();
    let probe = |listen: &str| {
        std::process::Command::new(binary())
            .current_dir(&dir)
            .env("URL_SHORTENER__SERVER__LISTEN", listen)
            .arg("healthcheck")
            .output()
            .unwrap()
    };

    assert!(probe(&listen).status.success());
    let unspecified = format!("0.0.0.0:{}", server.addr.port());
    assert!(
        probe(&unspecified).status.success(),
        "0.0.0.0 is probed on loopback"
    );

    process::signal(&server.child, Signal::SIGTERM);
    assert!(server.child.wait().await.unwrap().success());
    let gone = probe(&listen);
    assert!(!gone.status.success());
    assert!(String::from_utf8_lossy(&gone.stderr).contains(&listen));
    std::fs::remove_dir_all(dir).unwrap();
}
