//! Getting in and out: `/login`, `/logout`, first-run `/setup`, `/invite/{token}` and (where
//! `accounts.signup = "open"`) `/signup`. Errors never tell an unknown user from a wrong
//! password; a new session id at every login; the next page only ever on this site.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;

use super::Done;
use crate::config::Signup;
use crate::domain::{AccountInputError, Role, Token, User, Username};
use crate::http::middleware::{give_back, spend};
use crate::http::page::error::PageError;
use crate::http::page::render::{Hx, Layout, page, respond, see_other};
use crate::http::{ApiError, Client, cleared_session_cookie, session_cookie, session_token};
use crate::limiter::{Budget, ClientId};
use crate::service::ServiceError;
use crate::state::AppState;
use crate::web::forms::Field;
use crate::web::session::{Viewer, not_cross_site, own_origin, safe_next};

#[derive(Template)]
#[template(path = "login.html", blocks = ["page"])]
pub(crate) struct LoginPage {
    layout: Layout,
    username: Field,
    password: Field,
    next: String,
    problem: Option<String>,
    can_sign_up: bool,
}

page!(LoginPage);

/// `?next=` on the login page.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct NextQuery {
    #[serde(default)]
    next: Option<String>,
}

/// The login form as sent. No `Debug`: it holds a password.
#[derive(Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

fn login_page(state: &AppState, next: &str) -> LoginPage {
    LoginPage {
        layout: Layout::new("Log in", None, "login"),
        username: Field::default(),
        password: Field::default(),
        next: safe_next(next).unwrap_or_default().to_owned(),
        problem: None,
        can_sign_up: state.signup == Signup::Open,
    }
}

/// `GET /login`; a signed-in visitor goes straight on.
pub(crate) async fn login_form(
    State(state): State<AppState>,
    viewer: Viewer,
    hx: Hx,
    done: Done,
    Query(query): Query<NextQuery>,
) -> Response {
    let next = query.next.unwrap_or_default();
    if viewer.user.is_some() {
        return see_other(safe_next(&next).unwrap_or("/links"));
    }
    let mut page = login_page(&state, &next);
    page.layout = page.layout.with_notice(done.0);
    respond(&hx, StatusCode::OK, page)
}

/// `POST /login`.
pub(crate) async fn login(
    State(state): State<AppState>,
    hx: Hx,
    Client(client): Client,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, PageError> {
    not_cross_site(&headers, &state)?;
    let mut page = login_page(&state, &form.next);
    page.username = Field::of(form.username.trim());
    if let Err(refused) = spend(&state.guards, Budget::Login, &client).await {
        return too_many(&hx, page, refused);
    }
    let account = Username::parse(&form.username)
        .ok()
        .map(|name| ClientId::Account(name.to_string()));
    if let Some(account) = &account
        && let Err(refused) = spend(&state.guards, Budget::AccountLogin, account).await
    {
        return too_many(&hx, page, refused);
    }
    let (token, user) = match state.accounts.login(&form.username, &form.password).await {
        Ok(pair) => pair,
        Err(ServiceError::InvalidCredentials) => {
            page.problem = Some("The user name or password is wrong.".to_owned());
            return Ok(respond(&hx, StatusCode::UNPROCESSABLE_ENTITY, page));
        }
        Err(error) => return Err(error.into()),
    };
    if let Some(account) = &account {
        give_back(&state.guards, Budget::AccountLogin, account).await;
    }
    // A session the browser held before is ended: the new one replaces it (no fixation).
    if let Some(old) = session_token(&headers, &state.web) {
        state.accounts.logout(&old).await?;
    }
    tracing::info!(user = %user.username, "logged in from the web form");
    Ok(signed_in(
        &state,
        &token,
        safe_next(&form.next).unwrap_or("/links"),
    ))
}

/// The login form again, saying to wait.
fn too_many(hx: &Hx, mut page: LoginPage, refused: ApiError) -> Result<Response, PageError> {
    let ApiError::RateLimited(limits) = refused else {
        return Err(refused.into());
    };
    let wait = limits.retry_after_secs();
    page.problem = Some(format!(
        "Too many attempts. Wait {wait} second{} and try again.",
        if wait == 1 { "" } else { "s" }
    ));
    let mut response = respond(hx, StatusCode::TOO_MANY_REQUESTS, page);
    limits.apply(response.headers_mut());
    Ok(response)
}

/// A 303 to `next` that sets the session cookie.
fn signed_in(state: &AppState, token: &Token, next: &str) -> Response {
    let mut response = see_other(next);
    let max_age = state.accounts.session_lifetime().absolute.as_secs();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(&state.web, token, max_age),
    );
    response
}

