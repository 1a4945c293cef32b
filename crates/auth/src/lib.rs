//! Credential adapters of users-api: bcrypt behind the `PasswordHasher` port, HS256 JWTs behind `AccessTokens`,
//! opaque random refresh tokens behind `RefreshTokenCodec`.

mod bcrypt_hasher;
mod jwt;
mod refresh_codec;

pub use bcrypt_hasher::{BcryptHasher, InvalidCost};
pub use jwt::JwtAccessTokens;
pub use refresh_codec::OpaqueRefreshTokens;
