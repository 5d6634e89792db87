//! `PageError`: what goes wrong on a page, shown as a page in the site's look (never a JSON
//! problem, never internal detail). Form mistakes are not errors: the form comes back with
//! each field's message.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::render::{Hx, Layout, html_response, respond};
use crate::http::{ApiError, RETRY_AFTER_SECONDS};
use crate::repository::RepoError;
use crate::service::ServiceError;

/// A page that cannot be shown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    /// 404: no such page, link or key, or not yours (the same answer: no existence oracle).
    #[error("not found")]
    NotFound,
    /// 403: a form sent from another site, or without the headers that show it is ours.
    #[error("cross-site form refused")]
    CrossSite,
    /// 429: too many attempts; try again after this many seconds.
    #[error("too many requests")]
    TooMany(u64),
    /// 503: storage did not answer.
    #[error("storage unavailable")]
    Unavailable,
    /// 503: too many password checks at once; try again in a moment.
    #[error("busy")]
    Busy,
    /// 500: a bug.
    #[error("internal error")]
    Internal,
    /// The error `.0` (a 5xx) with its cause, for the request log's event (never shown).
    #[error("{0}")]
    Failed(Box<PageError>, String),
}

impl From<ServiceError> for PageError {
    fn from(error: ServiceError) -> Self {
        ApiError::from(error).into()
    }
}

impl From<RepoError> for PageError {
    fn from(error: RepoError) -> Self {
        ServiceError::from(error).into()
    }
}

impl From<ApiError> for PageError {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::NotFound { .. } => Self::NotFound,
            ApiError::CsrfRejected => Self::CrossSite,
            ApiError::RateLimited(limits) => Self::TooMany(limits.retry_after_secs()),
            ApiError::StorageUnavailable | ApiError::Timeout => Self::Unavailable,
            ApiError::Busy => Self::Busy,
            ApiError::Failed(inner, cause) => Self::Failed(Box::new(Self::from(*inner)), cause),
            other => Self::Failed(
                Box::new(Self::Internal),
                format!("unexpected error on a page: {other}"),
            ),
        }
    }
}

/// The page an error shows.
#[derive(Template)]
#[template(path = "error.html", blocks = ["page"])]
pub struct ErrorPage {
    /// The layout (brand only).
    pub layout: Layout,
    /// The heading.
    pub heading: &'static str,
    /// What happened and what to do.
    pub message: &'static str,
    /// The status, shown small.
    pub status: u16,
}

super::render::page!(ErrorPage);

impl PageError {
    /// The status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::CrossSite => StatusCode::FORBIDDEN,
            Self::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable | Self::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Failed(inner, _) => inner.status(),
        }
    }

    fn words(&self) -> (&'static str, &'static str) {
        match self {
            Self::Failed(inner, _) => inner.words(),
            Self::NotFound => (
                "Page not found",
                "There is nothing here. The link may have been deleted, may have expired, or \
                 was never made.",
            ),
            Self::CrossSite => (
                "Form refused",
                "This form was not sent from this site's own pages, so it was not carried out. \
                 Open the page again and send the form from there.",
            ),
            Self::TooMany(_) => (
                "Too many attempts",
                "Too many requests came from here in a short time. Wait a little and try again.",
            ),
            Self::Unavailable => (
                "Temporarily unavailable",
                "The service could not reach its storage just now. Nothing was changed; try \
                 again in a moment.",
            ),
            Self::Busy => (
                "Busy",
                "The service is checking many passwords at once just now. Nothing was changed; \
                 try again in a moment.",
            ),
            Self::Internal => (
                "Something went wrong",
                "The service ran into a problem it did not expect. Nothing was changed; try \
                 again, and tell the operator if it keeps happening.",
            ),
        }
    }

    /// The error page: the whole document, which htmx, told to put it in place of the body
    /// (`HX-Retarget`), swaps whole too, whatever element the request aimed at.
    pub fn page(&self) -> Response {
        if let Self::Failed(inner, cause) = self {
            let mut response = inner.page();
            crate::http::error::attach_cause(&mut response, cause.clone());
            return response;
        }
        let (heading, message) = self.words();
        let mut layout = Layout::new(heading, None, "");
        layout.minimal = true;
        let page = ErrorPage {
            layout,
            heading,
            message,
            status: self.status().as_u16(),
        };
        let mut response = respond(&Hx::default(), self.status(), page);
        let headers = response.headers_mut();
        headers.insert("hx-retarget", HeaderValue::from_static("body"));
        headers.insert("hx-reswap", HeaderValue::from_static("innerHTML"));
        match self {
            Self::TooMany(secs) => {
                if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
                    headers.insert(header::RETRY_AFTER, value);
                }
            }
            Self::Unavailable | Self::Busy => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
            }
            _ => {}
        }
        response
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        self.page()
    }
}

/// The 404 page for a short link that does not exist or has expired, in the site's look;
/// rendered once (it never changes).
pub fn link_not_found_html() -> &'static str {
    static PAGE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let mut layout = Layout::new("Link not found", None, "");
        layout.minimal = true;
        ErrorPage {
            layout,
            heading: "Link not found",
            message: "This short link does not exist or has expired.",
            status: 404,
        }
        .render()
        .unwrap_or_else(|_| "<!doctype html><title>Link not found</title>".to_owned())
    });
    &PAGE
}

/// The 404 page as a response.
pub fn link_not_found() -> Response {
    html_response(StatusCode::NOT_FOUND, link_not_found_html().to_owned())
}
