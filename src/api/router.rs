//! [`router`]: the JSON API's routes, each with its guards (API key and create budget on
//! `/shorten`; the lookup and 404 budgets on the `/stats` routes). The middleware every route
//! shares is added by `app::app`.

use axum::Router;
use axum::routing::{delete, get, patch, post};

use super::*;
use crate::http::middleware::{LookupGuardLayer, guard_create};
use crate::http::routes::api as at;
use crate::state::AppState;

/// The API's routes with their guards. Performs no I/O.
pub fn router(state: &AppState) -> Router<AppState> {
    let create_guard = axum::middleware::from_fn_with_state(state.clone(), guard_create);
    let lookup_guard = LookupGuardLayer::new(state.guards.clone());
    Router::new()
        .route(at::SHORTEN, post(shorten).route_layer(create_guard))
        .route(at::STATS, get(stats).route_layer(lookup_guard.clone()))
        .route(
            at::TIMESERIES,
            get(timeseries).route_layer(lookup_guard.clone()),
        )
        .route(
            at::BREAKDOWN,
            get(breakdown).route_layer(lookup_guard.clone()),
        )
        .route(
            at::LINK_HEALTH,
            get(health_history).route_layer(lookup_guard),
        )
        .route(at::HEALTH, get(health))
        .route(at::LIVE, get(live))
        .route(at::READY, get(ready))
        .route(at::METRICS, get(metrics))
        .route(at::OPENAPI, get(openapi_json))
        // Accounts (see http::Caller for how callers authenticate and the CSRF rule).
        .route(at::SESSION, post(login).delete(logout))
        .route(at::SIGNUP, post(signup))
        .route(at::SETUP, post(setup))
        .route(at::ME, get(me))
        .route(at::PASSWORD, post(change_password))
        .route(at::SESSIONS, delete(end_sessions))
        .route(at::USERS, get(list_users).post(create_user))
        .route(at::USER, patch(update_user))
        .route(at::INVITES, get(list_invites).post(create_invite))
        .route(at::LINKS, get(list_links))
        .route(
            at::LINK,
            get(get_link).patch(patch_link).delete(delete_link),
        )
        .route(at::CHECK, post(check_now))
        .route(at::KEYS, get(list_keys).post(create_key))
        .route(at::KEY, delete(revoke_key))
}
