//! The binary on its default store (SQLite in `data/` under the working directory) survives
//! `kill -9` with every acknowledged link, and a graceful restart with every click.

use crate::common;

use std::collections::HashMap;
use std::sync::Arc;

use common::process::{self, ServerProcess};
use nix::sys::signal::Signal;
use serde_json::{Value, json};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Creates `n` links with 25 concurrent clients; returns code → long URL for every 201.
async fn create_links(server: &ServerProcess, n: usize) -> HashMap<String, String> {
    let client = client();
    let root = Arc::new(format!("http://{}", server.addr));
    let workers: Vec<_> = (0..25)
        .map(|w| {
            let (client, root) = (client.clone(), root.clone());
            tokio::spawn(async move {
                let mut made = Vec::new();
                for i in (w..n).step_by(25) {
                    let long_url = format!("https://example.com/durable/{i}");
                    let response = client
                        .post(format!("{root}/shorten"))
                        .json(&json!({ "long_url": long_url }))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), 201);
                    let body: Value = response.json().await.unwrap();
                    made.push((body["short_code"].as_str().unwrap().to_owned(), long_url));
                }
                made
            })
        })
        .collect();
    let mut links = HashMap::new();
    for worker in workers {
        links.extend(worker.await.unwrap());
    }
    links
}

#[tokio::test]
async fn every_acknowledged_link_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = process::start(dir.path(), &[]).await;
    let links = create_links(&server, 1_000).await;
    assert_eq!(links.len(), 1_000);

    process::signal(&server.child, Signal::SIGKILL);
    let status = server.child.wait().await.unwrap();
    assert!(
        !status.success(),
        "SIGKILL should not look like a clean exit"
    );
    assert!(dir.path().join("data/url-shortener.db").exists());

    let restarted = process::start(dir.path(), &[]).await;
    let client = client();
    let root = format!("http://{}", restarted.addr);
    for (code, long_url) in &links {
        let response = client
            .head(format!("{root}/s/{code}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 302, "{code}");
        assert_eq!(response.headers()["location"], long_url.as_str());
    }
}

#[tokio::test]
async fn click_counts_survive_a_graceful_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = process::start(dir.path(), &[]).await;
    let links = create_links(&server, 20).await;
    let client = client();
    let root = format!("http://{}", server.addr);
    let mut expected = HashMap::new();
    for (i, code) in links.keys().enumerate() {
        for _ in 0..=i % 4 {
            let response = client.get(format!("{root}/s/{code}")).send().await.unwrap();
            assert_eq!(response.status(), 302);
        }
        expected.insert(code.clone(), (i % 4 + 1) as u64);
    }

    process::signal(&server.child, Signal::SIGTERM);
    assert!(server.child.wait().await.unwrap().success());

    let restarted = process::start(dir.path(), &[]).await;
    let root = format!("http://{}", restarted.addr);
    for (code, clicks) in &expected {
        let stats = process::get_json(&client, &format!("{root}/stats/{code}")).await;
        assert_eq!(stats["click_count"], *clicks, "{code}");
        assert!(stats["last_accessed_at"].is_string());
    }
}
