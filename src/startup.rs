//! The one composition root: settings in, a running service out. [`Application::build`] opens
//! the stores, builds the services and the HTTP state, starts the background loops and binds
//! the listener; [`Application::run`] serves until SIGTERM or Ctrl-C and drains. [`workers_only`]
//! is `url-shortener worker`: the background loops without the server. `main.rs` only parses the
//! command line and picks one.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures_util::future::BoxFuture;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::{ClickQueueKind, Settings, StorageBackend, redact_password};
use crate::domain::SystemClock;
use crate::limiter::build_limiter;
use crate::metrics::Metrics;
use crate::repository::{RedisChangeFeed, RedisLinkTier, build_stores};
use crate::service::{SharedTier, link_health};
use crate::state::Wiring;
use crate::telemetry::{self, BatchWriterGuard};
use crate::{AppState, app, serve_sharded, serve_with, shutdown, worker};

/// A service built from its settings and bound to its address, not yet serving.
pub struct Application {
    state: AppState,
    listener: TcpListener,
    shards: Option<usize>,
    grace: Duration,
    limits: crate::ConnectionLimits,
    workers: worker::Background,
    background_stop: watch::Sender<bool>,
    _log_guard: BatchWriterGuard,
}

impl Application {
    /// Opens the store, builds the services and the state, starts the background loops
    /// `settings` ask for, and binds `server.listen`. `shards`: serve on that many threads of
    /// their own ([`crate::serve_sharded`]); `None`: on the caller's runtime.
    ///
    /// # Errors
    /// When the store, the limiter, the cache tier or the click queue cannot be reached, or the
    /// address cannot be bound; the message names the setting.
    pub async fn build(settings: &Settings, shards: Option<usize>) -> anyhow::Result<Self> {
        let log_guard = telemetry::init(&settings.log)?;

        let metrics = Metrics::new();
        let stores = build_stores(&settings.storage, &metrics).await?;
        let repo = stores.links.clone();
        let sessions = stores.accounts.sessions.clone();
        let clock = Arc::new(SystemClock);
        let storage_timeout = Duration::from_millis(settings.storage.timeout_ms);
        let limiter = build_limiter(&settings.rate_limit, storage_timeout).await?;
        // Everything the services are connected to comes first, so they are whole when built.
        let clicks =
            worker::ClickPipeline::connect(&settings.clicks, settings.workers.enabled, true)
                .await?;
        let feed = connect_change_feed(settings, storage_timeout).await?;
        let wiring = Wiring {
            clicks: clicks.pipe(),
            tier: connect_tier(settings).await?,
            changes: feed
                .clone()
                .map(|feed| feed as Arc<dyn crate::repository::LinkChangeFeed>),
        };
        let state = AppState::from_settings(
            settings,
            stores,
            clock.clone(),
            None,
            limiter,
            metrics,
            wiring,
        )?;

        // Background work stops only after the server has drained, so the clicks of the last
        // requests are in the buffer (or the outbox) before the final flush.
        let (background_stop, background) = watch::channel(false);
        let workers = worker::start(
            settings,
            worker::Parts {
                clicks,
                repo,
                sessions: Some(sessions),
                clock,
                expired: Some(state.metrics.links_expired_removed.clone()),
                link_health: state.link_health.clone(),
                changes: feed.zip(state.urls.shared_cache()),
            },
            &background,
        );

        state.accounts.prepare().await?;
        // First run: the one secret this service ever logs, on purpose, for the operator.
        match state.accounts.open_setup().await {
            Ok(None) => {}
            Ok(Some(token)) => tracing::warn!(
                setup_url = format!("{}/setup?token={}", state.web.base_url, token.expose()),
                setup_token = token.expose(),
                "no administrator yet: open setup_url in a browser to create one (or POST \
             /api/setup with setup_token, or run `url-shortener user create NAME --admin` with \
             the same --config and environment)"
            ),
            Err(error) => tracing::warn!(%error, "could not check for an administrator"),
        }

        let addr = settings.listen_addr()?;
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("server.listen: cannot bind {addr}"))?;
        tracing::info!(
            listen = %listener.local_addr()?,
            base_url = %settings.server.base_url,
            storage = ?settings.storage.backend,
            "url-shortener ready"
        );
        Ok(Self {
            state,
            listener,
            shards,
            grace: Duration::from_secs(settings.server.shutdown_timeout_seconds),
            limits: settings.connection_limits(),
            workers,
            background_stop,
            _log_guard: log_guard,
        })
    }

    /// The address the listener is bound to.
    ///
    /// # Errors
    /// When the socket cannot tell.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until SIGTERM or Ctrl-C, then stops taking connections, lets in-flight requests
    /// finish (at most `server.shutdown_timeout_seconds`), and stops the background loops after
    /// the server has drained, so the clicks of the last requests are written.
    ///
    /// # Errors
    /// When serving fails or a background loop ends in error.
    pub async fn run(self) -> anyhow::Result<()> {
        let lifecycle = self.state.lifecycle.clone();
        let (stop_tx, stop_rx) = watch::channel(false);
        tokio::spawn(async move {
            shutdown::signal().await;
            tracing::info!("shutdown requested; draining in-flight requests");
            lifecycle.begin_shutdown();
            stop_tx.send_replace(true);
        });
        let stopped = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        let grace = self.grace;
        let limits = self.limits;
        let served: BoxFuture<'static, std::io::Result<()>> = match self.shards {
            Some(threads) => Box::pin(serve_sharded(
                self.listener.into_std()?,
                threads,
                app(self.state.clone()),
                limits,
                stop_rx.clone(),
            )?),
            None => Box::pin(serve_with(
                self.listener,
                app(self.state.clone()),
                limits,
                stopped(stop_rx.clone()),
            )),
        };
        tokio::select! {
            result = served => result.context("server failed")?,
            () = async { stopped(stop_rx).await; tokio::time::sleep(grace).await } => {
                tracing::warn!(?grace, "requests still in flight after the shutdown timeout; exiting");
            }
        }

        self.background_stop.send_replace(true);
        self.workers.join().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// The fleet's shared cache tier (`cache.redis_url`), connected; `None` without one.
