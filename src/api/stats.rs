//! `GET /stats/{code}`: a link's counters.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use utoipa::ToSchema;

use crate::domain::{LongUrl, ShortCode, Timestamp};
use crate::http::{ApiError, Browser, Problem};
use crate::http::{for_client, possible_code};
use crate::state::AppState;

/// The 200 body.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatsResponse {
    /// The code.
    #[schema(value_type = String, pattern = "^[A-Za-z0-9_-]{3,64}$")]
    pub short_code: ShortCode,
    /// The destination.
    #[schema(value_type = String)]
    pub long_url: LongUrl,
    /// Creation time.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// Expiry time; null = never.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
    /// Redirects counted (GET only; HEAD is not a click), including this instance's clicks not
    /// yet flushed.
    #[schema(minimum = 0)]
    pub click_count: u64,
    /// Time of the latest click; null until the first.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_accessed_at: Option<Timestamp>,
    /// Of `click_count`, the clicks by people (clicks counted before the split existed are in
    /// neither this nor `bot_clicks`).
    #[schema(minimum = 0)]
    pub human_clicks: u64,
    /// Of `click_count`, the clicks by bots and link-preview fetchers (Slackbot, Twitterbot,
    /// WhatsApp, Googlebot, clients without a user agent, …).
    #[schema(minimum = 0)]
    pub bot_clicks: u64,
    /// Whether the destination answers (see `GET /stats/{code}/health`); null where link
    /// health is off.
    pub health: Option<super::HealthSummary>,
}

/// A link's counters.
#[utoipa::path(
    get,
    path = "/stats/{code}",
    tag = "links",
    params(("code" = String, Path, description = "Short code or alias")),
    responses(
        (status = 200, description = "The link and its counters", body = StatsResponse),
        (status = 404, description = "Unknown, expired or impossible code", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Lookup or 404 budget spent", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn stats(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    browser: Browser,
) -> Result<Response, ApiError> {
    let code = possible_code(path, browser)?;
    let record = state
        .urls
        .stats(&code)
        .await
        .map_err(|e| for_client(e, browser))?;
    let split = state.analytics.split(&code).await?;
    let health = super::link_health::summary(&state, &code).await?;
    let body = StatsResponse {
        short_code: record.short_code,
        long_url: record.long_url,
        created_at: record.created_at,
        expires_at: record.expires_at,
        click_count: record.click_count,
        last_accessed_at: record.last_accessed_at,
        human_clicks: split.human,
        bot_clicks: split.bot,
        health,
    };
    let mut response = Json(body).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
