//! The web UI: server-rendered pages (askama templates in `templates/`) enhanced with htmx,
//! for people rather than API clients (DESIGN §9).
//!
//! - [`render`]: the shared layout, page or fragment, and the headers of every HTML answer;
//! - [`session`]: who is looking (the session cookie only) and the same-origin rule for forms;
//! - [`error`]: failures as pages in the site's look;
//! - [`assets`]: the stylesheet and scripts, embedded and served under hashed names;
//! - [`forms`], [`chart`], [`qr`]: what the templates show;
//! - `pages`: one file per page.
//!
//! Everything here wraps only the UI's routes: the redirect and the JSON API never pay for a
//! session lookup, a template or these headers.

pub mod assets;
pub mod chart;
pub mod error;
pub mod forms;
pub mod qr;
pub mod render;
pub mod session;

mod pages;

use axum::Router;
use axum::routing::{get, post};

pub use error::{PageError, link_not_found, link_not_found_html};
pub use render::{CONTENT_SECURITY_POLICY, add_security_headers};

use crate::state::AppState;

/// The UI's route templates, for the request log and metrics labels.
pub const ROUTES: &[&str] = &[
    "/",
    "/login",
    "/logout",
    "/setup",
    "/invite/{token}",
    "/signup",
    "/account",
    "/account/password",
    "/account/sessions",
    "/links",
    "/links/{code}",
    "/links/{code}/delete",
    "/links/{code}/check",
    "/links/{code}/disable",
    "/keys",
    "/keys/{id}/revoke",
    "/admin",
    "/admin/users",
    "/admin/users/{username}",
    "/admin/invites",
    "/admin/link",
    "/admin/links",
    "/static/{file}",
];

/// The UI's routes, each answer with the security headers. Performs no I/O.
pub fn router() -> Router<AppState> {
    use pages::{account, admin, auth, home, keys, link, links};
    Router::new()
        .route("/", get(home::show).post(home::create))
        .route("/login", get(auth::login_form).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/setup", get(auth::setup_form).post(auth::setup))
        .route(
            "/invite/{token}",
            get(auth::invite_form).post(auth::accept_invite),
        )
        .route("/signup", get(auth::signup_form).post(auth::signup))
        .route("/account", get(account::show))
        .route("/account/password", post(account::change_password))
        .route("/account/sessions", post(account::end_sessions))
        .route("/links", get(links::list))
        .route("/links/{code}", get(link::show).post(link::edit))
        .route(
            "/links/{code}/delete",
            get(link::confirm_delete).post(link::delete),
        )
        .route("/links/{code}/check", post(link::check))
        .route("/links/{code}/disable", post(link::disable))
        .route("/keys", get(keys::show).post(keys::create))
        .route("/keys/{id}/revoke", post(keys::revoke))
        .route("/admin", get(admin::show))
        .route("/admin/users", post(admin::create_user))
        .route("/admin/users/{username}", post(admin::change_user))
        .route("/admin/invites", post(admin::create_invite))
        .route("/admin/link", get(admin::find_link))
        .route("/admin/links", get(admin::all_links))
        .route("/static/{file}", get(assets::serve))
        .layer(axum::middleware::map_response(render::security_headers))
}
