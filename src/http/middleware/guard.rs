//! Guards in front of the routes that abuse targets: API-key authentication for creates, and
//! the per-client rate limits (creates; redirects and stats; 404s, which throttle enumeration).
//!
//! Failure policy when the limiter's own store is down: lookups fail open (the redirect is the
//! product, and a limiter outage must not take it down), creates fail closed with 503 (a
//! spammer must not get unlimited creates by knocking the limiter over).

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{Extensions, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ipnet::IpNet;
use pin_project_lite::pin_project;
use tower::{Layer, Service, ServiceExt};

use crate::http::{ApiError, Authenticated, RateLimitHeaders, authenticate};
use crate::limiter::{Budget, ClientId, Decision, Limiter, LookupAdmission};
use crate::state::{AppState, Guards};

/// The client's address: the peer, or, when the peer is a trusted proxy, the address the
/// trusted chain vouches for. `X-Forwarded-For` hops are walked from the right (the nearest
/// proxy's entry first): each trusted hop passes the walk on, the first untrusted hop is the
/// client. A hop that is not an address (`unknown`, a name, garbage a client wrote) ends the
/// walk at the last trusted address seen, so nothing left of it counts. Hops may carry a port
/// (`203.0.113.7:41234`, `[2001:db8::1]:443`), as some cloud gateways append them.
pub fn client_address(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted: &[IpNet],
) -> Option<IpAddr> {
    let peer = peer?.to_canonical();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let mut nearest = peer;
    // Header lines are one list in order (RFC 9110 §5.3): the last line holds the nearest hops.
    let lines: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .map(|v| v.to_str().unwrap_or(""))
        .collect();
    for hop in lines.iter().rev().flat_map(|line| line.rsplit(',')) {
        match parse_hop(hop) {
            Some(ip) if is_trusted(&ip) => nearest = ip,
            Some(ip) => return Some(ip),
            None => break,
        }
    }
    Some(nearest)
}

/// One `X-Forwarded-For` hop: an address, optionally with a port (`[v6]:port` for IPv6).
pub fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(addr) = hop.parse::<SocketAddr>() {
        return Some(addr.ip().to_canonical());
    }
    // `[v6]` without a port.
    hop.strip_prefix('[')?
        .strip_suffix(']')?
        .parse::<std::net::Ipv6Addr>()
        .ok()
        .map(|ip| IpAddr::V6(ip).to_canonical())
}

fn client_of(request: &Request, guards: &Guards) -> ClientId {
    client_from(request.extensions(), request.headers(), guards)
}

/// Who an anonymous request counts against in the rate limiter: its client address (see
/// [`client_address`]).
pub fn client_from(extensions: &Extensions, headers: &HeaderMap, guards: &Guards) -> ClientId {
    let peer = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    match client_address(peer, headers, &guards.trusted_proxies) {
        Some(ip) => ClientId::address(ip),
        None => ClientId::address(IpAddr::from([0, 0, 0, 0])),
    }
}

/// Spends one unit of `budget` for `client`: `Ok(None)` when there is no limiter, the
/// decision (for its headers) when admitted.
///
/// # Errors
/// [`ApiError::RateLimited`] when the budget is spent; [`ApiError::StorageUnavailable`] when
/// the limiter's store is down (these budgets fail closed, like creates).
pub async fn spend(
    guards: &Guards,
    budget: Budget,
    client: &ClientId,
) -> Result<Option<RateLimitHeaders>, ApiError> {
    let Some(limiter) = &guards.limiter else {
        return Ok(None);
    };
    match limiter.hit(budget, client).await {
        Ok(decision) if decision.allowed => Ok(Some(limited(decision))),
        Ok(decision) => Err(ApiError::RateLimited(limited(decision))),
        Err(error) => Err(ApiError::StorageUnavailable.because(format!(
            "rate limiter unavailable ({} budget); refusing: {error}",
            budget.name()
        ))),
    }
}

/// Gives one unit of `budget` back to `client` (best effort).
pub async fn give_back(guards: &Guards, budget: Budget, client: &ClientId) {
    if let Some(limiter) = &guards.limiter
        && let Err(error) = limiter.refund(budget, client).await
    {
        tracing::warn!(%error, budget = budget.name(), "rate limiter unavailable; not refunded");
    }
}

fn limited(decision: Decision) -> RateLimitHeaders {
    RateLimitHeaders {
        limit: decision.limit,
        remaining: decision.remaining,
        reset_us: decision.reset_us,
        retry_after_us: decision.retry_after_us,
    }
}

