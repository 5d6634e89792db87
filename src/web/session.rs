//! Who is looking at a page: the session cookie (never an API key: pages are for people in a
//! browser), the rule that forms come from our own pages (DESIGN §8), and where to send someone
//! who must log in first.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};

use crate::domain::{TokenKey, User};
use crate::http::page::error::PageError;
use crate::http::page::render::see_other;
use crate::http::{from_other_site, from_own_origin, session_token};
use crate::state::AppState;

/// The visitor: signed in or not. A cookie naming no live session is no session.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// The signed-in user.
    pub user: Option<User>,
    /// Their session's key.
    pub session: Option<TokenKey>,
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let Some(token) = session_token(&parts.headers, &state.web) else {
            return Ok(Self {
                user: None,
                session: None,
            });
        };
        Ok(match state.accounts.authenticate(&token).await? {
            Some((session, user)) => Self {
                user: Some(user),
                session: Some(session.key),
            },
            None => Self {
                user: None,
                session: None,
            },
        })
    }
}

/// A signed-in user. Anyone else is sent to the login page, which brings them back here.
#[derive(Debug, Clone)]
pub struct Member {
    /// The user.
    pub user: User,
    /// Their session's key.
    pub session: TokenKey,
}

/// Why a page that needs a user was not served.
#[derive(Debug)]
pub enum MemberRejection {
    /// Not signed in: to the login page.
    LogIn(String),
    /// The session could not be read.
    Page(PageError),
}

impl IntoResponse for MemberRejection {
    fn into_response(self) -> Response {
        match self {
            Self::LogIn(location) => see_other(&location),
            Self::Page(error) => error.into_response(),
        }
    }
}

impl FromRequestParts<AppState> for Member {
    type Rejection = MemberRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, MemberRejection> {
        let viewer = Viewer::from_request_parts(parts, state)
            .await
            .map_err(MemberRejection::Page)?;
        match (viewer.user, viewer.session) {
            (Some(user), Some(session)) => Ok(Self { user, session }),
            _ => {
                // Back to this page after login; a form's target is not a page, so a POST
                // comes back to the page that holds the form only when it is a GET.
                let next = if parts.method == Method::GET {
                    local_target(&parts.uri)
                } else {
                    None
                };
                Err(MemberRejection::LogIn(match next {
                    Some(next) => format!("/login?next={}", encode(&next)),
                    None => "/login".to_owned(),
                }))
            }
        }
    }
}

impl Member {
    /// The user, if an administrator.
    ///
    /// # Errors
    /// [`PageError::NotFound`] for anyone else: admin pages do not admit they exist.
    pub fn admin(self) -> Result<Self, PageError> {
        if self.user.is_admin() {
            Ok(self)
        } else {
            Err(PageError::NotFound)
        }
    }
}

/// The rule for a form that a signed-in user sends: it must come from our own pages.
///
/// # Errors
/// [`PageError::CrossSite`] otherwise.
pub fn own_origin(headers: &HeaderMap, state: &AppState) -> Result<(), PageError> {
    if from_own_origin(headers, &state.web) {
        Ok(())
    } else {
        Err(PageError::CrossSite)
    }
}

/// The rule for a form sent before anyone is signed in (login, setup, signup, create): refused
/// when a browser says another site sent it, so a hostile page cannot sign a visitor in to an
/// account of the attacker's or spend their budget.
///
/// # Errors
/// [`PageError::CrossSite`].
pub fn not_cross_site(headers: &HeaderMap, state: &AppState) -> Result<(), PageError> {
    if from_other_site(headers, &state.web) {
        Err(PageError::CrossSite)
    } else {
        Ok(())
    }
}

/// `uri`'s path and query, as a place to come back to after login.
fn local_target(uri: &Uri) -> Option<String> {
    let target = uri.path_and_query()?.as_str();
    safe_next(target).map(str::to_owned)
}

/// `next` if it is a path on this site: one leading slash, no scheme, no backslash and no
/// control character, so `//evil.example` or `/\evil.example` cannot send a freshly signed-in
/// user to another site.
pub fn safe_next(next: &str) -> Option<&str> {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && next.len() <= 512
        && !next.chars().any(char::is_control)
        && !next.starts_with("/login")
        && !next.starts_with("/logout");
    ok.then_some(next)
}

/// Percent-encodes `text` for a query value.
pub fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_places_to_come_back_to() {
        for good in ["/", "/links?q=a", "/links/abc123XY"] {
            assert_eq!(safe_next(good), Some(good));
        }
        for bad in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "evil",
            "",
            "/login?next=/x",
            "/links\n",
        ] {
            assert_eq!(safe_next(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_target_is_encoded_as_one_query_value() {
        assert_eq!(encode("/links?q=a&b=c"), "%2Flinks%3Fq%3Da%26b%3Dc");
    }
}
