//! Where the test servers are and how to get an isolated store on each. `scripts/test` starts
//! the servers and exports their addresses; a test that needs a missing server fails with a
//! message saying so, it never skips.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use url_shortener::config::PostgresSettings;
use url_shortener::domain::{RandomCodeGen, ShortCodeGen};
use url_shortener::repository::{DynamoDbRepository, PostgresRepository, RedisRepository};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A name no other test in any process or run uses: `{what}-{pid}-{n}-{random}`.
pub fn unique(what: &str) -> String {
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let random = RandomCodeGen::new(8).unwrap().generate();
    format!("{what}-{}-{n}-{random}", std::process::id())
}

/// The Redis server the tests use.
pub fn redis_url() -> String {
    std::env::var("URL_SHORTENER_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// The DynamoDB-compatible server the tests use.
pub fn dynamodb_endpoint() -> String {
    std::env::var("URL_SHORTENER_TEST_DYNAMODB_ENDPOINT").expect(
        "URL_SHORTENER_TEST_DYNAMODB_ENDPOINT is not set: run the suite with scripts/test, which \
         starts a DynamoDB-compatible server (moto), or point the variable at one",
    )
}

/// Sets the dummy credentials a local DynamoDB-compatible server accepts, unless the
/// environment has its own; never lets the SDK ask an instance-metadata endpoint.
pub fn local_aws_env() {
    for (key, value) in [
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ] {
        if std::env::var_os(key).is_none() {
            panic!("{key} is not set: run the suite with scripts/test (it sets {key}={value})");
        }
    }
}

/// A Redis store under a fresh key prefix; the prefix's keys are deleted on drop.
pub struct RedisScope {
    pub prefix: String,
}

impl RedisScope {
    pub async fn open() -> (RedisRepository, Self) {
        let prefix = format!("{}:", unique("test"));
        let repo = RedisRepository::connect(&redis_url(), &prefix, Duration::from_secs(2))
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "Redis at {} is not reachable ({e}); scripts/test starts one",
                    redis_url()
                )
            });
        (repo, Self { prefix })
    }
}

impl Drop for RedisScope {
    fn drop(&mut self) {
        let Ok(client) = redis::Client::open(redis_url()) else {
            return;
        };
        let Ok(mut conn) = client.get_connection() else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", self.prefix))
            .query(&mut conn)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: redis::RedisResult<()> = redis::cmd("DEL").arg(keys).query(&mut conn);
        }
    }
}

/// A DynamoDB store in a fresh table.
pub async fn dynamodb_table() -> (DynamoDbRepository, String) {
    local_aws_env();
    let table = unique("links");
    let client = DynamoDbRepository::client(
        "us-east-1",
        Some(&dynamodb_endpoint()),
        Duration::from_secs(10),
    )
    .await;
    let repo = DynamoDbRepository::new(client, &table, true)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "DynamoDB-compatible server at {} is not usable ({e}); scripts/test starts one",
                dynamodb_endpoint()
            )
        });
    (repo, table)
}

/// The PostgreSQL database the tests use: `scripts/test` creates a fresh one per run (and
/// drops it after) and exports its URL.
pub fn postgres_url() -> String {
    std::env::var("URL_SHORTENER_TEST_POSTGRES_URL").expect(
        "URL_SHORTENER_TEST_POSTGRES_URL is not set: run the suite with scripts/test, which \
         starts PostgreSQL if needed and creates a scratch database, or point the variable at one",
    )
}

/// Runs `sql` on the test database with psql (for set-up and clean-up outside any runtime).
pub fn psql(url: &str, sql: &str) -> String {
    let out = std::process::Command::new("psql")
        .args([
            url,
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ])
        .output()
        .expect("psql is not installed; scripts/test installs the PostgreSQL client");
    assert!(
        out.status.success(),
        "psql failed on {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A fresh schema in the test database: every connection of a store opened on it sees only
/// that schema (its `search_path`), so each test has its own tables, migrated from scratch.
/// The schema and everything in it is dropped on drop.
pub struct PostgresScope {
    pub schema: String,
}

impl PostgresScope {
    pub fn new() -> Self {
        let schema = unique("t").replace('-', "_").to_lowercase();
        psql(&postgres_url(), &format!("CREATE SCHEMA {schema}"));
        Self { schema }
    }

    /// The URL of the test database with this schema as the search path.
    pub fn url(&self) -> String {
        let base = postgres_url();
        let sep = if base.contains('?') { '&' } else { '?' };
        format!("{base}{sep}options[search_path]={}", self.schema)
    }

    /// [`Self::url`] with the server's address replaced by `addr` (a proxy in front of it).
    pub fn url_via(&self, addr: std::net::SocketAddr) -> String {
        let mut url = url::Url::parse(&self.url()).unwrap();
        url.set_ip_host(addr.ip()).unwrap();
        url.set_port(Some(addr.port())).unwrap();
        url.to_string()
    }

    /// The server's address.
    pub fn server_addr() -> std::net::SocketAddr {
        let url = url::Url::parse(&postgres_url()).unwrap();
        let host = url.host_str().unwrap_or("127.0.0.1");
        let host = if host == "localhost" {
            "127.0.0.1"
        } else {
            host
        };
        format!("{host}:{}", url.port().unwrap_or(5432))
            .parse()
            .expect("the test database URL names its server by IP address")
    }

    /// A text dump (`pg_dump --data-only`) of everything stored in this schema.
    pub fn dump(&self) -> String {
        let out = std::process::Command::new("pg_dump")
            .args([&postgres_url(), "--data-only", "--schema", &self.schema])
            .output()
            .expect("pg_dump is installed with the PostgreSQL client");
        assert!(
            out.status.success(),
            "pg_dump failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Settings for a store in this schema.
    pub fn settings(&self) -> PostgresSettings {
        PostgresSettings {
            url: self.url(),
            ..PostgresSettings::default()
        }
    }

    /// A store in this schema (migrated on the way).
    pub async fn open(&self) -> PostgresRepository {
        PostgresRepository::connect(&self.settings(), Duration::from_secs(5))
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "PostgreSQL at {} is not usable ({e}); scripts/test starts one",
                    postgres_url()
                )
            })
    }

    /// Runs `sql` in this schema.
    pub fn psql(&self, sql: &str) -> String {
        psql(
            &postgres_url(),
            &format!("SET search_path TO {}; {sql}", self.schema),
        )
    }
}

impl Drop for PostgresScope {
    fn drop(&mut self) {
        let _ = std::process::Command::new("psql")
            .args([
                &postgres_url(),
                "-X",
                "-q",
                "-c",
                &format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema),
            ])
            .output();
    }
}

/// A PostgreSQL store in a fresh schema, with the guard that drops it.
pub async fn postgres_schema() -> (PostgresRepository, PostgresScope) {
    let scope = PostgresScope::new();
    (scope.open().await, scope)
}
