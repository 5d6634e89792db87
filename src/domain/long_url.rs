//! `LongUrl`: a destination that is safe to redirect to, and the `UrlPolicy` that decides it.
//!
//! Every check runs on the URL as the WHATWG parser (the `url` crate, the same algorithm browsers
//! use) understands it, never on the raw string, so that every spelling of a host (`127.1`,
//! `0x7f.1`, `2130706433`, IDNA, a trailing dot, upper case) is judged by what a browser would
//! actually visit. The service never fetches the URL, so it does not resolve DNS: a public name
//! that resolves to a private address is the DNS owner's business, not an open-redirect hole.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde::{Serialize, Serializer};
use url::{Host, Url};

/// Longest accepted URL, counted on the normalized serialization.
pub const MAX_LONG_URL_LEN: usize = 2048;

/// Raw input longer than this is refused before parsing, to bound the parser's work.
const MAX_RAW_LEN: usize = 4 * MAX_LONG_URL_LEN;

/// The Fetch standard's "bad ports" (fetch.spec.whatwg.org, "port blocking"), sorted: browsers
/// refuse to connect to them, because they belong to protocols that a request could be smuggled
/// into.
pub const BAD_PORTS: &[u16] = &[
    0, 1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101,
    102, 103, 104, 109, 110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427,
    465, 512, 513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563, 587, 601, 636, 989, 990,
    993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667,
    6668, 6669, 6679, 6697, 10080,
];

/// Why a string is not an acceptable destination. Each variant is one public error `code`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LongUrlError {
    /// Not a URL at all, or an absolute URL without a host (`invalid_url`).
    #[error("not a valid absolute URL: {0}")]
    Invalid(String),
    /// A raw control character (tab, newline, NUL, DEL, C1); refused rather than stripped, since
    /// a parser that strips them would store something other than what was sent (`invalid_url`).
    #[error("the URL contains a control character")]
    ControlCharacter,
    /// Any scheme but `http` and `https` (`unsupported_scheme`).
    #[error("scheme '{0}' is not supported; use http or https")]
    UnsupportedScheme(String),
    /// A user name or password in the URL (`credentials_in_url`).
    #[error("URLs with a user name or password are not accepted")]
    Credentials,
    /// A host that is not a valid DNS name after IDNA (`invalid_hostname`).
    #[error("'{0}' is not a valid hostname")]
    InvalidHostname(String),
    /// Loopback, private, link-local or another non-global destination (`forbidden_destination`).
    #[error("destination '{0}' is not a public address")]
    ForbiddenDestination(String),
    /// A link to this service itself (`self_referencing_url`).
    #[error("links to this service itself are not accepted")]
    SelfReferencing,
    /// A port browsers refuse to connect to (the Fetch standard's "bad ports"): a link nobody
    /// can follow (`invalid_url`).
    #[error(
        "port {0} is one that browsers refuse to connect to, so the link could not be followed"
    )]
    BlockedPort(u16),
    /// Longer than [`MAX_LONG_URL_LEN`] once normalized (`url_too_long`).
    #[error("the URL is longer than {MAX_LONG_URL_LEN} characters")]
    TooLong,
}

/// What destinations this deployment accepts.
#[derive(Debug, Clone)]
pub struct UrlPolicy {
    allow_private: bool,
    self_host: Option<String>,
}

impl UrlPolicy {
    /// A policy that refuses links to `self_host` (the host of the public base URL, any port)
    /// and, unless `allow_private`, every non-global destination.
    pub fn new(self_host: Option<&str>, allow_private: bool) -> Self {
        Self {
            allow_private,
            self_host: self_host.map(comparable_host),
        }
    }
}

/// Lower case without a trailing dot: the form in which two spellings of a host compare equal.
fn comparable_host(host: &str) -> String {
    host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase()
}

/// A validated, normalized `http`/`https` URL: the exact string the service redirects to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LongUrl(String);

impl LongUrl {
    /// Parses, validates and normalizes `raw` under `policy`.
    ///
    /// Surrounding spaces are trimmed; everything else that is odd is an error, never silently
    /// repaired.
    ///
    /// # Errors
    /// The first [`LongUrlError`] that applies.
    pub fn parse(raw: &str, policy: &UrlPolicy) -> Result<Self, LongUrlError> {
        let raw = raw.trim_matches(' ');
        if raw.len() > MAX_RAW_LEN {
            return Err(LongUrlError::TooLong);
        }
        if raw.chars().any(char::is_control) {
            return Err(LongUrlError::ControlCharacter);
        }
        let url = Url::parse(raw).map_err(|e| LongUrlError::Invalid(e.to_string()))?;
        match url.scheme() {
            "http" | "https" => {}
            other => return Err(LongUrlError::UnsupportedScheme(other.to_owned())),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(LongUrlError::Credentials);
        }
        if let Some(port) = url.port()
            && BAD_PORTS.binary_search(&port).is_ok()
        {
            return Err(LongUrlError::BlockedPort(port));
        }
        let host = url
            .host()
            .ok_or_else(|| LongUrlError::Invalid("the URL has no host".to_owned()))?;
        if let Host::Domain(domain) = &host {
            check_dns_name(domain)?;
        }
        let host_text = url.host_str().unwrap_or_default();
        if policy.self_host.as_deref() == Some(comparable_host(host_text).as_str()) {
            return Err(LongUrlError::SelfReferencing);
        }
        if !policy.allow_private && !is_public(&host) {
            return Err(LongUrlError::ForbiddenDestination(host_text.to_owned()));
        }
        let normalized: String = url.into();
        if normalized.len() > MAX_LONG_URL_LEN {
            return Err(LongUrlError::TooLong);
        }
        Ok(Self(normalized))
    }

