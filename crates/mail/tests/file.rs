//! The file transport: every mail a whole `.eml` file of its own in the folder.

use std::path::PathBuf;
use users_domain::ports::{MailKind, MailMessage, MailSubject, Mailer};
use users_domain::Email;
use users_mail::{FileMailer, Sender};

struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(name: &str) -> Scratch {
    let path = std::env::temp_dir().join(format!("users-mail-file-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&path);
    Scratch(path)
}

fn message(to: &str) -> MailMessage {
    MailMessage {
        to: Email::parse(to).expect("valid"),
        subject: MailSubject::parse("Your password was reset").expect("valid"),
        text_body: "Hello,\nyour password was reset.\n".to_owned(),
        kind: MailKind::PasswordReset,
    }
}

fn sender() -> Sender {
    Sender::parse("no-reply@example.com").expect("valid")
}

#[tokio::test]
async fn each_mail_is_a_complete_eml_file_of_its_own_in_a_folder_created_if_missing() {
    let dir = scratch("many");
    let mailer = FileMailer::new(dir.0.join("nested/mail"), sender()).expect("folder created");
    let sends = (0..20).map(|i| {
        let mailer = &mailer;
        async move { mailer.send(&message(&format!("user{i}@example.com"))).await }
    });
    for result in futures_util::future::join_all(sends).await {
        result.expect("written");
    }
    let names: Vec<String> = std::fs::read_dir(dir.0.join("nested/mail"))
        .expect("folder")
        .map(|e| e.expect("entry").file_name().into_string().expect("UTF-8"))
        .collect();
    assert_eq!(names.len(), 20, "one file per mail, no temporary file left: {names:?}");
    let mut recipients = Vec::new();
    for name in &names {
        assert!(name.ends_with(".eml") && !name.starts_with('.'), "{name}");
        let text = std::fs::read_to_string(dir.0.join("nested/mail").join(name)).expect("read");
        let (head, body) = text.split_once("\r\n\r\n").expect("headers, a blank line, the body");
        assert!(head.contains("From: no-reply@example.com\r\n"), "{head}");
        assert!(head.contains("X-Users-Api-Kind: password-reset\r\n"), "{head}");
        assert!(body.contains("your password was reset."), "{body}");
        let to = head.lines().find_map(|l| l.strip_prefix("To: ")).expect("To").to_owned();
        recipients.push(to);
    }
    recipients.sort();
    recipients.dedup();
    assert_eq!(recipients.len(), 20, "every mail is there once");
}

#[cfg(unix)]
#[tokio::test]
async fn a_folder_that_cannot_be_written_is_a_transient_error() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch("read-only");
    let mailer = FileMailer::new(&dir.0, sender()).expect("folder created");
    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o500)).expect("read-only");
    let probe = dir.0.join("probe");
    if std::fs::write(&probe, b"x").is_ok() {
        // Running as root: permissions do not stop writes; remove the folder instead.
        std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o700)).expect("restored");
        std::fs::remove_dir_all(&dir.0).expect("removed");
    }
    let error = mailer.send(&message("alice@example.com")).await.expect_err("not written");
    assert!(error.is_transient(), "{error:?}");
    let _ = std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o700));
}
