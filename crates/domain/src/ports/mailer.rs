use crate::Email;
use async_trait::async_trait;
use std::fmt;

/// What a mail is for: the transport labels it, and a later outbox keeps it as the mail's intent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MailKind {
    PasswordReset,
    EmailVerification,
    Invite,
    /// Tells the old address that the account's email changed.
    EmailChanged,
}

impl MailKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PasswordReset => "password-reset",
            Self::EmailVerification => "email-verification",
            Self::Invite => "invite",
            Self::EmailChanged => "email-changed",
        }
    }

    /// The kind `as_str` names; `None` for any other text.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::PasswordReset, Self::EmailVerification, Self::Invite, Self::EmailChanged]
            .into_iter()
            .find(|kind| kind.as_str() == s)
    }
}

impl fmt::Display for MailKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A subject line: 1–200 characters, no control characters (so no header can be smuggled in with a line break).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailSubject(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailSubjectError {
    #[error("must be 1–{MAIL_SUBJECT_MAX_CHARS} characters long")]
    Length,
    #[error("must not contain control characters")]
    ControlCharacter,
}

pub const MAIL_SUBJECT_MAX_CHARS: usize = 200;

impl MailSubject {
    pub fn parse(s: impl Into<String>) -> Result<Self, MailSubjectError> {
        let s = s.into();
        if s.chars().any(char::is_control) {
            return Err(MailSubjectError::ControlCharacter);
        }
        if !(1..=MAIL_SUBJECT_MAX_CHARS).contains(&s.chars().count()) {
            return Err(MailSubjectError::Length);
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One plain-text mail to one address. The sender is the transport's (configured once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailMessage {
    pub to: Email,
    pub subject: MailSubject,
    /// Plain text; the transport encodes it (lines end as RFC 5322 wants on the wire).
    pub text_body: String,
    pub kind: MailKind,
}

/// Why a mail was not handed over; the outbox retries `Transient` ones and gives up on `Permanent` ones.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// Worth trying again later: the server did not answer in time, could not be reached, answered 4xx, the
    /// connection or TLS broke, or the mail folder could not be written.
    #[error("mail not sent (transient)")]
    Transient(#[source] anyhow::Error),
    /// Trying again will not help: the server refused the mail or the sender (5xx), or the message cannot be built.
    #[error("mail not sent (permanent)")]
    Permanent(#[source] anyhow::Error),
}

impl MailError {
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient(_))
    }
}

/// Hands mails over to a transport (an SMTP server, a folder).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Mailer: Send + Sync {
    /// `Ok` once the transport has accepted the mail (the server said 250, or the file is complete in the folder).
    /// MUST give up within its own deadline with `Transient`, and MUST classify every failure as `Transient` or
    /// `Permanent` as `MailError` describes.
    async fn send(&self, message: &MailMessage) -> Result<(), MailError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subject_has_no_line_break_and_a_bounded_length() {
        assert_eq!(MailSubject::parse("Reset your password").map(|s| s.0), Ok("Reset your password".into()));
        assert_eq!(MailSubject::parse("Hi\r\nBcc: x@y.io"), Err(MailSubjectError::ControlCharacter));
        assert_eq!(MailSubject::parse("tab\there"), Err(MailSubjectError::ControlCharacter));
        assert_eq!(MailSubject::parse(""), Err(MailSubjectError::Length));
        assert!(MailSubject::parse("é".repeat(200)).is_ok());
        assert_eq!(MailSubject::parse("é".repeat(201)), Err(MailSubjectError::Length));
    }
}
