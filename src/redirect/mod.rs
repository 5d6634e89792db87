//! The redirect, the product's hot path, in a room of its own: `GET`/`HEAD /s/{code}` answered
//! by [`RedirectRoute`], one hand-written service with the other routes' layers folded in, around
//! the answers built in `handler`. Built on the `http` kit; never imports `api` or `web`.

mod handler;
mod preview;
mod route;

pub use route::{RedirectFuture, RedirectRoute};
