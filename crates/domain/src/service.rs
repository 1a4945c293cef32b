//! The user use cases: the rules of docs/api.md §2 that span more than one value (uniqueness, what an update may
//! change, timestamps), on top of the ports.

use crate::auth::{Caller, CheckError, LoginKey, LoginName, PasswordCheck};
use crate::password_policy::{PasswordPolicy, PolicyViolation};
use crate::ports::{
    AccessClaims, Clock, CreateUserError, DeleteUserError, HashError, ListUsersError, PasswordHasher,
    RefreshTokenStore, RepositoryError, UpdateUserError, UserRepository,
};
use crate::{
    AccountStatus, Age, DisplayName, Email, ListQuery, NewUser, Page, Password, PasswordAttempt, Role, User, UserId,
    UserPatch, Username,
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
    /// The password policy (docs/api.md §7) refuses the new password.
    #[error("password {0}")]
    WeakPassword(PolicyViolation),
    #[error("current_password is required to change one's own password or email")]
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
    #[error("the last active admin must stay")]
    LastAdmin,
    /// A listing's `starting_after` is no user, or one its filters do not match.
    #[error("starting_after is not a user of this listing")]
    StartingAfterNotListed,
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
    /// Admin only, like `role`.
    pub status: Option<AccountStatus>,
    /// Admin only, like `role`.
    pub email_verified: Option<bool>,
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
    /// Admin only. Disabling ends every session of the user at once.
    pub status: Option<AccountStatus>,
    /// Admin only. Unless sent, an email change resets it to false.
    pub email_verified: Option<bool>,
}

/// The ports the user use cases need.
pub struct UserPorts {
    pub repository: Arc<dyn UserRepository>,
    pub hasher: Arc<dyn PasswordHasher>,
    pub clock: Arc<dyn Clock>,
    pub passwords: Arc<PasswordCheck>,
    pub refresh_tokens: Arc<dyn RefreshTokenStore>,
    pub policy: Arc<PasswordPolicy>,
}

#[derive(Clone)]
pub struct UserService {
    repository: Arc<dyn UserRepository>,
    hasher: Arc<dyn PasswordHasher>,
    clock: Arc<dyn Clock>,
    passwords: Arc<PasswordCheck>,
    refresh_tokens: Arc<dyn RefreshTokenStore>,
    policy: Arc<PasswordPolicy>,
}

impl UserService {
    pub fn new(ports: UserPorts) -> Self {
        Self {
            repository: ports.repository,
            hasher: ports.hasher,
            clock: ports.clock,
            passwords: ports.passwords,
            refresh_tokens: ports.refresh_tokens,
            policy: ports.policy,
        }
    }

