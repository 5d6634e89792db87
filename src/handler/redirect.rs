//! `GET /s/{code}` and `HEAD /s/{code}`: the redirect, the product's hot path.

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::Response;

use super::extract::Visitor;
use super::{ApiError, Browser, Problem};
use crate::app::AppState;
use crate::domain::{LongUrl, ShortCode};
use crate::service::ServiceError;

/// Browsers must ask again every time: each visit is counted and the link may expire.
const REDIRECT_CACHE_CONTROL: &str = "private, no-cache, no-store, max-age=0";

/// Redirect to the link's destination, counting one click.
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
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    browser: Browser,
    Visitor(visitor): Visitor,
) -> Result<Response, ApiError> {
    let code = possible_code(path, browser)?;
    let record = state
        .urls
        .follow(&code, &visitor)
        .await
        .map_err(|e| for_client(e, browser))?;
    Ok(redirect(&state, &record.long_url))
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
pub(crate) async fn peek(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    browser: Browser,
) -> Result<Response, ApiError> {
    let code = possible_code(path, browser)?;
    let record = state
        .urls
        .resolve(&code)
        .await
        .map_err(|e| for_client(e, browser))?;
    Ok(redirect(&state, &record.long_url))
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
            return axum::response::IntoResponse::into_response(ApiError::Internal);
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
