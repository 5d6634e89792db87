//! `/`: the create form and, after a create, the short URL with a copy button and a QR code.
//! Anonymous visitors create only where `auth.anonymous_create` allows it; the link then
//! belongs to nobody. With htmx the form swaps its own block (`#create`) in place.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use crate::domain::{Alias, LongUrl, ShortCode, UrlRecord};
use crate::http::middleware::spend;
use crate::http::page::error::PageError;
use crate::http::page::render::{Hx, Layout, page, respond, see_other};
use crate::http::{ApiError, Client};
use crate::limiter::{Budget, ClientId};
use crate::service::{NewLink, ServiceError};
use crate::state::AppState;
use crate::web::forms::{ExpiryOption, Field, expiry_options, safe_href, when_or};
use crate::web::session::{Viewer, not_cross_site, own_origin};
use crate::web::{qr, session};

/// The create form as sent.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct CreateForm {
    #[serde(default)]
    url: String,
    #[serde(default)]
    alias: String,
    #[serde(default)]
    expires: String,
}

/// A link just made, as the result shows it.
pub(crate) struct Created {
    code: String,
    short_url: String,
    long_url: String,
    href: Option<String>,
    expires: String,
    qr: Option<String>,
    owned: bool,
}

impl Created {
    fn of(state: &AppState, record: &UrlRecord, owned: bool) -> Self {
        let short_url = state.web.short_url(&record.short_code);
        Self {
            code: record.short_code.to_string(),
            qr: qr::svg_of(&short_url),
            short_url,
            long_url: record.long_url.to_string(),
            href: safe_href(record.long_url.as_str()),
            expires: when_or(record.expires_at, "never"),
            owned,
        }
    }
}

#[derive(Template)]
#[template(path = "home.html", blocks = ["page", "create"])]
pub(crate) struct HomePage {
    layout: Layout,
    can_create: bool,
    needs_setup: bool,
    url: Field,
    alias: Field,
    expires: Field,
    expiry_options: Vec<ExpiryOption>,
    created: Option<Created>,
}

page!(HomePage, "create" => as_create);

impl HomePage {
    async fn new(state: &AppState, viewer: &Viewer) -> Result<Self, PageError> {
        let links = state.urls.link_policy();
        Ok(Self {
            layout: Layout::new("Shorten a link", viewer.user.as_ref(), "home"),
            can_create: viewer.user.is_some() || state.guards.anonymous_create,
            needs_setup: viewer.user.is_none() && !state.accounts.has_admin().await?,
            url: Field::default(),
            alias: Field::default(),
            expires: Field::default(),
            expiry_options: expiry_options(links.default_ttl_seconds, links.max_ttl_seconds),
            created: None,
        })
    }
}

/// `?created=CODE`: the result after a create without htmx.
#[derive(Debug, Deserialize)]
pub(crate) struct HomeQuery {
    #[serde(default)]
    created: Option<String>,
}

/// `GET /`.
pub(crate) async fn show(
    State(state): State<AppState>,
    viewer: Viewer,
    hx: Hx,
    Query(query): Query<HomeQuery>,
) -> Result<Response, PageError> {
    let mut page = HomePage::new(&state, &viewer).await?;
    if let Some(code) = query
        .created
        .as_deref()
        .and_then(|c| ShortCode::parse(c).ok())
    {
        page.created = created_for(&state, &viewer, &code).await?;
    }
    Ok(respond(&hx, StatusCode::OK, page))
}

/// The result for `code` if the viewer may see it: their own link, or a link of nobody's
/// (which `/stats` shows to anyone); someone else's link shows nothing.
async fn created_for(
    state: &AppState,
    viewer: &Viewer,
    code: &ShortCode,
) -> Result<Option<Created>, PageError> {
    let record = match state.urls.stats(code).await {
        Ok(record) => record,
        Err(ServiceError::NotFound) => return Ok(None),
        Err(error) => return Err(error.into()),
    };
    let mine = match (&record.owner, &viewer.user) {
        (None, _) => false,
        (Some(owner), Some(user)) if *owner == user.id => true,
        _ => return Ok(None),
    };
    Ok(Some(Created::of(state, &record, mine)))
}

