//! `/health`, `/health/live`, `/health/ready`: for operators and load balancers.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::ErrorCause;
use crate::state::AppState;

/// How long the storage check may take before the store counts as down.
pub const STORAGE_CHECK_DEADLINE: Duration = Duration::from_secs(2);

/// A health answer.
#[derive(Serialize, ToSchema)]
pub struct HealthBody {
    /// `ok` or `fail`.
    #[schema(value_type = String, pattern = "^(ok|fail)$")]
    status: &'static str,
    /// The individual checks.
    checks: Checks,
}

/// Individual health checks.
#[derive(Serialize, ToSchema)]
pub struct Checks {
    /// `ok` when storage answered within 2 s, else `fail`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, pattern = "^(ok|fail)$")]
    storage: Option<&'static str>,
    /// `/health/ready` only: `in_progress` once shutdown has begun, else `ok`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, pattern = "^(ok|in_progress)$")]
    shutdown: Option<&'static str>,
}

fn verdict(ok: bool) -> &'static str {
    if ok { "ok" } else { "fail" }
}

/// The answer; a failed storage check's `cause` goes to the request log with it.
fn answer(ok: bool, checks: Checks, cause: Option<String>) -> Response {
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = HealthBody {
        status: verdict(ok),
        checks,
    };
    let mut response = (status, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(cause) = cause {
        response.extensions_mut().insert(ErrorCause(cause));
    }
    response
}

/// Whether storage answers within [`STORAGE_CHECK_DEADLINE`]; why not, if not.
async fn storage_check(state: &AppState) -> Result<(), String> {
    match tokio::time::timeout(STORAGE_CHECK_DEADLINE, state.urls.check_storage()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(format!("storage health check failed: {error}")),
        Err(_) => Err("storage health check timed out".to_owned()),
    }
}

/// 200 when storage answers within [`STORAGE_CHECK_DEADLINE`], else 503.
#[utoipa::path(get, path = "/health", tag = "operations", responses(
    (status = 200, description = "Storage answers", body = HealthBody),
    (status = 503, description = "Storage does not answer", body = HealthBody),
))]
pub(crate) async fn health(State(state): State<AppState>) -> Response {
    let check = storage_check(&state).await;
    let ok = check.is_ok();
    answer(
        ok,
        Checks {
            storage: Some(verdict(ok)),
            shutdown: None,
        },
        check.err(),
    )
}

/// 200 while the process runs: for liveness probes, never touches storage.
#[utoipa::path(get, path = "/health/live", tag = "operations", responses(
    (status = 200, description = "The process is up", body = HealthBody),
))]
pub(crate) async fn live() -> Response {
    answer(
        true,
        Checks {
            storage: None,
            shutdown: None,
        },
        None,
    )
}

/// 200 when storage answers and the instance is not shutting down: for load balancers.
#[utoipa::path(get, path = "/health/ready", tag = "operations", responses(
    (status = 200, description = "Ready for traffic", body = HealthBody),
    (status = 503, description = "Storage down or shutting down", body = HealthBody),
))]
pub(crate) async fn ready(State(state): State<AppState>) -> Response {
    let draining = state.lifecycle.is_shutting_down();
    let check = storage_check(&state).await;
    let storage = check.is_ok();
    answer(
        storage && !draining,
        Checks {
            storage: Some(verdict(storage)),
            shutdown: Some(if draining { "in_progress" } else { "ok" }),
        },
        check.err(),
    )
}
