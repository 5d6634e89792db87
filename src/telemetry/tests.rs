//! The writer and the format against real outputs.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tracing_subscriber::fmt::MakeWriter;

use super::format::civil_from_days;
use super::writer::MAX_PENDING;
use super::*;

/// An in-memory log output, shared by the tests that read what was logged.
#[derive(Clone, Default)]
pub(crate) struct Sink(pub(crate) Arc<Mutex<Vec<u8>>>);

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
        tracing::error!(target: REQUEST_TARGET, method = "POST", route = "/shorten", status = 500u16, latency_us = 7u64, error = "storage error: corrupt \"row\"", "request");
        // Odd values take the `Debug` path, as the default format does.
        tracing::info!(target: REQUEST_TARGET, method = "GET", route = "a \"quoted\" \\ route\n", status = 0u16, delta = -3i64, flag = true, "request");
        // Not the request target: the default format, whatever it prints.
        tracing::info!(target: "url_shortener", listen = "127.0.0.1:8080", "ready");
    });
    assert_eq!(plain.lines().count(), 5, "{plain}");
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
    let parsed = time::OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339)
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
