//! Links in Redis: the [`Repository`] implementation (layout in the parent module).

use super::*;

/// `text` with the glob characters of `SCAN … MATCH` escaped.
fn glob_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The live link in a hash, or `None` for a tombstone.
fn parse_record(
    code: &ShortCode,
    fields: HashMap<String, String>,
) -> Result<Option<UrlRecord>, RepoError> {
    if fields.contains_key("x") {
        return Ok(None);
    }
    parse_live_record(code, fields).map(Some)
}

fn parse_live_record(
    code: &ShortCode,
    fields: HashMap<String, String>,
) -> Result<UrlRecord, RepoError> {
    let corrupt = |what: &str| RepoError::Corrupt(format!("{what} of link '{code}' in Redis"));
    let time = |name: &str| millis_field(&fields, name, || corrupt(name));
    Ok(UrlRecord {
        short_code: code.clone(),
        long_url: LongUrl::from_trusted(fields.get("u").ok_or_else(|| corrupt("u"))?.clone()),
        created_at: time("c")?.ok_or_else(|| corrupt("c"))?,
        expires_at: time("e")?,
        click_count: fields
            .get("n")
            .map_or(Ok(0), |v| v.parse::<u64>().map_err(|_| corrupt("n")))?,
        last_accessed_at: time("a")?,
        owner: fields.get("o").cloned(),
        disabled_at: time("d")?,
        routing: Routing::from_stored(fields.get("r").map(String::as_str))
            .map_err(|_| corrupt("r"))?,
    })
}

