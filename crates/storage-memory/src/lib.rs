//! The in-memory adapter of the storage ports (users, refresh tokens, login failures): for tests and demos, and
//! the reference behaviour the SQL backends are held to. One lock guards the users, so every check-and-write is
//! atomic; reads share it.

mod login_failures;
mod mail;
mod refresh_tokens;

use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use users_domain::auth::LoginName;
use users_domain::ports::{
    CreateUserError, DeleteUserError, ImportedUser, ListUsersError, PoolStats, RepositoryError, StorageOperations,
    StoredImport, UpdateUserError, UserRepository, UserTransfer,
};
use users_domain::{
    fold_case, Counter, ListQuery, NewUser, Page, PasswordHash, Role, SessionId, SortDirection, SortKey, Timestamp,
    User, UserFilter, UserId, UserPatch,
};

#[derive(Default)]
pub struct InMemoryStore {
    state: RwLock<State>,
    refresh_tokens: Mutex<refresh_tokens::RefreshTokens>,
    login_failures: Mutex<login_failures::LoginFailures>,
    mail: Mutex<mail::Mail>,
}

#[derive(Default)]
struct State {
    /// The last id handed out; ids are never reused while the process lives.
    last_id: i64,
    users: BTreeMap<UserId, User>,
    /// Folded username → id, and email → id: the unique indexes.
    by_username: HashMap<String, UserId>,
    by_email: HashMap<String, UserId>,
    /// How many users have each role, kept with every write: counts without a scan.
    per_role: HashMap<Role, u64>,
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

