//! `RedirectRoute`: `GET`/`HEAD /{code}` and `/s/{code}` as one hand-written service, with the whole onion of
//! the other routes (recovery, timing, logging and metrics, deadline, the lookup guard) folded
//! into it, in the same order and with the same answers.
//!
//! Why: the redirect is the product, and most of its own CPU went to the plumbing around the
//! handler rather than to the handler: each layer on a route is a boxed, cloned service with a
//! future of its own, the handler's extractors and future are boxed again, and three layers
//! each read the clock (perf, memory store under wrk). Here a request costs one clock read, no
//! route clone and one boxed future, and a lookup the in-process cache answers never arms the
//! deadline's timer: the timer starts only if the answer has to wait.
//!
//! It is registered after the router's `layer` call, so none of those layers wrap it twice.

use std::convert::Infallible;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::time::Sleep;
use tower::Service;

use super::handler;
use crate::domain::ShortCode;
use crate::http::middleware::{
    client_from, lookup_refused, lookup_remote, method_label, panic_response, record_request,
    stamp_processing_time,
};
use crate::http::{ApiError, Browser, routes, visitor_headers, wants_html};
use crate::limiter::{Budget, ClientId, Limiter, LookupAdmission};
use crate::state::AppState;

/// The service for `/{code}` or `/s/{code}`; see the module documentation.
#[derive(Clone)]
pub struct RedirectRoute {
    state: AppState,
    /// The route template this instance answers, as logs and metrics label it.
    route: &'static str,
    /// What comes before the code in its paths: `/` or `/s/`.
    prefix: &'static str,
}

impl RedirectRoute {
    /// The redirect at `/s/{code}` over `state`.
    pub fn new(state: AppState) -> Self {
        Self {
            state,
            route: routes::REDIRECT,
            prefix: "/s/",
        }
    }

    /// The same redirect at the root, `/{code}`.
    pub fn at_root(state: AppState) -> Self {
        Self {
            state,
            route: routes::ROOT_REDIRECT,
            prefix: "/",
        }
    }

    /// Everything up to the lookup, which the returned stage runs. Never waits.
    fn begin(&self, request: &Request) -> Stage {
        let state = &self.state;
        let counted = match *request.method() {
            Method::GET => true,
            Method::HEAD => false,
            _ => {
                let mut response = ApiError::MethodNotAllowed.into_response();
                response
                    .headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static("GET,HEAD"));
                return Stage::Done(Some(response));
            }
        };
        let browser = Browser(wants_html(request.headers()));
        // An impossible code is a 404 before the limiter or storage hear of it, as the route's
        // extractor and guard answered it.
        let Some(code) = code_in(request.uri().path(), self.prefix) else {
            return Stage::Done(Some(ApiError::NotFound { html: browser.0 }.into_response()));
        };
        let visitor =
            counted.then(|| visitor_headers(request.headers(), state.web.country_header.as_ref()));
        let answer = {
            let state = state.clone();
            async move {
                match visitor {
                    Some(visitor) => handler::follow(state, code, browser, visitor).await,
                    None => handler::peek(state, code, browser).await,
                }
            }
        };
        // The lookup guard: reserve one 404 and spend one redirect before the lookup, give the
        // 404 back unless the answer is a 404 (see http::middleware::guard).
        let guards = &state.guards;
        let Some(limiter) = &guards.limiter else {
            return Stage::running(Box::pin(answer), None);
        };
        let client = client_from(request.extensions(), request.headers(), guards);
        let Some(local) = limiter.local() else {
            let limiter = limiter.clone();
            return Stage::running(Box::pin(lookup_remote(limiter, client, answer)), None);
        };
        match local.admit_lookup_now(&client) {
            LookupAdmission::Admitted => {
                Stage::running(Box::pin(answer), Some((limiter.clone(), client)))
            }
            refused => Stage::Done(Some(lookup_refused(refused))),
        }
    }
}

/// The code in a path the router matched as `{prefix}{code}`, percent-decoded as axum's `Path`
/// would; `None` when no link can have it.
fn code_in(path: &str, prefix: &str) -> Option<ShortCode> {
    let raw = path.strip_prefix(prefix)?;
    let decoded = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .ok()?;
    ShortCode::parse(&decoded).ok()
}

