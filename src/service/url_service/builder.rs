//! [`UrlServiceBuilder`]: everything a [`UrlService`] is connected to, given before it is
//! built, so that the service is whole from its first request (no part is attached later).

use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;

use super::{ForwardDefaults, LinkPolicy, SharedTier, UrlService};
use crate::domain::{Clock, ShortCodeGen, UrlPolicy};
use crate::repository::{LinkChangeFeed, Repository};
use crate::service::{ClickPipe, LinkCache, Visitors};

/// Assembles a [`UrlService`]; every part but the store, the clock, the code generator and the
/// click pipeline is optional and defaults to "none": no cache, no tier, no announcements, an
/// unregistered counter, and the strict policies (no private destinations, links without a
/// lifetime live for ever, ten years at most when asked).
pub struct UrlServiceBuilder {
    service: UrlService,
}

impl UrlService {
    /// Starts a service over `repo`, dated by `clock`, drawing codes from `codes`, putting
    /// clicks into `clicks`.
    pub fn builder(
        repo: Arc<dyn Repository>,
        clock: Arc<dyn Clock>,
        codes: Arc<dyn ShortCodeGen>,
        clicks: ClickPipe,
    ) -> UrlServiceBuilder {
        UrlServiceBuilder {
            service: UrlService {
                repo,
                clock,
                codes,
                url_policy: UrlPolicy::new(None, false),
                link_policy: LinkPolicy {
                    default_ttl_seconds: None,
                    max_ttl_seconds: 10 * 365 * 24 * 60 * 60,
                },
                cache: None,
                clicks,
                visitors: Visitors::new(),
                created: Counter::default(),
                changes: None,
                tier: None,
                forward_defaults: ForwardDefaults::default(),
            },
        }
    }
}

impl UrlServiceBuilder {
    /// Destinations are checked with `url_policy`; lifetimes follow `link_policy`.
    pub fn policies(mut self, url_policy: UrlPolicy, link_policy: LinkPolicy) -> Self {
        self.service.url_policy = url_policy;
        self.service.link_policy = link_policy;
        self
    }

    /// Keeps looked-up links in `cache` (`None`: every lookup asks the tier or the store).
    pub fn cache(mut self, cache: Option<LinkCache>) -> Self {
        self.service.cache = cache.map(Arc::new);
        self
    }

    /// Puts the fleet's shared tier between the cache and the store.
    pub fn shared_tier(mut self, tier: Option<SharedTier>) -> Self {
        self.service.tier = tier;
        self
    }

    /// Announces this instance's edits and deletes to the other instances through `feed`.
    pub fn announce_changes_to(mut self, feed: Option<Arc<dyn LinkChangeFeed>>) -> Self {
        self.service.changes = feed;
        self
    }

    /// Links that do not say forward the visitor's query and path as `defaults` says.
    pub fn forward_by_default(mut self, defaults: ForwardDefaults) -> Self {
        self.service.forward_defaults = defaults;
        self
    }

    /// Counts every created link in `counter` (for `/metrics`).
    pub fn count_creates_in(mut self, counter: Counter) -> Self {
        self.service.created = counter;
        self
    }

    /// The service.
    pub fn build(self) -> UrlService {
        self.service
    }
}
