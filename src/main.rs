//! Entry point: load settings, build the store and the services, bind, serve, and shut down
//! gracefully. Only wiring lives here.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use futures_util::future::BoxFuture;
use tokio::net::TcpListener;
use tokio::sync::watch;

use url_shortener::cli::{Cli, Command, run_api_key, run_healthcheck, run_user, run_worker};
use url_shortener::config::{ServerRuntime, Settings, StorageBackend, redact_password};
use url_shortener::domain::SystemClock;
use url_shortener::limiter::build_limiter;
use url_shortener::metrics::Metrics;
use url_shortener::repository::{RedisChangeFeed, RedisLinkTier, build_stores};
use url_shortener::{AppState, app, serve_sharded, serve_with, shutdown, telemetry, worker};

/// mimalloc instead of glibc's malloc: a request makes dozens of small, short-lived allocations
/// across two worker threads (hyper, axum, the handler), where glibc's malloc/free and their
/// fastbin consolidation took 12% of a redirect's CPU (perf, memory store under wrk).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::load(cli.config.as_deref())?;
    let threads = settings.server.threads();
    let serving = matches!(cli.command, None | Some(Command::Serve));
    // Sharded: requests run on threads of their own (serve_sharded); this runtime keeps only
    // the start, the signals and the background work, which one thread carries.
    let shards = (serving && threads > 1 && settings.server.runtime == ServerRuntime::Sharded)
        .then_some(threads);
    runtime(if shards.is_some() { 1 } else { threads })?.block_on(run(cli, settings, shards))
}

/// The async runtime of `threads` threads. With one, a current-thread runtime: a
/// work-stealing scheduler with one worker only adds cross-thread queues and wake-ups
/// (measured: about 5% of a redirect's CPU).
fn runtime(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(threads);
        builder
    };
    builder.enable_all().build()
}

async fn run(cli: Cli, settings: Settings, shards: Option<usize>) -> anyhow::Result<()> {
    match cli.command {
        Some(Command::ApiKey(command)) => return run_api_key(command, &settings).await,
        Some(Command::User(command)) => return run_user(command, &settings).await,
        Some(Command::Healthcheck { path }) => return run_healthcheck(&settings, &path).await,
        Some(Command::Worker) => return run_worker(&settings).await,
        Some(Command::Serve) | None => {}
    }
    let _log_guard = telemetry::init(&settings.log)?;

    let metrics = Metrics::new();
    let stores = build_stores(&settings.storage, &metrics).await?;
    let repo = stores.links.clone();
    let sessions = stores.accounts.sessions.clone();
    let clock = Arc::new(SystemClock);
    let storage_timeout = Duration::from_millis(settings.storage.timeout_ms);
    let limiter = build_limiter(&settings.rate_limit, storage_timeout).await?;
    let state = AppState::from_settings(&settings, stores, clock.clone(), None, limiter, metrics)?;
    let lifecycle = state.lifecycle.clone();

    // Background work stops only after the server has drained, so the clicks of the last
    // requests are in the buffer (or the outbox) before the final flush.
    let (background_stop, background) = watch::channel(false);
    let workers = worker::start(
        &settings,
        worker::Parts {
            urls: Some(state.urls.clone()),
            repo,
            sessions: Some(sessions),
            clock,
            expired: Some(state.metrics.links_expired_removed.clone()),
            link_health: state.link_health.clone(),
        },
        &background,
    )
    .await?;

    let cache = &settings.cache;
    if let Some(url) = &cache.redis_url {
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
        state.urls.use_shared_tier(
            Arc::new(tier),
            Duration::from_secs(cache.ttl_seconds),
            Duration::from_millis(cache.negative_ttl_ms),
        );
    }
    // With a Redis (the store's or the cache tier's), edits and deletes reach every
    // instance's cache at once.
    let feed_on = match (&cache.redis_url, &settings.storage.backend) {
        (Some(url), _) => Some((
            url.clone(),
            cache.redis_key_prefix.clone(),
            "cache.redis_url",
        )),
        (None, StorageBackend::Redis) => Some((
            settings.storage.redis.url.clone(),
            settings.storage.redis.key_prefix.clone(),
            "storage.redis.url",
        )),
        (None, _) => None,
    };
    let change_listener = match (feed_on, state.urls.shared_cache()) {
        (Some((url, prefix, setting)), Some(cache)) => {
            let feed = RedisChangeFeed::connect(&url, &prefix, storage_timeout)
                .await
                .with_context(|| format!("{setting}: cannot connect for link changes"))?;
            let listener = feed.listen(
                move |code| match code {
                    Some(code) => cache.forget(&code),
                    None => cache.clear(),
                },
                background_stop.subscribe(),
            );
            state.urls.announce_changes_to(Arc::new(feed));
            Some(listener)
        }
        _ => None,
    };

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
    let grace = Duration::from_secs(settings.server.shutdown_timeout_seconds);
    let limits = settings.connection_limits();
    let served: BoxFuture<'static, std::io::Result<()>> = match shards {
        Some(threads) => Box::pin(serve_sharded(
            listener.into_std()?,
            threads,
            app(state),
            limits,
            stop_rx.clone(),
        )?),
        None => Box::pin(serve_with(
            listener,
            app(state),
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

    background_stop.send_replace(true);
    workers.join().await;
    if let Some(listener) = change_listener {
        listener.await.context("link-change listener")?;
    }
    tracing::info!("stopped");
    Ok(())
}
