//! `POST /shorten`: create a link.

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use utoipa::ToSchema;

use super::routing::{RoutingFields, RoutingView, RuleBody, present};
use crate::domain::{Alias, LongUrl, Routing, ShortCode, Timestamp, UrlRecord};
use crate::http::{ApiError, ApiJson, Caller, Problem};
use crate::service::NewLink;
use crate::state::AppState;

/// The request body. Unknown fields are refused so that a typo (`ttl_second`) is an error, not
/// a silently ignored option.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShortenRequest {
    /// The destination: an absolute http or https URL, at most 2048 characters once normalized.
    #[schema(
        pattern = "^ *[Hh][Tt][Tt][Pp][Ss]?://",
        example = "https://www.rust-lang.org/learn"
    )]
    pub long_url: String,
    /// Lifetime in seconds, 1 to `links.max_ttl_seconds` (the maximum shown is that key's
    /// default, ten years); absent or null = the configured default. Kept as a raw JSON number
    /// so that `-5` or `1.5` is reported as `invalid_ttl` rather than a type error.
    #[serde(default)]
    #[schema(value_type = Option<u64>, minimum = 1, maximum = 315_360_000, example = 86400)]
    pub ttl_seconds: Option<serde_json::Number>,
    /// Your own code: 3–64 of `A-Z a-z 0-9 _ -`, not a route name.
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9_-]{3,64}$", example = "spring-sale")]
    pub alias: Option<String>,
    /// This link's redirect status: 301, 302, 307 or 308; null: `links.redirect_status`.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u16>, example = 301)]
    pub redirect_status: Option<Option<u16>>,
    /// Add the visitor's query string to the destination's (a key in both keeps the
    /// destination's value); null: `links.forward_query`.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<bool>)]
    pub forward_query: Option<Option<bool>>,
    /// Append a path after the code (`/{code}/more/path`) to the destination's path; null:
    /// `links.forward_path`.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<bool>)]
    pub forward_path: Option<Option<bool>>,
    /// Rules tried in order, first match wins, at most 20 (the whole list, replacing the
    /// link's); none matching: the link's destination.
    #[serde(default)]
    #[schema(max_items = 20)]
    pub rules: Option<Vec<RuleBody>>,
    /// Crawlers may follow the link: no `X-Robots-Tag: noindex` on its redirect.
    #[serde(default)]
    pub crawlable: Option<bool>,
}

impl ShortenRequest {
    /// The redirect settings this request names.
    pub fn routing_fields(&mut self) -> RoutingFields {
        RoutingFields {
            redirect_status: self.redirect_status.take(),
            forward_query: self.forward_query.take(),
            forward_path: self.forward_path.take(),
            rules: self.rules.take(),
            crawlable: self.crawlable.take(),
        }
    }
}

/// The 201 body.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkResponse {
    /// The new code.
    #[schema(value_type = String, pattern = "^[A-Za-z0-9_-]{3,64}$", example = "k3VbX9aQ")]
    pub short_code: ShortCode,
    /// The full short URL (also in `Location`).
    #[schema(example = "https://sho.rt/k3VbX9aQ")]
    pub short_url: String,
    /// The normalized destination that will be redirected to.
    #[schema(value_type = String)]
    pub long_url: LongUrl,
    /// Creation time (RFC 3339, UTC, milliseconds).
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// Expiry time; null = never.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
    /// Where the link sends people beyond `long_url`.
    #[serde(flatten)]
    pub routing: RoutingView,
}

/// Create a short link.
#[utoipa::path(
    post,
    path = "/shorten",
    tag = "links",
    request_body(content = ShortenRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = LinkResponse,
            headers(("Location" = String, description = "The short URL"))),
        (status = 400, description = "Invalid URL, TTL, alias, redirect settings (invalid_routing) or request", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked API key (or no session while auth.anonymous_create is false)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "csrf_rejected: a session cookie from another site", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Alias taken", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 16 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Create budget spent", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = []), ("api_key" = []), ("session" = []))
)]
pub(crate) async fn shorten(
    State(state): State<AppState>,
    caller: Option<Extension<Caller>>,
    ApiJson(mut request): ApiJson<ShortenRequest>,
) -> Result<Response, ApiError> {
    let routing = request
        .routing_fields()
        .apply(Routing::default(), state.urls.url_policy())?;
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
            // The guard put the authenticated caller here: the link is theirs.
            owner: caller.map(|Extension(c)| c.user.id),
            routing,
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
        routing: RoutingView::from(&record.routing),
        short_code: record.short_code,
        short_url,
        long_url: record.long_url,
        created_at: record.created_at,
        expires_at: record.expires_at,
    }
}