/// `POST /`: create a link from the form.
pub(crate) async fn create(
    State(state): State<AppState>,
    viewer: Viewer,
    hx: Hx,
    Client(client): Client,
    headers: HeaderMap,
    Form(form): Form<CreateForm>,
) -> Result<Response, PageError> {
    match &viewer.user {
        Some(_) => own_origin(&headers, &state)?,
        None => not_cross_site(&headers, &state)?,
    }
    let mut page = HomePage::new(&state, &viewer).await?;
    if !page.can_create {
        return Ok(see_other(&format!("/login?next={}", session::encode("/"))));
    }
    page.url = Field::of(form.url.trim());
    page.alias = Field::of(form.alias.trim());
    page.expires = Field::of(form.expires.trim());

    let long_url = if page.url.value.is_empty() {
        page.url.fail("Enter the long URL to shorten.");
        None
    } else {
        LongUrl::parse(&page.url.value, state.urls.url_policy())
            .map_err(|e| page.url.fail(url_message(&e.to_string())))
            .ok()
    };
    let alias = if page.alias.value.is_empty() {
        None
    } else {
        Alias::parse(&page.alias.value)
            .map_err(|e| page.alias.fail(e.to_string()))
            .ok()
    };
    let ttl_seconds = if page.expires.value.is_empty() {
        None
    } else {
        page.expires
            .value
            .parse::<u64>()
            .map_err(|_| page.expires.fail("Choose one of the offered lifetimes."))
            .ok()
    };
    let (Some(long_url), true) = (
        long_url,
        page.alias.error.is_none() && page.expires.error.is_none(),
    ) else {
        return Ok(respond(&hx, StatusCode::UNPROCESSABLE_ENTITY, page));
    };
    // A signed-in user's creates are charged to the user, as on the API.
    let client = viewer
        .user
        .as_ref()
        .map_or(client, |user| ClientId::user(&user.id));
    spend(&state.guards, Budget::Create, &client)
        .await
        .map_err(PageError::from)?;
    let owner = viewer.user.as_ref().map(|u| u.id.clone());
    let record = match state
        .urls
        .create(NewLink {
            long_url,
            ttl_seconds,
            alias,
            owner,
            // The form's redirect settings come with its "more options" (issue 31's UI step).
            routing: Default::default(),
        })
        .await
    {
        Ok(record) => record,
        Err(ServiceError::AliasTaken(_)) => {
            page.alias.fail("This alias is taken; choose another.");
            return Ok(respond(&hx, StatusCode::UNPROCESSABLE_ENTITY, page));
        }
        Err(error @ ServiceError::InvalidTtl { .. }) => {
            page.expires.fail(error.to_string());
            return Ok(respond(&hx, StatusCode::UNPROCESSABLE_ENTITY, page));
        }
        Err(error) => return Err(ApiError::from(error).into()),
    };
    tracing::info!(code = %record.short_code, "link created from the web form");
    if hx.request && hx.target.as_deref() == Some("create") {
        page.url = Field::default();
        page.alias = Field::default();
        page.expires = Field::default();
        page.created = Some(Created::of(&state, &record, viewer.user.is_some()));
        return Ok(respond(&hx, StatusCode::OK, page));
    }
    Ok(see_other(&format!("/?created={}", record.short_code)))
}

/// The URL rules' message, as a sentence for a person.
fn url_message(detail: &str) -> String {
    let mut message = String::with_capacity(detail.len() + 1);
    let mut chars = detail.chars();
    if let Some(first) = chars.next() {
        message.extend(first.to_uppercase());
        message.push_str(chars.as_str());
    }
    if !message.ends_with('.') {
        message.push('.');
    }
    message
}
