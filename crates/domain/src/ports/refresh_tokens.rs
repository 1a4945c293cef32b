use crate::ports::RepositoryError;
use crate::{ClientInfo, Session, SessionId, Timestamp, UserId};
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
    /// When it was issued: a new family's session begins then; an existing one was last used then.
    pub issued_at: Timestamp,
    /// The client it was issued to: the session's last known client.
    pub client: ClientInfo,
}

/// The refresh grace (docs/api.md §6): a token spent since `spent_since` is answered with its successor (whose
/// hash is `successor_hash`) rather than as reuse, unless that successor was spent too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grace {
    pub successor_hash: String,
    pub spent_since: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpendOutcome {
    /// The token was active and is now spent: issue the next one in `family_id`, at `token_version`.
    Spent { user_id: UserId, family_id: String, token_version: i64 },
    /// The token was spent or revoked already: its family is now revoked (reuse detection).
    Reused { user_id: UserId, family_id: String },
    /// The token was spent within the grace and its successor is not spent: answer with that successor again.
    Repeated { user_id: UserId, family_id: String, token_version: i64 },
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
    /// `Invalid` for an unknown or expired one. With a `grace`, a token spent at or after `grace.spent_since`, of
    /// a family not revoked, at its user's version, whose successor (`grace.successor_hash`) is not spent, is
    /// `Repeated` instead of `Reused` (and nothing is revoked).
    async fn spend<'a>(
        &self,
        token_hash: &str,
        now: Timestamp,
        grace: Option<&'a Grace>,
    ) -> Result<SpendOutcome, RepositoryError>;

    /// Revokes the family of this token, if there is one (logout). `true` when it was live until now.
    async fn revoke_family_of(&self, token_hash: &str, now: Timestamp) -> Result<bool, RepositoryError>;

    /// The user's live sessions (family not revoked, newest token not expired at `now`), newest first (by
    /// `created_at`, then id).
    async fn sessions(&self, user_id: UserId, now: Timestamp) -> Result<Vec<Session>, RepositoryError>;

    /// Revokes that session if it is a live session of the user; `false` when it is not (unknown, another user's,
    /// revoked or expired).
    async fn revoke_session(
        &self,
        user_id: UserId,
        session: &SessionId,
        now: Timestamp,
    ) -> Result<bool, RepositoryError>;

    /// Revokes every live session of the user but `except`; returns how many were live.
    async fn revoke_sessions<'a>(
        &self,
        user_id: UserId,
        except: Option<&'a SessionId>,
        now: Timestamp,
    ) -> Result<u64, RepositoryError>;

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

    /// The token that follows `spent` in its family: derived with a server-held key, so a repeated refresh within
    /// the grace gets the same one without any token kept in plaintext.
    fn successor(&self, spent: &str) -> String;
}
