//! Settings that put a release binary on a shared store (Redis, DynamoDB or PostgreSQL).

use std::path::Path;

use super::process::{self, ServerProcess};

/// Settings that put an instance on a shared store.
pub enum Store {
    /// The default store, `data/url-shortener.db` under the working directory.
    Sqlite,
    Redis {
        url: String,
        prefix: String,
    },
    Dynamodb {
        endpoint: String,
        table: String,
    },
    /// A database URL (a test schema's, see `backends::PostgresScope::url`).
    Postgres {
        url: String,
    },
}

impl Store {
    /// The `storage_errors_total` label of this store.
    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite => "sqlite",
            Store::Redis { .. } => "redis",
            Store::Dynamodb { .. } => "dynamodb",
            Store::Postgres { .. } => "postgres",
        }
    }

    pub fn env(&self, timeout_ms: u64) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("URL_SHORTENER__STORAGE__TIMEOUT_MS", timeout_ms.to_string()),
            (
                "URL_SHORTENER__SERVER__BASE_URL",
                "https://sho.rt".to_owned(),
            ),
        ];
        match self {
            Store::Sqlite => {}
            Store::Redis { url, prefix } => env.extend([
                ("URL_SHORTENER__STORAGE__BACKEND", "redis".to_owned()),
                ("URL_SHORTENER__STORAGE__REDIS__URL", url.clone()),
                ("URL_SHORTENER__STORAGE__REDIS__KEY_PREFIX", prefix.clone()),
            ]),
            Store::Dynamodb { endpoint, table } => env.extend([
                ("URL_SHORTENER__STORAGE__BACKEND", "dynamodb".to_owned()),
                (
                    "URL_SHORTENER__STORAGE__DYNAMODB__ENDPOINT_URL",
                    endpoint.clone(),
                ),
                ("URL_SHORTENER__STORAGE__DYNAMODB__TABLE", table.clone()),
            ]),
            Store::Postgres { url } => env.extend([
                ("URL_SHORTENER__STORAGE__BACKEND", "postgres".to_owned()),
                ("URL_SHORTENER__STORAGE__POSTGRES__URL", url.clone()),
            ]),
        }
        env
    }

    /// Starts an instance whose storage calls time out after `timeout_ms`.
    pub async fn start(&self, dir: &Path, timeout_ms: u64) -> ServerProcess {
        self.start_with(dir, timeout_ms, &[]).await
    }

    /// As [`Self::start`], with more settings.
    pub async fn start_with(
        &self,
        dir: &Path,
        timeout_ms: u64,
        extra: &[(&str, &str)],
    ) -> ServerProcess {
        let env = self.env(timeout_ms);
        let mut pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        pairs.extend_from_slice(extra);
        process::start(dir, &pairs).await
    }

    /// Runs `url-shortener ARGS` (a one-shot command such as `api-key list`) on this store in
    /// `dir`; returns stdout, asserting success.
    pub fn command(&self, dir: &Path, args: &[&str]) -> String {
        self.command_with_input(dir, args, "")
    }

    /// As [`Self::command`], with `stdin` as standard input (`--password-stdin`).
    pub fn command_with_input(&self, dir: &Path, args: &[&str], stdin: &str) -> String {
        use std::io::Write;
        let mut child = std::process::Command::new(process::binary())
            .current_dir(dir)
            .envs(self.env(5_000))
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "url-shortener {args:?}: {output:?}"
        );
        String::from_utf8(output.stdout).unwrap()
    }
}
