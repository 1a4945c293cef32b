//! The user use cases: the rules of API.md §2 that span more than one value (uniqueness, what an update may change,
//! timestamps), on top of the ports.

use crate::ports::{
    Clock, CreateUserError, DeleteUserError, HashError, PasswordHasher, RepositoryError,
    UpdateUserError, UserRepository,
};
use crate::{
    Age, DisplayName, Email, ListQuery, NewUser, Page, Password, Role, User, UserId, UserPatch,
    Username,
};
use std::sync::Arc;

/// Everything a use case can fail with that a caller handles; the rest is `Unavailable` or `Unexpected`.
#[derive(Debug, thiserror::Error)]
pub enum UserServiceError {
    #[error("no such user")]
    NotFound,
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
}

#[derive(Clone)]
pub struct UserService {
    repository: Arc<dyn UserRepository>,
    hasher: Arc<dyn PasswordHasher>,
    clock: Arc<dyn Clock>,
}

impl UserService {
    pub fn new(
        repository: Arc<dyn UserRepository>,
        hasher: Arc<dyn PasswordHasher>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            repository,
            hasher,
            clock,
        }
    }

    #[tracing::instrument(skip_all, fields(user.id))]
    pub async fn create(&self, request: NewUserRequest) -> Result<User, UserServiceError> {
        let password_hash = self.hasher.hash(&request.password).await?;
        let new_user = NewUser {
            username: request.username,
            email: request.email,
            name: request.name,
            age: request.age,
            role: request.role.unwrap_or_default(),
            password_hash,
            created_at: self.clock.now(),
        };
        let user = self.repository.create(new_user).await?;
        tracing::Span::current().record("user.id", user.id.get());
        tracing::info!(user.id = user.id.get(), role = %user.role, "user created");
        Ok(user)
    }

    pub async fn get(&self, id: UserId) -> Result<User, UserServiceError> {
        self.repository
            .find_by_id(id)
            .await?
            .ok_or(UserServiceError::NotFound)
    }

    pub async fn list(&self, query: &ListQuery) -> Result<Page, UserServiceError> {
        Ok(self.repository.list(query).await?)
    }

    /// Applies the changes that differ from the stored user. An update that changes nothing writes nothing and
    /// leaves `updated_at` as it was.
    #[tracing::instrument(skip_all, fields(user.id = id.get()))]
    pub async fn update(&self, id: UserId, changes: UserChanges) -> Result<User, UserServiceError> {
        let current = self.get(id).await?;
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
        let user = self.repository.update(id, patch).await?;
        tracing::info!(user.id = id.get(), "user updated");
        Ok(user)
    }

    #[tracing::instrument(skip_all, fields(user.id = id.get()))]
    pub async fn delete(&self, id: UserId) -> Result<(), UserServiceError> {
        self.repository.delete(id).await?;
        tracing::info!(user.id = id.get(), "user deleted");
        Ok(())
    }

    /// Whether storage answers, for readiness.
    pub async fn storage_ready(&self) -> Result<(), UserServiceError> {
        Ok(self.repository.ping().await?)
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

#[cfg(test)]
mod tests;
