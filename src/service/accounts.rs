//! `AccountService`: users, passwords, sessions and invites (DESIGN §8). Password hashing runs
//! on tokio's blocking pool, never on the async workers, within the process's [`HashGate`]; every login path that fails verifies
//! a password against some hash, so an unknown user, a wrong password and a disabled account
//! cost the same time and get the same answer.

mod admin;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::domain::{
    AccountEdit, ApiKeyRecord, Clock, DisplayName, Invite, Password, PasswordHash, Role, Session,
    SessionLifetime, Timestamp, Token, TokenKey, User, Username, random_base62,
};
use crate::repository::{
    AccountEdited, InviteStore, PasswordSet, RepoError, SessionStore, UserStore,
};

use super::{HashGate, ServiceError};

/// A session's `last_seen_at` is written at most this often, so browsing does not turn every
/// page into a store write; shorter idle timeouts write it every tenth of the timeout, so a
/// session in use never ends more than a tenth of its idle timeout early.
const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// How long "there is no administrator" is believed before users are listed again: the delay
/// before an operator's key made before accounts starts acting for a new first administrator.
const FIRST_ADMIN_RECHECK: Duration = Duration::from_secs(60);

/// Characters of a user's public id (base62, ~95 bits).
const USER_ID_CHARS: usize = 16;

/// A random password nobody knows: what the dummy hash is made from, and what a malformed
/// password is verified as (so it costs one verification, and matches nothing).
fn unguessable_password() -> Password {
    Password::parse(&random_base62(32)).expect("32 characters is a valid password length")
}

/// Account use cases over the three account stores.
pub struct AccountService {
    users: Arc<dyn UserStore>,
    sessions: Arc<dyn SessionStore>,
    invites: Arc<dyn InviteStore>,
    clock: Arc<dyn Clock>,
    lifetime: SessionLifetime,
    invite_ttl: Duration,
    /// Verified against when no account matches a login, so that the miss costs as long as a
    /// wrong password. Made on first use (it costs one hash).
    dummy: OnceLock<PasswordHash>,
    /// The process-wide bound on password hashing, shared with every other hashing path.
    hashing: Arc<HashGate>,
    /// What [`Self::first_admin`] last found, and when.
    first_admin: Mutex<Option<(Timestamp, Option<String>)>>,
    /// The key of the first-run setup token while one is open (see [`Self::open_setup`]); the
    /// async lock also keeps two setups from both creating "the first" administrator.
    setup: tokio::sync::Mutex<Option<TokenKey>>,
}

impl AccountService {
    /// Wires a service; sessions live for `lifetime`, invites for `invite_ttl`; every hash and
    /// verification passes through `hashing`.
    pub fn new(
        users: Arc<dyn UserStore>,
        sessions: Arc<dyn SessionStore>,
        invites: Arc<dyn InviteStore>,
        clock: Arc<dyn Clock>,
        lifetime: SessionLifetime,
        invite_ttl: Duration,
        hashing: Arc<HashGate>,
    ) -> Self {
        Self {
            hashing,
            users,
            sessions,
            invites,
            clock,
            lifetime,
            invite_ttl,
            dummy: OnceLock::new(),
            first_admin: Mutex::new(None),
            setup: tokio::sync::Mutex::new(None),
        }
    }

    /// How long sessions live.
    pub fn session_lifetime(&self) -> SessionLifetime {
        self.lifetime
    }

    /// Makes the dummy hash now, so that not even the first failed login after a start costs
    /// more than the others (it would otherwise pay for making it).
    ///
    /// # Errors
    /// [`ServiceError::Internal`] when hashing fails.
    pub async fn prepare(&self) -> Result<(), ServiceError> {
        self.dummy_hash().await.map(|_| ())
    }

    /// Hashes off the async workers, within the process's bound.
    async fn hash(&self, password: Password) -> Result<PasswordHash, ServiceError> {
        self.hashing.run(move || PasswordHash::new(&password)).await
    }

    /// Verifies off the async workers, within the process's bound.
    async fn verify(&self, hash: PasswordHash, password: Password) -> Result<bool, ServiceError> {
        self.hashing.run(move || hash.verify(&password)).await
    }

