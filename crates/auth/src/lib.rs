//! Credential adapters of users-api: bcrypt behind the `PasswordHasher` port, HS256 or EdDSA JWTs behind
//! `AccessTokens` (and their public keys behind `VerificationKeys`),
//! opaque random refresh tokens behind `RefreshTokenCodec`, a Have I Been Pwned range API behind
//! `BreachedPasswords`.

mod bcrypt_hasher;
mod breached_passwords;
mod jwt;
mod refresh_codec;
mod signing_keys;

pub use bcrypt_hasher::{BcryptHasher, InvalidCost};
pub use breached_passwords::{HibpRangeApi, HibpUrlError, HIBP_DEFAULT_URL, HIBP_TIMEOUT};
pub use jwt::JwtAccessTokens;
pub use refresh_codec::OpaqueRefreshTokens;
pub use signing_keys::{generate_key_file, GenerateKeyError, KeyDirError, KeysLoaded, SigningKeys};
