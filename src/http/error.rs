//! `ApiError`: the one place where failures become status codes and RFC 9457
//! `application/problem+json` bodies. Each variant's doc names its status and `code`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::error_table::{ErrorCode, codes};
use super::extract::Browser;
use crate::domain::{AccountInputError, AliasError, LongUrlError, RoutingError};
use crate::repository::RepoError;
use crate::service::ServiceError;

/// Seconds a client is told to wait after a 503.
pub const RETRY_AFTER_SECONDS: u32 = 2;

/// Media type of error bodies.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error as the API reports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// 400 `invalid_request`: malformed JSON, a wrong type, an unknown or missing field.
    #[error("{0}")]
    InvalidRequest(String),
    /// 400 with the URL's own `code` (`invalid_url`, `unsupported_scheme`, ...).
    #[error(transparent)]
    InvalidUrl(#[from] LongUrlError),
    /// 400 `invalid_ttl`.
    #[error("{0}")]
    InvalidTtl(String),
    /// 400 `invalid_expiry`: a new `expires_at` in the past, too far ahead, or null where
    /// links must expire.
    #[error("{0}")]
    InvalidExpiry(&'static str),
    /// 400 `invalid_range`: an analytics range (`from`, `to`, `interval`) that is malformed,
    /// empty or wider than allowed.
    #[error("{0}")]
    InvalidRange(String),
    /// 400 `invalid_routing`: a link's `redirect_status` or `rules` out of bounds (a rule's `to`
    /// answers with the URL's own code instead).
    #[error(transparent)]
    InvalidRouting(#[from] RoutingError),
    /// 400 `invalid_alias` or `reserved_alias`.
    #[error(transparent)]
    InvalidAlias(#[from] AliasError),
    /// 404 `not_found`: as HTML when the client asked for HTML, else problem+json.
    #[error("no link with this code")]
    NotFound {
        /// Answer with the small HTML page rather than JSON.
        html: bool,
    },
    /// 405 `method_not_allowed` (the router adds `Allow`).
    #[error("method not allowed on this resource")]
    MethodNotAllowed,
    /// 401 `unauthorized`: no valid API key or session: missing, unknown, revoked or expired
    /// get one identical answer (with `WWW-Authenticate: Bearer`).
    #[error("a valid API key or session is required")]
    Unauthorized,
    /// 400 `invalid_username`, `weak_password` or `invalid_display_name`.
    #[error(transparent)]
    InvalidAccount(#[from] AccountInputError),
    /// 401 `invalid_credentials`: unknown user, wrong password or disabled account, told
    /// apart to nobody.
    #[error("the user name or password is wrong")]
    InvalidCredentials,
    /// 403 `csrf_rejected`: a state-changing request authenticated by the session cookie that
    /// does not come from this service's own origin.
    #[error("cross-origin request refused: send it from this site's own pages, or use an API key")]
    CsrfRejected,
    /// 403 `forbidden`: an administrator's operation asked by another user.
    #[error("only an administrator may do this")]
    Forbidden,
    /// 403 `signup_closed`: self-service signup is off (`accounts.signup`) or needs an invite.
    #[error("{0}")]
    SignupClosed(&'static str),
    /// 400 `invalid_invite`: an unknown, used or expired invite, one answer for all three.
    #[error("this invite is not valid (unknown, already used or expired)")]
    InvalidInvite,
    /// 409 `too_many_keys`: the caller holds as many live API keys as allowed.
    #[error("{0}")]
    TooManyKeys(String),
    /// 409 `username_taken`.
    #[error("this user name is taken")]
    UsernameTaken,
    /// 403 `invalid_setup_token`: a wrong first-run setup token, or setup not open.
    #[error("this setup token is not valid (wrong, used, or setup is not open)")]
    InvalidSetupToken,
    /// 409 `setup_done`: first-run setup after an administrator exists.
    #[error("setup is done: an administrator exists; log in instead")]
    SetupDone,
    /// 409 `last_admin`: the change would leave no active administrator.
    #[error("the last active administrator cannot be disabled or demoted")]
    LastAdmin,
    /// 409 `link_health_disabled`: a check asked for where link health is off
    /// (`link_health.enabled = false`, or a store that keeps no link health).
    #[error("destination checks are turned off on this server")]
    LinkHealthOff,
    /// 429 `rate_limited`, with `Retry-After` and `RateLimit-*` headers.
    #[error("too many requests; retry after {} s", .0.retry_after_secs())]
    RateLimited(RateLimitHeaders),
    /// 409 `alias_taken`.
    #[error("alias '{0}' is already taken")]
    AliasTaken(String),
    /// 413 `payload_too_large`.
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// 415 `unsupported_media_type`.
    #[error("the request body must be JSON with Content-Type: application/json")]
    UnsupportedMediaType,
    /// 503 `storage_unavailable`, with `Retry-After`.
    #[error("storage is unavailable; try again shortly")]
    StorageUnavailable,
    /// 503 `storage_unavailable` (with `Retry-After`) or 500 `internal_error` for a browser
    /// following a short link: the error page in the site's look instead of JSON.
    #[error("{0}")]
    ErrorPage(Box<ApiError>),
    /// 503 `busy`, with `Retry-After`: too many password checks are running in this process
    /// (`accounts.max_concurrent_hashes`) and none freed within `accounts.hash_wait_ms`.
    #[error("the server is busy checking passwords; try again shortly")]
    Busy,
    /// 503 `request_timeout`, with `Retry-After`: the server's own deadline passed.
    #[error("the request took too long; try again shortly")]
    Timeout,
    /// 500 `internal_error`, sent without detail.
    #[error("internal server error")]
    Internal,
    /// The error `.0` (a 5xx) with its cause: answered as `.0`, and the cause goes to the
    /// request log's one event for this request ([`ErrorCause`]), never into the body.
    #[error("{0}")]
    Failed(Box<ApiError>, String),
}

/// Why a request failed with a server error, carried from where it happened to the request log
/// as a response extension: the request's one log event names it, the client never sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorCause(pub String);

/// Puts `cause` on `response` for the request log.
pub(crate) fn attach_cause(response: &mut Response, cause: String) {
    response.extensions_mut().insert(ErrorCause(cause));
}

/// An RFC 9457 problem details body (`application/problem+json`).
#[derive(Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type: `urn:url-shortener:problem:{code}`.
    #[serde(rename = "type")]
    #[schema(pattern = "^urn:url-shortener:problem:[a-z_]+$")]
    pub kind: String,
    /// Short human-readable summary.
    pub title: String,
    /// The HTTP status.
    #[schema(minimum = 400, maximum = 599)]
    pub status: u16,
    /// Human-readable explanation (never internal detail for 5xx).
    pub detail: String,
    /// Stable machine-readable code; switch on this.
    pub code: String,
}

impl ApiError {
    /// This error's row of the table: its `code`, status and title.
    pub fn kind(&self) -> &'static ErrorCode {
        match self {
            Self::InvalidRequest(_) => &codes::INVALID_REQUEST,
            Self::InvalidUrl(e) => match e {
                LongUrlError::Invalid(_)
                | LongUrlError::ControlCharacter
                | LongUrlError::BlockedPort(_) => &codes::INVALID_URL,
                LongUrlError::UnsupportedScheme(_) => &codes::UNSUPPORTED_SCHEME,
                LongUrlError::Credentials => &codes::CREDENTIALS_IN_URL,
                LongUrlError::InvalidHostname(_) => &codes::INVALID_HOSTNAME,
                LongUrlError::ForbiddenDestination(_) => &codes::FORBIDDEN_DESTINATION,
                LongUrlError::SelfReferencing => &codes::SELF_REFERENCING_URL,
                LongUrlError::TooLong => &codes::URL_TOO_LONG,
            },
            Self::InvalidTtl(_) => &codes::INVALID_TTL,
            Self::InvalidExpiry(_) => &codes::INVALID_EXPIRY,
            Self::InvalidRange(_) => &codes::INVALID_RANGE,
            Self::InvalidRouting(_) => &codes::INVALID_ROUTING,
            Self::InvalidAlias(AliasError::Invalid(_)) => &codes::INVALID_ALIAS,
            Self::InvalidAlias(AliasError::Reserved(_)) => &codes::RESERVED_ALIAS,
            Self::NotFound { .. } => &codes::NOT_FOUND,
            Self::Unauthorized => &codes::UNAUTHORIZED,
            Self::InvalidAccount(AccountInputError::InvalidUsername) => &codes::INVALID_USERNAME,
            Self::InvalidAccount(AccountInputError::WeakPassword) => &codes::WEAK_PASSWORD,
            Self::InvalidAccount(AccountInputError::InvalidDisplayName) => {
                &codes::INVALID_DISPLAY_NAME
            }
            Self::InvalidCredentials => &codes::INVALID_CREDENTIALS,
            Self::CsrfRejected => &codes::CSRF_REJECTED,
            Self::Forbidden => &codes::FORBIDDEN,
            Self::SignupClosed(_) => &codes::SIGNUP_CLOSED,
            Self::InvalidInvite => &codes::INVALID_INVITE,
            Self::UsernameTaken => &codes::USERNAME_TAKEN,
            Self::TooManyKeys(_) => &codes::TOO_MANY_KEYS,
            Self::LastAdmin => &codes::LAST_ADMIN,
            Self::LinkHealthOff => &codes::LINK_HEALTH_DISABLED,
            Self::InvalidSetupToken => &codes::INVALID_SETUP_TOKEN,
            Self::SetupDone => &codes::SETUP_DONE,
            Self::RateLimited(_) => &codes::RATE_LIMITED,
            Self::MethodNotAllowed => &codes::METHOD_NOT_ALLOWED,
            Self::AliasTaken(_) => &codes::ALIAS_TAKEN,
            Self::PayloadTooLarge(_) => &codes::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => &codes::UNSUPPORTED_MEDIA_TYPE,
            Self::StorageUnavailable => &codes::STORAGE_UNAVAILABLE,
            Self::Busy => &codes::BUSY,
            Self::ErrorPage(inner) | Self::Failed(inner, _) => inner.kind(),
            Self::Timeout => &codes::REQUEST_TIMEOUT,
            Self::Internal => &codes::INTERNAL_ERROR,
        }
    }

    /// This error, answered as it is, with `cause` for the request log.
    pub fn because(self, cause: impl Into<String>) -> Self {
        Self::Failed(Box::new(self), cause.into())
    }

    /// The status this error answers with.
    pub fn status(&self) -> StatusCode {
        self.kind().status
    }

    /// The stable machine-readable `code` member.
    pub fn code(&self) -> &'static str {
        self.kind().code
    }

    fn title(&self) -> &'static str {
        self.kind().title
    }
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::InvalidTtl { max } => Self::InvalidTtl(format!(
                "ttl_seconds must be a whole number between 1 and {max}"
            )),
            ServiceError::AliasTaken(alias) => Self::AliasTaken(alias),
            ServiceError::NotFound => Self::NotFound { html: false },
            ServiceError::Storage(RepoError::Unavailable(cause)) => {
                Self::StorageUnavailable.because(format!("storage unavailable: {cause}"))
            }
            ServiceError::Storage(e @ (RepoError::Corrupt(_) | RepoError::Conflict)) => {
                Self::Internal.because(format!("storage error: {e}"))
            }
            e @ ServiceError::InvalidKeyName(_) => Self::InvalidRequest(e.to_string()),
            ServiceError::Account(e) => Self::InvalidAccount(e),
            ServiceError::UsernameTaken => Self::UsernameTaken,
            e @ ServiceError::TooManyKeys(_) => Self::TooManyKeys(e.to_string()),
            ServiceError::InvalidCredentials => Self::InvalidCredentials,
            ServiceError::NoSuchUser => Self::NotFound { html: false },
            ServiceError::InvalidInvite => Self::InvalidInvite,
            ServiceError::LastAdmin => Self::LastAdmin,
            ServiceError::InvalidSetupToken => Self::InvalidSetupToken,
            ServiceError::SetupDone => Self::SetupDone,
            ServiceError::InvalidExpiry(why) => Self::InvalidExpiry(why),
            ServiceError::InvalidRange(why) => Self::InvalidRange(why),
            ServiceError::Busy => Self::Busy,
            ServiceError::Internal(what) => Self::Internal.because(what),
            e @ ServiceError::CodeSpaceExhausted(_) => {
                Self::Internal.because(format!("short code allocation failed: {e}"))
            }
        }
    }
}

