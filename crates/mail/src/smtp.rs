//! `APP__MAIL__TRANSPORT=smtp`: lettre over tokio with rustls (aws-lc-rs), trusting the system's roots plus an
//! optional CA file. The URL says how: `smtp://` with STARTTLS (port 587 unless given), `smtps://` with implicit
//! TLS (465), `smtp://…?tls=off` in plain text (25); `user:pass@` logs in.

use crate::message::{build, Sender};
use async_trait::async_trait;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};
use std::time::Duration;
use users_domain::ports::{MailError, MailMessage, Mailer};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain at first, then STARTTLS, which the server must offer.
    StartTls,
    /// TLS from the first byte (`smtps://`).
    ImplicitTls,
    /// No TLS at all (`?tls=off`): for a relay on the same host or network only.
    Plain,
}

/// `APP__MAIL__SMTP_URL`, parsed. Its `Debug` hides the password.
#[derive(Clone)]
pub struct SmtpUrl {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    user: Option<(String, SecretString)>,
}

impl std::fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpUrl")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("user", &self.user.as_ref().map(|(name, _)| name))
            .finish()
    }
}

/// What is wrong with the URL; never quotes it (it may hold a password).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmtpUrlError {
    #[error("must be smtp://[user:pass@]host[:port] (STARTTLS), smtps://… (implicit TLS) or smtp://…?tls=off (plain)")]
    Malformed,
    #[error("the only query parameter is tls=off, with smtp:// only")]
    Query,
    #[error("a user needs a password (user:pass@host)")]
    UserWithoutPassword,
}

impl SmtpUrl {
    pub fn parse(s: &str) -> Result<Self, SmtpUrlError> {
        let url = url::Url::parse(s).map_err(|_| SmtpUrlError::Malformed)?;
        let host = match url.host() {
            Some(url::Host::Domain(domain)) => domain.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            None => return Err(SmtpUrlError::Malformed),
        };
        if !matches!(url.path(), "" | "/") || url.fragment().is_some() {
            return Err(SmtpUrlError::Malformed);
        }
        let tls_off = match url.query() {
            None => false,
            Some("tls=off") if url.scheme() == "smtp" => true,
            Some(_) => return Err(SmtpUrlError::Query),
        };
        let (security, default_port) = match (url.scheme(), tls_off) {
            ("smtp", false) => (SmtpSecurity::StartTls, 587),
            ("smtp", true) => (SmtpSecurity::Plain, 25),
            ("smtps", _) => (SmtpSecurity::ImplicitTls, 465),
            _ => return Err(SmtpUrlError::Malformed),
        };
        let user = match (url.username(), url.password()) {
            ("", None) => None,
            ("", Some(_)) => return Err(SmtpUrlError::Malformed),
            (_, None) => return Err(SmtpUrlError::UserWithoutPassword),
            (name, Some(password)) => {
                let name = percent_decode(name).ok_or(SmtpUrlError::Malformed)?;
                let password = percent_decode(password).ok_or(SmtpUrlError::Malformed)?;
                Some((name, SecretString::from(password)))
            }
        };
        Ok(Self { host, port: url.port().unwrap_or(default_port), security, user })
    }

    pub fn user(&self) -> Option<&str> {
        self.user.as_ref().map(|(name, _)| name.as_str())
    }
}

/// `%XX` escapes decoded (and nothing else: a `+` stays a `+`); `None` for a broken escape or non-UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(byte) = bytes.next() {
        if byte == b'%' {
            let hex = [bytes.next()?, bytes.next()?];
            out.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
        } else {
            out.push(byte);
        }
    }
    String::from_utf8(out).ok()
}

/// The CA file or the TLS set-up is unusable.
#[derive(Debug, thiserror::Error)]
pub enum SmtpConfigError {
    #[error("not a PEM file with at least one certificate")]
    CaFile,
    #[error("cannot set up TLS: {0}")]
    Tls(String),
}

const CERTIFICATE_PEM: &[u8] = b"-----BEGIN CERTIFICATE-----";

/// Sends through one SMTP server. Each mail opens its own connection.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    sender: Sender,
    timeout: Duration,
}

