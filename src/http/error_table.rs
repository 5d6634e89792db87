//! The error table: every `code` the API answers with, its status and its title, in one place.
//! [`ApiError::kind`](super::ApiError::kind) maps each failure to its row; the OpenAPI
//! document's enum of codes and the check of the documented table (docs/api.md) read
//! [`ERRORS`], so a code cannot be answered without being described.

use axum::http::StatusCode;

/// One row of the table.
#[derive(Debug, PartialEq, Eq)]
pub struct ErrorCode {
    /// The stable machine-readable `code` member of the problem body.
    pub code: &'static str,
    /// The HTTP status it answers with.
    pub status: StatusCode,
    /// The problem's `title`: the same for every answer with this code.
    pub title: &'static str,
}

macro_rules! table {
    ($($name:ident = $code:literal, $status:ident, $title:literal;)*) => {
        /// Each row by name, for `ApiError::kind`.
        pub mod codes {
            use super::*;
            $(
                #[doc = concat!("`", $code, "`: ", $title, ".")]
                pub const $name: ErrorCode = ErrorCode {
                    code: $code,
                    status: StatusCode::$status,
                    title: $title,
                };
            )*
        }

        /// Every row, in the order of the documented table.
        pub const ERRORS: &[ErrorCode] = &[$(codes::$name),*];
    };
}

table! {
    INVALID_REQUEST = "invalid_request", BAD_REQUEST, "Invalid request";
    INVALID_URL = "invalid_url", BAD_REQUEST, "Invalid long URL";
    UNSUPPORTED_SCHEME = "unsupported_scheme", BAD_REQUEST, "Invalid long URL";
    CREDENTIALS_IN_URL = "credentials_in_url", BAD_REQUEST, "Invalid long URL";
    INVALID_HOSTNAME = "invalid_hostname", BAD_REQUEST, "Invalid long URL";
    FORBIDDEN_DESTINATION = "forbidden_destination", BAD_REQUEST, "Invalid long URL";
    SELF_REFERENCING_URL = "self_referencing_url", BAD_REQUEST, "Invalid long URL";
    URL_TOO_LONG = "url_too_long", BAD_REQUEST, "Invalid long URL";
    INVALID_TTL = "invalid_ttl", BAD_REQUEST, "Invalid TTL";
    INVALID_EXPIRY = "invalid_expiry", BAD_REQUEST, "Invalid expiry";
    INVALID_RANGE = "invalid_range", BAD_REQUEST, "Invalid range";
    INVALID_ROUTING = "invalid_routing", BAD_REQUEST, "Invalid redirect settings";
    INVALID_ALIAS = "invalid_alias", BAD_REQUEST, "Invalid alias";
    RESERVED_ALIAS = "reserved_alias", BAD_REQUEST, "Invalid alias";
    INVALID_USERNAME = "invalid_username", BAD_REQUEST, "Invalid account details";
    WEAK_PASSWORD = "weak_password", BAD_REQUEST, "Invalid account details";
    INVALID_DISPLAY_NAME = "invalid_display_name", BAD_REQUEST, "Invalid account details";
    INVALID_INVITE = "invalid_invite", BAD_REQUEST, "Invalid invite";
    UNAUTHORIZED = "unauthorized", UNAUTHORIZED, "Unauthorized";
    INVALID_CREDENTIALS = "invalid_credentials", UNAUTHORIZED, "Invalid credentials";
    CSRF_REJECTED = "csrf_rejected", FORBIDDEN, "Cross-origin request refused";
    FORBIDDEN = "forbidden", FORBIDDEN, "Forbidden";
    SIGNUP_CLOSED = "signup_closed", FORBIDDEN, "Signup closed";
    INVALID_SETUP_TOKEN = "invalid_setup_token", FORBIDDEN, "Invalid setup token";
    NOT_FOUND = "not_found", NOT_FOUND, "Not found";
    METHOD_NOT_ALLOWED = "method_not_allowed", METHOD_NOT_ALLOWED, "Method not allowed";
    USERNAME_TAKEN = "username_taken", CONFLICT, "User name taken";
    TOO_MANY_KEYS = "too_many_keys", CONFLICT, "Too many keys";
    LAST_ADMIN = "last_admin", CONFLICT, "Last administrator";
    SETUP_DONE = "setup_done", CONFLICT, "Setup done";
    LINK_HEALTH_DISABLED = "link_health_disabled", CONFLICT, "Link health disabled";
    ALIAS_TAKEN = "alias_taken", CONFLICT, "Alias taken";
    PAYLOAD_TOO_LARGE = "payload_too_large", PAYLOAD_TOO_LARGE, "Payload too large";
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type", UNSUPPORTED_MEDIA_TYPE, "Unsupported media type";
    RATE_LIMITED = "rate_limited", TOO_MANY_REQUESTS, "Too many requests";
    INTERNAL_ERROR = "internal_error", INTERNAL_SERVER_ERROR, "Internal server error";
    STORAGE_UNAVAILABLE = "storage_unavailable", SERVICE_UNAVAILABLE, "Storage unavailable";
    BUSY = "busy", SERVICE_UNAVAILABLE, "Busy";
    REQUEST_TIMEOUT = "request_timeout", SERVICE_UNAVAILABLE, "Request timeout";
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// The error table of docs/api.md, as (status, code) rows: `| 400 | `invalid_request` | … |`.
    fn documented() -> BTreeSet<(u16, String)> {
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/api.md"))
            .lines()
            .filter_map(|line| {
                let mut cells = line.split('|').map(str::trim).skip(1);
                let status = cells.next()?.parse().ok()?;
                let code = cells.next()?.strip_prefix('`')?.strip_suffix('`')?;
                Some((status, code.to_owned()))
            })
            .collect()
    }

    #[test]
    fn the_documented_error_table_is_the_servers() {
        let served: BTreeSet<(u16, String)> = ERRORS
            .iter()
            .map(|row| (row.status.as_u16(), row.code.to_owned()))
            .collect();
        assert_eq!(
            documented(),
            served,
            "docs/api.md's error table against ERRORS"
        );
    }

    #[test]
    fn every_code_is_in_the_table_once() {
        let codes: BTreeSet<&str> = ERRORS.iter().map(|row| row.code).collect();
        assert_eq!(codes.len(), ERRORS.len());
    }
}
