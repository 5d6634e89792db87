//! Users, sessions and invites in Redis.
//!
//! Users: every user key carries the hash tag `{users}`, so the scripts that keep a user and
//! its name unique in one atomic step work on Redis Cluster (users are few: one slot holds
//! them all). `users:id:{id}` is a hash (`n` name, `d` display name, `h` password hash, `r`
//! role, `c` created, `x` disabled; times in Unix milliseconds), `users:name:{name}` the id,
//! `users:all` a sorted set of ids by creation.
//!
//! Sessions: `session:{key}` is a hash (`u` user id, `c` created, `s` last seen) that Redis
//! expires by itself at the session's storage expiry (`PEXPIREAT`), so there is nothing to
//! sweep. `user-sessions:{user id}` is the set of a user's session keys, for "log out
//! everywhere"; it lives in another slot, so it is written before the session (a session never
//! exists outside its user's set; a key in the set whose session is gone is harmless and
//! pruned).
//!
//! Invites: `invite:{key}` a hash (`r` role, `b` created by, `c` created, `e` expires, `x`
//! used), `invites` a sorted set of keys by creation.

mod sessions;

use std::collections::HashMap;
use std::sync::LazyLock;

use async_trait::async_trait;
use redis::{AsyncCommands, Script};

use super::{RedisRepository, millis_field, unavailable};
use crate::domain::{
    AccountEdit, DisplayName, Invite, PasswordHash, Role, Session, Timestamp, TokenKey, User,
    Username,
};
use crate::repository::{
    AccountEdited, InviteStore, PasswordSet, RepoError, SessionStore, UserStore,
};

/// KEYS: user hash, name key, index. ARGV: id, name, display, hash, role, created, disabled.
/// Refuses a taken id or name, else writes all three keys.
static INSERT_USER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('SET', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[1], 'n', ARGV[2], 'h', ARGV[4], 'r', ARGV[5], 'c', ARGV[6])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'd', ARGV[3]) end
if ARGV[7] ~= '' then redis.call('HSET', KEYS[1], 'x', ARGV[7]) end
redis.call('ZADD', KEYS[3], ARGV[6], ARGV[1])
return 1
",
    )
});

/// KEYS: the edited user's hash, the users index, then every user hash the index listed when
/// read. ARGV: role ('' = keep), disabled ('1' disable, '0' enable, '' keep), at, how many ids
/// the index held. 0: no such user; 1: edited; 2: refused, the last active administrator;
/// 3: the index changed since it was read (read it again). The check and the write are one
/// script, so no other edit runs between them.
static EDIT_ACCOUNT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('ZCARD', KEYS[2]) ~= tonumber(ARGV[4]) then return 3 end
local role = redis.call('HGET', KEYS[1], 'r')
local disabled = redis.call('HGET', KEYS[1], 'x')
local new_role = role
if ARGV[1] ~= '' then new_role = ARGV[1] end
local new_disabled = disabled
if ARGV[2] == '1' then
  if not disabled then new_disabled = ARGV[3] end
elseif ARGV[2] == '0' then
  new_disabled = false
end
if role == 'admin' and not disabled and not (new_role == 'admin' and not new_disabled) then
  local others = false
  for i = 3, #KEYS do
    if KEYS[i] ~= KEYS[1] and redis.call('HGET', KEYS[i], 'r') == 'admin'
        and redis.call('HEXISTS', KEYS[i], 'x') == 0 then
      others = true
      break
    end
  end
  if not others then return 2 end
end
redis.call('HSET', KEYS[1], 'r', new_role)
if new_disabled then redis.call('HSET', KEYS[1], 'x', new_disabled) else redis.call('HDEL', KEYS[1], 'x') end
return 1
",
    )
});

/// KEYS: user hash. ARGV: new hash, expected hash ('' = any). 0: no such user; 1: set; 2: the
/// stored hash is not the expected one. Only the hash field: role and status stay as they are.
static SET_PASSWORD_HASH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[2] ~= '' and redis.call('HGET', KEYS[1], 'h') ~= ARGV[2] then return 2 end
redis.call('HSET', KEYS[1], 'h', ARGV[1])
return 1
",
    )
});

