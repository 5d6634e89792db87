//! `/links`: the signed-in user's links (an administrator may add `owner=NAME` for someone
//! else's), with search, sort and pages, badges for expired links and broken destinations, and
//! copy buttons. With htmx the search answers only the results block (`#results`).

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use futures_util::future::join_all;
use serde::Deserialize;

use super::Done;
use crate::domain::{LinkHealthStatus, UrlRecord};
use crate::http::page::error::PageError;
use crate::http::page::render::{Hx, Layout, page, respond};
use crate::repository::LinkCursor;
use crate::service::LinkQuery;
use crate::state::AppState;
use crate::web::forms::{safe_href, when};
use crate::web::session::{Member, encode};

/// Links per page.
const PAGE: usize = 20;
/// Sorting by anything but newest first reads the owner's links into memory, at most this many.
pub(crate) const SORT_LIMIT: usize = 5_000;
/// The longest search text.
const MAX_QUERY_CHARS: usize = 200;

/// How the list is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Sort {
    /// Newest first, paged by cursor (the store's own order).
    #[default]
    Newest,
    /// Oldest first.
    Oldest,
    /// Most clicked first.
    Clicks,
}

impl Sort {
    fn name(self) -> &'static str {
        match self {
            Self::Newest => "newest",
            Self::Oldest => "oldest",
            Self::Clicks => "clicks",
        }
    }
}

/// The query of `/links`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    sort: Sort,
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    page: Option<usize>,
    #[serde(default)]
    owner: Option<String>,
}

/// One row.
pub(crate) struct Row {
    code: String,
    short_url: String,
    long_url: String,
    href: Option<String>,
    created: String,
    clicks: u64,
    expired: bool,
    disabled: bool,
    health: &'static str,
}

#[derive(Template)]
#[template(path = "links.html", blocks = ["page", "results"])]
pub(crate) struct LinksPage {
    layout: Layout,
    heading: String,
    q: String,
    sort: &'static str,
    owner: Option<String>,
    rows: Vec<Row>,
    /// The query string of the next page, if there is one.
    next: Option<String>,
    /// The query string of the previous page (sorted lists) or the first page.
    previous: Option<String>,
    truncated: bool,
}

page!(LinksPage, "results" => as_results);

/// `GET /links`.
pub(crate) async fn list(
    State(state): State<AppState>,
    member: Member,
    hx: Hx,
    done: Done,
    Query(query): Query<ListQuery>,
) -> Result<Response, PageError> {
    let q: String = query.q.trim().chars().take(MAX_QUERY_CHARS).collect();
    let (owner_id, owner_name) = match query.owner.as_deref() {
        Some(name) if name != member.user.username.as_str() => {
            let admin = member.clone().admin()?;
            let user = state
                .accounts
                .user_named(name)
                .await
                .map_err(PageError::from)?;
            drop(admin);
            (user.id, Some(user.username.to_string()))
        }
        _ => (member.user.id.clone(), None),
    };
    let base = query_string(&q, query.sort, owner_name.as_deref());
    let (records, next, previous, truncated) = match query.sort {
        Sort::Newest => {
            let after = query.cursor.as_deref().and_then(LinkCursor::parse);
            let page = state
                .urls
                .links_of(
                    &owner_id,
                    LinkQuery {
                        q: q.clone(),
                        limit: PAGE,
                        after: after.clone(),
                    },
                )
                .await?;
            let next = page
                .next
                .map(|c| format!("{base}&cursor={}", encode(&c.sort_key())));
            let previous = after.is_some().then(|| base.clone());
            (page.links, next, previous, false)
        }
        sort => {
            let (mut all, truncated) = everything(&state, &owner_id, &q).await?;
            match sort {
                Sort::Oldest => all.reverse(),
                _ => all.sort_by_key(|r| std::cmp::Reverse(r.click_count)),
            }
            let number = query.page.unwrap_or(1).max(1);
            let start = (number - 1).saturating_mul(PAGE).min(all.len());
            let end = (start + PAGE).min(all.len());
            let next = (end < all.len()).then(|| format!("{base}&page={}", number + 1));
            let previous = (number > 1).then(|| format!("{base}&page={}", number - 1));
            (all.drain(start..end).collect(), next, previous, truncated)
        }
    };
    let rows = rows(&state, records).await;
    let heading = match &owner_name {
        Some(name) => format!("Links of {name}"),
        None => "My links".to_owned(),
    };
    let page = LinksPage {
        layout: Layout::new(heading.clone(), Some(&member.user), "links").with_notice(done.0),
        heading,
        q,
        sort: query.sort.name(),
        owner: owner_name,
        rows,
        next,
        previous,
        truncated,
    };
    Ok(respond(&hx, StatusCode::OK, page))
}

