//! One conformance suite per store trait, run against every backend (memory, SQLite,
//! PostgreSQL, Redis, DynamoDB through a DynamoDB-compatible server): what one store does, all do.

#[path = "../common/mod.rs"]
mod common;

mod accounts;
mod analytics;
mod link_health;
mod postgres_store;
mod repository;
