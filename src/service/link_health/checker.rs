//! One check of one destination: `HEAD`, then a one-byte ranged `GET` where `HEAD` is refused,
//! redirects followed by hand (at most [`MAX_REDIRECTS`]) so every hop passes the creation rules
//! before it is requested, and small time and byte limits.
//!
//! What is sent: the method, the URL, `User-Agent` naming the service and its base URL,
//! `Accept: */*` and (for the `GET`) `Range: bytes=0-0`. Never a cookie, a credential, a body,
//! or a proxy from the environment.

use std::error::Error;
use std::time::{Duration, Instant};

use reqwest::header::{ACCEPT, HeaderValue, LOCATION, RANGE, RETRY_AFTER};
use reqwest::{Method, StatusCode};

use super::resolver::{CheckedResolver, ForbiddenAddress, UnresolvedName};
use crate::domain::{CheckOutcome, LongUrl, LongUrlError, UrlPolicy};

/// Redirects followed before a check gives up (`client_error`).
pub const MAX_REDIRECTS: usize = 5;

/// Limits of one check.
#[derive(Debug, Clone)]
pub struct CheckLimits {
    /// Connecting to one address.
    pub connect_timeout: Duration,
    /// The whole check, every hop and both methods included.
    pub total_timeout: Duration,
    /// Body bytes read from a `GET` before the connection is dropped.
    pub max_body_bytes: usize,
}

/// What one check found, before it is stamped with a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The outcome.
    pub outcome: CheckOutcome,
    /// The last HTTP status seen.
    pub http_status: Option<u16>,
    /// `Retry-After` of a 429 or 503 answer, for the host's backoff.
    pub retry_after: Option<Duration>,
    /// How long it took.
    pub elapsed: Duration,
}

/// Checks destinations; cheap to clone (one connection pool-less client).
#[derive(Clone)]
pub struct LinkChecker {
    client: reqwest::Client,
    resolver: CheckedResolver,
    policy: UrlPolicy,
    limits: CheckLimits,
}

impl LinkChecker {
    /// A checker that resolves through `resolver`, sends `user_agent`, and applies the
    /// creation rules of `policy` to every hop.
    ///
    /// # Errors
    /// When the HTTP client cannot be built (no TLS provider).
    pub fn new(
        resolver: CheckedResolver,
        policy: UrlPolicy,
        user_agent: &str,
        limits: CheckLimits,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .dns_resolver(resolver.clone())
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(user_agent)
            .connect_timeout(limits.connect_timeout)
            .timeout(limits.total_timeout)
            // Each check opens its own connection: nothing pooled outlives the address check
            // of the hop that opened it, and checks of one host are spaced far apart anyway.
            .pool_max_idle_per_host(0)
            .build()?;
        Ok(Self {
            client,
            resolver,
            policy,
            limits,
        })
    }

    /// Checks `url`.
    pub async fn check(&self, url: &str) -> Probe {
        let started = Instant::now();
        let probe = tokio::time::timeout(self.limits.total_timeout, self.follow(url)).await;
        let (outcome, http_status, retry_after) =
            probe.unwrap_or((CheckOutcome::Timeout, None, None));
        Probe {
            outcome,
            http_status,
            retry_after,
            elapsed: started.elapsed(),
        }
    }

