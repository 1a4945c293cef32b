//! Import and export of users in bulk (docs/api.md §9): the rules of an import line beyond its fields' own
//! (a duplicate within the file, a hash the hasher must recognize, timestamps kept), batches stored together, and
//! an export read in keyset pages so that neither holds every user at once.

use crate::auth::Caller;
use crate::password_policy::{PasswordPolicy, PolicyViolation};
use crate::ports::{
    Clock, HashError, ImportedUser, PasswordHasher, RepositoryError, StoredImport, UnsupportedHash, UserTransfer,
};
use crate::{
    fold_case, AccountStatus, Age, DisplayName, Email, NewUser, Password, PasswordHash, Role, Timestamp, User,
    UserFilter,
};
use crate::{UserId, Username};
use std::collections::HashMap;
use std::sync::Arc;

/// Users an export reads from storage at a time.
pub const EXPORT_BATCH: u32 = 1000;

#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("not allowed: {0}")]
    Forbidden(&'static str),
}

/// How an imported user's password comes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportedPassword {
    /// In plain text: hashed here, at the configured cost.
    Plain(Password),
    /// A hash made elsewhere, stored as it is once the hasher recognizes it.
    Hash(String),
    /// No usable password (`password_hash: null`): a login always fails until a reset sets one.
    Unusable,
}

/// One import line, each field already valid on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportCandidate {
    pub username: Username,
    pub email: Email,
    pub name: Option<DisplayName>,
    pub age: Option<Age>,
    pub role: Role,
    /// Now, when absent.
    pub created_at: Option<Timestamp>,
    /// `created_at`, when absent.
    pub updated_at: Option<Timestamp>,
    pub status: AccountStatus,
    pub email_verified: bool,
    pub last_login_at: Option<Timestamp>,
    pub password: ImportedPassword,
}

impl ImportCandidate {
    /// Whether preparing it runs the (slow) hasher: the caller takes its hashing turn for it.
    pub fn needs_hashing(&self) -> bool {
        matches!(self.password, ImportedPassword::Plain(_))
    }
}

/// Why one import line failed; the others go on.
#[derive(Debug, thiserror::Error)]
pub enum ImportLineError {
    #[error("already taken")]
    UsernameTaken,
    #[error("already taken")]
    EmailTaken,
    #[error("the same username (case-insensitively) as line {0} of this file")]
    DuplicateUsername(u64),
    #[error("the same email (case-insensitively) as line {0} of this file")]
    DuplicateEmail(u64),
    #[error(transparent)]
    UnsupportedHash(UnsupportedHash),
    #[error("must not be before created_at")]
    UpdatedBeforeCreated,
    /// A plain password the password policy refuses (docs/api.md §7).
    #[error(transparent)]
    WeakPassword(PolicyViolation),
    /// Its batch could not be committed (storage failed): nothing of it was stored.
    #[error("not stored: the storage failed")]
    NotStored,
    /// Its password could not be hashed.
    #[error("not stored: the password could not be hashed")]
    NotHashed,
}

impl ImportLineError {
    /// The field the error is about, as the import's result line names it.
    pub fn field(&self) -> &'static str {
        match self {
            Self::UsernameTaken | Self::DuplicateUsername(_) => "username",
            Self::EmailTaken | Self::DuplicateEmail(_) => "email",
            Self::UnsupportedHash(_) => "password_hash",
            Self::UpdatedBeforeCreated => "updated_at",
            Self::NotStored => "line",
            Self::NotHashed | Self::WeakPassword(_) => "password",
        }
    }
}

/// The ports the transfer use cases need.
pub struct TransferPorts {
    pub transfer: Arc<dyn UserTransfer>,
    pub hasher: Arc<dyn PasswordHasher>,
    pub clock: Arc<dyn Clock>,
    /// Judges the lines' plain passwords, as every password set elsewhere.
    pub policy: Arc<PasswordPolicy>,
}

#[derive(Clone)]
pub struct TransferService {
    transfer: Arc<dyn UserTransfer>,
    hasher: Arc<dyn PasswordHasher>,
    clock: Arc<dyn Clock>,
    policy: Arc<PasswordPolicy>,
    /// Whether an export may carry password hashes (`APP__AUTH__EXPORT_HASHES`).
    hashes_exportable: bool,
}

impl TransferService {
    pub fn new(ports: TransferPorts, hashes_exportable: bool) -> Self {
        Self {
            transfer: ports.transfer,
            hasher: ports.hasher,
            clock: ports.clock,
            policy: ports.policy,
            hashes_exportable,
        }
    }

    /// An import by `actor` (admins only), line by line then batch by batch.
    pub fn start_import(&self, actor: &Caller) -> Result<Import, TransferError> {
        if !actor.is_admin() {
            return Err(TransferError::Forbidden("only an admin may import users"));
        }
        Ok(Import {
            transfer: self.transfer.clone(),
            hasher: self.hasher.clone(),
            clock: self.clock.clone(),
            policy: self.policy.clone(),
            actor: actor.id(),
            usernames: HashMap::new(),
            emails: HashMap::new(),
        })
    }

