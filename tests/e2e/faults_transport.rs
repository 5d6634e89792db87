//! Faults of the transport, tried against the release binary on real sockets the way a hostile
//! client would: silent and half-sent connections, more connections than the cap, idle
//! keep-alives, oversized declared bodies, shutdown with idle connections open, and concurrent
//! spending of the 404 budget on SQLite and on the Redis limiter.

use crate::common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::backends::{RedisScope, redis_url};
use common::process::{self, ServerProcess};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Starts the binary on SQLite in a fresh directory with `env`.
async fn start(env: &[(&str, &str)]) -> (ServerProcess, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let server = process::start(dir.path(), env).await;
    (server, dir)
}

/// Waits until the server closes `stream` (EOF or reset), at most `limit`; how long it took.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout_at((started + limit).into(), stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {} // an answer (e.g. 408 from hyper): keep reading until closed
            Err(_) => return None,
        }
    }
}

/// One raw HTTP/1.1 request on `stream`; the status line of the answer.
async fn raw_request(stream: &mut TcpStream, request: &str) -> String {
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed before answering: {answer:?}");
        answer.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap()
        .to_owned()
}

fn open_descriptors(server: &ServerProcess) -> usize {
    let pid = server.child.id().unwrap();
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

#[tokio::test]
async fn silent_and_half_sent_connections_are_closed_after_the_header_deadline() {
    let (server, _dir) = start(&[("URL_SHORTENER__SERVER__HEADER_READ_TIMEOUT_MS", "500")]).await;
    let mut silent = Vec::new();
    let mut partial = Vec::new();
    for _ in 0..20 {
        silent.push(TcpStream::connect(server.addr).await.unwrap());
        let mut half = TcpStream::connect(server.addr).await.unwrap();
        half.write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        partial.push(half);
    }
    // A slow client trickling its headers gets no more time than one that sends nothing.
    let mut trickle = TcpStream::connect(server.addr).await.unwrap();
    let trickling = tokio::spawn(async move {
        for byte in b"GET /health/live HTTP/1.1\r\nHost: x\r\n" {
            if trickle.write_all(&[*byte]).await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    });

    let mut slowest = Duration::ZERO;
    for stream in silent.iter_mut().chain(partial.iter_mut()) {
        let took = closed_within(stream, Duration::from_secs(5))
            .await
            .expect("the server closes a connection that never completes its headers");
        slowest = slowest.max(took);
    }
    assert!(trickling.await.unwrap(), "the trickling client was cut off");
    println!("40 silent or half-sent connections closed after at most {slowest:?}");
    // The server still answers.
    let mut fresh = TcpStream::connect(server.addr).await.unwrap();
    let status = raw_request(&mut fresh, "GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_lives_for_the_idle_timeout_not_the_header_deadline() {
    let (server, _dir) = start(&[
        ("URL_SHORTENER__SERVER__HEADER_READ_TIMEOUT_MS", "300"),
        ("URL_SHORTENER__SERVER__IDLE_TIMEOUT_SECONDS", "2"),
    ])
    .await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let status = raw_request(&mut stream, "GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");

    // Still open well past the header deadline: idle is not "sending headers".
    tokio::time::sleep(Duration::from_millis(900)).await;
    let again = raw_request(&mut stream, "GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(again.starts_with("HTTP/1.1 200"), "{again}");

    let took = closed_within(&mut stream, Duration::from_secs(10))
        .await
        .expect("an idle connection is closed after the idle timeout");
    assert!(
        took >= Duration::from_millis(1_500),
        "closed after {took:?}"
    );
    println!("idle keep-alive connection closed after {took:?} (idle timeout 2 s)");
}

#[tokio::test]
async fn connections_past_the_cap_wait_instead_of_taking_descriptors() {
    let (server, _dir) = start(&[
        ("URL_SHORTENER__SERVER__MAX_CONNECTIONS", "16"),
        ("URL_SHORTENER__SERVER__HEADER_READ_TIMEOUT_MS", "500"),
    ])
    .await;
    let before = open_descriptors(&server);
    let mut silent = Vec::new();
    for _ in 0..200 {
        silent.push(TcpStream::connect(server.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let during = open_descriptors(&server);
    assert!(
        during <= before + 16,
        "{during} descriptors open with 200 silent clients (before: {before}, cap 16)"
    );

    // A real request waits in the backlog and is answered once the silent ones time out.
    let started = Instant::now();
    let mut waiting = TcpStream::connect(server.addr).await.unwrap();
    let status = tokio::time::timeout(
        Duration::from_secs(30),
        raw_request(&mut waiting, "GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n"),
    )
    .await
    .expect("a queued connection is served once the cap frees up");
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    println!(
        "{during} descriptors with 200 silent clients (cap 16, {before} before); a queued \
         request answered after {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_declared_body_over_the_limit_is_refused_at_once() {
    let (server, _dir) = start(&[("URL_SHORTENER__SERVER__REQUEST_TIMEOUT_MS", "30000")]).await;
    let body = r#"{"long_url":"https://example.com/"}"#;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let started = Instant::now();
    let status = tokio::time::timeout(
        Duration::from_secs(10),
        raw_request(
            &mut stream,
            &format!(
                "POST /shorten HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                 Content-Length: 104857600\r\n\r\n{body}"
            ),
        ),
    )
    .await
    .expect("answered without waiting for the declared body");
    assert!(status.starts_with("HTTP/1.1 413"), "{status}");
    println!("413 for a declared 100 MiB body in {:?}", started.elapsed());

    // A chunked body is refused as soon as it passes the limit, without its end.
    let mut chunked = TcpStream::connect(server.addr).await.unwrap();
    let chunk = "a".repeat(20 * 1024);
    let status = tokio::time::timeout(
        Duration::from_secs(10),
        raw_request(
            &mut chunked,
            &format!(
                "POST /shorten HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                 Transfer-Encoding: chunked\r\n\r\n{:x}\r\n{chunk}\r\n",
                chunk.len()
            ),
        ),
    )
    .await
    .expect("answered before the chunked body ends");
    assert!(status.starts_with("HTTP/1.1 413"), "{status}");
}

#[tokio::test]
async fn shutdown_with_idle_and_silent_connections_open_exits_at_once() {
    let (mut server, _dir) =
        start(&[("URL_SHORTENER__SERVER__SHUTDOWN_TIMEOUT_SECONDS", "30")]).await;
    let mut open = Vec::new();
    for _ in 0..10 {
        let mut idle = TcpStream::connect(server.addr).await.unwrap();
        raw_request(&mut idle, "GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n").await;
        open.push(idle);
        open.push(TcpStream::connect(server.addr).await.unwrap());
        let mut half = TcpStream::connect(server.addr).await.unwrap();
        half.write_all(b"GET /health HTTP/1.1\r\n").await.unwrap();
        open.push(half);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;

    let started = Instant::now();
    process::signal(&server.child, nix::sys::signal::Signal::SIGTERM);
    let status = tokio::time::timeout(Duration::from_secs(5), server.child.wait())
        .await
        .expect("the service exits long before its 30 s shutdown timeout")
        .unwrap();
    let took = started.elapsed();
    assert!(status.success(), "{status:?}");
    let logs = server.logs_after_exit().await;
    assert!(
        !logs.contains("still in flight"),
        "nothing was in flight, yet the log says so:\n{logs}"
    );
    println!("SIGTERM with 30 idle, silent and half-sent connections: exited in {took:?}");
}

#[tokio::test]
async fn a_silent_http2_connection_is_closed_after_the_header_deadline() {
    let (server, _dir) = start(&[("URL_SHORTENER__SERVER__HEADER_READ_TIMEOUT_MS", "500")]).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    // The prior-knowledge preface and an empty SETTINGS frame, then nothing.
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .unwrap();
    closed_within(&mut stream, Duration::from_secs(5))
        .await
        .expect("an HTTP/2 connection that opens no stream is closed");
}

/// Budgets no client spends except the 404 one: 10 at once, one a second.
const NOT_FOUND_BURST: usize = 10;

fn budget_env() -> Vec<(&'static str, String)> {
    vec![
        ("URL_SHORTENER__RATE_LIMIT__ENABLED", "true".to_owned()),
        (
            "URL_SHORTENER__RATE_LIMIT__NOT_FOUND_PER_MINUTE",
            "60".to_owned(),
        ),
        (
            "URL_SHORTENER__RATE_LIMIT__NOT_FOUND_BURST",
            NOT_FOUND_BURST.to_string(),
        ),
        (
            "URL_SHORTENER__RATE_LIMIT__REDIRECTS_PER_MINUTE",
            "6000000".to_owned(),
        ),
        (
            "URL_SHORTENER__RATE_LIMIT__REDIRECT_BURST",
            "6000000".to_owned(),
        ),
    ]
}

/// `connections` clients looking up unknown codes for `for_how_long`: the 404s they got.
async fn not_found_answers(addr: SocketAddr, connections: usize, for_how_long: Duration) -> usize {
    let deadline = Instant::now() + for_how_long;
    let tasks: Vec<_> = (0..connections)
        .map(|c| {
            tokio::spawn(async move {
                let client = reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .pool_max_idle_per_host(1)
                    .build()
                    .unwrap();
                let (mut not_found, mut i) = (0, 0);
                while Instant::now() < deadline {
                    i += 1;
                    let url = format!("http://{addr}/s/unknown-{c}-{i}");
                    match client.get(url).send().await.unwrap().status().as_u16() {
                        404 => not_found += 1,
                        429 => tokio::time::sleep(Duration::from_millis(20)).await,
                        other => panic!("unexpected status {other}"),
                    }
                }
                not_found
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap();
    }
    total
}

/// At 1, 16 and 64 concurrent connections, the 404s admitted in 2 s never pass the burst plus
/// the refill of that time (10 + 2, and one more for the second the count started in).
/// `prefix` keeps each run's Redis budgets apart (every run is the same client, 127.0.0.1).
async fn concurrent_lookups_never_spend_more_than_the_404_budget(
    limiter: &[(&str, &str)],
    prefix: &str,
) {
    let mut figures = Vec::new();
    for connections in [1, 16, 64] {
        let mut env = budget_env();
        env.extend(limiter.iter().map(|(k, v)| (*k, (*v).to_owned())));
        env.push((
            "URL_SHORTENER__RATE_LIMIT__KEY_PREFIX",
            format!("{prefix}{connections}:"),
        ));
        let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (server, _dir) = start(&pairs).await;
        let admitted = not_found_answers(server.addr, connections, Duration::from_secs(2)).await;
        figures.push((connections, admitted));
    }
    println!("404s admitted in 2 s (connections, 404s): {figures:?}");
    for (connections, admitted) in figures {
        assert!(
            (NOT_FOUND_BURST..=NOT_FOUND_BURST + 3).contains(&admitted),
            "{admitted} 404s admitted at {connections} connections (budget 10 + 1/s)"
        );
    }
}

#[tokio::test]
async fn concurrent_lookups_on_sqlite_with_the_in_process_limiter_stay_within_budget() {
    concurrent_lookups_never_spend_more_than_the_404_budget(&[], "unused:").await;
}

#[tokio::test]
async fn concurrent_lookups_with_the_redis_limiter_stay_within_budget() {
    let (_repo, scope) = RedisScope::open().await;
    let url = redis_url();
    concurrent_lookups_never_spend_more_than_the_404_budget(
        &[
            ("URL_SHORTENER__RATE_LIMIT__BACKEND", "redis"),
            ("URL_SHORTENER__RATE_LIMIT__REDIS_URL", &url),
            (
                "URL_SHORTENER__RATE_LIMIT__SECRET",
                "test-secret-0123456789",
            ),
        ],
        &scope.prefix,
    )
    .await;
}
