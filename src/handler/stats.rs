//! `GET /stats/{code}`: a link's counters.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::ApiError;
use super::redirect::{for_client, possible_code};
use crate::app::AppState;
use crate::domain::{LongUrl, ShortCode, Timestamp};

/// The 200 body.
#[derive(Debug, Serialize)]
pub struct StatsResponse {
    /// The code.
    pub short_code: ShortCode,
    /// The destination.
    pub long_url: LongUrl,
    /// Creation time.
    pub created_at: Timestamp,
    /// Expiry time; null = never.
    pub expires_at: Option<Timestamp>,
    /// Redirects counted (GET only; HEAD is not a click).
    pub click_count: u64,
    /// Time of the latest click; null until the first.
    pub last_accessed_at: Option<Timestamp>,
}

pub(crate) async fn stats(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let code = possible_code(path, &headers)?;
    let record = state
        .urls
        .stats(&code)
        .await
        .map_err(|e| for_client(e, &headers))?;
    let body = StatsResponse {
        short_code: record.short_code,
        long_url: record.long_url,
        created_at: record.created_at,
        expires_at: record.expires_at,
        click_count: record.click_count,
        last_accessed_at: record.last_accessed_at,
    };
    let mut response = Json(body).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
