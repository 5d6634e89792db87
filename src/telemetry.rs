//! Logging setup: a `tracing` subscriber writing through [`BatchWriter`], so a slow stdout never
//! stalls a request and a busy second costs a few large writes rather than one per request.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

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
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
    Ok(guard)
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
}