/// KEYS: session hash. ARGV: user id, created, last seen, expires. Only if absent.
static INSERT_SESSION: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'u', ARGV[1], 'c', ARGV[2], 's', ARGV[3])
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
return 1
",
    )
});

/// KEYS: session hash. ARGV: seen at, expires. Moves last seen forward only; never recreates.
static TOUCH_SESSION: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local seen = redis.call('HGET', KEYS[1], 's')
if (not seen) or tonumber(seen) < tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 's', ARGV[1])
  redis.call('PEXPIREAT', KEYS[1], ARGV[2])
end
return 1
",
    )
});

/// KEYS: invite hash, index. ARGV: role, created by, created, expires. Only if absent.
static INSERT_INVITE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'r', ARGV[1], 'b', ARGV[2], 'c', ARGV[3], 'e', ARGV[4])
return 1
",
    )
});

/// KEYS: invite hash. ARGV: used at. Marks an existing, unused invite used.
static USE_INVITE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
return redis.call('HSETNX', KEYS[1], 'x', ARGV[1])
",
    )
});

/// A user's session set is checked for keys of ended sessions once it holds more than this.
const PRUNE_SESSIONS_AT: usize = 32;

fn opt_millis(t: Option<Timestamp>) -> String {
    t.map_or(String::new(), |t| t.as_unix_millis().to_string())
}

impl RedisRepository {
    fn user_key(&self, id: &str) -> String {
        format!("{}{{users}}:id:{id}", self.prefix)
    }

    fn username_key(&self, name: &Username) -> String {
        format!("{}{{users}}:name:{name}", self.prefix)
    }

    fn users_index(&self) -> String {
        format!("{}{{users}}:all", self.prefix)
    }

    fn session_key(&self, key: &TokenKey) -> String {
        format!("{}session:{}", self.prefix, key.as_str())
    }

    fn user_sessions(&self, user_id: &str) -> String {
        format!("{}user-sessions:{user_id}", self.prefix)
    }

    fn invite_key(&self, key: &TokenKey) -> String {
        format!("{}invite:{}", self.prefix, key.as_str())
    }

    fn invites_index(&self) -> String {
        format!("{}invites", self.prefix)
    }

    async fn hash_fields(&self, key: String) -> Result<HashMap<String, String>, RepoError> {
        let mut connection = self.connection.clone();
        connection.hgetall(key).await.map_err(unavailable)
    }

    /// Removes from `user_id`'s session set the keys whose session has ended.
    async fn prune_user_sessions(&self, user_id: &str) -> Result<(), RepoError> {
        let mut connection = self.connection.clone();
        let set = self.user_sessions(user_id);
        let keys: Vec<String> = connection.smembers(&set).await.map_err(unavailable)?;
        for key in keys {
            let alive: bool = connection
                .exists(self.session_key(&TokenKey::from_hex(key.clone())))
                .await
                .map_err(unavailable)?;
            if !alive {
                let _: i64 = connection.srem(&set, key).await.map_err(unavailable)?;
            }
        }
        Ok(())
    }
}

fn parse_user(id: &str, fields: &HashMap<String, String>) -> Result<User, RepoError> {
    let corrupt = || RepoError::Corrupt(format!("user {id} in Redis"));
    let time = |name: &str| millis_field(fields, name, corrupt);
    let text = |name: &str| fields.get(name).ok_or_else(corrupt);
    Ok(User {
        id: id.to_owned(),
        username: Username::parse(text("n")?).map_err(|_| corrupt())?,
        display_name: DisplayName::parse(fields.get("d").map_or("", String::as_str))
            .map_err(|_| corrupt())?,
        password_hash: PasswordHash::from_phc(text("h")?.clone()),
        role: Role::parse(text("r")?).ok_or_else(corrupt)?,
        created_at: time("c")?.ok_or_else(corrupt)?,
        disabled_at: time("x")?,
    })
}

