//! `APP__MAIL__TRANSPORT=file`: each mail an `.eml` file in a folder, for development and tests.

use crate::message::{build, Sender};
use anyhow::Context;
use async_trait::async_trait;
use std::io::Write;
use std::path::{Path, PathBuf};
use users_domain::ports::{MailError, MailMessage, Mailer};

/// Writes mails into `dir`. A file appears whole or not at all (written under a temporary name, synced, then
/// renamed), so a reader that lists `*.eml` never sees half a mail.
pub struct FileMailer {
    dir: PathBuf,
    sender: Sender,
}

impl FileMailer {
    /// Creates `dir` if it is missing.
    pub fn new(dir: impl Into<PathBuf>, sender: Sender) -> std::io::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        Ok(Self { dir, sender })
    }
}

/// A name no other mail has, that sorts by the time it was written: `<unix micros>-<uuid v4>.eml`.
fn unique_name() -> String {
    let micros = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros());
    format!("{micros:020}-{}", uuid::Uuid::new_v4())
}

fn write_atomically(dir: &Path, name: &str, contents: &[u8]) -> anyhow::Result<PathBuf> {
    // A leading dot and another extension: not a `*.eml` until the rename.
    let temporary = dir.join(format!(".{name}.tmp"));
    let path = dir.join(format!("{name}.eml"));
    let written = (|| {
        let mut file = std::fs::File::create_new(&temporary)?;
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&temporary, &path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(e).with_context(|| format!("cannot write a mail into {}", dir.display()));
    }
    Ok(path)
}

#[async_trait]
impl Mailer for FileMailer {
    async fn send(&self, message: &MailMessage) -> Result<(), MailError> {
        let contents = build(&self.sender, message)?.formatted();
        let dir = self.dir.clone();
        // The folder may come back (a full disk freed, a permission fixed): every write failure is worth a retry.
        tokio::task::spawn_blocking(move || write_atomically(&dir, &unique_name(), &contents))
            .await
            .map_err(|e| MailError::Transient(e.into()))?
            .map_err(MailError::Transient)?;
        Ok(())
    }
}
