//! A link's redirect settings in the API: the fields `POST /shorten` and `PATCH
//! /api/links/{code}` take (`redirect_status`, `forward_query`, `forward_path`, `rules`,
//! `crawlable`) and the answers show, turned into a checked [`Routing`].

use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use crate::domain::{
    LongUrl, MAX_RULES, Platform, QueryMatch, RedirectStatus, Routing, RoutingError, Rule,
    UrlPolicy,
};
use crate::http::ApiError;

/// One redirect rule as the API takes and shows it: every condition given must hold (any
/// listed value will do for a list); a rule without conditions matches everyone.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleBody {
    /// Any of these: `ios`, `android`, `desktop`, `mobile`, `tablet`, `bot`.
    #[serde(default)]
    #[schema(value_type = Vec<String>, max_items = 50, example = json!(["ios"]))]
    pub device: Vec<Platform>,
    /// Any of these ISO 3166-1 alpha-2 countries (from `clicks.country_header`).
    #[serde(default)]
    #[schema(max_items = 50, example = json!(["US", "CA"]))]
    pub country: Vec<String>,
    /// Any of these primary language tags, from the visitor's `Accept-Language`.
    #[serde(default)]
    #[schema(max_items = 50, example = json!(["en"]))]
    pub language: Vec<String>,
    /// A query parameter of the short URL with exactly this value.
    #[serde(default)]
    #[schema(value_type = Option<QueryMatchBody>)]
    pub query: Option<QueryMatch>,
    /// Where the visitor goes: a destination validated like the link's own.
    #[schema(example = "https://apps.apple.com/app/id123")]
    pub to: String,
}

/// `{"name", "value"}` of a query condition.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // the schema of domain::QueryMatch
pub(crate) struct QueryMatchBody {
    /// The parameter's name, 1 to 256 characters.
    #[schema(min_length = 1, max_length = 256)]
    name: String,
    /// Its value, at most 256 characters.
    #[schema(max_length = 256)]
    value: String,
}

/// Reads a present field as `Some(value)` (so `null` is `Some(None)`) and leaves an absent one
/// to `#[serde(default)]` (`None`).
pub(super) fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// The redirect settings a request gave (each `None`: not given, keep or default).
#[derive(Debug, Default)]
pub struct RoutingFields {
    /// `Some(None)`: back to `links.redirect_status`.
    pub redirect_status: Option<Option<u16>>,
    /// `Some(None)`: back to `links.forward_query`.
    pub forward_query: Option<Option<bool>>,
    /// `Some(None)`: back to `links.forward_path`.
    pub forward_path: Option<Option<bool>>,
    /// The whole list, replacing the link's.
    pub rules: Option<Vec<RuleBody>>,
    /// Crawlers may follow the link.
    pub crawlable: Option<bool>,
}

impl RoutingFields {
    /// Whether the request names any redirect setting.
    pub fn any(&self) -> bool {
        self.redirect_status.is_some()
            || self.forward_query.is_some()
            || self.forward_path.is_some()
            || self.rules.is_some()
            || self.crawlable.is_some()
    }

    /// `current` with these fields applied, checked.
    ///
    /// # Errors
    /// `invalid_routing` for a status or a rule out of bounds; a rule's `to` answers with the
    /// URL's own code.
    pub fn apply(self, current: Routing, policy: &UrlPolicy) -> Result<Routing, ApiError> {
        let mut routing = current;
        if let Some(status) = self.redirect_status {
            routing.redirect_status = status.map(RedirectStatus::try_from).transpose()?;
        }
        if let Some(forward) = self.forward_query {
            routing.forward_query = forward;
        }
        if let Some(forward) = self.forward_path {
            routing.forward_path = forward;
        }
        if let Some(crawlable) = self.crawlable {
            routing.crawlable = crawlable;
        }
        if let Some(rules) = self.rules {
            if rules.len() > MAX_RULES {
                return Err(RoutingError::TooManyRules.into());
            }
            routing.rules = rules
                .into_iter()
                .enumerate()
                .map(|(i, rule)| rule_of(i, rule, policy))
                .collect::<Result<_, _>>()?;
        }
        routing.check()?;
        Ok(routing)
    }
}

fn rule_of(i: usize, body: RuleBody, policy: &UrlPolicy) -> Result<Rule, ApiError> {
    let to = LongUrl::parse(&body.to, policy)?;
    Ok(Rule::from_parts(
        i,
        body.device,
        &body.country,
        &body.language,
        body.query,
        to,
    )?)
}

/// A link's redirect settings as answers show them.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoutingView {
    /// This link's status; null: `links.redirect_status`.
    #[schema(value_type = Option<u16>, example = 301)]
    pub redirect_status: Option<u16>,
    /// Whether the visitor's query string is added; null: `links.forward_query`.
    pub forward_query: Option<bool>,
    /// Whether a path after the code is appended; null: `links.forward_path`.
    pub forward_path: Option<bool>,
    /// First match wins; none matching: `long_url`.
    pub rules: Vec<RuleBody>,
    /// Crawlers may follow the link (no `X-Robots-Tag: noindex`).
    pub crawlable: bool,
}

impl From<&Routing> for RoutingView {
    fn from(routing: &Routing) -> Self {
        Self {
            redirect_status: routing.redirect_status.map(RedirectStatus::code),
            forward_query: routing.forward_query,
            forward_path: routing.forward_path,
            rules: routing
                .rules
                .iter()
                .map(|rule| RuleBody {
                    device: rule.device.clone(),
                    country: rule.country.iter().map(|c| c.as_str().to_owned()).collect(),
                    language: rule.language.clone(),
                    query: rule.query.clone(),
                    to: rule.to.as_str().to_owned(),
                })
                .collect(),
            crawlable: routing.crawlable,
        }
    }
}