/// `POST /logout`: ends this session, removes the cookie, back to the login page.
pub(crate) async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    if let Some(token) = session_token(&headers, &state.web) {
        own_origin(&headers, &state)?;
        state.accounts.logout(&token).await?;
    }
    let mut response = see_other("/login?done=logged-out");
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cleared_session_cookie(&state.web));
    Ok(response)
}

/// The form that makes an account: first-run setup, an invite, or open signup.
#[derive(Template)]
#[template(path = "signup.html", blocks = ["page"])]
pub(crate) struct SignupPage {
    layout: Layout,
    /// Where the form posts.
    action: String,
    /// What the page says above the form.
    intro: &'static str,
    /// The setup token (first run only), carried in a hidden field.
    token: Option<String>,
    username: Field,
    display_name: Field,
    password: Field,
    password2: Field,
    problem: Option<String>,
    button: &'static str,
}

page!(SignupPage);

/// The account form as sent. No `Debug`: it holds passwords.
#[derive(Deserialize)]
pub(crate) struct SignupForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password2: String,
}

/// What kind of account form.
#[derive(Clone, Copy)]
enum Kind {
    Setup,
    Invite,
    Open,
}

fn signup_page(kind: Kind, action: String, token: Option<String>) -> SignupPage {
    let (title, intro, button) = match kind {
        Kind::Setup => (
            "Set up url-shortener",
            "No administrator exists yet. Create the first one: it can then create users and \
             invite people.",
            "Create the administrator",
        ),
        Kind::Invite => (
            "Accept your invite",
            "You were invited to this url-shortener. Choose a user name and a password.",
            "Create my account",
        ),
        Kind::Open => (
            "Create an account",
            "Choose a user name and a password.",
            "Create my account",
        ),
    };
    SignupPage {
        layout: Layout::new(title, None, ""),
        action,
        intro,
        token,
        username: Field::default(),
        display_name: Field::default(),
        password: Field::default(),
        password2: Field::default(),
        problem: None,
        button,
    }
}

/// Fills the page from the form and checks what needs no store: the two passwords agree.
fn take(page: &mut SignupPage, form: &SignupForm) -> bool {
    page.username = Field::of(form.username.trim());
    page.display_name = Field::of(form.display_name.trim());
    if form.password != form.password2 {
        page.password2.fail("The two passwords differ.");
        return false;
    }
    true
}

/// Puts an account rule's message under its field; `Err` for anything else.
fn place(page: &mut SignupPage, error: ServiceError) -> Result<(), PageError> {
    match error {
        ServiceError::Account(AccountInputError::InvalidUsername) => page
            .username
            .fail("A user name is 3 to 64 of a–z, 0–9, '.', '_' and '-'."),
        ServiceError::Account(AccountInputError::WeakPassword) => page
            .password
            .fail("A password is 12 to 256 characters long."),
        ServiceError::Account(AccountInputError::InvalidDisplayName) => page
            .display_name
            .fail("A display name is at most 100 characters, without control characters."),
        ServiceError::UsernameTaken => page
            .username
            .fail("This user name is taken; choose another."),
        ServiceError::InvalidInvite => {
            page.problem =
                Some("This invite is not valid: it is unknown, used or expired.".to_owned());
        }
        ServiceError::InvalidSetupToken => {
            page.problem = Some(
                "This setup link is not valid. Use the newest setup link from the server's log."
                    .to_owned(),
            );
        }
        other => return Err(other.into()),
    }
    Ok(())
}

/// `GET /setup?token=…`: the first administrator's form, while none exists.
pub(crate) async fn setup_form(
    State(state): State<AppState>,
    hx: Hx,
    Query(query): Query<TokenQuery>,
) -> Result<Response, PageError> {
    if state.accounts.has_admin().await? {
        return Ok(see_other("/login?done=setup-done"));
    }
    let page = signup_page(Kind::Setup, "/setup".to_owned(), query.token);
    Ok(respond(&hx, StatusCode::OK, page))
}

/// `?token=` of the setup link.
#[derive(Default, Deserialize)]
pub(crate) struct TokenQuery {
    #[serde(default)]
    token: Option<String>,
}