    async fn dummy_hash(&self) -> Result<PasswordHash, ServiceError> {
        if let Some(dummy) = self.dummy.get() {
            return Ok(dummy.clone());
        }
        let made = self.hash(unguessable_password()).await?;
        Ok(self.dummy.get_or_init(|| made).clone())
    }

    /// Creates an account.
    ///
    /// # Errors
    /// [`ServiceError::Account`] for a bad user name, password or display name;
    /// [`ServiceError::UsernameTaken`]; [`ServiceError::Storage`].
    pub async fn create_user(
        &self,
        username: &str,
        password: &str,
        display_name: Option<&str>,
        role: Role,
    ) -> Result<User, ServiceError> {
        let username = Username::parse(username)?;
        let password = Password::parse(password)?;
        let display_name = DisplayName::parse(display_name.unwrap_or_default())?;
        let user = User {
            id: random_base62(USER_ID_CHARS),
            username,
            display_name,
            password_hash: self.hash(password).await?,
            role,
            created_at: self.clock.now(),
            disabled_at: None,
        };
        match self.users.insert_user(&user).await {
            Ok(()) => Ok(user),
            Err(RepoError::Conflict) => Err(ServiceError::UsernameTaken),
            Err(e) => Err(e.into()),
        }
    }

    /// Checks a user name and password and opens a session: the token for the cookie and the
    /// user. A new token every time (no session fixation).
    ///
    /// # Errors
    /// [`ServiceError::InvalidCredentials`], the same for an unknown or malformed user name,
    /// a wrong or malformed password and a disabled account, after the same work;
    /// [`ServiceError::Storage`].
    pub async fn login(
        &self,
        username: &str,
        password: &str,
    ) -> Result<(Token, User), ServiceError> {
        let user = match Username::parse(username) {
            Ok(name) => self.users.find_user_by_name(&name).await?,
            Err(_) => None,
        };
        // A password of a length no account can have still costs one verification.
        let (typed, well_formed) = match Password::parse(password) {
            Ok(typed) => (typed, true),
            Err(_) => (unguessable_password(), false),
        };
        let (hash, user) = match user {
            Some(user) => (user.password_hash.clone(), Some(user)),
            None => (self.dummy_hash().await?, None),
        };
        let matches = self.verify(hash, typed).await?;
        let Some(user) = user.filter(|u| matches && well_formed && u.is_active()) else {
            return Err(ServiceError::InvalidCredentials);
        };
        let token = self.open_session(&user).await?;
        Ok((token, user))
    }

    /// Opens a new session for `user` (after a signup, say) and returns its token.
    ///
    /// # Errors
    /// [`ServiceError::Storage`].
    pub async fn open_session(&self, user: &User) -> Result<Token, ServiceError> {
        let now = self.clock.now();
        let token = Token::generate();
        let session = Session {
            key: token.key(),
            user_id: user.id.clone(),
            created_at: now,
            last_seen_at: now,
        };
        self.sessions
            .insert_session(&session, session.expires_at(self.lifetime))
            .await?;
        Ok(token)
    }

    /// The live session a cookie's token names and its (active) user; `None` for an unknown,
    /// expired or ended session and for a disabled account. Refreshes `last_seen_at` at most
    /// once a minute.
    ///
    /// # Errors
    /// [`ServiceError::Storage`].
    pub async fn authenticate(
        &self,
        token: &Token,
    ) -> Result<Option<(Session, User)>, ServiceError> {
        let Some(session) = self.sessions.find_session(&token.key()).await? else {
            return Ok(None);
        };
        let now = self.clock.now();
        if !session.is_live(now, self.lifetime) {
            self.sessions.delete_session(&session.key).await?;
            return Ok(None);
        }
        let Some(user) = self.users.find_user(&session.user_id).await? else {
            return Ok(None);
        };
        if !user.is_active() {
            return Ok(None);
        }
        let touch_every = TOUCH_EVERY.min(self.lifetime.idle / 10);
        if now.millis_since(session.last_seen_at) >= touch_every.as_millis() as u64 {
            let touched = Session {
                last_seen_at: now,
                ..session.clone()
            };
            self.sessions
                .touch_session(&session.key, now, touched.expires_at(self.lifetime))
                .await?;
            return Ok(Some((touched, user)));
        }
        Ok(Some((session, user)))
    }

