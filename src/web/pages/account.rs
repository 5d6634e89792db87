//! `/account`: who you are, a new password (which ends every other session), and "log out
//! everywhere"; both offer to revoke the user's API keys too (ticked by default: whoever had the
//! password or a session may have made keys).

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;

use super::Done;
use crate::domain::AccountInputError;
use crate::http::middleware::spend;
use crate::http::page::error::PageError;
use crate::http::page::render::{Hx, Layout, page, respond, see_other};
use crate::http::{ApiError, Client, cleared_session_cookie};
use crate::limiter::Budget;
use crate::service::ServiceError;
use crate::state::AppState;
use crate::web::forms::{Field, when};
use crate::web::session::{Member, own_origin};

#[derive(Template)]
#[template(path = "account.html", blocks = ["page"])]
pub(crate) struct AccountPage {
    layout: Layout,
    username: String,
    display_name: Option<String>,
    role: &'static str,
    since: String,
    current: Field,
    new: Field,
    new2: Field,
    /// Whether the password form's "revoke my API keys" box is ticked (it is, at first).
    revoke_keys: bool,
}

page!(AccountPage);

fn account_page(member: &Member) -> AccountPage {
    let user = &member.user;
    AccountPage {
        layout: Layout::new("Your account", Some(user), "account"),
        username: user.username.to_string(),
        display_name: user.display_name.as_ref().map(|d| d.as_str().to_owned()),
        role: if user.is_admin() {
            "administrator"
        } else {
            "user"
        },
        since: when(user.created_at),
        current: Field::default(),
        new: Field::default(),
        new2: Field::default(),
        revoke_keys: true,
    }
}

/// `GET /account`.
pub(crate) async fn show(member: Member, hx: Hx, done: Done) -> Response {
    let mut page = account_page(&member);
    page.layout = page.layout.with_notice(done.0);
    respond(&hx, StatusCode::OK, page)
}

/// The password form as sent. No `Debug`: it holds passwords.
#[derive(Deserialize)]
pub(crate) struct PasswordForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    new2: String,
    /// Present when the "revoke my API keys" box is ticked.
    #[serde(default)]
    revoke_keys: Option<String>,
}

/// The "log out everywhere" form as sent.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct EverywhereForm {
    /// Present when the "revoke my API keys" box is ticked.
    #[serde(default)]
    revoke_keys: Option<String>,
}

/// `POST /account/password`.
pub(crate) async fn change_password(
    State(state): State<AppState>,
    member: Member,
    hx: Hx,
    Client(client): Client,
    headers: HeaderMap,
    Form(form): Form<PasswordForm>,
) -> Result<Response, PageError> {
    own_origin(&headers, &state)?;
    let mut page = account_page(&member);
    page.revoke_keys = form.revoke_keys.is_some();
    if form.new != form.new2 {
        page.new2.fail("The two new passwords differ.");
        return Ok(respond(&hx, StatusCode::UNPROCESSABLE_ENTITY, page));
    }
    // Guessing the current password from a stolen session is a login attempt too.
    if let Err(refused) = spend(&state.guards, Budget::Login, &client).await {
        return match refused {
            ApiError::RateLimited(limits) => {
                page.current.fail(format!(
                    "Too many attempts. Wait {} seconds and try again.",
                    limits.retry_after_secs()
                ));
                Ok(respond(&hx, StatusCode::TOO_MANY_REQUESTS, page))
            }
            other => Err(other.into()),
        };
    }
    match state
        .accounts
        .change_password(
            &member.user,
            Some(&member.session),
            &form.current,
            &form.new,
        )
        .await
    {
        Ok(()) => {
            let revoked = if form.revoke_keys.is_some() {
                state.guards.keys.revoke_all_of(&member.user.id).await?
            } else {
                0
            };
            tracing::info!(user = %member.user.username, revoked_keys = revoked, "password changed from the web form");
            Ok(see_other("/account?done=password"))
        }
        Err(ServiceError::InvalidCredentials) => {
            page.current.fail("This is not your current password.");
            Ok(respond(&hx, StatusCode::UNPROCESSABLE_ENTITY, page))
        }
        Err(ServiceError::Account(AccountInputError::WeakPassword)) => {
            page.new.fail("A password is 12 to 256 characters long.");
            Ok(respond(&hx, StatusCode::UNPROCESSABLE_ENTITY, page))
        }
        Err(error) => Err(error.into()),
    }
}

/// `POST /account/sessions`: ends every session of the user, this one too.
pub(crate) async fn end_sessions(
    State(state): State<AppState>,
    member: Member,
    headers: HeaderMap,
    Form(form): Form<EverywhereForm>,
) -> Result<Response, PageError> {
    own_origin(&headers, &state)?;
    let ended = state.accounts.end_sessions(&member.user, None).await?;
    let revoked = if form.revoke_keys.is_some() {
        state.guards.keys.revoke_all_of(&member.user.id).await?
    } else {
        0
    };
    tracing::info!(user = %member.user.username, ended, revoked_keys = revoked, "logged out everywhere from the web form");
    let mut response = see_other("/login?done=logged-out");
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cleared_session_cookie(&state.web));
    Ok(response)
}
