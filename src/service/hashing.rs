//! `HashGate`: the one bound on password hashing in this process. Every argon2id hash or
//! verification (logins, signups, setup, password changes) takes 19 MiB and tens of
//! milliseconds of a CPU, so a burst of failed logins from many addresses, each within its own
//! rate limit, could otherwise run hundreds at once and take gigabytes. At most `concurrent`
//! run at a time, on tokio's blocking pool; a request that cannot start one within `wait` is
//! answered `503` with `Retry-After` ([`ServiceError::Busy`]) instead of queueing without end.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use super::ServiceError;
use crate::config::AccountSettings;

/// Bounds concurrent password hashing (see the module docs).
#[derive(Debug)]
pub struct HashGate {
    permits: Arc<Semaphore>,
    size: usize,
    wait: Duration,
}

impl HashGate {
    /// At most `concurrent` hashes at once (at least one); a caller waits at most `wait` for
    /// its turn.
    pub fn new(concurrent: usize, wait: Duration) -> Self {
        let size = concurrent.max(1);
        Self {
            permits: Arc::new(Semaphore::new(size)),
            size,
            wait,
        }
    }

    /// The gate `accounts.max_concurrent_hashes` and `accounts.hash_wait_ms` describe (0
    /// concurrent hashes: [`Self::default_concurrency`]).
    pub fn from_settings(settings: &AccountSettings) -> Self {
        let concurrent = match settings.max_concurrent_hashes {
            0 => Self::default_concurrency(),
            n => n,
        };
        Self::new(concurrent, Duration::from_millis(settings.hash_wait_ms))
    }

    /// Twice the CPUs this process may use: enough to keep them busy while a hash's thread
    /// waits to be scheduled, few enough that memory stays bounded.
    pub fn default_concurrency() -> usize {
        std::thread::available_parallelism().map_or(2, |n| n.get()) * 2
    }

    /// Runs `work` (a hash or verification) on the blocking pool once a slot is free. The slot
    /// is held by the work itself, so a caller that gives up (a client gone, a deadline) does
    /// not free it while the hash still runs.
    ///
    /// # Errors
    /// [`ServiceError::Busy`] when no slot frees within the wait; [`ServiceError::Internal`]
    /// when `work` panics.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ServiceError> {
        let permit = tokio::time::timeout(self.wait, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| ServiceError::Busy)?
            .map_err(|_| ServiceError::Internal("the password hashing gate is closed"))?;
        tokio::task::spawn_blocking(move || {
            let _slot = permit;
            work()
        })
        .await
        .map_err(|_| ServiceError::Internal("password hashing failed"))
    }

    /// Hashes running now.
    pub fn in_use(&self) -> usize {
        self.size - self.permits.available_permits()
    }

    /// The most that may run at once.
    pub fn size(&self) -> usize {
        self.size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn no_more_than_the_bound_run_and_a_caller_past_the_wait_is_told_busy() {
        let gate = Arc::new(HashGate::new(2, Duration::from_millis(50)));
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let hold = Arc::new(std::sync::Mutex::new(hold));
        let mut running = Vec::new();
        for _ in 0..2 {
            let (gate, hold) = (gate.clone(), hold.clone());
            running.push(tokio::spawn(async move {
                gate.run(move || hold.lock().unwrap().recv().unwrap()).await
            }));
        }
        while gate.in_use() < 2 {
            tokio::task::yield_now().await;
        }
        assert_eq!(gate.run(|| ()).await, Err(ServiceError::Busy));
        release.send(()).unwrap();
        release.send(()).unwrap();
        for task in running {
            task.await.unwrap().unwrap();
        }
        assert_eq!(gate.in_use(), 0);
        assert_eq!(gate.run(|| 7).await, Ok(7));
    }
}
