//! Refresh tokens in memory: one lock, so spending is atomic.

use crate::InMemoryStore;
use async_trait::async_trait;
use users_domain::ports::{RefreshTokenStore, RepositoryError, SpendOutcome, StoredRefreshToken};
use users_domain::{Timestamp, UserId};

#[derive(Default)]
pub(crate) struct RefreshTokens {
    tokens: std::collections::HashMap<String, Token>,
    /// Family id → (user, revoked).
    families: std::collections::HashMap<String, (UserId, bool)>,
}

struct Token {
    family_id: String,
    expires_at: Timestamp,
    spent: bool,
    token_version: i64,
}

#[async_trait]
impl RefreshTokenStore for InMemoryStore {
    async fn insert(&self, token: StoredRefreshToken) -> Result<(), RepositoryError> {
        let mut state = self.refresh_tokens();
        if !self.read().users.contains_key(&token.user_id) {
            return Ok(()); // deleted meanwhile: their sessions ended with them
        }
        state.families.entry(token.family_id.clone()).or_insert((token.user_id, false));
        let stored = Token {
            family_id: token.family_id,
            expires_at: token.expires_at,
            spent: false,
            token_version: token.token_version,
        };
        state.tokens.insert(token.token_hash, stored);
        Ok(())
    }

    async fn spend(&self, token_hash: &str, now: Timestamp) -> Result<SpendOutcome, RepositoryError> {
        let mut state = self.refresh_tokens();
        let RefreshTokens { tokens, families } = &mut *state;
        let Some(token) = tokens.get_mut(token_hash).filter(|t| t.expires_at > now) else {
            return Ok(SpendOutcome::Invalid);
        };
        let Some((user_id, revoked)) = families.get_mut(&token.family_id) else {
            return Ok(SpendOutcome::Invalid);
        };
        // Judged under the token lock with the user as stored now: a password change after this point bumps the
        // version, which the tokens issued from this spend carry.
        let Some(current_version) = self.read().users.get(user_id).map(|u| u.token_version) else {
            return Ok(SpendOutcome::Invalid); // the user is gone, and their sessions with them
        };
        if token.spent || *revoked || token.token_version != current_version {
            *revoked = true;
            return Ok(SpendOutcome::Reused { user_id: *user_id, family_id: token.family_id.clone() });
        }
        token.spent = true;
        Ok(SpendOutcome::Spent {
            user_id: *user_id,
            family_id: token.family_id.clone(),
            token_version: token.token_version,
        })
    }

    async fn revoke_family_of(&self, token_hash: &str, _now: Timestamp) -> Result<(), RepositoryError> {
        let mut state = self.refresh_tokens();
        if let Some(family_id) = state.tokens.get(token_hash).map(|t| t.family_id.clone()) {
            if let Some(family) = state.families.get_mut(&family_id) {
                family.1 = true;
            }
        }
        Ok(())
    }

    async fn revoke_user(&self, user_id: UserId, _now: Timestamp) -> Result<(), RepositoryError> {
        let mut state = self.refresh_tokens();
        for family in state.families.values_mut().filter(|(owner, _)| *owner == user_id) {
            family.1 = true;
        }
        Ok(())
    }

    async fn purge_refresh_tokens(&self, now: Timestamp) -> Result<u64, RepositoryError> {
        let mut state = self.refresh_tokens();
        let before = state.tokens.len();
        state.tokens.retain(|_, t| t.expires_at > now);
        let RefreshTokens { tokens, families } = &mut *state;
        families.retain(|id, _| tokens.values().any(|t| &t.family_id == id));
        Ok((before - state.tokens.len()) as u64)
    }
}
