//! Every background loop of a process, each a `run(deps, stop)` that stops cleanly when `stop`
//! turns true (finishing its current batch), with a bounded batch, a backoff on failure and
//! counters for its metrics:
//!
//! - [`click_flusher`]: the memory click queue, this process's buffer to the store;
//! - [`click_publisher`] and [`click_processor`]: the Redis click queue, the outbox to the
//!   stream and the stream to the store;
//! - [`expiry`]: the sweep of expired links and sessions;
//! - [`link_health`]: the destination checker;
//! - [`link_changes`]: other instances' edits, dropped from this instance's cache.
//!
//! [`ClickPipeline`] connects the click pipeline before the services are built; [`start`]
//! starts the loops a process's settings ask for.

pub mod click_flusher;
pub mod click_processor;
pub mod click_publisher;
mod clicks;
pub mod expiry;
pub mod link_changes;
pub mod link_health;
mod start;

pub use click_processor::{StreamProcessor, deltas_of};
pub use clicks::ClickPipeline;
pub use start::{Background, Parts, start};
