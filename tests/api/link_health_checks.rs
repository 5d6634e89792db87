//! The link checker against real HTTP on loopback: one fixture route per outcome, what a
//! check sends (and never sends), the limits, and the SSRF guard: names and redirect hops that
//! lead to forbidden addresses are `blocked` with zero connection attempts to them.
//!
//! Outcome tests allow private destinations (every fixture is on loopback). The guard tests do
//! not: there a test rule stands 127.0.0.1 in for the public internet and everything else the
//! creation rules forbid stays forbidden (127.0.0.2 is where the counting listener waits).

use crate::common;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use common::dns::FakeDns;
use common::fixture::{CountingListener, Destination, UntrustedTls};
use url_shortener::domain::{CheckOutcome, UrlPolicy};
use url_shortener::service::link_health::{CheckLimits, CheckedResolver, LinkChecker};

const UA: &str = "url-shortener-link-check/test (+https://sho.rt/)";

fn limits() -> CheckLimits {
    CheckLimits {
        connect_timeout: Duration::from_secs(2),
        total_timeout: Duration::from_secs(2),
        max_body_bytes: 64 * 1024,
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A checker that asks `dns` and allows private destinations.
fn open_checker(dns: &FakeDns) -> LinkChecker {
    let resolver = CheckedResolver::from_servers(&[dns.addr], true).unwrap();
    LinkChecker::new(resolver, UrlPolicy::new(Some("sho.rt"), true), UA, limits()).unwrap()
}

/// A checker under the creation rules (no private destinations), except that 127.0.0.1
/// stands in for a public address.
fn guarded_checker(dns: &FakeDns) -> LinkChecker {
    let resolver = CheckedResolver::from_servers(&[dns.addr], false)
        .unwrap()
        .with_rule(|ip| {
            ip == IpAddr::from([127, 0, 0, 1])
                || url_shortener::service::link_health::resolver::is_allowed(ip, false)
        });
    LinkChecker::new(
        resolver,
        UrlPolicy::new(Some("sho.rt"), false),
        UA,
        limits(),
    )
    .unwrap()
}

/// The fixture's URL under the name `site.test` (which `dns` points at 127.0.0.1).
fn named(site: &Destination, path: &str) -> String {
    format!("http://site.test:{}{path}", site.addr.port())
}

async fn setup() -> (Destination, FakeDns) {
    let site = Destination::start("127.0.0.1").await;
    let dns = FakeDns::start(&[("site.test", &[ip("127.0.0.1")])]).await;
    (site, dns)
}

#[tokio::test]
async fn every_answer_has_its_outcome() {
    let (site, dns) = setup().await;
    let checker = open_checker(&dns);
    let cases = [
        ("/ok", CheckOutcome::Ok, Some(200)),
        ("/moved", CheckOutcome::Redirected, Some(200)),
        ("/chain/5", CheckOutcome::Redirected, Some(200)),
        ("/chain/6", CheckOutcome::ClientError, None),
        ("/loop", CheckOutcome::ClientError, None),
        ("/missing", CheckOutcome::ClientError, Some(404)),
        ("/broken", CheckOutcome::ServerError, Some(500)),
        ("/forbidden", CheckOutcome::Refused, Some(403)),
        ("/no-head", CheckOutcome::Ok, Some(206)),
    ];
    for (path, outcome, status) in cases {
        let probe = checker.check(&named(&site, path)).await;
        assert_eq!(
            (probe.outcome, probe.http_status),
            (outcome, status),
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_bot_wall_with_retry_after_is_refused_and_says_how_long() {
    let (site, dns) = setup().await;
    let probe = open_checker(&dns).check(&named(&site, "/busy")).await;
    assert_eq!(probe.outcome, CheckOutcome::Refused);
    assert_eq!(probe.http_status, Some(429));
    assert_eq!(probe.retry_after, Some(Duration::from_secs(120)));
}

#[tokio::test]
async fn a_check_sends_head_then_a_one_byte_get_and_nothing_private() {
    let (site, dns) = setup().await;
    let checker = open_checker(&dns);
    checker.check(&named(&site, "/no-head")).await;
    let seen = site.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].method, "HEAD");
    assert_eq!(seen[1].method, "GET");
    assert_eq!(seen[1].headers["range"], "bytes=0-0");
    for request in &seen {
        assert_eq!(request.headers["user-agent"], UA);
        for private in ["cookie", "authorization", "proxy-authorization", "referer"] {
            assert!(!request.headers.contains_key(private), "{private} was sent");
        }
    }
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_in_time() {
    let (site, dns) = setup().await;
    let started = Instant::now();
    let probe = open_checker(&dns).check(&named(&site, "/hang")).await;
    assert_eq!(probe.outcome, CheckOutcome::Timeout);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_huge_body_is_read_only_up_to_the_limit() {
    let (site, dns) = setup().await;
    let probe = open_checker(&dns).check(&named(&site, "/huge")).await;
    assert_eq!(probe.outcome, CheckOutcome::Ok);
    // The checker dropped the connection after its limit; the server's socket buffers let it
    // write somewhat more before it noticed, never the endless body.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent = site.huge_sent.load(std::sync::atomic::Ordering::Relaxed);
    assert!(sent < 16 * 1024 * 1024, "the server sent {sent} bytes");
}

#[tokio::test]
async fn an_untrusted_certificate_is_a_tls_failure() {
    let tls = UntrustedTls::start().await;
    let dns = FakeDns::start(&[("secure.test", &[ip("127.0.0.1")])]).await;
    let url = format!("https://secure.test:{}/", tls.addr.port());
    let probe = open_checker(&dns).check(&url).await;
    assert_eq!(probe.outcome, CheckOutcome::Tls);
    assert_eq!(tls.handshakes(), 0);
}

#[tokio::test]
async fn a_name_that_does_not_resolve_is_a_dns_failure() {
    let dns = FakeDns::start(&[]).await;
    let probe = open_checker(&dns).check("http://nowhere.test/").await;
    assert_eq!(probe.outcome, CheckOutcome::Dns);
    assert!(dns.questions() >= 1);
}

#[tokio::test]
async fn names_that_resolve_to_forbidden_addresses_are_blocked_without_a_connection() {
    let trap = CountingListener::start("127.0.0.2").await;
    let port = trap.addr.port();
    let dns = FakeDns::start(&[
        ("loopback.test", &[ip("127.0.0.2")]),
        ("metadata.test", &[ip("169.254.169.254")]),
        ("private.test", &[ip("10.0.0.1")]),
        ("v6.test", &[ip("::1")]),
        ("mixed.test", &[ip("127.0.0.1"), ip("127.0.0.2")]),
    ])
    .await;
    let checker = guarded_checker(&dns);
    for name in [
        "loopback.test",
        "metadata.test",
        "private.test",
        "v6.test",
        "mixed.test",
    ] {
        let probe = checker.check(&format!("http://{name}:{port}/")).await;
        assert_eq!(probe.outcome, CheckOutcome::Blocked, "{name}");
    }
    // An address literal never reaches a resolver and is refused just the same.
    let probe = checker.check(&format!("http://127.0.0.2:{port}/")).await;
    assert_eq!(probe.outcome, CheckOutcome::Blocked);
    assert_eq!(
        trap.attempts(),
        0,
        "the checker connected to a forbidden address"
    );
}

#[tokio::test]
async fn a_redirect_to_a_forbidden_address_is_blocked_at_that_hop() {
    let trap = CountingListener::start("127.0.0.2").await;
    let (site, dns) = setup().await;
    dns.set("inside.test", &[ip("127.0.0.2")]);
    let checker = guarded_checker(&dns);
    let targets = [
        format!("http://inside.test:{}/", trap.addr.port()),
        format!("http://127.0.0.2:{}/", trap.addr.port()),
        format!("http://[::1]:{}/", trap.addr.port()),
    ];
    for target in targets {
        let encoded: String = url::form_urlencoded::byte_serialize(target.as_bytes()).collect();
        let probe = checker
            .check(&named(&site, &format!("/to/{encoded}")))
            .await;
        assert_eq!(probe.outcome, CheckOutcome::Blocked, "{target}");
    }
    assert_eq!(trap.attempts(), 0);
    // The first hop itself was allowed (the stand-in public address) and answered.
    assert!(!site.seen().is_empty());
}

#[tokio::test]
async fn a_name_rebound_between_checks_is_blocked_on_the_next() {
    let trap = CountingListener::start("127.0.0.2").await;
    let site = Destination::start("127.0.0.1").await;
    let dns = FakeDns::start(&[("rebind.test", &[ip("127.0.0.1")])]).await;
    let checker = guarded_checker(&dns);
    // The same port on both addresses would be needed for a real rebinding; the name's first
    // answer reaches the site, the second would reach the trap.
    let first = checker
        .check(&format!("http://rebind.test:{}/ok", site.addr.port()))
        .await;
    assert_eq!(first.outcome, CheckOutcome::Ok);
    dns.set("rebind.test", &[ip("127.0.0.2")]);
    let second = checker
        .check(&format!("http://rebind.test:{}/ok", trap.addr.port()))
        .await;
    assert_eq!(second.outcome, CheckOutcome::Blocked);
    assert_eq!(trap.attempts(), 0);
}
