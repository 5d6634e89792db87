//! The form stores keep a [`Routing`] in: JSON with field names stable across versions, read
//! back with every limit checked again.

use serde::{Deserialize, Serialize};

use super::{Platform, QueryMatch, RedirectStatus, Routing, RoutingError, Rule};
use crate::domain::LongUrl;

/// The stored shape, field names stable across versions.
#[derive(Serialize, Deserialize)]
pub(super) struct Stored {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<RedirectStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    forward_query: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    forward_path: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    rules: Vec<StoredRule>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    crawlable: bool,
}

#[derive(Serialize, Deserialize)]
struct StoredRule {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    device: Vec<Platform>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    country: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    language: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    query: Option<QueryMatch>,
    to: String,
}

impl From<&Routing> for Stored {
    fn from(routing: &Routing) -> Self {
        Self {
            status: routing.redirect_status,
            forward_query: routing.forward_query,
            forward_path: routing.forward_path,
            rules: routing
                .rules
                .iter()
                .map(|rule| StoredRule {
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

impl TryFrom<Stored> for Routing {
    type Error = RoutingError;

    fn try_from(stored: Stored) -> Result<Self, RoutingError> {
        let rules = stored
            .rules
            .into_iter()
            .enumerate()
            .map(|(i, rule)| {
                Rule::from_parts(
                    i,
                    rule.device,
                    &rule.country,
                    &rule.language,
                    rule.query,
                    // Validated when it was written.
                    LongUrl::from_trusted(rule.to),
                )
            })
            .collect::<Result<_, RoutingError>>()?;
        let routing = Self {
            redirect_status: stored.status,
            forward_query: stored.forward_query,
            forward_path: stored.forward_path,
            rules,
            crawlable: stored.crawlable,
        };
        routing.check()?;
        Ok(routing)
    }
}
