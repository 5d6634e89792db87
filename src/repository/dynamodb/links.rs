//! Links in the DynamoDB table: the [`Repository`] implementation (layout in the parent
//! module's table).

use super::*;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;

/// The live link in an item, or `None` for a deleted link's tombstone.
fn parse_item(item: &HashMap<String, AttributeValue>) -> Result<Option<UrlRecord>, RepoError> {
    if item.contains_key("deleted_at") {
        return Ok(None);
    }
    parse_live_item(item).map(Some)
}

fn parse_live_item(item: &HashMap<String, AttributeValue>) -> Result<UrlRecord, RepoError> {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok());
    let number = |name: &str| item.get(name).and_then(|v| v.as_n().ok());
    let code = text("short_code").map_or("", String::as_str);
    let corrupt = |what: &str| RepoError::Corrupt(format!("{what} of link '{code}' in DynamoDB"));
    let time = |name: &str| -> Result<Option<Timestamp>, RepoError> {
        number(name)
            .map(|v| {
                v.parse::<i64>()
                    .ok()
                    .and_then(Timestamp::from_unix_millis)
                    .ok_or_else(|| corrupt(name))
            })
            .transpose()
    };
    Ok(UrlRecord {
        short_code: ShortCode::parse(code).map_err(|_| corrupt("short_code"))?,
        long_url: LongUrl::from_trusted(
            text("long_url").ok_or_else(|| corrupt("long_url"))?.clone(),
        ),
        created_at: time("created_at")?.ok_or_else(|| corrupt("created_at"))?,
        expires_at: time("expires_at")?,
        click_count: number("click_count").map_or(Ok(0), |v| {
            v.parse::<u64>().map_err(|_| corrupt("click_count"))
        })?,
        last_accessed_at: time("last_accessed_at")?,
        owner: text("owner_id").cloned(),
        disabled_at: time("disabled_at")?,
        routing: Routing::from_stored(text("routing").map(String::as_str))
            .map_err(|_| corrupt("routing"))?,
    })
}

/// `update` with the `:d` value (the days a tally touches) when the expression names it:
/// DynamoDB refuses values an expression does not use.
fn with_days_value(
    update: UpdateItemFluentBuilder,
    with_days: bool,
    days: &AttributeValue,
) -> UpdateItemFluentBuilder {
    if with_days {
        update.expression_attribute_values(":d", days.clone())
    } else {
        update
    }
}

/// The attributes that give a link its expiry: the value, native TTL and the expiry index.
fn expiry_attributes(
    code: &ShortCode,
    expires_at: Timestamp,
) -> [(&'static str, AttributeValue); 3] {
    let millis = expires_at.as_unix_millis();
    [
        ("expires_at", n(millis)),
        ("ttl", n((millis + 999).div_euclid(1000))),
        ("expiry_bucket", s(expiry_bucket(code, expires_at))),
    ]
}

impl DynamoDbRepository {
    /// Sets (`Some`) or removes (`None`) the attribute `name` of the live link `code`, and
    /// nothing else; `false` when there is no live link (none, or a tombstone).
    async fn set_live_attribute(
        &self,
        code: &ShortCode,
        name: &str,
        value: Option<AttributeValue>,
    ) -> Result<bool, RepoError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(code.as_str())))
            .condition_expression("attribute_exists(long_url) AND attribute_not_exists(deleted_at)")
            .expression_attribute_names("#a", name);
        let update = match value {
            Some(value) => update
                .update_expression("SET #a = :v")
                .expression_attribute_values(":v", value),
            None => update.update_expression("REMOVE #a"),
        };
        match update.send().await {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }
}

#[async_trait]
impl Repository for DynamoDbRepository {
    async fn save(&self, record: &UrlRecord) -> Result<(), RepoError> {
        let mut item = HashMap::from([
            ("short_code".to_owned(), s(record.short_code.as_str())),
            ("long_url".to_owned(), s(record.long_url.as_str())),
            (
                "created_at".to_owned(),
                n(record.created_at.as_unix_millis()),
            ),
            ("click_count".to_owned(), n(record.click_count)),
        ]);
        if let Some(expires_at) = record.expires_at {
            for (name, value) in expiry_attributes(&record.short_code, expires_at) {
                item.insert(name.to_owned(), value);
            }
        }
        for (name, value) in link_health::schedule_attributes(&record.short_code, record.created_at)
        {
            item.insert(name.to_owned(), value);
        }
        if let Some(owner) = &record.owner {
            item.insert("owner_id".to_owned(), s(owner));
            item.insert(
                "owner_sort".to_owned(),
                s(LinkCursor::after(record).sort_key()),
            );
        }
        if let Some(at) = record.last_accessed_at {
            item.insert("last_accessed_at".to_owned(), n(at.as_unix_millis()));
        }
        if let Some(routing) = record.routing.to_stored() {
            item.insert("routing".to_owned(), s(routing));
        }
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(short_code)")
            .send()
            .await;
        put_outcome(put)
    }

