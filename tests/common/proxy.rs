//! A TCP proxy on loopback that can be told to behave like a healthy, a dead or a hung store,
//! so fault tests can break the path to a real server and then heal it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// How the proxy treats connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forward bytes both ways.
    Forward,
    /// Close every connection at once: a store that is down.
    Refuse,
    /// Accept and never answer: a store that hangs.
    Blackhole,
}

/// A running proxy to one upstream address.
pub struct Proxy {
    pub addr: SocketAddr,
    mode: Arc<Mutex<Mode>>,
    /// While set, forwarded connections deliver requests but lose the answers (see
    /// [`Proxy::drop_answers`]).
    dropping: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<AbortHandle>>>,
    accept: AbortHandle,
}

impl Proxy {
    /// Listens on 127.0.0.1:0 and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mode = Arc::new(Mutex::new(Mode::Forward));
        let dropping = Arc::new(AtomicBool::new(false));
        let connections: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let (m, c, d) = (mode.clone(), connections.clone(), dropping.clone());
        let accept = tokio::spawn(async move {
            loop {
                let Ok((inbound, _)) = listener.accept().await else {
                    continue;
                };
                let current = *m.lock().unwrap();
                let dropping = d.clone();
                let task = tokio::spawn(async move {
                    match current {
                        Mode::Refuse => drop(inbound),
                        Mode::Blackhole => {
                            let _held = inbound;
                            std::future::pending::<()>().await;
                        }
                        Mode::Forward => {
                            if let Ok(outbound) = TcpStream::connect(upstream).await {
                                forward(inbound, outbound, &dropping).await;
                            }
                        }
                    }
                });
                c.lock().unwrap().push(task.abort_handle());
            }
        })
        .abort_handle();
        Self {
            addr,
            mode,
            dropping,
            connections,
            accept,
        }
    }

    /// While `drop` is true, every forwarded connection (open ones included) still delivers
    /// what the client sends, but the first bytes of an answer are thrown away and the
    /// connection is cut: a store that applied a write whose answer never came back.
    pub fn drop_answers(&self, drop: bool) {
        self.dropping.store(drop, Ordering::SeqCst);
    }

    /// Switches mode; existing connections are cut so clients notice at once.
    pub fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
        for connection in self.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
    }
}

/// Copies bytes both ways until either side closes; answers are lost while `dropping`.
async fn forward(mut inbound: TcpStream, mut outbound: TcpStream, dropping: &AtomicBool) {
    let (mut client_read, mut client_write) = inbound.split();
    let (mut upstream_read, mut upstream_write) = outbound.split();
    let requests = tokio::io::copy(&mut client_read, &mut upstream_write);
    let answers = async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match upstream_read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if dropping.load(Ordering::SeqCst) {
                return; // the answer is lost with the connection
            }
            if client_write.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        _ = requests => {}
        () = answers => {}
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.set(Mode::Refuse);
    }
}
