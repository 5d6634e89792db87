//! Recovery: a panic anywhere in request handling becomes a problem+json 500 and the process
//! keeps serving. Built on tower-http's `CatchPanicLayer` with the API's own error body.

use std::any::Any;

use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;

use crate::http::ApiError;

/// The panic handler's type, named so the layer can be stored and cloned.
pub type PanicHandler = fn(Box<dyn Any + Send + 'static>) -> Response;

/// A `CatchPanicLayer` answering with [`ApiError::Internal`].
pub fn recovery_layer() -> CatchPanicLayer<PanicHandler> {
    CatchPanicLayer::custom(panic_response as PanicHandler)
}

pub(crate) fn panic_response(payload: Box<dyn Any + Send + 'static>) -> Response {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned());
    ApiError::Internal
        .because(format!("request handler panicked: {message}"))
        .into_response()
}
