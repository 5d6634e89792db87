//! Prometheus metrics (`GET /metrics`, OpenMetrics text from the `prometheus-client` crate).
//!
//! Labels never carry a short code, a URL or a client address: only the route template, the
//! method, the status, the storage backend and operation, so every series set is small and
//! bounded.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::service::UrlService;

/// Labels of a request counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// HTTP method.
    pub method: &'static str,
    /// Route template (`/s/{code}`), or `<unmatched>`.
    pub route: &'static str,
    /// Response status.
    pub status: u16,
}

/// Labels of a latency histogram.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// Route template.
    pub route: &'static str,
}

/// Labels of a storage error counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StorageLabels {
    /// `memory`, `sqlite`, `redis`, `dynamodb` or `postgres`.
    pub backend: &'static str,
    /// The repository operation.
    pub operation: &'static str,
}

/// Labels of the link-health check counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// `ok`, `redirected`, `client_error`, `server_error`, `timeout`, `dns`, `tls`,
    /// `blocked` or `refused`.
    pub outcome: &'static str,
}

type HistogramFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 25 µs to ~0.8 s in doublings: the redirect lives at the bottom, storage stalls at the top.
    Histogram::new(exponential_buckets(0.000_025, 2.0, 16))
}

/// Every metric the service exports.
pub struct Metrics {
    registry: Registry,
    /// `http_requests_total{method,route,status}`.
    pub requests: Family<RequestLabels, Counter>,
    /// `http_request_duration_seconds{route}`.
    pub request_duration: HistogramFamily,
    /// `storage_errors_total{backend,operation}`.
    pub storage_errors: Family<StorageLabels, Counter>,
    /// `links_created_total`.
    pub links_created: Counter,
    /// `links_expired_removed_total`: deleted by the expiration sweep.
    pub links_expired_removed: Counter,
    /// `link_health_checks_total{outcome}`: destination checks this process made.
    pub link_checks: Family<OutcomeLabels, Counter>,
    /// `link_health_broken_links`: broken links in the store, as this process's checker last
    /// counted them (at most once a minute).
    pub broken_links: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh set of metrics in its own registry.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let request_duration: HistogramFamily = Family::new_with_constructor(latency_histogram);
        let storage_errors = Family::<StorageLabels, Counter>::default();
        let links_created = Counter::default();
        let links_expired_removed = Counter::default();
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "Time from request to response head, by route",
            request_duration.clone(),
        );
        registry.register(
            "storage_errors",
            "Failed storage calls, by backend and operation",
            storage_errors.clone(),
        );
        registry.register("links_created", "Links created", links_created.clone());
        registry.register(
            "links_expired_removed",
            "Expired links deleted by the expiration sweep",
            links_expired_removed.clone(),
        );
        let link_checks = Family::<OutcomeLabels, Counter>::default();
        let broken_links = Gauge::default();
        registry.register(
            "link_health_checks",
            "Destination checks made, by outcome",
            link_checks.clone(),
        );
        registry.register(
            "link_health_broken_links",
            "Links whose destination is broken (counted by this process's checker)",
            broken_links.clone(),
        );
        Self {
            registry,
            requests,
            request_duration,
            storage_errors,
            links_created,
            links_expired_removed,
            link_checks,
            broken_links,
        }
    }

    /// Adds the gauges and counters read from `urls` at scrape time (cache, click buffer).
    pub fn observe(&mut self, urls: Arc<UrlService>) {
        self.registry
            .register_collector(Box::new(ServiceCollector { urls }));
    }

    /// Counts one answered request.
    pub fn record_request(
        &self,
        method: &'static str,
        route: &'static str,
        status: u16,
        seconds: f64,
    ) {
        self.requests
            .get_or_create(&RequestLabels {
                method,
                route,
                status,
            })
            .inc();
        self.request_duration
            .get_or_create(&RouteLabels { route })
            .observe(seconds);
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// Reads counters that live in the services rather than in the registry.
struct ServiceCollector {
    urls: Arc<UrlService>,
}

impl std::fmt::Debug for ServiceCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServiceCollector")
    }
}

fn counter(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let metric = ConstCounter::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn gauge(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: f64,
) -> Result<(), std::fmt::Error> {
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

impl Collector for ServiceCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let (hits, misses) = self.urls.cache().map_or((0, 0), |c| (c.hits(), c.misses()));
        counter(
            &mut encoder,
            "cache_hits",
            "Link lookups answered from memory",
            hits,
        )?;
        counter(
            &mut encoder,
            "cache_misses",
            "Link lookups that asked storage",
            misses,
        )?;
        let clicks = self.urls.clicks();
        let pending = ConstGauge::new(i64::try_from(clicks.len()).unwrap_or(i64::MAX));
        pending.encode(encoder.encode_descriptor(
            "click_buffer_codes",
            "Codes with clicks not yet written to storage",
            None,
            pending.metric_type(),
        )?)?;
        counter(
            &mut encoder,
            "click_flushes",
            "Click flushes that wrote every pending code",
            clicks.flushes().0,
        )?;
        counter(
            &mut encoder,
            "click_flush_failures",
            "Click flushes that put deltas back to retry",
            clicks.flushes().1,
        )?;
        let outbox = self.urls.click_outbox();
        counter(
            &mut encoder,
            "clicks_dropped",
            "Clicks dropped because the click buffer or the queue's outbox was full",
            clicks.dropped() + outbox.map_or(0, |o| o.dropped()),
        )?;
        if let Some(outbox) = outbox {
            gauge(
                &mut encoder,
                "click_outbox_events",
                "Click events waiting to be published to the Redis click queue",
                outbox.len() as f64,
            )?;
            let (published, failures) = outbox.published();
            counter(
                &mut encoder,
                "click_events_published",
                "Click events published to the Redis click queue",
                published,
            )?;
            counter(
                &mut encoder,
                "click_publish_failures",
                "Failed attempts to publish a batch of click events",
                failures,
            )?;
        }
        if let Some(p) = self.urls.processor_stats() {
            let read = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
            counter(
                &mut encoder,
                "click_processor_batches",
                "Click queue reads written to the store and acknowledged",
                read(&p.batches),
            )?;
            counter(
                &mut encoder,
                "click_processor_events",
                "Click events written to the store by this processor",
                read(&p.events),
            )?;
            counter(
                &mut encoder,
                "click_processor_failures",
                "Failed click queue reads, store writes and acknowledgements",
                read(&p.failures),
            )?;
            counter(
                &mut encoder,
                "click_processor_claimed",
                "Click batches taken over from processors that stopped answering",
                read(&p.claimed),
            )?;
            gauge(
                &mut encoder,
                "click_queue_pending",
                "Click queue entries delivered and not yet acknowledged (whole group)",
                read(&p.pending) as f64,
            )?;
            gauge(
                &mut encoder,
                "click_queue_lag_seconds",
                "Age of the oldest click queue entry not yet written to the store",
                p.lag_ms.load(Ordering::Relaxed) as f64 / 1000.0,
            )?;
        }
        Ok(())
    }
}
