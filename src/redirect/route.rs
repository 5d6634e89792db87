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
use crate::domain::{ShortCode, is_reserved};
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
    /// Whether its paths go on after the code (`/{code}/{*rest}`).
    rest: bool,
}

impl RedirectRoute {
    /// The redirect at `/s/{code}` over `state`.
    pub fn new(state: AppState) -> Self {
        Self {
            state,
            route: routes::REDIRECT,
            prefix: "/s/",
            rest: false,
        }
    }

    /// The same redirect at the root, `/{code}`.
    pub fn at_root(state: AppState) -> Self {
        Self {
            state,
            route: routes::ROOT_REDIRECT,
            prefix: "/",
            rest: false,
        }
    }

    /// The same route with a path after the code (`/s/{code}/{*rest}`, `/{code}/{*rest}`), for
    /// links that forward it.
    pub fn with_rest(self) -> Self {
        let route = if self.prefix == "/" {
            routes::ROOT_REDIRECT_REST
        } else {
            routes::REDIRECT_REST
        };
        Self {
            route,
            rest: true,
            ..self
        }
    }

    /// Everything up to the lookup, which the returned stage runs. Never waits.
    fn begin(&self, request: &Request) -> Stage {
        let state = &self.state;
        let path = request.uri().path();
        let browser = Browser(wants_html(request.headers()));
        // At the root, the service's own names are never codes: a path under one that no page
        // matched is a plain 404 (whatever the method), as it was before codes lived there.
        if self.prefix == "/" && is_reserved(first_segment(path)) {
            return Stage::Done(Some(ApiError::NotFound { html: browser.0 }.into_response()));
        }
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
        // `/{code}+`: the preview page for people, counting nothing.
        let (path, preview) = match path.strip_suffix('+') {
            Some(code) if !self.rest => (code, true),
            _ => (path, false),
        };
        // An impossible code is a 404 before the limiter or storage hear of it, as the route's
        // extractor and guard answered it.
        let Some((code, rest)) = code_in(path, self.prefix, self.rest) else {
            return Stage::Done(Some(ApiError::NotFound { html: browser.0 }.into_response()));
        };
        let asked = handler::Asked {
            counted,
            visitor: visitor_headers(request.headers(), state.web.country_header.as_ref()),
            uri: request.uri().clone(),
            rest: rest.map(str::to_owned),
        };
        let answer: Answer = if preview {
            Box::pin(super::preview::preview(state.clone(), code, browser))
        } else {
            let state = state.clone();
            Box::pin(async move { handler::follow(state, code, browser, asked).await })
        };
        // The lookup guard: reserve one 404 and spend one redirect before the lookup, give the
        // 404 back unless the answer is a 404 (see http::middleware::guard).
        let guards = &state.guards;
        let Some(limiter) = &guards.limiter else {
            return Stage::running(answer, None);
        };
        let client = client_from(request.extensions(), request.headers(), guards);
        let Some(local) = limiter.local() else {
            let limiter = limiter.clone();
            return Stage::running(Box::pin(lookup_remote(limiter, client, answer)), None);
        };
        match local.admit_lookup_now(&client) {
            LookupAdmission::Admitted => Stage::running(answer, Some((limiter.clone(), client))),
            refused => Stage::Done(Some(lookup_refused(refused))),
        }
    }
}

/// The code in a path the router matched as `{prefix}{code}` (or, with `rest`,
/// `{prefix}{code}/{rest}`), percent-decoded as axum's `Path` would, and the rest as sent;
/// `None` when no link can have the code.
fn code_in<'p>(path: &'p str, prefix: &str, rest: bool) -> Option<(ShortCode, Option<&'p str>)> {
    let raw = path.strip_prefix(prefix)?;
    let (raw, after) = match raw.split_once('/') {
        Some((code, after)) if rest => (code, Some(after)),
        Some(_) => return None,
        None if rest => return None,
        None => (raw, None),
    };
    let decoded = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .ok()?;
    Some((ShortCode::parse(&decoded).ok()?, after))
}

/// The first segment of `path`, as sent.
fn first_segment(path: &str) -> &str {
    let path = path.strip_prefix('/').unwrap_or(path);
    path.split('/').next().unwrap_or(path)
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
        let code = |path, prefix| code_in(path, prefix, false).unwrap().0.to_string();
        assert_eq!(code("/s/abc12345", "/s/"), "abc12345");
        assert_eq!(code("/s/%61bc12345", "/s/"), "abc12345");
        assert_eq!(code("/abc12345", "/"), "abc12345");
        assert_eq!(code("/%61bc12345", "/"), "abc12345");
        let (code, rest) = code_in("/abc12345/a/b%20c", "/", true).unwrap();
        assert_eq!((code.as_str(), rest), ("abc12345", Some("a/b%20c")));
        let (code, rest) = code_in("/s/abc12345/x", "/s/", true).unwrap();
        assert_eq!((code.as_str(), rest), ("abc12345", Some("x")));
        assert_eq!(first_segment("/api/links"), "api");
        assert_eq!(first_segment("/login"), "login");
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
            assert!(code_in(path, "/s/", false).is_none(), "{path}");
        }
        for path in ["/a!b", "/%FF%FE", "/ab", "/abc%2Fdef", "/robots.txt", "/"] {
            assert!(code_in(path, "/", false).is_none(), "{path}");
        }
    }
}
