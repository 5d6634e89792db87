//! `RedisLinkTier`: the fleet's shared link cache in Redis (`cache.redis_url`): a hash per code
//! at `{prefix}{code}` (`u` destination, `c` created, `e` expires, `o` owner, `r` routing; `m` alone for
//! "no such link"), each with its own expiry, so Redis forgets entries by itself and one never
//! outlives its link.
//!
//! A tier is only worth asking while it answers fast: every call has a short deadline
//! (`cache.redis_timeout_ms`), and after a failure the tier is skipped for a second (reads go
//! straight to the store) instead of adding that deadline to every request of an outage.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use super::{connection_manager, millis_field, unavailable};
use crate::domain::{LongUrl, Routing, ShortCode, UrlRecord};
use crate::repository::{LinkTier, RepoError, Tiered};

/// How long the tier is skipped after it failed.
const SKIP_AFTER_FAILURE: Duration = Duration::from_secs(1);

/// The shared link cache in Redis.
pub struct RedisLinkTier {
    connection: ConnectionManager,
    prefix: String,
    timeout: Duration,
    origin: Instant,
    /// Milliseconds since `origin` before which the tier is not asked (0: ask).
    skip_until_ms: AtomicU64,
}

/// The least time a connection attempt to the tier gets.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

impl RedisLinkTier {
    /// Connects to `url`; keys under `prefix`; every call gives up after `timeout`.
    ///
    /// # Errors
    /// When the URL is invalid or Redis cannot be reached at start (the service then refuses
    /// to start rather than run without the tier it was told to use).
    pub async fn connect(url: &str, prefix: &str, timeout: Duration) -> Result<Self, RepoError> {
        Ok(Self {
            // Connecting (at start, and each reconnect) gets at least CONNECT_TIMEOUT: a TCP and
            // TLS handshake on a busy host can take longer than a lookup's budget (50 ms by
            // default), and a start that fails on that would be a false "cannot connect". Each
            // call still gives up after `timeout` (see `guarded`).
            connection: connection_manager(url, timeout.max(CONNECT_TIMEOUT))
                .await
                .map_err(unavailable)?,
            prefix: prefix.to_owned(),
            timeout,
            origin: Instant::now(),
            skip_until_ms: AtomicU64::new(0),
        })
    }

    fn key(&self, code: &ShortCode) -> String {
        format!("{}{code}", self.prefix)
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Runs `call` unless the tier is being skipped, within the deadline; a failure starts a
    /// skip.
    async fn guarded<T>(
        &self,
        call: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, RepoError> {
        if self.now_ms() < self.skip_until_ms.load(Ordering::Relaxed) {
            return Err(RepoError::Unavailable(
                "the link tier is being skipped".into(),
            ));
        }
        let outcome = match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(e)) => e.to_string(),
            Err(_) => "the link tier did not answer in time".to_owned(),
        };
        let until = self.now_ms() + SKIP_AFTER_FAILURE.as_millis() as u64;
        self.skip_until_ms.store(until, Ordering::Relaxed);
        Err(RepoError::Unavailable(outcome))
    }
}

#[async_trait]
impl LinkTier for RedisLinkTier {
    async fn get(&self, code: &ShortCode) -> Result<Option<Tiered>, RepoError> {
        let mut connection = self.connection.clone();
        let key = self.key(code);
        let fields: HashMap<String, String> = self
            .guarded(async move { connection.hgetall(key).await })
            .await?;
        if fields.is_empty() {
            return Ok(None);
        }
        if fields.contains_key("m") {
            return Ok(Some(Tiered::Missing));
        }
        let corrupt = || RepoError::Corrupt(format!("cached link '{code}' in Redis"));
        let time = |name: &str| millis_field(&fields, name, corrupt);
        let record = UrlRecord::new(
            code.clone(),
            LongUrl::from_trusted(fields.get("u").ok_or_else(corrupt)?.clone()),
            time("c")?.ok_or_else(corrupt)?,
            time("e")?,
        )
        .owned_by(fields.get("o").cloned())
        .routed(Routing::from_stored(fields.get("r").map(String::as_str)).map_err(|_| corrupt())?);
        Ok(Some(Tiered::Link(record)))
    }

    async fn put(&self, record: &UrlRecord, ttl: Duration) -> Result<(), RepoError> {
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).max(1);
        let mut fields = vec![
            ("u", record.long_url.as_str().to_owned()),
            ("c", record.created_at.as_unix_millis().to_string()),
        ];
        if let Some(expires_at) = record.expires_at {
            fields.push(("e", expires_at.as_unix_millis().to_string()));
        }
        if let Some(owner) = &record.owner {
            fields.push(("o", owner.clone()));
        }
        if let Some(routing) = record.routing.to_stored() {
            fields.push(("r", routing));
        }
        let mut connection = self.connection.clone();
        let key = self.key(&record.short_code);
        self.guarded(async move {
            redis::pipe()
                .atomic()
                .del(&key)
                .ignore()
                .hset_multiple(&key, &fields)
                .ignore()
                .pexpire(&key, ttl_ms)
                .ignore()
                .query_async::<()>(&mut connection)
                .await
        })
        .await
    }

    async fn put_missing(&self, code: &ShortCode, ttl: Duration) -> Result<(), RepoError> {
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).max(1);
        let mut connection = self.connection.clone();
        let key = self.key(code);
        self.guarded(async move {
            redis::pipe()
                .atomic()
                .hset(&key, "m", 1)
                .ignore()
                .pexpire(&key, ttl_ms)
                .ignore()
                .query_async::<()>(&mut connection)
                .await
        })
        .await
    }

    async fn forget(&self, code: &ShortCode) -> Result<(), RepoError> {
        let mut connection = self.connection.clone();
        let key = self.key(code);
        self.guarded(async move { connection.del::<_, i64>(key).await })
            .await
            .map(|_| ())
    }
}
