//! `/links/{code}`: one link for its owner (or an administrator): the short URL with a copy
//! button and QR code, clicks over time (humans and bots), top referrers, countries and devices,
//! the destination's health with its history and a "check now", the edit form, and deletion
//! behind a confirmation page. Someone else's link is a 404, exactly like a missing one.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::Done;
use crate::domain::{DAY_MILLIS, LongUrl, ShortCode, Timestamp, UrlRecord, User};
use crate::http::page::error::PageError;
use crate::http::page::render::{Hx, Layout, page, respond, see_other};
use crate::service::{Interval, LinkChange, ServiceError, buckets};
use crate::state::AppState;
use crate::web::chart::{Chart, chart};
use crate::web::forms::{Field, safe_href, when, when_or};
use crate::web::session::{Member, own_origin};
use crate::web::{qr, session};

/// The ranges the chart offers, in days.
const RANGES: [i64; 3] = [7, 30, 90];

/// One entry of a top list.
pub(crate) struct Top {
    name: String,
    clicks: u64,
    /// Its bar's length, in percent of the list's largest.
    pct: String,
}

/// One check in the health history.
pub(crate) struct CheckRow {
    at: String,
    outcome: &'static str,
    http_status: String,
    duration_ms: u32,
}

/// The destination's health, when link health is on.
pub(crate) struct Health {
    status: &'static str,
    checked_at: String,
    broken_since: Option<String>,
    history: Vec<CheckRow>,
}

#[derive(Template)]
#[template(path = "link.html", blocks = ["page", "health_block"])]
pub(crate) struct LinkPage {
    layout: Layout,
    code: String,
    short_url: String,
    long_url: String,
    href: Option<String>,
    created: String,
    expires: String,
    expired: bool,
    /// When an administrator disabled it.
    disabled: Option<String>,
    /// The viewer may disable or enable it.
    can_disable: bool,
    owner: Option<String>,
    qr: Option<String>,
    clicks: u64,
    human: u64,
    bot: u64,
    last_click: String,
    days: i64,
    ranges: [i64; 3],
    chart: Chart,
    referrers: Vec<Top>,
    countries: Vec<Top>,
    devices: Vec<Top>,
    health: Option<Health>,
    health_notice: Option<&'static str>,
    url: Field,
    expires_at: Field,
    never: bool,
}

page!(LinkPage, "health" => as_health_block);

/// `?days=` of the chart.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RangeQuery {
    #[serde(default)]
    days: Option<i64>,
}

/// The code in the path, or a 404.
fn code_of(raw: &str) -> Result<ShortCode, PageError> {
    ShortCode::parse(raw).map_err(|_| PageError::NotFound)
}

/// The link page of `record` as `viewer` sees it.
async fn link_page(
    state: &AppState,
    viewer: &User,
    record: UrlRecord,
    days: i64,
) -> Result<LinkPage, PageError> {
    let code = record.short_code.clone();
    let now = state.urls.clock().now();
    let to = Timestamp::from_unix_millis(now.as_unix_millis() + 1).unwrap_or(now);
    let from = Timestamp::from_unix_millis(now.as_unix_millis() - (days - 1) * DAY_MILLIS)
        .unwrap_or(Timestamp::UNIX_EPOCH);
    let range = buckets(from, to, Interval::Day)?;
    let (split, points, breakdown, health) = tokio::try_join!(
        state.analytics.split(&code),
        state.analytics.series(&code, range.clone(), Interval::Day),
        state.analytics.breakdown(&code, range),
        health_of(state, &code),
    )?;
    let owner = match &record.owner {
        Some(id) if *id != viewer.id => state
            .accounts
            .user_by_id(id)
            .await?
            .map(|u| u.username.to_string()),
        _ => None,
    };
    let short_url = state.web.short_url(&code);
    let top = |ranking: Vec<(String, u64)>| {
        let most = ranking.iter().map(|(_, c)| *c).max().unwrap_or(1).max(1);
        ranking
            .into_iter()
            .map(|(name, clicks)| Top {
                pct: format!("{:.1}", clicks as f64 * 100.0 / most as f64),
                name,
                clicks,
            })
            .collect()
    };
    Ok(LinkPage {
        layout: Layout::new(format!("Link {code}"), Some(viewer), "links"),
        code: code.to_string(),
        qr: qr::svg_of(&short_url),
        short_url,
        href: safe_href(record.long_url.as_str()),
        long_url: record.long_url.to_string(),
        created: when(record.created_at),
        expires: when_or(record.expires_at, "never"),
        expired: record.has_expired_at(now),
        disabled: record.disabled_at.map(when),
        can_disable: viewer.is_admin(),
        owner,
        clicks: record.click_count,
        human: split.human,
        bot: split.bot,
        last_click: when_or(record.last_accessed_at, "no clicks yet"),
        days,
        ranges: RANGES,
        chart: chart(&points),
        referrers: top(breakdown.referrers),
        countries: top(breakdown.countries),
        devices: top(breakdown.devices),
        health,
        health_notice: None,
        url: Field::of(record.long_url.as_str()),
        expires_at: Field::of(
            record
                .expires_at
                .map(|t| t.to_rfc3339().get(..16).unwrap_or_default().to_owned())
                .unwrap_or_default(),
        ),
        never: record.expires_at.is_none(),
    })
}

