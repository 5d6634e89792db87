//! API keys: the secret a client presents, the SHA-256 hash that is all the service stores, and
//! the record an operator manages.

use std::fmt;

use sha2::{Digest, Sha256};

use super::Timestamp;
use super::codegen::random_base62;

/// Every key starts with this, so a leaked key is recognisable (secret scanners, log review).
pub const API_KEY_PREFIX: &str = "usk_";
/// Random characters after the prefix: 43 base62 characters carry 256 bits.
const SECRET_CHARS: usize = 43;
/// Hex characters of the hash used as the key's public id.
const ID_LEN: usize = 12;

/// A key as the client holds it. Never logged: `Debug` shows only the id.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeySecret(String);

impl ApiKeySecret {
    /// A new key from the operating system's CSPRNG (via the thread-local CSPRNG), ≥ 256 bits.
    pub fn generate() -> Self {
        Self(format!("{API_KEY_PREFIX}{}", random_base62(SECRET_CHARS)))
    }

    /// Accepts text presented by a client if it has the shape of a key; the store decides
    /// whether it is one.
    pub fn parse(presented: &str) -> Option<Self> {
        let rest = presented.strip_prefix(API_KEY_PREFIX)?;
        (rest.len() == SECRET_CHARS && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
            .then(|| Self(presented.to_owned()))
    }

    /// The SHA-256 of the key, the only form that is stored.
    pub fn hash(&self) -> ApiKeyHash {
        ApiKeyHash(hex::encode(Sha256::digest(self.0.as_bytes())))
    }

    /// The key itself, for showing once to the operator who created it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKeySecret({}…)", self.hash().id())
    }
}

/// Lower-case hex SHA-256 of a key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ApiKeyHash(String);

impl ApiKeyHash {
    /// Wraps a stored hash.
    pub fn from_hex(hex: String) -> Self {
        Self(hex)
    }

    /// The hash as hex.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key's public id: the first 12 hex characters of its hash. Safe to show and log.
    pub fn id(&self) -> &str {
        &self.0[..ID_LEN.min(self.0.len())]
    }
}

/// A key as stored and managed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// Public id (see [`ApiKeyHash::id`]).
    pub id: String,
    /// Operator's label.
    pub name: String,
    /// SHA-256 of the key.
    pub hash: ApiKeyHash,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was revoked; `None` while it is valid.
    pub revoked_at: Option<Timestamp>,
    /// The user (id) it belongs to; `None` for an operator's key made before accounts, which
    /// acts for the first administrator.
    pub owner: Option<String>,
    /// When it last authenticated a request (to within a minute); `None` = never.
    pub last_used_at: Option<Timestamp>,
}

impl ApiKeyRecord {
    /// A valid, never used record for `secret` named `name`, belonging to `owner`.
    pub fn new(
        secret: &ApiKeySecret,
        name: &str,
        owner: Option<&str>,
        created_at: Timestamp,
    ) -> Self {
        let hash = secret.hash();
        Self {
            id: hash.id().to_owned(),
            name: name.to_owned(),
            hash,
            created_at,
            revoked_at: None,
            owner: owner.map(str::to_owned),
            last_used_at: None,
        }
    }

    /// Whether the key may be used.
    pub fn is_active(&self) -> bool {
        self.revoked_at.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_the_prefix_and_parse_back() {
        let key = ApiKeySecret::generate();
        assert!(key.expose().starts_with("usk_"));
        assert_eq!(key.expose().len(), 4 + 43);
        assert_eq!(ApiKeySecret::parse(key.expose()), Some(key.clone()));
        assert_ne!(ApiKeySecret::generate(), key);
    }

    #[test]
    fn debug_never_shows_the_key() {
        let key = ApiKeySecret::generate();
        let shown = format!("{key:?}");
        assert!(!shown.contains(&key.expose()[4..]), "{shown}");
    }

    #[test]
    fn the_hash_is_sha256_hex_and_the_id_its_prefix() {
        let key = ApiKeySecret(format!("usk_{}", "a".repeat(43)));
        let hash = key.hash();
        assert_eq!(hash.as_str().len(), 64);
        assert_eq!(hash.id(), &hash.as_str()[..12]);
    }

    #[test]
    fn malformed_keys_do_not_parse() {
        for bad in [
            "",
            "usk_",
            "usk_short",
            "sk_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            &format!("usk_{}!", "a".repeat(42)),
        ] {
            assert!(ApiKeySecret::parse(bad).is_none(), "{bad}");
        }
    }
}
