//! The user use cases: the rules of docs/api.md §2 that span more than one value (uniqueness, what an update may
//! change, timestamps), on top of the ports.

use crate::auth::{Caller, CheckError, LoginKey, PasswordCheck};
use crate::ports::{
    AccessClaims, Clock, CreateUserError, DeleteUserError, HashError, PasswordHasher, RefreshTokenStore,
    RepositoryError, UpdateUserError, UserRepository,
};
use crate::{
    Age, DisplayName, Email, ListQuery, NewUser, Page, Password, PasswordAttempt, Role, User, UserId, UserPatch,
    Username,
};
use std::sync::Arc;

/// Everything a use case can fail with that a caller handles; the rest is `Unavailable` or `Unexpected`.
#[derive(Debug, thiserror::Error)]
pub enum UserServiceError {
    /// The access token's user is gone or changed their password since.
    #[error("invalid access token")]
    InvalidToken,
    #[error("not allowed: {0}")]
    Forbidden(&'static str),
    #[error("current_password is required to change one's own password")]
    CurrentPasswordRequired,
    #[error("wrong current password")]
    WrongCurrentPassword,
    #[error("too many failed password checks")]
    Locked { retry_after_secs: u64 },
    #[error("no such user")]
    NotFound,
    /// Not a live session of that user.
    #[error("no such session")]
    SessionNotFound,
    #[error("username taken")]
    UsernameTaken,
    #[error("email taken")]
    EmailTaken,
    #[error("the last admin must stay")]
    LastAdmin,
    #[error("storage unavailable")]
    Unavailable(#[source] anyhow::Error),
    #[error(transparent)]
    Unexpected(anyhow::Error),
}

/// A sign-up or an admin's create: every field already valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUserRequest {
    pub username: Username,
    pub email: Email,
    pub name: Option<DisplayName>,
    pub age: Option<Age>,
    pub role: Option<Role>,
    pub password: Password,
}

/// An update: `None` leaves a field alone; `Some(None)` clears `name` or `age`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserChanges {
    pub username: Option<Username>,
    pub email: Option<Email>,
    pub name: Option<Option<DisplayName>>,
    pub age: Option<Option<Age>>,
    pub role: Option<Role>,
    pub password: Option<Password>,
    /// Required when the caller changes their own password; checked under the lockout rule.
    pub current_password: Option<PasswordAttempt>,
}

/// The ports the user use cases need.
pub struct UserPorts {
    pub repository: Arc<dyn UserRepository>,
    pub hasher: Arc<dyn PasswordHasher>,
    pub clock: Arc<dyn Clock>,
    pub passwords: Arc<PasswordCheck>,
    pub refresh_tokens: Arc<dyn RefreshTokenStore>,
}

#[derive(Clone)]
pub struct UserService {
    repository: Arc<dyn UserRepository>,
    hasher: Arc<dyn PasswordHasher>,
    clock: Arc<dyn Clock>,
    passwords: Arc<PasswordCheck>,
    refresh_tokens: Arc<dyn RefreshTokenStore>,
}

impl UserService {
    pub fn new(ports: UserPorts) -> Self {
        Self {
            repository: ports.repository,
            hasher: ports.hasher,
            clock: ports.clock,
            passwords: ports.passwords,
            refresh_tokens: ports.refresh_tokens,
        }
    }

    /// Sign-up (no caller) or a create by a signed-in caller. Only an admin may send `role`, even its default.
    #[tracing::instrument(skip_all, fields(user.id, actor.id = actor.map(|a| a.id().get())))]
    pub async fn create(&self, actor: Option<&Caller>, request: NewUserRequest) -> Result<User, UserServiceError> {
        if request.role.is_some() && !actor.is_some_and(Caller::is_admin) {
            return Err(UserServiceError::Forbidden("only an admin may set a role"));
        }
        let role = request.role.unwrap_or_default();
        let user = self.repository.create(self.new_user(request, role).await?).await?;
        tracing::Span::current().record("user.id", user.id.get());
        tracing::info!(user.id = user.id.get(), actor.id = actor.map(|a| a.id().get()), role = %user.role, "user created");
        Ok(user)
    }

