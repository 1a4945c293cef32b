//! The ports: what the domain needs from the outside world. Adapters implement them; tests mock them.

mod clock;
mod password_hasher;
mod user_repository;

pub use clock::{Clock, SystemClock};
pub use password_hasher::{HashError, PasswordHasher};
pub use user_repository::{
    CreateUserError, DeleteUserError, RepositoryError, UpdateUserError, UserRepository,
};

#[cfg(any(test, feature = "mocks"))]
pub use clock::MockClock;
#[cfg(any(test, feature = "mocks"))]
pub use password_hasher::MockPasswordHasher;
#[cfg(any(test, feature = "mocks"))]
pub use user_repository::MockUserRepository;
