//! `GET /s/{code}` and `HEAD /s/{code}`: the redirect, the product's hot path. The answers are
//! built here; `middleware::RedirectRoute` serves them with the route's layers folded into one
//! service (see there for why).

use axum::body::Body;
use axum::extract::Path;
use axum::extract::rejection::PathRejection;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::{ApiError, Browser, Problem};
use crate::state::AppState;
use crate::domain::{LongUrl, ShortCode};
use crate::service::{ServiceError, VisitorHeaders};

/// Browsers must ask again every time: each visit is counted and the link may expire.
const REDIRECT_CACHE_CONTROL: &str = "private, no-cache, no-store, max-age=0";

/// Redirect to the link's destination, counting one click (an impossible code never gets here:
/// see [`possible_code`]).
#[utoipa::path(
    get,
    path = "/s/{code}",
    tag = "links",
    params(("code" = String, Path, description = "Short code or alias")),
    responses(
        (status = 302, description = "Redirect (status configurable: 301, 302, 307, 308); empty body",
            headers(("Location" = String, description = "The destination"))),
        (status = 404, description = "Unknown, expired or impossible code (an HTML page for browsers)",
            content((Problem = "application/problem+json"), (String = "text/html"))),
        (status = 429, description = "Lookup or 404 budget spent", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn follow(
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
#[utoipa::path(
    head,
    path = "/s/{code}",
    tag = "links",
    params(("code" = String, Path, description = "Short code or alias")),
    responses(
        (status = 302, description = "As GET, counting nothing",
            headers(("Location" = String, description = "The destination"))),
        (status = 404, description = "Unknown, expired or impossible code"),
        (status = 429, description = "Lookup or 404 budget spent"),
        (status = 503, description = "Storage unavailable"),
    )
)]
pub(crate) async fn peek(state: AppState, code: ShortCode, browser: Browser) -> Response {
    match state.urls.resolve(&code).await {
        Ok(record) => redirect(&state, &record.long_url),
        Err(e) => for_client(e, browser).into_response(),
    }
}

/// The code from the path, or 404 without touching storage when no link could have it.
pub(crate) fn possible_code(
    path: Result<Path<String>, PathRejection>,
    Browser(html): Browser,
) -> Result<ShortCode, ApiError> {
    let not_found = || ApiError::NotFound { html };
    let Path(raw) = path.map_err(|_| not_found())?;
    ShortCode::parse(&raw).map_err(|_| not_found())
}

/// A service error as this client should see it: for browsers, 404s and server errors as the
/// site's pages.
pub(crate) fn for_client(error: ServiceError, Browser(html): Browser) -> ApiError {
    match error {
        ServiceError::NotFound => ApiError::NotFound { html },
        other => match ApiError::from(other) {
            server if html && server.status().is_server_error() => {
                ApiError::ErrorPage(Box::new(server))
            }
            api => api,
        },
    }
}

fn redirect(state: &AppState, long_url: &LongUrl) -> Response {
    let location = match HeaderValue::from_str(long_url.as_str()) {
        Ok(v) => v,
        // Normalized URLs are ASCII without controls, so this is a corrupt record.
        Err(_) => {
            tracing::error!("stored long URL is not a valid header value");
            return ApiError::Internal.into_response();
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
