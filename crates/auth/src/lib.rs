//! Credential adapters of users-api: bcrypt behind the domain's `PasswordHasher` port.

mod bcrypt_hasher;

pub use bcrypt_hasher::{BcryptHasher, InvalidCost};