/// `POST /shorten`: authenticate (an API key or the session cookie, with the CSRF rule;
/// required unless `auth.anonymous_create`), then spend from the create budget; the budget's
/// headers go on every answer. The caller, if any, goes on as a request extension.
///
/// A signed-in user's creates are charged to the user, whichever of their keys or sessions
/// sends them (a fresh key is no fresh budget); an operator's key without an owner to the key;
/// anonymous creates to the address.
pub async fn guard_create(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let guards = &state.guards;
    let client = match authenticate(&state, request.method(), request.headers()).await {
        Ok(Authenticated::Caller(caller)) => {
            let client = ClientId::user(&caller.user.id);
            request.extensions_mut().insert(caller);
            client
        }
        Ok(Authenticated::OperatorKey(id)) => ClientId::api_key(&id),
        Ok(Authenticated::Anonymous) if !guards.anonymous_create => {
            return ApiError::Unauthorized.into_response();
        }
        Ok(Authenticated::Anonymous) => client_of(&request, guards),
        Err(error) => return error.into_response(),
    };
    match spend(guards, Budget::Create, &client).await {
        Ok(headers) => {
            let mut response = next.run(request).await;
            if let Some(headers) = headers {
                headers.apply(response.headers_mut());
            }
            response
        }
        Err(refused) => refused.into_response(),
    }
}

/// The lookup guard for `GET`/`HEAD /s/{code}` and `GET /stats/{code}`: reserves one 404 and
/// spends one redirect before the lookup (refusing clients whose 404 budget is spent, an
/// enumeration loop), and gives the 404 back when the answer is not a 404. Reserving first is
/// what keeps concurrent lookups from spending more than the budget. When the limiter's store
/// is down, lookups go through.
///
/// A hand-written layer rather than `axum::middleware::from_fn`, which boxes a future and
/// clones the route for every request: with the in-process limiter the guard decides in place
/// and adds no allocation to the redirect. The Redis limiter takes the boxed async path (its
/// network round trip dwarfs the box).
#[derive(Clone)]
pub struct LookupGuardLayer {
    guards: Arc<Guards>,
}

impl LookupGuardLayer {
    /// A layer enforcing `guards`' lookup budgets.
    pub fn new(guards: Arc<Guards>) -> Self {
        Self { guards }
    }
}

impl<S> Layer<S> for LookupGuardLayer {
    type Service = LookupGuard<S>;

    fn layer(&self, inner: S) -> Self::Service {
        LookupGuard {
            inner,
            guards: self.guards.clone(),
        }
    }
}

/// The service [`LookupGuardLayer`] builds.
#[derive(Clone)]
pub struct LookupGuard<S> {
    inner: S,
    guards: Arc<Guards>,
}

impl<S> Service<Request> for LookupGuard<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = LookupFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let Some(limiter) = &self.guards.limiter else {
            return LookupFuture::Pass {
                inner: self.inner.call(request),
            };
        };
        let client = client_of(&request, &self.guards);
        let Some(local) = limiter.local() else {
            // `call` may only use the service `poll_ready` readied: keep that one, leave a clone.
            let clone = self.inner.clone();
            let inner = std::mem::replace(&mut self.inner, clone);
            let limiter = limiter.clone();
            return LookupFuture::Remote {
                inner: Box::pin(lookup_remote(limiter, client, async move {
                    match inner.oneshot(request).await {
                        Ok(response) => response,
                        Err(never) => match never {},
                    }
                })),
            };
        };
        match local.admit_lookup_now(&client) {
            LookupAdmission::Admitted => {}
            refused => {
                return LookupFuture::Refused {
                    response: Some(lookup_refused(refused)),
                };
            }
        }
        LookupFuture::Local {
            inner: self.inner.call(request),
            charge: Some((limiter.clone(), client)),
        }
    }
}

pin_project! {
    /// Response future of [`LookupGuard`].
    #[project = LookupProj]
    pub enum LookupFuture<F> {
        /// No limiter: the route's own future.
        Pass { #[pin] inner: F },
        /// Refused before the route ran.
        Refused { response: Option<Response> },
        /// Admitted by the in-process limiter with a 404 reserved, given back unless the route
        /// answers 404.
        Local { #[pin] inner: F, charge: Option<(Arc<dyn Limiter>, ClientId)> },
        /// A limiter in another process, decided asynchronously.
        Remote { inner: Pin<Box<dyn Future<Output = Response> + Send>> },
    }
}

impl<F> Future for LookupFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            LookupProj::Pass { inner } => inner.poll(cx),
            LookupProj::Refused { response } => {
                Poll::Ready(Ok(response.take().unwrap_or_else(|| {
                    // Polled again after completion: a caller bug, answered rather than panicking.
                    ApiError::Internal.into_response()
                })))
            }
            LookupProj::Local { inner, charge } => {
                let response = ready!(inner.poll(cx))?;
                if response.status() != StatusCode::NOT_FOUND
                    && let Some((limiter, client)) = charge.take()
                    && let Some(local) = limiter.local()
                {
                    local.refund_now(Budget::NotFound, &client);
                }
                Poll::Ready(Ok(response))
            }
            LookupProj::Remote { inner } => inner.as_mut().poll(cx).map(Ok),
        }
    }
}

