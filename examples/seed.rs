//! Load helpers for `scripts/bench`. Every link it deals with is `b%07d` (index `i`) pointing
//! at `https://example.com/some/path/{i}`, so the bench's wrk scripts can pick codes at random
//! without being told them.
//!
//! ```text
//! seed create ADDR FROM TO CONCURRENCY       POST /shorten for i in FROM..TO (expects 201)
//! seed create-ruled ADDR FROM TO CONCURRENCY the same links as `r%07d`, each with five
//!                                            redirect rules that a request without a user
//!                                            agent, country or language matches none of (so
//!                                            every redirect tries all five)
//! seed clicks ADDR FROM TO CONCURRENCY       sum of click_count from GET /stats/{code}
//! seed resolve ADDR FROM TO CONCURRENCY      HEAD /s/{code} for i in FROM..TO (expects 302):
//!                                            warms the caches, counts no click
//! seed sqlite-fill DB FROM TO CREATED_MS     insert the links straight into a SQLite file
//!                                            whose schema the service has already created
//! seed publish REDIS PREFIX FROM TO EVENTS   publish EVENTS click events on links FROM..TO to
//!                                            the click stream of PREFIX, in gateway batches
//! seed lag ADDR RATE SECONDS                 GET /s/{code} on links 0..1000 at RATE per second
//!                                            for SECONDS while probing: a fresh link is
//!                                            followed every 50 ms and /stats polled until its
//!                                            click shows; prints the probes' lag p50/p99
//! seed checks ADDR LINKS HOSTS               serves HOSTS loopback fixtures (200 to anything),
//!                                            creates LINKS links `h%07d` spread over them and
//!                                            waits until the service's link-health checker
//!                                            has checked each once: prints checks per second
//! ```
//!
//! Each prints one `key=value` line for the script to parse and exits non-zero on any failure.

use std::process::ExitCode;
use std::time::Instant;

use futures_util::StreamExt;

fn code(i: u64) -> String {
    format!("b{i:07}")
}

fn ruled_code(i: u64) -> String {
    format!("r{i:07}")
}

/// Five rules no bench request matches: each is tried, none chosen.
fn five_rules() -> serde_json::Value {
    serde_json::json!([
        { "device": ["ios"], "to": "https://apps.example.com/ios" },
        { "device": ["android"], "to": "https://apps.example.com/android" },
        { "country": ["DE", "AT", "CH"], "to": "https://example.de/" },
        { "language": ["fr"], "to": "https://example.fr/" },
        { "query": { "name": "src", "value": "qr" }, "to": "https://example.com/qr" },
    ])
}

fn long_url(i: u64) -> String {
    format!("https://example.com/some/path/{i}")
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: seed create ADDR FROM TO CONCURRENCY\n       \
         seed clicks ADDR FROM TO CONCURRENCY\n       \
         seed resolve ADDR FROM TO CONCURRENCY\n       \
         seed sqlite-fill DB FROM TO CREATED_MS\n       \
         seed publish REDIS PREFIX FROM TO EVENTS\n       \
         seed lag ADDR RATE SECONDS\n       \
         seed checks ADDR LINKS HOSTS"
    );
    ExitCode::from(2)
}

fn number(s: &str) -> Option<u64> {
    s.parse().ok()
}

fn client(concurrency: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .expect("an HTTP client")
}

