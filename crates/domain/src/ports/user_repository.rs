use crate::auth::LoginName;
use crate::{ListQuery, NewUser, Page, SessionId, User, UserId, UserPatch};
use async_trait::async_trait;

/// Failures of any repository operation that a caller cannot fix by changing its request.
#[derive(Debug, thiserror::Error)]
pub enum RepositoryError {
    /// The storage does not answer (down, unreachable, pool exhausted): worth retrying later.
    #[error("storage unavailable")]
    Unavailable(#[source] anyhow::Error),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    #[error("username taken")]
    UsernameTaken,
    #[error("email taken")]
    EmailTaken,
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

#[derive(Debug, thiserror::Error)]
pub enum UpdateUserError {
    #[error("no such user")]
    NotFound,
    #[error("username taken")]
    UsernameTaken,
    #[error("email taken")]
    EmailTaken,
    #[error("the last admin cannot be demoted")]
    LastAdmin,
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

#[derive(Debug, thiserror::Error)]
pub enum DeleteUserError {
    #[error("no such user")]
    NotFound,
    #[error("the last admin cannot be deleted")]
    LastAdmin,
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// Where users are kept (persistence only: running the storage is `StorageOperations`). The contract every adapter meets (checked by `testing::repository_contract`):
/// usernames and emails compare case-insensitively, ids are never reused, timestamps come back exactly as given.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Stores a new user under a fresh id.
    /// MUST return `UsernameTaken` / `EmailTaken` if another user has that username / email, case-insensitively,
    /// decided atomically with the insert (two racing inserts: exactly one succeeds). When both clash, either.
    async fn create(&self, user: NewUser) -> Result<User, CreateUserError>;

    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, RepositoryError>;

    /// The users with these ids that exist, in one round trip (a caller and the user it reads).
    async fn find_by_ids(&self, ids: &[UserId]) -> Result<Vec<User>, RepositoryError>;

    /// `caller` and the `others` that exist, in one round trip (one statement on SQL: the session is checked in
    /// the statement that loads the caller). The caller is left out unless `session` (when given) is a session of
    /// theirs that is not revoked: a revoked session's access tokens end at once.
    async fn find_caller<'a>(
        &self,
        caller: UserId,
        session: Option<&'a SessionId>,
        others: &[UserId],
    ) -> Result<Vec<User>, RepositoryError>;

    /// The user a login names: the one whose username or email (as `name` says) equals it as `fold_case` folds
    /// both, through the unique index, so a login costs the same however many users there are.
    async fn find_by_login_name(&self, name: &LoginName) -> Result<Option<User>, RepositoryError>;

    /// One page of the users matching `query.filter`, sorted as `query` says, and the count of all matches.
    async fn list(&self, query: &ListQuery) -> Result<Page, RepositoryError>;

    /// Applies `patch` atomically and returns the user as stored.
    /// MUST return `NotFound` if there is no such user, `UsernameTaken` / `EmailTaken` as `create` does (another
    /// user only), and `LastAdmin` if the patch would leave no admin, decided atomically with the write.
    async fn update(&self, id: UserId, patch: UserPatch) -> Result<User, UpdateUserError>;

    /// MUST return `NotFound` if there is no such user and `LastAdmin` if it is the only admin (atomically).
    async fn delete(&self, id: UserId) -> Result<(), DeleteUserError>;
}
