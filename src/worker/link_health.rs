//! The link-health checker's loop: round after round of leasing due links and checking them,
//! pausing while nothing is due.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::service::link_health::LinkHealthService;

/// How long the checker waits before looking again when nothing was due (or leasing failed).
const IDLE_POLL: Duration = Duration::from_secs(2);

/// Runs rounds until `stop` turns true; a round in progress finishes first.
pub async fn run(checker: Arc<LinkHealthService>, mut stop: watch::Receiver<bool>) {
    loop {
        if *stop.borrow() {
            break;
        }
        let pause = match checker.run_round().await {
            Ok(0) => IDLE_POLL,
            Ok(_) => Duration::ZERO,
            Err(error) => {
                tracing::warn!(%error, "link health: leasing due links failed");
                IDLE_POLL
            }
        };
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            _ = stop.wait_for(|s| *s) => break,
        }
    }
    tracing::debug!("link health checker stopped");
}
