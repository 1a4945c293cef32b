//! The mail use cases of docs/api.md §7: password reset and email verification, with the outbox sender. A request
//! queues only the mail's intent; the sender mints the token when it sends (so no usable token waits in storage),
//! and stores it hashed with the address it went to.

use crate::auth::{LoginKey, LoginName, PasswordCheck};
use crate::password_policy::{PasswordPolicy, PolicyViolation};
use crate::ports::{
    Clock, HashError, MailError, MailIntent, MailKind, MailMessage, MailStore, MailSubject, Mailer, PasswordHasher,
    QueuedMail, RefreshTokenCodec, RefreshTokenStore, RepositoryError, StoredMailToken, UpdateUserError,
    UserRepository,
};
use crate::{Email, Password, PasswordHash, Timestamp, User, UserPatch};
use std::sync::Arc;
use std::time::Duration;

/// At most this many mails per address per window, from the anonymous requests (docs/api.md §7).
pub const MAILS_PER_ADDRESS: u32 = 3;
const ADDRESS_WINDOW: time::Duration = time::Duration::hours(1);
/// Mails claimed per pass of the sender.
const CLAIM_BATCH: u32 = 20;
/// Finished mails are kept this long (the address limit counts them), then purged.
const KEEP_FINISHED: time::Duration = time::Duration::days(1);

#[derive(Debug, thiserror::Error)]
pub enum MailFlowError {
    /// Unknown, used, expired, of another kind, or for an address the user no longer has.
    #[error("invalid or expired token")]
    InvalidToken,
    #[error("password {0}")]
    WeakPassword(PolicyViolation),
    #[error("storage unavailable")]
    Unavailable(#[source] anyhow::Error),
    #[error(transparent)]
    Unexpected(anyhow::Error),
}

impl From<RepositoryError> for MailFlowError {
    fn from(e: RepositoryError) -> Self {
        match e {
            RepositoryError::Unavailable(e) => Self::Unavailable(e),
            RepositoryError::Unexpected(e) => Self::Unexpected(e),
        }
    }
}

impl From<HashError> for MailFlowError {
    fn from(e: HashError) -> Self {
        Self::Unexpected(e.into())
    }
}

/// What the sender did with one mail, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailOutcome {
    Sent,
    /// Will be tried again.
    Deferred,
    /// Given up: a permanent failure or the last attempt; or nothing to send any more (the user or address is gone).
    Failed,
    Dropped,
}

/// Token lifetimes and the sender's timing.
#[derive(Debug, Clone)]
pub struct MailFlowSettings {
    pub reset_ttl: Duration,
    pub verification_ttl: Duration,
    pub invite_ttl: Duration,
    pub max_attempts: u32,
    /// How long a claimed mail is another sender's: longer than one send may take.
    pub lease: Duration,
}

/// Builds the link a mail carries for its token (`<base>?token=…`).
pub type LinkBuilder = Arc<dyn Fn(&str) -> String + Send + Sync>;

pub struct MailFlowPorts {
    pub users: Arc<dyn UserRepository>,
    pub mail: Arc<dyn MailStore>,
    pub refresh_tokens: Arc<dyn RefreshTokenStore>,
    pub codec: Arc<dyn RefreshTokenCodec>,
    pub hasher: Arc<dyn PasswordHasher>,
    pub passwords: Arc<PasswordCheck>,
    pub policy: Arc<PasswordPolicy>,
    pub clock: Arc<dyn Clock>,
    pub mailer: Arc<dyn Mailer>,
    pub link: LinkBuilder,
}

#[derive(Clone)]
pub struct MailFlows {
    ports: Arc<MailFlowPorts>,
    settings: MailFlowSettings,
    /// Woken when a mail is queued, so this instance's sender sends it at once.
    queued: Arc<tokio::sync::Notify>,
}

fn after(at: Timestamp, duration: Duration) -> Timestamp {
    let duration = time::Duration::try_from(duration).unwrap_or(time::Duration::days(1));
    Timestamp::from_datetime(at.as_datetime() + duration)
}

impl MailFlows {
    pub fn new(ports: MailFlowPorts, settings: MailFlowSettings) -> Self {
        Self { ports: Arc::new(ports), settings, queued: Arc::new(tokio::sync::Notify::new()) }
    }

    /// Resolves when a mail was queued here since the last call.
    pub async fn mail_queued(&self) {
        self.queued.notified().await;
    }

