//! Administration of accounts: `GET`/`POST /api/users`, `PATCH /api/users/{username}`, and
//! invites (`GET`/`POST /api/invites`). Administrators only (403 `forbidden` for others).

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::account::{UserBody, UserView};
use crate::domain::{Invite, Role, Timestamp};
use crate::http::{ApiError, ApiJson, Caller, Problem};
use crate::state::AppState;

/// A role as JSON names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RoleName {
    /// A user: their own links and keys.
    User,
    /// An administrator: everyone's.
    Admin,
}

impl From<RoleName> for Role {
    fn from(role: RoleName) -> Self {
        match role {
            RoleName::User => Role::User,
            RoleName::Admin => Role::Admin,
        }
    }
}

/// `GET /api/users`.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsersBody {
    /// Every account, oldest first.
    pub users: Vec<UserView>,
}

/// `POST /api/users`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserRequest {
    /// 3–64 of `a-z 0-9 . _ -` (upper case is folded).
    #[schema(pattern = "^[A-Za-z0-9._-]{3,64}$")]
    pub username: String,
    /// 12 to 256 characters.
    #[schema(format = Password, min_length = 12, max_length = 256)]
    pub password: String,
    /// Optional name to show.
    #[serde(default)]
    #[schema(max_length = 100, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub display_name: Option<String>,
    /// Default `user`.
    #[serde(default)]
    pub role: Option<RoleName>,
}

/// `PATCH /api/users/{username}`: each field present is changed.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    /// New role.
    #[serde(default)]
    pub role: Option<RoleName>,
    /// `true` disables the account (and ends its sessions); `false` enables it.
    #[serde(default)]
    pub disabled: Option<bool>,
    /// A new password (ends every session of that user).
    #[serde(default)]
    #[schema(format = Password, min_length = 12, max_length = 256)]
    pub password: Option<String>,
}

/// `POST /api/invites`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInviteRequest {
    /// Role of the account the invite creates; default `user`.
    #[serde(default)]
    pub role: Option<RoleName>,
}

/// An invite as listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct InviteView {
    /// Public id: the first 12 hex characters of the token's hash.
    pub id: String,
    /// Role it grants.
    #[schema(pattern = "^(user|admin)$")]
    pub role: &'static str,
    /// User name of the administrator who made it (null if that account is gone).
    pub created_by: Option<String>,
    /// Creation time.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// It cannot be used after this.
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
    /// When it was used; null while unused.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub used_at: Option<Timestamp>,
}

/// `POST /api/invites` 201: the token is shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedInvite {
    /// The invite.
    pub invite: InviteView,
    /// The one-time token: `POST /api/signup` with `"invite": token`.
    pub token: String,
    /// The link to give the person invited.
    pub url: String,
}

/// `GET /api/invites`.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitesBody {
    /// Newest first.
    pub invites: Vec<InviteView>,
}

fn invite_view(invite: &Invite, names: &HashMap<String, String>) -> InviteView {
    InviteView {
        id: invite.key.as_str()[..12].to_owned(),
        role: invite.role.as_str(),
        created_by: names.get(&invite.created_by).cloned(),
        created_at: invite.created_at,
        expires_at: invite.expires_at,
        used_at: invite.used_at,
    }
}

/// Every account.
#[utoipa::path(
    get,
    path = "/api/users",
    tag = "admin",
    security(("session" = []), ("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "Every account, oldest first", body = UsersBody),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden: not an administrator", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<UsersBody>, ApiError> {
    caller.admin()?;
    let users = state.accounts.list_users().await?;
    Ok(Json(UsersBody {
        users: users.iter().map(UserView::from).collect(),
    }))
}

/// Create an account.
#[utoipa::path(
    post,
    path = "/api/users",
    tag = "admin",
    request_body = NewUserRequest,
    security(("session" = []), ("bearer" = []), ("api_key" = [])),
    responses(
        (status = 201, description = "Created", body = UserBody),
        (status = 400, description = "invalid_username, weak_password, invalid_display_name or invalid_request", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden or csrf_rejected", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "username_taken", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewUserRequest>,
) -> Result<(StatusCode, Json<UserBody>), ApiError> {
    let admin = caller.admin()?;
    let role = body.role.map_or(Role::User, Role::from);
    let user = state
        .accounts
        .create_user(
            &body.username,
            &body.password,
            body.display_name.as_deref(),
            role,
        )
        .await?;
    tracing::info!(user = %user.username, by = %admin.user.username, "account created");
    Ok((
        StatusCode::CREATED,
        Json(UserBody {
            user: (&user).into(),
        }),
    ))
}

/// Change an account's role, disabled state or password.
#[utoipa::path(
    patch,
    path = "/api/users/{username}",
    tag = "admin",
    params(("username" = String, Path, description = "User name")),
    request_body = UserUpdate,
    security(("session" = []), ("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The account as changed", body = UserBody),
        (status = 400, description = "weak_password or invalid_request", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden or csrf_rejected", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "last_admin: it would leave no active administrator", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn update_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(username): Path<String>,
    ApiJson(body): ApiJson<UserUpdate>,
) -> Result<Json<UserBody>, ApiError> {
    let admin = caller.admin()?;
    if let Some(password) = &body.password {
        state.accounts.set_password(&username, password).await?;
    }
    let user = state
        .accounts
        .update_account(&username, body.role.map(Role::from), body.disabled)
        .await?;
    tracing::info!(user = %user.username, by = %admin.user.username, "account changed");
    Ok(Json(UserBody {
        user: (&user).into(),
    }))
}

async fn usernames(state: &AppState) -> Result<HashMap<String, String>, ApiError> {
    Ok(state
        .accounts
        .list_users()
        .await?
        .into_iter()
        .map(|u| (u.id, u.username.to_string()))
        .collect())
}

/// Make a one-time invite link.
#[utoipa::path(
    post,
    path = "/api/invites",
    tag = "admin",
    request_body = NewInviteRequest,
    security(("session" = []), ("bearer" = []), ("api_key" = [])),
    responses(
        (status = 201, description = "Created; the token is shown only now", body = CreatedInvite),
        (status = 403, description = "forbidden or csrf_rejected", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create_invite(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewInviteRequest>,
) -> Result<(StatusCode, Json<CreatedInvite>), ApiError> {
    let admin = caller.admin()?;
    let role = body.role.map_or(Role::User, Role::from);
    let (token, invite) = state.accounts.create_invite(&admin.user, role).await?;
    let names = HashMap::from([(admin.user.id.clone(), admin.user.username.to_string())]);
    tracing::info!(by = %admin.user.username, role = role.as_str(), "invite created");
    Ok((
        StatusCode::CREATED,
        Json(CreatedInvite {
            invite: invite_view(&invite, &names),
            url: format!("{}/invite/{}", state.web.base_url, token.expose()),
            token: token.expose().to_owned(),
        }),
    ))
}

/// Every invite.
#[utoipa::path(
    get,
    path = "/api/invites",
    tag = "admin",
    security(("session" = []), ("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "Newest first", body = InvitesBody),
        (status = 403, description = "forbidden", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_invites(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<InvitesBody>, ApiError> {
    caller.admin()?;
    let names = usernames(&state).await?;
    let invites = state.accounts.list_invites().await?;
    Ok(Json(InvitesBody {
        invites: invites.iter().map(|i| invite_view(i, &names)).collect(),
    }))
}
