//! Services: the business rules (how codes are allocated, when a link is live, how clicks are
//! counted). They speak in domain types and [`ServiceError`], never in HTTP.

mod error;
mod url_service;

pub use error::ServiceError;
pub use url_service::{LinkPolicy, NewLink, UrlService};
