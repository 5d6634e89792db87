//! The HTTP API, the redirect and the services behind them: the real router on a real socket
//! (port 0) with a manual clock, through `common::TestApp`, plus the click pipeline, the cache
//! tier and the link-health checker against real Redis, PostgreSQL and local fixture servers.
//! One binary, so the crate and the AWS SDK are linked once for all of them.

#[path = "../common/mod.rs"]
mod common;

mod accounts;
mod accounts_service;
mod analytics;
mod cache_tier;
mod click_queue;
mod clicks_and_cache;
mod create;
mod expiration;
mod guards;
mod link_health;
mod link_health_checks;
mod links;
mod openapi;
mod operations;
mod redirect;
mod root_links;
mod routing;
