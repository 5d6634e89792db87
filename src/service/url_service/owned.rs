//! The links people own: listing them (an owner's own, or every link for administrators),
//! editing, disabling and deleting them, and the storage probe.

use super::*;

impl UrlService {
    /// A page of `owner`'s links (expired ones included), newest first, filtered by
    /// `query.q`. Reads only the owner's links, through the store's owner index.
    ///
    /// # Errors
    /// [`ServiceError::Storage`].
    pub async fn links_of(&self, owner: &str, query: LinkQuery) -> Result<LinkPage, ServiceError> {
        let needle = query.q.to_lowercase();
        let matches = |r: &UrlRecord| {
            needle.is_empty()
                || r.short_code.as_str().to_lowercase().contains(&needle)
                || r.long_url.as_str().to_lowercase().contains(&needle)
        };
        // One more than asked, to know whether a next page exists.
        let want = query.limit + 1;
        let batch = if needle.is_empty() {
            want
        } else {
            LIST_BATCH.max(want)
        };
        let read = || async {
            let mut found = Vec::with_capacity(want);
            let mut after = query.after.clone();
            loop {
                let page = self.repo.list_owned(owner, after.as_ref(), batch).await?;
                let exhausted = page.len() < batch;
                after = page.last().map(LinkCursor::after);
                found.extend(page.into_iter().filter(|r| matches(r)));
                if found.len() >= want || exhausted {
                    break;
                }
            }
            found.truncate(want);
            Ok::<_, RepoError>(found)
        };
        let (mut found, unflushed) = self
            .clicks
            .buffer
            .read_with_unflushed(read, |found: &Vec<UrlRecord>| codes_of(found))
            .await?;
        let next = if found.len() > query.limit {
            found.truncate(query.limit);
            found.last().map(LinkCursor::after)
        } else {
            None
        };
        Ok(LinkPage {
            links: found
                .into_iter()
                .map(|r| with_unflushed(r, &unflushed))
                .collect(),
            next,
        })
    }

