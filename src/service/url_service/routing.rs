//! Where one visit of a link goes: the link's destination or its first matching rule's, with
//! the visitor's query string and path carried over when the link (or the operator's default)
//! asks for it. Plain links never get here (the redirect checks [`Routing::is_plain`] first).

use std::borrow::Cow;

use axum::http::HeaderValue;

use super::UrlService;
use crate::domain::{ClickTarget, Country, LongUrl, RedirectStatus, Routing, UrlRecord, Visit};
use crate::service::VisitorHeaders;

/// What the redirect knows of one visit beyond the click's headers.
#[derive(Debug, Clone, Copy, Default)]
pub struct VisitRequest<'a> {
    /// The short URL's query string, without `?`.
    pub query: Option<&'a str>,
    /// What followed `/{code}/` in the path, percent-encoded as sent; `None` without a rest.
    pub rest: Option<&'a str>,
}

/// Where one visit goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target<'r> {
    /// The destination, forwarding applied.
    pub url: Cow<'r, LongUrl>,
    /// The rule that chose it; `None`: the link's own destination.
    pub rule: Option<usize>,
    /// The link's own status, if it has one.
    pub status: Option<RedirectStatus>,
}

impl Target<'_> {
    /// What served the visit, as its click records it, on a link with rules (`None` on a link
    /// without: its clicks count no target).
    pub fn click_target(&self, record: &UrlRecord) -> Option<ClickTarget> {
        if record.routing.rules.is_empty() {
            return None;
        }
        Some(match self.rule {
            Some(i) => ClickTarget::Rule(u8::try_from(i).unwrap_or(u8::MAX)),
            None => ClickTarget::Default,
        })
    }
}

impl UrlService {
    /// Where `record` sends the visitor `headers` and `visit` describe. A forwarded URL that
    /// would not be a valid destination of the same host (too long, say) is not used: the
    /// visitor goes to the destination as it is.
    pub fn target<'r>(
        &self,
        record: &'r UrlRecord,
        headers: &VisitorHeaders,
        visit: VisitRequest<'_>,
    ) -> Target<'r> {
        let routing = &record.routing;
        let rule = (!routing.rules.is_empty())
            .then(|| routing.pick(&self.visit_of(headers, visit)))
            .flatten();
        let base = match rule {
            Some(i) => &routing.rules[i].to,
            None => &record.long_url,
        };
        let url = self
            .forwarded(routing, base, visit)
            .map_or(Cow::Borrowed(base), Cow::Owned);
        Target {
            url,
            rule,
            status: routing.redirect_status,
        }
    }

    /// Whether `record` adds the visitor's query string to its destination.
    pub fn forwards_query(&self, record: &UrlRecord) -> bool {
        record
            .routing
            .forward_query
            .unwrap_or(self.forward_defaults.query)
    }

    /// Whether `record` carries what follows `/{code}/` over to its destination.
    pub fn forwards_path(&self, record: &UrlRecord) -> bool {
        record
            .routing
            .forward_path
            .unwrap_or(self.forward_defaults.path)
    }

    fn visit_of<'a>(&self, headers: &'a VisitorHeaders, visit: VisitRequest<'a>) -> Visit<'a> {
        let agent = headers.user_agent.as_ref().map(HeaderValue::as_bytes);
        Visit {
            platforms: self.visitors.classify(agent).platforms(),
            country: headers
                .country
                .as_ref()
                .and_then(|c| Country::from_header(c.as_bytes())),
            accept_language: headers
                .accept_language
                .as_ref()
                .and_then(|v| v.to_str().ok()),
            query: visit.query,
        }
    }

    /// `base` with the visit's query and path added as `routing` (or the defaults) says;
    /// `None` when nothing is added or the result is not a valid destination on `base`'s host.
    fn forwarded(
        &self,
        routing: &Routing,
        base: &LongUrl,
        visit: VisitRequest<'_>,
    ) -> Option<LongUrl> {
        let query = visit
            .query
            .filter(|q| !q.is_empty())
            .filter(|_| routing.forward_query.unwrap_or(self.forward_defaults.query));
        let rest = visit
            .rest
            .filter(|r| !r.is_empty())
            .filter(|_| routing.forward_path.unwrap_or(self.forward_defaults.path));
        if query.is_none() && rest.is_none() {
            return None;
        }
        let mut url = url::Url::parse(base.as_str()).ok()?;
        if let Some(rest) = rest {
            let path = url.path().trim_end_matches('/').to_owned();
            url.set_path(&format!("{path}/{rest}"));
        }
        if let Some(query) = query {
            let kept: Vec<(String, String)> = url
                .query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            let mut pairs = url.query_pairs_mut();
            // A key the destination sets keeps the destination's value: the owner's tags win.
            for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
                if !kept.iter().any(|(k, _)| *k == key) {
                    pairs.append_pair(&key, &value);
                }
            }
        }
        let forwarded = LongUrl::parse(url.as_str(), &self.url_policy).ok()?;
        // Only a path and a query were added, but the visitor chose them: the result must be
        // on the same host, whatever it parsed to.
        let host = |s: &str| {
            url::Url::parse(s)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
        };
        (host(forwarded.as_str()) == host(base.as_str())).then_some(forwarded)
    }
}
