use crate::ports::{MailKind, RepositoryError};
use crate::{Email, Timestamp, UserId};
use async_trait::async_trait;

/// A mail's intent as the outbox keeps it: no token, no text (docs/api.md §7). The token is minted when it is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailIntent {
    pub user_id: UserId,
    pub kind: MailKind,
    pub address: Email,
}

/// A queued mail that one sender has claimed until its lease ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMail {
    pub id: i64,
    pub intent: MailIntent,
    /// Attempts made before this one.
    pub attempts: u32,
}

/// A reset, verification or invite token as it is stored: only its hash, with the address it was sent to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMailToken {
    pub token_hash: String,
    pub user_id: UserId,
    pub kind: MailKind,
    pub address: Email,
    pub expires_at: Timestamp,
}

/// The outbox of mails to send and the tokens sent in them; shared by every instance on one storage.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait MailStore: Send + Sync {
    /// Queues the mail, due at `now`, unless `limit` mails to the same address were queued since `since`;
    /// returns whether it was queued.
    async fn enqueue_mail(
        &self,
        intent: MailIntent,
        now: Timestamp,
        since: Timestamp,
        limit: u32,
    ) -> Result<bool, RepositoryError>;

    /// Claims up to `max` mails due at `now` (none claimed by another sender whose lease runs) until
    /// `lease_until`: of concurrent senders, each mail goes to one.
    async fn claim_mail(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        max: u32,
    ) -> Result<Vec<QueuedMail>, RepositoryError>;

    /// The mail is sent or given up: it is no longer due (it still counts toward its address's limit).
    async fn finish_mail(&self, id: i64) -> Result<(), RepositoryError>;

    /// Another attempt at `at`, with `attempts` made so far.
    async fn retry_mail(&self, id: i64, attempts: u32, at: Timestamp) -> Result<(), RepositoryError>;

    async fn insert_mail_token(&self, token: StoredMailToken) -> Result<(), RepositoryError>;

    /// The token with this hash, unless it expired by `now`.
    async fn find_mail_token(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<StoredMailToken>, RepositoryError>;

    /// Uses the token up: of concurrent calls, exactly one gets `true` (and only while it is unexpired).
    async fn take_mail_token(&self, token_hash: &str, now: Timestamp) -> Result<bool, RepositoryError>;

    /// Removes expired tokens and finished mails queued before `before`; returns how many rows.
    async fn purge_mail(&self, now: Timestamp, before: Timestamp) -> Result<u64, RepositoryError>;
}