    /// `POST /auth/password-reset`: queues a reset mail when the address is a user's (within the address limit).
    /// Whether a mail was queued; the caller answers alike either way.
    pub async fn request_password_reset(&self, email: &str) -> Result<bool, MailFlowError> {
        self.request(email, MailKind::PasswordReset, |_| true).await
    }

    /// `POST /auth/verify-email/resend`: queues a verification mail when the address is an unverified user's.
    pub async fn resend_verification(&self, email: &str) -> Result<bool, MailFlowError> {
        self.request(email, MailKind::EmailVerification, |user| !user.email_verified).await
    }

    async fn request(
        &self,
        email: &str,
        kind: MailKind,
        wanted: impl Fn(&User) -> bool,
    ) -> Result<bool, MailFlowError> {
        let name = LoginName::Email(email.to_owned());
        let Some(user) = self.ports.users.find_by_login_name(&name).await?.filter(|u| wanted(u)) else {
            return Ok(false);
        };
        let now = self.ports.clock.now();
        let since = Timestamp::from_datetime(now.as_datetime() - ADDRESS_WINDOW);
        let intent = MailIntent { user_id: user.id, kind, address: user.email };
        let queued = self.ports.mail.enqueue_mail(intent, now, since, MAILS_PER_ADDRESS).await?;
        if queued {
            self.queued.notify_one();
        } else {
            tracing::info!(user.id = user.id.get(), mail.kind = %kind, "mail not queued: address limit reached");
        }
        Ok(queued)
    }

    /// Queues a verification mail for a user's (new) address: a sign-up, an email change. Not limited.
    pub async fn send_verification(&self, user: &User) -> Result<(), MailFlowError> {
        self.queue(MailIntent { user_id: user.id, kind: MailKind::EmailVerification, address: user.email.clone() })
            .await
    }

    /// Queues the invite of a user an admin created without a password (docs/api.md §7). Not limited. The random
    /// password the user was created with becomes no usable password at all (as an import's `password_hash: null`),
    /// so an export says `null` until the invite sets one (docs/api.md §9).
    pub async fn send_invite(&self, user: &User) -> Result<(), MailFlowError> {
        let unusable = PasswordHash::unusable();
        self.ports.users.replace_password_hash(user.id, &user.password_hash, &unusable).await?;
        self.queue(MailIntent { user_id: user.id, kind: MailKind::Invite, address: user.email.clone() }).await
    }

    /// Tells the address a user had that their email changed (docs/api.md §3). Not limited.
    pub async fn send_email_changed(&self, user: &User, old_address: Email) -> Result<(), MailFlowError> {
        self.queue(MailIntent { user_id: user.id, kind: MailKind::EmailChanged, address: old_address }).await
    }

    async fn queue(&self, intent: MailIntent) -> Result<(), MailFlowError> {
        let now = self.ports.clock.now();
        self.ports.mail.enqueue_mail(intent, now, now, u32::MAX).await?;
        self.queued.notify_one();
        Ok(())
    }

    /// A password nobody knows, for an invited user until they choose theirs: 256 random bits.
    pub fn unknown_password(&self) -> Result<Password, MailFlowError> {
        let (random, _) = self.ports.codec.generate().map_err(MailFlowError::Unexpected)?;
        Password::parse(random).map_err(|e| MailFlowError::Unexpected(e.into()))
    }

    /// The unexpired token of one of `kinds` whose address is still its user's, with that user.
    async fn usable_token(&self, token: &str, kinds: &[MailKind]) -> Result<(String, User), MailFlowError> {
        let hash = self.ports.codec.hash(token);
        let now = self.ports.clock.now();
        let stored = self.ports.mail.find_mail_token(&hash, now).await?;
        let stored = stored.filter(|t| kinds.contains(&t.kind)).ok_or(MailFlowError::InvalidToken)?;
        let user = self.ports.users.find_by_id(stored.user_id).await?;
        let user = user.filter(|u| u.email == stored.address).ok_or(MailFlowError::InvalidToken)?;
        Ok((hash, user))
    }