/// The destination's health of `code`; `None` where link health is off.
async fn health_of(state: &AppState, code: &ShortCode) -> Result<Option<Health>, ServiceError> {
    let Some(service) = &state.link_health else {
        return Ok(None);
    };
    let record = service.store().link_health(code).await?.unwrap_or_default();
    let last = record.state.last.as_ref();
    Ok(Some(Health {
        status: record.state.status().as_str(),
        checked_at: when_or(last.map(|c| c.at), "not yet"),
        broken_since: record.state.broken_since.map(when),
        history: record
            .history
            .iter()
            .map(|c| CheckRow {
                at: when(c.at),
                outcome: c.outcome.as_str(),
                http_status: c
                    .http_status
                    .map_or_else(|| "–".to_owned(), |s| s.to_string()),
                duration_ms: c.duration_ms,
            })
            .collect(),
    }))
}

/// `GET /links/{code}`.
pub(crate) async fn show(
    State(state): State<AppState>,
    member: Member,
    hx: Hx,
    done: Done,
    Path(code): Path<String>,
    Query(query): Query<RangeQuery>,
) -> Result<Response, PageError> {
    let code = code_of(&code)?;
    let record = state.urls.managed_link(&member.user, &code).await?;
    let days = query
        .days
        .filter(|d| RANGES.contains(d))
        .unwrap_or(RANGES[1]);
    let mut page = link_page(&state, &member.user, record, days).await?;
    page.layout = page.layout.with_notice(done.0);
    Ok(respond(&hx, StatusCode::OK, page))
}

/// The edit form as sent.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct EditForm {
    #[serde(default)]
    url: String,
    #[serde(default)]
    expires_at: String,
    #[serde(default)]
    never: Option<String>,
}

/// `POST /links/{code}`: a new destination or expiry.
pub(crate) async fn edit(
    State(state): State<AppState>,
    member: Member,
    hx: Hx,
    headers: HeaderMap,
    Path(code): Path<String>,
    Form(form): Form<EditForm>,
) -> Result<Response, PageError> {
    own_origin(&headers, &state)?;
    let code = code_of(&code)?;
    let record = state.urls.managed_link(&member.user, &code).await?;
    let current_expiry = record.expires_at;
    let mut page = link_page(&state, &member.user, record, RANGES[1]).await?;
    page.url = Field::of(form.url.trim());
    page.expires_at = Field::of(form.expires_at.trim());
    page.never = form.never.is_some();

    let long_url = LongUrl::parse(&page.url.value, state.urls.url_policy())
        .map_err(|e| page.url.fail(format!("{e}.")))
        .ok();
    // Outer: whether the field is valid; inner: the change to make (`None`: keep it).
    let expires_at: Option<Option<Option<Timestamp>>> = if page.never {
        Some((current_expiry.is_some()).then_some(None))
    } else if page.expires_at.value.is_empty() {
        page.expires_at
            .fail("Choose a date and time, or tick “Never expires”.");
        None
    } else {
        match parse_local(&page.expires_at.value) {
            // The form shows minutes: the same minute sent back keeps the expiry as it is
            // (an untouched field must not move it, nor fail once it is in the past).
            Some(at) if current_expiry.is_some_and(|c| minute(c) == minute(at)) => Some(None),
            Some(at) => Some(Some(Some(at))),
            None => {
                page.expires_at
                    .fail("Give the date and time as YYYY-MM-DD HH:MM (UTC).");
                None
            }
        }
    };
    let (Some(long_url), Some(expires_at)) = (long_url, expires_at) else {
        return Ok(respond(&hx, StatusCode::UNPROCESSABLE_ENTITY, page));
    };
    let change = LinkChange {
        long_url: Some(long_url),
        expires_at,
        // Untouched by this form: the link keeps its redirect settings.
        routing: None,
    };
    match state.urls.change_link(&member.user, &code, change).await {
        Ok(_) => {
            tracing::info!(code = %code, by = %member.user.username, "link changed from the web form");
            Ok(see_other(&format!("/links/{code}?done=saved")))
        }
        Err(ServiceError::InvalidExpiry(why)) => {
            page.expires_at
                .fail(sentence(&why.replace("expires_at", "the expiry")));
            Ok(respond(&hx, StatusCode::UNPROCESSABLE_ENTITY, page))
        }
        Err(error) => Err(error.into()),
    }
}

/// A `datetime-local` value (`2026-12-31T23:59`, seconds optional), read as UTC.
fn parse_local(value: &str) -> Option<Timestamp> {
    let value = value.replace(' ', "T");
    let with_seconds = match value.len() {
        16 => format!("{value}:00Z"),
        19 => format!("{value}Z"),
        _ => return None,
    };
    Timestamp::parse_rfc3339(&with_seconds)
}

