//! `GET|HEAD /{code}+` and `/s/{code}+`: a page for people that says where a short link leads
//! — its destination, when it was made and ends, what the destination check last found, and its
//! rules in words — without following it or counting a visit. Unknown, expired and disabled
//! codes get the same 404 as the redirect. Crawlers are asked not to index it.

use askama::Template;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::domain::{Platform, Rule, ShortCode, UrlRecord};
use crate::http::page::render::{Hx, Layout, page, respond};
use crate::http::{Browser, for_client};
use crate::state::AppState;

/// The preview page.
#[derive(Template)]
#[template(path = "preview.html", blocks = ["page"])]
pub(super) struct PreviewPage {
    /// The layout (brand only: the page is for anyone).
    pub(super) layout: Layout,
    /// The short URL.
    pub(super) short_url: String,
    /// Where it leads.
    pub(super) destination: String,
    /// When it was made (RFC 3339).
    pub(super) created_at: String,
    /// When it ends, if it does.
    pub(super) expires_at: Option<String>,
    /// The destination check's last finding, in words.
    pub(super) health: &'static str,
    /// Its rules in words, in order.
    pub(super) rules: Vec<String>,
}

page!(PreviewPage);

/// Answers the preview of `code`.
pub(super) async fn preview(state: AppState, code: ShortCode, browser: Browser) -> Response {
    let record = match state.urls.resolve(&code).await {
        Ok(record) => record,
        Err(e) => return for_client(e, browser).into_response(),
    };
    let health = match &state.link_health {
        None => "not checked on this service",
        Some(checker) => match checker.store().link_health(&code).await {
            Ok(found) => found.map_or("not checked yet", |r| health_words(r.state.status())),
            Err(e) => return for_client(e.into(), browser).into_response(),
        },
    };
    let mut layout = Layout::new("Link preview", None, "");
    layout.minimal = true;
    let page = PreviewPage {
        layout,
        short_url: state.web.short_url(&code),
        destination: record.long_url.as_str().to_owned(),
        created_at: record.created_at.to_string(),
        expires_at: record.expires_at.map(|t| t.to_string()),
        health,
        rules: rules_in_words(&record),
    };
    let mut response = respond(&Hx::default(), StatusCode::OK, page);
    response.headers_mut().insert(
        HeaderName::from_static("x-robots-tag"),
        HeaderValue::from_static("noindex"),
    );
    response
}

fn health_words(status: crate::domain::LinkHealthStatus) -> &'static str {
    use crate::domain::LinkHealthStatus as S;
    match status {
        S::Unchecked => "not checked yet",
        S::Healthy => "the destination answered at the last check",
        S::Failing => "the destination failed its latest checks",
        S::Broken => "the destination has been failing for a while: it may be gone",
    }
}

/// Each rule of `record` as a sentence.
fn rules_in_words(record: &UrlRecord) -> Vec<String> {
    record.routing.rules.iter().map(rule_in_words).collect()
}

fn rule_in_words(rule: &Rule) -> String {
    let mut who = Vec::new();
    if !rule.device.is_empty() {
        let devices: Vec<&str> = rule.device.iter().map(|p| platform_words(*p)).collect();
        who.push(format!("on {}", devices.join(" or ")));
    }
    if !rule.country.is_empty() {
        let countries: Vec<&str> = rule.country.iter().map(|c| c.as_str()).collect();
        who.push(format!("in {}", countries.join(" or ")));
    }
    if !rule.language.is_empty() {
        who.push(format!("reading {}", rule.language.join(" or ")));
    }
    if let Some(query) = &rule.query {
        who.push(format!("with {}={} in the link", query.name, query.value));
    }
    if who.is_empty() {
        return format!("Everyone goes to {}", rule.to.as_str());
    }
    format!("Visitors {} go to {}", who.join(", "), rule.to.as_str())
}

fn platform_words(platform: Platform) -> &'static str {
    match platform {
        Platform::Ios => "iOS",
        Platform::Android => "Android",
        Platform::Desktop => "a desktop",
        Platform::Mobile => "a phone",
        Platform::Tablet => "a tablet",
        Platform::Bot => "a bot",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Country, LongUrl, QueryMatch};

    #[test]
    fn rules_read_as_sentences() {
        let rule = Rule {
            device: vec![Platform::Ios, Platform::Tablet],
            country: vec![Country::from_header(b"DE").unwrap()],
            language: vec!["de".into()],
            query: Some(QueryMatch {
                name: "src".into(),
                value: "qr".into(),
            }),
            to: LongUrl::from_trusted("https://example.com/de".into()),
        };
        assert_eq!(
            rule_in_words(&rule),
            "Visitors on iOS or a tablet, in DE, reading de, with src=qr in the link go to \
             https://example.com/de"
        );
        let everyone = Rule {
            device: vec![],
            country: vec![],
            language: vec![],
            query: None,
            to: LongUrl::from_trusted("https://example.com/".into()),
        };
        assert_eq!(
            rule_in_words(&everyone),
            "Everyone goes to https://example.com/"
        );
    }
}
