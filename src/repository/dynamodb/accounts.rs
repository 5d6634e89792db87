//! Users, sessions and invites in the links' DynamoDB table, under partition keys no short code
//! can spell (they start with `#`):
//!
//! | item | attributes |
//! |---|---|
//! | `#user#{id}` | `username`, `display_name`, `password_hash`, `role`, `created_at`, `disabled_at` |
//! | `#username#{name}` | `user_id`: keeps names unique (written with the user in one transaction) |
//! | `#session#{key}` | `user_id`, `created_at`, `last_seen_at`, `expires_at` + `expiry_bucket` (`s{day}#{shard}`, in the expiry index), `ttl` |
//! | `#usess#{user id}` | `keys`: string set of the user's session keys, for "log out everywhere" |
//! | `#invite#{key}` | `role`, `created_by`, `created_at`, `invite_expires`, `used_at` |
//! | `#admins` | `version`: moved by every edit that takes an active administrator away |
//!
//! Sessions are swept through the expiry index like links (their bucket kind `s` keeps the two
//! sweeps apart), with native TTL behind it. A user's session set is written before the
//! session, so no session exists outside it; keys of ended sessions are pruned.

mod sessions;

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, TransactWriteItem, Update};

use super::{DynamoDbRepository, bucket, is_condition_failure, n, put_outcome, s, unavailable};
use crate::domain::{
    AccountEdit, DisplayName, Invite, PasswordHash, Role, Session, Timestamp, TokenKey, User,
    Username,
};
use crate::repository::{
    AccountEdited, InviteStore, PasswordSet, RepoError, SessionStore, UserStore,
};

const USER: &str = "#user#";
const USERNAME: &str = "#username#";
const SESSION: &str = "#session#";
const USER_SESSIONS: &str = "#usess#";
const INVITE: &str = "#invite#";
/// The version every edit that steps an administrator down moves (see `edit_account`).
const ADMINS: &str = "#admins";
/// Tries of an account edit that meets concurrent edits before it gives up.
const EDIT_ATTEMPTS: usize = 20;
/// Bucket kind of sessions in the expiry index.
const SESSION_KIND: &str = "s";
/// A user's session set is checked for keys of ended sessions once it holds more than this.
const PRUNE_SESSIONS_AT: usize = 32;

type Item = HashMap<String, AttributeValue>;

fn corrupt(what: &str) -> RepoError {
    RepoError::Corrupt(format!("{what} in DynamoDB"))
}

fn text<'a>(item: &'a Item, name: &str) -> Option<&'a String> {
    item.get(name).and_then(|v| v.as_s().ok())
}

fn time(item: &Item, name: &str) -> Option<Timestamp> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse::<i64>().ok())
        .and_then(Timestamp::from_unix_millis)
}

fn parse_user(item: &Item) -> Result<User, RepoError> {
    let bad = || corrupt("a user");
    let id = text(item, "short_code")
        .and_then(|k| k.strip_prefix(USER))
        .ok_or_else(bad)?;
    Ok(User {
        id: id.to_owned(),
        username: Username::parse(text(item, "username").ok_or_else(bad)?).map_err(|_| bad())?,
        display_name: DisplayName::parse(text(item, "display_name").map_or("", String::as_str))
            .map_err(|_| bad())?,
        password_hash: PasswordHash::from_phc(text(item, "password_hash").ok_or_else(bad)?.clone()),
        role: Role::parse(text(item, "role").ok_or_else(bad)?).ok_or_else(bad)?,
        created_at: time(item, "created_at").ok_or_else(bad)?,
        disabled_at: time(item, "disabled_at"),
    })
}

fn parse_session(key: &TokenKey, item: &Item) -> Result<Session, RepoError> {
    let bad = || corrupt("a session");
    Ok(Session {
        key: key.clone(),
        user_id: text(item, "user_id").ok_or_else(bad)?.clone(),
        created_at: time(item, "created_at").ok_or_else(bad)?,
        last_seen_at: time(item, "last_seen_at").ok_or_else(bad)?,
    })
}

fn parse_invite(item: &Item) -> Result<Invite, RepoError> {
    let bad = || corrupt("an invite");
    let key = text(item, "short_code")
        .and_then(|k| k.strip_prefix(INVITE))
        .ok_or_else(bad)?;
    Ok(Invite {
        key: TokenKey::from_hex(key.to_owned()),
        role: Role::parse(text(item, "role").ok_or_else(bad)?).ok_or_else(bad)?,
        created_by: text(item, "created_by").ok_or_else(bad)?.clone(),
        created_at: time(item, "created_at").ok_or_else(bad)?,
        expires_at: time(item, "invite_expires").ok_or_else(bad)?,
        used_at: time(item, "used_at"),
    })
}

