//! `GET /stats/{code}/timeseries` and `GET /stats/{code}/breakdown`: a link's clicks over time
//! and its top referrers, countries and devices. Readable by whoever may read `/stats/{code}`,
//! behind the same lookup budget.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::domain::{DAY_MILLIS, ShortCode, Timestamp};
use crate::http::{ApiError, Browser, Problem};
use crate::http::{for_client, possible_code};
use crate::service::{Interval, Ranking, buckets};
use crate::state::AppState;

/// Days a time series covers when `from` is not given: 7 for hourly buckets, 30 for daily.
const DEFAULT_HOURLY_DAYS: i64 = 7;
const DEFAULT_DAILY_DAYS: i64 = 30;

/// Query of the time series.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SeriesParams {
    /// Start (RFC 3339), rounded down to the bucket; default: 7 days (hourly) or 30 days
    /// (daily) before `to`.
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// End (RFC 3339, exclusive), rounded up to the bucket; default: now (included).
    #[param(format = DateTime)]
    pub to: Option<String>,
    /// `hour` (at most 744 buckets, 31 days) or `day` (at most 366). Default `day`.
    #[param(pattern = "^(hour|day)$")]
    pub interval: Option<String>,
}

/// Query of the breakdown.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RangeParams {
    /// First day (RFC 3339, rounded down to its UTC day); default: 30 days before `to`.
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// End (RFC 3339, exclusive, rounded up to a UTC day); default: now (included). At most
    /// 366 days.
    #[param(format = DateTime)]
    pub to: Option<String>,
}

/// One bucket.
#[derive(Debug, Serialize, ToSchema)]
pub struct SeriesPointView {
    /// The bucket's first instant (UTC).
    #[schema(value_type = String, format = DateTime)]
    pub start: Timestamp,
    /// Clicks by people.
    pub human: u64,
    /// Clicks by bots and link-preview fetchers.
    pub bot: u64,
}

/// The time series body.
#[derive(Debug, Serialize, ToSchema)]
pub struct SeriesBody {
    /// `hour` or `day`.
    pub interval: &'static str,
    /// Every bucket of the range in order, empty ones as zeros.
    pub points: Vec<SeriesPointView>,
}

/// Clicks under one referrer host.
#[derive(Debug, Serialize, ToSchema)]
pub struct HostClicks {
    /// The referring host; `(direct)` when the browser sent none, `(other)` for the tail.
    pub host: String,
    /// Clicks.
    pub clicks: u64,
}

/// Clicks from one country.
#[derive(Debug, Serialize, ToSchema)]
pub struct CountryClicks {
    /// ISO 3166-1 alpha-2 code from the CDN header; `(unknown)` without one, `(other)` for
    /// the tail.
    pub country: String,
    /// Clicks.
    pub clicks: u64,
}

/// Clicks from one device class.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceClicks {
    /// `desktop`, `mobile`, `tablet`, `bot` or `other`.
    pub device: String,
    /// Clicks.
    pub clicks: u64,
}

/// Clicks one target of a link with redirect rules served.
#[derive(Debug, Serialize, ToSchema)]
pub struct TargetClicks {
    /// `default` (the link's own destination) or `rule-{n}` (its n-th rule, from 1).
    pub target: String,
    /// Clicks.
    pub clicks: u64,
}

/// The breakdown body: the ten most clicked keys of each dimension, the rest as `(other)`.
#[derive(Debug, Serialize, ToSchema)]
pub struct BreakdownBody {
    /// Referrer hosts (host only: never a path or query).
    pub referrers: Vec<HostClicks>,
    /// Countries.
    pub countries: Vec<CountryClicks>,
    /// Device classes.
    pub devices: Vec<DeviceClicks>,
    /// What served the clicks, on a link with redirect rules (empty for a link without).
    pub targets: Vec<TargetClicks>,
}

fn instant(text: Option<&str>, name: &str) -> Result<Option<Timestamp>, ApiError> {
    text.map(|t| {
        Timestamp::parse_rfc3339(t).ok_or_else(|| {
            ApiError::InvalidRange(format!("`{name}` must be an RFC 3339 date-time"))
        })
    })
    .transpose()
}

fn query<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    query
        .map(|Query(q)| q)
        .map_err(|e| ApiError::InvalidRange(e.body_text()))
}