    /// The user themself (no storage round trip: the caller was just loaded), or any user for an admin. Another
    /// user's id is 403 to a non-admin whether or not it exists.
    pub async fn get(&self, actor: &Caller, id: UserId) -> Result<User, UserServiceError> {
        if actor.id() == id {
            return Ok(actor.user.clone());
        }
        if !actor.is_admin() {
            return Err(UserServiceError::Forbidden("only the user themself or an admin"));
        }
        self.repository.find_by_id(id).await?.ok_or(UserServiceError::NotFound)
    }

    /// `get` for a verified token whose user is not loaded yet: the caller (with its session checked) and the user
    /// it reads come in one storage round trip (one row when it reads itself).
    pub async fn get_as(&self, claims: &AccessClaims, id: UserId) -> Result<User, UserServiceError> {
        let others = if claims.user_id == id { vec![] } else { vec![id] };
        let mut found = self.repository.find_caller(claims.user_id, claims.session_id.as_ref(), &others).await?;
        let stored_caller = found.iter().position(|u| u.id == claims.user_id).map(|i| found.swap_remove(i));
        let actor = Caller::from_claims(claims, stored_caller).ok_or(UserServiceError::InvalidToken)?;
        if actor.id() == id {
            return Ok(actor.user);
        }
        if !actor.is_admin() {
            return Err(UserServiceError::Forbidden("only the user themself or an admin"));
        }
        found.pop().ok_or(UserServiceError::NotFound)
    }

    pub async fn list(&self, actor: &Caller, query: &ListQuery) -> Result<Page, UserServiceError> {
        if !actor.is_admin() {
            return Err(UserServiceError::Forbidden("only an admin may list users"));
        }
        Ok(self.repository.list(query).await?)
    }

    /// Applies the changes that differ from the stored user. An update that changes nothing writes nothing and
    /// leaves `updated_at` as it was. Checks run as docs/api.md §4 orders them: the request's shape, permission,
    /// existence, then conflicts.
    #[tracing::instrument(skip_all, fields(user.id = id.get(), actor.id = actor.id().get()))]
    pub async fn update(&self, actor: &Caller, id: UserId, changes: UserChanges) -> Result<User, UserServiceError> {
        if !actor.may_act_on(id) {
            return Err(UserServiceError::Forbidden("only the user themself or an admin"));
        }
        let own_password_change = changes.password.is_some() && actor.id() == id;
        if own_password_change && changes.current_password.is_none() {
            return Err(UserServiceError::CurrentPasswordRequired);
        }
        if changes.role.is_some() && !actor.is_admin() {
            return Err(UserServiceError::Forbidden("only an admin may set a role"));
        }
        if own_password_change {
            let current = changes.current_password.as_ref().map_or("", PasswordAttempt::expose);
            self.passwords.check(&LoginKey::user(id), Some(&actor.user.password_hash), current).await.map_err(|e| {
                match e {
                    CheckError::Wrong => UserServiceError::WrongCurrentPassword,
                    CheckError::Locked { retry_after_secs } => UserServiceError::Locked { retry_after_secs },
                    CheckError::Unavailable(e) => UserServiceError::Unavailable(e),
                    CheckError::Unexpected(e) => UserServiceError::Unexpected(e),
                }
            })?;
        }
        let current = if actor.id() == id {
            actor.user.clone()
        } else {
            self.repository.find_by_id(id).await?.ok_or(UserServiceError::NotFound)?
        };
        let password_hash = match &changes.password {
            Some(password) => Some(self.hasher.hash(password).await?),
            None => None,
        };
        let patch = UserPatch {
            username: changes.username.filter(|u| *u != current.username),
            email: changes.email.filter(|e| *e != current.email),
            name: changes.name.filter(|n| *n != current.name),
            age: changes.age.filter(|a| *a != current.age),
            role: changes.role.filter(|r| *r != current.role),
            password_hash,
            updated_at: self.clock.now(),
        };
        if patch.username.is_none()
            && patch.email.is_none()
            && patch.name.is_none()
            && patch.age.is_none()
            && patch.role.is_none()
            && patch.password_hash.is_none()
        {
            return Ok(current);
        }
        let password_changed = patch.password_hash.is_some();
        let user = self.repository.update(id, patch).await?;
        if password_changed {
            self.mark_sessions_revoked(id).await;
        }
        tracing::info!(user.id = id.get(), actor.id = actor.id().get(), "user updated");
        Ok(user)
    }