    async fn find_by_short_code(&self, code: &ShortCode) -> Result<Option<UrlRecord>, RepoError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(code.as_str())))
            // A link created on one instance must resolve on the next instance at once.
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(output.item().map(parse_item).transpose()?.flatten())
    }

    async fn increment_click_count(&self, delta: &ClickDelta) -> Result<(), RepoError> {
        let key = Self::key(delta.code.as_str());
        let mark = format!("{MARK_PREFIX}{:016x}", delta.write.instance);
        let seq = delta.write.seq;
        let (human, bot) = delta
            .tally
            .hours
            .iter()
            .fold((0u64, 0u64), |(h, b), hour| (h + hour.human, b + hour.bot));
        // The whole old item (to look for stale marks) on one write in PRUNE_SAMPLE: marks
        // belong to instances, which come and go far slower than flushes, and returning every
        // item would double what each increment moves.
        // With analytics, the new item: its `created_at` names the day items.
        let day_list = clicks::tally_days(&delta.tally);
        let with_days = !day_list.is_empty();
        let returned = if with_days {
            ReturnValue::AllNew
        } else if seq.is_multiple_of(PRUNE_SAMPLE) {
            ReturnValue::AllOld
        } else {
            ReturnValue::None
        };
        let days = AttributeValue::Ns(day_list.iter().map(ToString::to_string).collect());
        let add_days = if with_days { ", click_days :d" } else { "" };
        // One request in the common case (clicks arrive in time order); if the condition
        // failed, a second request without the time condition tells the rest apart: it fails
        // again for a missing link or a write applied before, and adds the clicks alone when
        // only an older `at` stood in the way.
        let forward = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key.clone()))
            .update_expression(format!(
                "ADD click_count :n, human_clicks :h, bot_clicks :b{add_days} SET last_accessed_at = :at, #w = :seq"
            ))
            .condition_expression(
                "attribute_exists(short_code) AND attribute_not_exists(deleted_at) AND \
                 (attribute_not_exists(#w) OR #w < :seq) AND \
                 (attribute_not_exists(last_accessed_at) OR last_accessed_at < :at)",
            )
            .expression_attribute_names("#w", &mark)
            .expression_attribute_values(":n", n(delta.count))
            .expression_attribute_values(":h", n(human))
            .expression_attribute_values(":b", n(bot))
            .expression_attribute_values(":at", n(delta.last_at.as_unix_millis()))
            .expression_attribute_values(":seq", n(seq))
            .return_values(returned.clone());
        let forward = with_days_value(forward, with_days, &days).send().await;
        let applied = match forward {
            Ok(output) => output,
            Err(e) if is_condition_failure(&e) => {
                let counted = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(key))
                    .update_expression(format!(
                        "ADD click_count :n, human_clicks :h, bot_clicks :b{add_days} SET #w = :seq"
                    ))
                    // Never create an item from a counter: a missing or deleted link stays
                    // missing; and never apply one write twice.
                    .condition_expression(
                        "attribute_exists(short_code) AND attribute_not_exists(deleted_at) AND \
                         (attribute_not_exists(#w) OR #w < :seq)",
                    )
                    .expression_attribute_names("#w", &mark)
                    .expression_attribute_values(":n", n(delta.count))
                    .expression_attribute_values(":h", n(human))
                    .expression_attribute_values(":b", n(bot))
                    .expression_attribute_values(":seq", n(seq))
                    .return_values(returned);
                let counted = with_days_value(counted, with_days, &days).send().await;
                match counted {
                    Ok(output) => output,
                    // The link is gone, or this write was applied before; then its day items
                    // may still lack it (the write failed between the two).
                    Err(e) if is_condition_failure(&e) => {
                        if with_days {
                            self.add_tally_again(&delta.code, &delta.tally, delta.write)
                                .await?;
                        }
                        return Ok(());
                    }
                    Err(e) => return Err(unavailable(e)),
                }
            }
            Err(e) => return Err(unavailable(e)),
        };
        if let Some(item) = applied.attributes() {
            if with_days {
                let created_at = item
                    .get("created_at")
                    .and_then(|v| v.as_n().ok())
                    .and_then(|v| v.parse::<i64>().ok())
                    .ok_or_else(|| {
                        RepoError::Corrupt(format!("created_at of link '{}'", delta.code))
                    })?;
                self.add_tally(&delta.code, created_at, &delta.tally, delta.write)
                    .await?;
            }
            if seq.is_multiple_of(PRUNE_SAMPLE) {
                self.prune_marks(&delta.code, item, seq).await;
            }
        }
        Ok(())
    }

    async fn delete_expired(&self, before: Timestamp, limit: usize) -> Result<u64, RepoError> {
        self.sweep("", before, limit).await
    }

    async fn exists(&self, code: &ShortCode) -> Result<bool, RepoError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(code.as_str())))
            .projection_expression("short_code")
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(output.item().is_some())
    }

    async fn ping(&self) -> Result<(), RepoError> {
        self.client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(PING_KEY)))
            .projection_expression("short_code")
            .send()
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    /// Through the owner index (keys only), then a consistent read of each link: the index is
    /// eventually consistent, so an entry for a link deleted a moment ago is skipped, and a
    /// link created a moment ago may be missing from the first page for as long.
    async fn list_owned(
        &self,
        owner: &str,
        after: Option<&LinkCursor>,
        limit: usize,
    ) -> Result<Vec<UrlRecord>, RepoError> {
        let mut records = Vec::with_capacity(limit);
        let mut start_key = None;
        while records.len() < limit {
            let want = limit - records.len();
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(OWNER_INDEX)
                .scan_index_forward(false)
                .expression_attribute_values(":o", s(owner))
                .limit(i32::try_from(want).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start_key);
            query = match after {
                Some(cursor) => query
                    .key_condition_expression("owner_id = :o AND owner_sort < :c")
                    .expression_attribute_values(":c", s(cursor.sort_key())),
                None => query.key_condition_expression("owner_id = :o"),
            };
            let page = query.send().await.map_err(unavailable)?;
            for item in page.items() {
                let Some(code) = item
                    .get("short_code")
                    .and_then(|v| v.as_s().ok())
                    .and_then(|c| ShortCode::parse(c).ok())
                else {
                    continue;
                };
                if let Some(record) = self
                    .find_by_short_code(&code)
                    .await?
                    .filter(|r| r.owner.as_deref() == Some(owner))
                {
                    records.push(record);
                }
            }
            start_key = page.last_evaluated_key;
            if start_key.is_none() {
                break;
            }
        }
        records.truncate(limit);
        Ok(records)
    }

    /// A consistent scan of the table for link items (the table also holds accounts, keys and
    /// analytics under other keys); the cursor is the last key the scan read.
    async fn scan_links(&self, after: Option<&str>, limit: usize) -> Result<LinkScan, RepoError> {
        let mut links = Vec::with_capacity(limit);
        let mut start_key = after.map(Self::key);
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression(
                    "attribute_exists(long_url) AND attribute_not_exists(deleted_at)",
                )
                .consistent_read(true)
                .limit(i32::try_from(limit.max(10)).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start_key)
                .send()
                .await
                .map_err(unavailable)?;
            for item in page.items() {
                let is_link = item
                    .get("short_code")
                    .and_then(|v| v.as_s().ok())
                    .is_some_and(|c| ShortCode::parse(c).is_ok());
                if is_link && let Some(record) = parse_item(item)? {
                    links.push(record);
                }
            }
            start_key = page.last_evaluated_key;
            if start_key.is_none() || links.len() >= limit {
                break;
            }
        }
        let next =
            start_key.and_then(|key| key.get("short_code").and_then(|v| v.as_s().ok()).cloned());
        Ok(LinkScan { links, next })
    }

    async fn update_link(
        &self,
        code: &ShortCode,
        long_url: &LongUrl,
        expires_at: Option<Timestamp>,
    ) -> Result<bool, RepoError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(code.as_str())))
            .condition_expression(
                "attribute_exists(short_code) AND attribute_not_exists(deleted_at)",
            )
            .expression_attribute_names("#t", "ttl")
            .expression_attribute_values(":u", s(long_url.as_str()));
        update = match expires_at {
            Some(at) => {
                let [(_, e), (_, t), (_, b)] = expiry_attributes(code, at);
                update
                    .update_expression(
                        "SET long_url = :u, expires_at = :e, #t = :t, expiry_bucket = :b",
                    )
                    .expression_attribute_values(":e", e)
                    .expression_attribute_values(":t", t)
                    .expression_attribute_values(":b", b)
            }
            None => {
                update.update_expression("SET long_url = :u REMOVE expires_at, #t, expiry_bucket")
            }
        };
        match update.send().await {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn set_routing(&self, code: &ShortCode, routing: &Routing) -> Result<bool, RepoError> {
        self.set_live_attribute(code, "routing", routing.to_stored().map(s))
            .await
    }

    async fn set_disabled(
        &self,
        code: &ShortCode,
        at: Option<Timestamp>,
    ) -> Result<bool, RepoError> {
        self.set_live_attribute(code, "disabled_at", at.map(|t| n(t.as_unix_millis())))
            .await
    }

    async fn delete_link(&self, code: &ShortCode, at: Timestamp) -> Result<bool, RepoError> {
        // The item stays as the code's tombstone: without destination, expiry (neither the
        // sweep nor native TTL takes it), owner (out of the owner index) or health schedule.
        let deleted = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(code.as_str())))
            .update_expression(format!(
                "SET deleted_at = :at REMOVE long_url, expires_at, #t, expiry_bucket, owner_id, owner_sort, routing, {}",
                link_health::HEALTH_ATTRIBUTES
            ))
            .condition_expression("attribute_exists(short_code) AND attribute_not_exists(deleted_at)")
            .expression_attribute_names("#t", "ttl")
            .expression_attribute_values(":at", n(at.as_unix_millis()))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match deleted {
            Ok(output) => {
                if let Some(old) = output.attributes {
                    self.forget_days(&[old]).await;
                }
                Ok(true)
            }
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }
}
