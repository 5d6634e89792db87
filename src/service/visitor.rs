//! Turns a visitor's request headers into the few facts a [`ClickEvent`] keeps, and forgets the
//! headers: bot or not, device class, referrer host, country.
//!
//! Bots are found with data, not hand-written rules: the crawler-user-agents list (vendored in
//! `vendor/crawler-user-agents/` with its licence) compiled into one regex set, plus woothee's
//! `crawler` category. The device class comes from woothee (a small, data-driven classifier
//! ported across many languages), with tablets told apart from phones by the two signals every
//! such library uses (an iPad, or Android without `Mobile`). A request without a user agent is
//! a bot: browsers always send one.
//!
//! Classifying costs microseconds, so answers are remembered per distinct user agent in a
//! bounded map: traffic repeats a few thousand agents, and an attacker who rotates agents
//! only makes this (off the redirect path) slower, never bigger.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, PoisonError};

use axum::http::HeaderValue;
use regex::bytes::RegexSet;

use crate::domain::{
    ClickEvent, Country, DeviceClass, Platform, Platforms, ReferrerHost, ShortCode, Timestamp,
};

/// The vendored list (version in `vendor/crawler-user-agents/README.md`).
const CRAWLER_LIST: &str =
    include_str!("../../vendor/crawler-user-agents/crawler-user-agents.json");

/// Distinct user agents whose answer is remembered; past it the map starts again.
const REMEMBERED_AGENTS: usize = 4096;

/// Longer user agents are not remembered (nor would a browser send one).
const MAX_REMEMBERED_LEN: usize = 512;

/// The headers of one counted redirect, as the redirect captured them (cheap clones of the
/// request's own bytes). They live only in process memory, until [`Visitors::event`] turns
/// them into a [`ClickEvent`].
#[derive(Debug, Clone)]
pub struct VisitorHeaders {
    /// `User-Agent`.
    pub user_agent: Option<HeaderValue>,
    /// `Referer`.
    pub referer: Option<HeaderValue>,
    /// The configured CDN country header (`clicks.country_header`), if configured and sent.
    pub country: Option<HeaderValue>,
    /// `Accept-Language`, for redirect rules by language (never part of a click).
    pub accept_language: Option<HeaderValue>,
}

/// What the user agent says about a visitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Visitor {
    /// The kind of client ([`DeviceClass::Bot`] for bots).
    pub device: DeviceClass,
    /// Counted apart from people.
    pub bot: bool,
    /// The operating system, where a redirect rule can ask for it (`ios`, `android`).
    pub os: Option<Platform>,
}

impl Visitor {
    /// Every [`Platform`] a redirect rule may match this visitor on: its device class and, on
    /// phones and tablets, its operating system.
    pub fn platforms(&self) -> Platforms {
        let device = match self.device {
            DeviceClass::Desktop => Some(Platform::Desktop),
            DeviceClass::Mobile => Some(Platform::Mobile),
            DeviceClass::Tablet => Some(Platform::Tablet),
            DeviceClass::Bot => Some(Platform::Bot),
            DeviceClass::Other => None,
        };
        let found: Vec<Platform> = device.into_iter().chain(self.os).collect();
        Platforms::of(&found)
    }
}

struct BotList {
    set: RegexSet,
    /// Patterns of the list that this regex engine cannot compile (none in the vendored
    /// version; a test keeps it that way).
    skipped: usize,
}

#[derive(serde::Deserialize)]
struct Entry {
    pattern: String,
}

static BOTS: LazyLock<BotList> = LazyLock::new(|| {
    // The file is ours, checked by tests: a parse failure is a build defect, not input.
    let entries: Vec<Entry> = serde_json::from_str(CRAWLER_LIST).unwrap_or_default();
    let (good, bad): (Vec<_>, Vec<_>) = entries
        .into_iter()
        .map(|e| e.pattern)
        .partition(|p| regex::bytes::Regex::new(p).is_ok());
    let set = RegexSet::new(&good).unwrap_or_else(|_| RegexSet::empty());
    BotList {
        set,
        skipped: bad.len(),
    }
});

static WOOTHEE: LazyLock<woothee::parser::Parser> = LazyLock::new(woothee::parser::Parser::new);

/// The classifier, with its memory of recent user agents.
#[derive(Default)]
pub struct Visitors {
    seen: Mutex<HashMap<Box<[u8]>, Visitor>>,
}

impl Visitors {
    /// A classifier with nothing remembered; the bot list compiles on first use (or with
    /// [`Self::warm_up`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// Compiles the bot list now (about a second of CPU), so that the first click does not.
    pub fn warm_up(&self) {
        LazyLock::force(&BOTS);
        LazyLock::force(&WOOTHEE);
    }

    /// How many patterns of the vendored list could not be compiled.
    pub fn skipped_patterns() -> usize {
        BOTS.skipped
    }

    /// The event for one redirect of `code` at `at` with `headers`.
    pub fn event(&self, code: ShortCode, at: Timestamp, headers: &VisitorHeaders) -> ClickEvent {
        let visitor = self.classify(headers.user_agent.as_ref().map(HeaderValue::as_bytes));
        ClickEvent {
            code,
            at,
            referrer: headers
                .referer
                .as_ref()
                .and_then(|r| ReferrerHost::from_referer(r.as_bytes())),
            country: headers
                .country
                .as_ref()
                .and_then(|c| Country::from_header(c.as_bytes())),
            device: visitor.device,
            bot: visitor.bot,
            target: None,
        }
    }

