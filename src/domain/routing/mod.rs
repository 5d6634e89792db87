//! `Routing`: where one link sends each visitor, beyond its one destination — its own redirect
//! status, the visitor's query string and path carried over, rules that pick another destination
//! by device, country, language or a query parameter, and whether crawlers may follow it.
//!
//! A link that sets none of it is *plain* ([`Routing::is_plain`]): the redirect answers its
//! destination without looking at anything else, so plain links pay nothing for rules.

use serde::{Deserialize, Serialize};

use super::{Country, LongUrl};

mod stored;

use stored::Stored;

/// Rules a link holds at most.
pub const MAX_RULES: usize = 20;
/// Values one condition of a rule lists at most (devices, countries or languages).
pub const MAX_RULE_VALUES: usize = 50;
/// The longest query parameter name or value a rule compares.
pub const MAX_QUERY_MATCH_LEN: usize = 256;

/// A redirect status a link may answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u16", into = "u16")]
pub enum RedirectStatus {
    /// 301 Moved Permanently.
    Moved,
    /// 302 Found.
    Found,
    /// 307 Temporary Redirect.
    Temporary,
    /// 308 Permanent Redirect.
    Permanent,
}

impl RedirectStatus {
    /// The status code.
    pub fn code(self) -> u16 {
        match self {
            Self::Moved => 301,
            Self::Found => 302,
            Self::Temporary => 307,
            Self::Permanent => 308,
        }
    }
}

impl TryFrom<u16> for RedirectStatus {
    type Error = RoutingError;

    fn try_from(code: u16) -> Result<Self, RoutingError> {
        match code {
            301 => Ok(Self::Moved),
            302 => Ok(Self::Found),
            307 => Ok(Self::Temporary),
            308 => Ok(Self::Permanent),
            _ => Err(RoutingError::Status(code)),
        }
    }
}

impl From<RedirectStatus> for u16 {
    fn from(status: RedirectStatus) -> u16 {
        status.code()
    }
}

/// A kind of client a rule can ask for. A visitor can be several at once: an iPhone is `ios`
/// and `mobile`, an Android tablet `android` and `tablet`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// iPhone, iPad, iPod.
    Ios,
    /// Any Android device.
    Android,
    /// A desktop or laptop browser.
    Desktop,
    /// A phone.
    Mobile,
    /// A tablet.
    Tablet,
    /// A crawler, a link-preview fetcher or a client without a user agent.
    Bot,
}

impl Platform {
    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// The platforms one visitor is, as a set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Platforms(u8);

impl Platforms {
    /// The set of `platforms`.
    pub fn of(platforms: &[Platform]) -> Self {
        Self(platforms.iter().fold(0, |bits, p| bits | p.bit()))
    }

    /// Whether `platform` is in the set.
    pub fn contains(self, platform: Platform) -> bool {
        self.0 & platform.bit() != 0
    }
}

/// What a rule may look at in one visit. Built only for links with rules.
#[derive(Debug, Clone, Copy, Default)]
pub struct Visit<'a> {
    /// What the user agent says the visitor is.
    pub platforms: Platforms,
    /// The country a trusted CDN named.
    pub country: Option<Country>,
    /// `Accept-Language`, as sent.
    pub accept_language: Option<&'a str>,
    /// The short URL's query string, without `?`.
    pub query: Option<&'a str>,
}

/// A query parameter a rule asks for: present with exactly this value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryMatch {
    /// The parameter's name (percent-decoded).
    pub name: String,
    /// Its value (percent-decoded).
    pub value: String,
}

/// One rule: when every condition it sets holds (any listed value will do for a list), the
/// visitor goes to `to`. A rule without conditions matches everyone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Any of these platforms.
    pub device: Vec<Platform>,
    /// Any of these countries (needs `clicks.country_header`).
    pub country: Vec<Country>,
    /// Any of these primary language tags, lower case (`en`, `pt`), as the visitor's
    /// `Accept-Language` names them in any position with a weight above zero.
    pub language: Vec<String>,
    /// This query parameter with this value.
    pub query: Option<QueryMatch>,
    /// Where the visitor goes.
    pub to: LongUrl,
}

/// [`RoutingError::TooManyValues`] (naming rule `index`) when a condition lists more than
/// [`MAX_RULE_VALUES`] values.
fn values_within(index: usize, lens: [usize; 3]) -> Result<(), RoutingError> {
    if lens.iter().any(|n| *n > MAX_RULE_VALUES) {
        return Err(RoutingError::TooManyValues(index));
    }
    Ok(())
}

/// [`RoutingError::Query`] (naming rule `index`) for a query condition with an empty or too
/// long name or value.
fn query_within(index: usize, query: Option<&QueryMatch>) -> Result<(), RoutingError> {
    if let Some(q) = query
        && (q.name.is_empty()
            || q.name.len() > MAX_QUERY_MATCH_LEN
            || q.value.len() > MAX_QUERY_MATCH_LEN)
    {
        return Err(RoutingError::Query(index));
    }
    Ok(())
}

impl Rule {
    /// The rule at `index` from its parts as written (countries and languages as text),
    /// every limit checked: what a request and a store both build rules with. `to` is parsed
    /// by the caller, under its own policy.
    ///
    /// # Errors
    /// The first [`RoutingError`] that applies, naming `index`.
    pub fn from_parts(
        index: usize,
        device: Vec<Platform>,
        country: &[String],
        language: &[String],
        query: Option<QueryMatch>,
        to: LongUrl,
    ) -> Result<Self, RoutingError> {
        values_within(index, [device.len(), country.len(), language.len()])?;
        query_within(index, query.as_ref())?;
        Ok(Self {
            device,
            country: country
                .iter()
                .map(|c| Country::from_header(c.as_bytes()).ok_or(RoutingError::Country(index)))
                .collect::<Result<_, _>>()?,
            language: language
                .iter()
                .map(|l| language_tag(l, index))
                .collect::<Result<_, _>>()?,
            query,
            to,
        })
    }

