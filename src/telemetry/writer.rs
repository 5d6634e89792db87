//! [`BatchWriter`]: log lines gathered and written by a thread of their own, so a slow output
//! never stalls a request.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing_subscriber::fmt::MakeWriter;

/// How long the writer thread lets lines gather before writing them: long enough that a busy
/// instance wakes it a few times a second instead of once per request, short enough that a
/// person tailing the log sees lines at once.
pub(super) const LINGER: Duration = Duration::from_millis(50);

/// Gathered bytes that end the linger early, so one write never grows unbounded.
pub(super) const HIGH_WATER: usize = 256 * 1024;

/// Bytes held while the output is slower than the lines arrive; lines beyond are dropped (and
/// counted) rather than blocking a request or growing memory without bound.
pub(super) const MAX_PENDING: usize = 16 * 1024 * 1024;

/// How long dropping the guard waits for the last lines to be written. An output nobody reads
/// (a full pipe, a hung collector) must not keep a stopping service from exiting.
pub(super) const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

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

    pub(super) fn spawn_with_grace<W: Write + Send + 'static>(
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
