//! Prometheus metrics (`GET /metrics`, OpenMetrics text from the `prometheus-client` crate).
//!
//! Labels never carry a short code, a URL or a client address: only the route template, the
//! method, the status, the storage backend and operation, so every series set is small and
//! bounded.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

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

    /// Adds a collector whose gauges and counters are read at scrape time from where they
    /// live (the services' cache, click buffer and queue: `service::ServiceCollector`).
    pub fn observe(&mut self, collector: Box<dyn Collector>) {
        self.registry.register_collector(collector);
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
