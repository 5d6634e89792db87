//! Command line: `url-shortener [--config FILE]`.

use std::path::PathBuf;

use clap::Parser;

/// A fast, self-hosted URL shortener.
///
/// Serves POST /shorten, GET /s/{code}, GET /stats/{code} and GET /health. Settings come from
/// built-in defaults, then the TOML file given by --config, then environment variables named
/// URL_SHORTENER__SECTION__KEY (for example URL_SHORTENER__SERVER__LISTEN=0.0.0.0:8080). Every
/// key is listed with its default in the README.
#[derive(Debug, Parser)]
#[command(name = "url-shortener", version)]
pub struct Cli {
    /// TOML settings file.
    #[arg(long, short, value_name = "FILE", env = "URL_SHORTENER_CONFIG")]
    pub config: Option<PathBuf>,
}
