//! The caller's own account: `POST`/`DELETE /api/session` (log in, log out), `GET /api/me`,
//! `POST /api/me/password`, `DELETE /api/me/sessions`, and `POST /api/signup`.
//!
//! Passwords arrive in request bodies that are never logged; the request types have no
//! `Debug`, so they cannot be printed by accident.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::config::Signup;
use crate::domain::{Role, Timestamp, Token, User, Username};
use crate::http::Client;
use crate::http::middleware::{give_back, spend};
use crate::http::{
    ApiError, ApiJson, Caller, Problem, Via, cleared_session_cookie, from_other_site,
    from_own_origin, session_cookie, session_token,
};
use crate::limiter::{Budget, ClientId};
use crate::state::AppState;

/// A user as the API shows it. Never the password hash or the internal id.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    /// Lower-case user name.
    #[schema(example = "ada")]
    pub username: String,
    /// Optional name to show.
    pub display_name: Option<String>,
    /// `user` or `admin`.
    #[schema(pattern = "^(user|admin)$")]
    pub role: &'static str,
    /// When the account was created.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// When it was disabled; null while active.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub disabled_at: Option<Timestamp>,
}

impl From<&User> for UserView {
    fn from(user: &User) -> Self {
        Self {
            username: user.username.to_string(),
            display_name: user.display_name.as_ref().map(|d| d.as_str().to_owned()),
            role: user.role.as_str(),
            created_at: user.created_at,
            disabled_at: user.disabled_at,
        }
    }
}

/// `{"user": …}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserBody {
    /// The account.
    pub user: UserView,
}

/// `GET /api/me`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeBody {
    /// The account.
    pub user: UserView,
    /// How this request authenticated: `session` or `api_key`.
    #[schema(pattern = "^(session|api_key)$")]
    pub authenticated_by: &'static str,
}

/// `POST /api/session`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// User name (case does not matter).
    pub username: String,
    /// Password.
    #[schema(format = Password)]
    pub password: String,
}

/// `POST /api/me/password`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// The password now.
    #[schema(format = Password)]
    pub current: String,
    /// The new one: 12 to 256 characters.
    #[schema(format = Password, min_length = 12, max_length = 256)]
    pub new: String,
    /// Also revoke every API key of yours (default false; the web form's box is ticked by
    /// default).
    #[serde(default)]
    pub revoke_keys: bool,
}

/// `DELETE /api/me/sessions` query.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct EndSessionsQuery {
    /// Also revoke every API key of yours (default false).
    #[serde(default)]
    pub revoke_keys: bool,
}

/// `POST /api/signup`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    /// 3–64 of `a-z 0-9 . _ -` (upper case is folded).
    #[schema(pattern = "^[A-Za-z0-9._-]{3,64}$")]
    pub username: String,
    /// 12 to 256 characters.
    #[schema(format = Password, min_length = 12, max_length = 256)]
    pub password: String,
    /// Optional name to show, at most 100 characters.
    #[serde(default)]
    #[schema(max_length = 100, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub display_name: Option<String>,
    /// The token of an invite link; required unless `accounts.signup = "open"`.
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9]{43}$")]
    pub invite: Option<String>,
}

/// `POST /api/setup`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetupRequest {
    /// The one-time token the service printed in its log at start.
    #[schema(pattern = "^[A-Za-z0-9]{43}$")]
    pub token: String,
    /// The first administrator's user name.
    #[schema(pattern = "^[A-Za-z0-9._-]{3,64}$")]
    pub username: String,
    /// 12 to 256 characters.
    #[schema(format = Password, min_length = 12, max_length = 256)]
    pub password: String,
    /// Optional name to show.
    #[serde(default)]
    #[schema(max_length = 100, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub display_name: Option<String>,
}

