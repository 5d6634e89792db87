//! The store traits of accounts: users, sessions and invites. Every backend implements them
//! beside its links, and passes the same conformance suite (`tests/conformance/accounts.rs`).
//! Sessions and invites are keyed by the SHA-256 of their token ([`TokenKey`]); no store ever
//! holds a token itself.

use async_trait::async_trait;

use super::RepoError;
use crate::domain::{
    AccountEdit, Invite, PasswordHash, Session, Timestamp, TokenKey, User, Username,
};

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

    /// Applies `edit` to the user with public id `id` as stored at the moment of the write,
    /// changing nothing else of the record. An edit that would leave no active administrator
    /// (it demotes or disables the last one) is refused in the same atomic step as the write:
    /// of concurrent edits on any number of instances, never all the administrators step down.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`] or [`RepoError::Corrupt`].
    async fn edit_account(&self, id: &str, edit: &AccountEdit) -> Result<AccountEdited, RepoError>;

    /// Replaces the password hash of the user with public id `id`, and nothing else of the
    /// record. With `expected`, only while the stored hash is still that one (the hash the
    /// caller verified the current password against): a password changed meanwhile wins.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`] or [`RepoError::Corrupt`].
    async fn set_password_hash(
        &self,
        id: &str,
        hash: &PasswordHash,
        expected: Option<&PasswordHash>,
    ) -> Result<PasswordSet, RepoError>;
}

/// What [`UserStore::edit_account`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountEdited {
    /// The edit was applied: the user as stored now.
    Edited(User),
    /// No user has that id.
    NoSuchUser,
    /// Refused: it would have left no active administrator.
    LastAdmin,
}

/// What [`UserStore::set_password_hash`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSet {
    /// The hash was replaced: the user as stored now (disabled, maybe, by an administrator
    /// meanwhile).
    Set(User),
    /// No user has that id.
    NoSuchUser,
    /// The stored hash is no longer the expected one: nothing was written.
    Changed,
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
