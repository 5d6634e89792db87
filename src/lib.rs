//! url-shortener: a stateless HTTP service that turns long URLs into short codes and redirects
//! to them.
//!
//! Layers, dependencies pointing inward: the edge — [`api`] (the JSON API), [`web`] (the UI for
//! people) and [`redirect`] (the hot path), which never import each other, on the shared
//! [`http`] kit and [`state`] — → [`service`] (rules) → [`domain`] (types, no I/O);
//! [`repository`] implements storage behind traits. [`app`] composes the routers without I/O and
//! [`serve`] ([`server`]) runs them, so tests bind port 0 and choose their own shutdown.

pub mod api;
pub mod app;
pub mod cli;
pub mod config;
pub mod domain;
pub mod http;
pub mod limiter;
pub mod metrics;
pub mod redirect;
pub mod repository;
pub mod server;
pub mod service;
pub mod shutdown;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod web;
pub mod worker;

#[cfg(test)]
mod properties;

pub use app::app;
pub use server::{ConnectionLimits, serve, serve_sharded, serve_with};
pub use state::AppState;
