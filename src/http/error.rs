//! `ApiError`: the one place where failures become status codes and RFC 9457
//! `application/problem+json` bodies. Each variant's doc names its status and `code`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::extract::Browser;
use crate::domain::{AccountInputError, AliasError, LongUrlError};
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
    /// 500 `internal_error`. The cause is logged where it happened, never sent.
    #[error("internal server error")]
    Internal,
}

/// Every error code the API answers with, for the OpenAPI document.
pub const ERROR_CODES: &[&str] = &[
    "invalid_request",
    "invalid_url",
    "unsupported_scheme",
    "credentials_in_url",
    "invalid_hostname",
    "forbidden_destination",
    "self_referencing_url",
    "url_too_long",
    "invalid_ttl",
    "invalid_expiry",
    "invalid_alias",
    "reserved_alias",
    "unauthorized",
    "invalid_username",
    "weak_password",
    "invalid_display_name",
    "invalid_credentials",
    "csrf_rejected",
    "forbidden",
    "signup_closed",
    "invalid_invite",
    "username_taken",
    "too_many_keys",
    "last_admin",
    "link_health_disabled",
    "invalid_setup_token",
    "setup_done",
    "not_found",
    "method_not_allowed",
    "alias_taken",
    "payload_too_large",
    "unsupported_media_type",
    "rate_limited",
    "internal_error",
    "storage_unavailable",
    "busy",
    "request_timeout",
];

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
    #[schema(
        pattern = "^(invalid_request|invalid_url|unsupported_scheme|credentials_in_url|invalid_hostname|forbidden_destination|self_referencing_url|url_too_long|invalid_ttl|invalid_expiry|invalid_range|invalid_alias|reserved_alias|unauthorized|invalid_username|weak_password|invalid_display_name|invalid_credentials|csrf_rejected|forbidden|signup_closed|invalid_invite|username_taken|too_many_keys|last_admin|link_health_disabled|invalid_setup_token|setup_done|not_found|method_not_allowed|alias_taken|payload_too_large|unsupported_media_type|rate_limited|internal_error|storage_unavailable|busy|request_timeout)$"
    )]
    pub code: String,
}

