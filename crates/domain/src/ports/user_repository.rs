use crate::auth::LoginName;
use crate::{ListQuery, NewUser, Page, PasswordHash, SessionId, Timestamp, User, UserId, UserPatch};
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
    #[error("the last active admin cannot be demoted or disabled")]
    LastAdmin,
    /// The user's email is no longer the patch's `expected_email`.
    #[error("the email changed")]
    EmailChanged,
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

#[derive(Debug, thiserror::Error)]
pub enum DeleteUserError {
    #[error("no such user")]
    NotFound,
    #[error("the last active admin cannot be deleted")]
    LastAdmin,
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

#[derive(Debug, thiserror::Error)]
pub enum ListUsersError {
    /// `starting_after` names no user, or one the filter does not match: there is no such place in the listing.
    #[error("starting_after is not a user of this listing")]
    StartingAfterNotListed,
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
    /// With `starting_after`, the page is the users after that one in the query's order (offset ignored), at a
    /// cost that does not grow with its depth.
    /// MUST return `StartingAfterNotListed` if `starting_after` is no user, or one `query.filter` does not match.
    async fn list(&self, query: &ListQuery) -> Result<Page, ListUsersError>;

    /// Applies `patch` atomically and returns the user as stored.
    /// MUST return `NotFound` if there is no such user, `UsernameTaken` / `EmailTaken` as `create` does (another
    /// user only), `LastAdmin` if the patch would leave no active admin (bans judged at `patch.updated_at`) and
    /// `EmailChanged` if the user's email is not `patch.expected_email` (when given), decided atomically with the
    /// write. MUST bump the token version when `patch.ends_sessions()`.
    async fn update(&self, id: UserId, patch: UserPatch) -> Result<User, UpdateUserError>;

    /// MUST return `NotFound` if there is no such user and `LastAdmin` if it is the only active admin at `now`
    /// (atomically).
    async fn delete(&self, id: UserId, now: Timestamp) -> Result<(), DeleteUserError>;

    /// Sets the user's `last_login_at` to `at` (not `updated_at`) if the user exists and its token version is
    /// still `token_version`; returns whether it did. `false`: a password change, disable or delete committed
    /// since the login read the user, so the login must not begin a session.
    async fn record_login(&self, id: UserId, token_version: i64, at: Timestamp) -> Result<bool, RepositoryError>;

    /// Replaces the password hash by `new` only while it is still `current` (a rehash at login: a password change
    /// that committed meanwhile wins). Neither the token version nor `updated_at` moves: the password is the same.
    /// `true` when replaced.
    async fn replace_password_hash(
        &self,
        id: UserId,
        current: &PasswordHash,
        new: &PasswordHash,
    ) -> Result<bool, RepositoryError>;
}
