//! `ServiceError`: what can go wrong in a use case, before anyone decides on a status code.

use crate::domain::AccountInputError;
use crate::repository::RepoError;

/// A use case's failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    /// `ttl_seconds` outside `1..=links.max_ttl_seconds`.
    #[error("ttl_seconds must be between 1 and {max}")]
    InvalidTtl {
        /// The configured ceiling.
        max: u64,
    },
    /// The requested alias names an existing link.
    #[error("alias '{0}' is already taken")]
    AliasTaken(String),
    /// No live link has this code (unknown and expired look the same).
    #[error("no link with this code")]
    NotFound,
    /// Every generated code collided; with 62^8 codes this means the store is misbehaving.
    #[error("could not allocate a free short code after {0} attempts")]
    CodeSpaceExhausted(usize),
    /// An API key name that is empty, too long or not printable.
    #[error("a key name must be 1 to {0} printable characters")]
    InvalidKeyName(usize),
    /// The user holds as many live API keys as allowed (`auth.max_keys_per_user`).
    #[error("you have {0} API keys, the most allowed: revoke one you no longer use first")]
    TooManyKeys(usize),
    /// A user name, password or display name that breaks its rule.
    #[error(transparent)]
    Account(#[from] AccountInputError),
    /// The user name belongs to another account.
    #[error("this user name is taken")]
    UsernameTaken,
    /// A login that failed: unknown user, wrong password or disabled account, told apart to
    /// nobody.
    #[error("the user name or password is wrong")]
    InvalidCredentials,
    /// No account has this name.
    #[error("no such user")]
    NoSuchUser,
    /// A new expiry that is in the past, too far ahead, or "never" where links must expire.
    #[error("{0}")]
    InvalidExpiry(&'static str),
    /// A first-run setup token that is wrong, or setup that is not open.
    #[error("this setup token is not valid (wrong, used, or setup is not open)")]
    InvalidSetupToken,
    /// First-run setup after an administrator exists.
    #[error("setup is done: an administrator exists")]
    SetupDone,
    /// The change would leave no active administrator.
    #[error("the last active administrator cannot be disabled or demoted")]
    LastAdmin,
    /// An invite that is unknown, used or expired.
    #[error("this invite is not valid (unknown, already used or expired)")]
    InvalidInvite,
    /// An analytics range that is empty or wider than allowed.
    #[error("{0}")]
    InvalidRange(String),
    /// Too many password hashes are running in this process and none freed within the wait:
    /// try again shortly.
    #[error("the server is busy checking passwords; try again shortly")]
    Busy,
    /// Work the service hands to another thread failed (a panic there); logged, never shown.
    #[error("internal error: {0}")]
    Internal(&'static str),
    /// The store failed; see [`RepoError`].
    #[error(transparent)]
    Storage(#[from] RepoError),
}
