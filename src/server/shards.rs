//! Sharded serving: one OS thread per CPU, each running its own single-threaded tokio runtime
//! with its own accept loop on the one listening socket. A connection lives its whole life on
//! the thread that accepted it, so answering a request never hands work to another thread.
//!
//! Why: with a work-stealing runtime, a request's wake-ups cross threads (the socket's readiness
//! on one worker, the task stolen by another, the response written from a third), and when the
//! load generator or a proxy shares the machine's cores those hand-offs are cross-CPU wake-ups
//! that the kernel bills to the server. actix-web and nginx shard the same way.
//!
//! Why one shared socket (duplicated descriptors) rather than `SO_REUSEPORT` listeners: with
//! `SO_REUSEPORT`, a second process of the same user started on the same port by mistake binds
//! too and silently takes half the connections; here its bind fails as it always did. A new
//! connection wakes every idle thread and the first to accept it takes it, so the threads that
//! are least busy take the most.

use std::future::Future;
use std::io;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};

use super::{ConnectionLimits, serve_with};

/// Serves `router` on `listener` from `threads` threads (at least one), each with its own
/// current-thread runtime and accept loop, until `shutdown` turns `true`; then each thread
/// drains as [`serve_with`] does, and this completes when all of them have.
/// `limits.max_connections` is the cap for all threads together: each takes an equal share
/// (with fewer connections than threads, only as many threads as connections run), and a
/// thread at its share stops accepting while the others still do.
///
/// `listener` must be non-blocking (as [`tokio::net::TcpListener::into_std`] leaves it).
///
/// # Errors
/// A thread that cannot be started or cannot build its runtime, a listener that cannot be
/// duplicated, or a thread that panicked.
pub fn serve_sharded(
    listener: std::net::TcpListener,
    threads: usize,
    router: Router,
    limits: ConnectionLimits,
    shutdown: watch::Receiver<bool>,
) -> io::Result<impl Future<Output = io::Result<()>>> {
    // Rounded down, and never more threads than connections, so the shares never add up to
    // more than the cap.
    let threads = threads.clamp(1, limits.max_connections.max(1));
    let limits = ConnectionLimits {
        max_connections: limits.max_connections / threads,
        ..limits
    };
    let mut done = Vec::with_capacity(threads);
    for i in 0..threads {
        let listener = listener.try_clone()?;
        let router = router.clone();
        let mut stop = shutdown.clone();
        let (tx, rx) = oneshot::channel();
        std::thread::Builder::new()
            .name(format!("http-{i}"))
            .spawn(move || {
                let result = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .and_then(|runtime| {
                        runtime.block_on(async move {
                            let listener = TcpListener::from_std(listener)?;
                            let stopped = async move {
                                let _ = stop.wait_for(|stop| *stop).await;
                            };
                            serve_with(listener, router, limits, stopped).await
                        })
                    });
                let _ = tx.send(result);
            })?;
        done.push(rx);
    }
    drop(listener);
    Ok(async move {
        for rx in done {
            rx.await
                .map_err(|_| io::Error::other("a server thread panicked"))??;
        }
        Ok(())
    })
}