    /// `POST /auth/password-reset/confirm`: a reset or invite token sets the password (the policy applies), ends
    /// every session, clears the lockout and marks the email verified (it received the token). A refused password
    /// leaves the token usable.
    pub async fn confirm_password_reset(&self, token: &str, password: &Password) -> Result<(), MailFlowError> {
        let (hash, user) = self.usable_token(token, &[MailKind::PasswordReset, MailKind::Invite]).await?;
        self.ports.policy.check(password, &user.username, &user.email).await.map_err(MailFlowError::WeakPassword)?;
        let password_hash = self.ports.hasher.hash(password).await?;
        let now = self.ports.clock.now();
        if !self.ports.mail.take_mail_token(&hash, now).await? {
            return Err(MailFlowError::InvalidToken); // used meanwhile
        }
        let patch = UserPatch {
            password_hash: Some(password_hash),
            // Written even when the user read was verified: an admin's `false` may commit meanwhile.
            email_verified: Some(true),
            expected_email: Some(user.email.clone()),
            ..UserPatch::at(now)
        };
        self.update(&user, patch).await?;
        if let Err(error) = self.ports.refresh_tokens.revoke_user(user.id, now).await {
            // The token version bumped with the password already ended every session.
            tracing::warn!(user.id = user.id.get(), error = %error, "could not mark the sessions revoked");
        }
        let keys = [
            LoginKey::user(user.id),
            LoginKey::unknown_name(user.username.as_str()),
            LoginKey::unknown_name(user.email.as_str()),
        ];
        self.ports.passwords.clear(&keys).await?;
        tracing::info!(user.id = user.id.get(), "password reset");
        Ok(())
    }

    /// `POST /auth/verify-email`: the token marks its address verified, if the user still has it.
    pub async fn verify_email(&self, token: &str) -> Result<(), MailFlowError> {
        let (hash, user) = self.usable_token(token, &[MailKind::EmailVerification]).await?;
        let now = self.ports.clock.now();
        if !self.ports.mail.take_mail_token(&hash, now).await? {
            return Err(MailFlowError::InvalidToken);
        }
        if !user.email_verified {
            let expected_email = Some(user.email.clone());
            self.update(&user, UserPatch { email_verified: Some(true), expected_email, ..UserPatch::at(now) }).await?;
        }
        tracing::info!(user.id = user.id.get(), "email verified");
        Ok(())
    }

    async fn update(&self, user: &User, patch: UserPatch) -> Result<User, MailFlowError> {
        self.ports.users.update(user.id, patch).await.map_err(|e| match e {
            // Deleted meanwhile, or the email changed since the token's address was checked. These patches never
            // remove an admin, so `LastAdmin` cannot come from the guard; it is taken as the email's change too.
            UpdateUserError::NotFound | UpdateUserError::EmailChanged | UpdateUserError::LastAdmin => {
                MailFlowError::InvalidToken
            }
            UpdateUserError::Repository(e) => e.into(),
            other => MailFlowError::Unexpected(other.into()),
        })
    }

    /// One pass of the sender: claims the due mails and sends each; returns what became of them.
    pub async fn send_due(&self) -> Result<Vec<MailOutcome>, MailFlowError> {
        let now = self.ports.clock.now();
        let claimed = self.ports.mail.claim_mail(now, after(now, self.settings.lease), CLAIM_BATCH).await?;
        let mut outcomes = Vec::with_capacity(claimed.len());
        for mail in claimed {
            outcomes.push(self.send_one(mail).await?);
        }
        Ok(outcomes)
    }

    /// Removes expired tokens and old finished mails.
    pub async fn purge(&self) -> Result<u64, MailFlowError> {
        let now = self.ports.clock.now();
        Ok(self.ports.mail.purge_mail(now, Timestamp::from_datetime(now.as_datetime() - KEEP_FINISHED)).await?)
    }

    async fn send_one(&self, mail: QueuedMail) -> Result<MailOutcome, MailFlowError> {
        let QueuedMail { id, intent, attempts } = mail;
        let (user_id, kind) = (intent.user_id.get(), intent.kind);
        let user = self.ports.users.find_by_id(intent.user_id).await?;
        // Tokens go only to the address the user has now; a notice of an email change goes to the old one.
        let Some(user) = user.filter(|u| kind == MailKind::EmailChanged || u.email == intent.address) else {
            tracing::info!(user.id = user_id, mail.kind = %kind, "mail dropped: the user or the address is gone");
            self.ports.mail.finish_mail(id).await?;
            return Ok(MailOutcome::Dropped);
        };
        let message = self.compose(&user, &intent).await?;
        match self.ports.mailer.send(&message).await {
            Ok(()) => {
                self.ports.mail.finish_mail(id).await?;
                tracing::info!(user.id = user_id, mail.kind = %kind, "mail sent");
                Ok(MailOutcome::Sent)
            }
            Err(error) => {
                let attempts = attempts.saturating_add(1);
                if error.is_transient() && attempts < self.settings.max_attempts {
                    let retry_at = after(self.ports.clock.now(), backoff(attempts));
                    self.ports.mail.retry_mail(id, attempts, retry_at).await?;
                    tracing::warn!(user.id = user_id, mail.kind = %kind, attempts, error = %error_chain(&error),
                        "mail not sent: will retry");
                    Ok(MailOutcome::Deferred)
                } else {
                    self.ports.mail.finish_mail(id).await?;
                    tracing::error!(user.id = user_id, mail.kind = %kind, attempts, error = %error_chain(&error),
                        "mail not sent: given up");
                    Ok(MailOutcome::Failed)
                }
            }
        }
    }