async fn connect_tier(settings: &Settings) -> anyhow::Result<Option<SharedTier>> {
    let cache = &settings.cache;
    let Some(url) = &cache.redis_url else {
        return Ok(None);
    };
    let tier = RedisLinkTier::connect(
        url,
        &cache.redis_key_prefix,
        Duration::from_millis(cache.redis_timeout_ms),
    )
    .await
    .with_context(|| {
        format!(
            "cache.redis_url: cannot connect to {}",
            redact_password(url)
        )
    })?;
    Ok(Some(SharedTier {
        tier: Arc::new(tier),
        ttl: Duration::from_secs(cache.ttl_seconds),
        negative_ttl: Duration::from_millis(cache.negative_ttl_ms),
    }))
}

/// With a Redis (the cache tier's, else the store's), edits and deletes reach every instance's
/// cache at once: the feed this instance announces its changes on and hears the others' from.
async fn connect_change_feed(
    settings: &Settings,
    storage_timeout: Duration,
) -> anyhow::Result<Option<Arc<RedisChangeFeed>>> {
    let cache = &settings.cache;
    let feed_on = match (&cache.redis_url, &settings.storage.backend) {
        (Some(url), _) => Some((url, &cache.redis_key_prefix, "cache.redis_url")),
        (None, StorageBackend::Redis) => Some((
            &settings.storage.redis.url,
            &settings.storage.redis.key_prefix,
            "storage.redis.url",
        )),
        (None, _) => None,
    };
    // Only instances with a cache of their own have anything to forget.
    let Some((url, prefix, setting)) = feed_on.filter(|_| settings.keeps_link_cache()) else {
        return Ok(None);
    };
    let feed = RedisChangeFeed::connect(url, prefix, storage_timeout)
        .await
        .with_context(|| format!("{setting}: cannot connect for link changes"))?;
    Ok(Some(Arc::new(feed)))
}

/// `url-shortener worker`: runs the click processor (`clicks.queue = "redis"`) and the expiry
/// sweeper until SIGTERM or Ctrl-C, then lets them finish their current batch.
///
/// # Errors
/// When the settings ask for the memory queue (nothing to process from another process), or
/// the store or the queue cannot be reached.
pub async fn workers_only(settings: &Settings) -> anyhow::Result<()> {
    if settings.clicks.queue == ClickQueueKind::Memory {
        anyhow::bail!(
            "clicks.queue: `url-shortener worker` processes the Redis click queue; with \
             clicks.queue = \"memory\" every instance writes its own clicks"
        );
    }
    if !settings.workers.enabled {
        anyhow::bail!("workers.enabled: `url-shortener worker` with workers disabled runs nothing");
    }
    let _log_guard = telemetry::init(&settings.log)?;
    let metrics = Metrics::new();
    let stores = build_stores(&settings.storage, &metrics).await?;
    let (stop, stopped) = watch::channel(false);
    let clock = Arc::new(SystemClock);
    let link_health = link_health::build(
        settings,
        stores.link_health.clone(),
        stores.links.clone(),
        clock.clone(),
        &metrics,
    )
    .map_err(anyhow::Error::msg)?;
    let clicks = worker::ClickPipeline::connect(&settings.clicks, true, false)
        .await
        .context("cannot start the workers")?;
    let workers = worker::start(
        settings,
        worker::Parts {
            clicks,
            repo: stores.links,
            sessions: Some(stores.accounts.sessions),
            clock,
            expired: None,
            link_health,
            changes: None,
        },
        &stopped,
    );
    tracing::info!(storage = ?settings.storage.backend, "url-shortener worker ready");
    shutdown::signal().await;
    tracing::info!("shutdown requested; finishing the current batches");
    stop.send_replace(true);
    workers.join().await;
    tracing::info!("stopped");
    Ok(())
}
