//! What one connection is doing, as the watchdog in `serve_connection` needs to know it: how
//! many of its requests the app is answering, and since when it has been idle or receiving a
//! request's headers. [`Watched`] (the socket) and [`Tracked`] (the service) write it; the
//! watchdog reads it. Nothing here reads a request.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::Incoming;
use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tower::Service;

use super::ConnectionLimits;

/// Low bit of [`ConnState::phase`]: a request has begun arriving (or the connection is new)
/// and the app has not been handed its headers yet.
const READING: u64 = 1;

/// While shutting down, a connection whose last answer has just gone out gets this long for
/// hyper to flush it and close on its own.
const DRAIN_FLUSH_GRACE: Duration = Duration::from_millis(100);

/// The HTTP/2 connection preface starts with this; HTTP/1 has no method `PRI`.
const H2_PREFACE_START: &[u8] = b"PRI ";

/// Shared by the socket wrapper, the service wrapper and the watchdog of one connection.
pub(super) struct ConnState {
    origin: Instant,
    /// Requests handed to the app and not yet answered.
    inflight: AtomicU32,
    /// `(milliseconds since origin) << 1 | READING`: when the current phase began.
    phase: AtomicU64,
    /// HTTP/2: frames (pings, window updates) arrive between requests, so bytes while idle do
    /// not mean a request has started.
    http2: AtomicBool,
}

impl ConnState {
    /// A new connection is waiting for its first request's headers.
    pub(super) fn new() -> Self {
        Self {
            origin: Instant::now(),
            inflight: AtomicU32::new(0),
            phase: AtomicU64::new(READING),
            http2: AtomicBool::new(false),
        }
    }

    fn millis(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX >> 1)
    }

    fn on_bytes(&self, first: bool, bytes: &[u8]) {
        if first && bytes.starts_with(H2_PREFACE_START) {
            self.http2.store(true, Ordering::Relaxed);
        }
        if self.inflight.load(Ordering::Relaxed) == 0
            && self.phase.load(Ordering::Relaxed) & READING == 0
            && !self.http2.load(Ordering::Relaxed)
        {
            self.phase
                .store(self.millis() << 1 | READING, Ordering::Relaxed);
        }
    }

    fn request_started(&self) {
        self.inflight.fetch_add(1, Ordering::Relaxed);
    }

    fn request_answered(&self) {
        if self.inflight.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.phase.store(self.millis() << 1, Ordering::Relaxed);
        }
    }

    /// When the watchdog should look again: the end of the current phase's allowance, or a
    /// recheck while a request is being answered.
    pub(super) fn deadline(&self, limits: &ConnectionLimits, draining: bool) -> Instant {
        if self.inflight.load(Ordering::Relaxed) > 0 {
            let recheck = if draining {
                DRAIN_FLUSH_GRACE
            } else {
                limits.header_read_timeout.min(limits.idle_timeout)
            };
            return Instant::now() + recheck;
        }
        self.origin + self.allowance(limits, draining)
    }

    /// Whether the connection should be closed now: it has no request being answered and its
    /// phase has outlived its allowance (on shutdown, at once unless an answer is flushing).
    pub(super) fn expired(&self, limits: &ConnectionLimits, draining: bool) -> bool {
        self.inflight.load(Ordering::Relaxed) == 0
            && Instant::now() >= self.origin + self.allowance(limits, draining)
    }

    /// The end of the current phase, as a time since `origin`.
    fn allowance(&self, limits: &ConnectionLimits, draining: bool) -> Duration {
        let phase = self.phase.load(Ordering::Relaxed);
        let since = Duration::from_millis(phase >> 1);
        let reading = phase & READING != 0;
        let length = match (draining, reading) {
            (true, true) => Duration::ZERO,
            (true, false) => DRAIN_FLUSH_GRACE,
            (false, true) => limits.header_read_timeout,
            (false, false) => limits.idle_timeout,
        };
        since + length
    }
}

/// The socket, reporting when bytes arrive.
pub(super) struct Watched {
    inner: TcpStream,
    state: Arc<ConnState>,
    first_read: bool,
}

impl Watched {
    pub(super) fn new(inner: TcpStream, state: Arc<ConnState>) -> Self {
        Self {
            inner,
            state,
            first_read: true,
        }
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = result
            && buf.filled().len() > before
        {
            let first = std::mem::replace(&mut self.first_read, false);
            self.state.on_bytes(first, &buf.filled()[before..]);
        }
        result
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The app, counting the requests it is answering and giving each the peer address
/// (`ConnectInfo`, which the rate limiter keys on).
#[derive(Clone)]
pub(super) struct Tracked<S> {
    inner: S,
    state: Arc<ConnState>,
    peer: SocketAddr,
}

impl<S> Tracked<S> {
    pub(super) fn new(inner: S, state: Arc<ConnState>, peer: SocketAddr) -> Self {
        Self { inner, state, peer }
    }
}

impl<S> Service<Request<Incoming>> for Tracked<S>
where
    S: Service<Request<Body>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = TrackedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Incoming>) -> Self::Future {
        self.state.request_started();
        request.extensions_mut().insert(ConnectInfo(self.peer));
        TrackedFuture {
            inner: self.inner.call(request.map(Body::new)),
            answering: Some(Answering(self.state.clone())),
        }
    }
}

/// Marks its request answered when dropped: on completion, or when hyper gives up on it.
struct Answering(Arc<ConnState>);

impl Drop for Answering {
    fn drop(&mut self) {
        self.0.request_answered();
    }
}

pin_project! {
    /// Response future of [`Tracked`].
    pub(super) struct TrackedFuture<F> {
        #[pin]
        inner: F,
        answering: Option<Answering>,
    }
}

impl<F: Future> Future for TrackedFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let output = std::task::ready!(this.inner.poll(cx));
        this.answering.take();
        Poll::Ready(output)
    }
}
