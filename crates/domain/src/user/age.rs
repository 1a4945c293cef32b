use crate::limits::{AGE_MAX, AGE_MIN};

/// An optional age: 1–150.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Age(u8);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be between {AGE_MIN} and {AGE_MAX}")]
pub struct AgeError;

impl Age {
    pub fn parse(n: i64) -> Result<Self, AgeError> {
        if (AGE_MIN..=AGE_MAX).contains(&n) {
            u8::try_from(n).map(Self).map_err(|_| AgeError)
        } else {
            Err(AgeError)
        }
    }

    pub fn get(self) -> i64 {
        i64::from(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_1_to_150() {
        assert_eq!(Age::parse(1).map(Age::get), Ok(1));
        assert_eq!(Age::parse(150).map(Age::get), Ok(150));
        for bad in [0, -1, 151, i64::MAX, i64::MIN] {
            assert_eq!(Age::parse(bad), Err(AgeError), "{bad}");
        }
    }
}
