use std::fmt;

/// A user's id: a positive 64-bit integer assigned by the repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserId(i64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be a positive 64-bit integer")]
pub struct UserIdError;

impl UserId {
    pub fn new(id: i64) -> Result<Self, UserIdError> {
        if id > 0 {
            Ok(Self(id))
        } else {
            Err(UserIdError)
        }
    }

    pub fn parse(s: &str) -> Result<Self, UserIdError> {
        // Only plain decimal digits: no sign, no spaces, no leading '+'.
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(UserIdError);
        }
        s.parse::<i64>().map_err(|_| UserIdError).and_then(Self::new)
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_positive_decimal_integers_are_ids() {
        assert_eq!(UserId::parse("42").map(UserId::get), Ok(42));
        assert_eq!(UserId::parse("9223372036854775807").map(UserId::get), Ok(i64::MAX));
        for bad in ["0", "-1", "+1", "", "abc", "1.5", " 1", "9223372036854775808"] {
            assert_eq!(UserId::parse(bad), Err(UserIdError), "{bad:?}");
        }
    }
}
