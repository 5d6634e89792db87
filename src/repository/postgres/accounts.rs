//! Users, sessions and invites in PostgreSQL: the three tables of migration 3.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{PostgresRepository, from_pg, from_pg_opt, to_pg};
use crate::domain::{
    AccountEdit, DisplayName, Invite, PasswordHash, Role, Session, Timestamp, TokenKey, User,
    Username,
};
use crate::repository::{
    AccountEdited, InviteStore, PasswordSet, RepoError, SessionStore, UserStore,
};

fn corrupt(what: &str) -> RepoError {
    RepoError::Corrupt(format!("{what} in PostgreSQL"))
}

/// A `users` row as the queries select it.
struct UserRow {
    id: String,
    username: String,
    display_name: Option<String>,
    password_hash: String,
    role: String,
    created_at: OffsetDateTime,
    disabled_at: Option<OffsetDateTime>,
}

impl UserRow {
    fn into_user(self) -> Result<User, RepoError> {
        Ok(User {
            username: Username::parse(&self.username).map_err(|_| corrupt("a user name"))?,
            display_name: match self.display_name {
                Some(name) => DisplayName::parse(&name).map_err(|_| corrupt("a display name"))?,
                None => None,
            },
            password_hash: PasswordHash::from_phc(self.password_hash),
            role: Role::parse(&self.role).ok_or_else(|| corrupt("a role"))?,
            created_at: from_pg(self.created_at, "a user's created_at")?,
            disabled_at: from_pg_opt(self.disabled_at, "a user's disabled_at")?,
            id: self.id,
        })
    }
}

/// A `sessions` row as the queries select it.
struct SessionRow {
    key: String,
    user_id: String,
    created_at: OffsetDateTime,
    last_seen_at: OffsetDateTime,
}

/// An `invites` row as the queries select it.
struct InviteRow {
    key: String,
    role: String,
    created_by: String,
    created_at: OffsetDateTime,
    expires_at: OffsetDateTime,
    used_at: Option<OffsetDateTime>,
}

impl InviteRow {
    fn into_invite(self) -> Result<Invite, RepoError> {
        Ok(Invite {
            key: TokenKey::from_hex(self.key),
            role: Role::parse(&self.role).ok_or_else(|| corrupt("an invite's role"))?,
            created_by: self.created_by,
            created_at: from_pg(self.created_at, "an invite's created_at")?,
            expires_at: from_pg(self.expires_at, "an invite's expires_at")?,
            used_at: from_pg_opt(self.used_at, "an invite's used_at")?,
        })
    }
}

/// An `INSERT … ON CONFLICT DO NOTHING` that inserted nothing is a conflict.
fn inserted(rows: u64) -> Result<(), RepoError> {
    if rows == 1 {
        Ok(())
    } else {
        Err(RepoError::Conflict)
    }
}

#[async_trait]
impl UserStore for PostgresRepository {
    async fn insert_user(&self, user: &User) -> Result<(), RepoError> {
        // Either unique column (id or user name) taken: nothing inserted, a conflict.
        let rows = self
            .within(
                sqlx::query!(
                    "INSERT INTO users (id, username, display_name, password_hash, role,
                                        created_at, disabled_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
                    user.id,
                    user.username.as_str(),
                    user.display_name.as_ref().map(DisplayName::as_str),
                    user.password_hash.as_phc(),
                    user.role.as_str(),
                    to_pg(user.created_at),
                    user.disabled_at.map(to_pg),
                )
                .execute(&self.pool),
            )
            .await?
            .rows_affected();
        inserted(rows)
    }

    async fn find_user(&self, id: &str) -> Result<Option<User>, RepoError> {
        self.within(
            sqlx::query_as!(
                UserRow,
                "SELECT id, username, display_name, password_hash, role, created_at, disabled_at
                 FROM users WHERE id = $1",
                id
            )
            .fetch_optional(&self.pool),
        )
        .await?
        .map(UserRow::into_user)
        .transpose()
    }

