//! Property tests for every parser of untrusted input: destinations, codes and aliases, the
//! `X-Forwarded-For` walk, cookies, form bodies, and the user-agent, referrer and country
//! classifiers. Properties, not examples: nothing panics, what is accepted is what the contract
//! says, and parsing what was rendered gives it back.
//!
//! `scripts/test` runs a few thousand cases of each; set `PROPTEST_CASES` for a longer run.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use axum::http::{HeaderMap, HeaderValue, header};
use ipnet::IpNet;
use proptest::prelude::*;
use url::{Host, Url};

use crate::domain::{
    Alias, AliasError, Country, LongUrl, ReferrerHost, ShortCode, UrlPolicy, is_global_v4,
    is_global_v6,
};
use crate::http::cookie;
use crate::http::middleware::{client_address, parse_hop};
use crate::service::Visitors;

/// Cases per property: `PROPTEST_CASES`, else 2,000.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    ProptestConfig {
        cases,
        // Failures are reported with their minimal case; no files are written into the tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Hosts in the spellings an attacker tries: names, dotted and numeric IPv4 (decimal, hex,
/// octal, short forms), IPv6 with embedded IPv4, and garbage.
fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9-]{1,12}(\\.[a-z0-9-]{1,12}){0,3}\\.?",
        any::<u32>().prop_map(|n| Ipv4Addr::from(n).to_string()),
        any::<u32>().prop_map(|n| n.to_string()),
        any::<u32>().prop_map(|n| format!("0x{n:x}")),
        (any::<u8>(), any::<u32>()).prop_map(|(a, b)| format!("{a}.{}", b & 0xff_ffff)),
        (any::<u8>(), any::<u8>()).prop_map(|(a, b)| format!("0{a:o}.0x{b:x}.1.1")),
        any::<u128>().prop_map(|n| format!("[{}]", Ipv6Addr::from(n))),
        any::<u32>().prop_map(|n| format!("[::ffff:{}]", Ipv4Addr::from(n))),
        "localhost|LOCALHOST|intranet|x\\.local|printer\\.internal|a\\.home\\.arpa",
        "\\PC{0,20}",
    ]
}

/// URL-ish strings: a scheme, maybe credentials, a host, maybe a port, a path with anything.
fn url_text() -> impl Strategy<Value = String> {
    let scheme = "(https?|HTTPS?|ftp|javascript|data|file|hTTp)";
    (
        scheme,
        proptest::option::of("[a-z]{1,5}(:[a-z]{0,5})?@"),
        host(),
        proptest::option::of(0u32..70_000),
        "\\PC{0,40}",
    )
        .prop_map(|(scheme, user, host, port, path)| {
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            format!("{scheme}://{}{host}{port}/{path}", user.unwrap_or_default())
        })
}

/// Whether `url`'s host is one a destination may have: a global address or a public name.
fn is_public_destination(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => is_global_v4(ip),
        Some(Host::Ipv6(ip)) => is_global_v6(ip),
        Some(Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name.contains('.')
                && !["localhost", "local", "internal", "home.arpa"]
                    .iter()
                    .any(|s| name == *s || name.ends_with(&format!(".{s}")))
        }
        None => false,
    }
}

fn xff(lines: &[String]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for line in lines {
        if let Ok(value) = HeaderValue::from_str(line) {
            headers.append("x-forwarded-for", value);
        }
    }
    headers
}

/// One forwarded hop as proxies and clients write them.
fn hop() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u32>().prop_map(|n| Ipv4Addr::from(n).to_string()),
        (any::<u32>(), any::<u16>()).prop_map(|(n, p)| format!("{}:{p}", Ipv4Addr::from(n))),
        any::<u128>().prop_map(|n| Ipv6Addr::from(n).to_string()),
        (any::<u128>(), any::<u16>()).prop_map(|(n, p)| format!("[{}]:{p}", Ipv6Addr::from(n))),
        Just("10.0.0.1".to_owned()),
        Just("10.1.2.3:8080".to_owned()),
        "[ -~]{0,12}",
    ]
}

