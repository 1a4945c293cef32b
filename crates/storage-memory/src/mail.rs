//! The mail outbox and mail tokens in memory: an in-process queue, one lock, so claims and token use are atomic.

use crate::InMemoryStore;
use async_trait::async_trait;
use users_domain::ports::{MailIntent, MailStore, QueuedMail, RepositoryError, StoredMailToken};
use users_domain::Timestamp;

#[derive(Default)]
pub(crate) struct Mail {
    last_id: i64,
    outbox: Vec<Queued>,
    tokens: std::collections::HashMap<String, StoredMailToken>,
}

struct Queued {
    id: i64,
    intent: MailIntent,
    attempts: u32,
    created_at: Timestamp,
    /// `None` once sent or given up.
    next_attempt_at: Option<Timestamp>,
}

#[async_trait]
impl MailStore for InMemoryStore {
    async fn enqueue_mail(
        &self,
        intent: MailIntent,
        now: Timestamp,
        since: Timestamp,
        limit: u32,
    ) -> Result<bool, RepositoryError> {
        let mut mail = self.mail();
        let recent = mail.outbox.iter().filter(|m| m.intent.address == intent.address && m.created_at > since).count();
        if recent >= limit as usize {
            return Ok(false);
        }
        mail.last_id += 1;
        let id = mail.last_id;
        mail.outbox.push(Queued { id, intent, attempts: 0, created_at: now, next_attempt_at: Some(now) });
        Ok(true)
    }

    async fn claim_mail(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        max: u32,
    ) -> Result<Vec<QueuedMail>, RepositoryError> {
        let mut mail = self.mail();
        let mut due: Vec<&mut Queued> =
            mail.outbox.iter_mut().filter(|m| m.next_attempt_at.is_some_and(|at| at <= now)).collect();
        due.sort_by_key(|m| (m.next_attempt_at, m.id));
        Ok(due
            .into_iter()
            .take(max as usize)
            .map(|m| {
                m.next_attempt_at = Some(lease_until);
                QueuedMail { id: m.id, intent: m.intent.clone(), attempts: m.attempts }
            })
            .collect())
    }

    async fn finish_mail(&self, id: i64) -> Result<(), RepositoryError> {
        if let Some(queued) = self.mail().outbox.iter_mut().find(|m| m.id == id) {
            queued.next_attempt_at = None;
        }
        Ok(())
    }

    async fn retry_mail(&self, id: i64, attempts: u32, at: Timestamp) -> Result<(), RepositoryError> {
        if let Some(queued) = self.mail().outbox.iter_mut().find(|m| m.id == id) {
            queued.attempts = attempts;
            queued.next_attempt_at = Some(at);
        }
        Ok(())
    }

    async fn insert_mail_token(&self, token: StoredMailToken) -> Result<(), RepositoryError> {
        let mut mail = self.mail();
        if self.read().users.contains_key(&token.user_id) {
            mail.tokens.insert(token.token_hash.clone(), token);
        }
        Ok(())
    }

    async fn find_mail_token(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<StoredMailToken>, RepositoryError> {
        let mail = self.mail();
        let token = mail.tokens.get(token_hash).filter(|t| t.expires_at > now);
        // A deleted user's tokens went with them.
        Ok(token.filter(|t| self.read().users.contains_key(&t.user_id)).cloned())
    }

    async fn take_mail_token(&self, token_hash: &str, now: Timestamp) -> Result<bool, RepositoryError> {
        let mut mail = self.mail();
        let usable = mail.tokens.get(token_hash).is_some_and(|t| t.expires_at > now);
        if usable {
            mail.tokens.remove(token_hash);
        }
        Ok(usable)
    }

    async fn purge_mail(&self, now: Timestamp, before: Timestamp) -> Result<u64, RepositoryError> {
        let mut mail = self.mail();
        let count = mail.tokens.len() + mail.outbox.len();
        mail.tokens.retain(|_, t| t.expires_at > now);
        mail.outbox.retain(|m| m.next_attempt_at.is_some() || m.created_at >= before);
        Ok((count - mail.tokens.len() - mail.outbox.len()) as u64)
    }
}
