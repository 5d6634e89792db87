//! `ClickEvent` and the values it is made of: what the analytics keep about one redirect.
//!
//! Privacy is the shape of these types: a referrer is a host and nothing more (no path, no
//! query, no port), a country is a two-letter code that a trusted CDN put in a header (never a
//! lookup of the visitor's address), a device is one of five classes. No type here can hold an
//! address, a user agent or anything that tells one visitor from another.

use std::fmt;

use compact_str::CompactString;

use super::{ShortCode, Timestamp};

/// Milliseconds in an hour and in a day: the analytics' bucket widths (UTC).
pub const HOUR_MILLIS: i64 = 3_600_000;
/// Milliseconds in a UTC day.
pub const DAY_MILLIS: i64 = 24 * HOUR_MILLIS;

/// The longest DNS name.
const MAX_HOST_LEN: usize = 253;

/// What kind of client followed a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeviceClass {
    /// A desktop or laptop browser.
    Desktop,
    /// A phone.
    Mobile,
    /// A tablet.
    Tablet,
    /// A crawler, a link-preview fetcher or a client without a user agent.
    Bot,
    /// Anything else (a TV, a console, a command-line tool the lists do not know).
    Other,
}

impl DeviceClass {
    /// Every class, in the order the API lists them.
    pub const ALL: [DeviceClass; 5] = [
        DeviceClass::Desktop,
        DeviceClass::Mobile,
        DeviceClass::Tablet,
        DeviceClass::Bot,
        DeviceClass::Other,
    ];

    /// The name used in stores and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceClass::Desktop => "desktop",
            DeviceClass::Mobile => "mobile",
            DeviceClass::Tablet => "tablet",
            DeviceClass::Bot => "bot",
            DeviceClass::Other => "other",
        }
    }

    /// The class named `name` (as [`Self::as_str`] spells it).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

impl fmt::Display for DeviceClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The host of the page a visitor came from, lowercase, without port, path or query.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReferrerHost(CompactString);

impl ReferrerHost {
    /// The host of an absolute `http` or `https` URL as a `Referer` header carries it, or
    /// `None` for anything else (another scheme, no host, an address literal, bytes a DNS name
    /// cannot hold). Only the host survives: the path and query, where a referrer's private
    /// part lives, are never looked at beyond finding where the host ends.
    pub fn from_referer(value: &[u8]) -> Option<Self> {
        let rest = strip_prefix_ignore_case(value, b"https://")
            .or_else(|| strip_prefix_ignore_case(value, b"http://"))?;
        let end = rest
            .iter()
            .position(|b| matches!(b, b'/' | b'?' | b'#'))
            .unwrap_or(rest.len());
        let authority = &rest[..end];
        // Userinfo is never a host; a browser does not send it, so refuse rather than guess.
        if authority.contains(&b'@') || authority.first() == Some(&b'[') {
            return None;
        }
        let host = match authority.iter().rposition(|&b| b == b':') {
            Some(colon) if authority[colon + 1..].iter().all(u8::is_ascii_digit) => {
                &authority[..colon]
            }
            Some(_) => return None,
            None => authority,
        };
        let host = host.strip_suffix(b".").unwrap_or(host);
        let valid = !host.is_empty()
            && host.len() <= MAX_HOST_LEN
            && host
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.'))
            && !host.split(|&b| b == b'.').any(<[u8]>::is_empty)
            // An IPv4 literal says where, not who: keep hosts with a name only.
            && !host.iter().all(|b| b.is_ascii_digit() || *b == b'.');
        if !valid {
            return None;
        }
        let mut name = CompactString::with_capacity(host.len());
        name.extend(host.iter().map(|b| char::from(b.to_ascii_lowercase())));
        Some(Self(name))
    }

    /// A host read back from a store, trusted to be one [`Self::from_referer`] made.
    pub fn from_stored(host: &str) -> Self {
        Self(host.into())
    }

    /// The host.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn strip_prefix_ignore_case<'a>(value: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    (value.len() >= prefix.len() && value[..prefix.len()].eq_ignore_ascii_case(prefix))
        .then(|| &value[prefix.len()..])
}

/// An ISO 3166-1 alpha-2 country code, uppercase, as a CDN names the visitor's country.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Country([u8; 2]);

