//! The click pipeline: what a redirect records, how it reaches storage, and what is counted.

mod buffer;

pub use buffer::{ClickBuffer, ClickFlusher, FlushReport, PendingClicks};
