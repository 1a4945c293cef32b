//! Refresh tokens and their sessions in memory: one lock, so spending is atomic.

use crate::InMemoryStore;
use async_trait::async_trait;
use users_domain::ports::{Grace, RefreshTokenStore, RepositoryError, SpendOutcome, StoredRefreshToken};
use users_domain::{ClientInfo, Session, SessionId, Timestamp, UserId};

#[derive(Default)]
pub(crate) struct RefreshTokens {
    tokens: std::collections::HashMap<String, Token>,
    families: std::collections::HashMap<String, Family>,
}

struct Token {
    family_id: String,
    expires_at: Timestamp,
    spent_at: Option<Timestamp>,
    token_version: i64,
}

/// A family: a session.
struct Family {
    user_id: UserId,
    revoked: bool,
    created_at: Timestamp,
    last_used_at: Timestamp,
    expires_at: Timestamp,
    client: ClientInfo,
}

impl Family {
    fn is_live(&self, now: Timestamp) -> bool {
        !self.revoked && self.expires_at > now
    }
}

impl RefreshTokens {
    /// Whether `session` is a session of `user` that is not revoked (what an access token needs).
    pub(crate) fn is_unrevoked_session_of(&self, user: UserId, session: &SessionId) -> bool {
        self.families.get(session.as_str()).is_some_and(|f| f.user_id == user && !f.revoked)
    }
}

#[async_trait]
impl RefreshTokenStore for InMemoryStore {
    async fn insert(&self, token: StoredRefreshToken) -> Result<(), RepositoryError> {
        let mut state = self.refresh_tokens();
        if !self.read().users.contains_key(&token.user_id) {
            return Ok(()); // deleted meanwhile: their sessions ended with them
        }
        let family = state.families.entry(token.family_id.clone()).or_insert_with(|| Family {
            user_id: token.user_id,
            revoked: false,
            created_at: token.issued_at,
            last_used_at: token.issued_at,
            expires_at: token.expires_at,
            client: token.client.clone(),
        });
        family.last_used_at = token.issued_at;
        family.expires_at = token.expires_at;
        family.client = token.client;
        let stored = Token {
            family_id: token.family_id,
            expires_at: token.expires_at,
            spent_at: None,
            token_version: token.token_version,
        };
        state.tokens.insert(token.token_hash, stored);
        Ok(())
    }

    async fn spend<'a>(
        &self,
        token_hash: &str,
        now: Timestamp,
        grace: Option<&'a Grace>,
    ) -> Result<SpendOutcome, RepositoryError> {
        let mut state = self.refresh_tokens();
        let successor_spent = grace
            .and_then(|g| state.tokens.get(&g.successor_hash))
            .is_some_and(|successor| successor.spent_at.is_some());
        let RefreshTokens { tokens, families } = &mut *state;
        let Some(token) = tokens.get_mut(token_hash).filter(|t| t.expires_at > now) else {
            return Ok(SpendOutcome::Invalid);
        };
        let Some(family) = families.get_mut(&token.family_id) else {
            return Ok(SpendOutcome::Invalid);
        };
        let user_id = family.user_id;
        // Judged under the token lock with the user as stored now: a password change after this point bumps the
        // version, which the tokens issued from this spend carry.
        let Some(current_version) = self.read().users.get(&user_id).map(|u| u.token_version) else {
            return Ok(SpendOutcome::Invalid); // the user is gone, and their sessions with them
        };
        let family_id = token.family_id.clone();
        let token_version = token.token_version;
        if family.revoked || token_version != current_version {
            family.revoked = true;
            return Ok(SpendOutcome::Reused { user_id, family_id });
        }
        match token.spent_at {
            None => {
                token.spent_at = Some(now);
                Ok(SpendOutcome::Spent { user_id, family_id, token_version })
            }
            Some(spent_at) if grace.is_some_and(|g| spent_at >= g.spent_since) && !successor_spent => {
                Ok(SpendOutcome::Repeated { user_id, family_id, token_version })
            }
            Some(_) => {
                family.revoked = true;
                Ok(SpendOutcome::Reused { user_id, family_id })
            }
        }
    }

    async fn revoke_family_of(&self, token_hash: &str, now: Timestamp) -> Result<bool, RepositoryError> {
        let mut state = self.refresh_tokens();
        let RefreshTokens { tokens, families } = &mut *state;
        let family = tokens.get(token_hash).and_then(|t| families.get_mut(&t.family_id));
        Ok(family.is_some_and(|family| revoke(family, now)))
    }

    async fn sessions(&self, user_id: UserId, now: Timestamp) -> Result<Vec<Session>, RepositoryError> {
        let state = self.refresh_tokens();
        let mut sessions = state
            .families
            .iter()
            .filter(|(_, f)| f.user_id == user_id && f.is_live(now))
            .map(|(id, f)| {
                Ok(Session {
                    id: SessionId::parse(id.as_str()).map_err(|e| RepositoryError::Unexpected(e.into()))?,
                    created_at: f.created_at,
                    last_used_at: f.last_used_at,
                    expires_at: f.expires_at,
                    client: f.client.clone(),
                })
            })
            .collect::<Result<Vec<_>, RepositoryError>>()?;
        sessions.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| a.id.cmp(&b.id)));
        Ok(sessions)
    }

    async fn revoke_session(
        &self,
        user_id: UserId,
        session: &SessionId,
        now: Timestamp,
    ) -> Result<bool, RepositoryError> {
        let mut state = self.refresh_tokens();
        let family = state.families.get_mut(session.as_str()).filter(|f| f.user_id == user_id);
        Ok(family.is_some_and(|family| revoke(family, now)))
    }

    async fn revoke_sessions<'a>(
        &self,
        user_id: UserId,
        except: Option<&'a SessionId>,
        now: Timestamp,
    ) -> Result<u64, RepositoryError> {
        let mut state = self.refresh_tokens();
        let mut revoked = 0;
        for (id, family) in &mut state.families {
            let kept = except.is_some_and(|kept| kept.as_str() == id.as_str());
            if family.user_id == user_id && !kept && revoke(family, now) {
                revoked += 1;
            }
        }
        Ok(revoked)
    }

    async fn revoke_user(&self, user_id: UserId, _now: Timestamp) -> Result<(), RepositoryError> {
        let mut state = self.refresh_tokens();
        for family in state.families.values_mut().filter(|f| f.user_id == user_id) {
            family.revoked = true;
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

/// Revokes the family; `true` when it was live until now.
fn revoke(family: &mut Family, now: Timestamp) -> bool {
    let was_live = family.is_live(now);
    family.revoked = true;
    was_live
}