    /// Ends the session of `token` (logout); nothing when it is already gone.
    ///
    /// # Errors
    /// [`ServiceError::Storage`].
    pub async fn logout(&self, token: &Token) -> Result<(), ServiceError> {
        Ok(self.sessions.delete_session(&token.key()).await?)
    }

    /// Ends every session of `user` except `keep`; how many ended.
    ///
    /// # Errors
    /// [`ServiceError::Storage`].
    pub async fn end_sessions(
        &self,
        user: &User,
        keep: Option<&TokenKey>,
    ) -> Result<u64, ServiceError> {
        Ok(self.sessions.delete_user_sessions(&user.id, keep).await?)
    }

    /// Changes `user`'s password after checking `current`, and ends their other sessions
    /// (`keep` is the one making the change).
    ///
    /// # Errors
    /// [`ServiceError::InvalidCredentials`] when `current` is wrong; [`ServiceError::Account`]
    /// for a new password of the wrong length; [`ServiceError::Storage`].
    pub async fn change_password(
        &self,
        user: &User,
        keep: Option<&TokenKey>,
        current: &str,
        new: &str,
    ) -> Result<(), ServiceError> {
        let new = Password::parse(new)?;
        let current = Password::parse(current).map_err(|_| ServiceError::InvalidCredentials)?;
        if !self.verify(user.password_hash.clone(), current).await? {
            return Err(ServiceError::InvalidCredentials);
        }
        // Only if the stored hash is still the one just verified: a password an administrator
        // set meanwhile wins, and the stale current password no longer counts.
        self.store_password(user, new, Some(&user.password_hash), keep)
            .await
    }

    /// Writes `password`'s hash as `user`'s, and nothing else of the account (an
    /// administrator's edit meanwhile stays), then ends the user's other sessions: all of them
    /// when the account was disabled by then.
    async fn store_password(
        &self,
        user: &User,
        password: Password,
        expected: Option<&PasswordHash>,
        keep: Option<&TokenKey>,
    ) -> Result<(), ServiceError> {
        let hash = self.hash(password).await?;
        match self
            .users
            .set_password_hash(&user.id, &hash, expected)
            .await?
        {
            PasswordSet::Set(stored) => {
                let keep = keep.filter(|_| stored.is_active());
                self.end_sessions(&stored, keep).await?;
                Ok(())
            }
            PasswordSet::NoSuchUser => Err(ServiceError::NoSuchUser),
            PasswordSet::Changed => Err(ServiceError::InvalidCredentials),
        }
    }

    /// The user named `username`.
    ///
    /// # Errors
    /// [`ServiceError::NoSuchUser`] (also for a malformed name); [`ServiceError::Storage`].
    pub async fn user_named(&self, username: &str) -> Result<User, ServiceError> {
        let name = Username::parse(username).map_err(|_| ServiceError::NoSuchUser)?;
        self.users
            .find_user_by_name(&name)
            .await?
            .ok_or(ServiceError::NoSuchUser)
    }

    /// The user with the public id `id`, if any (disabled ones included).
    ///
    /// # Errors
    /// [`ServiceError::Storage`].
    pub async fn user_by_id(&self, id: &str) -> Result<Option<User>, ServiceError> {
        Ok(self.users.find_user(id).await?)
    }

    /// The active user an API key acts for: its owner, or for an operator's key without one
    /// (made before accounts existed) the first active administrator; `None` when that user
    /// is disabled or gone, or no administrator exists yet.
    ///
    /// # Errors
    /// [`ServiceError::Storage`].
    pub async fn key_owner(&self, key: &ApiKeyRecord) -> Result<Option<User>, ServiceError> {
        match &key.owner {
            Some(id) => Ok(self.users.find_user(id).await?.filter(User::is_active)),
            None => self.first_admin().await,
        }
    }
}
