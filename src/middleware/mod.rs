//! The middleware that wraps every route: recovery, timing, logging and the request deadline.
//! The order is drawn in `app::app`.

mod guard;
mod logging;
mod recovery;
mod redirect_route;
mod timeout;
mod timing;

pub use guard::{
    LookupFuture, LookupGuard, LookupGuardLayer, client_address, client_from, give_back,
    guard_create, parse_hop, spend,
};
pub use logging::{LogFuture, LogLayer, LogRequests};
pub use recovery::{PanicHandler, recovery_layer};
pub use redirect_route::{RedirectFuture, RedirectRoute};
pub use timeout::{Deadline, DeadlineFuture, DeadlineLayer};
pub use timing::{PROCESSING_TIME_HEADER, Timing, TimingFuture, TimingLayer};
