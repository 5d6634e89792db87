//! Destinations for the link-health tests: an HTTP server on loopback with one route per
//! answer a destination can give, which records what each request carried; a listener that
//! only counts connection attempts; and a TLS server whose certificate nobody trusts.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;

/// What one request to the fixture carried.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
}

/// A running destination fixture.
pub struct Destination {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Body bytes the `/huge` route sent.
    pub huge_sent: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Destination {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Destination {
    /// Starts the fixture on `ip` (a loopback address).
    pub async fn start(ip: &str) -> Self {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let huge_sent = Arc::new(AtomicU64::new(0));
        let app = Router::new().fallback(any({
            let seen = seen.clone();
            let huge_sent = huge_sent.clone();
            move |method: Method, uri: axum::http::Uri, headers: HeaderMap| {
                let seen = seen.clone();
                let huge_sent = huge_sent.clone();
                async move {
                    seen.lock().unwrap().push(Seen {
                        method: method.clone(),
                        path: uri.path().to_owned(),
                        headers,
                    });
                    route(&method, uri.path(), &huge_sent).await
                }
            }
        }));
        let listener = tokio::net::TcpListener::bind(format!("{ip}:0"))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            addr,
            seen,
            huge_sent,
            task,
        }
    }

    /// `http://{addr}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The requests so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn route(method: &Method, path: &str, huge_sent: &Arc<AtomicU64>) -> Response {
    let redirect = |to: String| (StatusCode::FOUND, [(header::LOCATION, to)]).into_response();
    if let Some(n) = path.strip_prefix("/chain/") {
        let n: u32 = n.parse().unwrap_or(0);
        return if n == 0 {
            StatusCode::OK.into_response()
        } else {
            redirect(format!("/chain/{}", n - 1))
        };
    }
    if let Some(to) = path.strip_prefix("/to/") {
        // `/to/{url}`: a redirect to anywhere (percent-decoded).
        let to = url::form_urlencoded::parse(format!("u={to}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        return redirect(to);
    }
    match path {
        "/ok" => StatusCode::OK.into_response(),
        "/moved" => (StatusCode::MOVED_PERMANENTLY, [(header::LOCATION, "/ok")]).into_response(),
        "/loop" => redirect("/loop".into()),
        "/missing" => StatusCode::NOT_FOUND.into_response(),
        "/broken" => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        "/forbidden" => StatusCode::FORBIDDEN.into_response(),
        "/busy" => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "120")],
        )
            .into_response(),
        "/no-head" if method == Method::HEAD => StatusCode::METHOD_NOT_ALLOWED.into_response(),
        "/no-head" => StatusCode::PARTIAL_CONTENT.into_response(),
        "/hang" => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::OK.into_response()
        }
        "/huge" if method == Method::HEAD => StatusCode::METHOD_NOT_ALLOWED.into_response(),
        "/huge" => {
            // Ignores Range and streams without end.
            let sent = huge_sent.clone();
            let chunks = futures_util::stream::repeat_with(move || {
                sent.fetch_add(16 * 1024, Ordering::Relaxed);
                Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b'x'; 16 * 1024]))
            });
            Response::builder()
                .status(StatusCode::OK)
                .body(Body::from_stream(chunks))
                .unwrap()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A TCP listener that accepts and counts connections and answers nothing.
pub struct CountingListener {
    pub addr: SocketAddr,
    accepted: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for CountingListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CountingListener {
    /// Listens on `ip` (a loopback address such as 127.0.0.2).
    pub async fn start(ip: &str) -> Self {
        let listener = tokio::net::TcpListener::bind(format!("{ip}:0"))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn({
            let accepted = accepted.clone();
            async move {
                let mut held = Vec::new();
                while let Ok((stream, _)) = listener.accept().await {
                    accepted.fetch_add(1, Ordering::SeqCst);
                    held.push(stream);
                }
            }
        });
        Self {
            addr,
            accepted,
            task,
        }
    }

    /// Connections accepted so far.
    pub fn attempts(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// A TLS server with a self-signed certificate for `localhost` that answers 200 to whoever
/// completes the handshake (which a checker that verifies certificates never does).
pub struct UntrustedTls {
    pub addr: SocketAddr,
    handshakes: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for UntrustedTls {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl UntrustedTls {
    pub async fn start() -> Self {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let key =
            rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der()).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let handshakes = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn({
            let handshakes = handshakes.clone();
            async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let acceptor = acceptor.clone();
                    let handshakes = handshakes.clone();
                    tokio::spawn(async move {
                        if let Ok(mut tls) = acceptor.accept(stream).await {
                            handshakes.fetch_add(1, Ordering::SeqCst);
                            use tokio::io::AsyncWriteExt;
                            let _ = tls
                                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                                .await;
                        }
                    });
                }
            }
        });
        Self {
            addr,
            handshakes,
            task,
        }
    }

    /// Handshakes completed (0 when every client refused the certificate).
    pub fn handshakes(&self) -> u64 {
        self.handshakes.load(Ordering::SeqCst)
    }
}
