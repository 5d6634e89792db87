//! `/keys`: the user's API keys: create one (its secret shown once, with a copy button), see
//! each key's last use, revoke. The secret is answered in the creating response only: never
//! stored in a form, a redirect or a log.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::Done;
use crate::domain::User;
use crate::http::middleware::spend;
use crate::http::page::error::PageError;
use crate::http::page::render::{Hx, Layout, page, respond, see_other};
use crate::limiter::{Budget, ClientId};
use crate::service::ServiceError;
use crate::state::AppState;
use crate::web::forms::{Field, when, when_or};
use crate::web::session::{Member, own_origin};

/// One key in the list.
pub(crate) struct KeyRow {
    id: String,
    name: String,
    created: String,
    last_used: String,
    revoked: Option<String>,
}

/// A key just created.
pub(crate) struct NewKey {
    name: String,
    secret: String,
}

#[derive(Template)]
#[template(path = "keys.html", blocks = ["page"])]
pub(crate) struct KeysPage {
    layout: Layout,
    name: Field,
    created: Option<NewKey>,
    keys: Vec<KeyRow>,
}

page!(KeysPage);

async fn keys_page(state: &AppState, user: &User) -> Result<KeysPage, PageError> {
    let mut records = state.guards.keys.list_for(&user.id).await?;
    // Newest first: the key made a moment ago is at the top.
    records.reverse();
    Ok(KeysPage {
        layout: Layout::new("API keys", Some(user), "keys"),
        name: Field::default(),
        created: None,
        keys: records
            .iter()
            .map(|k| KeyRow {
                id: k.id.clone(),
                name: k.name.clone(),
                created: when(k.created_at),
                last_used: when_or(k.last_used_at, "never"),
                revoked: k.revoked_at.map(when),
            })
            .collect(),
    })
}

/// `GET /keys`.
pub(crate) async fn show(
    State(state): State<AppState>,
    member: Member,
    hx: Hx,
    done: Done,
) -> Result<Response, PageError> {
    let mut page = keys_page(&state, &member.user).await?;
    page.layout = page.layout.with_notice(done.0);
    Ok(respond(&hx, StatusCode::OK, page))
}

/// The new-key form as sent.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct KeyForm {
    #[serde(default)]
    name: String,
}

/// `POST /keys`: the page again, with the new key's secret shown this once.
pub(crate) async fn create(
    State(state): State<AppState>,
    member: Member,
    hx: Hx,
    headers: HeaderMap,
    Form(form): Form<KeyForm>,
) -> Result<Response, PageError> {
    own_origin(&headers, &state)?;
    spend(
        &state.guards,
        Budget::KeyCreate,
        &ClientId::user(&member.user.id),
    )
    .await
    .map_err(PageError::from)?;
    match state
        .guards
        .keys
        .create(&form.name, Some(&member.user.id))
        .await
    {
        Ok((secret, record)) => {
            tracing::info!(key = %record.id, user = %member.user.username, "API key created from the web form");
            let mut page = keys_page(&state, &member.user).await?;
            page.created = Some(NewKey {
                name: record.name,
                secret: secret.expose().to_owned(),
            });
            // Answered directly (no redirect): the secret must not travel in a URL.
            Ok(respond(&hx, StatusCode::CREATED, page))
        }
        Err(error @ ServiceError::TooManyKeys(_)) => {
            let mut page = keys_page(&state, &member.user).await?;
            page.name = Field::of(form.name.trim());
            page.name.fail(capitalized(&error.to_string()));
            Ok(respond(&hx, StatusCode::CONFLICT, page))
        }
        Err(ServiceError::InvalidKeyName(max)) => {
            let mut page = keys_page(&state, &member.user).await?;
            page.name = Field::of(form.name.trim());
            page.name
                .fail(format!("A name is 1 to {max} printable characters."));
            Ok(respond(&hx, StatusCode::UNPROCESSABLE_ENTITY, page))
        }
        Err(error) => Err(error.into()),
    }
}

/// `POST /keys/{id}/revoke`.
pub(crate) async fn revoke(
    State(state): State<AppState>,
    member: Member,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    own_origin(&headers, &state)?;
    if !state.guards.keys.revoke_own(&member.user.id, &id).await? {
        return Err(PageError::NotFound);
    }
    tracing::info!(key = %id, user = %member.user.username, "API key revoked from the web form");
    Ok(see_other("/keys?done=revoked"))
}

/// `text` with its first letter upper-case, for a message that starts a sentence.
fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}
