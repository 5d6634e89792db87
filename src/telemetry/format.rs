//! The text log format: the default `Full` format byte for byte, with a fast path for the
//! one line each request writes.

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{Format, Full, Writer};
use tracing_subscriber::fmt::time::SystemTime;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use super::REQUEST_TARGET;

/// Text log format: byte for byte `tracing-subscriber`'s default `Full` format, with a fast
/// path for the per-request event, the one line written for every redirect.
///
/// Why: the default formatter renders every field through `core::fmt` (`Debug` of a `&str`
/// checks each character for escapes) and the timestamp through a dozen padded `write!`s,
/// about a microsecond per request, a tenth of a redirect's whole CPU cost. The fast path
/// writes the same text with plain string copies and `itoa`. Events in a span, events of any
/// other target and coloured output all go to the default formatter.
pub struct RequestLineFormat {
    inner: Format<Full, SystemTime>,
}

impl RequestLineFormat {
    /// Wraps the default text format, which formats every event the fast path does not.
    pub fn new(inner: Format<Full, SystemTime>) -> Self {
        Self { inner }
    }
}

impl<S, N> FormatEvent<S, N> for RequestLineFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let meta = event.metadata();
        if meta.target() != REQUEST_TARGET
            || writer.has_ansi_escapes()
            || ctx.lookup_current().is_some()
        {
            return self.inner.format_event(ctx, writer, event);
        }
        // Log timestamps are wall-clock time, as the default format's timer reads it; the
        // domain `Clock` is for expiry decisions, which tests fake.
        #[allow(clippy::disallowed_methods)]
        let now = std::time::SystemTime::now();
        write_timestamp(&mut writer, now)?;
        writer.write_str(match *meta.level() {
            Level::ERROR => " ERROR ",
            Level::WARN => "  WARN ",
            Level::INFO => "  INFO ",
            Level::DEBUG => " DEBUG ",
            Level::TRACE => " TRACE ",
        })?;
        writer.write_str(REQUEST_TARGET)?;
        writer.write_str(": ")?;
        let mut fields = PlainFields {
            writer: &mut writer,
            result: Ok(()),
            first: true,
        };
        event.record(&mut fields);
        fields.result?;
        writer.write_char('\n')
    }
}

/// Writes `at` as `tracing-subscriber`'s `SystemTime` timer does: RFC 3339, UTC, microseconds.
fn write_timestamp(writer: &mut Writer<'_>, at: std::time::SystemTime) -> std::fmt::Result {
    let since_epoch = at.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = since_epoch.as_secs();
    let (days, day_secs) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(i64::try_from(days).unwrap_or(i64::MAX));
    let mut out = [0u8; 27];
    let mut put = |at: usize, value: u64, width: usize| {
        let mut v = value;
        for i in (0..width).rev() {
            out[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, u64::try_from(year).unwrap_or(0), 4);
    put(5, month, 2);
    put(8, day, 2);
    put(11, day_secs / 3600, 2);
    put(14, day_secs / 60 % 60, 2);
    put(17, day_secs % 60, 2);
    put(20, u64::from(since_epoch.subsec_micros()), 6);
    out[4] = b'-';
    out[7] = b'-';
    out[10] = b'T';
    out[13] = b':';
    out[16] = b':';
    out[19] = b'.';
    out[26] = b'Z';
    // Every byte written above is ASCII.
    writer.write_str(std::str::from_utf8(&out).map_err(|_| std::fmt::Error)?)
}

/// Year, month, day of the proleptic Gregorian calendar for days since 1970-01-01
/// (Howard Hinnant's `civil_from_days`).
pub(super) fn civil_from_days(days: i64) -> (i64, u64, u64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        u64::try_from(month).unwrap_or(1),
        u64::try_from(day).unwrap_or(1),
    )
}

/// Writes fields as `tracing-subscriber`'s `DefaultVisitor` does (`message` bare, strings as
/// their `Debug` form, numbers plain), without `core::fmt` for the common cases.
struct PlainFields<'a, 'w> {
    writer: &'a mut Writer<'w>,
    result: std::fmt::Result,
    first: bool,
}

impl PlainFields<'_, '_> {
    fn name(&mut self, field: &Field) -> std::fmt::Result {
        if !std::mem::take(&mut self.first) {
            self.writer.write_char(' ')?;
        }
        self.writer.write_str(field.name())?;
        self.writer.write_char('=')
    }

    fn integer(&mut self, field: &Field, digits: &str) {
        if self.result.is_ok() {
            self.result = self
                .name(field)
                .and_then(|()| self.writer.write_str(digits));
        }
    }

    fn separate(&mut self) -> std::fmt::Result {
        if std::mem::take(&mut self.first) {
            Ok(())
        } else {
            self.writer.write_char(' ')
        }
    }
}

impl Visit for PlainFields<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.result.is_err() {
            return;
        }
        self.result = if field.name() == "message" {
            self.separate().and_then(|()| self.writer.write_str(value))
        } else if value
            .bytes()
            .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\')
        {
            // `Debug` of such a string is the string in quotes.
            self.name(field)
                .and_then(|()| self.writer.write_char('"'))
                .and_then(|()| self.writer.write_str(value))
                .and_then(|()| self.writer.write_char('"'))
        } else {
            self.name(field)
                .and_then(|()| write!(self.writer, "{value:?}"))
        };
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.integer(field, itoa::Buffer::new().format(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.integer(field, itoa::Buffer::new().format(value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if self.result.is_err() {
            return;
        }
        self.result = if field.name() == "message" {
            self.separate()
                .and_then(|()| write!(self.writer, "{value:?}"))
        } else {
            self.name(field)
                .and_then(|()| write!(self.writer, "{value:?}"))
        };
    }
}
