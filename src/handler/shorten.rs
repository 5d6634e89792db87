//! `POST /shorten`: create a link.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiJson};
use crate::app::AppState;
use crate::domain::{Alias, LongUrl, ShortCode, Timestamp, UrlRecord};
use crate::service::NewLink;

/// The request body. Unknown fields are refused so that a typo (`ttl_second`) is an error, not
/// a silently ignored option.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShortenRequest {
    /// The destination.
    pub long_url: String,
    /// Lifetime in seconds; absent or null = the configured default. Kept as a raw JSON number so
    /// that `-5` or `1.5` is reported as `invalid_ttl` rather than a type error.
    #[serde(default)]
    pub ttl_seconds: Option<serde_json::Number>,
    /// Requested short code.
    #[serde(default)]
    pub alias: Option<String>,
}

/// The 201 body.
#[derive(Debug, Serialize)]
pub struct LinkResponse {
    /// The new code.
    pub short_code: ShortCode,
    /// The full short URL (also in `Location`).
    pub short_url: String,
    /// The normalized destination that will be redirected to.
    pub long_url: LongUrl,
    /// Creation time.
    pub created_at: Timestamp,
    /// Expiry time; null = never.
    pub expires_at: Option<Timestamp>,
}

pub(crate) async fn shorten(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<ShortenRequest>,
) -> Result<Response, ApiError> {
    let long_url = LongUrl::parse(&request.long_url, state.urls.url_policy())?;
    let ttl_seconds = request
        .ttl_seconds
        .as_ref()
        .map(whole_seconds)
        .transpose()?;
    let alias = request.alias.as_deref().map(Alias::parse).transpose()?;
    let record = state
        .urls
        .create(NewLink {
            long_url,
            ttl_seconds,
            alias,
        })
        .await?;
    let short_url = state.web.short_url(&record.short_code);
    let body = link_response(record, short_url.clone());
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, short_url)],
        Json(body),
    )
        .into_response())
}

fn whole_seconds(n: &serde_json::Number) -> Result<u64, ApiError> {
    n.as_u64().ok_or_else(|| {
        ApiError::InvalidTtl(format!(
            "ttl_seconds must be a whole number of seconds, got {n}"
        ))
    })
}

fn link_response(record: UrlRecord, short_url: String) -> LinkResponse {
    LinkResponse {
        short_code: record.short_code,
        short_url,
        long_url: record.long_url,
        created_at: record.created_at,
        expires_at: record.expires_at,
    }
}