/// A response that opens a session: the cookie, `Cache-Control: no-store`.
fn with_session(
    state: &AppState,
    token: &Token,
    status: StatusCode,
    body: impl Serialize,
) -> Response {
    let max_age = state.accounts.session_lifetime().absolute.as_secs();
    let mut response = (status, Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::SET_COOKIE,
        session_cookie(&state.web, token, max_age),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The checks before a login or a signup, which no session authenticates yet: refused when
/// another site sent it (login CSRF), and one unit of the client's login budget spent.
async fn first_party_attempt(
    state: &AppState,
    headers: &HeaderMap,
    client: &ClientId,
) -> Result<(), ApiError> {
    if from_other_site(headers, &state.web) {
        return Err(ApiError::CsrfRejected);
    }
    spend(&state.guards, Budget::Login, client).await?;
    Ok(())
}

/// A 204 that removes the session cookie.
fn signed_out(state: &AppState) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cleared_session_cookie(&state.web));
    response
}

/// Log in: a new session (and cookie) for a user name and password.
#[utoipa::path(
    post,
    path = "/api/session",
    tag = "accounts",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in; the session cookie is set (HttpOnly, SameSite=Lax; Secure and __Host- on https)", body = UserBody),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "invalid_credentials: unknown user, wrong password or disabled account, one answer for all", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "csrf_rejected: sent by another site", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many login attempts from this client or for this user name", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn login(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    first_party_attempt(&state, &headers, &client).await?;
    // Failed logins per account, from every client together; a success gives its unit back.
    let account = Username::parse(&body.username)
        .ok()
        .map(|name| ClientId::Account(name.to_string()));
    if let Some(account) = &account {
        spend(&state.guards, Budget::AccountLogin, account).await?;
    }
    let (token, user) = state.accounts.login(&body.username, &body.password).await?;
    if let Some(account) = &account {
        give_back(&state.guards, Budget::AccountLogin, account).await;
    }
    tracing::info!(user = %user.username, "logged in");
    Ok(with_session(
        &state,
        &token,
        StatusCode::OK,
        UserBody {
            user: (&user).into(),
        },
    ))
}