/// `at` to the minute, as the form shows it.
fn minute(at: Timestamp) -> i64 {
    at.as_unix_millis().div_euclid(60_000)
}

/// A rule's message as a sentence.
fn sentence(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 1);
    let mut chars = text.chars();
    if let Some(first) = chars.next() {
        out.extend(first.to_uppercase());
        out.push_str(chars.as_str());
    }
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

#[derive(Template)]
#[template(path = "link_delete.html", blocks = ["page"])]
pub(crate) struct DeletePage {
    layout: Layout,
    code: String,
    short_url: String,
    long_url: String,
    clicks: u64,
}

page!(DeletePage);

/// `GET /links/{code}/delete`: are you sure?
pub(crate) async fn confirm_delete(
    State(state): State<AppState>,
    member: Member,
    hx: Hx,
    Path(code): Path<String>,
) -> Result<Response, PageError> {
    let code = code_of(&code)?;
    let record = state.urls.managed_link(&member.user, &code).await?;
    let page = DeletePage {
        layout: Layout::new(format!("Delete {code}?"), Some(&member.user), "links"),
        code: code.to_string(),
        short_url: state.web.short_url(&code),
        long_url: record.long_url.to_string(),
        clicks: record.click_count,
    };
    Ok(respond(&hx, StatusCode::OK, page))
}

/// `POST /links/{code}/delete`: the link answers 404 from now on; its code is never reused.
pub(crate) async fn delete(
    State(state): State<AppState>,
    member: Member,
    headers: HeaderMap,
    Path(code): Path<String>,
) -> Result<Response, PageError> {
    own_origin(&headers, &state)?;
    let code = code_of(&code)?;
    state.urls.delete_link(&member.user, &code).await?;
    tracing::info!(code = %code, by = %member.user.username, "link deleted from the web form");
    Ok(see_other("/links?done=deleted"))
}

/// What the disable form sends.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct DisableForm {
    #[serde(default)]
    action: String,
}

/// `POST /links/{code}/disable`, administrators only: `disable` (the link answers 404 but
/// keeps its code, clicks and owner) or `enable`.
pub(crate) async fn disable(
    State(state): State<AppState>,
    member: Member,
    headers: HeaderMap,
    Path(code): Path<String>,
    Form(form): Form<DisableForm>,
) -> Result<Response, PageError> {
    own_origin(&headers, &state)?;
    let member = member.admin()?;
    let code = code_of(&code)?;
    let disabled = match form.action.as_str() {
        "disable" => true,
        "enable" => false,
        _ => return Err(PageError::NotFound),
    };
    state.urls.set_disabled(&code, disabled).await?;
    tracing::info!(code = %code, by = %member.user.username, disabled, "link disabled or enabled from the web form");
    let done = if disabled { "disabled" } else { "enabled" };
    Ok(see_other(&format!("/links/{code}?done={done}")))
}

/// `POST /links/{code}/check`: check the destination now.
pub(crate) async fn check(
    State(state): State<AppState>,
    member: Member,
    hx: Hx,
    headers: HeaderMap,
    Path(code): Path<String>,
) -> Result<Response, PageError> {
    own_origin(&headers, &state)?;
    let code = code_of(&code)?;
    let record = state.urls.managed_link(&member.user, &code).await?;
    let Some(service) = state.link_health.clone() else {
        return Err(PageError::NotFound);
    };
    let checked = service.check_now(&record).await?;
    tracing::info!(code = %code, by = %member.user.username, "destination checked from the web form");
    let notice = if checked.is_some() {
        "The destination was checked just now."
    } else {
        "Its host was checked a moment ago; try again in a few seconds."
    };
    if hx.request && hx.target.as_deref() == Some("health") {
        let mut page = link_page(&state, &member.user, record, RANGES[1]).await?;
        page.health_notice = Some(notice);
        return Ok(respond(&hx, StatusCode::OK, page));
    }
    let done = if checked.is_some() {
        "checked"
    } else {
        "check-later"
    };
    Ok(see_other(&format!(
        "/links/{code}?done={}",
        session::encode(done)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_date_time_is_read_as_utc_with_or_without_seconds() {
        let at = parse_local("2026-12-31T23:59").unwrap();
        assert_eq!(at.to_rfc3339(), "2026-12-31T23:59:00.000Z");
        assert_eq!(
            parse_local("2026-12-31 23:59:30").unwrap().to_rfc3339(),
            "2026-12-31T23:59:30.000Z"
        );
        for bad in [
            "",
            "2026-12-31",
            "tomorrow",
            "2026-13-01T00:00",
            "2026-12-31T23:59Z",
        ] {
            assert!(parse_local(bad).is_none(), "{bad}");
        }
        assert_eq!(
            minute(at),
            minute(parse_local("2026-12-31T23:59:59").unwrap())
        );
    }

    #[test]
    fn a_rule_reads_as_a_sentence() {
        assert_eq!(
            sentence("the expiry must be in the future"),
            "The expiry must be in the future."
        );
        assert_eq!(sentence("Done."), "Done.");
    }
}
