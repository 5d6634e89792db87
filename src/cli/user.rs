//! `url-shortener user …`: accounts managed by the operator, on the configured store.

use std::io::BufRead;
use std::sync::Arc;

use clap::Subcommand;

use crate::config::Settings;
use crate::domain::{Role, SystemClock};
use crate::repository::build_stores;
use crate::service::{AccountService, ServiceError};

/// `user` subcommands.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account. The password is asked on the terminal (twice), or read from the first
    /// line of standard input with --password-stdin; it is never an argument, so it stays out
    /// of shell history and process lists.
    Create {
        /// 3 to 64 of a-z, 0-9, '.', '_' and '-' (upper case is folded to lower).
        username: String,
        /// Make the account an administrator (the first one is made this way).
        #[arg(long)]
        admin: bool,
        /// A name to show instead of the user name.
        #[arg(long, value_name = "NAME")]
        display_name: Option<String>,
        /// Read the password from standard input instead of the terminal.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List accounts: user name, role, status, creation time. Never a password or its hash.
    List,
    /// Disable an account: it can no longer log in, and its sessions end at once.
    Disable {
        /// The account.
        username: String,
    },
    /// Enable a disabled account again.
    Enable {
        /// The account.
        username: String,
    },
    /// Set an account's password (no need for the old one); ends its sessions.
    SetPassword {
        /// The account.
        username: String,
        /// Read the password from standard input instead of the terminal.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Make an account an administrator or an ordinary user.
    SetRole {
        /// The account.
        username: String,
        /// `admin` or `user`.
        #[arg(value_parser = ["admin", "user"])]
        role: String,
    },
}

/// The password for `create` or `set-password`: one line of standard input, or typed twice on
/// the terminal without echo.
fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    let first = rpassword::prompt_password("Password (12 to 256 characters): ")?;
    let second = rpassword::prompt_password("Password again: ")?;
    if first != second {
        anyhow::bail!("the two passwords differ; nothing was changed");
    }
    Ok(first)
}

/// What an account error means to the operator at the terminal.
fn explain(error: ServiceError) -> anyhow::Error {
    match error {
        ServiceError::NoSuchUser => {
            anyhow::anyhow!("no such user (see `url-shortener user list`)")
        }
        other => anyhow::anyhow!("{other}"),
    }
}

/// Runs a `user` subcommand against the store configured in `settings`.
///
/// # Errors
/// When the store cannot be opened, or the command fails (a bad or taken
/// user name, a password of the wrong length, an unknown user).
pub async fn run_user(command: UserCommand, settings: &Settings) -> anyhow::Result<()> {
    let stores = build_stores(&settings.storage, &crate::metrics::Metrics::new()).await?;
    let accounts = stores.accounts;
    let service = AccountService::new(
        accounts.users,
        accounts.sessions,
        accounts.invites,
        Arc::new(SystemClock),
        settings.accounts.session_lifetime(),
        settings.accounts.invite_ttl(),
        Arc::new(crate::service::HashGate::from_settings(&settings.accounts)),
    );
    match command {
        UserCommand::Create {
            username,
            admin,
            display_name,
            password_stdin,
        } => {
            let password = read_password(password_stdin)?;
            let role = if admin { Role::Admin } else { Role::User };
            let user = service
                .create_user(&username, &password, display_name.as_deref(), role)
                .await
                .map_err(explain)?;
            println!("created {} ({})", user.username, user.role.as_str());
        }
        UserCommand::List => {
            println!("{:<24} {:<6} {:<30} CREATED", "USERNAME", "ROLE", "STATUS");
            for user in service.list_users().await.map_err(explain)? {
                let status = user
                    .disabled_at
                    .map_or_else(|| "active".to_owned(), |at| format!("disabled {at}"));
                println!(
                    "{:<24} {:<6} {:<30} {}",
                    user.username,
                    user.role.as_str(),
                    status,
                    user.created_at
                );
            }
        }
        UserCommand::Disable { username } => {
            service
                .update_account(&username, None, Some(true))
                .await
                .map_err(explain)?;
            println!("disabled {username}; its sessions have ended");
        }
        UserCommand::Enable { username } => {
            service
                .update_account(&username, None, Some(false))
                .await
                .map_err(explain)?;
            println!("enabled {username}");
        }
        UserCommand::SetPassword {
            username,
            password_stdin,
        } => {
            let password = read_password(password_stdin)?;
            service
                .set_password(&username, &password)
                .await
                .map_err(explain)?;
            println!("password of {username} changed; its sessions have ended");
        }
        UserCommand::SetRole { username, role } => {
            let role = Role::parse(&role).unwrap_or(Role::User);
            let user = service
                .update_account(&username, Some(role), None)
                .await
                .map_err(explain)?;
            println!("{} is now {}", user.username, user.role.as_str());
        }
    }
    Ok(())
}
