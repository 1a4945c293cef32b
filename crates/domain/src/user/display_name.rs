use crate::limits::{NAME_MAX_CHARS, NAME_MIN_CHARS};
use std::fmt;

/// An optional display name: trimmed, then 1–100 characters (not bytes).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DisplayName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DisplayNameError {
    #[error("must not be only whitespace")]
    Blank,
    #[error("must not contain control characters")]
    ControlCharacters,
    #[error("must be {NAME_MIN_CHARS}–{NAME_MAX_CHARS} characters long")]
    TooLong,
}

impl DisplayName {
    pub fn parse(s: &str) -> Result<Self, DisplayNameError> {
        let trimmed = s.trim();
        if trimmed.chars().any(char::is_control) {
            return Err(DisplayNameError::ControlCharacters);
        }
        let chars = trimmed.chars().count();
        if chars < NAME_MIN_CHARS {
            return Err(DisplayNameError::Blank);
        }
        if chars > NAME_MAX_CHARS {
            return Err(DisplayNameError::TooLong);
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Lower-cased as every backend compares names (`fold_case`): what `q` matches and `name_lower` stores.
    pub fn folded(&self) -> String {
        crate::fold_case(&self.0)
    }
}

impl fmt::Display for DisplayName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_then_counts_characters() {
        assert_eq!(DisplayName::parse("  Ada  ").map(|n| n.0), Ok("Ada".into()));
        assert!(DisplayName::parse(&"é".repeat(100)).is_ok());
        assert!(DisplayName::parse(&format!("  {}  ", "x".repeat(100))).is_ok());
        assert_eq!(DisplayName::parse(&"é".repeat(101)), Err(DisplayNameError::TooLong));
        assert_eq!(DisplayName::parse(" \t\n"), Err(DisplayNameError::Blank));
        assert_eq!(DisplayName::parse(""), Err(DisplayNameError::Blank));
        assert_eq!(DisplayName::parse("a\u{0}b"), Err(DisplayNameError::ControlCharacters));
        assert_eq!(DisplayName::parse("two\nlines"), Err(DisplayNameError::ControlCharacters));
    }
}