    /// The mail's text, with a freshly minted token stored hashed (none for a notice).
    async fn compose(&self, user: &User, intent: &MailIntent) -> Result<MailMessage, MailFlowError> {
        let ttl = match intent.kind {
            MailKind::PasswordReset => Some(self.settings.reset_ttl),
            MailKind::EmailVerification => Some(self.settings.verification_ttl),
            MailKind::Invite => Some(self.settings.invite_ttl),
            MailKind::EmailChanged => None,
        };
        let link = match ttl {
            Some(ttl) => {
                let (token, token_hash) = self.ports.codec.generate().map_err(MailFlowError::Unexpected)?;
                let expires_at = after(self.ports.clock.now(), ttl);
                let stored = StoredMailToken {
                    token_hash,
                    user_id: user.id,
                    kind: intent.kind,
                    address: intent.address.clone(),
                    expires_at,
                };
                self.ports.mail.insert_mail_token(stored).await?;
                Some(((self.ports.link)(&token), lifetime(ttl)))
            }
            None => None,
        };
        let name = user.username.as_str();
        let (subject, text_body) = match (intent.kind, link) {
            (MailKind::PasswordReset, Some((link, minutes))) => (
                "Reset your password",
                format!(
                    "Hello {name},\n\nsomeone asked to reset the password of your account. To choose a new one, open\n\n\
                     {link}\n\nThe link works once, for {minutes}. If you did not ask, ignore this mail: \
                     your password stays as it is.\n"
                ),
            ),
            (MailKind::EmailVerification, Some((link, minutes))) => (
                "Confirm your email address",
                format!(
                    "Hello {name},\n\nplease confirm that this is your address by opening\n\n{link}\n\n\
                     The link works once, for {minutes}.\n"
                ),
            ),
            (MailKind::Invite, Some((link, minutes))) => (
                "You are invited",
                format!(
                    "Hello {name},\n\nan account was created for you. To choose your password, open\n\n{link}\n\n\
                     The link works once, for {minutes}.\n"
                ),
            ),
            _ => (
                "Your email address was changed",
                format!(
                    "Hello {name},\n\nthe email address of your account was changed to another one. If you did not \
                     do this, reset your password and contact an administrator.\n"
                ),
            ),
        };
        let subject = MailSubject::parse(subject).map_err(|e| MailFlowError::Unexpected(e.into()))?;
        Ok(MailMessage { to: intent.address.clone(), subject, text_body, kind: intent.kind })
    }
}

/// A token's lifetime as a mail says it: "60 minutes", "24 hours", "7 days".
fn lifetime(ttl: Duration) -> String {
    let minutes = ttl.as_secs() / 60;
    match minutes {
        m if m >= 2 * 24 * 60 && m % (24 * 60) == 0 => format!("{} days", m / (24 * 60)),
        m if m >= 2 * 60 && m % 60 == 0 => format!("{} hours", m / 60),
        m => format!("{m} minutes"),
    }
}

/// 5 s after the first failure, doubling, at most 10 minutes.
fn backoff(attempts: u32) -> Duration {
    let secs = 5u64.saturating_mul(1u64 << attempts.saturating_sub(1).min(16));
    Duration::from_secs(secs.min(600))
}

/// The error with its causes (a token never appears in them: the mail's text is not part of any error).
fn error_chain(error: &MailError) -> String {
    let source = match error {
        MailError::Transient(e) | MailError::Permanent(e) => e,
    };
    format!("{error}: {source:#}")
}

#[cfg(test)]
#[path = "mail_flows/tests.rs"]
mod tests;
