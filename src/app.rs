//! The HTTP application: shared state, the router with its middleware, and `serve`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, StatusCode};
use axum::routing::{delete, get, patch, post};
use tower::ServiceBuilder;

use crate::config::{ConfigError, Settings, Signup, StorageBackend};
use crate::domain::{Clock, RandomCodeGen, ShortCode, ShortCodeGen, UrlPolicy};
use crate::handler;
use crate::limiter::Limiter;
use crate::metrics::Metrics;
use crate::middleware::{
    DeadlineLayer, Guards, LogLayer, LookupGuardLayer, RedirectRoute, TimingLayer, guard_create,
    recovery_layer,
};
use crate::repository::Stores;
use crate::service::health::LinkHealthService;
use crate::service::{
    AccountService, ApiKeyService, ClickAnalytics, ClickBuffer, LinkCache, LinkPolicy, UrlService,
};

/// Every route template the router serves; metrics and logs label requests with these.
pub const ROUTES: &[&str] = &[
    "/shorten",
    "/s/{code}",
    "/stats/{code}",
    "/stats/{code}/timeseries",
    "/stats/{code}/breakdown",
    "/stats/{code}/health",
    "/health",
    "/health/live",
    "/health/ready",
    "/metrics",
    "/openapi.json",
    "/api/session",
    "/api/signup",
    "/api/setup",
    "/api/me",
    "/api/me/password",
    "/api/me/sessions",
    "/api/users",
    "/api/users/{username}",
    "/api/invites",
    "/api/links",
    "/api/links/{code}",
    "/api/links/{code}/check",
    "/api/keys",
    "/api/keys/{id}",
];

/// HTTP-level settings the handlers need.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Public origin (and optional path prefix) without a trailing slash.
    pub base_url: String,
    /// `scheme://host[:port]` of `base_url`: what a browser sends as `Origin` from our pages.
    pub origin: String,
    /// Whether `base_url` is https: cookies get `Secure` and the `__Host-` prefix.
    pub secure_cookies: bool,
    /// Status of redirects: 301, 302, 307 or 308.
    pub redirect_status: StatusCode,
    /// Deadline for a whole request.
    pub request_timeout: Duration,
    /// `clicks.country_header`: where a trusted CDN names the visitor's country.
    pub country_header: Option<HeaderName>,
}

impl WebConfig {
    /// Settings for a validated `base_url`.
    pub fn new(
        base_url: &url::Url,
        redirect_status: StatusCode,
        request_timeout: Duration,
    ) -> Self {
        Self {
            base_url: base_url.as_str().trim_end_matches('/').to_owned(),
            origin: base_url.origin().ascii_serialization(),
            secure_cookies: base_url.scheme() == "https",
            redirect_status,
            request_timeout,
            country_header: None,
        }
    }

    /// Settings for unit tests.
    #[cfg(test)]
    pub(crate) fn for_tests(base_url: &str) -> Self {
        Self::new(
            &url::Url::parse(base_url).expect("a valid test URL"),
            StatusCode::FOUND,
            Duration::from_secs(5),
        )
    }

    /// The public short URL of `code`: `{base_url}/s/{code}`.
    pub fn short_url(&self, code: &ShortCode) -> String {
        format!("{}/s/{code}", self.base_url)
    }

