//! `LogLayer`: one structured event per request with the method, the matched route (never the
//! raw path, which carries the short code and whatever a client appended), the status, the
//! latency and, for a server error, its cause ([`ErrorCause`], put on the response where the
//! error happened). Nothing about the client is logged: no address, no header value, no long
//! URL.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use axum::extract::MatchedPath;
use axum::http::{Method, Request, Response, StatusCode};
use pin_project_lite::pin_project;
use std::sync::Arc;

use crate::http::{ErrorCause, routes};
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
                response,
                this.start.elapsed(),
            );
        }
        Poll::Ready(result)
    }
}

/// Logs and counts one answered request: the event at target `url_shortener::request`
/// (`error` for a 500, `warn` for another server error, else `info`; with `error` = the cause
/// when the response carries one) and the request metrics. Shared by [`LogRequests`] and the
/// redirect route, which answers outside the router's layers.
pub(crate) fn record_request<B>(
    metrics: &Metrics,
    method: &'static str,
    route: &'static str,
    response: &Response<B>,
    elapsed: Duration,
) {
    let latency_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    let status = response.status();
    metrics.record_request(method, route, status.as_u16(), elapsed.as_secs_f64());
    if !status.is_server_error() {
        // Fields as `&'static str` and integers: recorded without going through `Debug`.
        let status = status.as_u16();
        tracing::info!(target: crate::telemetry::REQUEST_TARGET, method, route, status, latency_us, "request");
        return;
    }
    let cause = response
        .extensions()
        .get::<ErrorCause>()
        .map(|c| c.0.as_str());
    let internal = status == StatusCode::INTERNAL_SERVER_ERROR;
    let status = status.as_u16();
    match (internal, cause) {
        (true, Some(error)) => {
            tracing::error!(target: crate::telemetry::REQUEST_TARGET, method, route, status, latency_us, error, "request")
        }
        (true, None) => {
            tracing::error!(target: crate::telemetry::REQUEST_TARGET, method, route, status, latency_us, "request")
        }
        (false, Some(error)) => {
            tracing::warn!(target: crate::telemetry::REQUEST_TARGET, method, route, status, latency_us, error, "request")
        }
        (false, None) => {
            tracing::warn!(target: crate::telemetry::REQUEST_TARGET, method, route, status, latency_us, "request")
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;
    use crate::http::ApiError;
    use crate::repository::RepoError;
    use crate::service::ServiceError;
    use crate::telemetry::tests::Sink;

    #[tokio::test]
    async fn a_server_errors_cause_is_in_its_requests_one_event_and_never_in_the_body() {
        let sink = Sink::default();
        let out = sink.clone();
        let _log = tracing::subscriber::set_default(
            tracing_subscriber::fmt()
                .json()
                .with_writer(move || out.clone())
                .finish(),
        );
        let router = Router::new()
            .route(
                "/shorten",
                get(|| async {
                    ApiError::from(ServiceError::Storage(RepoError::Unavailable(
                        "disk-on-fire".into(),
                    )))
                }),
            )
            .layer(LogLayer::new(Arc::new(Metrics::new())));

        let response = router
            .oneshot(Request::get("/shorten").body(Body::empty()).unwrap())
            .await
            .unwrap();

        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        assert!(!String::from_utf8_lossy(&body).contains("disk-on-fire"));
        let logs = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let events: Vec<serde_json::Value> = logs
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(events.len(), 1, "{logs}");
        let fields = &events[0]["fields"];
        assert_eq!(events[0]["target"], crate::telemetry::REQUEST_TARGET);
        assert_eq!(events[0]["level"], "WARN");
        assert_eq!(fields["status"], 503);
        assert_eq!(fields["route"], "/shorten");
        assert_eq!(fields["error"], "storage unavailable: disk-on-fire");
    }
}
