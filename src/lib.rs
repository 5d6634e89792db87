//! url-shortener: a stateless HTTP service that turns long URLs into short codes and redirects
//! to them.
//!
//! Layers, dependencies pointing inward: [`handler`] (HTTP) → [`service`] (rules) →
//! [`domain`] (types, no I/O); [`repository`] implements storage behind a trait; [`web`] is the
//! UI for people, beside the handlers. [`app`] builds
//! the router without I/O and [`serve`] ([`server`]) runs it, so tests bind port 0 and choose their own
//! shutdown.

pub mod app;
pub mod cli;
pub mod config;
pub mod domain;
pub mod handler;
pub mod limiter;
pub mod metrics;
pub mod middleware;
pub mod repository;
pub mod server;
pub mod service;
pub mod shutdown;
pub mod state;
pub mod telemetry;
pub mod web;
pub mod worker;

#[cfg(test)]
mod properties;

pub use app::app;
pub use state::AppState;
pub use server::{ConnectionLimits, serve, serve_sharded, serve_with};
