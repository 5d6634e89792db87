//! Sessions and invites: the random tokens people hold (a cookie, an invite link) and the
//! records stores keep. A store only ever sees a token's SHA-256, so a leaked database holds no
//! session or invite that can be used.

use std::fmt;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::codegen::random_base62;
use super::{Role, Timestamp};

/// Random characters in a token: 43 base62 characters carry 256 bits.
const TOKEN_CHARS: usize = 43;

/// A bearer token: what a cookie or an invite link carries. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// A fresh 256-bit token from the CSPRNG.
    pub fn generate() -> Self {
        Self(random_base62(TOKEN_CHARS))
    }

    /// Accepts text with the shape of a token (43 base62 characters); whether it names a
    /// session or an invite is the store's to say.
    pub fn parse(presented: &str) -> Option<Self> {
        (presented.len() == TOKEN_CHARS && presented.bytes().all(|b| b.is_ascii_alphanumeric()))
            .then(|| Self(presented.to_owned()))
    }

    /// The SHA-256 of the token, the only form that is stored.
    pub fn key(&self) -> TokenKey {
        TokenKey(hex::encode(Sha256::digest(self.0.as_bytes())))
    }

    /// The token itself, for the cookie or the link it goes into.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

/// Lower-case hex SHA-256 of a [`Token`]: how stores key sessions and invites.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenKey(String);

impl TokenKey {
    /// Wraps a stored key.
    pub fn from_hex(hex: String) -> Self {
        Self(hex)
    }

    /// The key as hex.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How long a session lives: ended after `idle` without use, and after `absolute` whatever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLifetime {
    /// Since the last request that used the session.
    pub idle: Duration,
    /// Since login.
    pub absolute: Duration,
}

/// A logged-in session, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// SHA-256 of the cookie's token.
    pub key: TokenKey,
    /// Whose session it is.
    pub user_id: String,
    /// Login time.
    pub created_at: Timestamp,
    /// The last request that used it (refreshed at most once a minute, see the service).
    pub last_seen_at: Timestamp,
}

impl Session {
    /// When the session ends if it is not used again: the earlier of idle and absolute expiry.
    pub fn expires_at(&self, lifetime: SessionLifetime) -> Timestamp {
        let idle_end = self.last_seen_at.saturating_add(lifetime.idle);
        let absolute_end = self.created_at.saturating_add(lifetime.absolute);
        idle_end.min(absolute_end)
    }

    /// Whether the session may still be used at `now`.
    pub fn is_live(&self, now: Timestamp, lifetime: SessionLifetime) -> bool {
        now < self.expires_at(lifetime)
    }
}

/// A one-time invitation to create an account, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    /// SHA-256 of the link's token.
    pub key: TokenKey,
    /// The role the new account gets.
    pub role: Role,
    /// The admin who made it.
    pub created_by: String,
    /// When it was made.
    pub created_at: Timestamp,
    /// After this it is refused.
    pub expires_at: Timestamp,
    /// Set when an account was made with it; it is refused from then on.
    pub used_at: Option<Timestamp>,
}

impl Invite {
    /// Whether the invite can still be accepted at `now`.
    pub fn is_open(&self, now: Timestamp) -> bool {
        self.used_at.is_none() && now < self.expires_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_unix_millis(ms).unwrap()
    }

    #[test]
    fn tokens_carry_256_bits_and_are_stored_only_as_hashes() {
        let token = Token::generate();
        assert_eq!(token.expose().len(), 43);
        assert_eq!(Token::parse(token.expose()), Some(token.clone()));
        assert_ne!(token.key().as_str(), token.expose());
        assert_eq!(token.key().as_str().len(), 64);
        assert_eq!(format!("{token:?}"), "Token(***)");
        assert_ne!(Token::generate(), token);
        assert_eq!(Token::parse("short"), None);
        assert_eq!(Token::parse(&"%".repeat(43)), None);
    }

    #[test]
    fn a_session_ends_at_its_idle_or_absolute_limit_whichever_comes_first() {
        let lifetime = SessionLifetime {
            idle: Duration::from_secs(60),
            absolute: Duration::from_secs(600),
        };
        let mut session = Session {
            key: Token::generate().key(),
            user_id: "u1".into(),
            created_at: at(0),
            last_seen_at: at(0),
        };
        assert!(session.is_live(at(59_999), lifetime));
        assert!(!session.is_live(at(60_000), lifetime));
        session.last_seen_at = at(580_000);
        assert_eq!(session.expires_at(lifetime), at(600_000));
        assert!(!session.is_live(at(600_000), lifetime));
    }

    #[test]
    fn an_invite_is_open_until_used_or_expired() {
        let mut invite = Invite {
            key: Token::generate().key(),
            role: Role::User,
            created_by: "admin".into(),
            created_at: at(0),
            expires_at: at(1_000),
            used_at: None,
        };
        assert!(invite.is_open(at(999)));
        assert!(!invite.is_open(at(1_000)));
        invite.used_at = Some(at(10));
        assert!(!invite.is_open(at(500)));
    }
}
