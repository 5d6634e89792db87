//! [`Stores`]: one backend seen through each of its store traits, and [`build_stores`], the one
//! place that turns `[storage]` settings into a backend.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use super::*;
use crate::config::{StorageBackend, StorageSettings};
use crate::metrics::{Metrics, StorageLabels};

/// One backend seen through each of its interfaces.
#[derive(Clone)]
pub struct Stores {
    /// Links.
    pub links: Arc<dyn Repository>,
    /// API keys.
    pub keys: Arc<dyn ApiKeyStore>,
    /// Click analytics (the reads; writes ride on [`Repository::increment_click_counts`]).
    pub clicks: Arc<dyn ClickStatsStore>,
    /// The link-health schedule and records; `None` on a backend that has no link health
    /// yet (the checker does not run there, and `/stats` shows no health).
    pub link_health: Option<Arc<dyn LinkHealthStore>>,
    /// Users, sessions and invites.
    pub accounts: AccountStores,
}

/// The account interfaces of one backend.
#[derive(Clone)]
pub struct AccountStores {
    /// Users.
    pub users: Arc<dyn UserStore>,
    /// Login sessions.
    pub sessions: Arc<dyn SessionStore>,
    /// Invites.
    pub invites: Arc<dyn InviteStore>,
}

impl AccountStores {
    /// The account views of one backend.
    pub fn of<B: UserStore + SessionStore + InviteStore>(backend: Arc<B>) -> Self {
        Self {
            users: backend.clone(),
            sessions: backend.clone(),
            invites: backend,
        }
    }
}

impl Stores {
    /// The link and key views of one backend, with accounts and click analytics in a fresh
    /// memory store: for test doubles and wrappers of links and keys only.
    pub fn with_memory_accounts<B: Repository + ApiKeyStore>(backend: B) -> Self {
        let memory = Arc::new(MemoryRepository::new());
        Self::split(backend, memory.clone(), AccountStores::of(memory))
    }

    /// The link and key views of `backend` (a wrapper, say), with `clicks` and `accounts`
    /// beside them.
    fn split<B: Repository + ApiKeyStore>(
        backend: B,
        clicks: Arc<dyn ClickStatsStore>,
        accounts: AccountStores,
    ) -> Self {
        let backend = Arc::new(backend);
        Self {
            links: backend.clone(),
            keys: backend,
            clicks,
            link_health: None,
            accounts,
        }
    }

    /// Every view of one backend that keeps accounts and analytics too.
    pub fn with_accounts<B>(backend: B) -> Self
    where
        B: Repository + ApiKeyStore + UserStore + SessionStore + InviteStore + ClickStatsStore,
    {
        let backend = Arc::new(backend);
        Self {
            links: backend.clone(),
            keys: backend.clone(),
            clicks: backend.clone(),
            link_health: None,
            accounts: AccountStores::of(backend),
        }
    }

    /// The same stores, with `store` keeping link health.
    pub fn with_link_health(mut self, store: Arc<dyn LinkHealthStore>) -> Self {
        self.link_health = Some(store);
        self
    }

    /// A networked backend: links and keys behind a deadline and the error meter, accounts
    /// and analytics direct (they are rare next to redirects, and the clients' own timeouts
    /// bound them).
    fn metered_with_accounts<B>(
        backend: Arc<B>,
        timeout: Duration,
        name: &'static str,
        errors: Family<StorageLabels, Counter>,
    ) -> Self
    where
        B: Repository + ApiKeyStore + UserStore + SessionStore + InviteStore + ClickStatsStore,
    {
        Self::split(
            Metered::new(Deadline::new(backend.clone(), timeout), name, errors),
            backend.clone(),
            AccountStores::of(backend),
        )
    }
}

/// Builds the backend named by `settings.backend`.
///
/// # Errors
/// When the backend cannot be opened (a file that cannot be created, a server that refuses the
/// connection); the message names the setting to look at.
pub async fn build_stores(
    settings: &StorageSettings,
    metrics: &Metrics,
) -> Result<Stores, anyhow::Error> {
    let errors = metrics.storage_errors.clone();
    let timeout = Duration::from_millis(settings.timeout_ms);
    match settings.backend {
        // The memory store cannot fail, so it is not metered.
        StorageBackend::Memory => {
            let repo = Arc::new(MemoryRepository::new());
            Ok(Stores {
                links: repo.clone(),
                keys: repo.clone(),
                clicks: repo.clone(),
                link_health: Some(repo.clone()),
                accounts: AccountStores::of(repo),
            })
        }
        StorageBackend::Sqlite => {
            let sqlite = &settings.sqlite;
            let repo = SqliteRepository::open(&sqlite.path, sqlite.synchronous)
                .await
                .map_err(|e| anyhow::anyhow!("storage.sqlite.path: {e}"))?;
            // Accounts are rare next to redirects: they skip the metering wrapper.
            let repo = Arc::new(repo);
            let accounts = AccountStores::of(repo.clone());
            Ok(Stores::split(
                Metered::new(repo.clone(), "sqlite", errors),
                repo.clone(),
                accounts,
            )
            .with_link_health(repo))
        }
        StorageBackend::Redis => {
            let redis = &settings.redis;
            let repo = RedisRepository::connect(&redis.url, &redis.key_prefix, timeout)
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "storage.redis.url: cannot connect to {}: {e}",
                        crate::config::redact_password(&redis.url)
                    )
                })?;
            let repo = Arc::new(repo);
            Ok(
                Stores::metered_with_accounts(repo.clone(), timeout, "redis", errors)
                    .with_link_health(repo),
            )
        }
        StorageBackend::Dynamodb => {
            let dynamo = &settings.dynamodb;
            let client =
                DynamoDbRepository::client(&dynamo.region, dynamo.endpoint_url.as_deref(), timeout)
                    .await;
            let repo = DynamoDbRepository::new(client, &dynamo.table, dynamo.create_table)
                .await
                .map_err(|e| anyhow::anyhow!("storage.dynamodb.table '{}': {e}", dynamo.table))?;
            let repo = Arc::new(repo);
            Ok(
                Stores::metered_with_accounts(repo.clone(), timeout, "dynamodb", errors)
                    .with_link_health(repo),
            )
        }
        StorageBackend::Postgres => {
            let pg = &settings.postgres;
            let repo = PostgresRepository::connect(pg, timeout)
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "storage.postgres.url: cannot use {}: {e}",
                        crate::config::redact_password(&pg.url)
                    )
                })?;
            // Every call already has the deadline inside (see `postgres`), so no `Deadline`
            // wrapper: it would split click flushes into single increments.
            let repo = Arc::new(repo);
            let accounts = AccountStores::of(repo.clone());
            Ok(Stores::split(
                Metered::new(repo.clone(), "postgres", errors),
                repo.clone(),
                accounts,
            )
            .with_link_health(repo))
        }
    }
}
