//! API keys in the DynamoDB table (`#apikey#{hash}` items and each user's `#ukeys#{id}`
//! index item, whose `version` every create of that user's keys moves): the [`ApiKeyStore`]
//! implementation.

use super::*;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};

/// Tries of a key create that meets concurrent creates of the same owner before it gives up.
const KEY_INSERT_ATTEMPTS: usize = 20;

fn parse_key_item(item: &HashMap<String, AttributeValue>) -> Result<ApiKeyRecord, RepoError> {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok());
    let number = |name: &str| {
        item.get(name)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<i64>().ok())
    };
    let hash = text("short_code")
        .and_then(|k| k.strip_prefix(API_KEY_PREFIX))
        .unwrap_or_default()
        .to_owned();
    let corrupt = || RepoError::Corrupt(format!("API key item {hash} in DynamoDB"));
    Ok(ApiKeyRecord {
        id: text("key_id").ok_or_else(corrupt)?.clone(),
        name: text("name").cloned().unwrap_or_default(),
        hash: ApiKeyHash::from_hex(hash.clone()),
        created_at: number("created_at")
            .and_then(Timestamp::from_unix_millis)
            .ok_or_else(corrupt)?,
        revoked_at: number("revoked_at").and_then(Timestamp::from_unix_millis),
        owner: text("owner_id").cloned(),
        last_used_at: number("last_used_at").and_then(Timestamp::from_unix_millis),
    })
}

impl DynamoDbRepository {
    /// The owner's key index item: its version (moved by every create) and its key hashes.
    async fn user_key_index(&self, owner: &str) -> Result<(Option<i64>, Vec<String>), RepoError> {
        let index = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&format!("{USER_KEYS_PREFIX}{owner}"))))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        let item = index.item();
        let version = item
            .and_then(|i| i.get("version"))
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<i64>().ok());
        let hashes = item
            .and_then(|i| i.get("keys"))
            .and_then(|v| v.as_ss().ok())
            .cloned()
            .unwrap_or_default();
        Ok((version, hashes))
    }
}

#[async_trait]
impl ApiKeyStore for DynamoDbRepository {
    async fn insert_key(
        &self,
        key: &ApiKeyRecord,
        max_live: usize,
    ) -> Result<KeyInsert, RepoError> {
        let mut item = HashMap::from([
            ("short_code".to_owned(), s(Self::api_key_item(&key.hash))),
            ("key_id".to_owned(), s(&key.id)),
            ("name".to_owned(), s(&key.name)),
            ("created_at".to_owned(), n(key.created_at.as_unix_millis())),
        ]);
        let Some(owner) = &key.owner else {
            // The operator's key: no owner, no cap.
            let put = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(short_code)");
            return put_outcome(put.send().await).map(|()| KeyInsert::Inserted);
        };
        item.insert("owner_id".to_owned(), s(owner));
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(short_code)")
            .build()
            .map_err(unavailable)?;
        // Optimistic: count the owner's live keys, then write the key and add it to the
        // owner's index on condition that the index's version is still the one counted under.
        // Of concurrent creates one wins; the others count again.
        for _ in 0..KEY_INSERT_ATTEMPTS {
            let (version, hashes) = self.user_key_index(owner).await?;
            let mut live = 0;
            for hash in hashes {
                if self
                    .find_key(&ApiKeyHash::from_hex(hash))
                    .await?
                    .is_some_and(|k| k.is_active())
                {
                    live += 1;
                }
            }
            if live >= max_live {
                return Ok(KeyInsert::AtCap);
            }
            let index = Update::builder()
                .table_name(&self.table)
                .set_key(Some(Self::key(&format!("{USER_KEYS_PREFIX}{owner}"))))
                .update_expression("ADD #k :k SET version = :next")
                .expression_attribute_names("#k", "keys")
                .expression_attribute_values(
                    ":k",
                    AttributeValue::Ss(vec![key.hash.as_str().into()]),
                )
                .expression_attribute_values(":next", n(version.unwrap_or(0) + 1));
            let index = match version {
                Some(v) => index
                    .condition_expression("version = :v")
                    .expression_attribute_values(":v", n(v)),
                None => index.condition_expression("attribute_not_exists(version)"),
            };
            let written = self
                .client
                .transact_write_items()
                .transact_items(
                    TransactWriteItem::builder()
                        .update(index.build().map_err(unavailable)?)
                        .build(),
                )
                .transact_items(TransactWriteItem::builder().put(put.clone()).build())
                .send()
                .await;
            match written {
                Ok(_) => return Ok(KeyInsert::Inserted),
                Err(e) if e.code() == Some("TransactionCanceledException") => {
                    if self.find_key(&key.hash).await?.is_some() {
                        return Err(RepoError::Conflict);
                    }
                    // Another create moved the version: count again.
                }
                Err(e) => return Err(unavailable(e)),
            }
        }
        Err(RepoError::Unavailable(
            "an API key create kept meeting concurrent creates".into(),
        ))
    }

    async fn find_key(&self, hash: &ApiKeyHash) -> Result<Option<ApiKeyRecord>, RepoError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&Self::api_key_item(hash))))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        output.item().map(parse_key_item).transpose()
    }

    async fn list_keys(&self) -> Result<Vec<ApiKeyRecord>, RepoError> {
        // A scan: API keys share the links' table, and listing them all is a rare operator
        // command (a user's own keys come from their index item instead).
        let mut keys = self
            .scan_prefix(API_KEY_PREFIX)
            .await?
            .iter()
            .map(parse_key_item)
            .collect::<Result<Vec<_>, _>>()?;
        keys.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(keys)
    }

    async fn list_user_keys(&self, owner: &str) -> Result<Vec<ApiKeyRecord>, RepoError> {
        let (_, hashes) = self.user_key_index(owner).await?;
        let mut keys = Vec::with_capacity(hashes.len());
        for hash in hashes {
            if let Some(key) = self.find_key(&ApiKeyHash::from_hex(hash)).await? {
                keys.push(key);
            }
        }
        keys.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(keys)
    }

    async fn revoke_key(&self, hash: &ApiKeyHash, at: Timestamp) -> Result<bool, RepoError> {
        let revoked = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&Self::api_key_item(hash))))
            .update_expression("SET revoked_at = if_not_exists(revoked_at, :at)")
            .condition_expression("attribute_exists(short_code)")
            .expression_attribute_values(":at", n(at.as_unix_millis()))
            .send()
            .await;
        match revoked {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn touch_key(&self, hash: &ApiKeyHash, at: Timestamp) -> Result<(), RepoError> {
        let touched = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&Self::api_key_item(hash))))
            .update_expression("SET last_used_at = :at")
            .condition_expression(
                "attribute_exists(short_code) AND \
                 (attribute_not_exists(last_used_at) OR last_used_at < :at)",
            )
            .expression_attribute_values(":at", n(at.as_unix_millis()))
            .send()
            .await;
        match touched {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }
}