/// The 429 for a lookup the limiter refused. A spent 404 budget says nothing of the limit
/// (`limit: 0`): the client should not learn how many misses it may make.
pub(crate) fn lookup_refused(refused: LookupAdmission) -> Response {
    let headers = match refused {
        LookupAdmission::NotFoundSpent(decision) => RateLimitHeaders {
            limit: 0,
            remaining: 0,
            reset_us: decision.retry_after_us,
            retry_after_us: decision.retry_after_us,
        },
        LookupAdmission::RedirectSpent(decision) => limited(decision),
        LookupAdmission::Admitted => return ApiError::Internal.into_response(),
    };
    ApiError::RateLimited(headers).into_response()
}

/// The lookup guard against a limiter in another process (Redis): one round trip admits the
/// lookup (`answer`, run only when admitted), and the reserved 404 is given back in the
/// background once the answer is known, so the redirect does not wait for a second round trip.
/// A limiter that is down lets lookups through. Shared with `RedirectRoute`.
pub(crate) async fn lookup_remote(
    limiter: Arc<dyn Limiter>,
    client: ClientId,
    answer: impl Future<Output = Response>,
) -> Response {
    let reserved = match limiter.admit_lookup(&client).await {
        Ok(LookupAdmission::Admitted) => true,
        Ok(refused) => return lookup_refused(refused),
        Err(error) => {
            tracing::warn!(%error, "rate limiter unavailable; letting lookups through");
            false
        }
    };
    let response = answer.await;
    if reserved && response.status() != StatusCode::NOT_FOUND {
        tokio::spawn(async move {
            if let Err(error) = limiter.refund(Budget::NotFound, &client).await {
                tracing::warn!(%error, "rate limiter unavailable; reserved 404 not given back");
            }
        });
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn xff(value: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static(value));
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_from_an_untrusted_peer_is_ignored() {
        let got = client_address(Some(ip("203.0.113.9")), &xff("1.2.3.4"), &[]);
        assert_eq!(got, Some(ip("203.0.113.9")));
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        // The client forged "6.6.6.6"; the proxy chain appended the real client and itself.
        let got = client_address(
            Some(ip("10.0.0.2")),
            &xff("6.6.6.6, 198.51.100.7, 10.0.0.1"),
            &trusted,
        );
        assert_eq!(got, Some(ip("198.51.100.7")));
    }

    #[test]
    fn a_hop_the_client_garbled_does_not_make_the_proxy_the_client() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        for header in [
            "x, 198.51.100.7",
            "x, 198.51.100.7, 10.0.0.1",
            ", 198.51.100.7",
        ] {
            let got = client_address(Some(ip("10.0.0.2")), &xff(header), &trusted);
            assert_eq!(got, Some(ip("198.51.100.7")), "{header}");
        }
    }

    #[test]
    fn hops_with_ports_are_read_as_their_address() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        for (header, client) in [
            ("198.51.100.7:41234", "198.51.100.7"),
            ("198.51.100.7:41234, 10.0.0.1:80", "198.51.100.7"),
            ("[2001:db8::7]:443", "2001:db8::7"),
            ("[2001:db8::7]", "2001:db8::7"),
            ("[::ffff:198.51.100.7]:1", "198.51.100.7"),
        ] {
            let got = client_address(Some(ip("10.0.0.2")), &xff(header), &trusted);
            assert_eq!(got, Some(ip(client)), "{header}");
        }
    }

    #[test]
    fn an_unparseable_hop_stops_the_walk_at_the_last_trusted_address() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        // The walk reaches 10.0.0.1 (trusted), then garbage: the client cannot be told, so the
        // nearest address the chain vouches for counts, never the forged 6.6.6.6.
        let got = client_address(
            Some(ip("10.0.0.2")),
            &xff("6.6.6.6, garbage, 10.0.0.1"),
            &trusted,
        );
        assert_eq!(got, Some(ip("10.0.0.1")));
    }

    #[test]
    fn several_header_lines_are_one_list() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let mut headers = HeaderMap::new();
        headers.append("x-forwarded-for", HeaderValue::from_static("6.6.6.6"));
        headers.append(
            "x-forwarded-for",
            HeaderValue::from_static("198.51.100.7, 10.0.0.1"),
        );
        let got = client_address(Some(ip("10.0.0.2")), &headers, &trusted);
        assert_eq!(got, Some(ip("198.51.100.7")));
    }

    #[test]
    fn a_garbled_header_from_a_trusted_proxy_falls_back_to_the_peer() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let got = client_address(Some(ip("10.0.0.2")), &xff("not-an-ip"), &trusted);
        assert_eq!(got, Some(ip("10.0.0.2")));
    }
}