    /// The session cookie's name: `__Host-session` on https, `session` on http.
    pub fn session_cookie(&self) -> &'static str {
        if self.secure_cookies {
            "__Host-session"
        } else {
            crate::handler::SESSION_COOKIE
        }
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
    /// Users, sessions and invites.
    pub accounts: Arc<AccountService>,
    /// Who may create an account (`accounts.signup`).
    pub signup: Signup,
    /// API keys and rate limits.
    pub guards: Arc<Guards>,
    /// HTTP settings.
    pub web: Arc<WebConfig>,
    /// Draining flag.
    pub lifecycle: Lifecycle,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Click analytics for `/stats`.
    pub analytics: Arc<ClickAnalytics>,
    /// The destination checker; `None` where link health is off.
    pub health: Option<Arc<LinkHealthService>>,
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
        let clock_for_accounts = clock.clone();
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
            keys: Arc::new(ApiKeyService::new(
                stores.keys,
                clock.clone(),
                settings.auth.max_keys_per_user,
            )),
            anonymous_create: settings.auth.anonymous_create(),
            trusted_proxies: settings.rate_limit.trusted_proxies.clone(),
        };
        let analytics = Arc::new(ClickAnalytics::new(
            stores.accounts.clicks.clone(),
            clicks.clone(),
        ));
        let health = crate::service::health::build(
            settings,
            stores.accounts.health.clone(),
            repo.clone(),
            clock.clone(),
            &metrics,
        )
        .map_err(|message| ConfigError { message })?;
        let urls = Arc::new(
            UrlService::new(repo, clock, codes, url_policy, link_policy, cache, clicks)
                .count_creates_in(metrics.links_created.clone()),
        );
        metrics.observe(urls.clone());
        let redirect_status =
            StatusCode::from_u16(settings.links.redirect_status).map_err(|e| ConfigError {
                message: format!("links.redirect_status: {e}"),
            })?;
        let mut web = WebConfig::new(
            &base_url,
            redirect_status,
            Duration::from_millis(settings.server.request_timeout_ms),
        );
        if let Some(name) = &settings.clicks.country_header {
            web.country_header =
                Some(
                    HeaderName::from_bytes(name.as_bytes()).map_err(|e| ConfigError {
                        message: format!("clicks.country_header: {e}"),
                    })?,
                );
        }
        let accounts = AccountService::new(
            stores.accounts.users,
            stores.accounts.sessions,
            stores.accounts.invites,
            clock_for_accounts,
            settings.accounts.session_lifetime(),
            settings.accounts.invite_ttl(),
            Arc::new(settings.accounts.hash_gate()),
        );
        Ok(Self(Arc::new(Shared {
            accounts: Arc::new(accounts),
            signup: settings.accounts.signup,
            urls,
            analytics,
            health,
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
    //               on /stats/{code} (see middleware::guard)
    //   handler
    //
    // /s/{code}, the redirect, has the same onion folded into one service (RedirectRoute).
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
            "/stats/{code}",
            get(handler::stats).route_layer(lookup_guard.clone()),
        )
        .route(
            "/stats/{code}/timeseries",
            get(handler::timeseries).route_layer(lookup_guard.clone()),
        )
        .route(
            "/stats/{code}/breakdown",
            get(handler::breakdown).route_layer(lookup_guard.clone()),
        )
        .route(
            "/stats/{code}/health",
            get(handler::health_history).route_layer(lookup_guard),
        )
        .route("/health", get(handler::health))
        .route("/health/live", get(handler::live))
        .route("/health/ready", get(handler::ready))
        .route("/metrics", get(handler::metrics))
        .route("/openapi.json", get(handler::openapi_json))
        // Accounts (see handler::caller for how callers authenticate and the CSRF rule).
        .route("/api/session", post(handler::login).delete(handler::logout))
        .route("/api/signup", post(handler::signup))
        .route("/api/setup", post(handler::setup))
        .route("/api/me", get(handler::me))
        .route("/api/me/password", post(handler::change_password))
        .route("/api/me/sessions", delete(handler::end_sessions))
        .route(
            "/api/users",
            get(handler::list_users).post(handler::create_user),
        )
        .route("/api/users/{username}", patch(handler::update_user))
        .route(
            "/api/invites",
            get(handler::list_invites).post(handler::create_invite),
        )
        .route("/api/links", get(handler::list_links))
        .route(
            "/api/links/{code}",
            get(handler::get_link)
                .patch(handler::patch_link)
                .delete(handler::delete_link),
        )
        .route("/api/links/{code}/check", post(handler::check_now))
        .route(
            "/api/keys",
            get(handler::list_keys).post(handler::create_key),
        )
        .route("/api/keys/{id}", delete(handler::revoke_key))
        // The web UI: its own layers (security headers) wrap its routes only.
        .merge(crate::web::router())
        .fallback(handler::no_route)
        .method_not_allowed_fallback(handler::wrong_method)
        // `layer` after the routes and fallbacks so that it wraps all of them and sees the
        // matched route.
        .layer(middleware)
        .layer(DefaultBodyLimit::max(handler::MAX_BODY_BYTES))
        // Added after the layers, so they do not wrap it: the redirect route carries the same
        // onion folded into one service (see middleware::RedirectRoute).
        .route_service("/s/{code}", RedirectRoute::new(state.clone()))
        .with_state(state)
}
