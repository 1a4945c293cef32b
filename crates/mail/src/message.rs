//! One domain `MailMessage` as an RFC 5322 message (lettre builds it: Date, Message-ID, MIME, encodings).

use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::Mailbox;
use lettre::Message;
use users_domain::ports::{MailError, MailKind, MailMessage};

/// The header that says what a mail is for (`password-reset`, `email-verification`, `invite`, `email-changed`).
pub const KIND_HEADER: &str = "X-Users-Api-Kind";

/// `APP__MAIL__FROM`: an address, optionally with a display name (`Users API <no-reply@example.com>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender(Mailbox);

#[derive(Debug, thiserror::Error)]
#[error("must be an email address, optionally with a name: Name <address@example.com>")]
pub struct SenderError;

impl Sender {
    pub fn parse(s: &str) -> Result<Self, SenderError> {
        s.trim().parse::<Mailbox>().map(Self).map_err(|_| SenderError)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct KindHeader(MailKind);

impl Header for KindHeader {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str(KIND_HEADER)
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        [MailKind::PasswordReset, MailKind::EmailVerification, MailKind::Invite, MailKind::EmailChanged]
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .map(Self)
            .ok_or_else(|| "unknown mail kind".into())
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.as_str().to_owned())
    }
}

/// The message to hand over; an address lettre cannot take is a permanent failure (retrying will not change it).
pub(crate) fn build(sender: &Sender, message: &MailMessage) -> Result<Message, MailError> {
    let to: Mailbox =
        message.to.as_str().parse().map_err(|e: lettre::address::AddressError| {
            MailError::Permanent(anyhow::anyhow!("recipient refused: {e}"))
        })?;
    Message::builder()
        .message_id(None)
        .from(sender.0.clone())
        .to(to)
        .subject(message.subject.as_str())
        .header(KindHeader(message.kind))
        .header(ContentType::TEXT_PLAIN)
        .body(message.text_body.clone())
        .map_err(|e| MailError::Permanent(anyhow::anyhow!("the message cannot be built: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use users_domain::ports::MailSubject;
    use users_domain::Email;

    #[test]
    fn a_sender_is_an_address_with_an_optional_name() {
        assert!(Sender::parse("no-reply@example.com").is_ok());
        assert!(Sender::parse("Users API <no-reply@example.com>").is_ok());
        for bad in ["", "no-reply", "Users API <>", "a@b.c\r\nBcc: x@y.z"] {
            assert!(Sender::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_message_is_rfc_5322_with_its_kind_and_an_encoded_utf8_body() {
        let sender = Sender::parse("Users API <no-reply@example.com>").expect("valid");
        let message = MailMessage {
            to: Email::parse("alice@example.com").expect("valid"),
            subject: MailSubject::parse("Réinitialiser").expect("valid"),
            text_body: "Bonjour, voilà le lien.\nhttps://app.example.com/account?token=abc\n".to_owned(),
            kind: MailKind::PasswordReset,
        };
        let formatted = String::from_utf8(build(&sender, &message).expect("built").formatted()).expect("ASCII");
        assert!(formatted.contains("From: \"Users API\" <no-reply@example.com>\r\n"), "{formatted}");
        assert!(formatted.contains("To: alice@example.com\r\n"), "{formatted}");
        assert!(formatted.contains("X-Users-Api-Kind: password-reset\r\n"), "{formatted}");
        assert!(formatted.contains("Date: ") && formatted.contains("Message-ID: "), "{formatted}");
        assert!(formatted.contains("Subject: =?utf-8?"), "non-ASCII subject encoded: {formatted}");
        assert!(formatted.is_ascii(), "everything encoded for the wire");
    }
}
