//! The HTTP application: the router with its middleware. The state it serves is in
//! [`crate::state`].

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, patch, post};
use tower::ServiceBuilder;

use crate::handler;
use crate::middleware::{
    DeadlineLayer, LogLayer, LookupGuardLayer, RedirectRoute, TimingLayer, guard_create,
    recovery_layer,
};
use crate::state::AppState;

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
