//! Refresh tokens: 256 random bits, base64url; stored as their SHA-256 (a fast hash suffices: the token itself
//! has full entropy, unlike a password).

use anyhow::Context;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use users_domain::ports::RefreshTokenCodec;

#[derive(Debug, Default, Clone, Copy)]
pub struct OpaqueRefreshTokens;

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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_stored_only_hashed() {
        let codec = OpaqueRefreshTokens;
        let (first, first_hash) = codec.generate().expect("generated");
        let (second, _) = codec.generate().expect("generated");
        assert_ne!(first, second);
        assert_eq!(URL_SAFE_NO_PAD.decode(&first).expect("base64url").len(), 32, "256 bits");
        assert_ne!(first_hash, first);
        assert_eq!(codec.hash(&first), first_hash, "the same token always hashes alike");
    }
}