    async fn find_user_by_name(&self, username: &Username) -> Result<Option<User>, RepoError> {
        self.within(
            sqlx::query_as!(
                UserRow,
                "SELECT id, username, display_name, password_hash, role, created_at, disabled_at
                 FROM users WHERE username = $1",
                username.as_str()
            )
            .fetch_optional(&self.pool),
        )
        .await?
        .map(UserRow::into_user)
        .transpose()
    }

    async fn list_users(&self) -> Result<Vec<User>, RepoError> {
        self.within(
            sqlx::query_as!(
                UserRow,
                "SELECT id, username, display_name, password_hash, role, created_at, disabled_at
                 FROM users ORDER BY created_at, id"
            )
            .fetch_all(&self.pool),
        )
        .await?
        .into_iter()
        .map(UserRow::into_user)
        .collect()
    }

    async fn edit_account(&self, id: &str, edit: &AccountEdit) -> Result<AccountEdited, RepoError> {
        self.within(async {
            let mut tx = self.pool.begin().await?;
            // The edited user's row and every active administrator's, locked in id order. An
            // edit that could also step an administrator down waits here until this one ends,
            // then reads the rows as they are (READ COMMITTED re-checks a locked row's
            // condition against its newest version), so two administrators demoting each other
            // cannot both see the other still active.
            let rows = sqlx::query_as!(
                UserRow,
                "SELECT id, username, display_name, password_hash, role, created_at, disabled_at
                 FROM users WHERE id = $1 OR (role = 'admin' AND disabled_at IS NULL)
                 ORDER BY id FOR UPDATE",
                id
            )
            .fetch_all(&mut *tx)
            .await?;
            let mut users = Vec::with_capacity(rows.len());
            for row in rows {
                match row.into_user() {
                    Ok(user) => users.push(user),
                    Err(corrupt) => return Ok(Err(corrupt)),
                }
            }
            let Some(user) = users.iter().find(|u| u.id == id) else {
                return Ok(Ok(AccountEdited::NoSuchUser));
            };
            if edit.steps_down(user) && !users.iter().any(|u| u.id != id && u.is_active_admin()) {
                return Ok(Ok(AccountEdited::LastAdmin));
            }
            let edited = edit.apply(user);
            sqlx::query!(
                "UPDATE users SET role = $2, disabled_at = $3 WHERE id = $1",
                id,
                edited.role.as_str(),
                edited.disabled_at.map(to_pg),
            )
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(Ok(AccountEdited::Edited(edited)))
        })
        .await?
    }

    async fn set_password_hash(
        &self,
        id: &str,
        hash: &PasswordHash,
        expected: Option<&PasswordHash>,
    ) -> Result<PasswordSet, RepoError> {
        // Only the hash column: an administrator's edit of role or status meanwhile stays.
        let updated = self
            .within(
                sqlx::query_as!(
                    UserRow,
                    "UPDATE users SET password_hash = $2
                     WHERE id = $1 AND ($3::text IS NULL OR password_hash = $3)
                     RETURNING id, username, display_name, password_hash, role, created_at,
                               disabled_at",
                    id,
                    hash.as_phc(),
                    expected.map(PasswordHash::as_phc),
                )
                .fetch_optional(&self.pool),
            )
            .await?;
        match updated {
            Some(row) => row.into_user().map(PasswordSet::Set),
            None if self.find_user(id).await?.is_some() => Ok(PasswordSet::Changed),
            None => Ok(PasswordSet::NoSuchUser),
        }
    }
}

#[async_trait]
impl SessionStore for PostgresRepository {
    async fn insert_session(
        &self,
        session: &Session,
        expires_at: Timestamp,
    ) -> Result<(), RepoError> {
        let rows = self
            .within(
                sqlx::query!(
                    "INSERT INTO sessions (key, user_id, created_at, last_seen_at, expires_at)
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                    session.key.as_str(),
                    session.user_id,
                    to_pg(session.created_at),
                    to_pg(session.last_seen_at),
                    to_pg(expires_at),
                )
                .execute(&self.pool),
            )
            .await?
            .rows_affected();
        inserted(rows)
    }

