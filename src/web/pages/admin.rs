//! `/admin`, for administrators only (anyone else gets the 404 page): users (create, disable or
//! enable, make administrator or user, see their links), invite links (the link shown once),
//! finding any link by its code, and the links whose destinations are broken.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::Done;
use crate::domain::{AccountInputError, Role, User};
use crate::http::page::error::PageError;
use crate::http::page::render::{Hx, Layout, page, respond, see_other};
use crate::service::ServiceError;
use crate::state::AppState;
use crate::web::forms::{Field, when};
use crate::web::session::{Member, encode, own_origin};

/// Broken links listed at most.
const BROKEN_SHOWN: usize = 100;

/// One account in the table.
pub(crate) struct UserRow {
    username: String,
    display_name: String,
    admin: bool,
    disabled: bool,
    created: String,
    is_self: bool,
    links_href: String,
}

/// One invite in the table.
pub(crate) struct InviteRow {
    id: String,
    role: &'static str,
    created_by: String,
    created: String,
    expires: String,
    state: &'static str,
}

/// One broken link.
pub(crate) struct BrokenRow {
    code: String,
    since: String,
}

/// An invite just made.
pub(crate) struct NewInvite {
    url: String,
    role: &'static str,
    expires: String,
}

#[derive(Template)]
#[template(path = "admin.html", blocks = ["page"])]
pub(crate) struct AdminPage {
    layout: Layout,
    users: Vec<UserRow>,
    invites: Vec<InviteRow>,
    broken: Option<Vec<BrokenRow>>,
    new_invite: Option<NewInvite>,
    problem: Option<&'static str>,
    username: Field,
    display_name: Field,
    password: Field,
    role: String,
}

page!(AdminPage);

async fn admin_page(state: &AppState, admin: &User) -> Result<AdminPage, PageError> {
    let users = state.accounts.list_users().await?;
    let names: HashMap<String, String> = users
        .iter()
        .map(|u| (u.id.clone(), u.username.to_string()))
        .collect();
    let now = state.urls.clock().now();
    let invites = state
        .accounts
        .list_invites()
        .await?
        .iter()
        .map(|i| InviteRow {
            id: i.key.as_str().get(..12).unwrap_or_default().to_owned(),
            role: i.role.as_str(),
            created_by: names.get(&i.created_by).cloned().unwrap_or_default(),
            created: when(i.created_at),
            expires: when(i.expires_at),
            state: if i.used_at.is_some() {
                "used"
            } else if i.is_open(now) {
                "open"
            } else {
                "expired"
            },
        })
        .collect();
    let broken = match &state.link_health {
        Some(service) => Some(
            service
                .store()
                .broken_links(BROKEN_SHOWN)
                .await?
                .into_iter()
                .map(|(code, since)| BrokenRow {
                    code: code.to_string(),
                    since: when(since),
                })
                .collect(),
        ),
        None => None,
    };
    Ok(AdminPage {
        layout: Layout::new("Administration", Some(admin), "admin"),
        users: users
            .iter()
            .map(|u| UserRow {
                username: u.username.to_string(),
                display_name: u
                    .display_name
                    .as_ref()
                    .map(|d| d.as_str().to_owned())
                    .unwrap_or_default(),
                admin: u.is_admin(),
                disabled: !u.is_active(),
                created: when(u.created_at),
                is_self: u.id == admin.id,
                links_href: format!("/links?owner={}", encode(u.username.as_str())),
            })
            .collect(),
        invites,
        broken,
        new_invite: None,
        problem: None,
        username: Field::default(),
        display_name: Field::default(),
        password: Field::default(),
        role: "user".to_owned(),
    })
}

/// `GET /admin`.
pub(crate) async fn show(
    State(state): State<AppState>,
    member: Member,
    hx: Hx,
    done: Done,
) -> Result<Response, PageError> {
    let member = member.admin()?;
    let mut page = admin_page(&state, &member.user).await?;
    page.layout = page.layout.with_notice(done.0);
    Ok(respond(&hx, StatusCode::OK, page))
}

fn role_of(name: &str) -> Role {
    if name == "admin" {
        Role::Admin
    } else {
        Role::User
    }
}

/// The new-user form as sent. No `Debug`: it holds a password.
#[derive(Deserialize)]
pub(crate) struct NewUserForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    role: String,
}

/// `POST /admin/users`.
pub(crate) async fn create_user(
    State(state): State<AppState>,
    member: Member,
    hx: Hx,
    headers: HeaderMap,
    Form(form): Form<NewUserForm>,
) -> Result<Response, PageError> {
    own_origin(&headers, &state)?;
    let member = member.admin()?;
    let display = Some(form.display_name.trim()).filter(|d| !d.is_empty());
    match state
        .accounts
        .create_user(&form.username, &form.password, display, role_of(&form.role))
        .await
    {
        Ok(user) => {
            tracing::info!(user = %user.username, by = %member.user.username, "account created from the web form");
            Ok(see_other("/admin?done=user-created"))
        }
        Err(error) => {
            let mut page = admin_page(&state, &member.user).await?;
            page.username = Field::of(form.username.trim());
            page.display_name = Field::of(form.display_name.trim());
            page.role = if form.role == "admin" {
                "admin"
            } else {
                "user"
            }
            .to_owned();
            match error {
                ServiceError::Account(AccountInputError::InvalidUsername) => page
                    .username
                    .fail("A user name is 3 to 64 of a–z, 0–9, '.', '_' and '-'."),
                ServiceError::Account(AccountInputError::WeakPassword) => page
                    .password
                    .fail("A password is 12 to 256 characters long."),
                ServiceError::Account(AccountInputError::InvalidDisplayName) => {
                    page.display_name.fail(
                        "A display name is at most 100 characters, without control characters.",
                    );
                }
                ServiceError::UsernameTaken => page.username.fail("This user name is taken."),
                other => return Err(other.into()),
            }
            Ok(respond(&hx, StatusCode::UNPROCESSABLE_ENTITY, page))
        }
    }
}