/// `[from, to)` of a request, with `from` defaulting to `days` before `to`.
fn span(
    state: &AppState,
    from: Option<&str>,
    to: Option<&str>,
    days: i64,
) -> Result<(Timestamp, Timestamp), ApiError> {
    // Exclusive, so by default one millisecond past now: a click made this instant counts.
    let to = match instant(to, "to")? {
        Some(to) => to,
        None => state
            .urls
            .now()
            .saturating_add(std::time::Duration::from_millis(1)),
    };
    let from = match instant(from, "from")? {
        Some(from) => from,
        None => Timestamp::from_unix_millis((to.as_unix_millis() - days * DAY_MILLIS).max(0))
            .unwrap_or(Timestamp::UNIX_EPOCH),
    };
    Ok((from, to))
}

async fn live_code(
    state: &AppState,
    path: Result<Path<String>, PathRejection>,
    browser: Browser,
) -> Result<ShortCode, ApiError> {
    let code = possible_code(path, browser)?;
    state
        .urls
        .stats(&code)
        .await
        .map_err(|e| for_client(e, browser))?;
    Ok(code)
}

fn no_store(body: impl Serialize) -> Response {
    let mut response = Json(body).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A link's clicks over time, split into people and bots.
#[utoipa::path(
    get,
    path = "/stats/{code}/timeseries",
    tag = "links",
    params(("code" = String, Path, description = "Short code or alias"), SeriesParams),
    responses(
        (status = 200, description = "Every bucket of the range, zeros included", body = SeriesBody),
        (status = 400, description = "Malformed, empty or too wide a range (`invalid_range`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown, expired or impossible code", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Lookup or 404 budget spent", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn timeseries(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    params: Result<Query<SeriesParams>, QueryRejection>,
    browser: Browser,
) -> Result<Response, ApiError> {
    let params = query(params)?;
    let (interval, name, days) = match params.interval.as_deref() {
        None | Some("day") => (Interval::Day, "day", DEFAULT_DAILY_DAYS),
        Some("hour") => (Interval::Hour, "hour", DEFAULT_HOURLY_DAYS),
        Some(_) => {
            return Err(ApiError::InvalidRange(
                "`interval` must be `hour` or `day`".into(),
            ));
        }
    };
    let (from, to) = span(&state, params.from.as_deref(), params.to.as_deref(), days)?;
    let range = buckets(from, to, interval)?;
    let code = live_code(&state, path, browser).await?;
    let points = state.analytics.series(&code, range, interval).await?;
    Ok(no_store(SeriesBody {
        interval: name,
        points: points
            .into_iter()
            .map(|p| SeriesPointView {
                start: p.start,
                human: p.human,
                bot: p.bot,
            })
            .collect(),
    }))
}

fn listed<T>(ranking: Ranking, make: impl Fn(String, u64) -> T) -> Vec<T> {
    ranking.into_iter().map(|(k, c)| make(k, c)).collect()
}

/// A link's top referrer hosts, countries and device classes over a range of days.
#[utoipa::path(
    get,
    path = "/stats/{code}/breakdown",
    tag = "links",
    params(("code" = String, Path, description = "Short code or alias"), RangeParams),
    responses(
        (status = 200, description = "The top ten of each dimension, the rest as `(other)`", body = BreakdownBody),
        (status = 400, description = "Malformed, empty or too wide a range (`invalid_range`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown, expired or impossible code", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Lookup or 404 budget spent", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn breakdown(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    params: Result<Query<RangeParams>, QueryRejection>,
    browser: Browser,
) -> Result<Response, ApiError> {
    let params = query(params)?;
    let (from, to) = span(
        &state,
        params.from.as_deref(),
        params.to.as_deref(),
        DEFAULT_DAILY_DAYS,
    )?;
    let days = buckets(from, to, Interval::Day)?;
    let code = live_code(&state, path, browser).await?;
    let found = state.analytics.breakdown(&code, days).await?;
    Ok(no_store(BreakdownBody {
        referrers: listed(found.referrers, |host, clicks| HostClicks { host, clicks }),
        countries: listed(found.countries, |country, clicks| CountryClicks {
            country,
            clicks,
        }),
        devices: listed(found.devices, |device, clicks| DeviceClicks {
            device,
            clicks,
        }),
        targets: listed(found.targets, |target, clicks| TargetClicks {
            target,
            clicks,
        }),
    }))
}