/// A rate-limit decision as response headers (IETF `RateLimit` fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitHeaders {
    /// Requests allowed at once (`RateLimit-Limit`).
    pub limit: u32,
    /// Requests left now (`RateLimit-Remaining`).
    pub remaining: u32,
    /// Microseconds until the budget is full again (`RateLimit-Reset`, in whole seconds).
    pub reset_us: i64,
    /// Microseconds until a request would be admitted (`Retry-After` on 429).
    pub retry_after_us: i64,
}

fn ceil_secs(us: i64) -> u64 {
    u64::try_from(us.max(0)).unwrap_or(0).div_ceil(1_000_000)
}

impl RateLimitHeaders {
    /// Whole seconds to wait, at least 1.
    pub fn retry_after_secs(&self) -> u64 {
        ceil_secs(self.retry_after_us).max(1)
    }

    /// Adds `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` to `headers`.
    pub fn apply(&self, headers: &mut axum::http::HeaderMap) {
        headers.insert("ratelimit-limit", HeaderValue::from(self.limit));
        headers.insert("ratelimit-remaining", HeaderValue::from(self.remaining));
        headers.insert(
            "ratelimit-reset",
            HeaderValue::from(ceil_secs(self.reset_us)),
        );
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        match self {
            Self::Failed(inner, cause) => {
                let mut response = inner.into_response();
                attach_cause(&mut response, cause);
                return response;
            }
            Self::ErrorPage(inner) => {
                let page = if inner.status() == StatusCode::SERVICE_UNAVAILABLE {
                    crate::http::page::PageError::Unavailable
                } else {
                    crate::http::page::PageError::Internal
                };
                let mut response = page.page();
                if let Self::Failed(_, cause) = *inner {
                    attach_cause(&mut response, cause);
                }
                return response;
            }
            _ => {}
        }
        let mut response = if let Self::NotFound { html: true } = self {
            // The site's own 404 page, with the headers every page of the UI carries.
            let mut r = (status, Html(crate::http::page::link_not_found_html())).into_response();
            crate::http::page::add_security_headers(r.headers_mut());
            r
        } else {
            let detail = if status.is_server_error() {
                // A 5xx body never carries internal detail.
                self.title().to_owned()
            } else {
                self.to_string()
            };
            let body = Problem {
                kind: format!("urn:url-shortener:problem:{}", self.code()),
                title: self.title().to_owned(),
                status: status.as_u16(),
                detail,
                code: self.code().to_owned(),
            };
            let json = serde_json::to_vec(&body).unwrap_or_default();
            let mut r = (status, json).into_response();
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
            r
        };
        if let Self::RateLimited(limits) = &self {
            limits.apply(response.headers_mut());
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(limits.retry_after_secs()),
            );
        }
        let headers = response.headers_mut();
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
        }
        if status == StatusCode::NOT_FOUND || status.is_server_error() {
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        response
    }
}

/// A service error as this client should see it: for browsers, 404s and server errors as the
/// site's pages.
pub(crate) fn for_client(error: ServiceError, Browser(html): Browser) -> ApiError {
    match error {
        ServiceError::NotFound => ApiError::NotFound { html },
        other => match ApiError::from(other) {
            server if html && server.status().is_server_error() => {
                ApiError::ErrorPage(Box::new(server))
            }
            api => api,
        },
    }
}

/// 404 for paths no route matches.
pub(crate) async fn no_route(Browser(html): Browser) -> ApiError {
    ApiError::NotFound { html }
}

/// 405 for a known path with another method; the router adds `Allow`.
pub(crate) async fn wrong_method() -> ApiError {
    ApiError::MethodNotAllowed
}
