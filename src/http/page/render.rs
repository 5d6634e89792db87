//! Turning a page into a response: the layout every page shares, the full page or one of its
//! blocks for htmx, and the headers every HTML answer carries.
//!
//! One template makes a page and its fragments (askama `blocks`), so they cannot drift: a plain
//! request gets the whole document; an htmx request gets the `page` block (everything inside
//! `<body>`, with the `<title>` htmx moves into the head), or, when the element it targets is a
//! block of its own (`HX-Target`), just that block.

use askama::Template;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::assets::{self, Assets};
use crate::domain::User;

/// The Content-Security-Policy of every HTML answer: our own files only, no inline script or
/// style, no plugins, no framing, forms post only to us.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// The signed-in user as the navigation shows them.
#[derive(Debug, Clone)]
pub struct NavUser {
    /// User name.
    pub username: String,
    /// Whether the Admin link shows.
    pub admin: bool,
}

impl From<&User> for NavUser {
    fn from(user: &User) -> Self {
        Self {
            username: user.username.to_string(),
            admin: user.is_admin(),
        }
    }
}

/// A short message at the top of a page after something was done (`?done=…`): one of a fixed
/// set, so nothing a visitor typed is ever shown as a notice.
#[derive(Debug, Clone, Copy)]
pub struct Notice {
    /// `success` or `error`: the notice's class.
    pub kind: &'static str,
    /// The message.
    pub text: &'static str,
}

/// What the layout around every page needs.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The page's title (before " · url-shortener").
    pub title: String,
    /// Who is signed in, if anyone.
    pub viewer: Option<NavUser>,
    /// The navigation entry this page belongs to (`links`, `keys`, `account`, `admin`, or
    /// empty), marked `aria-current`.
    pub section: &'static str,
    /// A notice above the content.
    pub notice: Option<Notice>,
    /// The hashed paths of the stylesheet and scripts.
    pub assets: &'static Assets,
    /// Rendering the `page` block for htmx: the block carries the `<title>` then.
    pub fragment: bool,
    /// Error pages show the brand only, not a navigation that may not apply.
    pub minimal: bool,
}

impl Layout {
    /// A layout titled `title` for `viewer`, in navigation section `section`.
    pub fn new(title: impl Into<String>, viewer: Option<&User>, section: &'static str) -> Self {
        Self {
            title: title.into(),
            viewer: viewer.map(NavUser::from),
            section,
            notice: None,
            assets: assets::paths(),
            fragment: false,
            minimal: false,
        }
    }

    /// The same with `notice` shown above the content.
    #[must_use]
    pub fn with_notice(mut self, notice: Option<Notice>) -> Self {
        self.notice = notice;
        self
    }
}

/// A page: a template with the shared layout, a `page` block, and maybe blocks that answer
/// htmx requests aimed at one element.
pub trait Page: Template {
    /// The layout, to mark a fragment render.
    fn layout_mut(&mut self) -> &mut Layout;

    /// The `page` block: everything inside `<body>`.
    ///
    /// # Errors
    /// A template error (a bug; logged by [`respond`]).
    fn body(&self) -> askama::Result<String>;

    /// The block that answers an htmx request whose target is the element with id `target`,
    /// if this page has one.
    fn fragment(&self, _target: &str) -> Option<askama::Result<String>> {
        None
    }
}

/// Implements [`Page`] for a template struct with a `layout` field and `blocks = ["page", …]`;
/// further `"target" => as_block` pairs name the fragments.
macro_rules! page {
    ($ty:ty $(, $target:literal => $block:ident)* $(,)?) => {
        impl $crate::http::page::render::Page for $ty {
            fn layout_mut(&mut self) -> &mut $crate::http::page::render::Layout {
                &mut self.layout
            }

            fn body(&self) -> askama::Result<String> {
                askama::Template::render(&self.as_page())
            }

            #[allow(unused_variables)]
            fn fragment(&self, target: &str) -> Option<askama::Result<String>> {
                match target {
                    $($target => Some(askama::Template::render(&self.$block())),)*
                    _ => None,
                }
            }
        }
    };
}
pub(crate) use page;

/// What an htmx request says about itself.
#[derive(Debug, Clone, Default)]
pub struct Hx {
    /// `HX-Request: true`, and not a history restore (which wants the whole page).
    pub request: bool,
    /// `HX-Target`: the id of the element the answer replaces.
    pub target: Option<String>,
}

impl Hx {
    /// Reads the htmx headers.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let flag = |name: &str| headers.get(name).is_some_and(|v| v.as_bytes() == b"true");
        Self {
            request: flag("hx-request") && !flag("hx-history-restore-request"),
            target: headers
                .get("hx-target")
                .and_then(|v| v.to_str().ok())
                .filter(|t| !t.is_empty() && t.len() <= 64)
                .map(str::to_owned),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Hx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::from_headers(&parts.headers))
    }
}

/// `page` as `status`: the whole document, or for htmx the block it asked for.
pub fn respond<P: Page>(hx: &Hx, status: StatusCode, mut page: P) -> Response {
    let rendered = if hx.request {
        match hx.target.as_deref().and_then(|t| page.fragment(t)) {
            Some(block) => block,
            None => {
                page.layout_mut().fragment = true;
                page.body()
            }
        }
    } else {
        page.render()
    };
    match rendered {
        Ok(html) => html_response(status, html),
        Err(error) => {
            let mut response = (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CACHE_CONTROL, "no-store")],
                "internal error",
            )
                .into_response();
            crate::http::error::attach_cause(
                &mut response,
                format!("rendering a page failed: {error}"),
            );
            response
        }
    }
}

/// An HTML body with the headers every page carries: not cached (pages are personal), and
/// varying with the htmx headers that choose between page and fragment.
pub fn html_response(status: StatusCode, html: String) -> Response {
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::VARY,
        HeaderValue::from_static("HX-Request, HX-Target"),
    );
    response
}

/// A redirect after a form (POST → 303 → GET). htmx follows it inside its request and swaps
/// the page it lands on, so one answer serves both.
pub fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Adds the security headers to an HTML answer (and to the UI's other answers, where they
/// cost nothing): CSP, no framing, no sniffing, referrer only to ourselves.
pub fn add_security_headers(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
}

/// The middleware form of [`add_security_headers`], for the UI's router.
pub(crate) async fn security_headers(mut response: Response) -> Response {
    add_security_headers(response.headers_mut());
    response
}
