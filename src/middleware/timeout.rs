//! Request deadline: a request still running after `server.request_timeout_ms` answers
//! 503 `request_timeout` instead of holding a connection open indefinitely.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::handler::ApiError;

/// `axum::middleware::from_fn_with_state` body: runs the rest of the stack under `deadline`.
pub async fn enforce_deadline(
    State(deadline): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(deadline, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout.into_response(),
    }
}
