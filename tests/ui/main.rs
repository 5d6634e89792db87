//! The web UI: pages over HTTP (forms, CSRF, no-JavaScript flows) and in a real headless
//! Chromium through its driver (htmx, axe accessibility checks, screenshots).

#[path = "../common/mod.rs"]
mod common;

mod browser;
mod pages;
