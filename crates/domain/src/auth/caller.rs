use crate::ports::AccessClaims;
use crate::{Role, SessionId, User, UserId};

/// An authenticated caller: the stored user as it is now (so a demotion or a delete counts at once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user: User,
    /// The session of the calling token (`None` for a token issued before sessions existed).
    pub session_id: Option<SessionId>,
}

impl Caller {
    /// The caller a verified token stands for, given its stored user (as `find_caller` loads it: only while the
    /// token's session is live): the user must still exist and not have changed their password since the token was
    /// issued.
    pub fn from_claims(claims: &AccessClaims, stored: Option<User>) -> Option<Self> {
        stored
            .filter(|user| user.id == claims.user_id && user.token_version == claims.token_version)
            .map(|user| Self { user, session_id: claims.session_id.clone() })
    }

    pub fn id(&self) -> UserId {
        self.user.id
    }

    pub fn is_admin(&self) -> bool {
        self.user.role == Role::Admin
    }

    /// The user themself, or an admin.
    pub fn may_act_on(&self, id: UserId) -> bool {
        self.is_admin() || self.id() == id
    }
}
