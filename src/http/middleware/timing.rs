//! `TimingLayer`: stamps every response with `X-Processing-Time-Micros`, the time from the
//! request reaching this layer to its response head being ready.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use axum::http::{HeaderName, HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

/// The response header this layer sets.
pub static PROCESSING_TIME_HEADER: HeaderName = HeaderName::from_static("x-processing-time-micros");

/// Adds [`PROCESSING_TIME_HEADER`] to every response of the wrapped service.
#[derive(Debug, Clone, Copy, Default)]
pub struct TimingLayer;

impl<S> Layer<S> for TimingLayer {
    type Service = Timing<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Timing { inner }
    }
}

/// The service [`TimingLayer`] builds.
#[derive(Debug, Clone)]
pub struct Timing<S> {
    inner: S,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Timing<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = TimingFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        TimingFuture {
            inner: self.inner.call(req),
            start: Instant::now(),
        }
    }
}

pin_project! {
    /// Response future of [`Timing`].
    pub struct TimingFuture<F> {
        #[pin]
        inner: F,
        start: Instant,
    }
}

impl<F, B, E> Future for TimingFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = ready!(this.inner.poll(cx))?;
        stamp_processing_time(&mut response, *this.start);
        Poll::Ready(Ok(response))
    }
}

/// Sets [`PROCESSING_TIME_HEADER`] to the microseconds since `start`.
pub(crate) fn stamp_processing_time<B>(response: &mut Response<B>, start: Instant) {
    let micros = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
    response
        .headers_mut()
        .insert(PROCESSING_TIME_HEADER.clone(), HeaderValue::from(micros));
}
