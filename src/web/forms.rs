//! What the templates show of a form and of the data around it: a field with what the person
//! typed and its message, times for people, and the only destinations rendered as links.

use crate::domain::Timestamp;

/// One form field: what the person typed (never a password: those fields render empty) and
/// what is wrong with it.
#[derive(Debug, Clone, Default)]
pub struct Field {
    /// The value to show again.
    pub value: String,
    /// The message under the field.
    pub error: Option<String>,
}

impl Field {
    /// A field holding `value`.
    pub fn of(value: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            error: None,
        }
    }

    /// Sets the message.
    pub fn fail(&mut self, message: impl Into<String>) {
        self.error = Some(message.into());
    }
}

/// Whether any of `fields` has a message.
pub fn any_error(fields: &[&Field]) -> bool {
    fields.iter().any(|f| f.error.is_some())
}

/// A time for people: `2026-12-06 23:56 UTC`.
pub fn when(at: Timestamp) -> String {
    let text = at.to_rfc3339();
    match (text.get(..10), text.get(11..16)) {
        (Some(day), Some(minute)) => format!("{day} {minute} UTC"),
        _ => text,
    }
}

/// [`when`] of an optional time, or `fallback`.
pub fn when_or(at: Option<Timestamp>, fallback: &str) -> String {
    at.map_or_else(|| fallback.to_owned(), when)
}

/// `url` if it may go into an `href`: http or https only, whatever was stored. Every other
/// scheme (`javascript:`, `data:` …) is shown as text, never as a link.
pub fn safe_href(url: &str) -> Option<String> {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://")).then(|| url.to_owned())
}

/// The choices of the expiry select on the create form, within `max_ttl_seconds`.
#[derive(Debug, Clone)]
pub struct ExpiryOption {
    /// Seconds, or empty for the service's default.
    pub value: String,
    /// What the person reads.
    pub label: String,
}

/// The create form's expiry choices: the default (never, or the configured lifetime), then
/// the usual lifetimes that `max_ttl_seconds` allows.
pub fn expiry_options(default_ttl: Option<u64>, max_ttl: u64) -> Vec<ExpiryOption> {
    let mut options = vec![ExpiryOption {
        value: String::new(),
        label: match default_ttl {
            None => "Never".to_owned(),
            Some(seconds) => format!("Default ({})", duration(seconds)),
        },
    }];
    for seconds in [3_600, 86_400, 7 * 86_400, 30 * 86_400, 365 * 86_400] {
        if seconds <= max_ttl && Some(seconds) != default_ttl {
            options.push(ExpiryOption {
                value: seconds.to_string(),
                label: format!("In {}", duration(seconds)),
            });
        }
    }
    options
}

/// `3600` → `1 hour`, `172800` → `2 days`.
pub fn duration(seconds: u64) -> String {
    let (n, unit) = match seconds {
        s if s % (365 * 86_400) == 0 => (s / (365 * 86_400), "year"),
        s if s % 86_400 == 0 => (s / 86_400, "day"),
        s if s % 3_600 == 0 => (s / 3_600, "hour"),
        s if s % 60 == 0 => (s / 60, "minute"),
        s => (s, "second"),
    };
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_https_become_links() {
        assert!(safe_href("https://example.com/a").is_some());
        assert!(safe_href("HTTP://example.com").is_some());
        for bad in [
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            "data:text/html,x",
            "//example.com",
            "",
        ] {
            assert_eq!(safe_href(bad), None, "{bad}");
        }
    }

    #[test]
    fn times_read_as_minutes_in_utc() {
        let at = Timestamp::parse_rfc3339("2026-12-06T23:56:12.345Z").unwrap();
        assert_eq!(when(at), "2026-12-06 23:56 UTC");
        assert_eq!(when_or(None, "never"), "never");
    }

    #[test]
    fn expiry_choices_stay_within_the_maximum() {
        let options = expiry_options(None, 30 * 86_400);
        let labels: Vec<_> = options.iter().map(|o| o.label.as_str()).collect();
        assert_eq!(
            labels,
            ["Never", "In 1 hour", "In 1 day", "In 7 days", "In 30 days"]
        );
        let options = expiry_options(Some(86_400), 10 * 365 * 86_400);
        assert_eq!(options[0].label, "Default (1 day)");
        assert!(options.iter().all(|o| o.value != "86400"));
    }
}
