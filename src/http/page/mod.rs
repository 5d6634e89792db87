//! What every HTML answer shares: the layout and the headers of every page ([`render`]), the
//! stylesheet and scripts under hashed names ([`assets`]), and failures as pages in the site's
//! look ([`error`]). The UI's pages build on it, and so do the API's and the redirect's answers to
//! browsers (a 404 for a link that does not exist, a 503 page).

pub mod assets;
pub mod error;
pub mod render;

pub use error::{PageError, link_not_found, link_not_found_html};
pub use render::{CONTENT_SECURITY_POLICY, add_security_headers};
