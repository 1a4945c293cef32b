use crate::ports::RepositoryError;
use crate::{NewUser, Timestamp, UserFilter, UserId};
use async_trait::async_trait;

/// A user as an import stores it: a new user whose `updated_at` may differ from its `created_at` (an export of
/// another instance keeps both).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedUser {
    pub user: NewUser,
    pub updated_at: Timestamp,
    /// As the other instance had it (an export writes it).
    pub last_login_at: Option<Timestamp>,
}

/// What became of one user of an imported batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredImport {
    Created(UserId),
    UsernameTaken,
    EmailTaken,
}

/// Users in bulk: imports in batches and exports in keyset pages, so neither holds every user at once.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait UserTransfer: Send + Sync {
    /// Stores the batch in one transaction: when this returns `Ok`, every `Created` user is committed. MUST answer
    /// one outcome per user, in order: `UsernameTaken` / `EmailTaken` (decided atomically with the insert, as
    /// `UserRepository::create` does; when both clash, either) leave the others unaffected. The batch holds no two
    /// users with the same username or email (the caller removes duplicates). On `Err`, nothing is stored.
    async fn import_users(&self, users: Vec<ImportedUser>) -> Result<Vec<StoredImport>, RepositoryError>;

    /// Up to `limit` users matching `filter` whose id is greater than `after` (any, when `None`), by id
    /// ascending: one keyset page of an export.
    async fn export_users(
        &self,
        filter: &UserFilter,
        after: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<crate::User>, RepositoryError>;
}