    /// What `user_agent` says (`None` or empty: a bot).
    pub fn classify(&self, user_agent: Option<&[u8]>) -> Visitor {
        let agent = match user_agent {
            Some(agent) if !agent.iter().all(u8::is_ascii_whitespace) => agent,
            _ => return BOT,
        };
        if agent.len() > MAX_REMEMBERED_LEN {
            return classify_agent(agent);
        }
        if let Some(known) = self.seen().get(agent) {
            return *known;
        }
        let visitor = classify_agent(agent);
        let mut seen = self.seen();
        if seen.len() >= REMEMBERED_AGENTS {
            seen.clear();
        }
        seen.insert(agent.into(), visitor);
        visitor
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, HashMap<Box<[u8]>, Visitor>> {
        // A map of plain answers: a panic elsewhere cannot leave it inconsistent.
        self.seen.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

const BOT: Visitor = Visitor {
    device: DeviceClass::Bot,
    bot: true,
    os: None,
};

const OTHER: Visitor = Visitor {
    device: DeviceClass::Other,
    bot: false,
    os: None,
};

fn classify_agent(agent: &[u8]) -> Visitor {
    if BOTS.set.is_match(agent) {
        return BOT;
    }
    // woothee reads text; a user agent with other bytes is no browser we can place.
    let Ok(text) = std::str::from_utf8(agent) else {
        return OTHER;
    };
    let Some(found) = WOOTHEE.parse(text) else {
        return OTHER;
    };
    let device = match found.category {
        "crawler" => return BOT,
        "pc" => DeviceClass::Desktop,
        "smartphone" | "mobilephone" => {
            let android_tablet = found.os == "Android" && !text.contains("Mobile");
            if found.os == "iPad" || android_tablet || text.contains("Tablet") {
                DeviceClass::Tablet
            } else {
                DeviceClass::Mobile
            }
        }
        _ => DeviceClass::Other,
    };
    let os = match found.os {
        "iPhone" | "iPad" | "iPod" => Some(Platform::Ios),
        "Android" => Some(Platform::Android),
        _ => None,
    };
    Visitor {
        device,
        bot: false,
        os,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(agent: &str) -> (DeviceClass, bool) {
        let v = Visitors::new().classify(Some(agent.as_bytes()));
        (v.device, v.bot)
    }

    #[test]
    fn rules_see_the_operating_system_beside_the_device_class() {
        let platforms = |agent: &str| Visitors::new().classify(Some(agent.as_bytes())).platforms();
        let iphone = platforms(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 \
             (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
        );
        assert!(iphone.contains(Platform::Ios) && iphone.contains(Platform::Mobile));
        assert!(!iphone.contains(Platform::Android) && !iphone.contains(Platform::Desktop));
        let android_tablet = platforms(
            "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/126.0.0.0 Safari/537.36",
        );
        assert!(android_tablet.contains(Platform::Android));
        assert!(android_tablet.contains(Platform::Tablet));
        let desktop =
            platforms("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0");
        assert_eq!(desktop, Platforms::of(&[Platform::Desktop]));
        assert_eq!(
            Visitors::new().classify(None).platforms(),
            Platforms::of(&[Platform::Bot])
        );
    }

    #[test]
    fn the_vendored_list_compiles_whole() {
        assert_eq!(Visitors::skipped_patterns(), 0);
        assert!(BOTS.set.len() > 1000, "{}", BOTS.set.len());
    }

    #[test]
    fn link_preview_fetchers_and_crawlers_are_bots() {
        for agent in [
            "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
            "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
            "Twitterbot/1.0",
            "WhatsApp/2.23.20.0 A",
            "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
            "TelegramBot (like TwitterBot)",
            "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
            "curl/8.5.0",
            "python-requests/2.31.0",
        ] {
            assert_eq!(class(agent), (DeviceClass::Bot, true), "{agent}");
        }
        let v = Visitors::new();
        assert!(v.classify(None).bot);
        assert!(v.classify(Some(b"")).bot);
        assert!(v.classify(Some(b"   ")).bot);
    }

    #[test]
    fn browsers_are_people_on_their_device() {
        for (agent, device) in [
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
                DeviceClass::Desktop,
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
                DeviceClass::Desktop,
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
                DeviceClass::Desktop,
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
                DeviceClass::Mobile,
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
                DeviceClass::Mobile,
            ),
            (
                "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
                DeviceClass::Tablet,
            ),
            (
                "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
                DeviceClass::Tablet,
            ),
        ] {
            assert_eq!(class(agent), (device, false), "{agent}");
        }
    }

    #[test]
    fn answers_are_remembered_within_a_bound() {
        let v = Visitors::new();
        for i in 0..REMEMBERED_AGENTS + 10 {
            v.classify(Some(format!("Agent{i}/1.0 (X11; Linux x86_64)").as_bytes()));
        }
        assert!(v.seen().len() <= REMEMBERED_AGENTS);
        let long = "Mozilla/5.0 ".repeat(100);
        assert!(!v.classify(Some(long.as_bytes())).bot);
    }

    #[test]
    fn an_event_keeps_only_host_country_and_class() {
        let v = Visitors::new();
        let headers = VisitorHeaders {
            user_agent: Some(HeaderValue::from_static("Twitterbot/1.0")),
            referer: Some(HeaderValue::from_static(
                "https://x.com/some/private/path?q=1",
            )),
            country: Some(HeaderValue::from_static("fr")),
            accept_language: None,
        };
        let at = Timestamp::from_unix_millis(1).unwrap();
        let e = v.event(ShortCode::parse("abc").unwrap(), at, &headers);
        assert_eq!(e.referrer.unwrap().as_str(), "x.com");
        assert_eq!(e.country.unwrap().as_str(), "FR");
        assert!(e.bot);
        assert_eq!(e.device, DeviceClass::Bot);
    }
}