/// The attributes that give a session its storage expiry: the index entry and native TTL.
fn session_expiry(key: &TokenKey, expires_at: Timestamp) -> [(&'static str, AttributeValue); 3] {
    let millis = expires_at.as_unix_millis();
    [
        ("expires_at", n(millis)),
        ("ttl", n((millis + 999).div_euclid(1000))),
        (
            "expiry_bucket",
            s(bucket(SESSION_KIND, key.as_str(), expires_at)),
        ),
    ]
}

impl DynamoDbRepository {
    async fn get(&self, key: String) -> Result<Option<Item>, RepoError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(output.item)
    }

    /// Every item whose partition key starts with `prefix`: a scan, for the admin listings of
    /// users, invites and API keys (few, and rare next to redirects).
    pub(super) async fn scan_prefix(&self, prefix: &str) -> Result<Vec<Item>, RepoError> {
        let mut items = Vec::new();
        let mut start_key = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("begins_with(short_code, :p)")
                .expression_attribute_values(":p", s(prefix))
                .consistent_read(true)
                .set_exclusive_start_key(start_key)
                .send()
                .await
                .map_err(unavailable)?;
            items.extend(page.items.unwrap_or_default());
            start_key = page.last_evaluated_key;
            if start_key.is_none() {
                return Ok(items);
            }
        }
    }

    /// Removes `keys` from `user_id`'s session set.
    async fn forget_sessions(&self, user_id: &str, keys: Vec<String>) -> Result<(), RepoError> {
        if keys.is_empty() {
            return Ok(());
        }
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&format!("{USER_SESSIONS}{user_id}"))))
            .update_expression("DELETE #k :k")
            .expression_attribute_names("#k", "keys")
            .expression_attribute_values(":k", AttributeValue::Ss(keys))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// The keys in `user_id`'s session set.
    async fn session_keys(&self, user_id: &str) -> Result<Vec<String>, RepoError> {
        Ok(self
            .get(format!("{USER_SESSIONS}{user_id}"))
            .await?
            .and_then(|item| item.get("keys").and_then(|v| v.as_ss().ok()).cloned())
            .unwrap_or_default())
    }

    /// Drops from `user_id`'s session set the keys whose session has ended.
    async fn prune_user_sessions(&self, user_id: &str) -> Result<(), RepoError> {
        let mut gone = Vec::new();
        for key in self.session_keys(user_id).await? {
            if self.get(format!("{SESSION}{key}")).await?.is_none() {
                gone.push(key);
            }
        }
        self.forget_sessions(user_id, gone).await
    }
}