    /// About `limit` links of everyone's (and nobody's) matching `q` in their code or
    /// destination (case-insensitively), from `after` on in the store's order (see
    /// [`Repository::scan_links`]), for administrators (the caller checks the role). Reads at
    /// most [`SCAN_BUDGET`] links, so a page may hold fewer matches while `next` is set.
    ///
    /// # Errors
    /// [`ServiceError::Storage`].
    pub async fn all_links(
        &self,
        q: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<LinkScan, ServiceError> {
        let needle = q.to_lowercase();
        let batch = if needle.is_empty() { limit } else { LIST_BATCH };
        let scan = || async {
            let mut found = Vec::new();
            let mut read = 0;
            let mut next = after.map(str::to_owned);
            loop {
                let page = self.repo.scan_links(next.as_deref(), batch).await?;
                read += page.links.len().max(1);
                found.extend(page.links.into_iter().filter(|r| {
                    needle.is_empty()
                        || r.short_code.as_str().to_lowercase().contains(&needle)
                        || r.long_url.as_str().to_lowercase().contains(&needle)
                }));
                next = page.next;
                if next.is_none() || found.len() >= limit || read >= SCAN_BUDGET {
                    break;
                }
            }
            Ok::<_, RepoError>(LinkScan { links: found, next })
        };
        let (scan, unflushed) = self
            .clicks
            .buffer
            .read_with_unflushed(scan, |scan| codes_of(&scan.links))
            .await?;
        Ok(LinkScan {
            links: scan
                .links
                .into_iter()
                .map(|r| with_unflushed(r, &unflushed))
                .collect(),
            next: scan.next,
        })
    }

    /// The link `code` if `caller` may manage it (expired or not), with its counters.
    ///
    /// # Errors
    /// [`ServiceError::NotFound`] for a missing link and for someone else's alike;
    /// [`ServiceError::Storage`].
    pub async fn managed_link(
        &self,
        caller: &User,
        code: &ShortCode,
    ) -> Result<UrlRecord, ServiceError> {
        match self.find_counted(code).await? {
            Some(record) if may_manage(caller, &record) => Ok(record),
            _ => Err(ServiceError::NotFound),
        }
    }

    /// Applies `change` to the link `code` if `caller` may manage it. This instance serves
    /// the change at once; other instances as soon as they hear the announcement (a change
    /// feed is set), else once their cache entry ends (`cache.ttl_seconds`).
    ///
    /// # Errors
    /// [`ServiceError::NotFound`] as for [`Self::managed_link`]; [`ServiceError::InvalidExpiry`]
    /// for an expiry in the past, beyond `links.max_ttl_seconds`, or "never" where links must
    /// expire; [`ServiceError::Storage`].
    pub async fn change_link(
        &self,
        caller: &User,
        code: &ShortCode,
        change: LinkChange,
    ) -> Result<UrlRecord, ServiceError> {
        let current = self.managed_link(caller, code).await?;
        let now = self.clock.now();
        let expires_at = match change.expires_at {
            None => current.expires_at,
            Some(None) if self.link_policy.default_ttl_seconds.is_some() => {
                return Err(ServiceError::InvalidExpiry(
                    "links on this service must expire: expires_at cannot be null",
                ));
            }
            Some(None) => None,
            Some(Some(at)) => {
                let latest = now.checked_add_seconds(self.link_policy.max_ttl_seconds);
                if at <= now {
                    return Err(ServiceError::InvalidExpiry(
                        "expires_at must be in the future",
                    ));
                }
                if latest.is_some_and(|latest| at > latest) {
                    return Err(ServiceError::InvalidExpiry(
                        "expires_at is further ahead than links.max_ttl_seconds allows",
                    ));
                }
                Some(at)
            }
        };
        let long_url = change.long_url.unwrap_or(current.long_url.clone());
        let moved = long_url != current.long_url || expires_at != current.expires_at;
        if moved && !self.repo.update_link(code, &long_url, expires_at).await? {
            return Err(ServiceError::NotFound);
        }
        let routing = change.routing.unwrap_or(current.routing.clone());
        if routing != current.routing && !self.repo.set_routing(code, &routing).await? {
            return Err(ServiceError::NotFound);
        }
        self.forget_cached(code).await;
        Ok(UrlRecord {
            long_url,
            expires_at,
            routing,
            ..current
        })
    }

    /// Disables the link `code` (it answers 404 like an unknown one, everywhere within the
    /// bound of [`Self::change_link`]) or enables it again; the caller must be an
    /// administrator (the handlers check). Answers the link as it is now.
    ///
    /// # Errors
    /// [`ServiceError::NotFound`] for a missing or deleted link; [`ServiceError::Storage`].
    pub async fn set_disabled(
        &self,
        code: &ShortCode,
        disabled: bool,
    ) -> Result<UrlRecord, ServiceError> {
        let current = self
            .find_counted(code)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let at = if disabled {
            current.disabled_at.or(Some(self.clock.now()))
        } else {
            None
        };
        if !self.repo.set_disabled(code, at).await? {
            return Err(ServiceError::NotFound);
        }
        self.forget_cached(code).await;
        Ok(UrlRecord {
            disabled_at: at,
            ..current
        })
    }

    /// Deletes the link `code` if `caller` may manage it; its code is retired for ever. This
    /// instance answers 404 for it at once; other instances as for [`Self::change_link`].
    ///
    /// # Errors
    /// [`ServiceError::NotFound`] as for [`Self::managed_link`]; [`ServiceError::Storage`].
    pub async fn delete_link(&self, caller: &User, code: &ShortCode) -> Result<(), ServiceError> {
        self.managed_link(caller, code).await?;
        if !self.repo.delete_link(code, self.clock.now()).await? {
            return Err(ServiceError::NotFound);
        }
        self.forget_cached(code).await;
        Ok(())
    }

    /// Drops `code` from the shared tier and this instance's cache now, tells the other
    /// instances, and drops it once more a moment later: a lookup that read the old record
    /// before the change and finishes after it would otherwise put it back (storage reads are
    /// bounded by `storage.timeout_ms`).
    async fn forget_cached(&self, code: &ShortCode) {
        let tier = self.tier.as_ref().map(|shared| shared.tier.clone());
        if let Some(tier) = &tier {
            let _ = tier.forget(code).await;
        }
        if let Some(feed) = &self.changes {
            feed.announce(code);
        }
        let cache = self.cache.clone();
        if let Some(cache) = &cache {
            cache.forget(code);
        }
        let code = code.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs(FORGET_AGAIN_SECS)).await;
            if let Some(tier) = tier {
                let _ = tier.forget(&code).await;
            }
            if let Some(cache) = cache {
                cache.forget(&code);
            }
        });
    }

    /// The expiry policy links are created and changed under.
    pub fn link_policy(&self) -> LinkPolicy {
        self.link_policy
    }

    /// One round trip to storage.
    ///
    /// # Errors
    /// [`ServiceError::Storage`] when the store does not answer.
    pub async fn check_storage(&self) -> Result<(), ServiceError> {
        Ok(self.repo.ping().await?)
    }
}
