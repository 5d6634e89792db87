//! The store traits of accounts: users, sessions and invites. Every backend implements them
//! beside its links, and passes the same conformance suite (`tests/account_conformance.rs`).
//! Sessions and invites are keyed by the SHA-256 of their token ([`TokenKey`]); no store ever
//! holds a token itself.

use async_trait::async_trait;

use super::RepoError;
use crate::domain::{Invite, Session, Timestamp, TokenKey, User, Username};

/// Persistence for user accounts.
#[async_trait]
pub trait UserStore: Send + Sync + 'static {
    /// Inserts `user` if neither its id nor its user name is taken, atomically.
    ///
    /// # Errors
    /// [`RepoError::Conflict`] when the user name (or id) exists; [`RepoError::Unavailable`].
    async fn insert_user(&self, user: &User) -> Result<(), RepoError>;

    /// The user with public id `id`.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`] or [`RepoError::Corrupt`].
    async fn find_user(&self, id: &str) -> Result<Option<User>, RepoError>;

    /// The user named `username` (names are stored lower-case, so this ignores case).
    ///
    /// # Errors
    /// [`RepoError::Unavailable`] or [`RepoError::Corrupt`].
    async fn find_user_by_name(&self, username: &Username) -> Result<Option<User>, RepoError>;

    /// Every user, oldest first. An admin's listing, not a hot path.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`] or [`RepoError::Corrupt`].
    async fn list_users(&self) -> Result<Vec<User>, RepoError>;

    /// Replaces the display name, password hash, role and disabled time of the user with
    /// `user.id` (its id, name and creation time never change); `false` when there is none.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`].
    async fn update_user(&self, user: &User) -> Result<bool, RepoError>;
}

/// Persistence for login sessions.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Stores a new session, which the store may forget after `expires_at`.
    ///
    /// # Errors
    /// [`RepoError::Conflict`] when the key exists (a 256-bit collision: never in practice);
    /// [`RepoError::Unavailable`].
    async fn insert_session(
        &self,
        session: &Session,
        expires_at: Timestamp,
    ) -> Result<(), RepoError>;

    /// The session with `key`, live or not: the service judges expiry with its clock.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`] or [`RepoError::Corrupt`].
    async fn find_session(&self, key: &TokenKey) -> Result<Option<Session>, RepoError>;

    /// Moves `last_seen_at` of the session forward to `at`, and its storage expiry to
    /// `expires_at`; nothing when the session is gone (it is never recreated).
    ///
    /// # Errors
    /// [`RepoError::Unavailable`].
    async fn touch_session(
        &self,
        key: &TokenKey,
        at: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), RepoError>;

    /// Ends one session; nothing when it is gone.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`].
    async fn delete_session(&self, key: &TokenKey) -> Result<(), RepoError>;

    /// Ends every session of `user_id` except `keep` (the one making the request, when it
    /// should survive); how many ended.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`].
    async fn delete_user_sessions(
        &self,
        user_id: &str,
        keep: Option<&TokenKey>,
    ) -> Result<u64, RepoError>;

    /// Removes up to `limit` sessions whose storage expiry is before `before`; how many.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`].
    async fn delete_expired_sessions(
        &self,
        before: Timestamp,
        limit: usize,
    ) -> Result<u64, RepoError>;
}

/// Persistence for one-time invites.
#[async_trait]
pub trait InviteStore: Send + Sync + 'static {
    /// Stores a new invite.
    ///
    /// # Errors
    /// [`RepoError::Conflict`] when the key exists; [`RepoError::Unavailable`].
    async fn insert_invite(&self, invite: &Invite) -> Result<(), RepoError>;

    /// The invite with `key`, open or not.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`] or [`RepoError::Corrupt`].
    async fn find_invite(&self, key: &TokenKey) -> Result<Option<Invite>, RepoError>;

    /// Marks the invite used at `at` if it is unused, atomically: of two concurrent calls,
    /// exactly one gets `true`.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`].
    async fn use_invite(&self, key: &TokenKey, at: Timestamp) -> Result<bool, RepoError>;

    /// Every invite, newest first.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`] or [`RepoError::Corrupt`].
    async fn list_invites(&self) -> Result<Vec<Invite>, RepoError>;
}
