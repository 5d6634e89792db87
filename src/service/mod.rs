//! Services: the business rules (how codes are allocated, when a link is live, how clicks are
//! counted). They speak in domain types and [`ServiceError`], never in HTTP.

mod accounts;
mod analytics;
mod api_keys;
mod cache;
mod clicks;
mod collector;
mod error;
mod expiration;
mod hashing;
pub mod link_health;
mod url_service;
mod visitor;

pub use accounts::AccountService;
pub use analytics::{
    Breakdown, ClickAnalytics, Interval, MAX_DAILY_POINTS, MAX_HOURLY_POINTS, Ranking, SeriesPoint,
    TOP_KEYS, buckets,
};
pub use api_keys::{ApiKeyService, MAX_KEY_NAME_LEN};
pub use cache::{LinkCache, Lookup};
pub use clicks::{
    ClickBuffer, ClickFlusher, ClickOutbox, ClickPipe, ClickQueue, FlushReport, PUBLISH_BATCH,
    PendingClicks, ProcessorStats, Unflushed,
};
pub use collector::ServiceCollector;
pub use error::ServiceError;
pub use expiration::{ExpirationService, MAX_BATCHES_PER_SWEEP};
pub use hashing::HashGate;
pub use url_service::{
    ForwardDefaults, LinkChange, LinkPage, LinkPolicy, LinkQuery, NewLink, SCAN_BUDGET, SharedTier,
    Target, UrlService, UrlServiceBuilder, VisitRequest,
};
pub use visitor::{Visitor, VisitorHeaders, Visitors};
