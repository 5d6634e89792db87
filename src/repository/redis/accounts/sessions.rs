//! Sessions and invites in Redis.

use super::*;

#[async_trait]
impl SessionStore for RedisRepository {
    async fn insert_session(
        &self,
        session: &Session,
        expires_at: Timestamp,
    ) -> Result<(), RepoError> {
        let mut connection = self.connection.clone();
        let set = self.user_sessions(&session.user_id);
        let size: usize = redis::pipe()
            .sadd(&set, session.key.as_str())
            .ignore()
            .scard(&set)
            .query_async::<(usize,)>(&mut connection)
            .await
            .map_err(unavailable)?
            .0;
        let created: i64 = INSERT_SESSION
            .key(self.session_key(&session.key))
            .arg(&session.user_id)
            .arg(session.created_at.as_unix_millis())
            .arg(session.last_seen_at.as_unix_millis())
            .arg(expires_at.as_unix_millis())
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)?;
        if created != 1 {
            return Err(RepoError::Conflict);
        }
        if size > PRUNE_SESSIONS_AT {
            self.prune_user_sessions(&session.user_id).await?;
        }
        Ok(())
    }

    async fn find_session(&self, key: &TokenKey) -> Result<Option<Session>, RepoError> {
        let fields = self.hash_fields(self.session_key(key)).await?;
        if fields.is_empty() {
            return Ok(None);
        }
        let corrupt = || RepoError::Corrupt("session in Redis".to_owned());
        let time = |name: &str| millis_field(&fields, name, corrupt)?.ok_or_else(corrupt);
        Ok(Some(Session {
            key: key.clone(),
            user_id: fields.get("u").ok_or_else(corrupt)?.clone(),
            created_at: time("c")?,
            last_seen_at: time("s")?,
        }))
    }

    async fn touch_session(
        &self,
        key: &TokenKey,
        at: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), RepoError> {
        let mut connection = self.connection.clone();
        let _: i64 = TOUCH_SESSION
            .key(self.session_key(key))
            .arg(at.as_unix_millis())
            .arg(expires_at.as_unix_millis())
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn delete_session(&self, key: &TokenKey) -> Result<(), RepoError> {
        let mut connection = self.connection.clone();
        let session = self.session_key(key);
        let user: Option<String> = connection.hget(&session, "u").await.map_err(unavailable)?;
        let _: i64 = connection.del(&session).await.map_err(unavailable)?;
        if let Some(user) = user {
            let _: i64 = connection
                .srem(self.user_sessions(&user), key.as_str())
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }

    async fn delete_user_sessions(
        &self,
        user_id: &str,
        keep: Option<&TokenKey>,
    ) -> Result<u64, RepoError> {
        let mut connection = self.connection.clone();
        let set = self.user_sessions(user_id);
        let keys: Vec<String> = connection.smembers(&set).await.map_err(unavailable)?;
        let mut ended = 0;
        for key in keys {
            let key = TokenKey::from_hex(key);
            if Some(&key) == keep {
                continue;
            }
            let removed: u64 = connection
                .del(self.session_key(&key))
                .await
                .map_err(unavailable)?;
            ended += removed;
            let _: i64 = connection
                .srem(&set, key.as_str())
                .await
                .map_err(unavailable)?;
        }
        Ok(ended)
    }

    async fn delete_expired_sessions(
        &self,
        _before: Timestamp,
        _limit: usize,
    ) -> Result<u64, RepoError> {
        // Native expiry (PEXPIREAT) already removed every session whose time has passed.
        Ok(0)
    }
}

fn parse_invite(key: &TokenKey, fields: &HashMap<String, String>) -> Result<Invite, RepoError> {
    let corrupt = || RepoError::Corrupt("invite in Redis".to_owned());
    let time = |name: &str| millis_field(fields, name, corrupt);
    Ok(Invite {
        key: key.clone(),
        role: Role::parse(fields.get("r").ok_or_else(corrupt)?).ok_or_else(corrupt)?,
        created_by: fields.get("b").ok_or_else(corrupt)?.clone(),
        created_at: time("c")?.ok_or_else(corrupt)?,
        expires_at: time("e")?.ok_or_else(corrupt)?,
        used_at: time("x")?,
    })
}

#[async_trait]
impl InviteStore for RedisRepository {
    async fn insert_invite(&self, invite: &Invite) -> Result<(), RepoError> {
        let mut connection = self.connection.clone();
        let created: i64 = INSERT_INVITE
            .key(self.invite_key(&invite.key))
            .arg(invite.role.as_str())
            .arg(&invite.created_by)
            .arg(invite.created_at.as_unix_millis())
            .arg(invite.expires_at.as_unix_millis())
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)?;
        if created != 1 {
            return Err(RepoError::Conflict);
        }
        let _: i64 = connection
            .zadd(
                self.invites_index(),
                invite.key.as_str(),
                invite.created_at.as_unix_millis(),
            )
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn find_invite(&self, key: &TokenKey) -> Result<Option<Invite>, RepoError> {
        let fields = self.hash_fields(self.invite_key(key)).await?;
        if fields.is_empty() {
            return Ok(None);
        }
        parse_invite(key, &fields).map(Some)
    }

    async fn use_invite(&self, key: &TokenKey, at: Timestamp) -> Result<bool, RepoError> {
        let mut connection = self.connection.clone();
        let used: i64 = USE_INVITE
            .key(self.invite_key(key))
            .arg(at.as_unix_millis())
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(used == 1)
    }

    async fn list_invites(&self) -> Result<Vec<Invite>, RepoError> {
        let mut connection = self.connection.clone();
        let keys: Vec<String> = connection
            .zrevrange(self.invites_index(), 0, -1)
            .await
            .map_err(unavailable)?;
        let mut invites = Vec::with_capacity(keys.len());
        for key in keys {
            let key = TokenKey::from_hex(key);
            if let Some(invite) = self.find_invite(&key).await? {
                invites.push(invite);
            }
        }
        invites.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.key.cmp(&b.key)));
        Ok(invites)
    }
}
