//! Users, sessions and invites in the SQLite file: three tables of migration 3. Writes go
//! through the writer thread like every other write; reads through the reader threads.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::{SqliteRepository, unavailable};
use crate::domain::{
    AccountEdit, DisplayName, Invite, PasswordHash, Role, Session, Timestamp, TokenKey, User,
    Username,
};
use crate::repository::{
    AccountEdited, InviteStore, PasswordSet, RepoError, SessionStore, UserStore,
};

/// Migration 3: accounts. User names are stored lower-case, so `UNIQUE` is case-insensitive
/// uniqueness; sessions and invites are keyed by the SHA-256 of their token.
pub(super) const MIGRATION: &str = "
    CREATE TABLE users (
        id            TEXT    NOT NULL PRIMARY KEY,
        username      TEXT    NOT NULL UNIQUE,
        display_name  TEXT,
        password_hash TEXT    NOT NULL,
        role          TEXT    NOT NULL,
        created_at    INTEGER NOT NULL,
        disabled_at   INTEGER
    );
    CREATE TABLE sessions (
        key          TEXT    NOT NULL PRIMARY KEY,
        user_id      TEXT    NOT NULL,
        created_at   INTEGER NOT NULL,
        last_seen_at INTEGER NOT NULL,
        expires_at   INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX sessions_user_id ON sessions (user_id);
    CREATE INDEX sessions_expires_at ON sessions (expires_at);
    CREATE TABLE invites (
        key        TEXT    NOT NULL PRIMARY KEY,
        role       TEXT    NOT NULL,
        created_by TEXT    NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        used_at    INTEGER
    ) WITHOUT ROWID;";

const USER_COLUMNS: &str =
    "id, username, display_name, password_hash, role, created_at, disabled_at";

fn corrupt(what: &str) -> RepoError {
    RepoError::Corrupt(format!("{what} in SQLite"))
}

fn time(ms: i64, what: &str) -> Result<Timestamp, RepoError> {
    Timestamp::from_unix_millis(ms).ok_or_else(|| corrupt(what))
}

fn user_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<User, RepoError>> {
    let (id, username, display_name, hash, role): (String, String, Option<String>, String, String) = (
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
    );
    let (created_at, disabled_at): (i64, Option<i64>) = (row.get(5)?, row.get(6)?);
    Ok((|| {
        Ok(User {
            id,
            username: Username::parse(&username).map_err(|_| corrupt("a user name"))?,
            display_name: match display_name {
                Some(name) => DisplayName::parse(&name).map_err(|_| corrupt("a display name"))?,
                None => None,
            },
            password_hash: PasswordHash::from_phc(hash),
            role: Role::parse(&role).ok_or_else(|| corrupt("a role"))?,
            created_at: time(created_at, "a user's creation time")?,
            disabled_at: disabled_at
                .map(|ms| time(ms, "a user's disabled time"))
                .transpose()?,
        })
    })())
}

fn session_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Session, RepoError>> {
    let (key, user_id, created_at, last_seen_at): (String, String, i64, i64) =
        (row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?);
    Ok((|| {
        Ok(Session {
            key: TokenKey::from_hex(key),
            user_id,
            created_at: time(created_at, "a session's creation time")?,
            last_seen_at: time(last_seen_at, "a session's last use")?,
        })
    })())
}

fn invite_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Invite, RepoError>> {
    let (key, role, created_by): (String, String, String) = (row.get(0)?, row.get(1)?, row.get(2)?);
    let (created_at, expires_at, used_at): (i64, i64, Option<i64>) =
        (row.get(3)?, row.get(4)?, row.get(5)?);
    Ok((|| {
        Ok(Invite {
            key: TokenKey::from_hex(key),
            role: Role::parse(&role).ok_or_else(|| corrupt("an invite's role"))?,
            created_by,
            created_at: time(created_at, "an invite's creation time")?,
            expires_at: time(expires_at, "an invite's expiry")?,
            used_at: used_at.map(|ms| time(ms, "an invite's use")).transpose()?,
        })
    })())
}

/// Rows of `sql` with `params`, each converted by `from_row`.
fn rows<T>(
    conn: &rusqlite::Connection,
    sql: &str,
    params: impl rusqlite::Params,
    from_row: fn(&rusqlite::Row<'_>) -> rusqlite::Result<Result<T, RepoError>>,
) -> Result<Vec<T>, RepoError> {
    let mut stmt = conn.prepare_cached(sql).map_err(unavailable)?;
    let rows = stmt
        .query_map(params, from_row)
        .map_err(unavailable)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(unavailable)?;
    rows.into_iter().collect()
}

/// An `INSERT … ON CONFLICT DO NOTHING` that inserted nothing is a conflict.
fn inserted(count: usize) -> Result<u64, RepoError> {
    if count == 1 {
        Ok(0)
    } else {
        Err(RepoError::Conflict)
    }
}

#[async_trait]
impl UserStore for SqliteRepository {
    async fn insert_user(&self, user: &User) -> Result<(), RepoError> {
        let user = user.clone();
        self.exec(move |tx| {
            let count = tx
                .prepare_cached(&format!(
                    "INSERT INTO users ({USER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT DO NOTHING"
                ))?
                .execute(params![
                    user.id,
                    user.username.as_str(),
                    user.display_name.as_ref().map(DisplayName::as_str),
                    user.password_hash.as_phc(),
                    user.role.as_str(),
                    user.created_at.as_unix_millis(),
                    user.disabled_at.map(Timestamp::as_unix_millis),
                ])?;
            Ok(inserted(count))
        })
        .await
        .map(|_| ())
    }

    async fn find_user(&self, id: &str) -> Result<Option<User>, RepoError> {
        let id = id.to_owned();
        self.read(move |conn| {
            conn.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"))
                .and_then(|mut stmt| stmt.query_row([&id], user_from_row).optional())
                .map_err(unavailable)?
                .transpose()
        })
        .await
    }

    async fn find_user_by_name(&self, username: &Username) -> Result<Option<User>, RepoError> {
        let name = username.as_str().to_owned();
        self.read(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM users WHERE username = ?1"
            ))
            .and_then(|mut stmt| stmt.query_row([&name], user_from_row).optional())
            .map_err(unavailable)?
            .transpose()
        })
        .await
    }

    async fn list_users(&self) -> Result<Vec<User>, RepoError> {
        self.read(|conn| {
            rows(
                conn,
                &format!("SELECT {USER_COLUMNS} FROM users ORDER BY created_at, id"),
                [],
                user_from_row,
            )
        })
        .await
    }

    async fn edit_account(&self, id: &str, edit: &AccountEdit) -> Result<AccountEdited, RepoError> {
        const MISSING: u64 = 0;
        const EDITED: u64 = 1;
        const LAST_ADMIN: u64 = 2;
        let (key, edit) = (id.to_owned(), *edit);
        // The check and the write in one transaction of the one writer: SQLite serializes
        // writers, so no other edit can pass the same check in between.
        let outcome = self
            .exec(move |tx| {
                let current = tx
                    .prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"))?
                    .query_row([&key], user_from_row)
                    .optional()?;
                let user = match current {
                    None => return Ok(Ok(MISSING)),
                    Some(Err(corrupt)) => return Ok(Err(corrupt)),
                    Some(Ok(user)) => user,
                };
                if edit.steps_down(&user) {
                    let others: bool = tx
                        .prepare_cached(
                            "SELECT EXISTS (SELECT 1 FROM users WHERE id <> ?1
                                AND role = 'admin' AND disabled_at IS NULL)",
                        )?
                        .query_row([&key], |row| row.get(0))?;
                    if !others {
                        return Ok(Ok(LAST_ADMIN));
                    }
                }
                let edited = edit.apply(&user);
                tx.prepare_cached("UPDATE users SET role = ?2, disabled_at = ?3 WHERE id = ?1")?
                    .execute(params![
                        key,
                        edited.role.as_str(),
                        edited.disabled_at.map(Timestamp::as_unix_millis),
                    ])?;
                Ok(Ok(EDITED))
            })
            .await?;
        match outcome {
            LAST_ADMIN => Ok(AccountEdited::LastAdmin),
            EDITED => Ok(self
                .find_user(id)
                .await?
                .map_or(AccountEdited::NoSuchUser, AccountEdited::Edited)),
            _ => Ok(AccountEdited::NoSuchUser),
        }
    }

    async fn set_password_hash(
        &self,
        id: &str,
        hash: &PasswordHash,
        expected: Option<&PasswordHash>,
    ) -> Result<PasswordSet, RepoError> {
        let (key, hash) = (id.to_owned(), hash.as_phc().to_owned());
        let expected = expected.map(|e| e.as_phc().to_owned());
        // Only the hash column: an administrator's edit of role or status meanwhile stays.
        let changed = self
            .exec(move |tx| {
                let count = tx
                    .prepare_cached(
                        "UPDATE users SET password_hash = ?2
                         WHERE id = ?1 AND (?3 IS NULL OR password_hash = ?3)",
                    )?
                    .execute(params![key, hash, expected])?;
                Ok(Ok(count as u64))
            })
            .await?;
        let user = self.find_user(id).await?;
        Ok(match (changed, user) {
            (1, Some(user)) => PasswordSet::Set(user),
            (_, None) => PasswordSet::NoSuchUser,
            _ => PasswordSet::Changed,
        })
    }
}

