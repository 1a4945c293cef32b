use crate::ports::RepositoryError;
use async_trait::async_trait;

/// Connections of a storage pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    pub in_use: u32,
    pub idle: u32,
}

/// Running the storage rather than using it: readiness, metrics and shutdown reach the store through this port,
/// never through the use cases.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait StorageOperations: Send + Sync {
    /// Whether the storage serves reads now: for readiness checks.
    async fn ping(&self) -> Result<(), RepositoryError>;

    /// Closes connections at shutdown; the store is not used afterwards.
    async fn close(&self);

    /// The connection pool's state, for metrics; `None` without a pool.
    fn pool_stats(&self) -> Option<PoolStats>;
}
