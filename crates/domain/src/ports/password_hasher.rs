use crate::{Password, PasswordHash};
use async_trait::async_trait;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("password hashing failed")]
    Unexpected(#[from] anyhow::Error),
}

/// Why an imported hash cannot be taken: said to the importing admin, so it names no secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnsupportedHash {
    #[error("not a supported hash format (bcrypt $2a$/$2b$/$2y$, argon2id PHC, PBKDF2-SHA256 PHC)")]
    UnknownFormat,
    #[error("{0}")]
    OutOfBounds(String),
}

/// Turns passwords into hashes and checks them. Implementations MUST NOT run the (slow) hash on the async workers.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError>;

    /// MUST return `Ok(false)` for a wrong password, and `Err` only when the hash itself is unusable. Every hash
    /// that `recognize` accepted verifies, each with its own algorithm.
    async fn verify(&self, password: &Password, hash: &PasswordHash) -> Result<bool, HashError>;

    /// A hash brought from elsewhere (an import), if this hasher can verify it: its format known and its cost
    /// within bounds (a login must not take minutes).
    fn recognize(&self, hash: &str) -> Result<PasswordHash, UnsupportedHash>;

    /// Whether a hash that just verified should be replaced by a fresh one: another algorithm, or another cost
    /// than the configured one.
    fn needs_rehash(&self, hash: &PasswordHash) -> bool;
}
