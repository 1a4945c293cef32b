use crate::limits::{USERNAME_MAX_CHARS, USERNAME_MIN_CHARS};
use std::fmt;

/// 3–32 characters of `A-Z a-z 0-9 _ . -`, kept in the case it was given; unique case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    #[error("must be {USERNAME_MIN_CHARS}–{USERNAME_MAX_CHARS} characters long")]
    Length,
    #[error("may contain only letters A-Z and a-z, digits, '_', '.' and '-'")]
    Characters,
}

impl Username {
    pub fn parse(s: impl Into<String>) -> Result<Self, UsernameError> {
        let s = s.into();
        if !s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
            return Err(UsernameError::Characters);
        }
        // Only ASCII is left, so bytes are characters.
        if !(USERNAME_MIN_CHARS..=USERNAME_MAX_CHARS).contains(&s.len()) {
            return Err(UsernameError::Length);
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form uniqueness and filters compare.
    pub fn folded(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_alphabet_and_keeps_case() {
        let name = Username::parse("Al_ice.B-9").expect("valid");
        assert_eq!(name.as_str(), "Al_ice.B-9");
        assert_eq!(name.folded(), "al_ice.b-9");
        assert!(Username::parse("abc").is_ok());
        assert!(Username::parse("a".repeat(32)).is_ok());
    }

    #[test]
    fn rejects_bad_lengths_and_characters() {
        assert_eq!(Username::parse("ab"), Err(UsernameError::Length));
        assert_eq!(Username::parse("a".repeat(33)), Err(UsernameError::Length));
        for bad in ["al ice", "alice!", "ålice", "al@ce", "bob\n"] {
            assert_eq!(Username::parse(bad), Err(UsernameError::Characters), "{bad:?}");
        }
    }
}
