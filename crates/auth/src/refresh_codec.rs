//! Refresh tokens: 256 random bits, base64url; stored as their SHA-256 (a fast hash suffices: the token itself
//! has full entropy, unlike a password). A rotation's new token is the spent one's HMAC-SHA256 under a key derived
//! from the server's secret: as unguessable as a random one without the key, and the same each time it is derived,
//! so a refresh repeated within the grace gets the same token without any token kept in plaintext.

use anyhow::Context;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use users_domain::ports::RefreshTokenCodec;

pub struct OpaqueRefreshTokens {
    successor_key: aws_lc_rs::hmac::Key,
}

impl OpaqueRefreshTokens {
    /// `secret`: the server's secret (`APP__AUTH__JWT_SECRET`); the successor key is derived from it, so it is
    /// never used as-is for two purposes.
    pub fn new(secret: &[u8]) -> Self {
        let derive = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
        let derived = aws_lc_rs::hmac::sign(&derive, b"users-api refresh token successor key v1");
        Self { successor_key: aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, derived.as_ref()) }
    }
}

impl std::fmt::Debug for OpaqueRefreshTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpaqueRefreshTokens(<key redacted>)")
    }
}

impl RefreshTokenCodec for OpaqueRefreshTokens {
    fn generate(&self) -> Result<(String, String), anyhow::Error> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("{e}")).context("no randomness")?;
        let token = URL_SAFE_NO_PAD.encode(bytes);
        let hash = self.hash(&token);
        Ok((token, hash))
    }

    fn hash(&self, token: &str) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
    }

    fn successor(&self, spent: &str) -> String {
        URL_SAFE_NO_PAD.encode(aws_lc_rs::hmac::sign(&self.successor_key, spent.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_stored_only_hashed() {
        let codec = OpaqueRefreshTokens::new(b"0123456789abcdef0123456789abcdef");
        let (first, first_hash) = codec.generate().expect("generated");
        let (second, _) = codec.generate().expect("generated");
        assert_ne!(first, second);
        assert_eq!(URL_SAFE_NO_PAD.decode(&first).expect("base64url").len(), 32, "256 bits");
        assert_ne!(first_hash, first);
        assert_eq!(codec.hash(&first), first_hash, "the same token always hashes alike");
    }

    #[test]
    fn a_successor_is_the_same_for_one_token_and_key_and_unlike_any_other() {
        let codec = OpaqueRefreshTokens::new(b"0123456789abcdef0123456789abcdef");
        let (token, _) = codec.generate().expect("generated");
        let next = codec.successor(&token);
        assert_eq!(codec.successor(&token), next, "derived again alike");
        assert_eq!(URL_SAFE_NO_PAD.decode(&next).expect("base64url").len(), 32, "256 bits");
        assert_ne!(next, token);
        assert_ne!(codec.successor(&next), next);
        let other_key = OpaqueRefreshTokens::new(b"another secret of thirty-two bytes!");
        assert_ne!(other_key.successor(&token), next, "without the key it cannot be derived");
    }
}
