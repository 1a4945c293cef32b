//! The ports: what the domain needs from the outside world. Adapters implement them; tests mock them.

mod access_tokens;
mod clock;
mod login_failures;
mod operations;
mod password_hasher;
mod refresh_tokens;
mod user_repository;

pub use access_tokens::{AccessClaims, AccessToken, AccessTokens, TokenError, TokenSubject};
pub use login_failures::LoginFailureStore;
pub use operations::{PoolStats, StorageOperations};
pub use refresh_tokens::{Grace, RefreshTokenCodec, RefreshTokenStore, SpendOutcome, StoredRefreshToken};

pub use clock::{Clock, SystemClock};
pub use password_hasher::{HashError, PasswordHasher};
pub use user_repository::{CreateUserError, DeleteUserError, RepositoryError, UpdateUserError, UserRepository};

/// Every storage port at once: each backend implements them all on one value (a store).
pub trait Storage: UserRepository + RefreshTokenStore + LoginFailureStore + StorageOperations {}
impl<T: UserRepository + RefreshTokenStore + LoginFailureStore + StorageOperations> Storage for T {}

#[cfg(any(test, feature = "mocks"))]
pub use access_tokens::MockAccessTokens;
#[cfg(any(test, feature = "mocks"))]
pub use clock::MockClock;
#[cfg(any(test, feature = "mocks"))]
pub use login_failures::MockLoginFailureStore;
#[cfg(any(test, feature = "mocks"))]
pub use operations::MockStorageOperations;
#[cfg(any(test, feature = "mocks"))]
pub use password_hasher::MockPasswordHasher;
#[cfg(any(test, feature = "mocks"))]
pub use refresh_tokens::{MockRefreshTokenCodec, MockRefreshTokenStore};
#[cfg(any(test, feature = "mocks"))]
pub use user_repository::MockUserRepository;
