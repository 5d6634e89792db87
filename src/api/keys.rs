//! The caller's API keys: `POST /api/keys` (the key is shown once), `GET /api/keys`,
//! `DELETE /api/keys/{id}`. Someone else's key answers 404 like a missing one.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::{API_KEY_PREFIX, ApiKeyRecord, Timestamp};
use crate::http::middleware::spend;
use crate::http::{ApiError, ApiJson, Caller, Problem};
use crate::limiter::{Budget, ClientId};
use crate::state::AppState;

/// A key as listed: never the key itself.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    /// Public id (the first 12 hex characters of the key's SHA-256).
    pub id: String,
    /// Its label.
    pub name: String,
    /// What every key starts with, to recognise it (`usk_`).
    pub prefix: &'static str,
    /// Creation time.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// Last request it authenticated (to within a minute); null = never.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<Timestamp>,
    /// When it was revoked; null while valid.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<Timestamp>,
}

impl From<&ApiKeyRecord> for KeyView {
    fn from(key: &ApiKeyRecord) -> Self {
        Self {
            id: key.id.clone(),
            name: key.name.clone(),
            prefix: API_KEY_PREFIX,
            created_at: key.created_at,
            last_used_at: key.last_used_at,
            revoked_at: key.revoked_at,
        }
    }
}

/// `POST /api/keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKeyRequest {
    /// A label: who or what uses the key, 1 to 64 characters, not all spaces, no control
    /// characters.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$",
        example = "deploy script"
    )]
    pub name: String,
}

/// `POST /api/keys` 201.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    /// The key's record.
    #[serde(flatten)]
    pub key: KeyView,
    /// The key itself: shown only in this answer. Send it as `Authorization: Bearer …` or
    /// `X-Api-Key`.
    pub secret: String,
}

/// `GET /api/keys`.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    /// Oldest first, revoked ones included.
    pub keys: Vec<KeyView>,
}

/// Issue an API key that acts for the caller.
#[utoipa::path(
    post,
    path = "/api/keys",
    tag = "keys",
    request_body = NewKeyRequest,
    security(("session" = []), ("bearer" = []), ("api_key" = [])),
    responses(
        (status = 201, description = "Created; `secret` is shown only now", body = CreatedKey),
        (status = 400, description = "invalid_request: a bad name", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid session or API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "csrf_rejected", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "too_many_keys: the caller holds `auth.max_keys_per_user` live keys", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate_limited: the caller's key budget (`rate_limit.keys_per_minute`) is spent", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewKeyRequest>,
) -> Result<Response, ApiError> {
    spend(
        &state.guards,
        Budget::KeyCreate,
        &ClientId::user(&caller.user.id),
    )
    .await?;
    let (secret, record) = state
        .guards
        .keys
        .create(&body.name, Some(&caller.user.id))
        .await?;
    tracing::info!(key = %record.id, user = %caller.user.username, "API key created");
    let mut response = (
        StatusCode::CREATED,
        Json(CreatedKey {
            key: (&record).into(),
            secret: secret.expose().to_owned(),
        }),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The caller's keys.
#[utoipa::path(
    get,
    path = "/api/keys",
    tag = "keys",
    security(("session" = []), ("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The caller's keys", body = KeyList),
        (status = 401, description = "No valid session or API key", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_keys(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<KeyList>, ApiError> {
    let keys = state.guards.keys.list_for(&caller.user.id).await?;
    Ok(Json(KeyList {
        keys: keys.iter().map(KeyView::from).collect(),
    }))
}

/// Revoke one of the caller's keys; requests with it are refused from now on.
#[utoipa::path(
    delete,
    path = "/api/keys/{id}",
    tag = "keys",
    params(("id" = String, Path, description = "The key's id")),
    security(("session" = []), ("bearer" = []), ("api_key" = [])),
    responses(
        (status = 204, description = "Revoked (revoking twice is fine)"),
        (status = 401, description = "No valid session or API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "csrf_rejected", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such key, or not the caller's", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn revoke_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if !state.guards.keys.revoke_own(&caller.user.id, &id).await? {
        return Err(ApiError::NotFound { html: false });
    }
    tracing::info!(key = %id, user = %caller.user.username, "API key revoked");
    Ok(StatusCode::NO_CONTENT)
}
