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
    NewKeyRequest, NewUserRequest, PasswordChange, RoleName, SeriesBody, SeriesPointView,
    SetupRequest, ShortenRequest, SignupRequest, StatsResponse, UserBody, UserUpdate, UserView,
    UsersBody,
};
use crate::http::{ERRORS, Problem};

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
        super::redirect::follow_at_root,
        super::redirect::peek_at_root,
        super::redirect::follow_with_path_at_root,
        super::redirect::follow_with_path,
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
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    add_common_answers(&mut doc);
    list_error_codes(&mut doc);
    serde_json::to_string_pretty(&doc).unwrap_or_else(|_| "{}".to_owned())
});

/// The problem body's `code` as an enum of every row of the error table ([`ERRORS`]), so the
/// document lists exactly the codes the server answers with.
fn list_error_codes(doc: &mut serde_json::Value) {
    if let Some(code) = doc.pointer_mut("/components/schemas/Problem/properties/code") {
        code["enum"] = ERRORS.iter().map(|row| row.code).collect();
    }
}

/// A problem+json response described as `description`.
fn problem(description: &str) -> serde_json::Value {
    serde_json::json!({
        "description": description,
        "content": {
            "application/problem+json": {
                "schema": { "$ref": "#/components/schemas/Problem" }
            }
        }
    })
}

/// The answers that come from the layers every operation passes through rather than from the
/// handler, added where an operation's own annotation does not name them, so that the document
/// says every answer the server can give:
/// - a JSON body: 400 `invalid_request`, 413 `payload_too_large`, 415 `unsupported_media_type`;
/// - query parameters: 400 for one the server cannot read;
/// - authentication required (no anonymous alternative): 401 `unauthorized`;
/// - a state change a session cookie may send: 403 `csrf_rejected`;
/// - everything but this document and the liveness probe: 500 `internal_error` and 503
///   (`storage_unavailable`, `busy` or `request_timeout`, with `Retry-After`).
fn add_common_answers(doc: &mut serde_json::Value) {
    let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            let needs_body = op.get("requestBody").is_some();
            let has_query = op
                .get("parameters")
                .and_then(|p| p.as_array())
                .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query"));
            let security = op.get("security").and_then(|s| s.as_array());
            let authenticated = security.is_some_and(|alternatives| {
                !alternatives
                    .iter()
                    .any(|a| a.as_object().is_some_and(|o| o.is_empty()))
            });
            let by_session = security.is_some_and(|alternatives| {
                alternatives.iter().any(|a| a.get("session").is_some())
            });
            let changes = matches!(method.as_str(), "post" | "put" | "patch" | "delete");
            let plain = matches!(path.as_str(), "/openapi.json" | "/health/live");
            let Some(responses) = op.get_mut("responses").and_then(|r| r.as_object_mut()) else {
                continue;
            };
            let mut add = |status: &str, description: &str| {
                responses
                    .entry(status.to_owned())
                    .or_insert_with(|| problem(description));
            };
            if needs_body {
                add(
                    "400",
                    "invalid_request: malformed JSON, a wrong type, an unknown or missing field",
                );
                add("413", "payload_too_large: the body is larger than allowed");
                add(
                    "415",
                    "unsupported_media_type: the body is not `application/json`",
                );
            }
            if has_query {
                add(
                    "400",
                    "invalid_request: a query parameter the server cannot read",
                );
            }
            if authenticated {
                add("401", "unauthorized: no valid session or API key");
            }
            if by_session && changes {
                add(
                    "403",
                    "csrf_rejected: sent with the session cookie from another site",
                );
            }
            if !plain {
                add(
                    "500",
                    "internal_error: an unexpected failure (never with internal detail)",
                );
                add(
                    "503",
                    "storage_unavailable, busy or request_timeout, with `Retry-After`",
                );
            }
        }
    }
}

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