#[async_trait]
impl Repository for RedisRepository {
    async fn save(&self, record: &UrlRecord) -> Result<(), RepoError> {
        let mut connection = self.connection.clone();
        let indexed = record.owner.as_ref().map(|owner| {
            (
                self.owner_index(owner),
                LinkCursor::after(record).sort_key(),
            )
        });
        if let Some((index, member)) = &indexed {
            let _: i64 = connection
                .zadd(index, member, 0)
                .await
                .map_err(unavailable)?;
        }
        let created: i64 = self
            .save
            .key(self.key(&record.short_code))
            .key(self.clicks_key(&record.short_code))
            .arg(record.long_url.as_str())
            .arg(millis(record.created_at))
            .arg(
                record
                    .expires_at
                    .map_or(String::new(), |t| millis(t).to_string()),
            )
            .arg(record.click_count)
            .arg(
                record
                    .last_accessed_at
                    .map_or(String::new(), |t| millis(t).to_string()),
            )
            .arg(record.owner.as_deref().unwrap_or_default())
            .arg(record.routing.to_stored().unwrap_or_default())
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)?;
        if created == 1 {
            // Into the link-health schedule: another hash slot, so after the save (a link
            // that misses it is created all the same, and says so in the log).
            if let Err(error) = self
                .schedule_health(&record.short_code, record.created_at)
                .await
            {
                tracing::warn!(%error, "a new link did not enter the link-health schedule");
            }
            return Ok(());
        }
        if let Some((index, member)) = indexed {
            // The code was taken: this index entry names someone else's link (or a tombstone).
            let _: i64 = connection.zrem(index, member).await.map_err(unavailable)?;
        }
        Err(RepoError::Conflict)
    }

    async fn find_by_short_code(&self, code: &ShortCode) -> Result<Option<UrlRecord>, RepoError> {
        let mut connection = self.connection.clone();
        let fields: HashMap<String, String> = connection
            .hgetall(self.key(code))
            .await
            .map_err(unavailable)?;
        if fields.is_empty() {
            return Ok(None);
        }
        parse_record(code, fields)
    }

    async fn increment_click_count(&self, delta: &ClickDelta) -> Result<(), RepoError> {
        let mut connection = self.connection.clone();
        let write = delta.write;
        let mut call = self.increment.key(self.key(&delta.code));
        call.key(self.clicks_key(&delta.code))
            .arg(i64::try_from(delta.count).unwrap_or(i64::MAX))
            .arg(millis(delta.last_at))
            .arg(format!("w:{:016x}", write.instance))
            .arg(write.seq)
            .arg(write.seq.saturating_sub(WRITE_MARK_TTL_MS));
        clicks::tally_args(&mut call, &delta.tally);
        let _: i64 = call
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn delete_expired(&self, _before: Timestamp, _limit: usize) -> Result<u64, RepoError> {
        // Native expiry (PEXPIREAT) already removed every link whose time has passed.
        Ok(0)
    }

    async fn exists(&self, code: &ShortCode) -> Result<bool, RepoError> {
        let mut connection = self.connection.clone();
        connection.exists(self.key(code)).await.map_err(unavailable)
    }

    async fn ping(&self) -> Result<(), RepoError> {
        let mut connection = self.connection.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut connection)
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    async fn list_owned(
        &self,
        owner: &str,
        after: Option<&LinkCursor>,
        limit: usize,
    ) -> Result<Vec<UrlRecord>, RepoError> {
        let mut connection = self.connection.clone();
        let index = self.owner_index(owner);
        let mut start = after.map_or_else(|| "+".to_owned(), |c| format!("({}", c.sort_key()));
        let mut records = Vec::with_capacity(limit);
        // Stale members (a link gone by expiry, a lost create race) are skipped and removed;
        // each round asks for what is still missing.
        while records.len() < limit {
            let want = limit - records.len();
            let members: Vec<String> = redis::cmd("ZRANGE")
                .arg(&index)
                .arg(&start)
                .arg("-")
                .arg("BYLEX")
                .arg("REV")
                .arg("LIMIT")
                .arg(0)
                .arg(want)
                .query_async(&mut connection)
                .await
                .map_err(unavailable)?;
            let exhausted = members.len() < want;
            for member in &members {
                let found = match LinkCursor::parse(member) {
                    Some(cursor) => self
                        .find_by_short_code(&cursor.code)
                        .await?
                        .filter(|r| r.owner.as_deref() == Some(owner)),
                    None => None,
                };
                match found {
                    Some(record) => records.push(record),
                    None => {
                        let _: i64 = connection.zrem(&index, member).await.map_err(unavailable)?;
                    }
                }
            }
            match members.last() {
                Some(last) if !exhausted => start = format!("({last}"),
                _ => break,
            }
        }
        Ok(records)
    }

    async fn scan_links(&self, after: Option<&str>, limit: usize) -> Result<LinkScan, RepoError> {
        let mut connection = self.connection.clone();
        let mut cursor: u64 = match after {
            None => 0,
            Some(text) => text
                .parse()
                .map_err(|_| RepoError::Corrupt("not a scan cursor of this store".into()))?,
        };
        // Link hashes only: the analytics hash (`…link:{code}:clicks` under a hash-tagged
        // prefix) matches the pattern too, but its tail is no code.
        let head = format!("{}link:", self.prefix);
        let pattern = format!("{}*", glob_escape(&head));
        let mut links = Vec::with_capacity(limit);
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(limit.max(10))
                .query_async(&mut connection)
                .await
                .map_err(unavailable)?;
            for key in keys {
                let Some(code) = key
                    .strip_prefix(head.as_str())
                    .and_then(|c| ShortCode::parse(c).ok())
                else {
                    continue;
                };
                if let Some(record) = self.find_by_short_code(&code).await? {
                    links.push(record);
                }
            }
            cursor = next;
            if cursor == 0 || links.len() >= limit {
                break;
            }
        }
        Ok(LinkScan {
            links,
            next: (cursor != 0).then(|| cursor.to_string()),
        })
    }

    async fn update_link(
        &self,
        code: &ShortCode,
        long_url: &LongUrl,
        expires_at: Option<Timestamp>,
    ) -> Result<bool, RepoError> {
        let mut connection = self.connection.clone();
        let changed: i64 = self
            .update
            .key(self.key(code))
            .key(self.clicks_key(code))
            .arg(long_url.as_str())
            .arg(expires_at.map_or(String::new(), |t| millis(t).to_string()))
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(changed == 1)
    }

    async fn set_routing(&self, code: &ShortCode, routing: &Routing) -> Result<bool, RepoError> {
        let mut connection = self.connection.clone();
        let changed: i64 = self
            .set_field
            .key(self.key(code))
            .arg("r")
            .arg(routing.to_stored().unwrap_or_default())
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(changed == 1)
    }

    async fn set_disabled(
        &self,
        code: &ShortCode,
        at: Option<Timestamp>,
    ) -> Result<bool, RepoError> {
        let mut connection = self.connection.clone();
        let changed: i64 = self
            .set_field
            .key(self.key(code))
            .arg("d")
            .arg(at.map_or(String::new(), |t| millis(t).to_string()))
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(changed == 1)
    }

    async fn delete_link(&self, code: &ShortCode, at: Timestamp) -> Result<bool, RepoError> {
        let mut connection = self.connection.clone();
        let deleted: Option<(String, i64)> = self
            .delete
            .key(self.key(code))
            .key(self.clicks_key(code))
            .arg(millis(at))
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)?;
        let Some((owner, created)) = deleted else {
            return Ok(false);
        };
        self.forget_health(&[code.as_str().to_owned()]).await?;
        if !owner.is_empty()
            && let Some(created_at) = Timestamp::from_unix_millis(created)
        {
            let member = LinkCursor {
                created_at,
                code: code.clone(),
            }
            .sort_key();
            let _: i64 = connection
                .zrem(self.owner_index(&owner), member)
                .await
                .map_err(unavailable)?;
        }
        Ok(true)
    }
}