impl SmtpMailer {
    /// `ca_pem`: extra roots (PEM) trusted besides the system's. `timeout` bounds each mail's whole conversation.
    pub fn new(
        url: &SmtpUrl,
        ca_pem: Option<&[u8]>,
        timeout: Duration,
        sender: Sender,
    ) -> Result<Self, SmtpConfigError> {
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(url.host.clone())
            .port(url.port)
            .timeout(Some(timeout));
        if url.security != SmtpSecurity::Plain {
            let mut tls = TlsParameters::builder(url.host.clone());
            if let Some(pem) = ca_pem {
                // lettre takes a PEM without certificates as an empty list: refuse it here.
                if !pem.windows(CERTIFICATE_PEM.len()).any(|w| w == CERTIFICATE_PEM) {
                    return Err(SmtpConfigError::CaFile);
                }
                let certificate = Certificate::from_pem(pem).map_err(|_| SmtpConfigError::CaFile)?;
                tls = tls.add_root_certificate(certificate);
            }
            let tls = tls.build_rustls().map_err(|e| SmtpConfigError::Tls(e.to_string()))?;
            builder = builder.tls(match url.security {
                SmtpSecurity::ImplicitTls => Tls::Wrapper(tls),
                _ => Tls::Required(tls),
            });
        }
        if let Some((name, password)) = &url.user {
            builder = builder.credentials(Credentials::new(name.clone(), password.expose_secret().to_owned()));
        }
        Ok(Self { transport: builder.build(), sender, timeout })
    }
}

/// 5xx: the server will not take it, now or later. Everything else (4xx, no answer, a broken connection or TLS)
/// may pass on another try.
fn classify(error: lettre::transport::smtp::Error) -> MailError {
    if error.is_permanent() {
        MailError::Permanent(error.into())
    } else {
        MailError::Transient(error.into())
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, message: &MailMessage) -> Result<(), MailError> {
        let message = build(&self.sender, message)?;
        // lettre's own timeout covers each step; this one covers the whole conversation.
        match tokio::time::timeout(self.timeout, self.transport.send(message)).await {
            Ok(Ok(_response)) => Ok(()),
            Ok(Err(error)) => Err(classify(error)),
            Err(_) => {
                Err(MailError::Transient(anyhow::anyhow!("the SMTP server did not answer within {:?}", self.timeout)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_and_query_pick_the_security_and_default_port() {
        let url = SmtpUrl::parse("smtp://mail.example.com").expect("valid");
        assert_eq!((url.host.as_str(), url.port, url.security), ("mail.example.com", 587, SmtpSecurity::StartTls));
        let url = SmtpUrl::parse("smtps://mail.example.com").expect("valid");
        assert_eq!((url.port, url.security), (465, SmtpSecurity::ImplicitTls));
        let url = SmtpUrl::parse("smtp://127.0.0.1:2525?tls=off").expect("valid");
        assert_eq!((url.host.as_str(), url.port, url.security), ("127.0.0.1", 2525, SmtpSecurity::Plain));
        assert_eq!(SmtpUrl::parse("smtp://relay?tls=off").expect("valid").port, 25);
    }

    #[test]
    fn user_and_password_come_from_the_url_percent_decoded_and_hidden_from_debug() {
        let url = SmtpUrl::parse("smtp://mailer%40example.com:p%3Ass+w0rd@mail.example.com:587").expect("valid");
        assert_eq!(url.user(), Some("mailer@example.com"));
        assert_eq!(url.user.as_ref().map(|(_, p)| p.expose_secret().to_owned()), Some("p:ss+w0rd".to_owned()));
        assert!(!format!("{url:?}").contains("w0rd"));
    }

    #[test]
    fn anything_else_is_refused_without_quoting_the_url() {
        let cases = [
            ("http://mail.example.com", SmtpUrlError::Malformed),
            ("smtp://", SmtpUrlError::Malformed),
            ("smtp://mail.example.com/path", SmtpUrlError::Malformed),
            ("smtps://mail.example.com?tls=off", SmtpUrlError::Query),
            ("smtp://mail.example.com?tls=on", SmtpUrlError::Query),
            ("smtp://user@mail.example.com", SmtpUrlError::UserWithoutPassword),
        ];
        for (url, expected) in cases {
            assert_eq!(SmtpUrl::parse(url).map(|_| ()), Err(expected.clone()), "{url}");
        }
        let error = SmtpUrl::parse("smtp://u:hunter2@mail.example.com?x=1").expect_err("bad query");
        assert!(!error.to_string().contains("hunter2"));
    }
}
