//! Logging setup: a `tracing` subscriber writing through [`BatchWriter`], so a slow stdout never
//! stalls a request and a busy second costs a few large writes rather than one per request.

mod format;
mod writer;

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Format;

use crate::config::{LogFormat, LogSettings};

pub use format::RequestLineFormat;
pub use writer::{BatchWriter, BatchWriterGuard, LineWriter};

/// Installs the global subscriber. Keep the returned guard alive until exit: dropping it
/// writes every line still gathered.
///
/// # Errors
/// When `log.level` is not a valid filter.
pub fn init(settings: &LogSettings) -> Result<BatchWriterGuard, anyhow::Error> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(from_env) if !from_env.is_empty() => EnvFilter::try_new(from_env)?,
        _ => EnvFilter::try_new(&settings.level).map_err(|e| {
            anyhow::anyhow!(
                "log.level: '{}' is not a valid filter ({e})",
                settings.level
            )
        })?,
    };
    let (writer, guard) = BatchWriter::spawn(std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        // Colour codes only help a person at a terminal; in files and collectors they are noise.
        .with_ansi(std::io::stdout().is_terminal());
    match settings.format {
        LogFormat::Text => builder
            .event_format(RequestLineFormat::new(Format::default()))
            .init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
    Ok(guard)
}

/// Target of the one event each request logs (`middleware::logging`).
pub const REQUEST_TARGET: &str = "url_shortener::request";

#[cfg(test)]
pub(crate) mod tests;
