//! `ExpirationService`: the sweep that deletes expired links, and expired login sessions with
//! them (its loop is `worker::expiry`).
//!
//! Expiry is judged on every read, so the sweep is housekeeping (disk space, index size), never
//! what stops a link: a link is not served after `expires_at` even if no sweep has run.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;

use crate::domain::Clock;
use crate::repository::{RepoError, Repository, SessionStore};

/// A sweep stops after this many full batches and leaves the rest to the next one, so one
/// sweep never monopolises the store.
pub const MAX_BATCHES_PER_SWEEP: usize = 100;

/// Deletes expired links in bounded batches, on a jittered interval.
pub struct ExpirationService {
    repo: Arc<dyn Repository>,
    clock: Arc<dyn Clock>,
    interval: Duration,
    batch_size: usize,
    removed: Counter,
    sessions: Option<Arc<dyn SessionStore>>,
}

impl ExpirationService {
    /// A sweeper calling `delete_expired` with `batch_size` every `interval` (±20%).
    pub fn new(
        repo: Arc<dyn Repository>,
        clock: Arc<dyn Clock>,
        interval: Duration,
        batch_size: usize,
    ) -> Self {
        Self {
            repo,
            clock,
            interval,
            batch_size: batch_size.max(1),
            removed: Counter::default(),
            sessions: None,
        }
    }

    /// Sweeps the sessions of `store` too, after the links (a store with native expiry, such
    /// as Redis, has none to sweep).
    pub fn sweeping_sessions(mut self, store: Arc<dyn SessionStore>) -> Self {
        self.sessions = Some(store);
        self
    }

    /// Deletes sessions whose storage expiry passed, in the same bounded batches as links;
    /// how many.
    ///
    /// # Errors
    /// The store's error.
    pub async fn sweep_sessions(&self) -> Result<u64, RepoError> {
        let Some(sessions) = &self.sessions else {
            return Ok(0);
        };
        let now = self.clock.now();
        let mut removed = 0;
        for _ in 0..MAX_BATCHES_PER_SWEEP {
            let n = sessions
                .delete_expired_sessions(now, self.batch_size)
                .await?;
            removed += n;
            if n < self.batch_size as u64 {
                break;
            }
            tokio::task::yield_now().await;
        }
        Ok(removed)
    }

    /// Counts every removed link in `counter` (for `/metrics`).
    pub fn count_removed_in(mut self, counter: Counter) -> Self {
        self.removed = counter;
        self
    }

    /// One sweep: deletes links with `expires_at` before the clock's now, batch by batch, until
    /// a batch comes back short or [`MAX_BATCHES_PER_SWEEP`] batches ran. Returns how many it
    /// removed.
    ///
    /// # Errors
    /// The store's error; links removed by earlier batches stay removed.
    pub async fn sweep(&self) -> Result<u64, RepoError> {
        let now = self.clock.now();
        let mut removed = 0;
        for _ in 0..MAX_BATCHES_PER_SWEEP {
            let n = self.repo.delete_expired(now, self.batch_size).await?;
            self.removed.inc_by(n);
            removed += n;
            if n < self.batch_size as u64 {
                break;
            }
            tokio::task::yield_now().await;
        }
        Ok(removed)
    }

    /// The interval scaled by a random factor in [0.8, 1.2), so that many instances started
    /// together drift apart instead of sweeping in lockstep.
    pub fn next_delay(&self) -> Duration {
        #[allow(clippy::disallowed_methods)] // scheduling noise only; no test observes it
        let factor = 0.8 + 0.4 * rand::random::<f64>();
        self.interval.mul_f64(factor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{LongUrl, ManualClock, ShortCode, Timestamp, UrlRecord};
    use crate::repository::MemoryRepository;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_unix_millis(ms).unwrap()
    }

    async fn store_with(links: &[(&str, Option<i64>)]) -> Arc<MemoryRepository> {
        let repo = Arc::new(MemoryRepository::new());
        for (code, expires) in links {
            let record = UrlRecord::new(
                ShortCode::parse(code).unwrap(),
                LongUrl::from_trusted("https://example.com/".into()),
                at(0),
                expires.map(at),
            );
            repo.save(&record).await.unwrap();
        }
        repo
    }

    #[tokio::test]
    async fn a_sweep_removes_expired_links_and_nothing_else() {
        let repo = store_with(&[
            ("old", Some(1_000)),
            ("edge", Some(2_000)),
            ("later", Some(9_000)),
            ("forever", None),
        ])
        .await;
        let clock = Arc::new(ManualClock::new(at(2_000)));
        let sweeper =
            ExpirationService::new(repo.clone(), clock.clone(), Duration::from_secs(60), 10);

        assert_eq!(sweeper.sweep().await.unwrap(), 1);

        for (code, present) in [
            ("old", false),
            ("edge", true),
            ("later", true),
            ("forever", true),
        ] {
            assert_eq!(
                repo.exists(&ShortCode::parse(code).unwrap()).await.unwrap(),
                present,
                "{code}"
            );
        }
        clock.set(at(1_000_000));
        assert_eq!(sweeper.sweep().await.unwrap(), 2);
        assert_eq!(repo.len(), 1);
    }

    #[tokio::test]
    async fn a_sweep_works_through_several_batches_but_stops_at_its_bound() {
        let codes: Vec<String> = (0..(MAX_BATCHES_PER_SWEEP * 2 + 5))
            .map(|i| format!("code{i}"))
            .collect();
        let links: Vec<(&str, Option<i64>)> =
            codes.iter().map(|c| (c.as_str(), Some(10))).collect();
        let repo = store_with(&links).await;
        let clock = Arc::new(ManualClock::new(at(100)));
        let sweeper = ExpirationService::new(repo.clone(), clock, Duration::from_secs(60), 1);

        assert_eq!(sweeper.sweep().await.unwrap(), MAX_BATCHES_PER_SWEEP as u64);
        assert_eq!(sweeper.sweep().await.unwrap(), MAX_BATCHES_PER_SWEEP as u64);
        assert_eq!(sweeper.sweep().await.unwrap(), 5);
        assert!(repo.is_empty());
    }

    #[tokio::test]
    async fn expired_sessions_are_swept_with_the_links() {
        use crate::domain::{Session, Token};
        let store = Arc::new(MemoryRepository::new());
        let session = |created: i64| Session {
            key: Token::generate().key(),
            user_id: "u-1".into(),
            created_at: at(created),
            last_seen_at: at(created),
        };
        let (old, live) = (session(0), session(1));
        store.insert_session(&old, at(1_000)).await.unwrap();
        store.insert_session(&live, at(90_000)).await.unwrap();
        let clock = Arc::new(ManualClock::new(at(5_000)));
        let sweeper = ExpirationService::new(store.clone(), clock, Duration::from_secs(60), 10)
            .sweeping_sessions(store.clone());

        assert_eq!(sweeper.sweep_sessions().await.unwrap(), 1);
        assert_eq!(store.find_session(&old.key).await.unwrap(), None);
        assert!(store.find_session(&live.key).await.unwrap().is_some());
    }
}
