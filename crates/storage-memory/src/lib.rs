//! The in-memory adapter of the storage ports (users, refresh tokens, login failures): for tests and demos, and
//! the reference behaviour the SQL backends are held to. One lock guards the users, so every check-and-write is
//! atomic; reads share it.

mod login_failures;
mod refresh_tokens;

use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use users_domain::auth::LoginName;
use users_domain::ports::{
    CreateUserError, DeleteUserError, PoolStats, RepositoryError, StorageOperations, UpdateUserError, UserRepository,
};
use users_domain::{fold_case, ListQuery, NewUser, Page, Role, SessionId, User, UserId, UserPatch};

#[derive(Default)]
pub struct InMemoryStore {
    state: RwLock<State>,
    refresh_tokens: Mutex<refresh_tokens::RefreshTokens>,
    login_failures: Mutex<login_failures::LoginFailures>,
}

#[derive(Default)]
struct State {
    /// The last id handed out; ids are never reused while the process lives.
    last_id: i64,
    users: BTreeMap<UserId, User>,
    /// Folded username → id, and email → id: the unique indexes.
    by_username: HashMap<String, UserId>,
    by_email: HashMap<String, UserId>,
}

impl InMemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-written (no user code runs under it).
        self.state.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn refresh_tokens(&self) -> MutexGuard<'_, refresh_tokens::RefreshTokens> {
        self.refresh_tokens.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn login_failures(&self) -> MutexGuard<'_, login_failures::LoginFailures> {
        self.login_failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl State {
    fn owner_of_username(&self, user: &User) -> Option<UserId> {
        self.by_username.get(&user.username.folded()).copied()
    }

    fn owner_of_email(&self, user: &User) -> Option<UserId> {
        self.by_email.get(user.email.as_str()).copied()
    }

    fn admins(&self) -> usize {
        self.users.values().filter(|u| u.role == Role::Admin).count()
    }

    fn index(&mut self, user: &User) {
        self.by_username.insert(user.username.folded(), user.id);
        self.by_email.insert(user.email.as_str().to_owned(), user.id);
    }

    fn unindex(&mut self, user: &User) {
        self.by_username.remove(&user.username.folded());
        self.by_email.remove(user.email.as_str());
    }
}

#[async_trait]
impl UserRepository for InMemoryStore {
    async fn create(&self, new_user: NewUser) -> Result<User, CreateUserError> {
        let mut state = self.write();
        let id = UserId::new(state.last_id + 1).map_err(|e| RepositoryError::Unexpected(e.into()))?;
        let user = User {
            id,
            username: new_user.username,
            email: new_user.email,
            name: new_user.name,
            age: new_user.age,
            role: new_user.role,
            password_hash: new_user.password_hash,
            created_at: new_user.created_at,
            updated_at: new_user.created_at,
            token_version: 0,
        };
        if state.owner_of_username(&user).is_some() {
            return Err(CreateUserError::UsernameTaken);
        }
        if state.owner_of_email(&user).is_some() {
            return Err(CreateUserError::EmailTaken);
        }
        state.last_id = id.get();
        state.index(&user);
        state.users.insert(id, user.clone());
        Ok(user)
    }

    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, RepositoryError> {
        Ok(self.read().users.get(&id).cloned())
    }

    async fn find_by_ids(&self, ids: &[UserId]) -> Result<Vec<User>, RepositoryError> {
        let state = self.read();
        Ok(ids.iter().filter_map(|id| state.users.get(id).cloned()).collect())
    }

    async fn find_caller<'a>(
        &self,
        caller: UserId,
        session: Option<&'a SessionId>,
        others: &[UserId],
    ) -> Result<Vec<User>, RepositoryError> {
        let live = session.is_none_or(|session| self.refresh_tokens().is_unrevoked_session_of(caller, session));
        let state = self.read();
        let caller = state.users.get(&caller).filter(|_| live);
        Ok(caller.into_iter().chain(others.iter().filter_map(|id| state.users.get(id))).cloned().collect())
    }

    async fn find_by_login_name(&self, name: &LoginName) -> Result<Option<User>, RepositoryError> {
        let state = self.read();
        let id = match name {
            LoginName::Username(username) => state.by_username.get(&fold_case(username)),
            LoginName::Email(email) => state.by_email.get(&fold_case(email)),
        };
        Ok(id.and_then(|id| state.users.get(id)).cloned())
    }

    async fn list(&self, query: &ListQuery) -> Result<Page, RepositoryError> {
        let state = self.read();
        let mut matches: Vec<&User> = state.users.values().filter(|u| query.filter.matches(u)).collect();
        matches.sort_by(|a, b| query.compare(a, b));
        let total = matches.len() as u64;
        let offset = usize::try_from(query.offset).unwrap_or(usize::MAX);
        let users = matches.into_iter().skip(offset).take(query.limit as usize).cloned().collect();
        Ok(Page { users, total })
    }

    async fn update(&self, id: UserId, patch: UserPatch) -> Result<User, UpdateUserError> {
        let mut state = self.write();
        let current = state.users.get(&id).cloned().ok_or(UpdateUserError::NotFound)?;
        let updated = patch.apply_to(&current);
        if state.owner_of_username(&updated).is_some_and(|owner| owner != id) {
            return Err(UpdateUserError::UsernameTaken);
        }
        if state.owner_of_email(&updated).is_some_and(|owner| owner != id) {
            return Err(UpdateUserError::EmailTaken);
        }
        if current.role == Role::Admin && updated.role != Role::Admin && state.admins() == 1 {
            return Err(UpdateUserError::LastAdmin);
        }
        state.unindex(&current);
        state.index(&updated);
        state.users.insert(id, updated.clone());
        Ok(updated)
    }

    async fn delete(&self, id: UserId) -> Result<(), DeleteUserError> {
        let mut state = self.write();
        let user = state.users.get(&id).cloned().ok_or(DeleteUserError::NotFound)?;
        if user.role == Role::Admin && state.admins() == 1 {
            return Err(DeleteUserError::LastAdmin);
        }
        state.unindex(&user);
        state.users.remove(&id);
        Ok(())
    }
}

/// Nothing to run: always ready, nothing to close, no pool.
#[async_trait]
impl StorageOperations for InMemoryStore {
    async fn ping(&self) -> Result<(), RepositoryError> {
        Ok(())
    }

    async fn close(&self) {}

    fn pool_stats(&self) -> Option<PoolStats> {
        None
    }
}
