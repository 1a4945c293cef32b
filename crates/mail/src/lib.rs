//! users-api's mail adapters behind the domain's `Mailer` port (docs/api.md §7): `FileMailer` writes each mail as an
//! RFC 5322 `.eml` file into a folder (development and tests); `SmtpMailer` sends through an SMTP server with
//! STARTTLS, implicit TLS or (only when asked) in plain text.

mod file;
mod message;
mod smtp;

pub use file::FileMailer;
pub use message::{Sender, SenderError, KIND_HEADER};
pub use smtp::{SmtpConfigError, SmtpMailer, SmtpSecurity, SmtpUrl, SmtpUrlError};

/// `APP__MAIL__LINK_BASE`: where the links in mails point (`<base>?token=…`): an absolute http(s) URL without a
/// query or fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkBase(String);

#[derive(Debug, thiserror::Error)]
#[error("must be an http:// or https:// URL without ?query or #fragment, e.g. https://app.example.com/account")]
pub struct LinkBaseError;

impl LinkBase {
    pub fn parse(s: &str) -> Result<Self, LinkBaseError> {
        let url = url::Url::parse(s).map_err(|_| LinkBaseError)?;
        let usable = matches!(url.scheme(), "http" | "https")
            && url.host().is_some()
            && url.query().is_none()
            && url.fragment().is_none()
            && !s.contains(['?', '#']);
        usable.then(|| Self(s.to_owned())).ok_or(LinkBaseError)
    }

    /// The link that carries `token`.
    pub fn link(&self, token: &str) -> String {
        format!("{}?token={token}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_base_is_an_http_url_that_takes_the_token_as_its_query() {
        let base = LinkBase::parse("https://app.example.com/account").expect("valid");
        assert_eq!(base.link("abc"), "https://app.example.com/account?token=abc");
        for bad in ["app.example.com/account", "ftp://x/y", "https://x/y?a=b", "https://x/y#z", "https://x/y?"] {
            assert!(LinkBase::parse(bad).is_err(), "{bad}");
        }
    }
}