/// A form body's fields, as the web forms declare theirs.
#[derive(Debug, Default, serde::Deserialize)]
struct FormFields {
    #[serde(default)]
    url: String,
    #[serde(default)]
    alias: String,
    #[serde(default)]
    revoke_keys: Option<String>,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime")
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn an_accepted_destination_is_http_global_and_stable(raw in url_text()) {
        let policy = UrlPolicy::new(Some("sho.rt"), false);
        if let Ok(long) = LongUrl::parse(&raw, &policy) {
            let url = Url::parse(long.as_str()).expect("an accepted destination is a URL");
            prop_assert!(matches!(url.scheme(), "http" | "https"), "{}", long.as_str());
            prop_assert!(url.username().is_empty() && url.password().is_none());
            prop_assert!(is_public_destination(&url), "{}", long.as_str());
            prop_assert!(long.as_str().len() <= 2048);
            prop_assert!(!long.as_str().chars().any(char::is_control));
            // Normalizing is idempotent: what is stored parses back to itself.
            let again = LongUrl::parse(long.as_str(), &policy);
            prop_assert_eq!(again.as_ref().map(LongUrl::as_str), Ok(long.as_str()));
        }
    }

    #[test]
    fn destination_parsing_never_panics_on_any_text(raw in "\\PC{0,300}|[\\x00-\\x7f]{0,100}") {
        let _ = LongUrl::parse(&raw, &UrlPolicy::new(Some("sho.rt"), false));
        let _ = LongUrl::parse(&raw, &UrlPolicy::new(None, true));
    }

    #[test]
    fn a_code_or_alias_is_accepted_only_in_its_alphabet_and_renders_as_itself(raw in "\\PC{0,70}") {
        if let Ok(code) = ShortCode::parse(&raw) {
            prop_assert_eq!(code.as_str(), raw.as_str());
            prop_assert!(code.as_str().bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'));
            let again = ShortCode::parse(code.as_str());
            prop_assert_eq!(again.as_ref(), Ok(&code));
        }
        match Alias::parse(&raw) {
            Ok(alias) => {
                let code = alias.into_code();
                prop_assert!((3..=64).contains(&code.as_str().len()));
                prop_assert_eq!(code.as_str(), raw.as_str());
            }
            Err(AliasError::Reserved(_)) => prop_assert!(ShortCode::parse(&raw).is_ok()),
            Err(AliasError::Invalid(_)) => {}
        }
    }

    #[test]
    fn the_forwarded_walk_answers_the_peer_or_a_hop_vouched_for(
        lines in proptest::collection::vec(
            proptest::collection::vec(hop(), 0..5).prop_map(|hops| hops.join(", ")),
            0..3,
        ),
        peer_trusted in any::<bool>(),
    ) {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let peer: IpAddr = if peer_trusted { [10, 9, 9, 9].into() } else { [192, 0, 2, 9].into() };
        let headers = xff(&lines);
        let client = client_address(Some(peer), &headers, &trusted).expect("a peer gives a client");
        if !peer_trusted {
            prop_assert_eq!(client, peer, "an untrusted peer is the client");
        } else if client != peer {
            // The answer was written in the header, and every hop right of it is a trusted
            // address: nothing left of the first untrusted hop can be chosen.
            let hops: Vec<&str> = headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .collect();
            let at = hops
                .iter()
                .rposition(|h| parse_hop(h) == Some(client))
                .expect("the client is one of the hops");
            for right in &hops[at + 1..] {
                let ip = parse_hop(right);
                prop_assert!(ip.is_some_and(|ip| trusted[0].contains(&ip)), "{right} right of {client}");
            }
        }
    }

    #[test]
    fn a_hop_renders_and_parses_back(ip in any::<u128>(), v4 in any::<u32>(), port in any::<u16>()) {
        let v6 = IpAddr::V6(Ipv6Addr::from(ip)).to_canonical();
        prop_assert_eq!(parse_hop(&format!("[{}]:{port}", Ipv6Addr::from(ip))), Some(v6));
        let v4 = IpAddr::V4(Ipv4Addr::from(v4));
        prop_assert_eq!(parse_hop(&format!(" {v4}:{port} ")), Some(v4));
        prop_assert_eq!(parse_hop(&v4.to_string()), Some(v4));
    }

    #[test]
    fn a_cookie_is_found_by_its_name_and_never_spans_a_separator(
        pairs in proptest::collection::vec(("[a-zA-Z_-]{1,10}", "[!#-+\\--:<-\\[\\]-~]{0,20}"), 0..6),
        junk in "[ -~]{0,40}",
    ) {
        let mut headers = HeaderMap::new();
        let rendered: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if let Ok(value) = HeaderValue::from_str(&rendered.join("; ")) {
            headers.append(header::COOKIE, value);
        }
        if let Ok(value) = HeaderValue::from_str(&junk) {
            headers.append(header::COOKIE, value);
        }
        for (name, value) in &pairs {
            let found = cookie(&headers, name).expect("a cookie that was sent is found");
            prop_assert!(!found.contains(';'));
            // The first cookie of that name wins, as browsers send the most specific first.
            let first = pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim_matches('"'));
            prop_assert_eq!(Some(found), first, "{} in {:?}", name, value);
        }
    }

