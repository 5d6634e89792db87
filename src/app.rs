//! The HTTP application: shared state, the router with its middleware, and `serve`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post};
use tower::ServiceBuilder;

use crate::config::{ConfigError, Settings, StorageBackend};
use crate::domain::{Clock, RandomCodeGen, ShortCode, ShortCodeGen, UrlPolicy};
use crate::handler;
use crate::limiter::Limiter;
use crate::metrics::Metrics;
use crate::middleware::{
    DeadlineLayer, Guards, LogLayer, LookupGuardLayer, TimingLayer, guard_create, recovery_layer,
};
use crate::repository::Stores;
use crate::service::{ApiKeyService, ClickBuffer, LinkCache, LinkPolicy, UrlService};

/// Every route template the router serves; metrics and logs label requests with these.
pub const ROUTES: &[&str] = &[
    "/shorten",
    "/s/{code}",
    "/stats/{code}",
    "/health",
    "/health/live",
    "/health/ready",
    "/metrics",
    "/openapi.json",
];

/// HTTP-level settings the handlers need.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Public origin (and optional path prefix) without a trailing slash.
    pub base_url: String,
    /// Status of redirects: 301, 302, 307 or 308.
    pub redirect_status: StatusCode,
    /// Deadline for a whole request.
    pub request_timeout: Duration,
}

impl WebConfig {
    /// The public short URL of `code`: `{base_url}/s/{code}`.
    pub fn short_url(&self, code: &ShortCode) -> String {
        format!("{}/s/{code}", self.base_url)
    }
}

/// Whether the instance is draining for shutdown; shared by every clone of the state.
#[derive(Debug, Clone, Default)]
pub struct Lifecycle(Arc<AtomicBool>);

impl Lifecycle {
    /// Marks the instance as shutting down: `/health/ready` starts answering 503.
    pub fn begin_shutdown(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether [`Self::begin_shutdown`] was called.
    pub fn is_shutting_down(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Everything a handler can reach. One `Arc`, so the clone every request makes of it (state
/// extractors, middleware) is one atomic increment; fields are reached through `Deref`.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The contents of [`AppState`].
pub struct Shared {
    /// Link use cases.
    pub urls: Arc<UrlService>,
    /// API keys and rate limits.
    pub guards: Arc<Guards>,
    /// HTTP settings.
    pub web: Arc<WebConfig>,
    /// Draining flag.
    pub lifecycle: Lifecycle,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
}

impl AppState {
    /// Builds the state from validated settings and the given seams.
    ///
    /// # Errors
    /// When a setting the state needs is invalid (normally caught by [`Settings::validate`]).
    pub fn from_settings(
        settings: &Settings,
        stores: Stores,
        clock: Arc<dyn Clock>,
        codes: Option<Arc<dyn ShortCodeGen>>,
        limiter: Option<Arc<dyn Limiter>>,
        mut metrics: Metrics,
    ) -> Result<Self, ConfigError> {
        let repo = stores.links;
        settings.validate()?;
        let base_url = settings.base_url()?;
        let url_policy = UrlPolicy::new(
            base_url.host_str(),
            settings.security.allow_private_destinations,
        );
        let codes = match codes {
            Some(codes) => codes,
            None => Arc::new(RandomCodeGen::new(settings.links.code_length).map_err(|e| {
                ConfigError {
                    message: format!("links.code_length: {e}"),
                }
            })?),
        };
        let link_policy = LinkPolicy {
            default_ttl_seconds: settings.links.default_ttl_seconds,
            max_ttl_seconds: settings.links.max_ttl_seconds,
        };
        // The memory store answers as fast as a cache would; caching it would only double memory.
        let cache = (settings.cache.capacity > 0
            && settings.storage.backend != StorageBackend::Memory)
            .then(|| {
                LinkCache::new(
                    settings.cache.capacity,
                    Duration::from_secs(settings.cache.ttl_seconds),
                    Duration::from_millis(settings.cache.negative_ttl_ms),
                    clock.clone(),
                )
            });
        let clicks = Arc::new(ClickBuffer::new(
            settings.clicks.max_pending_codes,
            settings.clicks.flush_threshold,
        ));
        let guards = Guards {
            limiter,
            keys: Arc::new(ApiKeyService::new(stores.keys, clock.clone())),
            require_api_key: settings.auth.require_api_key,
            trusted_proxies: settings.rate_limit.trusted_proxies.clone(),
        };
        let urls = Arc::new(
            UrlService::new(repo, clock, codes, url_policy, link_policy, cache, clicks)
                .count_creates_in(metrics.links_created.clone()),
        );
        metrics.observe(urls.clone());
        let redirect_status =
            StatusCode::from_u16(settings.links.redirect_status).map_err(|e| ConfigError {
                message: format!("links.redirect_status: {e}"),
            })?;
        let web = WebConfig {
            base_url: base_url.as_str().trim_end_matches('/').to_owned(),
            redirect_status,
            request_timeout: Duration::from_millis(settings.server.request_timeout_ms),
        };
        Ok(Self(Arc::new(Shared {
            urls,
            guards: Arc::new(guards),
            web: Arc::new(web),
            lifecycle: Lifecycle::default(),
            metrics: Arc::new(metrics),
        })))
    }
}

/// The router with every route and the middleware stack. Performs no I/O.
pub fn app(state: AppState) -> Router {
    // The onion, outermost first; a request passes down the list and its response back up:
    //
    //   recovery  - a panic in any layer below becomes a 500 and the process lives on
    //   timing    - X-Processing-Time-Micros on every response
    //   logging   - one event per request: method, matched route, status, latency
    //   deadline  - 503 request_timeout past server.request_timeout_ms
    //   recovery  - again, so a handler panic becomes a 500 that timing and logging still see
    //   guards    - per route: API key and create budget on /shorten; redirect and 404 budgets
    //               on /s/{code} and /stats/{code} (see middleware::guard)
    //   handler
    let middleware = ServiceBuilder::new()
        .layer(recovery_layer())
        .layer(TimingLayer)
        .layer(LogLayer::new(state.metrics.clone()))
        .layer(DeadlineLayer::new(state.web.request_timeout))
        .layer(recovery_layer());

    let create_guard = axum::middleware::from_fn_with_state(state.clone(), guard_create);
    let lookup_guard = LookupGuardLayer::new(state.guards.clone());
    Router::new()
        .route("/shorten", post(handler::shorten).route_layer(create_guard))
        .route(
            "/s/{code}",
            get(handler::follow)
                .head(handler::peek)
                .route_layer(lookup_guard.clone()),
        )
        .route(
            "/stats/{code}",
            get(handler::stats).route_layer(lookup_guard),
        )
        .route("/health", get(handler::health))
        .route("/health/live", get(handler::live))
        .route("/health/ready", get(handler::ready))
        .route("/metrics", get(handler::metrics))
        .route("/openapi.json", get(handler::openapi_json))
        .fallback(handler::no_route)
        .method_not_allowed_fallback(handler::wrong_method)
        // `layer` after the routes and fallbacks so that it wraps all of them and sees the
        // matched route.
        .layer(middleware)
        .layer(DefaultBodyLimit::max(handler::MAX_BODY_BYTES))
        .with_state(state)
}
