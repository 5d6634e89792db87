//! Logging setup: a `tracing` subscriber writing through [`BatchWriter`], so a slow stdout never
//! stalls a request and a busy second costs a few large writes rather than one per request.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{Format, Full, Writer};
use tracing_subscriber::fmt::time::SystemTime;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

use crate::config::{LogFormat, LogSettings};

/// How long the writer thread lets lines gather before writing them: long enough that a busy
/// instance wakes it a few times a second instead of once per request, short enough that a
/// person tailing the log sees lines at once.
const LINGER: Duration = Duration::from_millis(50);

/// Gathered bytes that end the linger early, so one write never grows unbounded.
const HIGH_WATER: usize = 256 * 1024;

/// Bytes held while the output is slower than the lines arrive; lines beyond are dropped (and
/// counted) rather than blocking a request or growing memory without bound.
const MAX_PENDING: usize = 16 * 1024 * 1024;

/// How long dropping the guard waits for the last lines to be written. An output nobody reads
/// (a full pipe, a hung collector) must not keep a stopping service from exiting.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

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
fn civil_from_days(days: i64) -> (i64, u64, u64) {
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

/// A [`MakeWriter`] that appends each formatted line to a shared buffer and lets one background
/// thread write the buffer out in batches.
///
/// Why not `tracing_appender::non_blocking`: it sends every line through a channel that wakes
/// its worker thread, a futex wake and a context switch per request line, which on the redirect
/// path cost more than the redirect itself. Here a line is a short critical section appending to
/// a `Vec`; the writer thread is woken only when the buffer goes from empty to non-empty while
/// it sleeps, or passes [`HIGH_WATER`].
#[derive(Clone)]
pub struct BatchWriter {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    /// Signalled when the writer thread has finished (see `State::finished`).
    done: Condvar,
    dropped: AtomicU64,
}

struct State {
    pending: Vec<u8>,
    /// The writer thread is blocked on `wake` (only then does a producer pay for a notify).
    waiting: bool,
    closed: bool,
    /// The writer thread has written its last batch and returned.
    finished: bool,
}

/// Stops the writer thread when dropped, after it has written every gathered line, waiting for
/// that at most [`SHUTDOWN_GRACE`] (an output that accepts nothing loses what it did not take).
pub struct BatchWriterGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    grace: Duration,
}

impl BatchWriter {
    /// Starts the writer thread writing into `out`.
    ///
    /// # Panics
    /// When the OS refuses to start a thread.
    pub fn spawn<W: Write + Send + 'static>(out: W) -> (Self, BatchWriterGuard) {
        Self::spawn_with_grace(out, SHUTDOWN_GRACE)
    }

    fn spawn_with_grace<W: Write + Send + 'static>(
        out: W,
        grace: Duration,
    ) -> (Self, BatchWriterGuard) {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                pending: Vec::with_capacity(64 * 1024),
                waiting: false,
                closed: false,
                finished: false,
            }),
            wake: Condvar::new(),
            done: Condvar::new(),
            dropped: AtomicU64::new(0),
        });
        let worker = shared.clone();
        let thread = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || {
                /// Marks the thread finished however it ends, a panicking output included.
                struct Finished<'a>(&'a Shared);
                impl Drop for Finished<'_> {
                    fn drop(&mut self) {
                        self.0.lock().finished = true;
                        self.0.done.notify_all();
                    }
                }
                let _finished = Finished(&worker);
                worker.run(out);
            })
            .expect("cannot start the log writer thread");
        (
            Self {
                shared: shared.clone(),
            },
            BatchWriterGuard {
                shared,
                thread: Some(thread),
                grace,
            },
        )
    }

    /// Lines dropped so far because the output fell more than 16 MiB behind.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves only bytes in a Vec behind: still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn append(&self, line: &[u8]) {
        let mut state = self.lock();
        if state.pending.len() + line.len() > MAX_PENDING {
            drop(state);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let was_empty = state.pending.is_empty();
        state.pending.extend_from_slice(line);
        let wake = state.waiting && (was_empty || state.pending.len() >= HIGH_WATER);
        drop(state);
        if wake {
            self.wake.notify_one();
        }
    }

    fn wait<'a>(
        &self,
        state: MutexGuard<'a, State>,
        timeout: Option<Duration>,
    ) -> MutexGuard<'a, State> {
        let mut state = state;
        state.waiting = true;
        let mut state = match timeout {
            None => self
                .wake
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner),
            Some(timeout) => {
                self.wake
                    .wait_timeout(state, timeout)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
        };
        state.waiting = false;
        state
    }

    fn run<W: Write>(&self, mut out: W) {
        let mut batch = Vec::with_capacity(64 * 1024);
        let mut reported_dropped = 0;
        loop {
            let mut state = self.lock();
            while state.pending.is_empty() && !state.closed {
                state = self.wait(state, None);
            }
            let linger_until = Instant::now() + LINGER;
            while state.pending.len() < HIGH_WATER && !state.closed {
                let left = linger_until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                state = self.wait(state, Some(left));
            }
            std::mem::swap(&mut state.pending, &mut batch);
            let closed = state.closed && state.pending.is_empty();
            drop(state);

            let dropped = self.dropped.load(Ordering::Relaxed);
            if dropped > reported_dropped {
                let _ = writeln!(
                    batch,
                    "log output fell behind: {} lines dropped",
                    dropped - reported_dropped
                );
                reported_dropped = dropped;
            }
            // Nowhere to report a failing stdout; the lines are lost, the service goes on.
            let _ = out.write_all(&batch).and_then(|()| out.flush());
            batch.clear();
            if batch.capacity() > 4 * HIGH_WATER {
                batch.shrink_to(HIGH_WATER);
            }
            if closed {
                return;
            }
        }
    }
}

