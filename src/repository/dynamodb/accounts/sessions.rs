//! Sessions and invites in the DynamoDB table.

use super::*;

#[async_trait]
impl SessionStore for DynamoDbRepository {
    async fn insert_session(
        &self,
        session: &Session,
        expires_at: Timestamp,
    ) -> Result<(), RepoError> {
        let indexed = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&format!(
                "{USER_SESSIONS}{}",
                session.user_id
            ))))
            .update_expression("ADD #k :k")
            .expression_attribute_names("#k", "keys")
            .expression_attribute_values(
                ":k",
                AttributeValue::Ss(vec![session.key.as_str().into()]),
            )
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(unavailable)?;
        let size = indexed
            .attributes()
            .and_then(|a| a.get("keys"))
            .and_then(|v| v.as_ss().ok())
            .map_or(0, Vec::len);
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(
                "short_code",
                s(format!("{SESSION}{}", session.key.as_str())),
            )
            .item("user_id", s(&session.user_id))
            .item("created_at", n(session.created_at.as_unix_millis()))
            .item("last_seen_at", n(session.last_seen_at.as_unix_millis()))
            .condition_expression("attribute_not_exists(short_code)");
        for (name, value) in session_expiry(&session.key, expires_at) {
            put = put.item(name, value);
        }
        put_outcome(put.send().await)?;
        if size > PRUNE_SESSIONS_AT {
            self.prune_user_sessions(&session.user_id).await?;
        }
        Ok(())
    }

    async fn find_session(&self, key: &TokenKey) -> Result<Option<Session>, RepoError> {
        self.get(format!("{SESSION}{}", key.as_str()))
            .await?
            .map(|item| parse_session(key, &item))
            .transpose()
    }

    async fn touch_session(
        &self,
        key: &TokenKey,
        at: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), RepoError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&format!("{SESSION}{}", key.as_str()))))
            .update_expression(
                "SET last_seen_at = :at, expires_at = :e, #t = :t, expiry_bucket = :b",
            )
            // Never recreate an ended session, never move `last_seen_at` back.
            .condition_expression("attribute_exists(short_code) AND last_seen_at < :at")
            .expression_attribute_names("#t", "ttl")
            .expression_attribute_values(":at", n(at.as_unix_millis()));
        let [(_, e), (_, t), (_, b)] = session_expiry(key, expires_at);
        update = update
            .expression_attribute_values(":e", e)
            .expression_attribute_values(":t", t)
            .expression_attribute_values(":b", b);
        match update.send().await {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn delete_session(&self, key: &TokenKey) -> Result<(), RepoError> {
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&format!("{SESSION}{}", key.as_str()))))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(unavailable)?;
        if let Some(user) = deleted.attributes().and_then(|a| text(a, "user_id")) {
            self.forget_sessions(user, vec![key.as_str().to_owned()])
                .await?;
        }
        Ok(())
    }

    async fn delete_user_sessions(
        &self,
        user_id: &str,
        keep: Option<&TokenKey>,
    ) -> Result<u64, RepoError> {
        let mut ended = 0;
        let mut forget = Vec::new();
        for key in self.session_keys(user_id).await? {
            if keep.is_some_and(|k| k.as_str() == key) {
                continue;
            }
            let deleted = self
                .client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(Self::key(&format!("{SESSION}{key}"))))
                .return_values(ReturnValue::AllOld)
                .send()
                .await
                .map_err(unavailable)?;
            ended += u64::from(deleted.attributes().is_some());
            forget.push(key);
        }
        self.forget_sessions(user_id, forget).await?;
        Ok(ended)
    }

    async fn delete_expired_sessions(
        &self,
        before: Timestamp,
        limit: usize,
    ) -> Result<u64, RepoError> {
        // The user's session set keeps the swept keys until its next prune: harmless.
        self.sweep(SESSION_KIND, before, limit).await
    }
}

#[async_trait]
impl InviteStore for DynamoDbRepository {
    async fn insert_invite(&self, invite: &Invite) -> Result<(), RepoError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("short_code", s(format!("{INVITE}{}", invite.key.as_str())))
            .item("role", s(invite.role.as_str()))
            .item("created_by", s(&invite.created_by))
            .item("created_at", n(invite.created_at.as_unix_millis()))
            .item("invite_expires", n(invite.expires_at.as_unix_millis()))
            .condition_expression("attribute_not_exists(short_code)")
            .send()
            .await;
        put_outcome(put)
    }

    async fn find_invite(&self, key: &TokenKey) -> Result<Option<Invite>, RepoError> {
        self.get(format!("{INVITE}{}", key.as_str()))
            .await?
            .as_ref()
            .map(parse_invite)
            .transpose()
    }

    async fn use_invite(&self, key: &TokenKey, at: Timestamp) -> Result<bool, RepoError> {
        let used = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&format!("{INVITE}{}", key.as_str()))))
            .update_expression("SET used_at = :at")
            .condition_expression("attribute_exists(short_code) AND attribute_not_exists(used_at)")
            .expression_attribute_values(":at", n(at.as_unix_millis()))
            .send()
            .await;
        match used {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn list_invites(&self) -> Result<Vec<Invite>, RepoError> {
        let mut invites = self
            .scan_prefix(INVITE)
            .await?
            .iter()
            .map(parse_invite)
            .collect::<Result<Vec<_>, _>>()?;
        invites.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.key.cmp(&b.key)));
        Ok(invites)
    }
}
