//! The UI's static files (our stylesheet and script, and the vendored htmx), embedded in the
//! binary and served under content-hashed paths with `Cache-Control: immutable`: a browser
//! keeps each for a year and a new build's files have new names, so nothing stale is ever
//! served and no request revalidates.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// The htmx release vendored in `static/vendor/` (with its Zero-Clause BSD licence).
pub const HTMX_VERSION: &str = "2.0.11";

/// One embedded file.
struct Asset {
    /// `/static/{stem}-{hash}.{ext}`.
    path: String,
    content_type: &'static str,
    body: &'static [u8],
}

impl Asset {
    fn new(stem: &str, ext: &str, content_type: &'static str, body: &'static [u8]) -> Self {
        let digest = Sha256::digest(body);
        let hash = hex::encode(&digest[..8]);
        Self {
            path: format!("/static/{stem}-{hash}.{ext}"),
            content_type,
            body,
        }
    }
}

/// Where the layout finds the UI's files.
#[derive(Debug, Clone, Copy)]
pub struct Assets {
    /// The stylesheet's path.
    pub css: &'static str,
    /// Our script's path (copy buttons).
    pub js: &'static str,
    /// htmx's path.
    pub htmx: &'static str,
}

static FILES: LazyLock<[Asset; 3]> = LazyLock::new(|| {
    [
        Asset::new(
            "app",
            "css",
            "text/css; charset=utf-8",
            include_bytes!("../../../static/app.css"),
        ),
        Asset::new(
            "app",
            "js",
            "text/javascript; charset=utf-8",
            include_bytes!("../../../static/app.js"),
        ),
        Asset::new(
            "htmx",
            "js",
            "text/javascript; charset=utf-8",
            include_bytes!("../../../static/vendor/htmx-2.0.11.min.js"),
        ),
    ]
});

static PATHS: LazyLock<Assets> = LazyLock::new(|| {
    let files = &*FILES;
    Assets {
        css: &files[0].path,
        js: &files[1].path,
        htmx: &files[2].path,
    }
});

/// The hashed paths of this build's files.
pub fn paths() -> &'static Assets {
    &PATHS
}

/// `GET /static/{file}`: an embedded file by its hashed name, cached for a year; 404 for any
/// other name (an old build's hash included: the page that named it is stale too).
pub(crate) async fn serve(Path(file): Path<String>) -> Response {
    let wanted = format!("/static/{file}");
    let Some(asset) = FILES.iter().find(|a| a.path == wanted) else {
        return (
            StatusCode::NOT_FOUND,
            [(header::CACHE_CONTROL, "no-store")],
            "no such file",
        )
            .into_response();
    };
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        asset.body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_carries_a_hash_of_its_content() {
        let paths = paths();
        for path in [paths.css, paths.js, paths.htmx] {
            let name = path.strip_prefix("/static/").unwrap();
            let (_, tail) = name.rsplit_once('-').unwrap();
            let (hash, _) = tail.split_once('.').unwrap();
            assert_eq!(hash.len(), 16, "{path}");
            assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()), "{path}");
        }
        assert_ne!(paths.js, paths.htmx);
    }
}
