//! Repository and code-generator doubles for paths a healthy store never takes.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use url_shortener::domain::{LongUrl, Routing, ShortCode, ShortCodeGen, Timestamp, UrlRecord};
use url_shortener::repository::{ClickDelta, LinkCursor, LinkScan, RepoError, Repository};

/// A store that is down: every call fails with `Unavailable`.
pub struct DownRepository;

fn down<T>() -> Result<T, RepoError> {
    Err(RepoError::Unavailable("connection refused".into()))
}

#[async_trait]
impl Repository for DownRepository {
    async fn save(&self, _: &UrlRecord) -> Result<(), RepoError> {
        down()
    }
    async fn find_by_short_code(&self, _: &ShortCode) -> Result<Option<UrlRecord>, RepoError> {
        down()
    }
    async fn increment_click_count(&self, _: &ClickDelta) -> Result<(), RepoError> {
        down()
    }
    async fn delete_expired(&self, _: Timestamp, _: usize) -> Result<u64, RepoError> {
        down()
    }
    async fn exists(&self, _: &ShortCode) -> Result<bool, RepoError> {
        down()
    }
    async fn ping(&self) -> Result<(), RepoError> {
        down()
    }
    async fn list_owned(
        &self,
        _: &str,
        _: Option<&LinkCursor>,
        _: usize,
    ) -> Result<Vec<UrlRecord>, RepoError> {
        down()
    }
    async fn scan_links(&self, _: Option<&str>, _: usize) -> Result<LinkScan, RepoError> {
        down()
    }
    async fn update_link(
        &self,
        _: &ShortCode,
        _: &LongUrl,
        _: Option<Timestamp>,
    ) -> Result<bool, RepoError> {
        down()
    }
    async fn set_routing(&self, _: &ShortCode, _: &Routing) -> Result<bool, RepoError> {
        down()
    }
    async fn set_disabled(&self, _: &ShortCode, _: Option<Timestamp>) -> Result<bool, RepoError> {
        down()
    }
    async fn delete_link(&self, _: &ShortCode, _: Timestamp) -> Result<bool, RepoError> {
        down()
    }
}

/// Wraps a store, counting calls, and optionally panicking or stalling on lookups.
pub struct InstrumentedRepository {
    inner: Arc<dyn Repository>,
    pub calls: AtomicUsize,
    panic_on_find: Mutex<Option<String>>,
    stall_on_find: Mutex<Option<Duration>>,
    fail_increments: std::sync::atomic::AtomicBool,
    hold_increments: tokio::sync::watch::Sender<bool>,
    lose_answers: std::sync::atomic::AtomicBool,
    hold_answers: tokio::sync::watch::Sender<bool>,
    landed: tokio::sync::watch::Sender<usize>,
    sent: Mutex<Vec<ClickDelta>>,
    pub finds: AtomicUsize,
    find_seen: tokio::sync::Notify,
}

impl InstrumentedRepository {
    pub fn new(inner: Arc<dyn Repository>) -> Self {
        Self {
            inner,
            calls: AtomicUsize::new(0),
            panic_on_find: Mutex::new(None),
            stall_on_find: Mutex::new(None),
            fail_increments: std::sync::atomic::AtomicBool::new(false),
            hold_increments: tokio::sync::watch::Sender::new(false),
            lose_answers: std::sync::atomic::AtomicBool::new(false),
            hold_answers: tokio::sync::watch::Sender::new(false),
            landed: tokio::sync::watch::Sender::new(0),
            sent: Mutex::new(Vec::new()),
            finds: AtomicUsize::new(0),
            find_seen: tokio::sync::Notify::new(),
        }
    }

    /// Makes increments fail with `Unavailable` until called with `false`.
    pub fn fail_increments(&self, fail: bool) {
        self.fail_increments.store(fail, Ordering::SeqCst);
    }

    /// Every click write sent to this store so far, in order.
    pub fn sent_increments(&self) -> Vec<ClickDelta> {
        self.sent.lock().unwrap().clone()
    }

    /// Makes increments land and then report `Unavailable` (a store whose answer never came)
    /// until called with `false`.
    pub fn lose_increment_answers(&self, lose: bool) {
        self.lose_answers.store(lose, Ordering::SeqCst);
    }

    /// Makes increments wait (a flush on its way to a slow store) until called with `false`.
    pub fn hold_increments(&self, hold: bool) {
        self.hold_increments.send_replace(hold);
    }

    /// Makes increments land in the store and then wait before answering (a flush between its
    /// write and its settle) until called with `false`.
    pub fn hold_answers(&self, hold: bool) {
        self.hold_answers.send_replace(hold);
    }

    /// Waits until `n` increments have landed in the inner store.
    pub async fn landed(&self, n: usize) {
        self.landed
            .subscribe()
            .wait_for(|landed| *landed >= n)
            .await
            .unwrap();
    }

    /// Waits for the next lookup by code (one that starts after this call, or one already
    /// signalled and not yet waited for).
    pub async fn next_find(&self) {
        self.find_seen.notified().await;
    }

    /// Lookups by code so far.
    pub fn finds(&self) -> usize {
        self.finds.load(Ordering::SeqCst)
    }

