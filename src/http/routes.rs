//! The route table: every path template the service answers, in one place. The routers mount
//! these constants and the request log and metrics label requests with them, so a route cannot
//! be served under one name and counted under another.

/// `GET`/`HEAD /s/{code}`: the redirect.
pub const REDIRECT: &str = api::REDIRECT;

/// The public API's routes, each described in `/openapi.json`.
pub mod api {
    pub const SHORTEN: &str = "/shorten";
    pub const REDIRECT: &str = "/s/{code}";
    pub const STATS: &str = "/stats/{code}";
    pub const TIMESERIES: &str = "/stats/{code}/timeseries";
    pub const BREAKDOWN: &str = "/stats/{code}/breakdown";
    pub const LINK_HEALTH: &str = "/stats/{code}/health";
    pub const HEALTH: &str = "/health";
    pub const LIVE: &str = "/health/live";
    pub const READY: &str = "/health/ready";
    pub const METRICS: &str = "/metrics";
    pub const OPENAPI: &str = "/openapi.json";
    pub const SESSION: &str = "/api/session";
    pub const SIGNUP: &str = "/api/signup";
    pub const SETUP: &str = "/api/setup";
    pub const ME: &str = "/api/me";
    pub const PASSWORD: &str = "/api/me/password";
    pub const SESSIONS: &str = "/api/me/sessions";
    pub const USERS: &str = "/api/users";
    pub const USER: &str = "/api/users/{username}";
    pub const INVITES: &str = "/api/invites";
    pub const LINKS: &str = "/api/links";
    pub const LINK: &str = "/api/links/{code}";
    pub const CHECK: &str = "/api/links/{code}/check";
    pub const KEYS: &str = "/api/keys";
    pub const KEY: &str = "/api/keys/{id}";
}

/// The web UI's routes (HTML pages and their forms).
pub mod web {
    pub const HOME: &str = "/";
    pub const LOGIN: &str = "/login";
    pub const LOGOUT: &str = "/logout";
    pub const SETUP: &str = "/setup";
    pub const INVITE: &str = "/invite/{token}";
    pub const SIGNUP: &str = "/signup";
    pub const ACCOUNT: &str = "/account";
    pub const PASSWORD: &str = "/account/password";
    pub const SESSIONS: &str = "/account/sessions";
    pub const LINKS: &str = "/links";
    pub const LINK: &str = "/links/{code}";
    pub const DELETE: &str = "/links/{code}/delete";
    pub const CHECK: &str = "/links/{code}/check";
    pub const DISABLE: &str = "/links/{code}/disable";
    pub const KEYS: &str = "/keys";
    pub const REVOKE: &str = "/keys/{id}/revoke";
    pub const ADMIN: &str = "/admin";
    pub const ADMIN_USERS: &str = "/admin/users";
    pub const ADMIN_USER: &str = "/admin/users/{username}";
    pub const ADMIN_INVITES: &str = "/admin/invites";
    pub const ADMIN_LINK: &str = "/admin/link";
    pub const ADMIN_LINKS: &str = "/admin/links";
    pub const STATIC: &str = "/static/{file}";
}

/// Every route of the public API, the redirect included: what `/openapi.json` describes.
pub const API: &[&str] = &[
    api::SHORTEN,
    api::REDIRECT,
    api::STATS,
    api::TIMESERIES,
    api::BREAKDOWN,
    api::LINK_HEALTH,
    api::HEALTH,
    api::LIVE,
    api::READY,
    api::METRICS,
    api::OPENAPI,
    api::SESSION,
    api::SIGNUP,
    api::SETUP,
    api::ME,
    api::PASSWORD,
    api::SESSIONS,
    api::USERS,
    api::USER,
    api::INVITES,
    api::LINKS,
    api::LINK,
    api::CHECK,
    api::KEYS,
    api::KEY,
];

/// Every route of the web UI.
pub const WEB: &[&str] = &[
    web::HOME,
    web::LOGIN,
    web::LOGOUT,
    web::SETUP,
    web::INVITE,
    web::SIGNUP,
    web::ACCOUNT,
    web::PASSWORD,
    web::SESSIONS,
    web::LINKS,
    web::LINK,
    web::DELETE,
    web::CHECK,
    web::DISABLE,
    web::KEYS,
    web::REVOKE,
    web::ADMIN,
    web::ADMIN_USERS,
    web::ADMIN_USER,
    web::ADMIN_INVITES,
    web::ADMIN_LINK,
    web::ADMIN_LINKS,
    web::STATIC,
];

/// The table's own copy of `route`, a matched route template, as a `'static` label (metrics
/// take labels without allocating); `None` for a template the table does not hold.
pub fn label(route: &str) -> Option<&'static str> {
    API.iter().chain(WEB).find(|r| **r == route).copied()
}
