//! Who is calling: the [`Caller`] extractor authenticates a request by its API key or its
//! session cookie, and refuses cookie-authenticated state changes from other origins (CSRF).
//! Only the routes that take a `Caller` pay for this; the redirect never does.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};

use super::ApiError;
use super::middleware::client_from;
use crate::domain::{Token, TokenKey, User};
use crate::limiter::ClientId;
use crate::state::{AppState, WebConfig};

pub use crate::state::SESSION_COOKIE;

/// How a caller proved who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// The session cookie (its stored key).
    Session(TokenKey),
    /// An API key (its public id).
    ApiKey(String),
}

/// An authenticated, active user and how they authenticated.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user.
    pub user: User,
    /// Cookie or key.
    pub via: Via,
}

impl Caller {
    /// The caller, if an administrator.
    ///
    /// # Errors
    /// [`ApiError::Forbidden`] for anyone else.
    pub fn admin(self) -> Result<Self, ApiError> {
        if self.user.is_admin() {
            Ok(self)
        } else {
            Err(ApiError::Forbidden)
        }
    }

    /// The session this request came with, if it came with one.
    pub fn session(&self) -> Option<&TokenKey> {
        match &self.via {
            Via::Session(key) => Some(key),
            Via::ApiKey(_) => None,
        }
    }
}

/// The key a client presented: `Authorization: Bearer …` or `X-Api-Key`.
pub fn presented_key(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        });
    bearer
        .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
        .map(str::trim)
}

/// The value of cookie `name` in the request's `Cookie` headers, if well-formed.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim_matches('"'))
}

/// The session token in the request's cookie, if it has the shape of one.
pub fn session_token(headers: &HeaderMap, web: &WebConfig) -> Option<Token> {
    cookie(headers, web.session_cookie()).and_then(Token::parse)
}

/// Whether a request comes from a page of this service: `Sec-Fetch-Site: same-origin`, or an
/// `Origin` equal to `server.base_url`'s origin. Browsers set both and scripts on other sites
/// cannot forge them; a request with neither is not taken as proof.
pub fn from_own_origin(headers: &HeaderMap, web: &WebConfig) -> bool {
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    site == Some("same-origin") || origin == Some(web.origin.as_str())
}

/// Whether a browser says the request was sent by another site: `Sec-Fetch-Site` names one,
/// or `Origin` is present and not ours. Requests without those headers (API clients) pass.
/// Used where no session authenticates the request yet (login, signup), so a hostile page
/// cannot log a visitor in to an account of the attacker's.
pub fn from_other_site(headers: &HeaderMap, web: &WebConfig) -> bool {
    if from_own_origin(headers, web) {
        return false;
    }
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    let origin = headers.get(header::ORIGIN);
    matches!(site, Some("cross-site" | "same-site")) || origin.is_some()
}

