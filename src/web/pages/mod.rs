//! One file per page (or group of pages): each handler extracts, calls the services, and
//! answers a template from `templates/`.

pub(crate) mod account;
pub(crate) mod admin;
pub(crate) mod auth;
pub(crate) mod home;
pub(crate) mod keys;
pub(crate) mod link;
pub(crate) mod links;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::http::page::render::Notice;

/// The notice a page shows after a form sent someone there (`?done=…`), from a fixed table:
/// what a visitor puts in the query is never shown.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Done(pub Option<Notice>);

/// The notices, by their `done` value.
const NOTICES: &[(&str, &str, &str)] = &[
    ("logged-out", "success", "You are logged out."),
    (
        "setup-done",
        "success",
        "Setup is done: an administrator exists. Log in.",
    ),
    (
        "welcome",
        "success",
        "Welcome! Your account is ready and you are logged in.",
    ),
    ("saved", "success", "Saved."),
    (
        "deleted",
        "success",
        "The link is deleted. Its code will never be used again.",
    ),
    (
        "revoked",
        "success",
        "The key is revoked: requests with it are refused from now on.",
    ),
    (
        "password",
        "success",
        "Your password is changed. Every other session of yours has ended.",
    ),
    ("user-created", "success", "The account is created."),
    (
        "disabled",
        "success",
        "The link is disabled: it answers 404 until it is enabled again.",
    ),
    (
        "enabled",
        "success",
        "The link is enabled: it redirects again.",
    ),
    (
        "checked",
        "success",
        "The destination was checked just now.",
    ),
    (
        "check-later",
        "error",
        "Its host was checked a moment ago; try again in a few seconds.",
    ),
    ("user-changed", "success", "The account is changed."),
];

/// The notice for `done`, if it is one of ours.
pub(crate) fn notice_of(done: &str) -> Option<Notice> {
    NOTICES
        .iter()
        .find(|(key, _, _)| *key == done)
        .map(|&(_, kind, text)| Notice { kind, text })
}

impl<S: Send + Sync> FromRequestParts<S> for Done {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let done = parts.uri.query().and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(key, _)| key == "done")
                .map(|(_, value)| value.into_owned())
        });
        Ok(Self(done.as_deref().and_then(notice_of)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_done_the_pages_send_has_its_notice() {
        let sent = [
            "logged-out",
            "setup-done",
            "welcome",
            "saved",
            "deleted",
            "revoked",
            "password",
            "user-created",
            "user-changed",
            "checked",
            "check-later",
            "disabled",
            "enabled",
        ];
        for done in sent {
            assert!(notice_of(done).is_some(), "{done}");
        }
        let mut sources = String::new();
        for file in [
            "account.rs",
            "admin.rs",
            "auth.rs",
            "keys.rs",
            "link.rs",
            "links.rs",
        ] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("src/web/pages")
                .join(file);
            sources.push_str(&std::fs::read_to_string(path).unwrap());
        }
        for (at, _) in sources.match_indices("done=") {
            let done: String = sources[at + 5..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '-')
                .collect();
            if !done.is_empty() {
                assert!(notice_of(&done).is_some(), "done={done} has no notice");
            }
        }
    }

    #[test]
    fn only_known_notices_are_shown() {
        assert!(notice_of("deleted").is_some());
        assert!(notice_of("<script>alert(1)</script>").is_none());
        assert!(notice_of("").is_none());
    }
}