#[async_trait]
impl UserStore for RedisRepository {
    async fn insert_user(&self, user: &User) -> Result<(), RepoError> {
        let mut connection = self.connection.clone();
        let created: i64 = INSERT_USER
            .key(self.user_key(&user.id))
            .key(self.username_key(&user.username))
            .key(self.users_index())
            .arg(&user.id)
            .arg(user.username.as_str())
            .arg(user.display_name.as_ref().map_or("", DisplayName::as_str))
            .arg(user.password_hash.as_phc())
            .arg(user.role.as_str())
            .arg(user.created_at.as_unix_millis())
            .arg(opt_millis(user.disabled_at))
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)?;
        if created == 1 {
            Ok(())
        } else {
            Err(RepoError::Conflict)
        }
    }

    async fn find_user(&self, id: &str) -> Result<Option<User>, RepoError> {
        let fields = self.hash_fields(self.user_key(id)).await?;
        if fields.is_empty() {
            return Ok(None);
        }
        parse_user(id, &fields).map(Some)
    }

    async fn find_user_by_name(&self, username: &Username) -> Result<Option<User>, RepoError> {
        let mut connection = self.connection.clone();
        let id: Option<String> = connection
            .get(self.username_key(username))
            .await
            .map_err(unavailable)?;
        match id {
            Some(id) => self.find_user(&id).await,
            None => Ok(None),
        }
    }

    async fn list_users(&self) -> Result<Vec<User>, RepoError> {
        let mut connection = self.connection.clone();
        let ids: Vec<String> = connection
            .zrange(self.users_index(), 0, -1)
            .await
            .map_err(unavailable)?;
        let mut users = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(user) = self.find_user(&id).await? {
                users.push(user);
            }
        }
        users.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(users)
    }

    async fn edit_account(&self, id: &str, edit: &AccountEdit) -> Result<AccountEdited, RepoError> {
        let mut connection = self.connection.clone();
        // Users are never removed, so an index of the same size is the same index: a user
        // added between the read and the script makes it answer 3, and the edit reads again.
        for _ in 0..10 {
            let ids: Vec<String> = connection
                .zrange(self.users_index(), 0, -1)
                .await
                .map_err(unavailable)?;
            let mut call = EDIT_ACCOUNT.key(self.user_key(id));
            call.key(self.users_index());
            for other in &ids {
                call.key(self.user_key(other));
            }
            let outcome: i64 = call
                .arg(edit.role.map_or("", Role::as_str))
                .arg(match edit.disabled {
                    Some(true) => "1",
                    Some(false) => "0",
                    None => "",
                })
                .arg(edit.at.as_unix_millis())
                .arg(ids.len())
                .invoke_async(&mut connection)
                .await
                .map_err(unavailable)?;
            return Ok(match outcome {
                0 => AccountEdited::NoSuchUser,
                2 => AccountEdited::LastAdmin,
                3 => continue,
                _ => self
                    .find_user(id)
                    .await?
                    .map_or(AccountEdited::NoSuchUser, AccountEdited::Edited),
            });
        }
        Err(RepoError::Unavailable(
            "the user index kept changing during an account edit".into(),
        ))
    }

    async fn set_password_hash(
        &self,
        id: &str,
        hash: &PasswordHash,
        expected: Option<&PasswordHash>,
    ) -> Result<PasswordSet, RepoError> {
        let mut connection = self.connection.clone();
        let outcome: i64 = SET_PASSWORD_HASH
            .key(self.user_key(id))
            .arg(hash.as_phc())
            .arg(expected.map_or("", PasswordHash::as_phc))
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)?;
        match outcome {
            1 => Ok(self
                .find_user(id)
                .await?
                .map_or(PasswordSet::NoSuchUser, PasswordSet::Set)),
            2 => Ok(PasswordSet::Changed),
            _ => Ok(PasswordSet::NoSuchUser),
        }
    }
}