    /// An export of the users matching `filter` (admins only; hashes only where the configuration allows).
    pub fn export(&self, actor: &Caller, filter: UserFilter, include_hashes: bool) -> Result<Export, TransferError> {
        if !actor.is_admin() {
            return Err(TransferError::Forbidden("only an admin may export users"));
        }
        if include_hashes && !self.hashes_exportable {
            return Err(TransferError::Forbidden(
                "password hashes are not exported by this instance (APP__AUTH__EXPORT_HASHES)",
            ));
        }
        tracing::info!(actor.id = actor.id().get(), include_hashes, "export started");
        Ok(Export { transfer: self.transfer.clone(), filter, after: None, done: false, include_hashes })
    }
}

/// One import in progress: remembers the usernames and emails of the file's earlier lines (folded), so a
/// duplicate within the file fails with the line it repeats.
pub struct Import {
    transfer: Arc<dyn UserTransfer>,
    hasher: Arc<dyn PasswordHasher>,
    clock: Arc<dyn Clock>,
    policy: Arc<PasswordPolicy>,
    actor: UserId,
    usernames: HashMap<String, u64>,
    emails: HashMap<String, u64>,
}

impl Import {
    /// The user line `line` stores, or why it fails: a duplicate of an earlier line, a hash the hasher does not
    /// take, timestamps out of order. A plain password is hashed here (the caller holds a hashing turn).
    pub async fn prepare(&mut self, line: u64, candidate: ImportCandidate) -> Result<ImportedUser, ImportLineError> {
        let username = candidate.username.folded();
        if let Some(earlier) = self.usernames.get(&username) {
            return Err(ImportLineError::DuplicateUsername(*earlier));
        }
        let email = fold_case(candidate.email.as_str());
        if let Some(earlier) = self.emails.get(&email) {
            return Err(ImportLineError::DuplicateEmail(*earlier));
        }
        let created_at = candidate.created_at.unwrap_or_else(|| self.clock.now());
        let updated_at = candidate.updated_at.unwrap_or(created_at);
        if updated_at < created_at {
            return Err(ImportLineError::UpdatedBeforeCreated);
        }
        let password_hash = match &candidate.password {
            ImportedPassword::Hash(hash) => self.hasher.recognize(hash).map_err(ImportLineError::UnsupportedHash)?,
            ImportedPassword::Unusable => PasswordHash::unusable(),
            ImportedPassword::Plain(password) => {
                // Judged before the (slow) hash, against the line's own names.
                self.policy
                    .check(password, &candidate.username, &candidate.email)
                    .await
                    .map_err(ImportLineError::WeakPassword)?;
                self.hasher.hash(password).await.map_err(|HashError::Unexpected(e)| {
                    tracing::error!(error = %e, "could not hash an imported password");
                    ImportLineError::NotHashed
                })?
            }
        };
        self.usernames.insert(username, line);
        self.emails.insert(email, line);
        let user = NewUser {
            username: candidate.username,
            email: candidate.email,
            name: candidate.name,
            age: candidate.age,
            role: candidate.role,
            password_hash,
            created_at,
            status: candidate.status,
            email_verified: candidate.email_verified,
        };
        Ok(ImportedUser { user, updated_at, last_login_at: candidate.last_login_at })
    }

    /// Stores prepared users together: each one's id, or why it was refused. `Err` when the batch could not be
    /// committed: none of it was stored.
    pub async fn store(
        &self,
        batch: Vec<ImportedUser>,
    ) -> Result<Vec<Result<UserId, ImportLineError>>, RepositoryError> {
        let stored = self.transfer.import_users(batch).await?;
        Ok(stored
            .into_iter()
            .map(|outcome| match outcome {
                StoredImport::Created(id) => {
                    tracing::info!(user.id = id.get(), actor.id = self.actor.get(), "user created (import)");
                    Ok(id)
                }
                StoredImport::UsernameTaken => Err(ImportLineError::UsernameTaken),
                StoredImport::EmailTaken => Err(ImportLineError::EmailTaken),
            })
            .collect())
    }
}

/// An export in progress: keyset pages by id, so each read costs the same however far the export has come.
pub struct Export {
    transfer: Arc<dyn UserTransfer>,
    filter: UserFilter,
    after: Option<UserId>,
    done: bool,
    /// Whether the lines carry password hashes.
    pub include_hashes: bool,
}

impl Export {
    /// The next users, by id; `None` once every match has been read.
    pub async fn next_batch(&mut self) -> Result<Option<Vec<User>>, RepositoryError> {
        if self.done {
            return Ok(None);
        }
        let users = self.transfer.export_users(&self.filter, self.after, EXPORT_BATCH).await?;
        self.done = users.len() < EXPORT_BATCH as usize;
        self.after = users.last().map(|u| u.id).or(self.after);
        if users.is_empty() {
            return Ok(None);
        }
        Ok(Some(users))
    }
}

#[cfg(test)]
mod tests;
