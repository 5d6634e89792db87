//! `LogLayer`: one structured event per request with the method, the matched route (never the
//! raw path, which carries the short code and whatever a client appended), the status and the
//! latency. Nothing about the client is logged: no address, no header value, no long URL.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use axum::extract::MatchedPath;
use axum::http::{Method, Request, Response, StatusCode};
use pin_project_lite::pin_project;
use std::sync::Arc;

use crate::http::routes;
use crate::metrics::Metrics;
use tower::{Layer, Service};

/// Logs one `tracing` event per request at target `url_shortener::request`, and counts it in
/// the request metrics.
#[derive(Clone)]
pub struct LogLayer {
    metrics: Arc<Metrics>,
}

impl LogLayer {
    /// A layer recording into `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self { metrics }
    }
}

impl<S> Layer<S> for LogLayer {
    type Service = LogRequests<S>;

    fn layer(&self, inner: S) -> Self::Service {
        LogRequests {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// The service [`LogLayer`] builds.
#[derive(Clone)]
pub struct LogRequests<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

/// The route template as a `'static` label: the same text as the router's, so metrics need no
/// allocation per request.
fn route_label(route: Option<&MatchedPath>) -> &'static str {
    match route {
        None => "<unmatched>",
        Some(route) => routes::label(route.as_str()).unwrap_or("<other>"),
    }
}

/// The method as a `'static` label (`OTHER` for methods the service does not serve).
pub(crate) fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for LogRequests<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = LogFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let method = req.method().clone();
        // Unmatched requests are logged as such: their path is client-chosen text.
        let route = req.extensions().get::<MatchedPath>().cloned();
        LogFuture {
            inner: self.inner.call(req),
            start: Instant::now(),
            method,
            route,
            metrics: self.metrics.clone(),
        }
    }
}

pin_project! {
    /// Response future of [`LogRequests`].
    pub struct LogFuture<F> {
        #[pin]
        inner: F,
        start: Instant,
        method: Method,
        route: Option<MatchedPath>,
        metrics: Arc<Metrics>,
    }
}

impl<F, B, E> Future for LogFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        if let Ok(response) = &result {
            record_request(
                this.metrics,
                method_label(this.method),
                route_label(this.route.as_ref()),
                response.status(),
                this.start.elapsed(),
            );
        }
        Poll::Ready(result)
    }
}

/// Logs and counts one answered request: the event at target `url_shortener::request` (`warn`
/// for a server error, else `info`) and the request metrics. Shared by [`LogRequests`] and the
/// redirect route, which answers outside the router's layers.
pub(crate) fn record_request(
    metrics: &Metrics,
    method: &'static str,
    route: &'static str,
    status: StatusCode,
    elapsed: Duration,
) {
    let latency_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    let server_error = status.is_server_error();
    let status = status.as_u16();
    metrics.record_request(method, route, status, elapsed.as_secs_f64());
    // Fields as `&'static str` and integers: recorded without going through `Debug`.
    if server_error {
        tracing::warn!(target: crate::telemetry::REQUEST_TARGET, method, route, status, latency_us, "request");
    } else {
        tracing::info!(target: crate::telemetry::REQUEST_TARGET, method, route, status, latency_us, "request");
    }
}
