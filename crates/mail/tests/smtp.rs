//! The SMTP adapter against a real SMTP server (aiosmtpd, installed by scripts/smtp-test-tools.sh) on loopback:
//! STARTTLS and implicit TLS with a CA this test makes, passed as the CA file; AUTH; plain only when asked; a server
//! that refuses (permanent) and one that never answers (transient, within the timeout).

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use users_domain::ports::{MailError, MailKind, MailMessage, MailSubject, Mailer};
use users_domain::Email;
use users_mail::{Sender, SmtpMailer, SmtpUrl};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The python that has aiosmtpd: `SMTP_TEST_PYTHON`, else the one scripts/smtp-test-tools.sh installs (once).
fn python() -> &'static str {
    static PYTHON: OnceLock<String> = OnceLock::new();
    PYTHON.get_or_init(|| {
        if let Ok(python) = std::env::var("SMTP_TEST_PYTHON") {
            return python;
        }
        let output = Command::new(workspace_root().join("scripts/smtp-test-tools.sh"))
            .stderr(Stdio::inherit())
            .output()
            .expect("scripts/smtp-test-tools.sh runs");
        assert!(output.status.success(), "scripts/smtp-test-tools.sh failed: it installs aiosmtpd from PyPI");
        String::from_utf8(output.stdout).expect("a path").trim().to_owned()
    })
}

/// A folder of the test's own, removed at the end.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("users-mail-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(path.join("spool")).expect("created");
        Self(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A CA of the test's own (written as ca.pem) and a certificate it signed for 127.0.0.1 and localhost: (cert file,
/// key file).
fn certificates(dir: &Path) -> (PathBuf, PathBuf) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "users-mail test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("key")).expect("CA");
    let server_key = KeyPair::generate().expect("key");
    let server_params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).expect("params");
    let server = server_params.signed_by(&server_key, &ca).expect("signed");
    let (cert, key) = (dir.join("server.pem"), dir.join("server.key"));
    std::fs::write(&cert, server.pem()).expect("written");
    std::fs::write(&key, server_key.serialize_pem()).expect("written");
    std::fs::write(dir.join("ca.pem"), ca.pem()).expect("written");
    (cert, key)
}

/// The running server; killed when dropped.
struct SmtpServer {
    child: Child,
    port: u16,
    spool: PathBuf,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SmtpServer {
    fn start(scratch: &Scratch, mode: &str, extra: &[&str]) -> Self {
        let (cert, key) = certificates(&scratch.0);
        let spool = scratch.0.join("spool");
        let mut child = Command::new(python())
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_server.py"))
            .args(["--mode", mode, "--spool"])
            .arg(&spool)
            .arg("--cert")
            .arg(&cert)
            .arg("--key")
            .arg(&key)
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .expect("the SMTP server starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("its port");
        let port = line.trim().strip_prefix("PORT ").and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("{line:?}"));
        Self { child, port, spool }
    }

    /// The mails it accepted.
    fn received(&self) -> Vec<Value> {
        let mut mails: Vec<Value> = std::fs::read_dir(&self.spool)
            .expect("spool")
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .map(|e| serde_json::from_slice(&std::fs::read(e.path()).expect("read")).expect("JSON"))
            .collect();
        mails.sort_by_key(|m| m["data"].as_str().unwrap_or_default().to_owned());
        mails
    }
}

fn message() -> MailMessage {
    MailMessage {
        to: Email::parse("alice@example.com").expect("valid"),
        subject: MailSubject::parse("Verify your address").expect("valid"),
        text_body: "Open https://app.example.com/account?token=abc to verify.\n".to_owned(),
        kind: MailKind::EmailVerification,
    }
}

fn mailer(url: &str, ca_pem: Option<&[u8]>, timeout: Duration) -> SmtpMailer {
    let sender = Sender::parse("Users API <no-reply@example.com>").expect("valid");
    SmtpMailer::new(&SmtpUrl::parse(url).expect("valid URL"), ca_pem, timeout, sender).expect("mailer")
}

/// The CA that signed the running server's certificate, as the CA-file setting would read it.
fn ca_of(scratch: &Scratch) -> Vec<u8> {
    std::fs::read(scratch.0.join("ca.pem")).expect("CA file")
}

#[tokio::test]
async fn starttls_with_the_ca_file_and_auth_delivers_the_mail() {
    let scratch = Scratch::new("starttls");
    let server = SmtpServer::start(&scratch, "starttls", &["--user", "mailer", "--password", "s3cret:pass"]);
    let url = format!("smtp://mailer:s3cret%3Apass@127.0.0.1:{}", server.port);
    mailer(&url, Some(&ca_of(&scratch)), Duration::from_secs(10)).send(&message()).await.expect("sent");
    let mails = server.received();
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail["encrypted"], true, "{mail}");
    assert_eq!(mail["login"], "mailer", "{mail}");
    assert_eq!(mail["mail_from"], "no-reply@example.com");
    assert_eq!(mail["rcpt_tos"], serde_json::json!(["alice@example.com"]));
    let data = mail["data"].as_str().expect("data");
    assert!(data.contains("Subject: Verify your address"), "{data}");
    assert!(data.contains("X-Users-Api-Kind: email-verification"), "{data}");
    assert!(data.contains("https://app.example.com/account?token=abc"), "{data}");
}