    async fn find_session(&self, key: &TokenKey) -> Result<Option<Session>, RepoError> {
        let Some(row) = self
            .within(
                sqlx::query_as!(
                    SessionRow,
                    "SELECT key, user_id, created_at, last_seen_at FROM sessions WHERE key = $1",
                    key.as_str()
                )
                .fetch_optional(&self.pool),
            )
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(Session {
            key: TokenKey::from_hex(row.key),
            user_id: row.user_id,
            created_at: from_pg(row.created_at, "a session's created_at")?,
            last_seen_at: from_pg(row.last_seen_at, "a session's last_seen_at")?,
        }))
    }

    async fn touch_session(
        &self,
        key: &TokenKey,
        at: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), RepoError> {
        self.within(
            sqlx::query!(
                "UPDATE sessions SET last_seen_at = GREATEST(last_seen_at, $2), expires_at = $3
                 WHERE key = $1",
                key.as_str(),
                to_pg(at),
                to_pg(expires_at)
            )
            .execute(&self.pool),
        )
        .await
        .map(|_| ())
    }

    async fn delete_session(&self, key: &TokenKey) -> Result<(), RepoError> {
        self.within(
            sqlx::query!("DELETE FROM sessions WHERE key = $1", key.as_str()).execute(&self.pool),
        )
        .await
        .map(|_| ())
    }

    async fn delete_user_sessions(
        &self,
        user_id: &str,
        keep: Option<&TokenKey>,
    ) -> Result<u64, RepoError> {
        Ok(self
            .within(
                sqlx::query!(
                    "DELETE FROM sessions WHERE user_id = $1 AND key IS DISTINCT FROM $2",
                    user_id,
                    keep.map(TokenKey::as_str)
                )
                .execute(&self.pool),
            )
            .await?
            .rows_affected())
    }

    async fn delete_expired_sessions(
        &self,
        before: Timestamp,
        limit: usize,
    ) -> Result<u64, RepoError> {
        Ok(self
            .within(
                sqlx::query!(
                    "DELETE FROM sessions WHERE key IN (
                         SELECT key FROM sessions WHERE expires_at < $1
                         ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)",
                    to_pg(before),
                    i64::try_from(limit).unwrap_or(i64::MAX)
                )
                .execute(&self.pool),
            )
            .await?
            .rows_affected())
    }
}

#[async_trait]
impl InviteStore for PostgresRepository {
    async fn insert_invite(&self, invite: &Invite) -> Result<(), RepoError> {
        let rows = self
            .within(
                sqlx::query!(
                    "INSERT INTO invites (key, role, created_by, created_at, expires_at, used_at)
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                    invite.key.as_str(),
                    invite.role.as_str(),
                    invite.created_by,
                    to_pg(invite.created_at),
                    to_pg(invite.expires_at),
                    invite.used_at.map(to_pg),
                )
                .execute(&self.pool),
            )
            .await?
            .rows_affected();
        inserted(rows)
    }

    async fn find_invite(&self, key: &TokenKey) -> Result<Option<Invite>, RepoError> {
        self.within(
            sqlx::query_as!(
                InviteRow,
                "SELECT key, role, created_by, created_at, expires_at, used_at
                 FROM invites WHERE key = $1",
                key.as_str()
            )
            .fetch_optional(&self.pool),
        )
        .await?
        .map(InviteRow::into_invite)
        .transpose()
    }

    async fn use_invite(&self, key: &TokenKey, at: Timestamp) -> Result<bool, RepoError> {
        // The row lock of the UPDATE makes two concurrent uses one winner and one `false`.
        let rows = self
            .within(
                sqlx::query!(
                    "UPDATE invites SET used_at = $2 WHERE key = $1 AND used_at IS NULL",
                    key.as_str(),
                    to_pg(at)
                )
                .execute(&self.pool),
            )
            .await?
            .rows_affected();
        Ok(rows == 1)
    }

    async fn list_invites(&self) -> Result<Vec<Invite>, RepoError> {
        self.within(
            sqlx::query_as!(
                InviteRow,
                "SELECT key, role, created_by, created_at, expires_at, used_at
                 FROM invites ORDER BY created_at DESC, key"
            )
            .fetch_all(&self.pool),
        )
        .await?
        .into_iter()
        .map(InviteRow::into_invite)
        .collect()
    }
}
