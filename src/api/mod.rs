//! The JSON API: handlers that extract, call a service and shape the response (no business
//! rules live here), the OpenAPI description, and [`router`], which mounts them with their
//! guards. Built on the `http` kit; never imports `web` or `redirect`.

mod account;
mod analytics;
mod health;
mod keys;
mod link_health;
mod links;
mod openapi;
mod redirect;
mod router;
mod routing;
mod shorten;
mod stats;
mod users;

pub use analytics::{
    BreakdownBody, CountryClicks, DeviceClicks, HostClicks, RangeParams, SeriesBody, SeriesParams,
    SeriesPointView,
};
pub use health::STORAGE_CHECK_DEADLINE;
pub use health::{Checks, HealthBody};
pub use openapi::{ApiDoc, openapi_json};
pub use router::router;
pub use shorten::{LinkResponse, ShortenRequest};
pub use stats::StatsResponse;

pub use account::{
    LoginRequest, MeBody, PasswordChange, SetupRequest, SignupRequest, UserBody, UserView,
};
pub use users::{
    CreatedInvite, InviteView, InvitesBody, NewInviteRequest, NewUserRequest, RoleName, UserUpdate,
    UsersBody,
};

pub use keys::{CreatedKey, KeyList, KeyView, NewKeyRequest};
pub use link_health::{CheckView, HealthSummary, HealthView};
pub use links::{LinkList, LinkPatch, LinkView, ListParams};

pub(crate) use account::{change_password, end_sessions, login, logout, me, setup, signup};
pub(crate) use analytics::{breakdown, timeseries};
pub(crate) use health::{health, live, ready};
pub(crate) use keys::{create_key, list_keys, revoke_key};
pub(crate) use link_health::{check_now, history as health_history};
pub(crate) use links::{delete_link, get_link, list_links, patch_link};
pub(crate) use shorten::shorten;
pub(crate) use stats::stats;
pub(crate) use users::{create_invite, create_user, list_invites, list_users, update_user};

/// `GET /metrics`: Prometheus/OpenMetrics text.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses(
    (status = 200, description = "Metrics in OpenMetrics text format", body = String,
        content_type = "application/openmetrics-text"),
))]
pub(crate) async fn metrics(
    axum::extract::State(state): axum::extract::State<crate::state::AppState>,
) -> impl axum::response::IntoResponse {
    (
        [
            (
                axum::http::header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            ),
            (axum::http::header::CACHE_CONTROL, "no-store"),
        ],
        state.metrics.render(),
    )
}