    /// Wraps a URL that was validated before it was stored. Storage backends use it when
    /// reading records back; it performs no checks.
    pub fn from_trusted(normalized: String) -> Self {
        Self(normalized)
    }

    /// The normalized URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for LongUrl {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LongUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for LongUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// RFC 1123 host name rules on the IDNA (punycode) form: labels of 1–63 letters, digits and
/// hyphens, not starting or ending with a hyphen, 253 characters in all; one trailing dot allowed.
fn check_dns_name(domain: &str) -> Result<(), LongUrlError> {
    let name = domain.strip_suffix('.').unwrap_or(domain);
    let bad = || LongUrlError::InvalidHostname(domain.to_owned());
    if name.is_empty() || name.len() > 253 {
        return Err(bad());
    }
    for label in name.split('.') {
        let ok = (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(bad());
        }
    }
    Ok(())
}

/// Suffixes of names that only make sense inside a private network.
const PRIVATE_SUFFIXES: &[&str] = &["localhost", "local", "internal", "home.arpa", "localdomain"];

fn is_public(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(domain) => {
            let name = comparable_host(domain);
            // A single-label name (`http://intranet/`) resolves through the local search domain.
            name.contains('.')
                && !PRIVATE_SUFFIXES
                    .iter()
                    .any(|s| name == *s || name.ends_with(&format!(".{s}")))
        }
        Host::Ipv4(ip) => is_global_v4(*ip),
        Host::Ipv6(ip) => is_global_v6(*ip),
    }
}

/// Whether `ip` is globally reachable per the IANA IPv4 special-purpose registry.
pub fn is_global_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let not_global = a == 0                              // "this network" 0/8
        || a == 10                                       // private 10/8
        || (a == 100 && (64..128).contains(&b))          // shared address space 100.64/10
        || a == 127                                      // loopback
        || (a == 169 && b == 254)                        // link-local
        || (a == 172 && (16..32).contains(&b))           // private 172.16/12
        || (a == 192 && b == 0 && c == 0)                // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)                // TEST-NET-1
        || (a == 192 && b == 88 && c == 99)              // 6to4 relay anycast
        || (a == 192 && b == 168)                        // private 192.168/16
        || (a == 198 && (18..20).contains(&b))           // benchmarking 198.18/15
        || (a == 198 && b == 51 && c == 100)             // TEST-NET-2
        || (a == 203 && b == 0 && c == 113)              // TEST-NET-3
        || a >= 224; // multicast 224/4, reserved 240/4, broadcast
    !not_global
}