    /// Makes lookups of `code` panic.
    pub fn panic_on_find(&self, code: &str) {
        *self.panic_on_find.lock().unwrap() = Some(code.to_owned());
    }

    /// Makes every lookup take `delay`.
    pub fn stall_on_find(&self, delay: Duration) {
        *self.stall_on_find.lock().unwrap() = Some(delay);
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn count(&self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl Repository for InstrumentedRepository {
    async fn save(&self, record: &UrlRecord) -> Result<(), RepoError> {
        self.count();
        self.inner.save(record).await
    }
    async fn find_by_short_code(&self, code: &ShortCode) -> Result<Option<UrlRecord>, RepoError> {
        self.count();
        self.finds.fetch_add(1, Ordering::SeqCst);
        let panic_code = self.panic_on_find.lock().unwrap().clone();
        if panic_code.as_deref() == Some(code.as_str()) {
            panic!("injected panic looking up {code}");
        }
        let stall = *self.stall_on_find.lock().unwrap();
        if let Some(delay) = stall {
            tokio::time::sleep(delay).await;
        }
        let found = self.inner.find_by_short_code(code).await;
        self.find_seen.notify_one();
        found
    }
    async fn increment_click_count(&self, delta: &ClickDelta) -> Result<(), RepoError> {
        self.count();
        let mut held = self.hold_increments.subscribe();
        held.wait_for(|held| !held).await.unwrap();
        if self.fail_increments.load(Ordering::SeqCst) {
            return Err(RepoError::Unavailable("injected increment failure".into()));
        }
        self.sent.lock().unwrap().push(delta.clone());
        let applied = self.inner.increment_click_count(delta).await;
        self.landed.send_modify(|landed| *landed += 1);
        let mut held = self.hold_answers.subscribe();
        held.wait_for(|held| !held).await.unwrap();
        if self.lose_answers.load(Ordering::SeqCst) {
            return Err(RepoError::Unavailable("injected lost answer".into()));
        }
        applied
    }
    async fn delete_expired(&self, before: Timestamp, limit: usize) -> Result<u64, RepoError> {
        self.count();
        self.inner.delete_expired(before, limit).await
    }
    async fn exists(&self, code: &ShortCode) -> Result<bool, RepoError> {
        self.count();
        self.inner.exists(code).await
    }
    async fn ping(&self) -> Result<(), RepoError> {
        self.count();
        self.inner.ping().await
    }
    async fn list_owned(
        &self,
        owner: &str,
        after: Option<&LinkCursor>,
        limit: usize,
    ) -> Result<Vec<UrlRecord>, RepoError> {
        self.count();
        self.inner.list_owned(owner, after, limit).await
    }
    async fn scan_links(&self, after: Option<&str>, limit: usize) -> Result<LinkScan, RepoError> {
        self.count();
        self.inner.scan_links(after, limit).await
    }
    async fn update_link(
        &self,
        code: &ShortCode,
        long_url: &LongUrl,
        expires_at: Option<Timestamp>,
    ) -> Result<bool, RepoError> {
        self.count();
        self.inner.update_link(code, long_url, expires_at).await
    }
    async fn set_routing(&self, code: &ShortCode, routing: &Routing) -> Result<bool, RepoError> {
        self.count();
        self.inner.set_routing(code, routing).await
    }
    async fn set_disabled(
        &self,
        code: &ShortCode,
        at: Option<Timestamp>,
    ) -> Result<bool, RepoError> {
        self.count();
        self.inner.set_disabled(code, at).await
    }
    async fn delete_link(&self, code: &ShortCode, at: Timestamp) -> Result<bool, RepoError> {
        self.count();
        self.inner.delete_link(code, at).await
    }
}

/// Hands out a fixed list of codes, then repeats the last one.
pub struct ScriptedCodes {
    codes: Vec<ShortCode>,
    next: AtomicUsize,
}

impl ScriptedCodes {
    pub fn new(codes: &[&str]) -> Self {
        Self {
            codes: codes.iter().map(|c| ShortCode::parse(c).unwrap()).collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// How many codes were drawn.
    pub fn drawn(&self) -> usize {
        self.next.load(Ordering::SeqCst)
    }
}

impl ShortCodeGen for ScriptedCodes {
    fn generate(&self) -> ShortCode {
        let i = self.next.fetch_add(1, Ordering::SeqCst);
        self.codes[i.min(self.codes.len() - 1)].clone()
    }
}

/// A rate limiter whose store is down.
pub struct DownLimiter;

#[async_trait]
impl url_shortener::limiter::Limiter for DownLimiter {
    async fn hit(
        &self,
        _: url_shortener::limiter::Budget,
        _: &url_shortener::limiter::ClientId,
    ) -> Result<url_shortener::limiter::Decision, url_shortener::limiter::LimiterError> {
        Err(url_shortener::limiter::LimiterError(
            "connection refused".into(),
        ))
    }

    async fn refund(
        &self,
        _: url_shortener::limiter::Budget,
        _: &url_shortener::limiter::ClientId,
    ) -> Result<(), url_shortener::limiter::LimiterError> {
        Err(url_shortener::limiter::LimiterError(
            "connection refused".into(),
        ))
    }
}
