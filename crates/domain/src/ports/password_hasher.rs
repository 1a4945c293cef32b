use crate::{Password, PasswordHash};
use async_trait::async_trait;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("password hashing failed")]
    Unexpected(#[from] anyhow::Error),
}

/// Turns passwords into hashes and checks them. Implementations MUST NOT run the (slow) hash on the async workers.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError>;

    /// MUST return `Ok(false)` for a wrong password, and `Err` only when the hash itself is unusable.
    async fn verify(&self, password: &Password, hash: &PasswordHash) -> Result<bool, HashError>;
}
