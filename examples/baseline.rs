//! The floor `scripts/bench` compares the redirect against: a minimal axum 0.8 server on the same
//! runtime and HTTP stack as the service, answering every request with a constant
//! `302 Found`, a fixed `Location` and an empty body. No storage, no middleware, no logging.
//!
//! Usage: `baseline [ADDR]` (or `BASELINE_LISTEN=ADDR`), default `127.0.0.1:8090`.
//! Prints `baseline ready on ADDR` once it accepts connections; stops on SIGTERM or Ctrl-C.

use std::io::Write;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;

const LOCATION: &str = "https://example.com/some/path/123456";

async fn redirect() -> Response {
    (
        StatusCode::FOUND,
        [(header::LOCATION, HeaderValue::from_static(LOCATION))],
    )
        .into_response()
}

async fn stopped() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("BASELINE_LISTEN").ok())
        .unwrap_or_else(|| "127.0.0.1:8090".to_owned());
    let listener = TcpListener::bind(&addr).await?;
    let local = listener.local_addr()?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "baseline ready on {local}")?;
        out.flush()?;
    }
    let app = Router::new().fallback(redirect);
    axum::serve(listener, app)
        .with_graceful_shutdown(stopped())
        .await
}
