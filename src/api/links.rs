//! The caller's links: `GET /api/links` (search, cursor pages), `GET`, `PATCH` and `DELETE
//! /api/links/{code}`. A link someone else owns answers 404 exactly like a missing one;
//! administrators reach every link.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::routing::{RoutingFields, RoutingView, RuleBody, present};
use crate::domain::{LongUrl, ShortCode, Timestamp, UrlRecord};
use crate::http::possible_code;
use crate::http::{ApiError, ApiJson, Browser, Caller, Problem};
use crate::repository::LinkCursor;
use crate::service::{LinkChange, LinkQuery};
use crate::state::AppState;

/// Links per page unless `limit` says otherwise.
const DEFAULT_LIMIT: usize = 20;
/// The most links one page may hold.
const MAX_LIMIT: usize = 100;
/// The longest search text.
const MAX_QUERY_CHARS: usize = 200;

/// A link as its owner sees it: the fields of `/stats` plus its short URL and whether it has
/// expired.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkView {
    /// The code.
    #[schema(value_type = String, pattern = "^[A-Za-z0-9_-]{3,64}$")]
    pub short_code: ShortCode,
    /// The full short URL.
    pub short_url: String,
    /// The destination.
    #[schema(value_type = String)]
    pub long_url: LongUrl,
    /// Creation time.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// Expiry time; null = never.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
    /// Redirects counted, including this instance's not yet flushed.
    #[schema(minimum = 0)]
    pub click_count: u64,
    /// Time of the latest click; null until the first.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_accessed_at: Option<Timestamp>,
    /// Whether it has expired (it no longer redirects; expired links are purged later).
    pub expired: bool,
    /// When an administrator disabled it (it answers 404 until enabled again); null while
    /// enabled.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub disabled_at: Option<Timestamp>,
    /// Where the link sends people beyond `long_url`.
    #[serde(flatten)]
    pub routing: RoutingView,
}

/// `GET /api/links`.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkList {
    /// Newest first.
    pub links: Vec<LinkView>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Query parameters of `GET /api/links`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Text the code or the destination contains (case-insensitive), at most 200 characters.
    #[serde(default)]
    #[param(max_length = 200)]
    pub q: Option<String>,
    /// Links per page, 1 to 100; default 20.
    #[serde(default)]
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    #[serde(default)]
    #[param(pattern = "^00[0-9]{14}:[A-Za-z0-9_-]{3,64}$")]
    pub cursor: Option<String>,
    /// Administrators only: list this user's links instead of their own.
    #[serde(default)]
    #[param(pattern = "^[A-Za-z0-9._-]{3,64}$")]
    pub owner: Option<String>,
}

/// `PATCH /api/links/{code}`: each field present is changed.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkPatch {
    /// A new destination, validated as on create.
    #[serde(default)]
    pub long_url: Option<String>,
    /// A new expiry (RFC 3339, in the future, within `links.max_ttl_seconds`), or null for
    /// never (unless links on this service must expire).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Option<String>>,
    /// Administrators only: `true` disables the link (it answers 404, keeping its code,
    /// clicks and owner), `false` enables it again.
    #[serde(default)]
    pub disabled: Option<bool>,
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

