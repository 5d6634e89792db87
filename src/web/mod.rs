//! The web UI: server-rendered pages (askama templates in `templates/`) enhanced with htmx,
//! for people rather than API clients (DESIGN §9).
//!
//! - [`session`]: who is looking (the session cookie only) and the same-origin rule for forms;
//! - [`forms`], [`chart`], [`qr`]: what the templates show;
//! - `pages`: one file per page.
//!
//! The layout, the assets and the error pages it shares with the API's answers to browsers are in
//! `http::page`. Built on the `http` kit; never imports `api` or `redirect`.
//!
//! Everything here wraps only the UI's routes: the redirect and the JSON API never pay for a
//! session lookup, a template or these headers.

pub mod chart;
pub mod forms;
pub mod qr;
pub mod session;

mod pages;

use axum::Router;
use axum::routing::{get, post};

use crate::http::page::{assets, render};
use crate::http::routes::web as at;
use crate::state::AppState;

/// The UI's routes, each answer with the security headers. Performs no I/O.
pub fn router() -> Router<AppState> {
    use pages::{account, admin, auth, home, keys, link, links};
    Router::new()
        .route(at::HOME, get(home::show).post(home::create))
        .route(at::LOGIN, get(auth::login_form).post(auth::login))
        .route(at::LOGOUT, post(auth::logout))
        .route(at::SETUP, get(auth::setup_form).post(auth::setup))
        .route(at::INVITE, get(auth::invite_form).post(auth::accept_invite))
        .route(at::SIGNUP, get(auth::signup_form).post(auth::signup))
        .route(at::ACCOUNT, get(account::show))
        .route(at::PASSWORD, post(account::change_password))
        .route(at::SESSIONS, post(account::end_sessions))
        .route(at::LINKS, get(links::list))
        .route(at::LINK, get(link::show).post(link::edit))
        .route(at::DELETE, get(link::confirm_delete).post(link::delete))
        .route(at::CHECK, post(link::check))
        .route(at::DISABLE, post(link::disable))
        .route(at::KEYS, get(keys::show).post(keys::create))
        .route(at::REVOKE, post(keys::revoke))
        .route(at::ADMIN, get(admin::show))
        .route(at::ADMIN_USERS, post(admin::create_user))
        .route(at::ADMIN_USER, post(admin::change_user))
        .route(at::ADMIN_INVITES, post(admin::create_invite))
        .route(at::ADMIN_LINK, get(admin::find_link))
        .route(at::ADMIN_LINKS, get(admin::all_links))
        .route(at::STATIC, get(assets::serve))
        .layer(axum::middleware::map_response(render::security_headers))
}