/// Whether `ip` is globally reachable: inside global unicast `2000::/3` and outside the
/// special-purpose blocks; addresses that embed an IPv4 address are judged by it.
pub fn is_global_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_global_v4(v4); // ::ffff:a.b.c.d
    }
    let s = ip.segments();
    if s[0] == 0x0064 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        // NAT64 well-known prefix 64:ff9b::/96 reaches the embedded IPv4 address.
        let [a, b] = s[6].to_be_bytes();
        let [c, d] = s[7].to_be_bytes();
        return is_global_v4(Ipv4Addr::new(a, b, c, d));
    }
    if s[0] == 0x2002 {
        // 6to4 2002::/16 carries an IPv4 address in bits 16..48.
        let [a, b] = s[1].to_be_bytes();
        let [c, d] = s[2].to_be_bytes();
        return is_global_v4(Ipv4Addr::new(a, b, c, d));
    }
    let global_unicast = (s[0] & 0xe000) == 0x2000;
    // 2001::/23 holds IETF protocol assignments (Teredo, ...); 2001:db8::/32 documentation.
    let ietf_or_documentation = s[0] == 0x2001 && (s[1] < 0x0200 || s[1] == 0x0db8);
    let special = ietf_or_documentation
        || (s[0] & 0xfff0) == 0x3ff0 // documentation 3fff::/20
        || s[0] == 0x5f00; // SRv6 SIDs 5f00::/16
    global_unicast && !special
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict() -> UrlPolicy {
        UrlPolicy::new(Some("sho.rt"), false)
    }

    #[test]
    fn a_plain_https_url_is_accepted_and_normalized() {
        let url = LongUrl::parse("HTTPS://Example.COM:443/a/../b?q=1#frag", &strict()).unwrap();
        assert_eq!(url.as_str(), "https://example.com/b?q=1#frag");
    }

    #[test]
    fn ports_that_browsers_block_are_refused_and_others_accepted() {
        for port in [0u16, 1, 25, 6000, 6665, 6669, 10080] {
            let raw = format!("https://example.com:{port}/");
            assert_eq!(
                LongUrl::parse(&raw, &strict()),
                Err(LongUrlError::BlockedPort(port)),
                "{raw}"
            );
        }
        for raw in [
            "https://example.com:8443/",
            "http://example.com:8080/",
            "https://example.com:443/",
        ] {
            assert!(LongUrl::parse(raw, &strict()).is_ok(), "{raw}");
        }
        assert!(
            BAD_PORTS.windows(2).all(|w| w[0] < w[1]),
            "sorted for binary_search"
        );
    }

    #[test]
    fn international_names_are_stored_in_punycode() {
        let url = LongUrl::parse("https://bücher.example/", &strict()).unwrap();
        assert_eq!(url.as_str(), "https://xn--bcher-kva.example/");
    }

    #[test]
    fn every_spelling_of_loopback_is_forbidden() {
        for raw in [
            "http://127.0.0.1/",
            "http://127.1/",
            "http://0x7f.1/",
            "http://2130706433/",
            "http://0177.0.0.1/",
            "http://0/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://[64:ff9b::7f00:1]/",
            "http://[2002:7f00:1::]/",
            "http://localhost/",
            "http://LOCALHOST./",
            "http://api.localhost/",
        ] {
            assert!(
                matches!(
                    LongUrl::parse(raw, &strict()),
                    Err(LongUrlError::ForbiddenDestination(_))
                ),
                "{raw} was not forbidden"
            );
        }
    }

    #[test]
    fn private_destinations_are_allowed_when_the_operator_says_so() {
        let open = UrlPolicy::new(Some("sho.rt"), true);
        assert!(LongUrl::parse("http://127.0.0.1:9000/x", &open).is_ok());
        assert!(LongUrl::parse("http://intranet/wiki", &open).is_ok());
        assert_eq!(
            LongUrl::parse("http://SHO.RT.:81/s/x", &open),
            Err(LongUrlError::SelfReferencing)
        );
    }

    #[test]
    fn public_addresses_are_accepted() {
        for raw in [
            "http://8.8.8.8/",
            "http://[2606:4700::1111]/",
            "http://[::ffff:8.8.8.8]/",
            "http://172.32.0.1/",
            "http://100.128.0.1/",
        ] {
            assert!(LongUrl::parse(raw, &strict()).is_ok(), "{raw}");
        }
    }

    #[test]
    fn non_global_ipv6_blocks_are_forbidden() {
        for raw in [
            "http://[::]/",
            "http://[fe80::1]/",
            "http://[fc00::1]/",
            "http://[fd12:3456::1]/",
            "http://[ff02::1]/",
            "http://[2001:db8::1]/",
            "http://[2001::1]/",
            "http://[::127.0.0.1]/",
            "http://[100::1]/",
        ] {
            assert!(
                matches!(
                    LongUrl::parse(raw, &strict()),
                    Err(LongUrlError::ForbiddenDestination(_))
                ),
                "{raw}"
            );
        }
    }

    #[test]
    fn bad_hostnames_are_named_as_such() {
        for raw in [
            "http://example..com/",
            "http://-a.com/",
            "http://a-.com/",
            "http://under_score.com/",
        ] {
            assert!(
                matches!(
                    LongUrl::parse(raw, &strict()),
                    Err(LongUrlError::InvalidHostname(_))
                ),
                "{raw}"
            );
        }
        let long_label = format!("http://{}.com/", "a".repeat(64));
        assert!(matches!(
            LongUrl::parse(&long_label, &strict()),
            Err(LongUrlError::InvalidHostname(_))
        ));
    }

    #[test]
    fn control_characters_are_rejected_not_stripped() {
        for raw in [
            "https://exa\tmple.com/",
            "https://example.com/\n",
            "https://example.com/a\u{0}b",
            "https://example.com/\u{7f}",
            "https://example.com/\u{85}",
        ] {
            assert_eq!(
                LongUrl::parse(raw, &strict()),
                Err(LongUrlError::ControlCharacter),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn the_length_limit_applies_to_the_normalized_form() {
        let base = "https://example.com/";
        let fits = format!("{base}{}", "a".repeat(MAX_LONG_URL_LEN - base.len()));
        assert!(LongUrl::parse(&fits, &strict()).is_ok());
        // A space becomes %20: 1 raw character, 3 normalized ones.
        let grows = format!("{base}a{}b", " ".repeat(700));
        assert!(grows.len() < MAX_LONG_URL_LEN);
        assert_eq!(
            LongUrl::parse(&grows, &strict()),
            Err(LongUrlError::TooLong)
        );
    }
}
