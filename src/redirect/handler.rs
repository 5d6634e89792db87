//! `GET /s/{code}` and `HEAD /s/{code}`: the redirect, the product's hot path. The answers are
//! built here; [`super::RedirectRoute`] serves them with the route's layers folded into one
//! service (see there for why).

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::domain::{LongUrl, ShortCode};
use crate::http::{ApiError, Browser, for_client};
use crate::service::VisitorHeaders;
use crate::state::AppState;

/// Browsers must ask again every time: each visit is counted and the link may expire.
const REDIRECT_CACHE_CONTROL: &str = "private, no-cache, no-store, max-age=0";

/// Redirect to the link's destination, counting one click (an impossible code never gets here:
/// see [`crate::http::possible_code`]).
pub(super) async fn follow(
    state: AppState,
    code: ShortCode,
    browser: Browser,
    visitor: VisitorHeaders,
) -> Response {
    match state.urls.follow(&code, &visitor).await {
        Ok(record) => redirect(&state, &record.long_url),
        Err(e) => for_client(e, browser).into_response(),
    }
}

/// Answers as `GET` would, without counting a click (link checkers, previews).
pub(super) async fn peek(state: AppState, code: ShortCode, browser: Browser) -> Response {
    match state.urls.resolve(&code).await {
        Ok(record) => redirect(&state, &record.long_url),
        Err(e) => for_client(e, browser).into_response(),
    }
}

fn redirect(state: &AppState, long_url: &LongUrl) -> Response {
    let location = match HeaderValue::from_str(long_url.as_str()) {
        Ok(v) => v,
        // Normalized URLs are ASCII without controls, so this is a corrupt record.
        Err(_) => {
            return ApiError::Internal
                .because("stored long URL is not a valid header value")
                .into_response();
        }
    };
    let mut response = Response::new(Body::empty());
    *response.status_mut() = state.web.redirect_status;
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, location);
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(REDIRECT_CACHE_CONTROL),
    );
    // The destination need not learn which short link (and so which campaign) sent the visitor.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}
