//! `ShortCode` and `Alias`: the identifiers of short links, served at `/{code}` and `/s/{code}`.
//!
//! A code is either generated (base62, see `codegen`) or chosen by the user as an alias. Both
//! share one alphabet, so anything outside it can be answered 404 without asking storage.

use std::fmt;

use compact_str::CompactString;
use serde::{Serialize, Serializer};

/// Shortest code or alias accepted.
pub const MIN_CODE_LEN: usize = 3;
/// Longest code or alias accepted.
pub const MAX_CODE_LEN: usize = 64;

/// Every first path segment the service uses or keeps for itself: refused as aliases and never
/// generated, compared case-insensitively, so that a short link at the root (`/{code}`) never
/// shadows a page or an endpoint and no page ever shadows a link. A test in `http::routes`
/// holds every route of the router to this list. (Names with a `.` cannot be codes at all;
/// they are listed so the list says everything the root serves.)
pub const RESERVED_ALIASES: &[&str] = &[
    // Served today.
    "s",
    "shorten",
    "stats",
    "health",
    "metrics",
    "openapi.json",
    "api",
    "admin",
    "static",
    "login",
    "logout",
    "setup",
    "signup",
    "invite",
    "account",
    "links",
    "keys",
    "robots.txt",
    "favicon.ico",
    // Kept for the service and for names people would read as its own.
    "live",
    "ready",
    "openapi",
    "docs",
    "swagger",
    "assets",
    "auth",
    "api-key",
    "api-keys",
    ".well-known",
    "preview",
    "qr",
    "users",
    "webhooks",
    "tags",
    "import",
    "export",
    "imports",
    "exports",
];

/// Whether `name` is one of [`RESERVED_ALIASES`], in any case.
pub fn is_reserved(name: &str) -> bool {
    RESERVED_ALIASES
        .iter()
        .any(|r| r.eq_ignore_ascii_case(name))
}

fn is_code_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// Why a string is not a short code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShortCodeError {
    /// Shorter than [`MIN_CODE_LEN`] or longer than [`MAX_CODE_LEN`].
    #[error("must be {MIN_CODE_LEN} to {MAX_CODE_LEN} characters long")]
    Length,
    /// A character outside `[A-Za-z0-9_-]`.
    #[error("may contain only ASCII letters, digits, '_' and '-'")]
    Charset,
}

/// A syntactically possible short code: 3–64 characters of `[A-Za-z0-9_-]`. Case-sensitive.
///
/// Holding one says nothing about whether a link exists; it only means storage may be asked.
/// Held inline up to 24 bytes (every generated code): parsing, cloning it into the click buffer
/// and comparing it in a map touch no heap memory on the redirect path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShortCode(CompactString);

impl ShortCode {
    /// Accepts `s` if it is a possible code.
    ///
    /// # Errors
    /// [`ShortCodeError`] naming the first rule `s` breaks.
    pub fn parse(s: &str) -> Result<Self, ShortCodeError> {
        if !(MIN_CODE_LEN..=MAX_CODE_LEN).contains(&s.len()) {
            return Err(ShortCodeError::Length);
        }
        if !s.bytes().all(is_code_char) {
            return Err(ShortCodeError::Charset);
        }
        Ok(Self(CompactString::from(s)))
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for ShortCode {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ShortCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for ShortCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// Why a requested alias cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AliasError {
    /// Not 3–64 characters of `[A-Za-z0-9_-]`.
    #[error("alias {0}")]
    Invalid(ShortCodeError),
    /// One of [`RESERVED_ALIASES`], in any case.
    #[error("alias '{0}' is reserved")]
    Reserved(String),
}

/// A user-chosen short code: a valid [`ShortCode`] that is not a reserved name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Alias(ShortCode);

impl Alias {
    /// Accepts `s` as an alias.
    ///
    /// # Errors
    /// [`AliasError::Invalid`] for a bad length or character, [`AliasError::Reserved`] for a
    /// route-like name.
    pub fn parse(s: &str) -> Result<Self, AliasError> {
        let code = ShortCode::parse(s).map_err(AliasError::Invalid)?;
        if is_reserved(s) {
            return Err(AliasError::Reserved(s.to_owned()));
        }
        Ok(Self(code))
    }

    /// The alias as the short code it becomes.
    pub fn into_code(self) -> ShortCode {
        self.0
    }
}

impl AsRef<str> for Alias {
    fn as_ref(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Display for Alias {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn an_alias_with_a_slash_is_rejected() {
        assert_eq!(
            Alias::parse("a/b"),
            Err(AliasError::Invalid(ShortCodeError::Charset))
        );
    }

    #[test]
    fn aliases_outside_the_length_bounds_are_rejected() {
        assert!(Alias::parse("ab").is_err());
        assert!(Alias::parse(&"a".repeat(65)).is_err());
        assert!(Alias::parse("abc").is_ok());
        assert!(Alias::parse(&"a".repeat(64)).is_ok());
    }

    #[test]
    fn reserved_names_are_refused_in_any_case() {
        for name in ["stats", "STATS", "Shorten", "health", "Metrics"] {
            assert!(
                matches!(Alias::parse(name), Err(AliasError::Reserved(_))),
                "{name}"
            );
        }
    }

    #[test]
    fn non_ascii_letters_are_not_code_characters() {
        assert_eq!(ShortCode::parse("café"), Err(ShortCodeError::Charset));
        assert_eq!(ShortCode::parse("a b c"), Err(ShortCodeError::Charset));
        assert_eq!(ShortCode::parse("abc%20"), Err(ShortCodeError::Charset));
    }

    proptest! {
        #[test]
        fn every_string_of_the_alphabet_within_bounds_parses(s in "[A-Za-z0-9_-]{3,64}") {
            let code = ShortCode::parse(&s).unwrap();
            prop_assert_eq!(code.as_str(), s.as_str());
        }

        #[test]
        fn parse_never_accepts_a_string_with_a_foreign_character(
            prefix in "[A-Za-z0-9]{0,10}",
            bad in "[^A-Za-z0-9_-]",
            suffix in "[A-Za-z0-9]{0,10}",
        ) {
            let s = format!("{prefix}{bad}{suffix}");
            prop_assert!(ShortCode::parse(&s).is_err());
        }
    }
}