    #[tracing::instrument(skip_all, fields(user.id = id.get(), actor.id = actor.id().get()))]
    pub async fn delete(&self, actor: &Caller, id: UserId) -> Result<(), UserServiceError> {
        if !actor.may_act_on(id) {
            return Err(UserServiceError::Forbidden("only the user themself or an admin"));
        }
        self.repository.delete(id).await?;
        self.mark_sessions_revoked(id).await;
        tracing::info!(user.id = id.get(), actor.id = actor.id().get(), "user deleted");
        Ok(())
    }

    /// Marks every refresh-token family of the user revoked. The committed write already ended every session
    /// (a password change bumps the token version that sessions are bound to; a delete removes them), so this is
    /// housekeeping: its failure is logged, and the client still hears that its committed change succeeded.
    async fn mark_sessions_revoked(&self, id: UserId) {
        if let Err(error) = self.refresh_tokens.revoke_user(id, self.clock.now()).await {
            tracing::warn!(user.id = id.get(), error = %error, "could not mark the sessions revoked");
        }
    }

    /// Creates the bootstrap admin unless a user already has that username or email. Instances starting together
    /// race on the unique indexes: one creates it, the others find it taken. `true` when this call created it.
    pub async fn ensure_admin(&self, request: NewUserRequest) -> Result<bool, UserServiceError> {
        match self.repository.create(self.new_user(request, Role::Admin).await?).await {
            Ok(user) => {
                tracing::info!(user.id = user.id.get(), "bootstrap admin created");
                Ok(true)
            }
            Err(CreateUserError::UsernameTaken | CreateUserError::EmailTaken) => Ok(false),
            Err(other) => Err(other.into()),
        }
    }

    /// The user to store: the request with its password hashed, created now.
    async fn new_user(&self, request: NewUserRequest, role: Role) -> Result<NewUser, UserServiceError> {
        Ok(NewUser {
            password_hash: self.hasher.hash(&request.password).await?,
            username: request.username,
            email: request.email,
            name: request.name,
            age: request.age,
            role,
            created_at: self.clock.now(),
        })
    }
}

impl From<RepositoryError> for UserServiceError {
    fn from(e: RepositoryError) -> Self {
        match e {
            RepositoryError::Unavailable(e) => Self::Unavailable(e),
            RepositoryError::Unexpected(e) => Self::Unexpected(e),
        }
    }
}

impl From<HashError> for UserServiceError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Unexpected(e) => Self::Unexpected(e),
        }
    }
}

impl From<CreateUserError> for UserServiceError {
    fn from(e: CreateUserError) -> Self {
        match e {
            CreateUserError::UsernameTaken => Self::UsernameTaken,
            CreateUserError::EmailTaken => Self::EmailTaken,
            CreateUserError::Repository(e) => e.into(),
        }
    }
}

impl From<UpdateUserError> for UserServiceError {
    fn from(e: UpdateUserError) -> Self {
        match e {
            UpdateUserError::NotFound => Self::NotFound,
            UpdateUserError::UsernameTaken => Self::UsernameTaken,
            UpdateUserError::EmailTaken => Self::EmailTaken,
            UpdateUserError::LastAdmin => Self::LastAdmin,
            UpdateUserError::Repository(e) => e.into(),
        }
    }
}

impl From<DeleteUserError> for UserServiceError {
    fn from(e: DeleteUserError) -> Self {
        match e {
            DeleteUserError::NotFound => Self::NotFound,
            DeleteUserError::LastAdmin => Self::LastAdmin,
            DeleteUserError::Repository(e) => e.into(),
        }
    }
}

mod sessions;
pub use sessions::KeepSessions;
#[cfg(test)]
mod tests;