impl Service<Request> for RedirectRoute {
    type Response = Response;
    type Error = Infallible;
    type Future = RedirectFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let start = Instant::now();
        let method = method_label(request.method());
        let stage = match catch_unwind(AssertUnwindSafe(|| self.begin(&request))) {
            Ok(stage) => stage,
            Err(payload) => Stage::Done(Some(panic_response(payload))),
        };
        RedirectFuture {
            state: self.state.clone(),
            route: self.route,
            start,
            method,
            stage,
        }
    }
}

type Answer = Pin<Box<dyn Future<Output = Response> + Send>>;

enum Stage {
    /// Answered without waiting (refused, impossible code, another method, a panic).
    Done(Option<Response>),
    /// The lookup, its deadline once it had to wait, and the 404 reserved with the in-process
    /// limiter.
    Running {
        answer: Answer,
        deadline: Option<Pin<Box<Sleep>>>,
        charge: Option<(Arc<dyn Limiter>, ClientId)>,
    },
}

impl Stage {
    fn running(answer: Answer, charge: Option<(Arc<dyn Limiter>, ClientId)>) -> Self {
        Self::Running {
            answer,
            deadline: None,
            charge,
        }
    }
}

/// Response future of [`RedirectRoute`].
pub struct RedirectFuture {
    state: AppState,
    route: &'static str,
    start: Instant,
    method: &'static str,
    stage: Stage,
}

impl Future for RedirectFuture {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Every field is Unpin (the answer and the timer are boxed).
        let this = self.get_mut();
        let mut response = match &mut this.stage {
            Stage::Done(response) => response
                .take()
                .unwrap_or_else(|| ApiError::Internal.into_response()),
            Stage::Running {
                answer,
                deadline,
                charge,
            } => {
                let response = match catch_unwind(AssertUnwindSafe(|| answer.as_mut().poll(cx))) {
                    Ok(Poll::Ready(response)) => response,
                    Ok(Poll::Pending) => {
                        let timeout = this.state.web.request_timeout;
                        let start = this.start;
                        let timer = deadline.get_or_insert_with(|| {
                            Box::pin(tokio::time::sleep_until((start + timeout).into()))
                        });
                        match timer.as_mut().poll(cx) {
                            Poll::Ready(()) => ApiError::Timeout.into_response(),
                            Poll::Pending => return Poll::Pending,
                        }
                    }
                    Err(payload) => panic_response(payload),
                };
                if response.status() != StatusCode::NOT_FOUND
                    && let Some((limiter, client)) = charge.take()
                    && let Some(local) = limiter.local()
                {
                    local.refund_now(Budget::NotFound, &client);
                }
                this.stage = Stage::Done(None);
                response
            }
        };
        stamp_processing_time(&mut response, this.start);
        record_request(
            &this.state.metrics,
            this.method,
            this.route,
            &response,
            this.start.elapsed(),
        );
        Poll::Ready(Ok(response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_is_read_from_the_path_and_percent_decoded() {
        assert_eq!(code_in("/s/abc12345", "/s/").unwrap().as_str(), "abc12345");
        assert_eq!(
            code_in("/s/%61bc12345", "/s/").unwrap().as_str(),
            "abc12345"
        );
        assert_eq!(code_in("/abc12345", "/").unwrap().as_str(), "abc12345");
        assert_eq!(code_in("/%61bc12345", "/").unwrap().as_str(), "abc12345");
    }

    #[test]
    fn impossible_codes_are_none() {
        for path in [
            "/s/a!b",
            "/s/%FF%FE",
            "/s/ab",
            "/x/abcdefgh",
            "/s/abc%2Fdef",
        ] {
            assert!(code_in(path, "/s/").is_none(), "{path}");
        }
        for path in ["/a!b", "/%FF%FE", "/ab", "/abc%2Fdef", "/robots.txt", "/"] {
            assert!(code_in(path, "/").is_none(), "{path}");
        }
    }
}