impl LinkPatch {
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

fn view(state: &AppState, record: UrlRecord) -> LinkView {
    let expired = record.has_expired_at(state.urls.clock().now());
    LinkView {
        routing: RoutingView::from(&record.routing),
        disabled_at: record.disabled_at,
        short_url: state.web.short_url(&record.short_code),
        short_code: record.short_code,
        long_url: record.long_url,
        created_at: record.created_at,
        expires_at: record.expires_at,
        click_count: record.click_count,
        last_accessed_at: record.last_accessed_at,
        expired,
    }
}

/// The caller's links (or, for an administrator, `owner`'s), newest first.
#[utoipa::path(
    get,
    path = "/api/links",
    tag = "links",
    params(ListParams),
    security(("session" = []), ("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "One page of links", body = LinkList),
        (status = 400, description = "invalid_request: a bad limit, cursor or parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid session or API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden: `owner` is for administrators", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`owner` names no user", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_links(
    State(state): State<AppState>,
    caller: Caller,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<LinkList>, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::InvalidRequest(e.body_text()))?;
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::InvalidRequest(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    let q = params.q.unwrap_or_default();
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(ApiError::InvalidRequest(format!(
            "q must be at most {MAX_QUERY_CHARS} characters"
        )));
    }
    let after = params
        .cursor
        .map(|c| {
            LinkCursor::parse(&c).ok_or_else(|| {
                ApiError::InvalidRequest("cursor is not a next_cursor of this listing".into())
            })
        })
        .transpose()?;
    let owner = match params.owner {
        Some(name) if name != caller.user.username.as_str() => {
            caller.clone().admin()?;
            state.accounts.user_named(&name).await?.id
        }
        _ => caller.user.id.clone(),
    };
    let page = state
        .urls
        .links_of(
            &owner,
            LinkQuery {
                q: q.trim().to_owned(),
                limit,
                after,
            },
        )
        .await?;
    Ok(Json(LinkList {
        next_cursor: page.next.map(|c| c.sort_key()),
        links: page.links.into_iter().map(|r| view(&state, r)).collect(),
    }))
}

/// One of the caller's links.
#[utoipa::path(
    get,
    path = "/api/links/{code}",
    tag = "links",
    params(("code" = String, Path, description = "Short code or alias")),
    security(("session" = []), ("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The link", body = LinkView),
        (status = 401, description = "No valid session or API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such link, or not the caller's", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_link(
    State(state): State<AppState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<LinkView>, ApiError> {
    let code = possible_code(path, Browser(false))?;
    let record = state.urls.managed_link(&caller.user, &code).await?;
    Ok(Json(view(&state, record)))
}

/// Change a link's destination or expiry.
#[utoipa::path(
    patch,
    path = "/api/links/{code}",
    tag = "links",
    params(("code" = String, Path, description = "Short code or alias")),
    request_body = LinkPatch,
    security(("session" = []), ("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The link as changed", body = LinkView),
        (status = 400, description = "An invalid long_url or rule destination (its own code), invalid_expiry, invalid_routing, or invalid_request", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid session or API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "csrf_rejected, or forbidden: `disabled` is for administrators", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such link, or not the caller's", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 16 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn patch_link(
    State(state): State<AppState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    ApiJson(mut patch): ApiJson<LinkPatch>,
) -> Result<Json<LinkView>, ApiError> {
    let code = possible_code(path, Browser(false))?;
    let routing = patch.routing_fields();
    let long_url = patch
        .long_url
        .as_deref()
        .map(|raw| LongUrl::parse(raw, state.urls.url_policy()))
        .transpose()?;
    let expires_at = match patch.expires_at {
        None => None,
        Some(None) => Some(None),
        Some(Some(text)) => Some(Some(Timestamp::parse_rfc3339(&text).ok_or(
            ApiError::InvalidExpiry("expires_at must be an RFC 3339 date-time, or null"),
        )?)),
    };
    if patch.disabled.is_some() {
        caller.clone().admin()?;
    }
    let mut record = state.urls.managed_link(&caller.user, &code).await?;
    let routing = routing
        .any()
        .then(|| routing.apply(record.routing.clone(), state.urls.url_policy()))
        .transpose()?;
    if long_url.is_some() || expires_at.is_some() || routing.is_some() {
        record = state
            .urls
            .change_link(
                &caller.user,
                &code,
                LinkChange {
                    long_url,
                    expires_at,
                    routing,
                },
            )
            .await?;
    }
    if let Some(disabled) = patch.disabled {
        record = state.urls.set_disabled(&code, disabled).await?;
        tracing::info!(code = %code, by = %caller.user.username, disabled, "link disabled or enabled");
    }
    tracing::info!(code = %code, by = %caller.user.username, "link changed");
    Ok(Json(view(&state, record)))
}

/// Delete a link; its code is retired for ever.
#[utoipa::path(
    delete,
    path = "/api/links/{code}",
    tag = "links",
    params(("code" = String, Path, description = "Short code or alias")),
    security(("session" = []), ("bearer" = []), ("api_key" = [])),
    responses(
        (status = 204, description = "Deleted: the short URL answers 404 from now on and the code is never issued again"),
        (status = 401, description = "No valid session or API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "csrf_rejected", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such link, or not the caller's", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn delete_link(
    State(state): State<AppState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let code = possible_code(path, Browser(false))?;
    state.urls.delete_link(&caller.user, &code).await?;
    tracing::info!(code = %code, by = %caller.user.username, "link deleted");
    Ok(StatusCode::NO_CONTENT)
}