    /// Whether this rule takes `visit`.
    pub fn matches(&self, visit: &Visit<'_>) -> bool {
        (self.device.is_empty() || self.device.iter().any(|p| visit.platforms.contains(*p)))
            && (self.country.is_empty() || visit.country.is_some_and(|c| self.country.contains(&c)))
            && (self.language.is_empty()
                || visit
                    .accept_language
                    .is_some_and(|header| accepts_any(header, &self.language)))
            && self.query.as_ref().is_none_or(|wanted| {
                visit
                    .query
                    .is_some_and(|query| has_parameter(query, &wanted.name, &wanted.value))
            })
    }
}

/// Whether the `Accept-Language` `header` names one of `primaries` with a weight above zero.
fn accepts_any(header: &str, primaries: &[String]) -> bool {
    header.split(',').take(32).any(|item| {
        let mut parts = item.split(';');
        let tag = parts.next().unwrap_or("").trim();
        let refused = parts.any(|p| {
            p.trim()
                .strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        let primary = tag.split('-').next().unwrap_or("");
        !refused && primaries.iter().any(|p| p.eq_ignore_ascii_case(primary))
    })
}

/// Whether `query` (without `?`) has `name=value`, both compared percent-decoded.
fn has_parameter(query: &str, name: &str, value: &str) -> bool {
    url::form_urlencoded::parse(query.as_bytes()).any(|(n, v)| n == name && v == value)
}

/// Why a stored or requested routing is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoutingError {
    /// A status other than 301, 302, 307 or 308.
    #[error("redirect_status must be 301, 302, 307 or 308, got {0}")]
    Status(u16),
    /// More than [`MAX_RULES`] rules.
    #[error("a link holds at most {MAX_RULES} rules")]
    TooManyRules,
    /// A condition listing more than [`MAX_RULE_VALUES`] values.
    #[error("rule {0}: a condition lists at most {MAX_RULE_VALUES} values")]
    TooManyValues(usize),
    /// A country that is not two letters.
    #[error("rule {0}: countries are ISO 3166-1 alpha-2 codes such as \"US\"")]
    Country(usize),
    /// A language that is not a primary tag.
    #[error("rule {0}: languages are primary tags of 2 to 8 letters such as \"en\"")]
    Language(usize),
    /// A query condition with an empty or too long name or value.
    #[error(
        "rule {0}: query needs a name of 1 to {MAX_QUERY_MATCH_LEN} characters and a value of at most {MAX_QUERY_MATCH_LEN}"
    )]
    Query(usize),
    /// Stored text this version cannot read.
    #[error("stored routing is unreadable: {0}")]
    Stored(String),
}

/// The language tag a rule lists, checked and lower-cased.
///
/// # Errors
/// [`RoutingError::Language`] (naming rule `index`) for anything but 2–8 ASCII letters.
pub fn language_tag(tag: &str, index: usize) -> Result<String, RoutingError> {
    if (2..=8).contains(&tag.len()) && tag.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(tag.to_ascii_lowercase())
    } else {
        Err(RoutingError::Language(index))
    }
}

/// Where a link sends people beyond its destination; [`Routing::default`] is a plain link.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Routing {
    /// This link's redirect status; `None`: `links.redirect_status`.
    pub redirect_status: Option<RedirectStatus>,
    /// Add the visitor's query string to the destination's; `None`: `links.forward_query`.
    pub forward_query: Option<bool>,
    /// Append what follows `/{code}/` to the destination's path; `None`:
    /// `links.forward_path`.
    pub forward_path: Option<bool>,
    /// Tried in order; the first that matches chooses the destination.
    pub rules: Vec<Rule>,
    /// Crawlers may follow this link (no `X-Robots-Tag: noindex`, allowed in `robots.txt`).
    pub crawlable: bool,
}

impl Routing {
    /// Whether the link sets nothing of its own.
    pub fn is_plain(&self) -> bool {
        *self == Self::default()
    }

    /// The index of the first rule that takes `visit`; `None`: the link's destination.
    pub fn pick(&self, visit: &Visit<'_>) -> Option<usize> {
        self.rules.iter().position(|rule| rule.matches(visit))
    }

    /// Checks the limits a store or a request must keep.
    ///
    /// # Errors
    /// The first [`RoutingError`] that applies.
    pub fn check(&self) -> Result<(), RoutingError> {
        if self.rules.len() > MAX_RULES {
            return Err(RoutingError::TooManyRules);
        }
        for (i, rule) in self.rules.iter().enumerate() {
            values_within(
                i,
                [rule.device.len(), rule.country.len(), rule.language.len()],
            )?;
            query_within(i, rule.query.as_ref())?;
        }
        Ok(())
    }

    /// The form stores keep: `None` for a plain link, else JSON.
    pub fn to_stored(&self) -> Option<String> {
        (!self.is_plain()).then(|| serde_json::to_string(&Stored::from(self)).unwrap_or_default())
    }

    /// Reads what [`Self::to_stored`] wrote (`None` or empty: plain).
    ///
    /// # Errors
    /// [`RoutingError::Stored`] for text this version cannot read.
    pub fn from_stored(text: Option<&str>) -> Result<Self, RoutingError> {
        match text {
            None | Some("") => Ok(Self::default()),
            Some(text) => serde_json::from_str::<Stored>(text)
                .map_err(|e| RoutingError::Stored(e.to_string()))
                .and_then(Self::try_from),
        }
    }
}

#[cfg(test)]
mod tests;
