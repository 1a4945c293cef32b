//! The ports: what the domain needs from the outside world. Adapters implement them; tests mock them.

mod access_tokens;
mod breached_passwords;
mod clock;
mod login_failures;
mod mail_store;
mod mailer;
mod operations;
mod password_hasher;
mod refresh_tokens;
mod user_repository;
mod user_transfer;
mod verification_keys;

pub use access_tokens::{AccessClaims, AccessToken, AccessTokens, TokenError, TokenSubject};
pub use breached_passwords::{BreachCheckError, BreachedPasswords};
pub use login_failures::LoginFailureStore;
pub use mail_store::{MailIntent, MailStore, QueuedMail, StoredMailToken};
pub use mailer::{MailError, MailKind, MailMessage, MailSubject, MailSubjectError, Mailer, MAIL_SUBJECT_MAX_CHARS};
pub use operations::{PoolStats, StorageOperations};
pub use refresh_tokens::{Grace, RefreshTokenCodec, RefreshTokenStore, SpendOutcome, StoredRefreshToken};

pub use clock::{Clock, SystemClock};
pub use password_hasher::{HashError, PasswordHasher, UnsupportedHash};
pub use user_repository::{
    CreateUserError, DeleteUserError, ListUsersError, RepositoryError, UpdateUserError, UserRepository,
};
pub use user_transfer::{ImportedUser, StoredImport, UserTransfer};
pub use verification_keys::{VerificationKey, VerificationKeys};

/// Every storage port at once: each backend implements them all on one value (a store).
pub trait Storage:
    UserRepository + RefreshTokenStore + LoginFailureStore + MailStore + StorageOperations + UserTransfer
{
}
impl<T: UserRepository + RefreshTokenStore + LoginFailureStore + MailStore + StorageOperations + UserTransfer> Storage
    for T
{
}

#[cfg(any(test, feature = "mocks"))]
pub use access_tokens::MockAccessTokens;
#[cfg(any(test, feature = "mocks"))]
pub use breached_passwords::MockBreachedPasswords;
#[cfg(any(test, feature = "mocks"))]
pub use clock::MockClock;
#[cfg(any(test, feature = "mocks"))]
pub use login_failures::MockLoginFailureStore;
#[cfg(any(test, feature = "mocks"))]
pub use mail_store::MockMailStore;
#[cfg(any(test, feature = "mocks"))]
pub use mailer::MockMailer;
#[cfg(any(test, feature = "mocks"))]
pub use operations::MockStorageOperations;
#[cfg(any(test, feature = "mocks"))]
pub use password_hasher::MockPasswordHasher;
#[cfg(any(test, feature = "mocks"))]
pub use refresh_tokens::{MockRefreshTokenCodec, MockRefreshTokenStore};
#[cfg(any(test, feature = "mocks"))]
pub use user_repository::MockUserRepository;
#[cfg(any(test, feature = "mocks"))]
pub use user_transfer::MockUserTransfer;
#[cfg(any(test, feature = "mocks"))]
pub use verification_keys::MockVerificationKeys;