/// Log out: ends this session and removes the cookie. Answers 204 without a session too.
#[utoipa::path(
    delete,
    path = "/api/session",
    tag = "accounts",
    responses(
        (status = 204, description = "Logged out (or was not logged in); the cookie is removed"),
        (status = 403, description = "csrf_rejected", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(token) = session_token(&headers, &state.web) {
        if !from_own_origin(&headers, &state.web) {
            return Err(ApiError::CsrfRejected);
        }
        state.accounts.logout(&token).await?;
    }
    Ok(signed_out(&state))
}

/// Who am I.
#[utoipa::path(
    get,
    path = "/api/me",
    tag = "accounts",
    security(("session" = []), ("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The caller's account", body = MeBody),
        (status = 401, description = "No valid session or API key", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn me(caller: Caller) -> Response {
    let authenticated_by = match caller.via {
        Via::Session(_) => "session",
        Via::ApiKey(_) => "api_key",
    };
    let mut response = Json(MeBody {
        user: (&caller.user).into(),
        authenticated_by,
    })
    .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Change the password; every other session of the user ends.
#[utoipa::path(
    post,
    path = "/api/me/password",
    tag = "accounts",
    request_body = PasswordChange,
    security(("session" = []), ("bearer" = []), ("api_key" = [])),
    responses(
        (status = 204, description = "Changed; other sessions ended"),
        (status = 400, description = "weak_password: the new one is not 12 to 256 characters", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "invalid_credentials (the current password is wrong), or not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "csrf_rejected", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn change_password(
    State(state): State<AppState>,
    Client(client): Client,
    caller: Caller,
    ApiJson(body): ApiJson<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    // Guessing the current password from a stolen session is a login attempt too.
    spend(&state.guards, Budget::Login, &client).await?;
    state
        .accounts
        .change_password(&caller.user, caller.session(), &body.current, &body.new)
        .await?;
    let revoked = if body.revoke_keys {
        state.guards.keys.revoke_all_of(&caller.user.id).await?
    } else {
        0
    };
    tracing::info!(user = %caller.user.username, revoked_keys = revoked, "password changed");
    Ok(StatusCode::NO_CONTENT)
}

/// Log out everywhere: ends every session of the caller, this one included, and with
/// `revoke_keys=true` every API key of theirs too.
#[utoipa::path(
    delete,
    path = "/api/me/sessions",
    tag = "accounts",
    params(EndSessionsQuery),
    security(("session" = []), ("bearer" = []), ("api_key" = [])),
    responses(
        (status = 204, description = "Every session ended; the cookie is removed"),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "csrf_rejected", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn end_sessions(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<EndSessionsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::InvalidRequest(e.body_text()))?;
    let ended = state.accounts.end_sessions(&caller.user, None).await?;
    let revoked = if query.revoke_keys {
        state.guards.keys.revoke_all_of(&caller.user.id).await?
    } else {
        0
    };
    tracing::info!(user = %caller.user.username, ended, revoked_keys = revoked, "logged out everywhere");
    Ok(signed_out(&state))
}

/// Create an account: with an invite (`accounts.signup` = `invite` or `open`), or without one
/// when signup is `open`. Logs the new user in.
#[utoipa::path(
    post,
    path = "/api/signup",
    tag = "accounts",
    request_body = SignupRequest,
    responses(
        (status = 201, description = "Created and logged in (session cookie set)", body = UserBody),
        (status = 400, description = "invalid_username, weak_password, invalid_display_name, invalid_invite or invalid_request", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "signup_closed, or csrf_rejected", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "username_taken", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts from this client", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn signup(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SignupRequest>,
) -> Result<Response, ApiError> {
    first_party_attempt(&state, &headers, &client).await?;
    let display_name = body.display_name.as_deref();
    let user = match (body.invite.as_deref(), state.signup) {
        (_, Signup::Closed) => {
            return Err(ApiError::SignupClosed(
                "signup is closed: ask an administrator for an account",
            ));
        }
        (Some(invite), _) => {
            let token = Token::parse(invite).ok_or(ApiError::InvalidInvite)?;
            state
                .accounts
                .accept_invite(&token, &body.username, &body.password, display_name)
                .await?
        }
        (None, Signup::Open) => {
            state
                .accounts
                .create_user(&body.username, &body.password, display_name, Role::User)
                .await?
        }
        (None, Signup::Invite) => {
            return Err(ApiError::SignupClosed(
                "signup needs an invite link from an administrator",
            ));
        }
    };
    tracing::info!(user = %user.username, "signed up");
    let token = state.accounts.open_session(&user).await?;
    Ok(with_session(
        &state,
        &token,
        StatusCode::CREATED,
        UserBody {
            user: (&user).into(),
        },
    ))
}

/// First run: create the first administrator with the one-time token from the log. Open only
/// while no administrator exists; logs the new administrator in.
#[utoipa::path(
    post,
    path = "/api/setup",
    tag = "accounts",
    request_body = SetupRequest,
    responses(
        (status = 201, description = "The first administrator, logged in (session cookie set)", body = UserBody),
        (status = 400, description = "invalid_username, weak_password, invalid_display_name or invalid_request", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "invalid_setup_token, or csrf_rejected", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "setup_done: an administrator exists", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts from this client", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn setup(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SetupRequest>,
) -> Result<Response, ApiError> {
    first_party_attempt(&state, &headers, &client).await?;
    let user = state
        .accounts
        .complete_setup(
            &body.token,
            &body.username,
            &body.password,
            body.display_name.as_deref(),
        )
        .await?;
    tracing::info!(user = %user.username, "first administrator created");
    let token = state.accounts.open_session(&user).await?;
    Ok(with_session(
        &state,
        &token,
        StatusCode::CREATED,
        UserBody {
            user: (&user).into(),
        },
    ))
}
