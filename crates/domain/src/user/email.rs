use crate::limits::EMAIL_MAX_CHARS;
use std::fmt;

/// A valid address (the WHATWG/HTML form: `local@domain`), at most 254 characters, stored lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("must be at most {EMAIL_MAX_CHARS} characters long")]
    TooLong,
    #[error("must not have surrounding whitespace")]
    Whitespace,
    #[error("not a valid email address")]
    Invalid,
}

impl Email {
    pub fn parse(s: impl Into<String>) -> Result<Self, EmailError> {
        let s = s.into();
        if s.trim() != s {
            return Err(EmailError::Whitespace);
        }
        if s.chars().count() > EMAIL_MAX_CHARS {
            return Err(EmailError::TooLong);
        }
        let (local, domain) = s.split_once('@').ok_or(EmailError::Invalid)?;
        if !is_valid_local_part(local) || !is_valid_domain(domain) {
            return Err(EmailError::Invalid);
        }
        Ok(Self(s.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_valid_local_part(local: &str) -> bool {
    const SPECIALS: &str = ".!#$%&'*+/=?^_`{|}~-";
    (1..=64).contains(&local.len())
        && local.chars().all(|c| c.is_ascii_alphanumeric() || SPECIALS.contains(c))
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
}

fn is_valid_domain(domain: &str) -> bool {
    !domain.is_empty()
        && domain.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_addresses_are_lower_cased() {
        assert_eq!(Email::parse("Alice.B+x@Example.COM").map(|e| e.0), Ok("alice.b+x@example.com".into()));
        assert!(Email::parse("a@localhost").is_ok());
    }

    #[test]
    fn rejects_invalid_addresses() {
        for bad in ["", "alice", "@x.io", "a@", "a@@x.io", "a b@x.io", "a@x..io", "a@-x.io", ".a@x.io", "a@x_y.io"] {
            assert_eq!(Email::parse(bad), Err(EmailError::Invalid), "{bad:?}");
        }
        assert_eq!(Email::parse(" a@x.io"), Err(EmailError::Whitespace));
        assert_eq!(Email::parse("a@x.io\n"), Err(EmailError::Whitespace));
    }

    #[test]
    fn at_most_254_characters() {
        let domain = format!("{}.{}.{}.{}", "d".repeat(63), "d".repeat(63), "d".repeat(63), "d".repeat(59));
        let longest = format!("ab@{domain}");
        assert_eq!(longest.len(), 254);
        assert!(Email::parse(longest.clone()).is_ok());
        assert_eq!(Email::parse(format!("a{longest}")), Err(EmailError::TooLong));
    }
}
