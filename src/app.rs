//! The HTTP application: the API's, the UI's and the redirect's routers composed under the
//! middleware every route shares. The state it serves is in [`crate::state`].

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tower::ServiceBuilder;

use crate::api;
use crate::http::middleware::{DeadlineLayer, LogLayer, TimingLayer, recovery_layer};
use crate::http::{self, MAX_BODY_BYTES, routes};
use crate::redirect::RedirectRoute;
use crate::state::AppState;

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
    //               on /stats/{code} (see api::router)
    //   handler
    //
    // /{code} and /s/{code}, the redirect, have the same onion folded into one service
    // (RedirectRoute).
    let middleware = ServiceBuilder::new()
        .layer(recovery_layer())
        .layer(TimingLayer)
        .layer(LogLayer::new(state.metrics.clone()))
        .layer(DeadlineLayer::new(state.web.request_timeout))
        .layer(recovery_layer());

    Router::new()
        .merge(api::router(&state))
        // The web UI: its own layers (security headers) wrap its routes only.
        .merge(crate::web::router())
        .fallback(http::no_route)
        .method_not_allowed_fallback(http::wrong_method)
        // `layer` after the routes and fallbacks so that it wraps all of them and sees the
        // matched route.
        .layer(middleware)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        // Added after the layers, so they do not wrap it: the redirect route carries the same
        // onion folded into one service (see redirect::RedirectRoute).
        .route_service(routes::REDIRECT, RedirectRoute::new(state.clone()))
        // The same redirect at the root. The router prefers a literal segment to a parameter,
        // so `/login` and every other page of ours wins over a code; the names of those pages
        // are reserved (domain::RESERVED_ALIASES), so no link is ever hidden behind one.
        .route_service(routes::ROOT_REDIRECT, RedirectRoute::at_root(state.clone()))
        // A path after the code, for links that forward it (a 404 for the others).
        .route_service(
            routes::REDIRECT_REST,
            RedirectRoute::new(state.clone()).with_rest(),
        )
        .route_service(
            routes::ROOT_REDIRECT_REST,
            RedirectRoute::at_root(state.clone()).with_rest(),
        )
        .with_state(state)
}