    async fn follow(&self, url: &str) -> (CheckOutcome, Option<u16>, Option<Duration>) {
        let mut current = url.to_owned();
        for hop in 0..=MAX_REDIRECTS {
            // The first URL passed these rules at creation; a later change of the rules (or a
            // link stored before them) is caught here too.
            if let Err(e) = LongUrl::parse(&current, &self.policy) {
                return (hop_refusal(&e), None, None);
            }
            // An address literal never reaches the resolver: the same rule, here.
            if let Some(ip) = literal_ip(&current)
                && !self.resolver.allows(ip)
            {
                return (CheckOutcome::Blocked, None, None);
            }
            let answer = match self.request(&current).await {
                Ok(answer) => answer,
                Err(outcome) => return (outcome, None, None),
            };
            let status = answer.status();
            if status.is_redirection() {
                let Some(next) = answer
                    .headers()
                    .get(LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .and_then(|l| reqwest::Url::parse(&current).ok()?.join(l).ok())
                else {
                    return (CheckOutcome::ClientError, Some(status.as_u16()), None);
                };
                current = next.to_string();
                continue;
            }
            let retry_after = answer
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let outcome = classify(status, hop > 0 && current != url);
            return (outcome, Some(status.as_u16()), retry_after);
        }
        (CheckOutcome::ClientError, None, None)
    }

    /// `HEAD`, and where it is refused a ranged `GET` whose body is read up to the limit.
    async fn request(&self, url: &str) -> Result<reqwest::Response, CheckOutcome> {
        let head = self
            .client
            .request(Method::HEAD, url)
            .header(ACCEPT, HeaderValue::from_static("*/*"))
            .send()
            .await
            .map_err(|e| classify_error(&e))?;
        let status = head.status();
        let head_refused = status == StatusCode::METHOD_NOT_ALLOWED
            || status == StatusCode::NOT_IMPLEMENTED
            || (status.is_client_error() && status != StatusCode::TOO_MANY_REQUESTS)
            || (status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE);
        if !head_refused {
            return Ok(head);
        }
        let mut get = self
            .client
            .request(Method::GET, url)
            .header(ACCEPT, HeaderValue::from_static("*/*"))
            .header(RANGE, HeaderValue::from_static("bytes=0-0"))
            .send()
            .await
            .map_err(|e| classify_error(&e))?;
        // A server that ignores Range may send a huge body: read at most the limit, then drop
        // the connection.
        let mut read = 0usize;
        while read < self.limits.max_body_bytes {
            match get.chunk().await {
                Ok(Some(chunk)) => read += chunk.len(),
                Ok(None) | Err(_) => break,
            }
        }
        Ok(get)
    }
}

/// The address of a URL whose host is an IP literal.
fn literal_ip(url: &str) -> Option<std::net::IpAddr> {
    match reqwest::Url::parse(url).ok()?.host()? {
        url::Host::Ipv4(v4) => Some(v4.into()),
        url::Host::Ipv6(v6) => Some(v6.into()),
        url::Host::Domain(_) => None,
    }
}

/// Why a hop's URL is refused: a forbidden address is `blocked`, anything else malformed.
fn hop_refusal(error: &LongUrlError) -> CheckOutcome {
    match error {
        LongUrlError::ForbiddenDestination(_) => CheckOutcome::Blocked,
        _ => CheckOutcome::ClientError,
    }
}

/// The outcome of a final (non-redirect) status.
fn classify(status: StatusCode, moved: bool) -> CheckOutcome {
    match status.as_u16() {
        200..=299 if moved => CheckOutcome::Redirected,
        200..=299 => CheckOutcome::Ok,
        401 | 403 | 429 | 999 => CheckOutcome::Refused,
        500..=599 => CheckOutcome::ServerError,
        _ => CheckOutcome::ClientError,
    }
}

/// The outcome of a request that got no answer.
fn classify_error(error: &reqwest::Error) -> CheckOutcome {
    if error.is_timeout() {
        return CheckOutcome::Timeout;
    }
    let mut source: Option<&(dyn Error + 'static)> = error.source();
    while let Some(e) = source {
        if e.is::<ForbiddenAddress>() {
            return CheckOutcome::Blocked;
        }
        if e.is::<UnresolvedName>() {
            return CheckOutcome::Dns;
        }
        if e.is::<rustls::Error>() {
            return CheckOutcome::Tls;
        }
        // An io::Error's `source` skips the error it wraps (connectors wrap rustls's error in
        // one or two of them): look inside by hand.
        let mut io = e.downcast_ref::<std::io::Error>();
        while let Some(error) = io {
            if error.kind() == std::io::ErrorKind::TimedOut {
                return CheckOutcome::Timeout;
            }
            let inner = error.get_ref();
            if inner.is_some_and(|i| i.is::<rustls::Error>()) {
                return CheckOutcome::Tls;
            }
            io = inner.and_then(|i| i.downcast_ref::<std::io::Error>());
        }
        source = e.source();
    }
    // Refused or reset connections: the server is not there to answer.
    CheckOutcome::ServerError
}
