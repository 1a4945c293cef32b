use crate::Timestamp;
use std::fmt;

/// The `status` field's values (docs/api.md §2): what a response says and what the listing filters on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum UserStatus {
    #[default]
    Active,
    Disabled,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be \"active\" or \"disabled\"")]
pub struct UserStatusError;

impl UserStatus {
    pub const ALL: [UserStatus; 2] = [UserStatus::Active, UserStatus::Disabled];

    pub fn parse(s: &str) -> Result<Self, UserStatusError> {
        match s {
            "active" => Ok(Self::Active),
            "disabled" => Ok(Self::Disabled),
            _ => Err(UserStatusError),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Disabled => "disabled",
        }
    }
}

impl fmt::Display for UserStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a user may sign in: active, or disabled until an admin re-enables them (`until: None`) or until a
/// time. A ban with an end lifts itself: it is judged at read time (`at`), nothing rewrites the stored row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AccountStatus {
    #[default]
    Active,
    Disabled {
        until: Option<Timestamp>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AccountStatusError {
    #[error("is only accepted with status \"disabled\"")]
    UntilWithoutDisabled,
    #[error("must be in the future")]
    UntilInPast,
}

impl AccountStatus {
    /// The status a request asks for at `now`: an end only with `Disabled`, and only a future one.
    pub fn parse(status: UserStatus, until: Option<Timestamp>, now: Timestamp) -> Result<Self, AccountStatusError> {
        match (status, until) {
            (UserStatus::Active, None) => Ok(Self::Active),
            (UserStatus::Active, Some(_)) => Err(AccountStatusError::UntilWithoutDisabled),
            (UserStatus::Disabled, Some(end)) if end <= now => Err(AccountStatusError::UntilInPast),
            (UserStatus::Disabled, until) => Ok(Self::Disabled { until }),
        }
    }

    /// The status as it holds at `now`: a ban whose end has passed reads as active.
    pub fn at(self, now: Timestamp) -> Self {
        match self {
            Self::Disabled { until: Some(end) } if end <= now => Self::Active,
            other => other,
        }
    }

    pub fn is_active_at(self, now: Timestamp) -> bool {
        self.at(now) == Self::Active
    }

    pub fn kind(self) -> UserStatus {
        match self {
            Self::Active => UserStatus::Active,
            Self::Disabled { .. } => UserStatus::Disabled,
        }
    }

    pub fn disabled_until(self) -> Option<Timestamp> {
        match self {
            Self::Active => None,
            Self::Disabled { until } => until,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).expect("valid")
    }

    #[test]
    fn exact_lower_case_names() {
        for status in UserStatus::ALL {
            assert_eq!(UserStatus::parse(status.as_str()), Ok(status));
        }
        assert_eq!(UserStatus::parse("Disabled"), Err(UserStatusError));
        assert_eq!(UserStatus::parse("banned"), Err(UserStatusError));
    }

    #[test]
    fn an_end_comes_only_with_disabled_and_only_in_the_future() {
        let now = at("2026-01-01T12:00:00Z");
        let later = at("2026-01-02T12:00:00Z");
        assert_eq!(AccountStatus::parse(UserStatus::Active, None, now), Ok(AccountStatus::Active));
        assert_eq!(AccountStatus::parse(UserStatus::Disabled, None, now), Ok(AccountStatus::Disabled { until: None }));
        assert_eq!(
            AccountStatus::parse(UserStatus::Disabled, Some(later), now),
            Ok(AccountStatus::Disabled { until: Some(later) })
        );
        assert_eq!(
            AccountStatus::parse(UserStatus::Active, Some(later), now),
            Err(AccountStatusError::UntilWithoutDisabled)
        );
        assert_eq!(AccountStatus::parse(UserStatus::Disabled, Some(now), now), Err(AccountStatusError::UntilInPast));
    }

    #[test]
    fn a_ban_with_an_end_lifts_itself() {
        let end = at("2026-01-02T00:00:00Z");
        let banned = AccountStatus::Disabled { until: Some(end) };
        assert!(!banned.is_active_at(at("2026-01-01T23:59:59Z")));
        assert_eq!(banned.at(end), AccountStatus::Active);
        let forever = AccountStatus::Disabled { until: None };
        assert_eq!(forever.at(at("2100-01-01T00:00:00Z")), forever);
    }
}
