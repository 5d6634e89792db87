//! The services' own counters as Prometheus metrics, read at scrape time: the collector the
//! composition root registers with `Metrics::observe`, so that metrics need not know services.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use super::UrlService;

/// Reads counters that live in the services rather than in the registry: the link cache's hits
/// and misses, the click buffer, the click queue's outbox and processor. Registered with
/// `Metrics::observe`; read at every scrape.
pub struct ServiceCollector {
    urls: Arc<UrlService>,
}

impl ServiceCollector {
    /// A collector reading `urls` and what it holds.
    pub fn new(urls: Arc<UrlService>) -> Self {
        Self { urls }
    }
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
