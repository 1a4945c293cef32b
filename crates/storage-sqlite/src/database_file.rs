//! The database file as it was opened. SQLite goes on writing into a file that was removed or replaced while it
//! was open; such writes vanish at the next start. So writes and readiness first check that the path still names
//! the file that was opened (one `stat`), and the service refuses writes (503) rather than lose them.

use anyhow::anyhow;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use users_domain::ports::RepositoryError;

pub(crate) struct DatabaseFile {
    path: PathBuf,
    /// Device and inode: what the path named when the database was opened.
    identity: (u64, u64),
}

impl DatabaseFile {
    /// The file at `path`, as it is now (opened already, so it exists).
    pub(crate) fn opened(path: &Path) -> std::io::Result<Self> {
        let metadata = std::fs::metadata(path)?;
        Ok(Self { path: path.to_owned(), identity: (metadata.dev(), metadata.ino()) })
    }

    /// `Unavailable` when the path no longer names the opened file (removed, renamed or replaced).
    pub(crate) fn check(&self) -> Result<(), RepositoryError> {
        match std::fs::metadata(&self.path) {
            Ok(metadata) if (metadata.dev(), metadata.ino()) == self.identity => Ok(()),
            Ok(_) => Err(RepositoryError::Unavailable(anyhow!("the database file was replaced while open"))),
            Err(e) => Err(RepositoryError::Unavailable(anyhow!("the database file is gone: {e}"))),
        }
    }
}