/// A change to an account, as its button sends it.
#[derive(Debug, Deserialize)]
pub(crate) struct ChangeForm {
    #[serde(default)]
    action: String,
}

/// `POST /admin/users/{username}`: `make-admin`, `make-user`, `disable` or `enable`.
pub(crate) async fn change_user(
    State(state): State<AppState>,
    member: Member,
    hx: Hx,
    headers: HeaderMap,
    Path(username): Path<String>,
    Form(form): Form<ChangeForm>,
) -> Result<Response, PageError> {
    own_origin(&headers, &state)?;
    let member = member.admin()?;
    let (role, disabled) = match form.action.as_str() {
        "make-admin" => (Some(Role::Admin), None),
        "make-user" => (Some(Role::User), None),
        "disable" => (None, Some(true)),
        "enable" => (None, Some(false)),
        _ => return Err(PageError::NotFound),
    };
    match state
        .accounts
        .update_account(&username, role, disabled)
        .await
    {
        Ok(user) => {
            tracing::info!(user = %user.username, by = %member.user.username, action = %form.action, "account changed from the web form");
            Ok(see_other("/admin?done=user-changed"))
        }
        Err(ServiceError::LastAdmin) => {
            let mut page = admin_page(&state, &member.user).await?;
            page.problem = Some(
                "That would leave no active administrator: make someone else an administrator first.",
            );
            Ok(respond(&hx, StatusCode::CONFLICT, page))
        }
        Err(error) => Err(error.into()),
    }
}

/// The invite form as sent.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct InviteForm {
    #[serde(default)]
    role: String,
}

/// `POST /admin/invites`: the page again with the invite link, shown this once.
pub(crate) async fn create_invite(
    State(state): State<AppState>,
    member: Member,
    hx: Hx,
    headers: HeaderMap,
    Form(form): Form<InviteForm>,
) -> Result<Response, PageError> {
    own_origin(&headers, &state)?;
    let member = member.admin()?;
    let role = role_of(&form.role);
    let (token, invite) = state.accounts.create_invite(&member.user, role).await?;
    tracing::info!(by = %member.user.username, role = role.as_str(), "invite created from the web form");
    let mut page = admin_page(&state, &member.user).await?;
    page.new_invite = Some(NewInvite {
        url: format!("{}/invite/{}", state.web.base_url, token.expose()),
        role: role.as_str(),
        expires: when(invite.expires_at),
    });
    // Answered directly (no redirect): the token must not travel in a URL of ours.
    Ok(respond(&hx, StatusCode::CREATED, page))
}

/// `?code=` of the find form.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct FindQuery {
    #[serde(default)]
    code: String,
}

/// `GET /admin/link?code=…`: to that link's page.
pub(crate) async fn find_link(
    member: Member,
    axum::extract::Query(query): axum::extract::Query<FindQuery>,
) -> Result<Response, PageError> {
    member.admin()?;
    let code =
        crate::domain::ShortCode::parse(query.code.trim()).map_err(|_| PageError::NotFound)?;
    Ok(see_other(&format!("/links/{code}")))
}

/// One link of the administrators' listing.
pub(crate) struct AnyLink {
    code: String,
    long_url: String,
    href: Option<String>,
    owner: String,
    created: String,
    clicks: u64,
    expired: bool,
    disabled: bool,
}

#[derive(Template)]
#[template(path = "admin_links.html", blocks = ["page", "results"])]
pub(crate) struct AllLinksPage {
    layout: Layout,
    q: String,
    links: Vec<AnyLink>,
    /// The query string of the next page.
    next: Option<String>,
    /// Whether this page is not the first.
    later: bool,
}

page!(AllLinksPage, "results" => as_results);

/// `?q=&cursor=` of the listing.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct AllQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    cursor: Option<String>,
}

/// `GET /admin/links`: every link, whoever owns it, with a search through codes and
/// destinations (a scan of the store, read a bounded number of links at a time).
pub(crate) async fn all_links(
    State(state): State<AppState>,
    member: Member,
    hx: Hx,
    axum::extract::Query(query): axum::extract::Query<AllQuery>,
) -> Result<Response, PageError> {
    let member = member.admin()?;
    let q: String = query.q.trim().chars().take(200).collect();
    let scan = state
        .urls
        .all_links(&q, query.cursor.as_deref(), 25)
        .await?;
    let names: HashMap<String, String> = state
        .accounts
        .list_users()
        .await?
        .into_iter()
        .map(|u| (u.id, u.username.to_string()))
        .collect();
    let now = state.urls.clock().now();
    let links = scan
        .links
        .into_iter()
        .map(|r| AnyLink {
            code: r.short_code.to_string(),
            href: crate::web::forms::safe_href(r.long_url.as_str()),
            long_url: r.long_url.to_string(),
            owner: r
                .owner
                .as_ref()
                .map_or_else(String::new, |id| names.get(id).cloned().unwrap_or_default()),
            created: when(r.created_at),
            clicks: r.click_count,
            expired: r.has_expired_at(now),
            disabled: r.disabled_at.is_some(),
        })
        .collect();
    let page = AllLinksPage {
        layout: Layout::new("All links", Some(&member.user), "admin"),
        next: scan
            .next
            .map(|c| format!("?q={}&cursor={}", encode(&q), encode(&c))),
        later: query.cursor.is_some(),
        q,
        links,
    };
    Ok(respond(&hx, StatusCode::OK, page))
}
