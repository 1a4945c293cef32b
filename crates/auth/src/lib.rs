//! Credential adapters of users-api: bcrypt behind the `PasswordHasher` port (which also verifies the argon2id and
//! PBKDF2 hashes an import may bring), HS256 JWTs behind `AccessTokens`,
//! opaque random refresh tokens behind `RefreshTokenCodec`.

mod bcrypt_hasher;
mod imported_hashes;
mod jwt;
mod refresh_codec;

pub use bcrypt_hasher::{BcryptHasher, InvalidCost};
pub use jwt::JwtAccessTokens;
pub use refresh_codec::OpaqueRefreshTokens;
