//! Accounts: `Username`, `DisplayName`, `Password`, `PasswordHash`, `Role` and the `User` record.
//! Validation lives in the constructors, so nothing invalid travels inward; hashing itself is
//! the service's job (it is slow by design and must run off the async workers).

use std::fmt;

use super::Timestamp;

/// Shortest and longest user name.
pub const USERNAME_LEN: std::ops::RangeInclusive<usize> = 3..=64;
/// Shortest and longest password, in characters (OWASP: at least 12, allow long passphrases).
pub const PASSWORD_LEN: std::ops::RangeInclusive<usize> = 12..=256;
/// Longest display name, in characters.
pub const MAX_DISPLAY_NAME_LEN: usize = 100;

/// Why a user name, password or display name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountInputError {
    /// Not 3–64 of `a-z 0-9 . _ -` (`invalid_username`).
    #[error("a user name is 3 to 64 of a-z, 0-9, '.', '_' and '-'")]
    InvalidUsername,
    /// Shorter than 12 or longer than 256 characters (`weak_password`).
    #[error("a password is 12 to 256 characters long")]
    WeakPassword,
    /// Longer than 100 characters or containing a control character (`invalid_display_name`).
    #[error("a display name is at most 100 characters, without control characters")]
    InvalidDisplayName,
}

/// A user name: 3–64 of `a-z 0-9 . _ -`, stored lower-case so that uniqueness ignores case
/// (`Alice` and `alice` are one user).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Username(String);

impl Username {
    /// Parses `raw`, lower-casing ASCII letters.
    ///
    /// # Errors
    /// [`AccountInputError::InvalidUsername`].
    pub fn parse(raw: &str) -> Result<Self, AccountInputError> {
        let name = raw.trim().to_ascii_lowercase();
        let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c);
        if USERNAME_LEN.contains(&name.len()) && name.chars().all(allowed) {
            Ok(Self(name))
        } else {
            Err(AccountInputError::InvalidUsername)
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Username {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// An optional human name shown in the UI: at most 100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    /// Parses `raw`; an empty (or all-space) name is `None`.
    ///
    /// # Errors
    /// [`AccountInputError::InvalidDisplayName`].
    pub fn parse(raw: &str) -> Result<Option<Self>, AccountInputError> {
        // Counted as sent, spaces included, as the API's schema states it.
        if raw.chars().count() > MAX_DISPLAY_NAME_LEN || raw.chars().any(char::is_control) {
            return Err(AccountInputError::InvalidDisplayName);
        }
        let name = raw.trim();
        if name.is_empty() {
            return Ok(None);
        }
        Ok(Some(Self(name.to_owned())))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password as typed: 12–256 characters, no other composition rule (NIST SP 800-63B). Never
/// printed: `Debug` shows `Password(***)` and there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Checks the length of `raw` (in characters, so a passphrase in any script counts fairly).
    ///
    /// # Errors
    /// [`AccountInputError::WeakPassword`].
    pub fn parse(raw: &str) -> Result<Self, AccountInputError> {
        if PASSWORD_LEN.contains(&raw.chars().count()) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(AccountInputError::WeakPassword)
        }
    }

    /// The password, for the hasher only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// An argon2id hash in PHC string form (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`). `Debug`
/// hides it: a hash is not a password, but it is what an offline attack starts from.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

/// OWASP's minimum for argon2id: 19 MiB of memory, 2 passes, 1 lane (about 30 ms of one
/// core here). Verification reads the parameters from the stored hash, so raising these later
/// keeps old hashes working.
const ARGON2_MEMORY_KIB: u32 = 19 * 1024;
const ARGON2_PASSES: u32 = 2;
const ARGON2_LANES: u32 = 1;

fn argon2id() -> argon2::Argon2<'static> {
    let params = argon2::Params::new(ARGON2_MEMORY_KIB, ARGON2_PASSES, ARGON2_LANES, None)
        .expect("constant argon2 parameters are valid");
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
}

impl PasswordHash {
    /// Hashes `password` with argon2id and a fresh 128-bit salt. Slow on purpose (tens of
    /// milliseconds of CPU): call it off the async worker threads.
    #[allow(clippy::disallowed_methods)] // salt, not a test-visible value
    pub fn new(password: &Password) -> Self {
        use argon2::password_hash::PasswordHasher;
        use rand::Rng;
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        let hash = argon2id()
            .hash_password_with_salt(password.expose().as_bytes(), &salt)
            .expect("argon2id hashes any password with a 16-byte salt");
        Self(hash.to_string())
    }

    /// Whether `password` is the one this hash was made from; `false` for a hash that cannot
    /// be read. As slow as [`Self::new`], whatever the outcome.
    pub fn verify(&self, password: &Password) -> bool {
        use argon2::password_hash::PasswordVerifier;
        argon2id()
            .verify_password(password.expose().as_bytes(), self.0.as_str())
            .is_ok()
    }

    /// Wraps a PHC string read back from a store; it is checked when verified.
    pub fn from_phc(phc: String) -> Self {
        Self(phc)
    }

    /// The PHC string, for storage.
    pub fn as_phc(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(***)")
    }
}

/// What a user may do: `user` reaches their own links and keys, `admin` everyone's and the
/// accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// An ordinary account.
    User,
    /// An operator.
    Admin,
}

impl Role {
    /// `user` or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }

    /// Parses `user` or `admin`.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "user" => Some(Role::User),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// A stored account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Stable public id (hex), which links and keys refer to; never reused.
    pub id: String,
    /// Unique, lower-case.
    pub username: Username,
    /// Shown instead of the user name where set.
    pub display_name: Option<DisplayName>,
    /// argon2id.
    pub password_hash: PasswordHash,
    /// What the user may do.
    pub role: Role,
    /// When the account was made.
    pub created_at: Timestamp,
    /// Set when an admin disabled the account: it can no longer log in, and its sessions end.
    pub disabled_at: Option<Timestamp>,
}

impl User {
    /// Whether the account may log in.
    pub fn is_active(&self) -> bool {
        self.disabled_at.is_none()
    }

    /// Whether the account is an administrator.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Whether the account is an administrator who may act now: what "at least one
    /// administrator" counts.
    pub fn is_active_admin(&self) -> bool {
        self.is_admin() && self.is_active()
    }
}

/// A change of an account's role or status, as an administrator (or the operator) asks for it.
/// Stores apply it to the record as it is at the moment of their write, never to a copy read
/// earlier, so that it changes nothing else (a password changed meanwhile stays changed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountEdit {
    /// The new role, or `None` to keep it.
    pub role: Option<Role>,
    /// `Some(true)` disables (keeping the time of an earlier disable), `Some(false)` enables,
    /// `None` keeps the status.
    pub disabled: Option<bool>,
    /// When the edit is made: the disabled time of an account it disables.
    pub at: Timestamp,
}

impl AccountEdit {
    /// `user` with the edit applied.
    pub fn apply(&self, user: &User) -> User {
        let disabled_at = match self.disabled {
            Some(true) => user.disabled_at.or(Some(self.at)),
            Some(false) => None,
            None => user.disabled_at,
        };
        User {
            role: self.role.unwrap_or(user.role),
            disabled_at,
            ..user.clone()
        }
    }

    /// Whether applying the edit to `user` takes an active administrator away: the edits that
    /// must leave another one.
    pub fn steps_down(&self, user: &User) -> bool {
        user.is_active_admin() && !self.apply(user).is_active_admin()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(role: Role, disabled_at: Option<Timestamp>) -> User {
        User {
            id: "u1".into(),
            username: Username::parse("ada").unwrap(),
            display_name: None,
            password_hash: PasswordHash::from_phc("$argon2id$x".into()),
            role,
            created_at: Timestamp::from_unix_millis(1).unwrap(),
            disabled_at,
        }
    }

    #[test]
    fn an_account_edit_changes_only_role_and_status_and_keeps_the_first_disable() {
        let t = |ms| Timestamp::from_unix_millis(ms).unwrap();
        let disable = AccountEdit {
            role: None,
            disabled: Some(true),
            at: t(50),
        };
        let earlier = account(Role::User, Some(t(10)));
        assert_eq!(disable.apply(&earlier), earlier, "an earlier disable stays");
        let admin = account(Role::Admin, None);
        let edited = disable.apply(&admin);
        assert_eq!(edited.disabled_at, Some(t(50)));
        assert_eq!(edited.password_hash, admin.password_hash);
        assert!(disable.steps_down(&admin));
        assert!(!disable.steps_down(&account(Role::User, None)));
        let promote = AccountEdit {
            role: Some(Role::Admin),
            disabled: Some(false),
            at: t(60),
        };
        assert!(promote.apply(&earlier).is_active_admin());
        assert!(!promote.steps_down(&admin));
    }

    #[test]
    fn user_names_are_lower_cased_and_limited_to_a_small_alphabet() {
        assert_eq!(
            Username::parse("Alice.B-2_x").unwrap().as_str(),
            "alice.b-2_x"
        );
        for bad in [
            "ab",
            "",
            "al ice",
            "ålice",
            "a/b",
            "x".repeat(65).as_str(),
            "a@b.c",
        ] {
            assert_eq!(
                Username::parse(bad),
                Err(AccountInputError::InvalidUsername),
                "{bad:?}"
            );
        }
        assert!(Username::parse(&"x".repeat(64)).is_ok());
    }

    #[test]
    fn passwords_are_judged_by_length_in_characters_only() {
        assert_eq!(
            Password::parse("elevenchars"),
            Err(AccountInputError::WeakPassword)
        );
        assert!(Password::parse("twelve chars").is_ok());
        assert!(
            Password::parse("ééééééééééé1").is_ok(),
            "12 characters, 23 bytes"
        );
        assert!(Password::parse(&"p".repeat(256)).is_ok());
        assert_eq!(
            Password::parse(&"p".repeat(257)),
            Err(AccountInputError::WeakPassword)
        );
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let password = Password::parse("correct horse battery").unwrap();
        assert_eq!(format!("{password:?}"), "Password(***)");
        let hash = PasswordHash::from_phc("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into());
        assert_eq!(format!("{hash:?}"), "PasswordHash(***)");
    }

    #[test]
    fn a_hash_verifies_its_own_password_only_and_uses_owasp_parameters() {
        let password = Password::parse("correct horse battery").unwrap();
        let hash = PasswordHash::new(&password);
        assert!(hash.as_phc().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(hash.verify(&password));
        assert!(!hash.verify(&Password::parse("correct horse batterY").unwrap()));
        assert_ne!(PasswordHash::new(&password), hash, "a fresh salt each time");
        assert!(!PasswordHash::from_phc("garbage".into()).verify(&password));
    }

    #[test]
    fn display_names_are_optional_and_bounded() {
        assert_eq!(DisplayName::parse("  ").unwrap(), None);
        assert_eq!(
            DisplayName::parse(" Ada Lovelace ")
                .unwrap()
                .unwrap()
                .as_str(),
            "Ada Lovelace"
        );
        assert_eq!(
            DisplayName::parse("bad\nname"),
            Err(AccountInputError::InvalidDisplayName)
        );
    }
}