#[tokio::test]
async fn implicit_tls_on_smtps_delivers_the_mail() {
    let scratch = Scratch::new("implicit");
    let server = SmtpServer::start(&scratch, "implicit", &["--user", "mailer", "--password", "pw"]);
    let url = format!("smtps://mailer:pw@127.0.0.1:{}", server.port);
    mailer(&url, Some(&ca_of(&scratch)), Duration::from_secs(10)).send(&message()).await.expect("sent");
    let mails = server.received();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0]["encrypted"], true, "{}", mails[0]);
    assert_eq!(mails[0]["login"], "mailer");
}

#[tokio::test]
async fn without_the_ca_file_the_servers_certificate_is_not_trusted_and_nothing_is_sent() {
    let scratch = Scratch::new("untrusted");
    let server = SmtpServer::start(&scratch, "starttls", &[]);
    let url = format!("smtp://127.0.0.1:{}", server.port);
    let error = mailer(&url, None, Duration::from_secs(10)).send(&message()).await.expect_err("untrusted");
    assert!(error.is_transient(), "{error:?}");
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn plain_text_only_when_asked() {
    let scratch = Scratch::new("plain");
    let server = SmtpServer::start(&scratch, "plain", &[]);
    // smtp:// means STARTTLS: a server without it gets nothing.
    let url = format!("smtp://127.0.0.1:{}", server.port);
    let error = mailer(&url, None, Duration::from_secs(10)).send(&message()).await.expect_err("no STARTTLS");
    assert!(server.received().is_empty(), "{error:?}");
    let url = format!("smtp://127.0.0.1:{}?tls=off", server.port);
    mailer(&url, None, Duration::from_secs(10)).send(&message()).await.expect("sent in plain text");
    let mails = server.received();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0]["encrypted"], false);
}

#[tokio::test]
async fn a_refused_recipient_or_login_is_a_permanent_error() {
    let scratch = Scratch::new("refuse");
    let server = SmtpServer::start(&scratch, "starttls", &["--refuse"]);
    let url = format!("smtp://127.0.0.1:{}", server.port);
    let error = mailer(&url, Some(&ca_of(&scratch)), Duration::from_secs(10)).send(&message()).await.expect_err("550");
    assert!(matches!(error, MailError::Permanent(_)), "{error:?}");

    let scratch = Scratch::new("wrong-login");
    let server = SmtpServer::start(&scratch, "starttls", &["--user", "mailer", "--password", "right"]);
    let url = format!("smtp://mailer:wrong@127.0.0.1:{}", server.port);
    let error = mailer(&url, Some(&ca_of(&scratch)), Duration::from_secs(10)).send(&message()).await.expect_err("535");
    assert!(matches!(error, MailError::Permanent(_)), "{error:?}");
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn a_server_that_never_answers_is_a_transient_error_within_the_timeout() {
    // Accepts connections and never says a word.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bound");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let started = Instant::now();
    let url = format!("smtp://127.0.0.1:{port}");
    let error = mailer(&url, None, Duration::from_secs(2)).send(&message()).await.expect_err("timed out");
    let waited = started.elapsed();
    assert!(matches!(error, MailError::Transient(_)), "{error:?}");
    assert!(waited >= Duration::from_millis(1900) && waited < Duration::from_secs(3), "{waited:?}");
}
