//! The middleware that wraps every route: recovery, timing, logging, the request deadline and
//! the guards (API keys and rate limits). The order is drawn in `app::app`; the redirect folds
//! the same layers into one service (`redirect::RedirectRoute`) from the pieces exported here.

mod guard;
mod logging;
mod recovery;
mod timeout;
mod timing;

pub use guard::{
    LookupFuture, LookupGuard, LookupGuardLayer, client_address, client_from, give_back,
    guard_create, parse_hop, spend,
};
pub(crate) use guard::{lookup_refused, lookup_remote};
pub use logging::{LogFuture, LogLayer, LogRequests};
pub(crate) use logging::{method_label, record_request};
pub(crate) use recovery::panic_response;
pub use recovery::{PanicHandler, recovery_layer};
pub use timeout::{Deadline, DeadlineFuture, DeadlineLayer};
pub(crate) use timing::stamp_processing_time;
pub use timing::{PROCESSING_TIME_HEADER, Timing, TimingFuture, TimingLayer};