impl ApiError {
    /// The status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidRequest(_)
            | Self::InvalidUrl(_)
            | Self::InvalidTtl(_)
            | Self::InvalidExpiry(_)
            | Self::InvalidRange(_)
            | Self::InvalidAlias(_)
            | Self::InvalidAccount(_)
            | Self::InvalidInvite => StatusCode::BAD_REQUEST,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::Unauthorized | Self::InvalidCredentials => StatusCode::UNAUTHORIZED,
            Self::CsrfRejected
            | Self::Forbidden
            | Self::SignupClosed(_)
            | Self::InvalidSetupToken => StatusCode::FORBIDDEN,
            Self::UsernameTaken
            | Self::TooManyKeys(_)
            | Self::LastAdmin
            | Self::SetupDone
            | Self::LinkHealthOff => StatusCode::CONFLICT,
            Self::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::AliasTaken(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::StorageUnavailable | Self::Busy | Self::Timeout => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::ErrorPage(inner) => inner.status(),
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable `code` member.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidUrl(e) => match e {
                LongUrlError::Invalid(_)
                | LongUrlError::ControlCharacter
                | LongUrlError::BlockedPort(_) => "invalid_url",
                LongUrlError::UnsupportedScheme(_) => "unsupported_scheme",
                LongUrlError::Credentials => "credentials_in_url",
                LongUrlError::InvalidHostname(_) => "invalid_hostname",
                LongUrlError::ForbiddenDestination(_) => "forbidden_destination",
                LongUrlError::SelfReferencing => "self_referencing_url",
                LongUrlError::TooLong => "url_too_long",
            },
            Self::InvalidTtl(_) => "invalid_ttl",
            Self::InvalidExpiry(_) => "invalid_expiry",
            Self::InvalidRange(_) => "invalid_range",
            Self::InvalidAlias(AliasError::Invalid(_)) => "invalid_alias",
            Self::InvalidAlias(AliasError::Reserved(_)) => "reserved_alias",
            Self::NotFound { .. } => "not_found",
            Self::Unauthorized => "unauthorized",
            Self::InvalidAccount(AccountInputError::InvalidUsername) => "invalid_username",
            Self::InvalidAccount(AccountInputError::WeakPassword) => "weak_password",
            Self::InvalidAccount(AccountInputError::InvalidDisplayName) => "invalid_display_name",
            Self::InvalidCredentials => "invalid_credentials",
            Self::CsrfRejected => "csrf_rejected",
            Self::Forbidden => "forbidden",
            Self::SignupClosed(_) => "signup_closed",
            Self::InvalidInvite => "invalid_invite",
            Self::UsernameTaken => "username_taken",
            Self::TooManyKeys(_) => "too_many_keys",
            Self::LastAdmin => "last_admin",
            Self::LinkHealthOff => "link_health_disabled",
            Self::InvalidSetupToken => "invalid_setup_token",
            Self::SetupDone => "setup_done",
            Self::RateLimited(_) => "rate_limited",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::AliasTaken(_) => "alias_taken",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::StorageUnavailable => "storage_unavailable",
            Self::Busy => "busy",
            Self::ErrorPage(inner) => inner.code(),
            Self::Timeout => "request_timeout",
            Self::Internal => "internal_error",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "Invalid request",
            Self::InvalidUrl(_) => "Invalid long URL",
            Self::InvalidTtl(_) => "Invalid TTL",
            Self::InvalidExpiry(_) => "Invalid expiry",
            Self::InvalidRange(_) => "Invalid range",
            Self::InvalidAlias(_) => "Invalid alias",
            Self::NotFound { .. } => "Not found",
            Self::Unauthorized => "Unauthorized",
            Self::InvalidAccount(_) => "Invalid account details",
            Self::InvalidCredentials => "Invalid credentials",
            Self::CsrfRejected => "Cross-origin request refused",
            Self::Forbidden => "Forbidden",
            Self::SignupClosed(_) => "Signup closed",
            Self::InvalidInvite => "Invalid invite",
            Self::UsernameTaken => "User name taken",
            Self::TooManyKeys(_) => "Too many keys",
            Self::LastAdmin => "Last administrator",
            Self::LinkHealthOff => "Link health disabled",
            Self::InvalidSetupToken => "Invalid setup token",
            Self::SetupDone => "Setup done",
            Self::RateLimited(_) => "Too many requests",
            Self::MethodNotAllowed => "Method not allowed",
            Self::AliasTaken(_) => "Alias taken",
            Self::PayloadTooLarge(_) => "Payload too large",
            Self::UnsupportedMediaType => "Unsupported media type",
            Self::StorageUnavailable => "Storage unavailable",
            Self::Busy => "Busy",
            Self::ErrorPage(inner) => inner.title(),
            Self::Timeout => "Request timeout",
            Self::Internal => "Internal server error",
        }
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
                tracing::warn!(%cause, "storage unavailable");
                Self::StorageUnavailable
            }
            ServiceError::Storage(e @ (RepoError::Corrupt(_) | RepoError::Conflict)) => {
                tracing::error!(error = %e, "storage error");
                Self::Internal
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
            ServiceError::Internal(what) => {
                tracing::error!(what, "internal error");
                Self::Internal
            }
            e @ ServiceError::CodeSpaceExhausted(_) => {
                tracing::error!(error = %e, "short code allocation failed");
                Self::Internal
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
        if let Self::ErrorPage(inner) = self {
            let page = if inner.status() == StatusCode::SERVICE_UNAVAILABLE {
                crate::http::page::PageError::Unavailable
            } else {
                crate::http::page::PageError::Internal
            };
            return page.page();
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
