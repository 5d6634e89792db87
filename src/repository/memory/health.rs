//! Link health in memory: the schedule as a set ordered by due time, beside each link's slot.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;

use super::{MemoryRepository, read};
use crate::domain::{ShortCode, Timestamp};
use crate::repository::{DueWindow, HealthRecord, HealthStore, RepoError};

struct Slot {
    due: i64,
    checked: bool,
    record: Option<Box<HealthRecord>>,
}

/// The schedule and the records of every link.
#[derive(Default)]
pub(super) struct HealthBook {
    inner: Mutex<Book>,
}

#[derive(Default)]
struct Book {
    due: BTreeSet<(i64, ShortCode)>,
    slots: HashMap<ShortCode, Slot>,
}

impl HealthBook {
    fn lock(&self) -> std::sync::MutexGuard<'_, Book> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Puts a new link in the schedule, due at its creation.
    pub(super) fn schedule(&self, code: &ShortCode, created_at: Timestamp) {
        let due = created_at.as_unix_millis();
        let mut book = self.lock();
        book.due.insert((due, code.clone()));
        book.slots.insert(
            code.clone(),
            Slot {
                due,
                checked: false,
                record: None,
            },
        );
    }

    /// Drops a link from the schedule (deleted or swept).
    pub(super) fn forget(&self, code: &ShortCode) {
        let mut book = self.lock();
        if let Some(slot) = book.slots.remove(code) {
            book.due.remove(&(slot.due, code.clone()));
        }
    }
}

impl MemoryRepository {
    fn is_live(&self, code: &ShortCode) -> bool {
        read(self.shard(code.as_str()))
            .records
            .get(code.as_str())
            .is_some_and(|e| !e.is_deleted())
    }
}

#[async_trait]
impl HealthStore for MemoryRepository {
    async fn lease_due(
        &self,
        window: DueWindow,
        limit: usize,
    ) -> Result<Vec<ShortCode>, RepoError> {
        let now = window.now.as_unix_millis();
        let new_before = window.new_before.as_unix_millis();
        let until = window.lease_until.as_unix_millis();
        let candidates: Vec<ShortCode> = {
            let book = self.health.lock();
            book.due
                .iter()
                .take_while(|(due, _)| *due <= now)
                .filter(|(due, code)| {
                    book.slots
                        .get(code)
                        .is_some_and(|s| s.checked || *due <= new_before)
                })
                .map(|(_, code)| code.clone())
                .take(limit * 2)
                .collect()
        };
        let mut leased = Vec::new();
        for code in candidates {
            if leased.len() == limit {
                break;
            }
            if !self.is_live(&code) {
                self.health.forget(&code);
                continue;
            }
            let mut book = self.health.lock();
            let Some(slot) = book.slots.get_mut(&code) else {
                continue;
            };
            let old = slot.due;
            if old > now || (!slot.checked && old > new_before) {
                continue; // leased by another caller meanwhile
            }
            slot.due = until;
            book.due.remove(&(old, code.clone()));
            book.due.insert((until, code.clone()));
            leased.push(code);
        }
        Ok(leased)
    }

    async fn record_check(
        &self,
        code: &ShortCode,
        record: &HealthRecord,
        next_check_at: Timestamp,
    ) -> Result<(), RepoError> {
        if !self.is_live(code) {
            return Ok(());
        }
        let next = next_check_at.as_unix_millis();
        let mut book = self.health.lock();
        let Some(slot) = book.slots.get_mut(code) else {
            return Ok(());
        };
        let old = slot.due;
        slot.due = next;
        slot.checked = true;
        slot.record = Some(Box::new(record.clone()));
        book.due.remove(&(old, code.clone()));
        book.due.insert((next, code.clone()));
        Ok(())
    }

    async fn link_health(&self, code: &ShortCode) -> Result<Option<HealthRecord>, RepoError> {
        if !self.is_live(code) {
            return Ok(None);
        }
        Ok(self
            .health
            .lock()
            .slots
            .get(code)
            .and_then(|s| s.record.as_deref().cloned()))
    }

    async fn broken_links(&self, limit: usize) -> Result<Vec<(ShortCode, Timestamp)>, RepoError> {
        let mut broken: Vec<(ShortCode, Timestamp)> = self
            .health
            .lock()
            .slots
            .iter()
            .filter_map(|(code, slot)| {
                let since = slot.record.as_ref()?.state.broken_since?;
                Some((code.clone(), since))
            })
            .collect();
        broken.retain(|(code, _)| self.is_live(code));
        broken.sort_by_key(|(code, since)| (*since, code.clone()));
        broken.truncate(limit);
        Ok(broken)
    }
}
