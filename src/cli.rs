//! Command line: `url-shortener [--config FILE] [serve | api-key ...]`.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::config::Settings;
use crate::domain::SystemClock;
use crate::repository::build_stores;
use crate::service::ApiKeyService;

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
    #[arg(
        long,
        short,
        value_name = "FILE",
        env = "URL_SHORTENER_CONFIG",
        global = true
    )]
    pub config: Option<PathBuf>,

    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service (the default).
    Serve,
    /// Manage API keys in the configured store (keys are stored as SHA-256 hashes only).
    #[command(subcommand)]
    ApiKey(ApiKeyCommand),
}

/// `api-key` subcommands.
#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Issue a key. The key is printed once on stdout and cannot be shown again.
    Create {
        /// A label for the key (who or what uses it).
        #[arg(long)]
        name: String,
    },
    /// List keys: id, name, creation time, status. Never the keys themselves.
    List,
    /// Revoke a key by its id (see `list`); requests with it are refused from then on.
    Revoke {
        /// The key's id.
        id: String,
    },
}

/// Runs an `api-key` subcommand against the store configured in `settings`.
///
/// # Errors
/// When the store cannot be opened, the command fails, or `revoke` names no key.
pub async fn run_api_key(command: ApiKeyCommand, settings: &Settings) -> anyhow::Result<()> {
    let stores = build_stores(&settings.storage, &crate::metrics::Metrics::new()).await?;
    let keys = ApiKeyService::new(stores.keys, Arc::new(SystemClock));
    match command {
        ApiKeyCommand::Create { name } => {
            let (secret, record) = keys.create(&name).await?;
            println!("{}", secret.expose());
            eprintln!(
                "created API key {} ({}): store it now, it cannot be shown again",
                record.id, record.name
            );
        }
        ApiKeyCommand::List => {
            println!("{:<14} {:<24} {:<26} STATUS", "ID", "NAME", "CREATED");
            for key in keys.list().await? {
                let status = key
                    .revoked_at
                    .map_or_else(|| "active".to_owned(), |at| format!("revoked {at}"));
                println!(
                    "{:<14} {:<24} {:<26} {status}",
                    key.id, key.name, key.created_at
                );
            }
        }
        ApiKeyCommand::Revoke { id } => {
            if !keys.revoke(&id).await? {
                anyhow::bail!("no API key with id '{id}' (see `url-shortener api-key list`)");
            }
            println!("revoked {id}");
        }
    }
    Ok(())
}