impl Drop for BatchWriterGuard {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.closed = true;
        self.shared.wake.notify_one();
        let deadline = Instant::now() + self.grace;
        while !state.finished {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            state = self
                .shared
                .done
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        let finished = state.finished;
        drop(state);
        match self.thread.take() {
            Some(thread) if finished => {
                let _ = thread.join();
            }
            // Left detached: it is stuck in a write that may never return.
            _ => eprintln!(
                "log output accepted nothing for {} s at shutdown; its last lines are lost",
                self.grace.as_secs()
            ),
        }
    }
}

/// One event's writer: `tracing-subscriber` formats a whole event, then writes it in one call.
pub struct LineWriter<'a> {
    shared: &'a Shared,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.shared.append(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BatchWriter {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter {
            shared: &self.shared,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_is_written_in_order_by_the_time_the_guard_drops() {
        let sink = Sink::default();
        let (writer, guard) = BatchWriter::spawn(sink.clone());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..2_000 {
                        let line = format!("t{t} {i}\n");
                        writer.make_writer().write_all(line.as_bytes()).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        drop(guard);
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        for t in 0..4 {
            let mine: Vec<u32> = text
                .lines()
                .filter_map(|l| l.strip_prefix(&format!("t{t} ")))
                .map(|n| n.parse().unwrap())
                .collect();
            assert_eq!(mine, (0..2_000).collect::<Vec<_>>(), "thread {t}");
        }
        assert_eq!(writer.dropped(), 0);
    }

    #[test]
    fn a_line_reaches_the_output_while_the_writer_lives() {
        let sink = Sink::default();
        let (writer, _guard) = BatchWriter::spawn(sink.clone());
        writer.make_writer().write_all(b"hello\n").unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while sink.0.lock().unwrap().as_slice() != b"hello\n" {
            assert!(Instant::now() < deadline, "line not written within 5 s");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Output that accepts nothing until released: the writer thread is stuck in `write`.
    struct Stuck(Arc<(Mutex<bool>, Condvar)>, Sink);

    impl Write for Stuck {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let (released, cv) = &*self.0;
            let mut r = released.lock().unwrap();
            while !*r {
                r = cv.wait(r).unwrap();
            }
            self.1.write(buf)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Releases a [`Stuck`] output when dropped, so a failing assertion cannot leave the writer
    /// thread blocked forever.
    struct Release(Arc<(Mutex<bool>, Condvar)>);

    impl Drop for Release {
        fn drop(&mut self) {
            let (released, cv) = &*self.0;
            *released.lock().unwrap_or_else(PoisonError::into_inner) = true;
            cv.notify_all();
        }
    }

    #[test]
    fn a_stuck_output_drops_lines_past_the_bound_instead_of_blocking() {
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let sink = Sink::default();
        let (writer, guard) = BatchWriter::spawn(Stuck(gate.clone(), sink.clone()));
        // Declared after the guard so it drops first, also when an assertion below fails.
        let release = Release(gate);
        let line = vec![b'x'; 1023]
            .into_iter()
            .chain([b'\n'])
            .collect::<Vec<u8>>();
        // The writer thread takes a first batch and blocks writing it; how large that batch is
        // depends on when the thread got a core, so keep writing until the 16 MiB behind it are
        // full and lines are dropped, none of them blocking this thread. Bounded, so a broken
        // bound fails the test instead of looping.
        let mut sent = 0;
        while writer.dropped() == 0 && sent < 4 * MAX_PENDING {
            writer.make_writer().write_all(&line).unwrap();
            sent += line.len();
        }
        assert!(writer.dropped() > 0, "nothing dropped after {sent} bytes");
        drop(release);
        drop(guard);
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert!(text.contains("lines dropped"), "the loss is reported");
    }

    #[test]
    fn dropping_the_guard_gives_up_on_an_output_that_never_accepts() {
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let (writer, guard) = BatchWriter::spawn_with_grace(
            Stuck(gate.clone(), Sink::default()),
            Duration::from_millis(200),
        );
        writer.make_writer().write_all(b"never written\n").unwrap();
        // Dropped on another thread, so a guard that waits forever fails this test, not hangs it.
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            drop(guard);
            let _ = done_tx.send(());
        });
        let returned = done_rx.recv_timeout(Duration::from_secs(30));
        // Let the detached writer thread finish before the test ends.
        drop(Release(gate));
        assert!(
            returned.is_ok(),
            "dropping the guard waited on a stuck output"
        );
    }

    /// Formats the events `emit` sends with the default text format and with
    /// [`RequestLineFormat`], and returns both outputs.
    fn both_formats(emit: impl Fn()) -> (String, String) {
        let plain = Sink::default();
        let fast = Sink::default();
        let out = plain.clone();
        tracing::subscriber::with_default(
            tracing_subscriber::fmt()
                .with_ansi(false)
                .with_writer(move || out.clone())
                .finish(),
            &emit,
        );
        let out = fast.clone();
        tracing::subscriber::with_default(
            tracing_subscriber::fmt()
                .with_ansi(false)
                .with_writer(move || out.clone())
                .event_format(RequestLineFormat::new(Format::default()))
                .finish(),
            &emit,
        );
        let text = |s: Sink| String::from_utf8(s.0.lock().unwrap().clone()).unwrap();
        (text(plain), text(fast))
    }

    fn without_timestamps(text: &str) -> Vec<&str> {
        text.lines().map(|l| &l[27..]).collect()
    }

    #[test]
    fn the_request_line_is_byte_for_byte_the_default_format() {
        let (plain, fast) = both_formats(|| {
            let (method, route, status, latency_us) = ("GET", "/s/{code}", 302u16, 1_304u64);
            tracing::info!(target: REQUEST_TARGET, method, route, status, latency_us, "request");
            tracing::warn!(target: REQUEST_TARGET, method = "POST", route = "/shorten", status = 503u16, latency_us = 5_000_001u64, "request");
            // Odd values take the `Debug` path, as the default format does.
            tracing::info!(target: REQUEST_TARGET, method = "GET", route = "a \"quoted\" \\ route\n", status = 0u16, delta = -3i64, flag = true, "request");
            // Not the request target: the default format, whatever it prints.
            tracing::info!(target: "url_shortener", listen = "127.0.0.1:8080", "ready");
        });
        assert_eq!(plain.lines().count(), 4, "{plain}");
        assert_eq!(without_timestamps(&fast), without_timestamps(&plain));
        assert!(
            fast.contains(r#"INFO url_shortener::request: request method="GET" route="/s/{code}" status=302 latency_us=1304"#),
            "{fast}"
        );
    }

    #[test]
    fn request_line_timestamps_are_rfc3339_utc_microseconds_of_now() {
        let (_, fast) = both_formats(|| {
            tracing::info!(target: REQUEST_TARGET, status = 200u16, "request");
        });
        let stamp = &fast[..27];
        let parsed =
            time::OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339)
                .unwrap_or_else(|e| panic!("{stamp}: {e}"));
        assert!(
            stamp.ends_with('Z') && stamp.as_bytes()[19] == b'.',
            "{stamp}"
        );
        let age = time::OffsetDateTime::now_utc() - parsed;
        assert!(
            age.abs() < time::Duration::minutes(1),
            "{stamp} is {age} from now"
        );
    }

    #[test]
    fn calendar_dates_match_the_time_crate_for_three_centuries() {
        let epoch = time::Date::from_calendar_date(1970, time::Month::January, 1).unwrap();
        for days in 0..(300 * 366) {
            let date = epoch + time::Duration::days(days);
            let (y, m, d) = civil_from_days(days);
            assert_eq!(
                (y, m, d),
                (
                    i64::from(date.year()),
                    u64::from(u8::from(date.month())),
                    u64::from(date.day())
                ),
                "day {days}"
            );
        }
    }
}
