//! Users, sessions and invites of the memory store: plain maps under one lock each. Accounts are
//! few and their operations rare next to redirects, so no sharding.

use std::collections::HashMap;
use std::sync::RwLock;

use async_trait::async_trait;

use super::{MemoryRepository, read, write};
use crate::domain::{
    AccountEdit, Invite, PasswordHash, Session, Timestamp, TokenKey, User, Username,
};
use crate::repository::{
    AccountEdited, InviteStore, PasswordSet, RepoError, SessionStore, UserStore,
};

/// The account state of a [`MemoryRepository`].
#[derive(Default)]
pub(super) struct Accounts {
    /// In creation order, for listing.
    users: RwLock<Vec<User>>,
    /// With each session's storage expiry.
    sessions: RwLock<HashMap<TokenKey, (Session, Timestamp)>>,
    invites: RwLock<Vec<Invite>>,
}

#[async_trait]
impl UserStore for MemoryRepository {
    async fn insert_user(&self, user: &User) -> Result<(), RepoError> {
        let mut users = write(&self.accounts.users);
        if users
            .iter()
            .any(|u| u.id == user.id || u.username == user.username)
        {
            return Err(RepoError::Conflict);
        }
        users.push(user.clone());
        Ok(())
    }

    async fn find_user(&self, id: &str) -> Result<Option<User>, RepoError> {
        Ok(read(&self.accounts.users)
            .iter()
            .find(|u| u.id == id)
            .cloned())
    }

    async fn find_user_by_name(&self, username: &Username) -> Result<Option<User>, RepoError> {
        Ok(read(&self.accounts.users)
            .iter()
            .find(|u| &u.username == username)
            .cloned())
    }

    async fn list_users(&self) -> Result<Vec<User>, RepoError> {
        Ok(read(&self.accounts.users).clone())
    }

    async fn edit_account(&self, id: &str, edit: &AccountEdit) -> Result<AccountEdited, RepoError> {
        // One write lock over the check and the write: the store's own atomic step.
        let mut users = write(&self.accounts.users);
        let Some(index) = users.iter().position(|u| u.id == id) else {
            return Ok(AccountEdited::NoSuchUser);
        };
        if edit.steps_down(&users[index])
            && !users.iter().any(|u| u.id != id && u.is_active_admin())
        {
            return Ok(AccountEdited::LastAdmin);
        }
        let edited = edit.apply(&users[index]);
        users[index] = edited.clone();
        Ok(AccountEdited::Edited(edited))
    }

    async fn set_password_hash(
        &self,
        id: &str,
        hash: &PasswordHash,
        expected: Option<&PasswordHash>,
    ) -> Result<PasswordSet, RepoError> {
        let mut users = write(&self.accounts.users);
        let Some(stored) = users.iter_mut().find(|u| u.id == id) else {
            return Ok(PasswordSet::NoSuchUser);
        };
        if expected.is_some_and(|e| e.as_phc() != stored.password_hash.as_phc()) {
            return Ok(PasswordSet::Changed);
        }
        stored.password_hash = hash.clone();
        Ok(PasswordSet::Set(stored.clone()))
    }
}

#[async_trait]
impl SessionStore for MemoryRepository {
    async fn insert_session(
        &self,
        session: &Session,
        expires_at: Timestamp,
    ) -> Result<(), RepoError> {
        let mut sessions = write(&self.accounts.sessions);
        if sessions.contains_key(&session.key) {
            return Err(RepoError::Conflict);
        }
        sessions.insert(session.key.clone(), (session.clone(), expires_at));
        Ok(())
    }

    async fn find_session(&self, key: &TokenKey) -> Result<Option<Session>, RepoError> {
        Ok(read(&self.accounts.sessions)
            .get(key)
            .map(|(s, _)| s.clone()))
    }

    async fn touch_session(
        &self,
        key: &TokenKey,
        at: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), RepoError> {
        if let Some((session, expiry)) = write(&self.accounts.sessions).get_mut(key) {
            session.last_seen_at = session.last_seen_at.max(at);
            *expiry = expires_at;
        }
        Ok(())
    }

    async fn delete_session(&self, key: &TokenKey) -> Result<(), RepoError> {
        write(&self.accounts.sessions).remove(key);
        Ok(())
    }

    async fn delete_user_sessions(
        &self,
        user_id: &str,
        keep: Option<&TokenKey>,
    ) -> Result<u64, RepoError> {
        let mut sessions = write(&self.accounts.sessions);
        let before = sessions.len();
        sessions.retain(|key, (s, _)| s.user_id != user_id || Some(key) == keep);
        Ok((before - sessions.len()) as u64)
    }

    async fn delete_expired_sessions(
        &self,
        before: Timestamp,
        limit: usize,
    ) -> Result<u64, RepoError> {
        let mut sessions = write(&self.accounts.sessions);
        let expired: Vec<TokenKey> = sessions
            .iter()
            .filter(|(_, (_, expiry))| *expiry < before)
            .map(|(key, _)| key.clone())
            .take(limit)
            .collect();
        for key in &expired {
            sessions.remove(key);
        }
        Ok(expired.len() as u64)
    }
}

#[async_trait]
impl InviteStore for MemoryRepository {
    async fn insert_invite(&self, invite: &Invite) -> Result<(), RepoError> {
        let mut invites = write(&self.accounts.invites);
        if invites.iter().any(|i| i.key == invite.key) {
            return Err(RepoError::Conflict);
        }
        invites.push(invite.clone());
        Ok(())
    }

    async fn find_invite(&self, key: &TokenKey) -> Result<Option<Invite>, RepoError> {
        Ok(read(&self.accounts.invites)
            .iter()
            .find(|i| &i.key == key)
            .cloned())
    }

    async fn use_invite(&self, key: &TokenKey, at: Timestamp) -> Result<bool, RepoError> {
        let mut invites = write(&self.accounts.invites);
        match invites.iter_mut().find(|i| &i.key == key) {
            Some(invite) if invite.used_at.is_none() => {
                invite.used_at = Some(at);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn list_invites(&self) -> Result<Vec<Invite>, RepoError> {
        let mut invites = read(&self.accounts.invites).clone();
        invites.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.key.cmp(&b.key)));
        Ok(invites)
    }
}
