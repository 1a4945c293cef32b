use crate::ports::RepositoryError;
use crate::{Timestamp, UserId};
use async_trait::async_trait;

/// A refresh token as it is stored: only its hash, never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRefreshToken {
    pub token_hash: String,
    pub user_id: UserId,
    /// Every token rotated from one login shares its family; reuse of a spent one revokes the family.
    pub family_id: String,
    pub expires_at: Timestamp,
    /// The user's token version that the session's password check saw. A token works only while the user's
    /// version is still this one, so a password change (which bumps the version in the same write) ends every
    /// session begun before it, even a login or refresh that raced it.
    pub token_version: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpendOutcome {
    /// The token was active and is now spent: issue the next one in `family_id`, at `token_version`.
    Spent { user_id: UserId, family_id: String, token_version: i64 },
    /// The token was spent or revoked already: its family is now revoked (reuse detection).
    Reused { user_id: UserId, family_id: String },
    /// No such token, or it expired.
    Invalid,
}

/// Where refresh tokens live: shared by every instance on one storage.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait RefreshTokenStore: Send + Sync {
    /// Stores a token of a new or existing family (a new family belongs to `user_id`). MUST store nothing, and
    /// succeed, when the user no longer exists (a login that raced the user's delete).
    async fn insert(&self, token: StoredRefreshToken) -> Result<(), RepositoryError>;

    /// Spends the token atomically: of any number of concurrent calls with one active token, exactly one gets
    /// `Spent`. MUST return `Reused` (and revoke the family) for a token that is spent, whose family is revoked,
    /// or whose `token_version` is no longer its user's (decided in the same atomic step as the spend), and
    /// `Invalid` for an unknown or expired one.
    async fn spend(&self, token_hash: &str, now: Timestamp) -> Result<SpendOutcome, RepositoryError>;

    /// Revokes the family of this token, if there is one (logout).
    async fn revoke_family_of(&self, token_hash: &str, now: Timestamp) -> Result<(), RepositoryError>;

    /// Revokes every family of the user (password change, delete).
    async fn revoke_user(&self, user_id: UserId, now: Timestamp) -> Result<(), RepositoryError>;

    /// Removes expired and long-revoked rows; returns how many.
    async fn purge_refresh_tokens(&self, now: Timestamp) -> Result<u64, RepositoryError>;
}

/// Makes refresh tokens: opaque random strings of at least 256 bits, and the hash under which they are stored.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait RefreshTokenCodec: Send + Sync {
    /// A new token and its hash.
    fn generate(&self) -> Result<(String, String), anyhow::Error>;

    fn hash(&self, token: &str) -> String;
}
