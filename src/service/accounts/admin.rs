//! First-run setup, administering accounts and invites, and the sweep of ended sessions.

use super::*;

impl AccountService {
    /// The first active administrator. Finding it lists every user (a scan on DynamoDB), so
    /// the answer is remembered: its id, checked with one read on each use (so a disabled
    /// administrator stops counting at once), and "none" for [`FIRST_ADMIN_RECHECK`].
    pub(super) async fn first_admin(&self) -> Result<Option<User>, ServiceError> {
        let now = self.clock.now();
        let remembered = self
            .first_admin
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        match remembered {
            Some((_, Some(id))) => {
                if let Some(user) = self.users.find_user(&id).await?
                    && user.is_admin()
                    && user.is_active()
                {
                    return Ok(Some(user));
                }
            }
            Some((checked, None))
                if now.millis_since(checked) < FIRST_ADMIN_RECHECK.as_millis() as u64 =>
            {
                return Ok(None);
            }
            _ => {}
        }
        let admin = self
            .users
            .list_users()
            .await?
            .into_iter()
            .find(|u| u.is_admin() && u.is_active());
        *self.first_admin.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((now, admin.as_ref().map(|u| u.id.clone())));
        Ok(admin)
    }

    /// Opens first-run setup when no active administrator exists: a one-time token (for the
    /// operator, printed in the log) with which [`Self::complete_setup`] creates the first
    /// administrator. `None` when an administrator exists. A new call replaces the token.
    ///
    /// # Errors
    /// [`ServiceError::Storage`].
    pub async fn open_setup(&self) -> Result<Option<Token>, ServiceError> {
        let mut setup = self.setup.lock().await;
        if self.has_admin().await? {
            *setup = None;
            return Ok(None);
        }
        let token = Token::generate();
        *setup = Some(token.key());
        Ok(Some(token))
    }

    /// Creates the first administrator with the setup token, and closes setup.
    ///
    /// # Errors
    /// [`ServiceError::InvalidSetupToken`] for a wrong token or when setup is not open;
    /// [`ServiceError::SetupDone`] when an administrator exists by now; the errors of
    /// [`Self::create_user`].
    pub async fn complete_setup(
        &self,
        token: &str,
        username: &str,
        password: &str,
        display_name: Option<&str>,
    ) -> Result<User, ServiceError> {
        let mut setup = self.setup.lock().await;
        let presented = Token::parse(token).map(|t| t.key());
        if setup.is_none() || presented != *setup {
            return Err(ServiceError::InvalidSetupToken);
        }
        if self.has_admin().await? {
            *setup = None;
            return Err(ServiceError::SetupDone);
        }
        let user = self
            .create_user(username, password, display_name, Role::Admin)
            .await?;
        *setup = None;
        Ok(user)
    }

    /// Every account, oldest first.
    ///
    /// # Errors
    /// [`ServiceError::Storage`].
    pub async fn list_users(&self) -> Result<Vec<User>, ServiceError> {
        Ok(self.users.list_users().await?)
    }

    /// Whether any active administrator exists (first-run setup is offered until one does).
    ///
    /// # Errors
    /// [`ServiceError::Storage`].
    pub async fn has_admin(&self) -> Result<bool, ServiceError> {
        Ok(self
            .users
            .list_users()
            .await?
            .iter()
            .any(|u| u.is_admin() && u.is_active()))
    }

    /// Sets the password of `username` without the current one (operators, admins); ends
    /// every session of that user.
    ///
    /// # Errors
    /// [`ServiceError::NoSuchUser`]; [`ServiceError::Account`]; [`ServiceError::Storage`].
    pub async fn set_password(&self, username: &str, password: &str) -> Result<(), ServiceError> {
        let password = Password::parse(password)?;
        let user = self.user_named(username).await?;
        self.store_password(&user, password, None, None).await
    }

    /// Changes the role and/or disabled state of `username`; disabling ends every session.
    ///
    /// # Errors
    /// [`ServiceError::NoSuchUser`]; [`ServiceError::LastAdmin`] when the change would leave
    /// no active administrator; [`ServiceError::Storage`].
    pub async fn update_account(
        &self,
        username: &str,
        role: Option<Role>,
        disabled: Option<bool>,
    ) -> Result<User, ServiceError> {
        let user = self.user_named(username).await?;
        let edit = AccountEdit {
            role,
            disabled,
            at: self.clock.now(),
        };
        // The store applies the edit to the account as it is when it writes, and refuses, in
        // the same atomic step, an edit that would leave no active administrator.
        match self.users.edit_account(&user.id, &edit).await? {
            AccountEdited::Edited(updated) => {
                if !updated.is_active() {
                    self.end_sessions(&updated, None).await?;
                }
                Ok(updated)
            }
            AccountEdited::NoSuchUser => Err(ServiceError::NoSuchUser),
            AccountEdited::LastAdmin => Err(ServiceError::LastAdmin),
        }
    }

    /// A one-time invite for an account with `role`, made by `admin`: the token for the link
    /// (shown once) and the stored record.
    ///
    /// # Errors
    /// [`ServiceError::Storage`].
    pub async fn create_invite(
        &self,
        admin: &User,
        role: Role,
    ) -> Result<(Token, Invite), ServiceError> {
        let now = self.clock.now();
        let token = Token::generate();
        let invite = Invite {
            key: token.key(),
            role,
            created_by: admin.id.clone(),
            created_at: now,
            expires_at: now.saturating_add(self.invite_ttl),
            used_at: None,
        };
        self.invites.insert_invite(&invite).await?;
        Ok((token, invite))
    }

    /// Creates the account an open invite offers and uses the invite up.
    ///
    /// # Errors
    /// [`ServiceError::InvalidInvite`] for an unknown, used or expired invite (one answer for
    /// all three); the errors of [`Self::create_user`].
    pub async fn accept_invite(
        &self,
        token: &Token,
        username: &str,
        password: &str,
        display_name: Option<&str>,
    ) -> Result<User, ServiceError> {
        let now = self.clock.now();
        let invite = self
            .invites
            .find_invite(&token.key())
            .await?
            .filter(|i| i.is_open(now))
            .ok_or(ServiceError::InvalidInvite)?;
        let user = self
            .create_user(username, password, display_name, invite.role)
            .await?;
        if !self
            .invites
            .use_invite(&invite.key, self.clock.now())
            .await?
        {
            // Another acceptance of the same invite won the race: this account must not exist.
            self.update_account(user.username.as_str(), None, Some(true))
                .await?;
            return Err(ServiceError::InvalidInvite);
        }
        Ok(user)
    }

    /// Every invite, newest first.
    ///
    /// # Errors
    /// [`ServiceError::Storage`].
    pub async fn list_invites(&self) -> Result<Vec<Invite>, ServiceError> {
        Ok(self.invites.list_invites().await?)
    }

    /// Removes up to `limit` sessions that expired before `before`; how many.
    ///
    /// # Errors
    /// [`ServiceError::Storage`].
    pub async fn sweep_sessions(
        &self,
        before: Timestamp,
        limit: usize,
    ) -> Result<u64, ServiceError> {
        Ok(self.sessions.delete_expired_sessions(before, limit).await?)
    }
}