    fn mail(&self) -> MutexGuard<'_, mail::Mail> {
        self.mail.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl State {
    fn owner_of_username(&self, user: &User) -> Option<UserId> {
        self.by_username.get(&user.username.folded()).copied()
    }

    fn owner_of_email(&self, user: &User) -> Option<UserId> {
        self.by_email.get(user.email.as_str()).copied()
    }

    fn active_admins(&self, now: Timestamp) -> usize {
        self.users.values().filter(|u| u.is_active_admin_at(now)).count()
    }

    /// Stores a new user under the next id, unless its username or email is taken.
    fn insert(
        &mut self,
        new_user: NewUser,
        updated_at: Timestamp,
        last_login_at: Option<Timestamp>,
    ) -> Result<User, CreateUserError> {
        let id = UserId::new(self.last_id + 1).map_err(|e| RepositoryError::Unexpected(e.into()))?;
        let user = User {
            id,
            username: new_user.username,
            email: new_user.email,
            name: new_user.name,
            age: new_user.age,
            role: new_user.role,
            password_hash: new_user.password_hash,
            created_at: new_user.created_at,
            updated_at,
            token_version: 0,
            status: new_user.status,
            email_verified: new_user.email_verified,
            last_login_at,
        };
        if self.owner_of_username(&user).is_some() {
            return Err(CreateUserError::UsernameTaken);
        }
        if self.owner_of_email(&user).is_some() {
            return Err(CreateUserError::EmailTaken);
        }
        self.last_id = id.get();
        self.index(&user);
        self.users.insert(id, user.clone());
        Ok(user)
    }

    fn index(&mut self, user: &User) {
        self.by_username.insert(user.username.folded(), user.id);
        self.by_email.insert(user.email.as_str().to_owned(), user.id);
        *self.per_role.entry(user.role).or_default() += 1;
    }

    fn unindex(&mut self, user: &User) {
        self.by_username.remove(&user.username.folded());
        self.by_email.remove(user.email.as_str());
        if let Some(count) = self.per_role.get_mut(&user.role) {
            *count = count.saturating_sub(1);
        }
    }

    /// The number of users `filter` matches: from the counters when it asks for a role at most, else a scan.
    fn count(&self, filter: &UserFilter) -> u64 {
        match filter.counter() {
            Some(Counter::All) => self.users.len() as u64,
            Some(Counter::Role(role)) => self.per_role.get(&role).copied().unwrap_or(0),
            // A scan, as for any other filter: the memory store keeps no index of disabled users.
            Some(Counter::Active { .. }) => self.users.values().filter(|u| filter.matches(u)).count() as u64,
            None => self.users.values().filter(|u| filter.matches(u)).count() as u64,
        }
    }

    /// Up to `limit + 1` matches of `query` in its order (after `after`, or past its offset). Sorted by id, a walk
    /// of the map from the cursor; otherwise a scan and a sort.
    fn fetch(&self, query: &ListQuery, after: Option<&User>) -> Vec<User> {
        let wanted = query.limit as usize + 1;
        let skip = if after.is_some() { 0 } else { usize::try_from(query.offset).unwrap_or(usize::MAX) };
        let matching = |u: &&User| query.filter.matches(u);
        if query.sort == SortKey::Id {
            use std::ops::Bound::{Excluded, Unbounded};
            let cursor = after.map_or(Unbounded, |u| Excluded(u.id));
            let users: Box<dyn Iterator<Item = &User>> = match query.direction {
                SortDirection::Ascending => Box::new(self.users.range((cursor, Unbounded)).map(|(_, u)| u)),
                SortDirection::Descending => Box::new(self.users.range((Unbounded, cursor)).rev().map(|(_, u)| u)),
            };
            return users.filter(matching).skip(skip).take(wanted).cloned().collect();
        }
        let mut matches: Vec<&User> = self
            .users
            .values()
            .filter(matching)
            .filter(|u| after.is_none_or(|after| query.compare(after, u).is_lt()))
            .collect();
        matches.sort_by(|a, b| query.compare(a, b));
        matches.into_iter().skip(skip).take(wanted).cloned().collect()
    }
}

#[async_trait]
impl UserRepository for InMemoryStore {
    async fn create(&self, new_user: NewUser) -> Result<User, CreateUserError> {
        let updated_at = new_user.created_at;
        self.write().insert(new_user, updated_at, None)
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

    async fn list(&self, query: &ListQuery) -> Result<Page, ListUsersError> {
        let state = self.read();
        let after = match query.starting_after {
            None => None,
            Some(id) => match state.users.get(&id) {
                Some(user) if query.filter.matches(user) => Some(user),
                _ => return Err(ListUsersError::StartingAfterNotListed),
            },
        };
        let fetched = state.fetch(query, after);
        Ok(Page::from_fetched(fetched, query.limit, state.count(&query.filter)))
    }

    async fn update(&self, id: UserId, patch: UserPatch) -> Result<User, UpdateUserError> {
        let mut state = self.write();
        let current = state.users.get(&id).cloned().ok_or(UpdateUserError::NotFound)?;
        if patch.expected_email.as_ref().is_some_and(|expected| *expected != current.email) {
            return Err(UpdateUserError::EmailChanged);
        }
        let updated = patch.apply_to(&current);
        if state.owner_of_username(&updated).is_some_and(|owner| owner != id) {
            return Err(UpdateUserError::UsernameTaken);
        }
        if state.owner_of_email(&updated).is_some_and(|owner| owner != id) {
            return Err(UpdateUserError::EmailTaken);
        }
        let now = patch.updated_at;
        if current.is_active_admin_at(now) && !updated.is_active_admin_at(now) && state.active_admins(now) == 1 {
            return Err(UpdateUserError::LastAdmin);
        }
        state.unindex(&current);
        state.index(&updated);
        state.users.insert(id, updated.clone());
        Ok(updated)
    }

    async fn replace_password_hash(
        &self,
        id: UserId,
        current: &PasswordHash,
        new: &PasswordHash,
    ) -> Result<bool, RepositoryError> {
        let mut state = self.write();
        match state.users.get_mut(&id) {
            Some(user) if user.password_hash == *current => {
                user.password_hash = new.clone();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn delete(&self, id: UserId, now: Timestamp) -> Result<(), DeleteUserError> {
        let mut state = self.write();
        let user = state.users.get(&id).cloned().ok_or(DeleteUserError::NotFound)?;
        if user.is_active_admin_at(now) && state.active_admins(now) == 1 {
            return Err(DeleteUserError::LastAdmin);
        }
        state.unindex(&user);
        state.users.remove(&id);
        Ok(())
    }

    async fn record_login(&self, id: UserId, token_version: i64, at: Timestamp) -> Result<bool, RepositoryError> {
        let mut state = self.write();
        match state.users.get_mut(&id).filter(|u| u.token_version == token_version) {
            Some(user) => {
                user.last_login_at = Some(at);
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

/// A batch under one write lock: all of it lands at once, as a transaction would.
#[async_trait]
impl UserTransfer for InMemoryStore {
    async fn import_users(&self, users: Vec<ImportedUser>) -> Result<Vec<StoredImport>, RepositoryError> {
        let mut state = self.write();
        let mut outcomes = Vec::with_capacity(users.len());
        for imported in users {
            outcomes.push(match state.insert(imported.user, imported.updated_at, imported.last_login_at) {
                Ok(user) => StoredImport::Created(user.id),
                Err(CreateUserError::UsernameTaken) => StoredImport::UsernameTaken,
                Err(CreateUserError::EmailTaken) => StoredImport::EmailTaken,
                Err(CreateUserError::Repository(e)) => return Err(e),
            });
        }
        Ok(outcomes)
    }

    async fn export_users(
        &self,
        filter: &UserFilter,
        after: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<User>, RepositoryError> {
        let state = self.read();
        let from = after.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
        let users = state.users.range((from, std::ops::Bound::Unbounded)).map(|(_, user)| user);
        Ok(users.filter(|user| filter.matches(user)).take(limit as usize).cloned().collect())
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
