//! Logging setup: a `tracing` subscriber writing through a non-blocking writer, so a slow
//! stdout never stalls a request.

use std::io::IsTerminal;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogSettings};

/// Installs the global subscriber. Keep the returned guard alive until exit: dropping it
/// flushes buffered lines.
///
/// # Errors
/// When `log.level` is not a valid filter.
pub fn init(settings: &LogSettings) -> Result<WorkerGuard, anyhow::Error> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(from_env) if !from_env.is_empty() => EnvFilter::try_new(from_env)?,
        _ => EnvFilter::try_new(&settings.level).map_err(|e| {
            anyhow::anyhow!(
                "log.level: '{}' is not a valid filter ({e})",
                settings.level
            )
        })?,
    };
    // The appender's worker drains every queued line, then flushes: behind a BufWriter a busy
    // second costs a few large writes instead of one write(2) per request line.
    let stdout = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout());
    let (writer, guard) = tracing_appender::non_blocking(stdout);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        // Colour codes only help a person at a terminal; in files and collectors they are noise.
        .with_ansi(std::io::stdout().is_terminal());
    match settings.format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
    Ok(guard)
}
