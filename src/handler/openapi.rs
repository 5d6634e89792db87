//! The OpenAPI 3.1 description of the public API, generated from the handlers' annotations
//! (utoipa) and served at `GET /openapi.json`.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    BreakdownBody, CheckView, Checks, CountryClicks, CreatedInvite, CreatedKey, DeviceClicks,
    HealthBody, HealthSummary, HealthView, HostClicks, InviteView, InvitesBody, KeyList, KeyView,
    LinkList, LinkPatch, LinkResponse, LinkView, LoginRequest, MeBody, NewInviteRequest,
    NewKeyRequest, NewUserRequest, PasswordChange, Problem, RoleName, SeriesBody, SeriesPointView,
    SetupRequest, ShortenRequest, SignupRequest, StatsResponse, UserBody, UserUpdate, UserView,
    UsersBody,
};

/// The document's root.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "url-shortener",
        description = "Turns long URLs into short codes and redirects to them. Errors are RFC 9457 problem details with a stable `code`; every response carries `X-Processing-Time-Micros`.",
        license(name = "MIT OR Apache-2.0")
    ),
    paths(
        super::shorten::shorten,
        super::redirect::follow,
        super::redirect::peek,
        super::stats::stats,
        super::analytics::timeseries,
        super::analytics::breakdown,
        super::link_health::history,
        super::link_health::check_now,
        super::health::health,
        super::health::live,
        super::health::ready,
        super::metrics,
        openapi_json,
        super::account::login,
        super::account::logout,
        super::account::signup,
        super::account::setup,
        super::account::me,
        super::account::change_password,
        super::account::end_sessions,
        super::users::list_users,
        super::users::create_user,
        super::users::update_user,
        super::users::create_invite,
        super::users::list_invites,
        super::links::list_links,
        super::links::get_link,
        super::links::patch_link,
        super::links::delete_link,
        super::keys::create_key,
        super::keys::list_keys,
        super::keys::revoke_key,
    ),
    components(schemas(
        ShortenRequest, LinkResponse, StatsResponse, Problem, HealthBody, Checks,
        LoginRequest, SignupRequest, SetupRequest, PasswordChange, UserBody, UserView, MeBody,
        UsersBody, NewUserRequest, UserUpdate, RoleName, NewInviteRequest, CreatedInvite,
        InviteView, InvitesBody, LinkView, LinkList, LinkPatch, KeyView, KeyList, NewKeyRequest,
        CreatedKey, SeriesBody, SeriesPointView, BreakdownBody, HostClicks, CountryClicks,
        DeviceClicks, HealthSummary, HealthView, CheckView,
    )),
    modifiers(&Security),
    tags(
        (name = "links", description = "Create, follow and inspect short links; list, edit and delete your own"),
        (name = "keys", description = "Your API keys"),
        (name = "accounts", description = "Log in and out, the caller's own account, signup"),
        (name = "admin", description = "Accounts and invites, for administrators"),
        (name = "operations", description = "Health, metrics and this document"),
    )
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Api-Key"))),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "__Host-session",
                "The session cookie from POST /api/session (named `session` when server.base_url is http). State-changing requests must come from this origin (Sec-Fetch-Site: same-origin or a matching Origin), else 403 csrf_rejected.",
            ))),
        );
    }
}

static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|_| "{}".to_owned())
});

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations", responses(
    (status = 200, description = "The OpenAPI 3.1 document", body = Object, content_type = "application/json"),
))]
pub async fn openapi_json() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
}
