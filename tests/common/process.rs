//! Runs the real `url-shortener` binary as a child process for end-to-end tests.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// `GET url`, whose body must be JSON: the parsed body. Panics on a transport error or a body
/// that is not JSON, which is a failed test.
pub async fn get_json(client: &reqwest::Client, url: &str) -> serde_json::Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

/// A running server process and the address it listens on.
pub struct ServerProcess {
    pub child: Child,
    pub addr: SocketAddr,
    /// Every stdout line (the JSON log) so far.
    pub logs: Arc<Mutex<Vec<String>>>,
    /// The task copying stdout into `logs`; it ends at the end of the pipe.
    drain: Option<tokio::task::JoinHandle<()>>,
}

impl ServerProcess {
    /// The whole log, for a process that has exited: waits (at most 30 s) until every line it
    /// wrote has been read. The service writes its last lines as it exits, so reading `logs`
    /// right after `child.wait()` can miss them.
    pub async fn logs_after_exit(&mut self) -> String {
        if let Some(drain) = self.drain.take() {
            tokio::time::timeout(Duration::from_secs(30), drain)
                .await
                .expect("stdout reaches its end within 30 s of the exit")
                .expect("the stdout reader does not panic");
        }
        self.logs.lock().unwrap().join("\n")
    }
}

/// Which build of the binary to run: the one cargo built for these tests, or `target/release`
/// when `URL_SHORTENER_BIN` names it.
pub fn binary() -> String {
    std::env::var("URL_SHORTENER_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_url-shortener").to_owned())
}

/// Starts the binary on 127.0.0.1:0 with JSON logs and `env`, in `dir`, and waits until it logs
/// that it is ready.
pub async fn start(dir: &Path, env: &[(&str, &str)]) -> ServerProcess {
    let mut command = Command::new(binary());
    command
        .current_dir(dir)
        .env("URL_SHORTENER__SERVER__LISTEN", "127.0.0.1:0")
        .env("URL_SHORTENER__LOG__FORMAT", "json")
        // Tests send bursts from one address; rate-limit tests pass `..ENABLED=true`.
        .env("URL_SHORTENER__RATE_LIMIT__ENABLED", "false")
        // Test links point at example.com and the like: no checks of them unless a test asks.
        .env("URL_SHORTENER__LINK_HEALTH__ENABLED", "false")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("the binary starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let logs = Arc::new(Mutex::new(Vec::new()));
    let addr = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            logs.lock().unwrap().push(line.clone());
            let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if event["message"] == "url-shortener ready" {
                return event["listen"]
                    .as_str()
                    .unwrap()
                    .parse::<SocketAddr>()
                    .unwrap();
            }
        }
        panic!("the server exited before it was ready");
    })
    .await
    .expect("the server becomes ready within 30 s");
    // Keep draining stdout so the server never blocks on a full pipe.
    let sink = logs.clone();
    let drain = tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            sink.lock().unwrap().push(line);
        }
    });
    ServerProcess {
        child,
        addr,
        logs,
        drain: Some(drain),
    }
}

/// A running `url-shortener worker` process.
pub struct WorkerProcess {
    pub child: Child,
    /// Every stdout line (the JSON log) so far.
    pub logs: Arc<Mutex<Vec<String>>>,
}

/// Starts `url-shortener worker` with JSON logs and `env`, in `dir`, and waits until it logs
/// that it is ready.
pub async fn start_worker(dir: &Path, env: &[(&str, &str)]) -> WorkerProcess {
    let mut command = Command::new(binary());
    command
        .arg("worker")
        .current_dir(dir)
        .env("URL_SHORTENER__LOG__FORMAT", "json")
        .env("URL_SHORTENER__LINK_HEALTH__ENABLED", "false")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("the binary starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let logs = Arc::new(Mutex::new(Vec::new()));
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            logs.lock().unwrap().push(line.clone());
            if line.contains("url-shortener worker ready") {
                return;
            }
        }
        panic!("the worker exited before it was ready");
    })
    .await
    .expect("the worker becomes ready within 30 s");
    let sink = logs.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            sink.lock().unwrap().push(line);
        }
    });
    WorkerProcess { child, logs }
}

/// Sends `signal` to the child.
pub fn signal(child: &Child, signal: nix::sys::signal::Signal) {
    let pid =
        nix::unistd::Pid::from_raw(i32::try_from(child.id().expect("child is running")).unwrap());
    nix::sys::signal::kill(pid, signal).expect("signal delivered");
}

/// A fresh empty directory under the system temp dir.
pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("url-shortener-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
