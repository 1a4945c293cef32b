use crate::limits::{PASSWORD_MAX_BYTES, PASSWORD_MIN_BYTES};
use std::fmt;

/// A plain-text password on its way to the hasher: 8–72 bytes (bcrypt's limit; longer is refused, never
/// truncated). Its `Debug` never prints it, and it is not `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("must be at least {PASSWORD_MIN_BYTES} bytes long")]
    TooShort,
    #[error("must be at most {PASSWORD_MAX_BYTES} bytes long")]
    TooLong,
    /// The contract refuses it: bcrypt's C implementations stop at a NUL, so such a password could not move to
    /// another system (or an import) with the same meaning.
    #[error("must not contain a NUL character")]
    Nul,
}

impl Password {
    pub fn parse(s: impl Into<String>) -> Result<Self, PasswordError> {
        let s = s.into();
        if s.len() < PASSWORD_MIN_BYTES {
            return Err(PasswordError::TooShort);
        }
        if s.len() > PASSWORD_MAX_BYTES {
            return Err(PasswordError::TooLong);
        }
        if s.contains('\0') {
            return Err(PasswordError::Nul);
        }
        Ok(Self(s))
    }

    /// The secret itself, for the hasher alone.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A password as a client sent it to be checked (a login, a `current_password`), not stored: any text, so a
/// malformed one simply does not match. Its `Debug` never prints it, and it is not `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordAttempt(String);

impl PasswordAttempt {
    pub fn new(attempt: impl Into<String>) -> Self {
        Self(attempt.into())
    }

    /// The secret itself, for the password check alone.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordAttempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordAttempt(<redacted>)")
    }
}

/// A password hash as the hasher made it (a bcrypt string), or as an import brought it (a format the hasher
/// recognizes). Never returned, never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

/// What an account without a usable password stores (an import's `password_hash: null`): no hasher makes or
/// accepts it, as `!` in /etc/shadow.
const UNUSABLE_HASH: &str = "!";

impl PasswordHash {
    pub fn new(hash: impl Into<String>) -> Self {
        Self(hash.into())
    }

    /// No password matches it: a login fails as with a wrong password (and costs the same).
    pub fn unusable() -> Self {
        Self(UNUSABLE_HASH.to_owned())
    }

    pub fn is_usable(&self) -> bool {
        self.0 != UNUSABLE_HASH
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_bytes_not_characters() {
        assert!(Password::parse("12345678").is_ok());
        assert!(Password::parse("é".repeat(36)).is_ok()); // 72 bytes
        assert_eq!(Password::parse("é".repeat(36) + "x"), Err(PasswordError::TooLong));
        assert_eq!(Password::parse("x".repeat(73)), Err(PasswordError::TooLong));
        assert_eq!(Password::parse("1234567"), Err(PasswordError::TooShort));
        assert_eq!(Password::parse("ééé"), Err(PasswordError::TooShort)); // 6 bytes
    }

    #[test]
    fn refuses_a_nul_which_bcrypt_would_stop_at() {
        assert_eq!(Password::parse("Secret12\0Secret12"), Err(PasswordError::Nul));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let password = Password::parse("hunter2hunter2").expect("valid");
        assert!(!format!("{password:?}").contains("hunter2"));
        assert!(!format!("{:?}", PasswordHash::new("$2b$04$abc")).contains("abc"));
        assert!(!format!("{:?}", PasswordAttempt::new("hunter2hunter2")).contains("hunter2"));
    }
}