/// The query string that keeps the search, the order and the owner across pages.
fn query_string(q: &str, sort: Sort, owner: Option<&str>) -> String {
    let mut text = format!("?q={}&sort={}", encode(q), sort.name());
    if let Some(owner) = owner {
        text.push_str("&owner=");
        text.push_str(&encode(owner));
    }
    text
}

/// Every link of `owner` matching `q`, newest first, up to [`SORT_LIMIT`]; and whether there
/// were more.
async fn everything(
    state: &AppState,
    owner: &str,
    q: &str,
) -> Result<(Vec<UrlRecord>, bool), PageError> {
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = state
            .urls
            .links_of(
                owner,
                LinkQuery {
                    q: q.to_owned(),
                    limit: 100,
                    after,
                },
            )
            .await?;
        all.extend(page.links);
        if all.len() >= SORT_LIMIT {
            all.truncate(SORT_LIMIT);
            return Ok((all, page.next.is_some()));
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok((all, false)),
        }
    }
}

/// The rows of `records`, with each destination's health read alongside.
async fn rows(state: &AppState, records: Vec<UrlRecord>) -> Vec<Row> {
    let now = state.urls.clock().now();
    let health = join_all(records.iter().map(|r| async {
        let Some(service) = &state.link_health else {
            return "";
        };
        match service.store().link_health(&r.short_code).await {
            Ok(Some(record)) => match record.state.status() {
                LinkHealthStatus::Broken => "broken",
                LinkHealthStatus::Failing => "failing",
                _ => "",
            },
            // A badge is not worth failing the page for.
            _ => "",
        }
    }))
    .await;
    records
        .into_iter()
        .zip(health)
        .map(|(r, health)| Row {
            short_url: state.web.short_url(&r.short_code),
            code: r.short_code.to_string(),
            href: safe_href(r.long_url.as_str()),
            long_url: r.long_url.to_string(),
            created: when(r.created_at),
            clicks: r.click_count,
            expired: r.has_expired_at(now),
            disabled: r.disabled_at.is_some(),
            health,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hostile_destination_and_search_render_inert() {
        let hostile = "https://example.com/\"><script>alert(1)</script>";
        let page = LinksPage {
            layout: Layout::new("My links", None, "links"),
            heading: "My links".to_owned(),
            q: "\"><script>alert(2)</script>".to_owned(),
            sort: "newest",
            owner: None,
            rows: vec![
                Row {
                    code: "abc".to_owned(),
                    short_url: "https://sho.rt/s/abc".to_owned(),
                    long_url: hostile.to_owned(),
                    href: safe_href(hostile),
                    created: String::new(),
                    clicks: 0,
                    expired: false,
                    disabled: true,
                    health: "",
                },
                Row {
                    code: "def".to_owned(),
                    short_url: "https://sho.rt/s/def".to_owned(),
                    long_url: "javascript:alert(3)".to_owned(),
                    href: safe_href("javascript:alert(3)"),
                    created: String::new(),
                    clicks: 0,
                    expired: true,
                    disabled: false,
                    health: "broken",
                },
            ],
            next: None,
            previous: None,
            truncated: false,
        };
        let html = page.render().unwrap();
        for raw in ["<script>alert(1)", "<script>alert(2)", "href=\"javascript:"] {
            assert!(!html.contains(raw), "{raw} in {html}");
        }
        assert!(html.contains("&#60;script&#62;alert(1)"), "{html}");
        assert!(html.contains("javascript:alert(3)"), "shown as text");
        assert!(html.contains("broken destination") && html.contains("expired"));
        assert!(html.contains("badge disabled"));
    }
}