/// `POST /setup`.
pub(crate) async fn setup(
    State(state): State<AppState>,
    hx: Hx,
    Client(client): Client,
    headers: HeaderMap,
    Form(form): Form<SignupForm>,
) -> Result<Response, PageError> {
    not_cross_site(&headers, &state)?;
    spend(&state.guards, Budget::Login, &client).await?;
    let mut page = signup_page(Kind::Setup, "/setup".to_owned(), Some(form.token.clone()));
    if !take(&mut page, &form) {
        return Ok(respond(&hx, StatusCode::UNPROCESSABLE_ENTITY, page));
    }
    let display = Some(page.display_name.value.as_str()).filter(|d| !d.is_empty());
    match state
        .accounts
        .complete_setup(&form.token, &page.username.value, &form.password, display)
        .await
    {
        Ok(user) => {
            tracing::info!(user = %user.username, "first administrator created from the web form");
            welcome(&state, &user, "/admin?done=welcome").await
        }
        Err(ServiceError::SetupDone) => Ok(see_other("/login?done=setup-done")),
        Err(error) => {
            place(&mut page, error)?;
            Ok(respond(&hx, StatusCode::UNPROCESSABLE_ENTITY, page))
        }
    }
}

/// Opens a session for a new account and goes to `next`.
async fn welcome(state: &AppState, user: &User, next: &str) -> Result<Response, PageError> {
    let token = state.accounts.open_session(user).await?;
    Ok(signed_in(state, &token, next))
}

/// `GET /invite/{token}`.
pub(crate) async fn invite_form(
    State(state): State<AppState>,
    hx: Hx,
    Path(token): Path<String>,
) -> Result<Response, PageError> {
    if state.signup == Signup::Closed {
        return Err(PageError::NotFound);
    }
    let action = invite_action(&token)?;
    Ok(respond(
        &hx,
        StatusCode::OK,
        signup_page(Kind::Invite, action, None),
    ))
}

/// The form's own address: `/invite/{token}` for a token of the right shape.
fn invite_action(token: &str) -> Result<String, PageError> {
    let token = Token::parse(token).ok_or(PageError::NotFound)?;
    Ok(format!("/invite/{}", token.expose()))
}

/// `POST /invite/{token}`.
pub(crate) async fn accept_invite(
    State(state): State<AppState>,
    hx: Hx,
    Client(client): Client,
    headers: HeaderMap,
    Path(token): Path<String>,
    Form(form): Form<SignupForm>,
) -> Result<Response, PageError> {
    if state.signup == Signup::Closed {
        return Err(PageError::NotFound);
    }
    not_cross_site(&headers, &state)?;
    spend(&state.guards, Budget::Login, &client).await?;
    let action = invite_action(&token)?;
    let token = Token::parse(&token).ok_or(PageError::NotFound)?;
    let mut page = signup_page(Kind::Invite, action, None);
    if !take(&mut page, &form) {
        return Ok(respond(&hx, StatusCode::UNPROCESSABLE_ENTITY, page));
    }
    let display = Some(page.display_name.value.as_str()).filter(|d| !d.is_empty());
    match state
        .accounts
        .accept_invite(&token, &page.username.value, &form.password, display)
        .await
    {
        Ok(user) => {
            tracing::info!(user = %user.username, "signed up with an invite from the web form");
            welcome(&state, &user, "/links?done=welcome").await
        }
        Err(error) => {
            place(&mut page, error)?;
            Ok(respond(&hx, StatusCode::UNPROCESSABLE_ENTITY, page))
        }
    }
}

/// `GET /signup`, where anyone may sign up.
pub(crate) async fn signup_form(
    State(state): State<AppState>,
    hx: Hx,
) -> Result<Response, PageError> {
    if state.signup != Signup::Open {
        return Err(PageError::NotFound);
    }
    Ok(respond(
        &hx,
        StatusCode::OK,
        signup_page(Kind::Open, "/signup".to_owned(), None),
    ))
}

/// `POST /signup`.
pub(crate) async fn signup(
    State(state): State<AppState>,
    hx: Hx,
    Client(client): Client,
    headers: HeaderMap,
    Form(form): Form<SignupForm>,
) -> Result<Response, PageError> {
    if state.signup != Signup::Open {
        return Err(PageError::NotFound);
    }
    not_cross_site(&headers, &state)?;
    spend(&state.guards, Budget::Login, &client).await?;
    let mut page = signup_page(Kind::Open, "/signup".to_owned(), None);
    if !take(&mut page, &form) {
        return Ok(respond(&hx, StatusCode::UNPROCESSABLE_ENTITY, page));
    }
    let display = Some(page.display_name.value.as_str()).filter(|d| !d.is_empty());
    match state
        .accounts
        .create_user(&page.username.value, &form.password, display, Role::User)
        .await
    {
        Ok(user) => {
            tracing::info!(user = %user.username, "signed up from the web form");
            welcome(&state, &user, "/links?done=welcome").await
        }
        Err(error) => {
            place(&mut page, error)?;
            Ok(respond(&hx, StatusCode::UNPROCESSABLE_ENTITY, page))
        }
    }
}
