//! The user resource and its value types. Each type checks its rule in `parse`, so a value that exists is valid.

mod age;
mod display_name;
mod email;
mod id;
mod password;
mod role;
mod timestamp;
mod username;

pub use age::{Age, AgeError};
pub use display_name::{DisplayName, DisplayNameError};
pub use email::{Email, EmailError};
pub use id::{UserId, UserIdError};
pub use password::{Password, PasswordAttempt, PasswordError, PasswordHash};
pub use role::{Role, RoleError};
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
    /// Bumped by every password change; access tokens carry the version they were issued at, so older ones end.
    pub token_version: i64,
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
}

/// The fields an update writes; `None` leaves a field as it is. The repository applies a patch atomically, so two
/// concurrent updates of different fields both land (no lost update). A new password hash also bumps the user's
/// token version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPatch {
    pub username: Option<Username>,
    pub email: Option<Email>,
    pub name: Option<Option<DisplayName>>,
    pub age: Option<Option<Age>>,
    pub role: Option<Role>,
    pub password_hash: Option<PasswordHash>,
    pub updated_at: Timestamp,
}

impl UserPatch {
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
            updated.token_version += 1;
        }
        updated.updated_at = self.updated_at;
        updated
    }
}