    /// Sign-up (no caller) or a create by a signed-in caller. Only an admin may send `role`, `status` or
    /// `email_verified`, even their defaults.
    #[tracing::instrument(skip_all, fields(user.id, actor.id = actor.map(|a| a.id().get())))]
    pub async fn create(&self, actor: Option<&Caller>, request: NewUserRequest) -> Result<User, UserServiceError> {
        if request.role.is_some() && !actor.is_some_and(Caller::is_admin) {
            return Err(UserServiceError::Forbidden("only an admin may set a role"));
        }
        if (request.status.is_some() || request.email_verified.is_some()) && !actor.is_some_and(Caller::is_admin) {
            return Err(UserServiceError::Forbidden(ADMIN_ONLY_LIFECYCLE));
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
        // docs/api.md §3: one's own password or email changes only with the current password.
        let own_email_change = actor.id() == id && changes.email.as_ref().is_some_and(|e| *e != actor.user.email);
        let own_password_change = (changes.password.is_some() && actor.id() == id) || own_email_change;
        if own_password_change && changes.current_password.is_none() {
            return Err(UserServiceError::CurrentPasswordRequired);
        }
        if changes.role.is_some() && !actor.is_admin() {
            return Err(UserServiceError::Forbidden("only an admin may set a role"));
        }
        if (changes.status.is_some() || changes.email_verified.is_some()) && !actor.is_admin() {
            return Err(UserServiceError::Forbidden(ADMIN_ONLY_LIFECYCLE));
        }
        let current = if actor.id() == id {
            actor.user.clone()
        } else {
            self.repository.find_by_id(id).await?.ok_or(UserServiceError::NotFound)?
        };
        if let Some(password) = &changes.password {
            // Judged against the names the user has after this update; before any hash (current_password's too).
            let username = changes.username.as_ref().unwrap_or(&current.username);
            let email = changes.email.as_ref().unwrap_or(&current.email);
            self.policy.check(password, username, email).await.map_err(UserServiceError::WeakPassword)?;
        }
        if own_password_change {
            let current = changes.current_password.as_ref().map_or("", PasswordAttempt::expose);
            self.passwords.check(&LoginKey::user(id), Some(&actor.user.password_hash), current).await.map_err(|e| {
                match e {
                    // `check` admits every account: `Refused` cannot come; it would be no proof either.
                    CheckError::Wrong | CheckError::Refused => UserServiceError::WrongCurrentPassword,
                    CheckError::Locked { retry_after_secs } => UserServiceError::Locked { retry_after_secs },
                    CheckError::Unavailable(e) => UserServiceError::Unavailable(e),
                    CheckError::Unexpected(e) => UserServiceError::Unexpected(e),
                }
            })?;
        }
        let password_hash = match &changes.password {
            Some(password) => Some(self.hasher.hash(password).await?),
            None => None,
        };
        let now = self.clock.now();
        let email = changes.email.filter(|e| *e != current.email);
        // A new address is unverified, unless the same request says otherwise; written even when the user read
        // here is unverified, since a verification of the old address may commit before this write does.
        let email_verified = match &email {
            Some(_) => Some(changes.email_verified.unwrap_or(false)),
            None => changes.email_verified.filter(|v| *v != current.email_verified),
        };
        let patch = UserPatch {
            username: changes.username.filter(|u| *u != current.username),
            email,
            name: changes.name.filter(|n| *n != current.name),
            age: changes.age.filter(|a| *a != current.age),
            role: changes.role.filter(|r| *r != current.role),
            password_hash,
            // Compared as it reads now: re-enabling a ban that has lifted itself writes nothing.
            status: changes.status.filter(|s| *s != current.status.at(now)),
            email_verified,
            expected_email: None,
            updated_at: now,
        };
        if patch.is_empty() {
            return Ok(current);
        }
        let ends_sessions = patch.ends_sessions();
        let user = self.repository.update(id, patch).await?;
        if ends_sessions {
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
        self.repository.delete(id, self.clock.now()).await?;
        self.mark_sessions_revoked(id).await;
        tracing::info!(user.id = id.get(), actor.id = actor.id().get(), "user deleted");
        Ok(())
    }

    /// Clears the failed logins of the user's username and email (docs/api.md §6 Unlock): admins only.
    #[tracing::instrument(skip_all, fields(user.id = id.get(), actor.id = actor.id().get()))]
    pub async fn unlock(&self, actor: &Caller, id: UserId) -> Result<(), UserServiceError> {
        if !actor.is_admin() {
            return Err(UserServiceError::Forbidden("only an admin may clear a lockout"));
        }
        let user = self.repository.find_by_id(id).await?.ok_or(UserServiceError::NotFound)?;
        // Failures count under the user's id; those made while no user had its username or email count under
        // the name, and are cleared too.
        let keys = [
            LoginKey::user(id),
            LoginKey::unknown_name(user.username.as_str()),
            LoginKey::unknown_name(user.email.as_str()),
        ];
        self.passwords.clear(&keys).await?;
        tracing::info!(user.id = id.get(), actor.id = actor.id().get(), "lockout cleared");
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
    /// The password policy judges the password only when the admin is about to be created, so a policy made
    /// stricter later does not stop a service whose admin exists.
    pub async fn ensure_admin(&self, request: NewUserRequest) -> Result<bool, UserServiceError> {
        let by_username = LoginName::Username(request.username.as_str().to_owned());
        let by_email = LoginName::Email(request.email.as_str().to_owned());
        if self.repository.find_by_login_name(&by_username).await?.is_some()
            || self.repository.find_by_login_name(&by_email).await?.is_some()
        {
            return Ok(false);
        }
        match self.repository.create(self.new_user(request, Role::Admin).await?).await {
            Ok(user) => {
                tracing::info!(user.id = user.id.get(), "bootstrap admin created");
                Ok(true)
            }
            Err(CreateUserError::UsernameTaken | CreateUserError::EmailTaken) => Ok(false),
            Err(other) => Err(other.into()),
        }
    }

    /// The user to store: the request with its password checked by the policy, then hashed, created now.
    async fn new_user(&self, request: NewUserRequest, role: Role) -> Result<NewUser, UserServiceError> {
        self.policy
            .check(&request.password, &request.username, &request.email)
            .await
            .map_err(UserServiceError::WeakPassword)?;
        Ok(NewUser {
            password_hash: self.hasher.hash(&request.password).await?,
            username: request.username,
            email: request.email,
            name: request.name,
            age: request.age,
            role,
            created_at: self.clock.now(),
            status: request.status.unwrap_or_default(),
            email_verified: request.email_verified.unwrap_or(false),
        })
    }
}

const ADMIN_ONLY_LIFECYCLE: &str = "only an admin may set status, disabled_until or email_verified";

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
            // The service's patches carry no expected email.
            e @ UpdateUserError::EmailChanged => Self::Unexpected(e.into()),
            UpdateUserError::Repository(e) => e.into(),
        }
    }
}

impl From<ListUsersError> for UserServiceError {
    fn from(e: ListUsersError) -> Self {
        match e {
            ListUsersError::StartingAfterNotListed => Self::StartingAfterNotListed,
            ListUsersError::Repository(e) => e.into(),
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
