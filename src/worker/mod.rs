//! Background loops that are not part of answering a request: the click processor of the
//! Redis click queue (the memory queue's processor is the click flusher in `service::clicks`).
//! Each is a `run(…, stop)` loop with a bounded batch, a backoff on failure and counters for
//! its metrics, stopping cleanly on the shared stop signal.

mod clicks;
mod start;

pub use clicks::{StreamProcessor, deltas_of};
pub use start::{Background, Parts, start};
