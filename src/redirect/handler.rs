//! `GET`/`HEAD /{code}` and `/s/{code}` (and a path after the code, for links that forward
//! it): the redirect, the product's hot path. The answers are
//! built here; [`super::RedirectRoute`] serves them with the route's layers folded into one
//! service (see there for why).

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use crate::domain::{LongUrl, ShortCode};
use crate::http::{ApiError, Browser, for_client};
use crate::service::{VisitRequest, VisitorHeaders};
use crate::state::AppState;

/// Tells search engines not to index the short link itself.
const X_ROBOTS_TAG: HeaderName = HeaderName::from_static("x-robots-tag");

/// Browsers must ask again every time: each visit is counted and the link may expire.
const REDIRECT_CACHE_CONTROL: &str = "private, no-cache, no-store, max-age=0";

/// What one redirect request asked for, beyond its code.
pub(super) struct Asked {
    /// Whether the visit counts (`GET`; `HEAD` answers the same and counts nothing).
    pub counted: bool,
    /// The visitor's headers (counted as a click, and read by redirect rules).
    pub visitor: VisitorHeaders,
    /// The request's URI: its query string for rules and forwarding.
    pub uri: Uri,
    /// What followed `/{code}/` in the path (`None` on `/{code}` itself).
    pub rest: Option<String>,
}

/// Redirect to where the link sends this visitor, counting one click for `GET` (an impossible
/// code never gets here: see [`crate::http::possible_code`]). A path after the code is a 404
/// unless the link forwards paths.
pub(super) async fn follow(
    state: AppState,
    code: ShortCode,
    browser: Browser,
    asked: Asked,
) -> Response {
    let record = match state.urls.resolve(&code).await {
        Ok(record) => record,
        Err(e) => return for_client(e, browser).into_response(),
    };
    if asked.rest.is_some() && !state.urls.forwards_path(&record) {
        return ApiError::NotFound { html: browser.0 }.into_response();
    }
    let plain = record.routing.is_plain()
        && asked.rest.is_none()
        && (asked.uri.query().is_none() || !state.urls.forwards_query(&record));
    if plain {
        // The common case: nothing to look at but the destination.
        if asked.counted {
            state.urls.count_visit(&code, &asked.visitor, None);
        }
        return redirect(&record.long_url, state.web.redirect_status, false);
    }
    let target = state.urls.target(
        &record,
        &asked.visitor,
        VisitRequest {
            query: asked.uri.query(),
            rest: asked.rest.as_deref(),
        },
    );
    if asked.counted {
        state
            .urls
            .count_visit(&code, &asked.visitor, target.click_target(&record));
    }
    let status = target
        .status
        .and_then(|s| StatusCode::from_u16(s.code()).ok())
        .unwrap_or(state.web.redirect_status);
    redirect(&target.url, status, record.routing.crawlable)
}

fn redirect(long_url: &LongUrl, status: StatusCode, crawlable: bool) -> Response {
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
    *response.status_mut() = status;
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
    // Search engines index the destination, not the short link, unless its owner says so.
    if !crawlable {
        headers.insert(X_ROBOTS_TAG, HeaderValue::from_static("noindex"));
    }
    response
}
