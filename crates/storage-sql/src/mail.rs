//! The mail outbox and mail tokens (docs/api.md §7) over either SQL database.

use super::{user_id, Dialect, SqlStore};
use crate::errors::StatementContext as _;
use crate::rows::{TimeColumn, UserRow};
use crate::storage_error;
use async_trait::async_trait;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, FromRow, IntoArguments, Type};
use users_domain::ports::{MailIntent, MailKind, MailStore, QueuedMail, RepositoryError, StoredMailToken};
use users_domain::{Email, Timestamp};

/// Queued unless the address has had `$6` mails since `$5`.
const ENQUEUE: &str = "INSERT INTO mail_outbox (user_id, kind, address, created_at, next_attempt_at) \
     SELECT $1, $2, $3, $4, $4 WHERE (SELECT count(*) FROM mail_outbox WHERE address = $3 AND created_at > $5) < $6";

/// Claims due mails by moving their next attempt to the lease's end; `$lock` is how the rows are chosen. The outer
/// `next_attempt_at <= $1` is checked again on a row another sender claimed meanwhile (PostgreSQL re-reads a row it
/// waited for), so each mail is claimed once; SQLite runs writes one at a time.
macro_rules! claim {
    ($lock:literal) => {
        concat!(
            "UPDATE mail_outbox SET next_attempt_at = $2 \
             WHERE next_attempt_at <= $1 AND id IN \
               (SELECT id FROM mail_outbox WHERE next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $3",
            $lock,
            ") RETURNING id, user_id, kind, address, attempts"
        )
    };
}

const CLAIM: &str = claim!("");
/// Concurrent senders skip each other's rows rather than wait for them, and take the next due ones.
const CLAIM_SKIPPING_LOCKED: &str = claim!(" FOR UPDATE SKIP LOCKED");

fn kind(stored: &str) -> Result<MailKind, RepositoryError> {
    MailKind::parse(stored).ok_or_else(|| RepositoryError::Unexpected(anyhow::anyhow!("unknown mail kind {stored:?}")))
}

fn address(stored: String) -> Result<Email, RepositoryError> {
    Email::parse(stored).map_err(|e| RepositoryError::Unexpected(anyhow::anyhow!("stored mail address: {e}")))
}

