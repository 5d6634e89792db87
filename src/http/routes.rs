//! The route table: every path template the service answers, in one place. The routers mount
//! these constants and the request log and metrics label requests with them, so a route cannot
//! be served under one name and counted under another.

/// `GET`/`HEAD /s/{code}`: the redirect.
pub const REDIRECT: &str = api::REDIRECT;

/// `GET`/`HEAD /{code}`: the same redirect at the root.
pub const ROOT_REDIRECT: &str = api::ROOT_REDIRECT;

/// `GET`/`HEAD /s/{code}/{*rest}`: the redirect with a path to forward.
pub const REDIRECT_REST: &str = api::REDIRECT_REST;

/// `GET`/`HEAD /{code}/{*rest}`: the same at the root.
pub const ROOT_REDIRECT_REST: &str = api::ROOT_REDIRECT_REST;

/// The public API's routes, each described in `/openapi.json`.
pub mod api {
    pub const SHORTEN: &str = "/shorten";
    pub const REDIRECT: &str = "/s/{code}";
    pub const ROOT_REDIRECT: &str = "/{code}";
    pub const REDIRECT_REST: &str = "/s/{code}/{*rest}";
    pub const ROOT_REDIRECT_REST: &str = "/{code}/{*rest}";
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
    api::ROOT_REDIRECT,
    api::REDIRECT_REST,
    api::ROOT_REDIRECT_REST,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ShortCode, is_reserved};

    /// The first segment of each route the service serves, when it is a literal.
    fn first_segments() -> Vec<&'static str> {
        API.iter()
            .chain(WEB)
            .filter_map(|route| route.trim_start_matches('/').split('/').next())
            .filter(|segment| !segment.is_empty() && !segment.starts_with('{'))
            .collect()
    }

    #[test]
    fn every_first_segment_the_router_serves_is_reserved_so_no_code_shadows_it() {
        let segments = first_segments();
        assert!(segments.contains(&"login") && segments.contains(&"api"));
        for segment in segments {
            assert!(
                is_reserved(segment),
                "/{segment} is served but not in domain::RESERVED_ALIASES: a link with that \
                 alias would be hidden behind it at the root"
            );
            assert!(is_reserved(&segment.to_ascii_uppercase()), "{segment}");
        }
        // Served outside the table.
        for path in ["robots.txt", "favicon.ico", "openapi.json"] {
            assert!(is_reserved(path), "{path}");
        }
    }

    #[test]
    fn the_reserved_names_in_docs_api_md_are_the_list() {
        let docs = include_str!("../../docs/api.md");
        let section = docs
            .split("### Reserved names")
            .nth(1)
            .and_then(|rest| rest.split("\n\n").nth(2))
            .expect("docs/api.md has a Reserved names section with the list in its 2nd paragraph");
        let mut documented: Vec<&str> = section.split('`').skip(1).step_by(2).collect();
        let mut listed = crate::domain::RESERVED_ALIASES.to_vec();
        documented.sort_unstable();
        listed.sort_unstable();
        assert_eq!(documented, listed);
    }

    /// Every route the routers mount names a constant of this table, so the reserved-names
    /// test above sees every route: a path written in place would escape it.
    #[test]
    fn the_routers_mount_only_routes_of_this_table() {
        let routers = [
            ("app.rs", include_str!("../app.rs")),
            ("api/router.rs", include_str!("../api/router.rs")),
            ("web/mod.rs", include_str!("../web/mod.rs")),
        ];
        let mut mounted = 0;
        for (file, source) in routers {
            for call in [".route(", ".route_service(", ".nest(", ".nest_service("] {
                for (at, _) in source.match_indices(call) {
                    let argument = source[at + call.len()..].trim_start();
                    assert!(
                        argument.starts_with("at::") || argument.starts_with("routes::"),
                        "{file} mounts a path that is not in http::routes: {}",
                        &argument[..argument.len().min(40)]
                    );
                    mounted += 1;
                }
            }
        }
        assert!(mounted >= API.len() + WEB.len() - 1, "{mounted}");
    }

    #[test]
    fn the_root_redirects_are_the_only_routes_whose_first_segment_is_a_code() {
        let at_root: Vec<_> = API
            .iter()
            .chain(WEB)
            .filter(|route| route.starts_with("/{"))
            .collect();
        assert_eq!(at_root, [&ROOT_REDIRECT, &ROOT_REDIRECT_REST]);
        // And every reserved name that is a possible code is refused as an alias.
        for name in crate::domain::RESERVED_ALIASES {
            if ShortCode::parse(name).is_ok() {
                assert!(crate::domain::Alias::parse(name).is_err(), "{name}");
            }
        }
    }
}
