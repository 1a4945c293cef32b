use crate::{Role, User, UserId};

/// An authenticated caller: the stored user as it is now (so a demotion or a delete counts at once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user: User,
}

impl Caller {
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
