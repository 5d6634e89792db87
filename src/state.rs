//! The state every request can reach: the services, the HTTP settings they need, the draining
//! flag and the guards' dependencies. It imports services, config and the domain, never the HTTP
//! modules (`http`, `api`, `web`, `redirect`), which all read it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::http::{HeaderName, StatusCode};
use ipnet::IpNet;

use crate::config::{ClickSettings, ConfigError, Settings, Signup};
use crate::domain::{Clock, RandomCodeGen, ShortCode, ShortCodeGen, UrlPolicy};
use crate::limiter::Limiter;
use crate::metrics::Metrics;
use crate::repository::{LinkChangeFeed, Stores};
use crate::service::link_health::LinkHealthService;
use crate::service::{
    AccountService, ApiKeyService, ClickAnalytics, ClickBuffer, ClickPipe, ForwardDefaults,
    HashGate, LinkCache, LinkPolicy, ServiceCollector, SharedTier, UrlService,
};

/// The session cookie's name over plain http. Over https it carries the `__Host-` prefix
/// ([`WebConfig::session_cookie`]), which browsers accept only with `Secure`, `Path=/` and no
/// `Domain`, so no sibling subdomain can plant or shadow it.
pub const SESSION_COOKIE: &str = "session";

/// What the services are connected to beyond their stores: connected first (`startup.rs`), so
/// that the services are whole when they are built.
#[derive(Clone)]
pub struct Wiring {
    /// Where redirects put clicks, and what reads and metrics see of them.
    pub clicks: ClickPipe,
    /// The fleet's shared cache tier (`cache.redis_url`).
    pub tier: Option<SharedTier>,
    /// Where this instance announces its edits and deletes to the others.
    pub changes: Option<Arc<dyn LinkChangeFeed>>,
}

impl Wiring {
    /// Nothing shared: the memory click queue `clicks` describes, no tier, no change feed.
    pub fn local(clicks: &ClickSettings) -> Self {
        Self {
            clicks: ClickPipe::memory(Arc::new(ClickBuffer::new(
                clicks.max_pending_codes,
                clicks.flush_threshold,
            ))),
            tier: None,
            changes: None,
        }
    }
}

/// What the guards need.
pub struct Guards {
    /// The rate limiter; `None` when rate limiting is off.
    pub limiter: Option<Arc<dyn Limiter>>,
    /// API key checks.
    pub keys: Arc<ApiKeyService>,
    /// Whether creates without an API key or session are allowed (`auth.anonymous_create`).
    pub anonymous_create: bool,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
}

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
    /// `links.short_url_prefix`: `/` or `/s/`, between the base URL and a code in short URLs.
    pub short_url_prefix: &'static str,
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
            short_url_prefix: "/",
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

    /// The public short URL of `code`: `{base_url}/{code}`, or `{base_url}/s/{code}` with
    /// `links.short_url_prefix = "/s/"`.
    pub fn short_url(&self, code: &ShortCode) -> String {
        format!("{}{}{code}", self.base_url, self.short_url_prefix)
    }

    /// The session cookie's name: `__Host-session` on https, `session` on http.
    pub fn session_cookie(&self) -> &'static str {
        if self.secure_cookies {
            "__Host-session"
        } else {
            SESSION_COOKIE
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
    pub link_health: Option<Arc<LinkHealthService>>,
}

impl AppState {
    /// Builds the state from validated settings, the stores, what `wiring` connected and the
    /// given seams.
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
        wiring: Wiring,
    ) -> Result<Self, ConfigError> {
        let repo = stores.links;
        let clock_for_accounts = clock.clone();
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
        let cache = settings.keeps_link_cache().then(|| {
            LinkCache::new(
                settings.cache.capacity,
                Duration::from_secs(settings.cache.ttl_seconds),
                Duration::from_millis(settings.cache.negative_ttl_ms),
                clock.clone(),
            )
        });
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
            stores.clicks.clone(),
            wiring.clicks.buffer.clone(),
        ));
        let link_health = crate::service::link_health::build(
            settings,
            stores.link_health.clone(),
            repo.clone(),
            clock.clone(),
            &metrics,
        )
        .map_err(|message| ConfigError { message })?;
        let urls = Arc::new(
            UrlService::builder(repo, clock, codes, wiring.clicks)
                .policies(url_policy, link_policy)
                .cache(cache)
                .shared_tier(wiring.tier)
                .announce_changes_to(wiring.changes)
                .forward_by_default(ForwardDefaults {
                    query: settings.links.forward_query,
                    path: settings.links.forward_path,
                })
                .count_creates_in(metrics.links_created.clone())
                .build(),
        );
        metrics.observe(Box::new(ServiceCollector::new(urls.clone())));
        let redirect_status =
            StatusCode::from_u16(settings.links.redirect_status).map_err(|e| ConfigError {
                message: format!("links.redirect_status: {e}"),
            })?;
        let mut web = WebConfig::new(
            &base_url,
            redirect_status,
            Duration::from_millis(settings.server.request_timeout_ms),
        );
        web.short_url_prefix = if settings.links.short_url_prefix == "/s/" {
            "/s/"
        } else {
            "/"
        };
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
            Arc::new(HashGate::from_settings(&settings.accounts)),
        );
        Ok(Self(Arc::new(Shared {
            accounts: Arc::new(accounts),
            signup: settings.accounts.signup,
            urls,
            analytics,
            link_health,
            guards: Arc::new(guards),
            web: Arc::new(web),
            lifecycle: Lifecycle::default(),
            metrics: Arc::new(metrics),
        })))
    }
}
