//! Link health over HTTP: `POST /api/links/{code}/check` (a check now, by the link's owner or
//! an administrator) and `GET /stats/{code}/health` (the latest checks). `GET /stats/{code}`
//! carries the summary ([`HealthSummary`]).

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::{LinkCheck, Timestamp};
use crate::http::{ApiError, Browser, Caller, RateLimitHeaders};
use crate::http::{for_client, possible_code};
use crate::repository::LinkHealthRecord;
use crate::state::AppState;

/// A link's health in `/stats/{code}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthSummary {
    /// `unchecked`, `healthy`, `failing` or `broken`.
    #[schema(pattern = "^(unchecked|healthy|failing|broken)$")]
    pub status: &'static str,
    /// When the latest check finished; null before the first.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub checked_at: Option<Timestamp>,
    /// What the latest check found: `ok`, `redirected`, `client_error`, `server_error`,
    /// `timeout`, `dns`, `tls`, `blocked` or `refused`; null before the first.
    pub outcome: Option<&'static str>,
    /// The latest HTTP status the destination answered; null when none came.
    pub http_status: Option<u16>,
    /// Since when the link is broken; null while it is not.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub broken_since: Option<Timestamp>,
}

impl HealthSummary {
    /// The summary of `record` (`None`: never checked).
    pub fn of(record: Option<&LinkHealthRecord>) -> Self {
        let state = record.map(|r| &r.state);
        let last = state.and_then(|s| s.last.as_ref());
        Self {
            status: state.map_or("unchecked", |s| s.status().as_str()),
            checked_at: last.map(|c| c.at),
            outcome: last.map(|c| c.outcome.as_str()),
            http_status: last.and_then(|c| c.http_status),
            broken_since: state.and_then(|s| s.broken_since),
        }
    }
}

/// One check in a link's history.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckView {
    /// When it finished.
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// What it found (see [`HealthSummary::outcome`]).
    pub outcome: &'static str,
    /// The HTTP status, when an answer came.
    pub http_status: Option<u16>,
    /// How long it took, in milliseconds.
    pub duration_ms: u32,
}

impl From<&LinkCheck> for CheckView {
    fn from(check: &LinkCheck) -> Self {
        Self {
            at: check.at,
            outcome: check.outcome.as_str(),
            http_status: check.http_status,
            duration_ms: check.duration_ms,
        }
    }
}

/// The body of `GET /stats/{code}/health` and `POST /api/links/{code}/check`.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthView {
    /// The summary.
    #[serde(flatten)]
    pub summary: HealthSummary,
    /// The latest checks, newest first (at most 20).
    pub checks: Vec<CheckView>,
}

impl HealthView {
    fn of(record: Option<&LinkHealthRecord>) -> Self {
        Self {
            summary: HealthSummary::of(record),
            checks: record
                .map(|r| r.history.iter().map(CheckView::from).collect())
                .unwrap_or_default(),
        }
    }
}

/// The summary for `/stats/{code}`; `None` where link health is off.
pub(crate) async fn summary(
    state: &AppState,
    code: &crate::domain::ShortCode,
) -> Result<Option<HealthSummary>, ApiError> {
    let Some(health) = &state.link_health else {
        return Ok(None);
    };
    let record = health
        .store()
        .link_health(code)
        .await
        .map_err(crate::service::ServiceError::Storage)?;
    Ok(Some(HealthSummary::of(record.as_ref())))
}

/// A link's latest destination checks.
#[utoipa::path(
    get,
    path = "/stats/{code}/health",
    tag = "links",
    params(("code" = String, Path, description = "Short code or alias")),
    responses(
        (status = 200, description = "The link's health and its latest checks", body = HealthView),
        (status = 404, description = "Unknown, expired or impossible code", body = crate::http::Problem, content_type = "application/problem+json"),
        (status = 409, description = "link_health_disabled", body = crate::http::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = crate::http::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn history(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    browser: Browser,
) -> Result<Response, ApiError> {
    let code = possible_code(path, browser)?;
    // The same visibility as /stats: a live link's.
    state
        .urls
        .stats(&code)
        .await
        .map_err(|e| for_client(e, browser))?;
    let Some(health) = &state.link_health else {
        return Err(ApiError::LinkHealthOff);
    };
    let record = health
        .store()
        .link_health(&code)
        .await
        .map_err(crate::service::ServiceError::Storage)?;
    let mut response = Json(HealthView::of(record.as_ref())).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Check a link's destination now.
#[utoipa::path(
    post,
    path = "/api/links/{code}/check",
    tag = "links",
    params(("code" = String, Path, description = "Short code or alias")),
    security(("session" = []), ("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The check's result, with the link's health after it", body = HealthView),
        (status = 401, description = "No valid session or API key", body = crate::http::Problem, content_type = "application/problem+json"),
        (status = 403, description = "csrf_rejected", body = crate::http::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such link, or not the caller's", body = crate::http::Problem, content_type = "application/problem+json"),
        (status = 409, description = "link_health_disabled", body = crate::http::Problem, content_type = "application/problem+json"),
        (status = 429, description = "The destination's host was checked a moment ago; retry after Retry-After", body = crate::http::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = crate::http::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn check_now(
    State(state): State<AppState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<HealthView>, ApiError> {
    let code = possible_code(path, Browser(false))?;
    let link = state.urls.managed_link(&caller.user, &code).await?;
    let Some(health) = &state.link_health else {
        return Err(ApiError::LinkHealthOff);
    };
    let record = health
        .check_now(&link)
        .await
        .map_err(crate::service::ServiceError::Storage)?;
    let Some(record) = record else {
        let wait_us = 2_000_000;
        return Err(ApiError::RateLimited(RateLimitHeaders {
            limit: 1,
            remaining: 0,
            reset_us: wait_us,
            retry_after_us: wait_us,
        }));
    };
    tracing::info!(code = %code, by = %caller.user.username, "destination checked on request");
    Ok(Json(HealthView::of(Some(&record))))
}