#[async_trait]
impl SessionStore for SqliteRepository {
    async fn insert_session(
        &self,
        session: &Session,
        expires_at: Timestamp,
    ) -> Result<(), RepoError> {
        let session = session.clone();
        self.exec(move |tx| {
            let count = tx
                .prepare_cached(
                    "INSERT INTO sessions (key, user_id, created_at, last_seen_at, expires_at)
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
                )?
                .execute(params![
                    session.key.as_str(),
                    session.user_id,
                    session.created_at.as_unix_millis(),
                    session.last_seen_at.as_unix_millis(),
                    expires_at.as_unix_millis(),
                ])?;
            Ok(inserted(count))
        })
        .await
        .map(|_| ())
    }

    async fn find_session(&self, key: &TokenKey) -> Result<Option<Session>, RepoError> {
        let key = key.clone();
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT key, user_id, created_at, last_seen_at FROM sessions WHERE key = ?1",
            )
            .and_then(|mut stmt| stmt.query_row([key.as_str()], session_from_row).optional())
            .map_err(unavailable)?
            .transpose()
        })
        .await
    }

    async fn touch_session(
        &self,
        key: &TokenKey,
        at: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), RepoError> {
        let key = key.clone();
        self.exec(move |tx| {
            tx.prepare_cached(
                "UPDATE sessions SET last_seen_at = MAX(last_seen_at, ?2), expires_at = ?3
                 WHERE key = ?1",
            )?
            .execute(params![
                key.as_str(),
                at.as_unix_millis(),
                expires_at.as_unix_millis()
            ])?;
            Ok(Ok(0))
        })
        .await
        .map(|_| ())
    }

    async fn delete_session(&self, key: &TokenKey) -> Result<(), RepoError> {
        let key = key.clone();
        self.exec(move |tx| {
            tx.prepare_cached("DELETE FROM sessions WHERE key = ?1")?
                .execute([key.as_str()])?;
            Ok(Ok(0))
        })
        .await
        .map(|_| ())
    }

    async fn delete_user_sessions(
        &self,
        user_id: &str,
        keep: Option<&TokenKey>,
    ) -> Result<u64, RepoError> {
        let (user_id, keep) = (user_id.to_owned(), keep.cloned());
        self.exec(move |tx| {
            let removed = tx
                .prepare_cached("DELETE FROM sessions WHERE user_id = ?1 AND key IS NOT ?2")?
                .execute(params![user_id, keep.as_ref().map(TokenKey::as_str)])?;
            Ok(Ok(removed as u64))
        })
        .await
    }

    async fn delete_expired_sessions(
        &self,
        before: Timestamp,
        limit: usize,
    ) -> Result<u64, RepoError> {
        self.exec(move |tx| {
            let removed = tx
                .prepare_cached(
                    "DELETE FROM sessions WHERE key IN
                       (SELECT key FROM sessions WHERE expires_at < ?1 ORDER BY expires_at LIMIT ?2)",
                )?
                .execute(params![
                    before.as_unix_millis(),
                    i64::try_from(limit).unwrap_or(i64::MAX)
                ])?;
            Ok(Ok(removed as u64))
        })
        .await
    }
}

