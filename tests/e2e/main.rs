//! End to end: the release binary (`URL_SHORTENER_BIN`) as a child process on a real port —
//! start-up, shutdown, durability, the CLI, several instances sharing one store, and faults
//! injected between the service and Redis or PostgreSQL.

#[path = "../common/mod.rs"]
mod common;

mod accounts;
mod accounts_cli;
mod binary;
mod click_queue;
mod durability;
mod faults_clicks;
mod faults_transport;
mod guards;
mod link_health;
mod shared_store;
