//! Extractors whose rejections speak the API's error format instead of axum's plain text.

use axum::extract::rejection::{JsonRejection, PathRejection};
use std::convert::Infallible;

use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, StatusCode, header};

use super::ApiError;
use crate::domain::ShortCode;
use crate::service::VisitorHeaders;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Whether the request declares a body over [`MAX_BODY_BYTES`] in `Content-Length`. Such a
/// request is refused before a byte of its body is read: waiting for a body that may never
/// come would hold the request until its deadline and answer a 5xx that invites a retry.
pub fn declares_too_large(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|declared| declared > MAX_BODY_BYTES as u64)
}

/// A JSON object body, with rejections mapped to `invalid_request` (400: malformed JSON, a
/// wrong type, an unknown or missing field, or a body that is not an object), `payload_too_large`
/// (413: a declared length over the limit at once, a chunked body as soon as it passes the
/// limit) and `unsupported_media_type` (415).
///
/// Every request body of the API is an object: serde would also read a struct from a JSON
/// array (`[null, null]`), which no documented request is, so anything but an object is refused.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if declares_too_large(req.headers()) {
            return Err(ApiError::PayloadTooLarge(MAX_BODY_BYTES));
        }
        if !is_json(req.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let body = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge(MAX_BODY_BYTES)
                } else {
                    ApiError::InvalidRequest(rejection.body_text())
                }
            })?;
        if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ApiError::InvalidRequest(
                "the body must be a JSON object".to_owned(),
            ));
        }
        axum::Json::<T>::from_bytes(&body)
            .map(|axum::Json(value)| Self(value))
            .map_err(|rejection: JsonRejection| ApiError::InvalidRequest(rejection.body_text()))
    }
}

/// Whether `Content-Type` names JSON: `application/json` or an `application/*+json` type, with
/// any parameters (as axum's `Json` accepts).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .is_some_and(|media| {
            media == "application/json"
                || (media.starts_with("application/") && media.ends_with("+json"))
        })
}

/// Whether the client prefers an HTML page (a browser) to a JSON body: `text/html` or
/// `application/xhtml+xml` appears in `Accept` with a non-zero quality.
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|range| {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default();
            let html = media.eq_ignore_ascii_case("text/html")
                || media.eq_ignore_ascii_case("application/xhtml+xml");
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            html && !refused
        })
}

/// Whether the client is a browser that should get HTML error pages ([`wants_html`]), read
/// from the request without copying its headers (the `HeaderMap` extractor clones them all, a
/// cost the redirect path does not need to pay).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Browser(pub bool);

impl<S: Send + Sync> FromRequestParts<S> for Browser {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(wants_html(&parts.headers)))
    }
}

/// The visitor headers a counted redirect keeps for its click event: `User-Agent`, `Referer`
/// and the configured CDN country header (`country_header`), each a cheap clone of the
/// request's bytes. Reduced to a [`crate::domain::ClickEvent`] by the service; never logged or
/// stored.
pub(crate) fn visitor_headers(
    headers: &HeaderMap,
    country_header: Option<&HeaderName>,
) -> VisitorHeaders {
    VisitorHeaders {
        user_agent: headers.get(header::USER_AGENT).cloned(),
        referer: headers.get(header::REFERER).cloned(),
        country: country_header.and_then(|name| headers.get(name).cloned()),
        accept_language: headers.get(header::ACCEPT_LANGUAGE).cloned(),
    }
}

/// The code from the path, or 404 without touching storage when no link could have it.
pub(crate) fn possible_code(
    path: Result<Path<String>, PathRejection>,
    Browser(html): Browser,
) -> Result<ShortCode, ApiError> {
    let not_found = || ApiError::NotFound { html };
    let Path(raw) = path.map_err(|_| not_found())?;
    ShortCode::parse(&raw).map_err(|_| not_found())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn accept(v: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_static(v));
        h
    }

    #[test]
    fn browsers_are_recognised_by_their_accept_header() {
        assert!(wants_html(&accept(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        )));
        assert!(wants_html(&accept("TEXT/HTML")));
    }

    #[test]
    fn api_clients_and_explicit_refusals_get_json() {
        assert!(!wants_html(&HeaderMap::new()));
        assert!(!wants_html(&accept("application/json")));
        assert!(!wants_html(&accept("*/*")));
        assert!(!wants_html(&accept("text/html;q=0, application/json")));
    }
}