const INVITE_COLUMNS: &str = "key, role, created_by, created_at, expires_at, used_at";

#[async_trait]
impl InviteStore for SqliteRepository {
    async fn insert_invite(&self, invite: &Invite) -> Result<(), RepoError> {
        let invite = invite.clone();
        self.exec(move |tx| {
            let count = tx
                .prepare_cached(&format!(
                    "INSERT INTO invites ({INVITE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT DO NOTHING"
                ))?
                .execute(params![
                    invite.key.as_str(),
                    invite.role.as_str(),
                    invite.created_by,
                    invite.created_at.as_unix_millis(),
                    invite.expires_at.as_unix_millis(),
                    invite.used_at.map(Timestamp::as_unix_millis),
                ])?;
            Ok(inserted(count))
        })
        .await
        .map(|_| ())
    }

    async fn find_invite(&self, key: &TokenKey) -> Result<Option<Invite>, RepoError> {
        let key = key.clone();
        self.read(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {INVITE_COLUMNS} FROM invites WHERE key = ?1"
            ))
            .and_then(|mut stmt| stmt.query_row([key.as_str()], invite_from_row).optional())
            .map_err(unavailable)?
            .transpose()
        })
        .await
    }

    async fn use_invite(&self, key: &TokenKey, at: Timestamp) -> Result<bool, RepoError> {
        let key = key.clone();
        let used = self
            .exec(move |tx| {
                let count = tx
                    .prepare_cached(
                        "UPDATE invites SET used_at = ?2 WHERE key = ?1 AND used_at IS NULL",
                    )?
                    .execute(params![key.as_str(), at.as_unix_millis()])?;
                Ok(Ok(count as u64))
            })
            .await?;
        Ok(used == 1)
    }

    async fn list_invites(&self) -> Result<Vec<Invite>, RepoError> {
        self.read(|conn| {
            rows(
                conn,
                &format!("SELECT {INVITE_COLUMNS} FROM invites ORDER BY created_at DESC, key"),
                [],
                invite_from_row,
            )
        })
        .await
    }
}