#[async_trait]
impl UserStore for DynamoDbRepository {
    async fn insert_user(&self, user: &User) -> Result<(), RepoError> {
        let mut item = HashMap::from([
            ("short_code".to_owned(), s(format!("{USER}{}", user.id))),
            ("username".to_owned(), s(user.username.as_str())),
            ("password_hash".to_owned(), s(user.password_hash.as_phc())),
            ("role".to_owned(), s(user.role.as_str())),
            ("created_at".to_owned(), n(user.created_at.as_unix_millis())),
        ]);
        if let Some(name) = &user.display_name {
            item.insert("display_name".to_owned(), s(name.as_str()));
        }
        if let Some(at) = user.disabled_at {
            item.insert("disabled_at".to_owned(), n(at.as_unix_millis()));
        }
        let put = |item: Item| {
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(short_code)")
                .build()
                .map(|put| TransactWriteItem::builder().put(put).build())
                .map_err(unavailable)
        };
        let name = HashMap::from([
            (
                "short_code".to_owned(),
                s(format!("{USERNAME}{}", user.username)),
            ),
            ("user_id".to_owned(), s(&user.id)),
        ]);
        let written = self
            .client
            .transact_write_items()
            .transact_items(put(name)?)
            .transact_items(put(item)?)
            .send()
            .await;
        match written {
            Ok(_) => Ok(()),
            // A failed condition cancels the transaction: the name or the id is taken.
            Err(e) if e.code() == Some("TransactionCanceledException") => Err(RepoError::Conflict),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn find_user(&self, id: &str) -> Result<Option<User>, RepoError> {
        self.get(format!("{USER}{id}"))
            .await?
            .as_ref()
            .map(parse_user)
            .transpose()
    }

    async fn find_user_by_name(&self, username: &Username) -> Result<Option<User>, RepoError> {
        let Some(name) = self.get(format!("{USERNAME}{username}")).await? else {
            return Ok(None);
        };
        let id = text(&name, "user_id").ok_or_else(|| corrupt("a user name"))?;
        self.find_user(id).await
    }

    async fn list_users(&self) -> Result<Vec<User>, RepoError> {
        let mut users = self
            .scan_prefix(USER)
            .await?
            .iter()
            .map(parse_user)
            .collect::<Result<Vec<_>, _>>()?;
        users.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(users)
    }

    async fn edit_account(&self, id: &str, edit: &AccountEdit) -> Result<AccountEdited, RepoError> {
        // Optimistic: read, decide, then write only if nothing that decided it changed. The
        // user's item is written on condition that its role and status are still as read; an
        // edit that steps an administrator down also moves the version of `#admins`, on the
        // condition that it is still the version read before the users were listed, so of two
        // concurrent step-downs one fails, reads again and sees the other.
        for _ in 0..EDIT_ATTEMPTS {
            let version = self.get(ADMINS.into()).await?.and_then(|item| {
                item.get("version")
                    .and_then(|v| v.as_n().ok())
                    .and_then(|v| v.parse::<i64>().ok())
            });
            let users = self.list_users().await?;
            let Some(user) = users.iter().find(|u| u.id == id) else {
                return Ok(AccountEdited::NoSuchUser);
            };
            let steps_down = edit.steps_down(user);
            if steps_down && !users.iter().any(|u| u.id != id && u.is_active_admin()) {
                return Ok(AccountEdited::LastAdmin);
            }
            let edited = edit.apply(user);
            let mut update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(Self::key(&format!("{USER}{id}"))))
                .expression_attribute_names("#r", "role")
                .expression_attribute_values(":r", s(edited.role.as_str()))
                .expression_attribute_values(":old_r", s(user.role.as_str()));
            let mut condition = "attribute_exists(short_code) AND #r = :old_r".to_owned();
            match user.disabled_at {
                Some(at) => {
                    condition.push_str(" AND disabled_at = :old_x");
                    update = update.expression_attribute_values(":old_x", n(at.as_unix_millis()));
                }
                None => condition.push_str(" AND attribute_not_exists(disabled_at)"),
            }
            update = match edited.disabled_at {
                Some(at) => update
                    .update_expression("SET #r = :r, disabled_at = :x")
                    .expression_attribute_values(":x", n(at.as_unix_millis())),
                None => update.update_expression("SET #r = :r REMOVE disabled_at"),
            };
            let mut transaction = self.client.transact_write_items().transact_items(
                TransactWriteItem::builder()
                    .update(
                        update
                            .condition_expression(condition)
                            .build()
                            .map_err(unavailable)?,
                    )
                    .build(),
            );
            if steps_down {
                let guard = Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(Self::key(ADMINS)))
                    .update_expression("SET version = :next")
                    .expression_attribute_values(":next", n(version.unwrap_or(0) + 1));
                let guard = match version {
                    Some(v) => guard
                        .condition_expression("version = :v")
                        .expression_attribute_values(":v", n(v)),
                    None => guard.condition_expression("attribute_not_exists(version)"),
                };
                transaction = transaction.transact_items(
                    TransactWriteItem::builder()
                        .update(guard.build().map_err(unavailable)?)
                        .build(),
                );
            }
            match transaction.send().await {
                Ok(_) => return Ok(AccountEdited::Edited(edited)),
                // Something it was decided on changed: decide again.
                Err(e) if e.code() == Some("TransactionCanceledException") => continue,
                Err(e) => return Err(unavailable(e)),
            }
        }
        Err(RepoError::Unavailable(
            "an account edit kept meeting concurrent edits".into(),
        ))
    }

    async fn set_password_hash(
        &self,
        id: &str,
        hash: &PasswordHash,
        expected: Option<&PasswordHash>,
    ) -> Result<PasswordSet, RepoError> {
        // Only the hash attribute: an administrator's edit of role or status meanwhile stays.
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&format!("{USER}{id}"))))
            .update_expression("SET password_hash = :h")
            .expression_attribute_values(":h", s(hash.as_phc()))
            .return_values(ReturnValue::AllNew);
        update = match expected {
            Some(old) => update
                .condition_expression("attribute_exists(short_code) AND password_hash = :old")
                .expression_attribute_values(":old", s(old.as_phc())),
            None => update.condition_expression("attribute_exists(short_code)"),
        };
        match update.send().await {
            Ok(output) => match output.attributes {
                Some(item) => parse_user(&item).map(PasswordSet::Set),
                None => Err(corrupt("a user (no attributes returned)")),
            },
            Err(e) if is_condition_failure(&e) => Ok(match self.find_user(id).await? {
                Some(_) => PasswordSet::Changed,
                None => PasswordSet::NoSuchUser,
            }),
            Err(e) => Err(unavailable(e)),
        }
    }
}
