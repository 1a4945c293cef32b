//! The sessions of docs/api.md §6: listing them and revoking one or all. The user themself or an admin.

use super::{UserService, UserServiceError};
use crate::auth::Caller;
use crate::{Session, SessionId, UserId};

/// Which sessions `revoke_sessions` leaves alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepSessions {
    None,
    /// The calling token's session (`?except=current`).
    Current,
}

impl UserService {
    /// The user's live sessions, newest first.
    pub async fn sessions(&self, actor: &Caller, id: UserId) -> Result<Vec<Session>, UserServiceError> {
        self.ensure_may_see_sessions(actor, id).await?;
        Ok(self.refresh_tokens.sessions(id, self.clock.now()).await?)
    }

    /// Revokes one live session of the user: its refresh token and access tokens stop working at once.
    #[tracing::instrument(skip_all, fields(user.id = id.get(), actor.id = actor.id().get()))]
    pub async fn revoke_session(
        &self,
        actor: &Caller,
        id: UserId,
        session: &SessionId,
    ) -> Result<(), UserServiceError> {
        if !actor.may_act_on(id) {
            return Err(UserServiceError::Forbidden("only the user themself or an admin"));
        }
        if !self.refresh_tokens.revoke_session(id, session, self.clock.now()).await? {
            return Err(UserServiceError::SessionNotFound);
        }
        tracing::info!(user.id = id.get(), actor.id = actor.id().get(), "session revoked");
        Ok(())
    }

    /// Revokes every live session of the user (but the caller's own, with `KeepSessions::Current`); returns how
    /// many ended.
    #[tracing::instrument(skip_all, fields(user.id = id.get(), actor.id = actor.id().get()))]
    pub async fn revoke_sessions(
        &self,
        actor: &Caller,
        id: UserId,
        keep: KeepSessions,
    ) -> Result<u64, UserServiceError> {
        self.ensure_may_see_sessions(actor, id).await?;
        let except = match keep {
            KeepSessions::Current => actor.session_id.as_ref(),
            KeepSessions::None => None,
        };
        let revoked = self.refresh_tokens.revoke_sessions(id, except, self.clock.now()).await?;
        tracing::info!(user.id = id.get(), actor.id = actor.id().get(), revoked, "sessions revoked");
        Ok(revoked)
    }

    /// The user themself, or an admin (to whom a missing user is 404).
    async fn ensure_may_see_sessions(&self, actor: &Caller, id: UserId) -> Result<(), UserServiceError> {
        if actor.id() == id {
            return Ok(());
        }
        if !actor.is_admin() {
            return Err(UserServiceError::Forbidden("only the user themself or an admin"));
        }
        match self.repository.find_by_id(id).await? {
            Some(_) => Ok(()),
            None => Err(UserServiceError::NotFound),
        }
    }
}
