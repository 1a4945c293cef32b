use crate::Password;
use async_trait::async_trait;

/// Why a breach check gave no answer. The password policy lets the password through either way (fail open).
#[derive(Debug, thiserror::Error)]
pub enum BreachCheckError {
    /// The service did not answer in time, could not be reached, or answered with an error.
    #[error("breached-password service unavailable")]
    Unavailable(#[source] anyhow::Error),
    #[error(transparent)]
    Unexpected(anyhow::Error),
}

/// Whether a password is known from data breaches (docs/api.md §7).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait BreachedPasswords: Send + Sync {
    /// MUST NOT send the password or its whole hash anywhere, MUST give up (with `Unavailable`) within its own
    /// deadline, and MUST NOT put the password or any part of its hash into an error.
    async fn is_breached(&self, password: &Password) -> Result<bool, BreachCheckError>;
}
