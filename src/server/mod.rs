//! The HTTP server: the accept loop and the life of each connection. It owns the transport
//! bounds of DESIGN §13 and nothing about requests (those are the router's).
//!
//! Why not `axum::serve`: it gives hyper no timer and no way to tell an idle connection from a
//! busy one, so a client that sends half a request line (or nothing) holds its descriptor for
//! ever, and every graceful shutdown waits for it. Here each connection has:
//! - a deadline for complete request headers, from the first byte of a request
//!   ([`ConnectionLimits::header_read_timeout`]);
//! - an idle timeout between requests ([`ConnectionLimits::idle_timeout`]);
//! - a place among at most [`ConnectionLimits::max_connections`]: past the cap the listener
//!   stops accepting, so new connections wait in the kernel's backlog instead of taking
//!   descriptors;
//! - on shutdown, an immediate close when no request of its own is being answered (idle, or
//!   still sending headers), and hyper's graceful close after the answer otherwise.
//!
//! HTTP/2 (prior knowledge) gets the idle timeout, keep-alive pings and a stream cap.

mod connection;
mod shards;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use connection::{ConnState, Tracked, Watched};
pub use shards::serve_sharded;

/// The bounds every connection lives within. `Default` matches the documented defaults of the
/// `server.*` settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// From the first byte of a request until its headers are complete.
    pub header_read_timeout: Duration,
    /// Without a request in progress, a connection is closed after this.
    pub idle_timeout: Duration,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// HTTP/2 streams one connection may have open at once.
    pub http2_max_concurrent_streams: u32,
    /// HTTP/2 keep-alive ping interval; a peer that does not answer within it is dropped.
    pub http2_keep_alive_interval: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 512,
            http2_max_concurrent_streams: 100,
            http2_keep_alive_interval: Duration::from_secs(20),
        }
    }
}

/// Serves `router` on `listener` with [`ConnectionLimits::default`]; see [`serve_with`].
///
/// # Errors
/// None today: accept errors are logged and retried.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    serve_with(listener, router, ConnectionLimits::default(), shutdown).await
}

/// Serves `router` on `listener` until `shutdown` completes; then stops accepting, closes
/// every connection that has no request in progress at once, lets the others finish their
/// answer, and returns when the last connection has closed.
///
/// # Errors
/// None today: accept errors (a full descriptor table, an aborted handshake) are logged and
/// retried after a short pause instead of ending the server.
pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let max = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let permits = Arc::new(Semaphore::new(max));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break, // never closed; a defensive exit
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_failed(&error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        tokio::spawn(serve_connection(
            stream,
            peer,
            router.clone(),
            limits,
            stop_rx.clone(),
            permit,
        ));
    }
    drop(listener);
    stop_tx.send_replace(true);
    // Every connection holds a permit until it closes: all of them back means all closed.
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    let _ = permits.acquire_many(all).await;
    Ok(())
}

/// An accept error is about one connection (reset before accept) or about the process (out
/// of descriptors): neither should end the server, and the second must not spin.
async fn accept_failed(error: &io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::warn!(%error, "accept failed; pausing before the next accept");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: ConnectionLimits,
    mut stop: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    let state = Arc::new(ConnState::new());
    let io = TokioIo::new(Watched::new(stream, state.clone()));
    let service = TowerToHyperService::new(Tracked::new(router, state.clone(), peer));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // Header and idle deadlines are ours (the watchdog below): hyper's header timer also
    // restarts on every idle keep-alive wait, which would cut the idle timeout to it.
    builder.http1().header_read_timeout(None);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.http2_max_concurrent_streams)
        .keep_alive_interval(limits.http2_keep_alive_interval)
        .keep_alive_timeout(limits.http2_keep_alive_interval);
    let conn = builder.serve_connection(io, service);
    let mut conn = std::pin::pin!(conn);
    let mut draining = false;
    loop {
        let deadline = state.deadline(&limits, draining);
        tokio::select! {
            _ = conn.as_mut() => break,
            () = tokio::time::sleep_until(deadline) => {
                if state.expired(&limits, draining) {
                    // Dropping the connection closes the socket; no request of its own was
                    // being answered.
                    break;
                }
            }
            _ = stop.wait_for(|stop| *stop), if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}
