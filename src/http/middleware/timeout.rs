//! Request deadline: a request still running after `server.request_timeout_ms` answers
//! 503 `request_timeout` instead of holding a connection open indefinitely.
//!
//! A hand-written layer rather than `axum::middleware::from_fn`: that boxes a future and clones
//! the inner service for every request, a measurable share of a redirect.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::Request;
use axum::response::{IntoResponse, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use crate::http::ApiError;

/// Runs the wrapped service under a deadline; past it the request gets [`ApiError::Timeout`].
#[derive(Debug, Clone, Copy)]
pub struct DeadlineLayer {
    deadline: Duration,
}

impl DeadlineLayer {
    /// A layer giving every request `deadline`.
    pub fn new(deadline: Duration) -> Self {
        Self { deadline }
    }
}

impl<S> Layer<S> for DeadlineLayer {
    type Service = Deadline<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Deadline {
            inner,
            deadline: self.deadline,
        }
    }
}

/// The service [`DeadlineLayer`] builds.
#[derive(Debug, Clone)]
pub struct Deadline<S> {
    inner: S,
    deadline: Duration,
}

impl<S, ReqBody> Service<Request<ReqBody>> for Deadline<S>
where
    S: Service<Request<ReqBody>>,
    S::Response: IntoResponse,
{
    type Response = Response;
    type Error = S::Error;
    type Future = DeadlineFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        DeadlineFuture {
            inner: tokio::time::timeout(self.deadline, self.inner.call(req)),
        }
    }
}

pin_project! {
    /// Response future of [`Deadline`].
    pub struct DeadlineFuture<F> {
        #[pin]
        inner: tokio::time::Timeout<F>,
    }
}

impl<F, R, E> Future for DeadlineFuture<F>
where
    F: Future<Output = Result<R, E>>,
    R: IntoResponse,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().inner.poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(result)) => Poll::Ready(result.map(IntoResponse::into_response)),
            Poll::Ready(Err(_elapsed)) => Poll::Ready(Ok(ApiError::Timeout.into_response())),
        }
    }
}