for_every_dialect! {
    #[async_trait]
    impl MailStore for SqlStore {
        async fn enqueue_mail(
            &self,
            intent: MailIntent,
            now: Timestamp,
            since: Timestamp,
            limit: u32,
        ) -> Result<bool, RepositoryError> {
            let lock = D::LOCK_MAIL_ADDRESS.map(|sql| sqlx::query(sql).bind(intent.address.as_str().to_owned()));
            let insert = sqlx::query(ENQUEUE)
                .bind(intent.user_id.get())
                .bind(intent.kind.as_str().to_owned())
                .bind(intent.address.as_str().to_owned())
                .bind(D::Time::from_timestamp(now))
                .bind(D::Time::from_timestamp(since))
                .bind(i64::from(limit));
            let _turn = self.dialect.write_turn().await?;
            let queued = self
                .connections
                .transaction(async |c| {
                    if let Some(lock) = lock {
                        lock.execute(&mut *c).await.step("take the address's mail turn")?;
                    }
                    Ok(D::rows_affected(&insert.execute(c).await.step("queue a mail")?))
                })
                .await
                .map_err(storage_error)?;
            Ok(queued > 0)
        }

        async fn claim_mail(
            &self,
            now: Timestamp,
            lease_until: Timestamp,
            max: u32,
        ) -> Result<Vec<QueuedMail>, RepositoryError> {
            let _turn = self.dialect.write_turn().await?;
            let claim = sqlx::query_as(if D::ROW_LOCKS { CLAIM_SKIPPING_LOCKED } else { CLAIM })
                .bind(D::Time::from_timestamp(now))
                .bind(D::Time::from_timestamp(lease_until))
                .bind(i64::from(max));
            let rows: Vec<(i64, i64, String, String, i64)> = self
                .connections
                .run(async |c| claim.fetch_all(c).await.step("claim due mails"))
                .await
                .map_err(storage_error)?;
            rows.into_iter()
                .map(|(id, user, kind_text, to, attempts)| {
                    let intent = MailIntent { user_id: user_id(user)?, kind: kind(&kind_text)?, address: address(to)? };
                    Ok(QueuedMail { id, intent, attempts: u32::try_from(attempts).unwrap_or(u32::MAX) })
                })
                .collect()
        }

        async fn finish_mail(&self, id: i64) -> Result<(), RepositoryError> {
            let finish = sqlx::query("UPDATE mail_outbox SET next_attempt_at = NULL WHERE id = $1").bind(id);
            self.write_one(finish, "finish a mail").await.map(drop)
        }

        async fn retry_mail(&self, id: i64, attempts: u32, at: Timestamp) -> Result<(), RepositoryError> {
            let retry = sqlx::query("UPDATE mail_outbox SET attempts = $2, next_attempt_at = $3 WHERE id = $1")
                .bind(id)
                .bind(i64::from(attempts))
                .bind(D::Time::from_timestamp(at));
            self.write_one(retry, "schedule a mail's next attempt").await.map(drop)
        }

        async fn insert_mail_token(&self, token: StoredMailToken) -> Result<(), RepositoryError> {
            // A user deleted meanwhile has no row to refer to: nothing is stored (the foreign key would refuse it).
            let insert = sqlx::query(
                "INSERT INTO mail_tokens (token_hash, user_id, kind, address, expires_at) \
                 SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM users WHERE id = $2)",
            )
            .bind(token.token_hash)
            .bind(token.user_id.get())
            .bind(token.kind.as_str().to_owned())
            .bind(token.address.as_str().to_owned())
            .bind(D::Time::from_timestamp(token.expires_at));
            self.write_one(insert, "store a mail token").await.map(drop)
        }

        async fn find_mail_token(
            &self,
            token_hash: &str,
            now: Timestamp,
        ) -> Result<Option<StoredMailToken>, RepositoryError> {
            let select = sqlx::query_as(
                "SELECT user_id, kind, address, expires_at FROM mail_tokens WHERE token_hash = $1 AND expires_at > $2",
            )
            .bind(token_hash.to_owned())
            .bind(D::Time::from_timestamp(now));
            let row: Option<(i64, String, String, D::Time)> = self
                .connections
                .run(async |c| select.fetch_optional(c).await.step("find a mail token"))
                .await
                .map_err(storage_error)?;
            let Some((user, kind_text, to, expires_at)) = row else {
                return Ok(None);
            };
            let expires_at = expires_at
                .into_timestamp()
                .ok_or_else(|| RepositoryError::Unexpected(anyhow::anyhow!("a mail token's expiry is out of range")))?;
            Ok(Some(StoredMailToken {
                token_hash: token_hash.to_owned(),
                user_id: user_id(user)?,
                kind: kind(&kind_text)?,
                address: address(to)?,
                expires_at,
            }))
        }

        async fn take_mail_token(&self, token_hash: &str, now: Timestamp) -> Result<bool, RepositoryError> {
            let delete = sqlx::query("DELETE FROM mail_tokens WHERE token_hash = $1 AND expires_at > $2")
                .bind(token_hash.to_owned())
                .bind(D::Time::from_timestamp(now));
            Ok(self.write_one(delete, "use a mail token").await? > 0)
        }

        async fn purge_mail(&self, now: Timestamp, before: Timestamp) -> Result<u64, RepositoryError> {
            let tokens = sqlx::query("DELETE FROM mail_tokens WHERE expires_at <= $1").bind(D::Time::from_timestamp(now));
            let mails = sqlx::query("DELETE FROM mail_outbox WHERE next_attempt_at IS NULL AND created_at < $1")
                .bind(D::Time::from_timestamp(before));
            Ok(self.write_one(tokens, "purge expired mail tokens").await?
                + self.write_one(mails, "purge finished mails").await?)
        }
    }
}
