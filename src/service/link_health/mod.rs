//! `LinkHealthService`: checks links' destinations on a schedule, politely and without ever
//! connecting to an address the creation rules forbid (DESIGN §11, README "Link health").
//!
//! - [`resolver`]: name resolution that refuses forbidden answers;
//! - [`checker`]: one check, hop by hop;
//! - [`hosts`]: one check at a time per host, an interval between them, backoff on 429/503;
//! - this module: leases due links from the store, checks them, folds each result into the
//!   link's state and history, and schedules the next round.

pub mod checker;
pub mod hosts;
pub mod resolver;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;

pub use checker::{CheckLimits, LinkChecker, Probe};
pub use hosts::HostGates;
pub use resolver::CheckedResolver;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use crate::domain::{BrokenRule, Clock, LinkCheck, ShortCode, Timestamp, UrlRecord};
use crate::metrics::OutcomeLabels;
use crate::repository::{DueWindow, LinkHealthRecord, LinkHealthStore, RepoError, Repository};

/// Broken links counted at most, for the gauge.
const BROKEN_COUNT_LIMIT: usize = 100_000;
/// Links leased per round.
const ROUND: usize = 64;
/// A check gives up its host's turn (and leaves the link to a later round) rather than wait
/// longer than this for it.
const MAX_TURN_WAIT: Duration = Duration::from_secs(30);

/// How long a check asked for by hand waits for its host's turn before it is refused.
pub const MANUAL_TURN_WAIT: Duration = Duration::from_secs(1);

/// How the service schedules and judges.
#[derive(Debug, Clone, Copy)]
pub struct LinkHealthSchedule {
    /// One round over every link takes this long.
    pub interval: Duration,
    /// A new link's first check comes this long after its creation.
    pub first_check_after: Duration,
    /// When a link is broken.
    pub rule: BrokenRule,
    /// Checks in flight at once.
    pub concurrency: usize,
    /// How long a lease lasts: past it, another worker may check the link.
    pub lease: Duration,
}

/// The link-health checker of one process.
pub struct LinkHealthService {
    store: Arc<dyn LinkHealthStore>,
    links: Arc<dyn Repository>,
    checker: LinkChecker,
    hosts: HostGates,
    clock: Arc<dyn Clock>,
    schedule: LinkHealthSchedule,
    checks: Family<OutcomeLabels, Counter>,
    broken: Gauge,
    /// When the broken links were last counted (Unix ms).
    broken_counted_at: AtomicI64,
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn at(ms: i64) -> Timestamp {
    Timestamp::from_unix_millis(ms.max(0)).unwrap_or(Timestamp::UNIX_EPOCH)
}

impl LinkHealthService {
    /// A service over `store` (the schedule and records) and `links` (the destinations).
    pub fn new(
        store: Arc<dyn LinkHealthStore>,
        links: Arc<dyn Repository>,
        checker: LinkChecker,
        hosts: HostGates,
        clock: Arc<dyn Clock>,
        schedule: LinkHealthSchedule,
    ) -> Self {
        Self {
            store,
            links,
            checker,
            hosts,
            clock,
            schedule,
            checks: Family::default(),
            broken: Gauge::default(),
            broken_counted_at: AtomicI64::new(i64::MIN),
        }
    }

    /// Counts checks by outcome in `checks` and the broken links in `broken` (the process's
    /// metrics).
    #[must_use]
    pub fn count_in(mut self, checks: Family<OutcomeLabels, Counter>, broken: Gauge) -> Self {
        self.checks = checks;
        self.broken = broken;
        self
    }

    /// Sets the broken-links gauge from the store, at most once a minute.
    async fn count_broken(&self) {
        let now = self.clock.now().as_unix_millis();
        let last = self.broken_counted_at.load(Ordering::Relaxed);
        if now.saturating_sub(last) < 60_000 {
            return;
        }
        self.broken_counted_at.store(now, Ordering::Relaxed);
        match self.store.broken_links(BROKEN_COUNT_LIMIT).await {
            Ok(broken) => {
                self.broken
                    .set(i64::try_from(broken.len()).unwrap_or(i64::MAX));
            }
            Err(error) => tracing::debug!(%error, "link health: counting broken links failed"),
        }
    }

    /// The store the records are in.
    pub fn store(&self) -> &Arc<dyn LinkHealthStore> {
        &self.store
    }

    /// Checks `link` now (`POST /api/links/{code}/check`), records the result and answers the
    /// record; `None` when its host's turn did not come within [`MANUAL_TURN_WAIT`] (another
    /// check of that host runs, or its interval or backoff has not passed), so asking again
    /// and again cannot make the checker flood a host.
    ///
    /// # Errors
    /// The store's error.
    pub async fn check_now(&self, link: &UrlRecord) -> Result<Option<LinkHealthRecord>, RepoError> {
        let host = host_of(link.long_url.as_str());
        let Ok(_turn) = tokio::time::timeout(MANUAL_TURN_WAIT, self.hosts.turn(&host)).await else {
            return Ok(None);
        };
        self.check_and_record(link, &host).await.map(Some)
    }

    async fn check_and_record(
        &self,
        link: &UrlRecord,
        host: &str,
    ) -> Result<LinkHealthRecord, RepoError> {
        let probe = self.checker.check(link.long_url.as_str()).await;
        match probe.http_status {
            Some(429 | 503) => self.hosts.back_off(host, probe.retry_after),
            Some(_) => self.hosts.answered(host),
            None => {}
        }
        self.checks
            .get_or_create(&OutcomeLabels {
                outcome: probe.outcome.as_str(),
            })
            .inc();
        let now = self.clock.now();
        let check = LinkCheck {
            at: now,
            outcome: probe.outcome,
            http_status: probe.http_status,
            duration_ms: u32::try_from(probe.elapsed.as_millis()).unwrap_or(u32::MAX),
        };
        let mut record = self
            .store
            .link_health(&link.short_code)
            .await?
            .unwrap_or_default();
        record.state.apply(check.clone(), self.schedule.rule);
        record.push(check);
        let next = at(now.as_unix_millis() + self.next_gap_ms());
        self.store
            .record_check(&link.short_code, &record, next)
            .await?;
        tracing::debug!(
            outcome = probe.outcome.as_str(),
            status = record.state.status().as_str(),
            "checked a destination"
        );
        Ok(record)
    }

