//! The redirect's place in the API description. `GET`/`HEAD /{code}` and `/s/{code}` are served by
//! `crate::redirect` (the hot path, in a room of its own); these bodiless functions carry only
//! their OpenAPI annotations, so the description stays beside the rest of the API's.

use crate::http::Problem;
#[allow(unused_imports)] // named by the documentation below, which the API description copies
use crate::http::possible_code;

/// Redirect to the link's destination, counting one click (an impossible code never gets here:
/// see [`possible_code`]).
#[utoipa::path(
    get,
    path = "/s/{code}",
    tag = "links",
    params(("code" = String, Path, description = "Short code or alias")),
    responses(
        (status = 302, description = "Redirect (status configurable: 301, 302, 307, 308); empty body",
            headers(("Location" = String, description = "The destination"))),
        (status = 404, description = "Unknown, expired or impossible code (an HTML page for browsers)",
            content((Problem = "application/problem+json"), (String = "text/html"))),
        (status = 429, description = "Lookup or 404 budget spent", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[allow(dead_code)] // documentation only: crate::redirect answers the route
pub(crate) fn follow() {}

/// Answers as `GET` would, without counting a click (link checkers, previews).
#[utoipa::path(
    head,
    path = "/s/{code}",
    tag = "links",
    params(("code" = String, Path, description = "Short code or alias")),
    responses(
        (status = 302, description = "As GET, counting nothing",
            headers(("Location" = String, description = "The destination"))),
        (status = 404, description = "Unknown, expired or impossible code"),
        (status = 429, description = "Lookup or 404 budget spent"),
        (status = 503, description = "Storage unavailable"),
    )
)]
#[allow(dead_code)] // documentation only: crate::redirect answers the route
pub(crate) fn peek() {}

/// Redirect to the link's destination, counting one click: the same answer as `/s/{code}`, at
/// the root. A path the service uses for itself (`/login`, `/api`, …) is never a code: those
/// names are reserved (`reserved_alias`).
#[utoipa::path(
    get,
    path = "/{code}",
    tag = "links",
    params(("code" = String, Path, description = "Short code or alias")),
    responses(
        (status = 302, description = "Redirect (status configurable: 301, 302, 307, 308); empty body",
            headers(("Location" = String, description = "The destination"))),
        (status = 404, description = "Unknown, expired or impossible code (an HTML page for browsers)",
            content((Problem = "application/problem+json"), (String = "text/html"))),
        (status = 429, description = "Lookup or 404 budget spent", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[allow(dead_code)] // documentation only: crate::redirect answers the route
pub(crate) fn follow_at_root() {}

/// Answers as `GET /{code}` would, without counting a click.
#[utoipa::path(
    head,
    path = "/{code}",
    tag = "links",
    params(("code" = String, Path, description = "Short code or alias")),
    responses(
        (status = 302, description = "As GET, counting nothing",
            headers(("Location" = String, description = "The destination"))),
        (status = 404, description = "Unknown, expired or impossible code"),
        (status = 429, description = "Lookup or 404 budget spent"),
        (status = 503, description = "Storage unavailable"),
    )
)]
#[allow(dead_code)] // documentation only: crate::redirect answers the route
pub(crate) fn peek_at_root() {}

/// For a link that forwards paths (`forward_path`): redirect to its destination with `rest`
/// appended to the destination's path, counting one click. For any other link, a 404.
#[utoipa::path(
    get,
    path = "/{code}/{rest}",
    tag = "links",
    params(
        ("code" = String, Path, description = "Short code or alias"),
        ("rest" = String, Path, description = "The rest of the path, one or more segments"),
    ),
    responses(
        (status = 302, description = "Redirect (the link's or the configured status); empty body",
            headers(("Location" = String, description = "The destination with the path appended"))),
        (status = 404, description = "Unknown, expired or impossible code, or a link that does not forward paths",
            content((Problem = "application/problem+json"), (String = "text/html"))),
        (status = 429, description = "Lookup or 404 budget spent", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[allow(dead_code)] // documentation only: crate::redirect answers the route
pub(crate) fn follow_with_path_at_root() {}

/// As `GET /{code}/{rest}`, under `/s/`.
#[utoipa::path(
    get,
    path = "/s/{code}/{rest}",
    tag = "links",
    params(
        ("code" = String, Path, description = "Short code or alias"),
        ("rest" = String, Path, description = "The rest of the path, one or more segments"),
    ),
    responses(
        (status = 302, description = "Redirect (the link's or the configured status); empty body",
            headers(("Location" = String, description = "The destination with the path appended"))),
        (status = 404, description = "Unknown, expired or impossible code, or a link that does not forward paths",
            content((Problem = "application/problem+json"), (String = "text/html"))),
        (status = 429, description = "Lookup or 404 budget spent", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[allow(dead_code)] // documentation only: crate::redirect answers the route
pub(crate) fn follow_with_path() {}
