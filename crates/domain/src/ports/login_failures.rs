use crate::ports::RepositoryError;
use crate::Timestamp;
use async_trait::async_trait;

/// Failed logins per login key (a user's id, or an unknown name), shared by every instance on one storage.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait LoginFailureStore: Send + Sync {
    async fn record(&self, key: &str, at: Timestamp) -> Result<(), RepositoryError>;

    /// The failures of `key` at or after `since`, oldest first.
    async fn since(&self, key: &str, since: Timestamp) -> Result<Vec<Timestamp>, RepositoryError>;

    /// Forgets the failures of `key` (a successful login).
    async fn clear(&self, key: &str) -> Result<(), RepositoryError>;

    /// Forgets the failure recorded for `key` at `at`, and no other: an attempt recorded before its check that
    /// proved the right password but was refused for another reason (a disabled account) counts neither way.
    async fn forget(&self, key: &str, at: Timestamp) -> Result<(), RepositoryError>;

    /// Forgets failures older than `before`; returns how many.
    async fn purge_login_failures(&self, before: Timestamp) -> Result<u64, RepositoryError>;
}
