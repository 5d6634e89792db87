//! Command line: `url-shortener [--config FILE] [serve | api-key ... | user ... | healthcheck]`.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::config::Settings;
use crate::domain::SystemClock;
use crate::repository::build_stores;
use crate::service::ApiKeyService;

mod user;

pub use user::{UserCommand, run_user};

/// A fast, self-hosted URL shortener.
///
/// Serves POST /shorten, GET /s/{code}, GET /stats/{code}, GET /health and, for people with
/// accounts, /api/ (sessions, their links and keys; see /openapi.json). Settings come from
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
    /// Manage user accounts in the configured store (passwords are stored as argon2id hashes).
    #[command(subcommand)]
    User(UserCommand),
    /// Run the background workers only (the click processor of `clicks.queue = "redis"` and
    /// the expiry sweeper), without the HTTP server: for fleets whose gateways run with
    /// `workers.enabled = false`. Stops on SIGTERM or Ctrl-C after its current batch.
    Worker,
    /// Exit 0 when the service on `server.listen` answers `GET /health/live` with 200 within
    /// 2 s, 1 otherwise: a container health check that needs no curl in the image.
    Healthcheck {
        /// The path to probe (`/health/ready` also checks storage).
        #[arg(long, default_value = "/health/live")]
        path: String,
    },
}

/// `api-key` subcommands.
#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Issue a key. The key is printed once on stdout and cannot be shown again.
    Create {
        /// A label for the key (who or what uses it).
        #[arg(long)]
        name: String,
        /// The user the key belongs to (links created with it are theirs). Without it, an
        /// operator's key that acts for the first administrator.
        #[arg(long, value_name = "USERNAME")]
        user: Option<String>,
    },
    /// List keys: id, name, owner, creation time, last use, status. Never the keys themselves.
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
    let keys = ApiKeyService::new(
        stores.keys,
        Arc::new(SystemClock),
        settings.auth.max_keys_per_user,
    );
    let accounts = stores.accounts;
    match command {
        ApiKeyCommand::Create { name, user } => {
            let owner = match user {
                Some(username) => {
                    let name = crate::domain::Username::parse(&username)?;
                    let user = accounts
                        .users
                        .find_user_by_name(&name)
                        .await?
                        .ok_or_else(|| {
                            anyhow::anyhow!(
                                "no user named '{name}' (see `url-shortener user list`)"
                            )
                        })?;
                    Some(user.id)
                }
                None => None,
            };
            let (secret, record) = keys.create(&name, owner.as_deref()).await?;
            println!("{}", secret.expose());
            eprintln!(
                "created API key {} ({}): store it now, it cannot be shown again",
                record.id, record.name
            );
        }
        ApiKeyCommand::List => {
            let names: std::collections::HashMap<String, String> = accounts
                .users
                .list_users()
                .await?
                .into_iter()
                .map(|u| (u.id, u.username.to_string()))
                .collect();
            println!(
                "{:<14} {:<24} {:<16} {:<26} {:<26} STATUS",
                "ID", "NAME", "USER", "CREATED", "LAST USED"
            );
            for key in keys.list().await? {
                let status = key
                    .revoked_at
                    .map_or_else(|| "active".to_owned(), |at| format!("revoked {at}"));
                let owner = key.owner.as_ref().map_or("(operator)", |id| {
                    names.get(id).map_or("(deleted)", String::as_str)
                });
                let used = key
                    .last_used_at
                    .map_or_else(|| "never".to_owned(), |t| t.to_string());
                println!(
                    "{:<14} {:<24} {:<16} {:<26} {:<26} {status}",
                    key.id, key.name, owner, key.created_at, used
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

/// Probes `GET path` on the address the settings listen on (an unspecified address such as
/// `0.0.0.0` is probed on loopback).
///
/// # Errors
/// When the service does not answer 200 within 2 seconds.
pub async fn run_healthcheck(settings: &Settings, path: &str) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut addr = settings.listen_addr()?;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let probe = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await?;
        Ok::<_, std::io::Error>(head)
    };
    let head = tokio::time::timeout(std::time::Duration::from_secs(2), probe)
        .await
        .map_err(|_| anyhow::anyhow!("{addr}{path}: no answer within 2 s"))?
        .map_err(|e| anyhow::anyhow!("{addr}{path}: {e}"))?;
    if &head[..] == b"HTTP/1.1 200" {
        Ok(())
    } else {
        anyhow::bail!("{addr}{path}: answered {}", String::from_utf8_lossy(&head))
    }
}