    #[test]
    fn a_form_body_decodes_what_was_encoded_and_never_panics_on_bytes(
        url in "\\PC{0,60}",
        alias in "\\PC{0,20}",
        tick in any::<bool>(),
        noise in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut body = url::form_urlencoded::Serializer::new(String::new());
        body.append_pair("url", &url).append_pair("alias", &alias);
        if tick {
            body.append_pair("revoke_keys", "1");
        }
        let decoded = runtime().block_on(decode_form(body.finish().into_bytes()));
        let fields = decoded.expect("an encoded form decodes");
        prop_assert_eq!(&fields.url, &url);
        prop_assert_eq!(&fields.alias, &alias);
        prop_assert_eq!(fields.revoke_keys.is_some(), tick);
        // Arbitrary bytes: an answer either way, never a panic.
        let _ = runtime().block_on(decode_form(noise));
    }

    #[test]
    fn the_visitor_classifier_answers_every_agent_the_same_way_twice(agent in proptest::collection::vec(any::<u8>(), 0..300)) {
        let visitors = Visitors::new();
        let first = visitors.classify(Some(&agent));
        prop_assert_eq!(visitors.classify(Some(&agent)), first, "the remembered answer is the answer");
        prop_assert_eq!(Visitors::new().classify(Some(&agent)), first);
    }

    #[test]
    fn a_referrer_keeps_only_a_lower_case_host_name(value in "(https?|HTTP|ftp)://\\PC{0,60}|[\\x00-\\xff]{0,40}") {
        if let Some(host) = ReferrerHost::from_referer(value.as_bytes()) {
            let host = host.as_str();
            prop_assert!(!host.is_empty() && host.len() <= 253);
            prop_assert!(host.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'), "{}", host);
            prop_assert!(!host.bytes().all(|b| b.is_ascii_digit() || b == b'.'), "an address is not a name: {}", host);
            // It is the URL's own host, never a piece of its path, query or userinfo.
            let lower = value.to_ascii_lowercase();
            let after_scheme = lower.split_once("://").map(|(_, rest)| rest).unwrap_or_default();
            prop_assert!(after_scheme.starts_with(host), "{} from {}", host, value);
        }
    }

    #[test]
    fn a_country_is_two_upper_case_letters_or_nothing(value in proptest::collection::vec(any::<u8>(), 0..4)) {
        if let Some(country) = Country::from_header(&value) {
            prop_assert_eq!(country.as_str().len(), 2);
            prop_assert!(country.as_str().bytes().all(|b| b.is_ascii_uppercase()));
            prop_assert_ne!(country.as_str(), "XX");
        }
    }
}

/// The web forms' extractor, as a request with `body` reaches it.
async fn decode_form(body: Vec<u8>) -> Option<FormFields> {
    use axum::extract::FromRequest;
    let request = axum::http::Request::builder()
        .method("POST")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(axum::body::Body::from(body))
        .ok()?;
    axum::Form::<FormFields>::from_request(request, &())
        .await
        .ok()
        .map(|axum::Form(fields)| fields)
}
