//! The user resource and its value types. Each type checks its rule in `parse`, so a value that exists is valid.

mod age;
mod display_name;
mod email;
mod id;
mod password;
mod role;
mod status;
mod timestamp;
mod username;

pub use age::{Age, AgeError};
pub use display_name::{DisplayName, DisplayNameError};
pub use email::{Email, EmailError};
pub use id::{UserId, UserIdError};
pub use password::{Password, PasswordAttempt, PasswordError, PasswordHash};
pub use role::{Role, RoleError};
pub use status::{AccountStatus, AccountStatusError, UserStatus, UserStatusError};
pub use timestamp::Timestamp;
pub use username::{Username, UsernameError};

/// A stored user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub username: Username,
    pub email: Email,
    pub name: Option<DisplayName>,
    pub age: Option<Age>,
    pub role: Role,
    pub password_hash: PasswordHash,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Bumped by every password change and every disable; access tokens carry the version they were issued at,
    /// so older ones end.
    pub token_version: i64,
    /// As stored; read it with `AccountStatus::at` (a ban with an end lifts itself).
    pub status: AccountStatus,
    pub email_verified: bool,
    /// The last successful login; it does not move `updated_at`.
    pub last_login_at: Option<Timestamp>,
}

impl User {
    /// Whether the user may sign in and use their tokens at `now`.
    pub fn is_active_at(&self, now: Timestamp) -> bool {
        self.status.is_active_at(now)
    }

    /// An active admin at `now`: the kind of which one must remain.
    pub fn is_active_admin_at(&self, now: Timestamp) -> bool {
        self.role == Role::Admin && self.is_active_at(now)
    }
}

/// A user about to be stored: everything but the id, which the repository assigns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub username: Username,
    pub email: Email,
    pub name: Option<DisplayName>,
    pub age: Option<Age>,
    pub role: Role,
    pub password_hash: PasswordHash,
    pub created_at: Timestamp,
    pub status: AccountStatus,
    pub email_verified: bool,
}

/// The fields an update writes; `None` leaves a field as it is. The repository applies a patch atomically, so two
/// concurrent updates of different fields both land (no lost update). A new password hash or a disable also bumps
/// the user's token version, ending every session begun before the write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPatch {
    pub username: Option<Username>,
    pub email: Option<Email>,
    pub name: Option<Option<DisplayName>>,
    pub age: Option<Option<Age>>,
    pub role: Option<Role>,
    pub password_hash: Option<PasswordHash>,
    pub status: Option<AccountStatus>,
    pub email_verified: Option<bool>,
    /// A condition, not a change: the patch applies only while the user's email is this one (a token mailed to
    /// an address acts for that address only, even when the email changes while the token is being used).
    pub expected_email: Option<Email>,
    /// Also the time at which the last-active-admin guard judges bans.
    pub updated_at: Timestamp,
}

impl UserPatch {
    /// A patch that writes nothing but `updated_at`.
    pub fn at(updated_at: Timestamp) -> Self {
        Self {
            username: None,
            email: None,
            name: None,
            age: None,
            role: None,
            password_hash: None,
            status: None,
            email_verified: None,
            expected_email: None,
            updated_at,
        }
    }

    /// Whether it changes nothing (but `updated_at`); its condition is no change.
    pub fn is_empty(&self) -> bool {
        *self == Self { expected_email: self.expected_email.clone(), ..Self::at(self.updated_at) }
    }

    /// Whether it ends the sessions begun before it: a new password, or a disable.
    pub fn ends_sessions(&self) -> bool {
        self.password_hash.is_some() || matches!(self.status, Some(AccountStatus::Disabled { .. }))
    }

    /// The user as it is after this patch.
    pub fn apply_to(&self, user: &User) -> User {
        let mut updated = user.clone();
        if let Some(username) = &self.username {
            updated.username = username.clone();
        }
        if let Some(email) = &self.email {
            updated.email = email.clone();
        }
        if let Some(name) = &self.name {
            updated.name = name.clone();
        }
        if let Some(age) = self.age {
            updated.age = age;
        }
        if let Some(role) = self.role {
            updated.role = role;
        }
        if let Some(hash) = &self.password_hash {
            updated.password_hash = hash.clone();
        }
        if let Some(status) = self.status {
            updated.status = status;
        }
        if let Some(verified) = self.email_verified {
            updated.email_verified = verified;
        }
        if self.ends_sessions() {
            updated.token_version += 1;
        }
        updated.updated_at = self.updated_at;
        updated
    }
}
