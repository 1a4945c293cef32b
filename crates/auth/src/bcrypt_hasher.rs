use crate::imported_hashes::{self, HashFormat};
use anyhow::{anyhow, Context};
use async_trait::async_trait;
use std::sync::Arc;
use tokio::sync::Semaphore;
use tracing::Instrument;
use users_domain::limits::PASSWORD_MAX_BYTES;
use users_domain::ports::{HashError, PasswordHasher, UnsupportedHash};
use users_domain::{Password, PasswordHash};

/// bcrypt at a configured cost (verifying, besides, the hashes an import may bring), run on tokio's blocking pool so a hash never stalls the async workers, and at most
/// `cores − 1` hashes at once (at least one), so a login flood queues for its turn instead of taking every core
/// from the other requests.
#[derive(Debug, Clone)]
pub struct BcryptHasher {
    cost: u32,
    turns: Arc<Semaphore>,
}

#[derive(Debug, thiserror::Error)]
#[error("bcrypt cost must be between {min} and {max}", min = bcrypt_cost::MIN, max = bcrypt_cost::MAX)]
pub struct InvalidCost;

mod bcrypt_cost {
    pub const MIN: u32 = 4;
    pub const MAX: u32 = 31;
}

impl BcryptHasher {
    /// How many hashes run at once: `cores − 1` (at least one), so hashing never takes every core. The HTTP layer
    /// hands out as many turns, fairly between clients; this bound stays for every other caller.
    pub fn concurrent_hashes() -> usize {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        cores.saturating_sub(1).max(1)
    }

    pub fn new(cost: u32) -> Result<Self, InvalidCost> {
        if (bcrypt_cost::MIN..=bcrypt_cost::MAX).contains(&cost) {
            Ok(Self { cost, turns: Arc::new(Semaphore::new(Self::concurrent_hashes())) })
        } else {
            Err(InvalidCost)
        }
    }
}

/// Runs `work` on the blocking pool inside the caller's tracing span, when a turn is free.
async fn off_the_workers<T: Send + 'static>(
    turns: &Semaphore,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, HashError> {
    let _turn = turns.acquire().await.context("the hashing turns are closed").map_err(HashError::Unexpected)?;
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(work))
        .in_current_span()
        .await
        .context("the hashing task failed")
        .map_err(HashError::Unexpected)
}

#[async_trait]
impl PasswordHasher for BcryptHasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError> {
        // `Password` already refuses more than 72 bytes; check again so nothing is ever silently truncated.
        // (bcrypt's `non_truncating_hash` would also refuse exactly 72 bytes, which the contract allows.)
        if password.expose().len() > PASSWORD_MAX_BYTES {
            return Err(HashError::Unexpected(anyhow!("password longer than bcrypt's limit")));
        }
        let secret = password.clone();
        let cost = self.cost;
        let hash = off_the_workers(&self.turns, move || bcrypt::hash(secret.expose(), cost)).await?;
        Ok(PasswordHash::new(hash.context("bcrypt could not hash")?))
    }

    /// bcrypt, and the formats an import may bring, each with its own algorithm.
    async fn verify(&self, password: &Password, hash: &PasswordHash) -> Result<bool, HashError> {
        let secret = password.clone();
        let hash = hash.as_str().to_owned();
        let format =
            imported_hashes::recognize(&hash, bcrypt_cost::MAX).map_err(|e| HashError::Unexpected(e.into()))?;
        let verified = off_the_workers(&self.turns, move || match format {
            HashFormat::Bcrypt { .. } => bcrypt::verify(secret.expose(), &hash).context("unusable bcrypt hash"),
            phc => imported_hashes::verify_phc(phc, secret.expose(), &hash),
        })
        .await?;
        Ok(verified?)
    }

    fn recognize(&self, hash: &str) -> Result<PasswordHash, UnsupportedHash> {
        let max_bcrypt_cost = self.cost.max(imported_hashes::MAX_IMPORTED_BCRYPT_COST);
        imported_hashes::recognize(hash, max_bcrypt_cost).map(|_| PasswordHash::new(hash))
    }

    /// Anything but bcrypt at the configured cost.
    fn needs_rehash(&self, hash: &PasswordHash) -> bool {
        !matches!(imported_hashes::recognize(hash.as_str(), bcrypt_cost::MAX), Ok(HashFormat::Bcrypt { cost }) if cost == self.cost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn password(s: &str) -> Password {
        Password::parse(s).expect("valid password")
    }

    #[tokio::test]
    async fn hashes_at_the_configured_cost_and_verifies() {
        let hasher = BcryptHasher::new(4).expect("valid cost");
        let hash = hasher.hash(&password("correct horse")).await.expect("hashed");
        assert!(hash.as_str().starts_with("$2b$04$"), "a bcrypt hash at cost 4");
        assert!(hasher.verify(&password("correct horse"), &hash).await.expect("verified"));
        assert!(!hasher.verify(&password("wrong horse!"), &hash).await.expect("verified"));
    }

    #[tokio::test]
    async fn all_72_bytes_count() {
        let hasher = BcryptHasher::new(4).expect("valid cost");
        let long = "x".repeat(71) + "a";
        let hash = hasher.hash(&password(&long)).await.expect("hashed");
        assert!(!hasher.verify(&password(&("x".repeat(71) + "b")), &hash).await.expect("verified"));
    }

    #[tokio::test]
    async fn imported_hashes_verify_and_ask_for_a_rehash_unless_bcrypt_at_the_configured_cost() {
        use crate::imported_hashes::tests::{ARGON2ID, PBKDF2};
        let hasher = BcryptHasher::new(4).expect("valid cost");
        let other_cost = PasswordHash::new(bcrypt::hash("correct horse", 5).expect("hashed"));
        for hash in [ARGON2ID, PBKDF2, other_cost.as_str()] {
            let hash = hasher.recognize(hash).expect("recognized");
            assert!(hasher.verify(&password("correct horse"), &hash).await.expect("verified"));
            assert!(!hasher.verify(&password("correct horsE"), &hash).await.expect("verified"));
            assert!(hasher.needs_rehash(&hash));
        }
        let current = hasher.hash(&password("correct horse")).await.expect("hashed");
        assert!(!hasher.needs_rehash(&current));
        assert!(hasher.recognize("md5:abc").is_err());
    }

    #[test]
    fn cost_outside_4_to_31_is_refused() {
        assert!(BcryptHasher::new(3).is_err());
        assert!(BcryptHasher::new(32).is_err());
        assert!(BcryptHasher::new(4).is_ok());
    }
}