impl Country {
    /// Two ASCII letters (any case) from a CDN header; `None` for anything else, and for `XX`,
    /// which CDNs send when they do not know (Cloudflare's `T1` for Tor is not two letters).
    pub fn from_header(value: &[u8]) -> Option<Self> {
        let [a, b] = value else { return None };
        if !a.is_ascii_alphabetic() || !b.is_ascii_alphabetic() {
            return None;
        }
        let code = [a.to_ascii_uppercase(), b.to_ascii_uppercase()];
        (&code != b"XX").then_some(Self(code))
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        // Two ASCII letters by construction.
        std::str::from_utf8(&self.0).unwrap_or("XX")
    }
}

/// One counted redirect, as the click pipeline carries and aggregates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClickEvent {
    /// The link followed.
    pub code: ShortCode,
    /// When.
    pub at: Timestamp,
    /// The referring page's host, when the browser sent one.
    pub referrer: Option<ReferrerHost>,
    /// The visitor's country, when a trusted CDN header named it.
    pub country: Option<Country>,
    /// The kind of client.
    pub device: DeviceClass,
    /// A crawler, a link-preview fetcher or a client without a user agent: redirected like
    /// anyone, counted apart.
    pub bot: bool,
    /// What served it, on a link with redirect rules; `None` on links without.
    pub target: Option<ClickTarget>,
}

/// What served a click on a link with redirect rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClickTarget {
    /// The link's own destination (no rule matched).
    Default,
    /// The rule at this index (from 0).
    Rule(u8),
}

/// The hour an instant falls in, as hours since the Unix epoch (UTC).
pub fn hour_of(at: Timestamp) -> i64 {
    at.as_unix_millis().div_euclid(HOUR_MILLIS)
}

/// The UTC day an instant falls in, as days since the Unix epoch.
pub fn day_of(at: Timestamp) -> i64 {
    at.as_unix_millis().div_euclid(DAY_MILLIS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(referer: &str) -> Option<String> {
        ReferrerHost::from_referer(referer.as_bytes()).map(|h| h.as_str().to_owned())
    }

    #[test]
    fn only_the_host_of_a_referer_is_kept() {
        assert_eq!(
            host("https://News.Example.COM:8443/private/path?token=secret#frag").as_deref(),
            Some("news.example.com")
        );
        assert_eq!(host("http://t.co/abc").as_deref(), Some("t.co"));
        assert_eq!(host("HTTPS://example.org").as_deref(), Some("example.org"));
        assert_eq!(
            host("https://example.org.?q").as_deref(),
            Some("example.org")
        );
        assert_eq!(
            host("https://xn--bcher-kva.example/").as_deref(),
            Some("xn--bcher-kva.example")
        );
    }

    #[test]
    fn referers_that_name_no_host_are_dropped() {
        for bad in [
            "",
            "android-app://com.google.android.gm/",
            "ftp://example.com/",
            "https://",
            "https:///path",
            "https://user:pw@example.com/",
            "https://[::1]/",
            "https://192.168.1.10/",
            "https://exa mple.com/",
            "https://example..com/",
            "https://example.com:port/",
            "https://bücher.example/",
            "//example.com/",
        ] {
            assert_eq!(host(bad), None, "{bad:?}");
        }
        let long = format!("https://{}.com/", "a".repeat(260));
        assert_eq!(host(&long), None);
    }

    #[test]
    fn a_country_is_two_letters_and_never_unknown() {
        let c = |v: &str| Country::from_header(v.as_bytes()).map(|c| c.as_str().to_owned());
        assert_eq!(c("de").as_deref(), Some("DE"));
        assert_eq!(c("US").as_deref(), Some("US"));
        for bad in ["", "X", "XX", "xx", "T1", "USA", "1A", "D\u{e9}"] {
            assert_eq!(c(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn hours_and_days_are_utc_buckets() {
        let at = Timestamp::from_unix_millis(DAY_MILLIS + 3 * HOUR_MILLIS + 5).unwrap();
        assert_eq!(hour_of(at), 27);
        assert_eq!(day_of(at), 1);
        assert_eq!(DeviceClass::parse("tablet"), Some(DeviceClass::Tablet));
        assert_eq!(DeviceClass::parse("phone"), None);
    }
}