/// A `Set-Cookie` value that stores `token` as the session for `max_age_secs`.
pub fn session_cookie(web: &WebConfig, token: &Token, max_age_secs: u64) -> HeaderValue {
    let secure = if web.secure_cookies { "; Secure" } else { "" };
    let value = format!(
        "{}={}; Path=/; Max-Age={max_age_secs}; HttpOnly; SameSite=Lax{secure}",
        web.session_cookie(),
        token.expose()
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A `Set-Cookie` value that removes the session cookie.
pub fn cleared_session_cookie(web: &WebConfig) -> HeaderValue {
    let secure = if web.secure_cookies { "; Secure" } else { "" };
    let value = format!(
        "{}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{secure}",
        web.session_cookie()
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Whether `method` may change state (everything but GET, HEAD and OPTIONS).
fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// What a request's credentials amount to.
#[derive(Debug, Clone)]
pub enum Authenticated {
    /// No credentials (or a session cookie that names no live session).
    Anonymous,
    /// An operator's key made before accounts, while no administrator exists to act for: it
    /// may create (unowned) links, as before accounts, and nothing else.
    OperatorKey(String),
    /// A user.
    Caller(Caller),
}

/// Authenticates a request: by API key when one is presented (a wrong key is refused, never
/// tried as a cookie), else by session cookie with the CSRF rule for state changes.
///
/// # Errors
/// [`ApiError::Unauthorized`] for an unknown or revoked key, or a key whose user is disabled;
/// [`ApiError::CsrfRejected`]; storage errors.
pub async fn authenticate(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Authenticated, ApiError> {
    if let Some(presented) = presented_key(headers) {
        let key = state
            .guards
            .keys
            .authenticate(presented)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        return match state.accounts.key_owner(&key).await? {
            Some(user) => Ok(Authenticated::Caller(Caller {
                user,
                via: Via::ApiKey(key.id),
            })),
            None if key.owner.is_none() => Ok(Authenticated::OperatorKey(key.id)),
            None => Err(ApiError::Unauthorized),
        };
    }
    let Some(token) = session_token(headers, &state.web) else {
        return Ok(Authenticated::Anonymous);
    };
    if changes_state(method) && !from_own_origin(headers, &state.web) {
        return Err(ApiError::CsrfRejected);
    }
    match state.accounts.authenticate(&token).await? {
        Some((session, user)) => Ok(Authenticated::Caller(Caller {
            user,
            via: Via::Session(session.key),
        })),
        None => Ok(Authenticated::Anonymous),
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        match authenticate(state, &parts.method, &parts.headers).await? {
            Authenticated::Caller(caller) => Ok(caller),
            Authenticated::Anonymous | Authenticated::OperatorKey(_) => Err(ApiError::Unauthorized),
        }
    }
}

/// The client a request counts against, for the login budgets.
pub(crate) struct Client(pub(crate) ClientId);

impl FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(client_from(
            &parts.extensions,
            &parts.headers,
            &state.guards,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    fn web() -> WebConfig {
        WebConfig::for_tests("https://sho.rt")
    }

    #[test]
    fn cookies_are_found_by_exact_name_across_headers() {
        let h = headers(&[
            ("cookie", "a=1; xsession=evil"),
            ("cookie", "__Host-session=tok; b=2"),
        ]);
        assert_eq!(cookie(&h, "__Host-session"), Some("tok"));
        assert_eq!(cookie(&h, "session"), None);
        assert_eq!(cookie(&h, "b"), Some("2"));
    }

    #[test]
    fn own_origin_needs_same_origin_fetch_metadata_or_the_exact_origin() {
        let w = web();
        assert!(from_own_origin(
            &headers(&[("sec-fetch-site", "same-origin")]),
            &w
        ));
        assert!(from_own_origin(
            &headers(&[("origin", "https://sho.rt")]),
            &w
        ));
        assert!(!from_own_origin(
            &headers(&[("sec-fetch-site", "same-site")]),
            &w
        ));
        assert!(!from_own_origin(
            &headers(&[("origin", "https://sho.rt.evil")]),
            &w
        ));
        assert!(!from_own_origin(
            &headers(&[("origin", "http://sho.rt")]),
            &w
        ));
        assert!(!from_own_origin(&headers(&[("origin", "null")]), &w));
        assert!(!from_own_origin(&HeaderMap::new(), &w));
    }

    #[test]
    fn other_sites_are_recognised_and_plain_api_clients_pass() {
        let w = web();
        assert!(from_other_site(
            &headers(&[("sec-fetch-site", "cross-site")]),
            &w
        ));
        assert!(from_other_site(
            &headers(&[("origin", "https://evil.example")]),
            &w
        ));
        assert!(!from_other_site(&HeaderMap::new(), &w));
        assert!(!from_other_site(
            &headers(&[("sec-fetch-site", "none")]),
            &w
        ));
        assert!(!from_other_site(
            &headers(&[("origin", "https://sho.rt")]),
            &w
        ));
    }

    #[test]
    fn the_cookie_is_host_prefixed_secure_and_http_only_on_https() {
        let token = Token::generate();
        let set = session_cookie(&web(), &token, 60);
        let set = set.to_str().unwrap();
        assert!(set.starts_with("__Host-session="), "{set}");
        for part in ["Path=/", "HttpOnly", "SameSite=Lax", "Secure", "Max-Age=60"] {
            assert!(set.contains(part), "{set} lacks {part}");
        }
        let plain = WebConfig::for_tests("http://127.0.0.1:8080");
        let set = session_cookie(&plain, &token, 60);
        let set = set.to_str().unwrap();
        assert!(
            set.starts_with("session=") && !set.contains("Secure"),
            "{set}"
        );
    }

    #[test]
    fn keys_come_from_bearer_or_x_api_key_only() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer usk_abc"),
        );
        assert_eq!(presented_key(&h), Some("usk_abc"));
        let mut h = HeaderMap::new();
        h.insert("x-api-key", HeaderValue::from_static("usk_def"));
        assert_eq!(presented_key(&h), Some("usk_def"));
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic dXNlcjpwYXNz"),
        );
        assert_eq!(presented_key(&h), None);
    }
}
