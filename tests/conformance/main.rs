//! One conformance suite per store trait, run against every backend (memory, SQLite,
//! PostgreSQL, Redis, DynamoDB through a DynamoDB-compatible server): what one store does, all do.

#[path = "../common/mod.rs"]
mod common;

/// The conformance of one store trait: `backends!(threads; check, …)` makes a module per
/// backend (`memory`, `sqlite`, `redis`, `dynamodb`, `postgres`) with one test per check, each
/// running `super::check(super::<backend>().await)` on a runtime of `threads` workers. Each
/// suite file defines the five factories and the checks.
macro_rules! backends {
    ($threads:literal; $($check:ident),+ $(,)?) => {
        backends!(@one memory, $threads; $($check),+);
        backends!(@one sqlite, $threads; $($check),+);
        backends!(@one redis, $threads; $($check),+);
        backends!(@one dynamodb, $threads; $($check),+);
        backends!(@one postgres, $threads; $($check),+);
    };
    (@one $backend:ident, $threads:literal; $($check:ident),+) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = $threads)]
                async fn $check() {
                    super::$check(super::$backend().await).await;
                }
            )+
        }
    };
}

mod accounts;
mod analytics;
mod link_health;
mod postgres_store;
mod repository;
mod routing;