/// Creates links `from..to` with at most `concurrency` requests in flight.
async fn create(addr: &str, from: u64, to: u64, concurrency: usize, ruled: bool) -> ExitCode {
    let http = client(concurrency);
    let url = format!("http://{addr}/shorten");
    let started = Instant::now();
    let mut failed = 0u64;
    let mut first_error = None;
    let mut results = futures_util::stream::iter(from..to)
        .map(|i| {
            let body = if ruled {
                serde_json::json!({
                    "long_url": long_url(i),
                    "alias": ruled_code(i),
                    "rules": five_rules(),
                })
            } else {
                serde_json::json!({ "long_url": long_url(i), "alias": code(i) })
            };
            let request = http.post(&url).json(&body);
            async move {
                match request.send().await {
                    Ok(r) if r.status() == reqwest::StatusCode::CREATED => Ok(()),
                    Ok(r) => {
                        let status = r.status();
                        Err(format!(
                            "{}: {status} {}",
                            code(i),
                            r.text().await.unwrap_or_default()
                        ))
                    }
                    Err(e) => Err(format!("{}: {e}", code(i))),
                }
            }
        })
        .buffer_unordered(concurrency);
    while let Some(result) = results.next().await {
        if let Err(e) = result {
            failed += 1;
            first_error.get_or_insert(e);
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let created = (to - from) - failed;
    let url_bytes: usize = (from..to).map(|i| long_url(i).len()).sum();
    println!(
        "created={created} failed={failed} seconds={seconds:.3} per_second={:.0} avg_long_url_len={:.2}",
        created as f64 / seconds,
        url_bytes as f64 / (to - from).max(1) as f64
    );
    match first_error {
        Some(e) => {
            eprintln!("seed create: {failed} failed; first: {e}");
            ExitCode::FAILURE
        }
        None => ExitCode::SUCCESS,
    }
}

/// Sums `click_count` over links `from..to`, as `/stats` reports it (stored + buffered).
async fn clicks(addr: &str, from: u64, to: u64, concurrency: usize) -> ExitCode {
    let http = client(concurrency);
    let mut total = 0u64;
    let mut failed = 0u64;
    let mut results = futures_util::stream::iter(from..to)
        .map(|i| {
            let request = http.get(format!("http://{addr}/stats/{}", code(i)));
            async move {
                let response = request.send().await.map_err(|e| e.to_string())?;
                if !response.status().is_success() {
                    return Err(format!("{}: {}", code(i), response.status()));
                }
                let body: serde_json::Value = response.json().await.map_err(|e| e.to_string())?;
                body["click_count"]
                    .as_u64()
                    .ok_or_else(|| format!("{}: no click_count in {body}", code(i)))
            }
        })
        .buffer_unordered(concurrency);
    while let Some(result) = results.next().await {
        match result {
            Ok(n) => total += n,
            Err(e) => {
                failed += 1;
                eprintln!("seed clicks: {e}");
            }
        }
    }
    println!("clicks={total} failed={failed}");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Resolves links `from..to` with `HEAD /s/{code}` (which counts no click), so every cache
/// tier in front of the store holds them.
async fn resolve(addr: &str, from: u64, to: u64, concurrency: usize) -> ExitCode {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client");
    let started = Instant::now();
    let mut failed = 0u64;
    let mut results = futures_util::stream::iter(from..to)
        .map(|i| {
            let request = http.head(format!("http://{addr}/s/{}", code(i)));
            async move {
                match request.send().await {
                    Ok(r) if r.status() == reqwest::StatusCode::FOUND => Ok(()),
                    Ok(r) => Err(format!("{}: {}", code(i), r.status())),
                    Err(e) => Err(format!("{}: {e}", code(i))),
                }
            }
        })
        .buffer_unordered(concurrency);
    while let Some(result) = results.next().await {
        if let Err(e) = result {
            if failed == 0 {
                eprintln!("seed resolve: {e}");
            }
            failed += 1;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "resolved={} failed={failed} seconds={seconds:.3} per_second={:.0}",
        (to - from) - failed,
        (to - from) as f64 / seconds
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Inserts links `from..to` into `db` in one transaction. Much faster than a million
/// `POST /shorten`; only used to give the SQLite store a large table to read from.
fn sqlite_fill(db: &str, from: u64, to: u64, created_ms: i64) -> ExitCode {
    let run = || -> rusqlite::Result<()> {
        let mut conn = rusqlite::Connection::open(db)?;
        let tx = conn.transaction()?;
        {
            let mut insert = tx.prepare(
                "INSERT INTO links (short_code, long_url, created_at, expires_at, click_count, \
                 last_accessed_at) VALUES (?1, ?2, ?3, NULL, 0, NULL)",
            )?;
            for i in from..to {
                insert.execute(rusqlite::params![code(i), long_url(i), created_ms])?;
            }
        }
        tx.commit()
    };
    let started = Instant::now();
    match run() {
        Ok(()) => {
            println!(
                "inserted={} seconds={:.3}",
                to - from,
                started.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("seed sqlite-fill {db}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Publishes `events` click events, round-robin over links `from..to`, as gateway batches.
async fn publish(redis: &str, prefix: &str, from: u64, to: u64, events: u64) -> ExitCode {
    use url_shortener::domain::{ClickEvent, Clock, DeviceClass, ShortCode, SystemClock};
    let stream = match url_shortener::repository::RedisClickStream::connect(
        redis,
        prefix,
        10_000_000,
        std::time::Duration::from_secs(5),
    )
    .await
    {
        Ok(stream) => stream,
        Err(e) => {
            eprintln!("seed publish: {e}");
            return ExitCode::FAILURE;
        }
    };
    let started = Instant::now();
    let now = SystemClock.now();
    let links = (to - from).max(1);
    let mut sent = 0u64;
    let mut seq = 0u64;
    while sent < events {
        let n = (events - sent).min(url_shortener::service::PUBLISH_BATCH as u64);
        let batch: Vec<ClickEvent> = (sent..sent + n)
            .map(|k| ClickEvent {
                code: ShortCode::parse(&code(from + k % links)).expect("a seed code"),
                at: now,
                referrer: None,
                country: None,
                device: DeviceClass::Desktop,
                bot: k % 4 == 0,
                target: None,
            })
            .collect();
        seq += 1;
        if let Err(e) = stream.publish(0x5eed, seq, &batch).await {
            eprintln!("seed publish: {e}");
            return ExitCode::FAILURE;
        }
        sent += n;
    }
    println!(
        "published={sent} seconds={:.3}",
        started.elapsed().as_secs_f64()
    );
    ExitCode::SUCCESS
}

/// Paced redirects at `rate` per second for `seconds`, with a probe every 50 ms measuring how
/// long a click takes to show in `/stats`.
async fn lag(addr: &str, rate: u64, seconds: u64) -> ExitCode {
    let http = client(512);
    let base = format!("http://{addr}");
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client");
    let probes = seconds * 20;
    for p in 0..probes {
        let created = http
            .post(format!("{base}/shorten"))
            .json(&serde_json::json!({"long_url": long_url(p), "alias": format!("lag{p:06}")}))
            .send()
            .await;
        if !matches!(&created, Ok(r) if r.status() == reqwest::StatusCode::CREATED) {
            eprintln!("seed lag: cannot create probe {p}");
            return ExitCode::FAILURE;
        }
    }
    let load = {
        let (no_redirect, base) = (no_redirect.clone(), base.clone());
        tokio::spawn(async move {
            let limit = std::sync::Arc::new(tokio::sync::Semaphore::new(256));
            let started = Instant::now();
            let mut sent = 0u64;
            let ok = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
            let mut tick = tokio::time::interval(std::time::Duration::from_millis(1));
            while started.elapsed().as_secs() < seconds {
                tick.tick().await;
                let due = (started.elapsed().as_secs_f64() * rate as f64) as u64;
                while sent < due {
                    let Ok(permit) = limit.clone().try_acquire_owned() else {
                        break; // the server is behind: do not queue without bound
                    };
                    let request = no_redirect.get(format!("{base}/s/{}", code(sent % 1000)));
                    let ok = ok.clone();
                    tokio::spawn(async move {
                        if matches!(request.send().await, Ok(r) if r.status().is_redirection()) {
                            ok.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        drop(permit);
                    });
                    sent += 1;
                }
            }
            let _ = limit.acquire_many(256).await;
            (
                ok.load(std::sync::atomic::Ordering::Relaxed),
                started.elapsed().as_secs_f64(),
            )
        })
    };
    let mut lags = Vec::new();
    let mut missing = 0u64;
    let started = Instant::now();
    for p in 0..probes {
        let due = std::time::Duration::from_millis(50 * p);
        if let Some(wait) = due.checked_sub(started.elapsed()) {
            tokio::time::sleep(wait).await;
        }
        let alias = format!("lag{p:06}");
        let t0 = Instant::now();
        if no_redirect
            .get(format!("{base}/s/{alias}"))
            .send()
            .await
            .is_err()
        {
            missing += 1;
            continue;
        }
        let mut seen = false;
        while t0.elapsed().as_secs() < 10 {
            let body: Option<serde_json::Value> =
                match http.get(format!("{base}/stats/{alias}")).send().await {
                    Ok(r) => r.json().await.ok(),
                    Err(_) => None,
                };
            if body.and_then(|b| b["click_count"].as_u64()).unwrap_or(0) >= 1 {
                seen = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        if seen {
            lags.push(t0.elapsed().as_secs_f64() * 1000.0);
        } else {
            missing += 1;
        }
    }
    let (completed, load_seconds) = load.await.unwrap_or((0, 1.0));
    lags.sort_by(f64::total_cmp);
    let pick = |q: f64| {
        lags.get(((lags.len() as f64 * q).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or(f64::NAN)
    };
    println!(
        "probes={} missing={missing} lag_p50_ms={:.0} lag_p99_ms={:.0} lag_max_ms={:.0} load_per_second={:.0} load_completed={completed}",
        lags.len(),
        pick(0.5),
        pick(0.99),
        lags.last().copied().unwrap_or(f64::NAN),
        completed as f64 / load_seconds
    );
    if missing > 0 {
        eprintln!("seed lag: {missing} probes never showed their click within 10 s");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// The link-health checker's throughput: `hosts` fixtures on 127.0.0.1 that answer every
/// request 200 and count them, `links` links spread over them (each fixture is another host to
/// the checker's politeness gates), and the time from the first check to the last.
async fn checks(addr: &str, links: u64, hosts: u64) -> ExitCode {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    let served = Arc::new(AtomicU64::new(0));
    let first = Arc::new(std::sync::OnceLock::<Instant>::new());
    let mut ports = Vec::new();
    for _ in 0..hosts {
        let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
            Ok(listener) => listener,
            Err(e) => {
                eprintln!("seed checks: cannot listen: {e}");
                return ExitCode::FAILURE;
            }
        };
        ports.push(listener.local_addr().map(|a| a.port()).unwrap_or(0));
        let (served, first) = (served.clone(), first.clone());
        let app = axum::Router::new().fallback(move || {
            let (served, first) = (served.clone(), first.clone());
            async move {
                first.get_or_init(Instant::now);
                served.fetch_add(1, Ordering::Relaxed);
                axum::http::StatusCode::OK
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
    }
    let http = client(64);
    let url = format!("http://{addr}/shorten");
    let mut failed = 0u64;
    let mut results = futures_util::stream::iter(0..links)
        .map(|i| {
            let port = ports[(i % hosts) as usize];
            let request = http.post(&url).json(&serde_json::json!({
                "long_url": format!("http://127.0.0.1:{port}/page/{i}"),
                "alias": format!("h{i:07}"),
            }));
            async move {
                matches!(request.send().await, Ok(r) if r.status() == reqwest::StatusCode::CREATED)
            }
        })
        .buffer_unordered(64);
    while let Some(created) = results.next().await {
        failed += u64::from(!created);
    }
    if failed > 0 {
        eprintln!("seed checks: {failed} of {links} links were not created");
        return ExitCode::FAILURE;
    }
    let deadline = Instant::now() + std::time::Duration::from_secs(180);
    while served.load(Ordering::Relaxed) < links {
        if Instant::now() > deadline {
            eprintln!(
                "seed checks: only {} of {links} links checked within 180 s",
                served.load(Ordering::Relaxed)
            );
            return ExitCode::FAILURE;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let seconds = first.get().map_or(0.0, |t| t.elapsed().as_secs_f64());
    println!(
        "checks={links} hosts={hosts} seconds={seconds:.3} per_second={:.0}",
        links as f64 / seconds.max(1e-9)
    );
    ExitCode::SUCCESS
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        [
            "create" | "create-ruled" | "clicks" | "resolve",
            addr,
            from,
            to,
            concurrency,
        ] => {
            let (Some(from), Some(to), Some(concurrency)) =
                (number(from), number(to), number(concurrency))
            else {
                return usage();
            };
            let concurrency = usize::try_from(concurrency).unwrap_or(1).max(1);
            match args[0] {
                "create" => create(addr, from, to, concurrency, false).await,
                "create-ruled" => create(addr, from, to, concurrency, true).await,
                "resolve" => resolve(addr, from, to, concurrency).await,
                _ => clicks(addr, from, to, concurrency).await,
            }
        }
        ["sqlite-fill", db, from, to, created_ms] => {
            match (number(from), number(to), created_ms.parse::<i64>()) {
                (Some(from), Some(to), Ok(created_ms)) => sqlite_fill(db, from, to, created_ms),
                _ => usage(),
            }
        }
        ["publish", redis, prefix, from, to, events] => {
            match (number(from), number(to), number(events)) {
                (Some(from), Some(to), Some(events)) => {
                    publish(redis, prefix, from, to, events).await
                }
                _ => usage(),
            }
        }
        ["checks", addr, links, hosts] => match (number(links), number(hosts)) {
            (Some(links), Some(hosts)) if hosts > 0 => checks(addr, links, hosts).await,
            _ => usage(),
        },
        ["lag", addr, rate, seconds] => match (number(rate), number(seconds)) {
            (Some(rate), Some(seconds)) => lag(addr, rate, seconds).await,
            _ => usage(),
        },
        _ => usage(),
    }
}
