//! A real browser for the UI tests: Debian's `chromium` driven through `chromedriver` (W3C
//! WebDriver, with fantoccini), headless, on loopback only; axe-core injected into pages for
//! the accessibility check; screenshots saved under the target directory for a reviewer.
//!
//! Missing chromium, chromedriver or axe-core is a failed test, never a skip: `scripts/test`
//! installs all three.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

/// A window as wide as a laptop's.
pub const WIDE: (u32, u32) = (1280, 900);
/// A window as narrow as a phone's.
pub const NARROW: (u32, u32) = (390, 844);

/// A `chromedriver` on a free loopback port, stopped when dropped.
pub struct Driver {
    child: Child,
    pub url: String,
}

/// A free port on 127.0.0.1 (the listener is closed again; the port stays free in practice).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Driver {
    /// Starts chromedriver and waits until it answers.
    pub async fn start() -> Self {
        let port = free_port();
        // Its own process group, which the browsers it starts join: dropping the driver ends
        // them all, even when a test panicked before closing its browser.
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .expect(
                "chromedriver runs (scripts/test installs Debian's chromium and chromium-driver)",
            );
        let url = format!("http://127.0.0.1:{port}");
        let status = format!("{url}/status");
        let client = reqwest::Client::new();
        for _ in 0..100 {
            if client.get(&status).send().await.is_ok() {
                return Self { child, url };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not answer within 10 s");
    }

    /// A new headless browser session with a fresh profile; `javascript` false turns scripts
    /// off entirely, as a visitor may.
    pub async fn browser(&self, javascript: bool) -> Client {
        let profile = tempfile::tempdir().unwrap().keep();
        let mut options = json!({
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--no-first-run",
                "--disable-dev-shm-usage",
                format!("--user-data-dir={}", profile.display()),
                format!("--window-size={},{}", WIDE.0, WIDE.1),
            ],
        });
        if !javascript {
            options["prefs"] = json!({ "profile.managed_default_content_settings.javascript": 2 });
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert("goog:chromeOptions".into(), options);
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("a browser session starts")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id().and_then(|p| i32::try_from(p).ok()) {
            let group = nix::unistd::Pid::from_raw(pid);
            let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
        }
        let _ = self.child.start_kill();
    }
}

/// Where screenshots go: `<target>/ui-screenshots/`.
pub fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("ui-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Saves the page as `<name>-wide.png` and, at a phone's width, `<name>-narrow.png`.
pub async fn screenshots(client: &Client, name: &str) {
    let dir = screenshot_dir();
    for (suffix, (w, h)) in [("wide", WIDE), ("narrow", NARROW)] {
        client.set_window_size(w, h).await.unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
        let png = client.screenshot().await.unwrap();
        std::fs::write(dir.join(format!("{name}-{suffix}.png")), png).unwrap();
    }
    client.set_window_size(WIDE.0, WIDE.1).await.unwrap();
}

/// axe-core's script: `URL_SHORTENER_AXE_JS`, else the copy `scripts/test` installs under
/// `<target>/axe/`.
fn axe_source() -> String {
    let path = std::env::var("URL_SHORTENER_AXE_JS").map_or_else(
        |_| {
            PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
                .parent()
                .unwrap()
                .join("axe/node_modules/axe-core/axe.min.js")
        },
        PathBuf::from,
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "axe-core is needed at {} ({e}); scripts/test installs it from npm",
            path.display()
        )
    })
}

/// The serious and critical accessibility violations axe-core finds on the current page, as
/// `rule: target, target …` lines.
pub async fn axe_violations(client: &Client) -> Vec<String> {
    client
        .execute(&format!("{}\nreturn true;", axe_source()), vec![])
        .await
        .expect("axe-core loads into the page");
    let result = client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { resultTypes: ['violations'] })
               .then(r => done(r.violations.map(v => ({
                   id: v.id, impact: v.impact,
                   nodes: v.nodes.map(n => n.target.join(' ')) }))))
               .catch(e => done([{ id: 'axe-error', impact: 'critical', nodes: [String(e)] }]));",
            vec![],
        )
        .await
        .expect("axe-core runs");
    result
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
        .map(|v| {
            let nodes: Vec<&str> = v["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            format!("{}: {}", v["id"].as_str().unwrap_or("?"), nodes.join(", "))
        })
        .collect()
}

/// Waits (at most 10 s) for an element matching `css`.
pub async fn wait_for(client: &Client, css: &str) -> fantoccini::elements::Element {
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} appears within 10 s: {e}"))
}

/// Waits (at most 10 s) until the page's `<h1>` reads `text`.
pub async fn wait_for_heading(client: &Client, text: &str) {
    for _ in 0..100 {
        if let Ok(h1) = client.find(Locator::Css("h1")).await
            && let Ok(got) = h1.text().await
            && got.trim() == text
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let got = match client.find(Locator::Css("h1")).await {
        Ok(h1) => h1.text().await.unwrap_or_default(),
        Err(_) => "<no h1>".to_owned(),
    };
    panic!("the heading becomes {text:?} within 10 s; it is {got:?}");
}

/// Types `text` into the field matching `css`, replacing what it held.
pub async fn fill(client: &Client, css: &str, text: &str) {
    let field = client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} exists: {e}"));
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

/// Clicks the element matching `css`.
pub async fn click(client: &Client, css: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} exists: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("{css} can be clicked: {e}"));
}

/// The text of the element matching `css` (read again when htmx replaced the element between
/// finding and reading it).
pub async fn text_of(client: &Client, css: &str) -> String {
    let mut last = String::new();
    for _ in 0..20 {
        match client.find(Locator::Css(css)).await {
            Ok(element) => match element.text().await {
                Ok(text) => return text,
                Err(e) => last = e.to_string(),
            },
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{css} has a text within 2 s: {last}");
}