    /// The interval with ±5% jitter, so links checked together drift apart over rounds.
    fn next_gap_ms(&self) -> i64 {
        #[allow(clippy::disallowed_methods)] // scheduling noise only
        let factor = 0.95 + 0.1 * rand::random::<f64>();
        millis(self.schedule.interval.mul_f64(factor))
    }

    /// One round: leases what is due and checks it, `concurrency` at a time; how many links
    /// were checked.
    ///
    /// # Errors
    /// The store's error on leasing (a failed record is logged and left to the lease's end).
    pub async fn run_round(&self) -> Result<usize, RepoError> {
        let now = self.clock.now().as_unix_millis();
        let window = DueWindow {
            now: at(now),
            new_before: at(now - millis(self.schedule.first_check_after)),
            lease_until: at(now + millis(self.schedule.lease)),
        };
        let codes = self.store.lease_due(window, ROUND).await?;
        let checked = futures_util::stream::iter(codes)
            .map(|code| self.check_leased(code))
            .buffer_unordered(self.schedule.concurrency.max(1))
            .filter(|done| std::future::ready(*done))
            .count()
            .await;
        self.count_broken().await;
        Ok(checked)
    }

    async fn check_leased(&self, code: ShortCode) -> bool {
        let link = match self.links.find_by_short_code(&code).await {
            Ok(Some(link)) if link.is_live_at(self.clock.now()) => link,
            // Gone or expired: its row goes with the link (delete or sweep).
            Ok(_) => return false,
            Err(error) => {
                tracing::warn!(%error, "link health: reading a leased link failed");
                return false;
            }
        };
        let host = host_of(link.long_url.as_str());
        let Ok(_turn) = tokio::time::timeout(MAX_TURN_WAIT, self.hosts.turn(&host)).await else {
            return false; // the host is paused; the lease runs out and a later round retries
        };
        match self.check_and_record(&link, &host).await {
            Ok(_) => true,
            Err(error) => {
                tracing::warn!(%error, "link health: recording a check failed");
                false
            }
        }
    }
}

/// The host a politeness gate is keyed by (lowercase, port included).
fn host_of(url: &str) -> String {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| {
            let host = u.host_str()?.to_ascii_lowercase();
            Some(match u.port() {
                Some(port) => format!("{host}:{port}"),
                None => host,
            })
        })
        .unwrap_or_default()
}

/// The `User-Agent` of every check: the service's name and version, and where to learn what
/// it is (the operator's base URL).
pub fn user_agent(base_url: &str) -> String {
    format!(
        "url-shortener-link-check/{} (+{base_url})",
        env!("CARGO_PKG_VERSION")
    )
}

/// The checker `settings` describe, over `store` and `links`, counting into `metrics`; `None`
/// when `link_health.enabled` is false or the backend keeps no link health.
///
/// # Errors
/// When the resolver or the HTTP client cannot be built (the message names the key).
pub fn build(
    settings: &crate::config::Settings,
    store: Option<Arc<dyn LinkHealthStore>>,
    links: Arc<dyn Repository>,
    clock: Arc<dyn Clock>,
    metrics: &crate::metrics::Metrics,
) -> Result<Option<Arc<LinkHealthService>>, String> {
    let health = &settings.link_health;
    let Some(store) = store.filter(|_| health.enabled) else {
        return Ok(None);
    };
    let allow_private = settings.security.allow_private_destinations;
    let servers: Vec<std::net::SocketAddr> = health
        .dns_servers
        .iter()
        .filter_map(|s| s.parse().ok())
        .collect();
    let resolver = CheckedResolver::from_servers(&servers, allow_private)
        .map_err(|e| format!("link_health.dns_servers: {e}"))?;
    let base_url = settings.base_url().map_err(|e| e.message)?;
    let policy = crate::domain::UrlPolicy::new(base_url.host_str(), allow_private);
    let limits = CheckLimits {
        connect_timeout: Duration::from_millis(health.connect_timeout_ms),
        total_timeout: Duration::from_millis(health.timeout_ms),
        max_body_bytes: health.max_body_bytes,
    };
    let checker = LinkChecker::new(resolver, policy, &user_agent(base_url.as_str()), limits)
        .map_err(|e| format!("link_health: cannot build the HTTP client: {e}"))?;
    let schedule = LinkHealthSchedule {
        interval: Duration::from_secs(health.interval_hours * 3600),
        first_check_after: Duration::from_secs(health.first_check_after_seconds),
        rule: BrokenRule {
            failures: health.failures_for_broken,
            span_ms: 24 * 60 * 60 * 1000,
        },
        concurrency: health.concurrency,
        // Long enough for a round's checks with their hosts' waits; short enough that a dead
        // worker's links are checked again within minutes.
        lease: Duration::from_millis(health.timeout_ms) * 4 + MAX_TURN_WAIT * 4,
    };
    Ok(Some(Arc::new(
        LinkHealthService::new(
            store,
            links,
            checker,
            HostGates::new(Duration::from_millis(health.min_host_interval_ms)),
            clock,
            schedule,
        )
        .count_in(metrics.link_checks.clone(), metrics.broken_links.clone()),
    )))
}
