//! The HTTP kit that the JSON API (`api`), the UI (`web`) and the redirect (`redirect`) share:
//! errors as problem+json ([`ApiError`]), who is calling and the CSRF rule ([`Caller`]),
//! extractors, the route table ([`routes`]), the HTML error pages and page layout ([`page`]), and
//! the middleware. It reads [`crate::state`] and never imports `api`, `web` or `redirect`.

mod caller;
mod error;
mod error_table;
mod extract;
pub mod middleware;
pub mod page;
pub mod routes;

pub(crate) use caller::Client;
pub use caller::{
    Authenticated, Caller, SESSION_COOKIE, Via, authenticate, cleared_session_cookie, cookie,
    from_other_site, from_own_origin, presented_key, session_cookie, session_token,
};
pub use error::{
    ApiError, ErrorCause, PROBLEM_JSON, Problem, RETRY_AFTER_SECONDS, RateLimitHeaders,
};
pub(crate) use error::{for_client, no_route, wrong_method};
pub use error_table::{ERRORS, ErrorCode, codes};
pub use extract::{ApiJson, Browser, MAX_BODY_BYTES, declares_too_large, wants_html};
pub(crate) use extract::{possible_code, visitor_headers};
