//! `SqlStore`: the storage ports (users, refresh tokens, login failures, operations) over either SQL database,
//! each statement written once. A port call of several statements runs them in one transaction; every
//! statement names its step, so a failure's log line says which one failed.

use crate::errors::{create_error, unless_user_gone, update_error, StatementContext as _};
use crate::rows::{age_column, status_column, TimeColumn, UserRow};
use crate::{
    find_by_login_name, list_rows, nothing_deleted, nothing_updated, serves_reads, storage_error, user_columns,
    Connections, SampledTrigrams, SubstringIndex,
};
use async_trait::async_trait;
use sqlx::query::Query;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, FromRow, IntoArguments, Type};
use users_domain::auth::LoginName;
use users_domain::ports::{
    CreateUserError, DeleteUserError, Grace, ListUsersError, LoginFailureStore, PoolStats, RefreshTokenStore,
    RepositoryError, SpendOutcome, StorageOperations, StoredRefreshToken, UpdateUserError, UserRepository,
};
use users_domain::{
    fold_case, AccountStatus, ClientInfo, DisplayName, ListQuery, NewUser, Page, PasswordHash, Role, Session,
    SessionId, Timestamp, User, UserId, UserPatch,
};

/// What differs between the SQL databases, and nothing else: the database and how it stores a timestamp, how
/// writers take turns, how changes that could remove the last admin are serialized, how users are read by
/// primary key, and what readiness checks besides a read.
#[async_trait]
pub trait Dialect: Send + Sync + 'static {
    type Database: Database;
    /// A timestamp column's type.
    type Time: TimeColumn;
    /// Held while one write runs.
    type WriteTurn: Send;

    /// Waits for this instance's turn to write (bounded); `Unavailable` when the storage cannot take writes now.
    async fn write_turn(&self) -> Result<Self::WriteTurn, RepositoryError>;

    /// First in the transaction of a change that could remove an admin (a demotion, a delete), where the
    /// database does not already run such changes one at a time: the guard that keeps one admin then sees the
    /// others' committed result.
    async fn lock_admins(&self, transaction: &mut <Self::Database as Database>::Connection) -> Result<(), sqlx::Error>;

    /// The rows of the users with these ids that exist, in no particular order; with a `session`, the caller's
    /// row only while that session is theirs and not revoked, checked in the same statement.
    async fn find_rows(
        &self,
        connections: &Connections<Self::Database>,
        ids: &[i64],
        session: Option<&CallerSession>,
    ) -> Result<Vec<UserRow<Self::Time>>, RepositoryError>;

    /// What readiness checks besides a read of the users table: nothing, unless the dialect says.
    fn check_ready(&self) -> Result<(), RepositoryError> {
        Ok(())
    }

    /// The statements that store a refresh token and, when it is new, its family (else they record the family's
    /// use: last used, expiry, client); each is given the same parameters (`$1` token hash, `$2` family id, `$3`
    /// user id, `$4` expiry, `$5` token version, `$6` issue time, `$7` client IP, `$8` user agent). PostgreSQL
    /// does both in one statement (a data-modifying `WITH`, one round trip per login); SQLite needs two, run in
    /// one transaction.
    const STORE_REFRESH_TOKEN: &'static [&'static str];

    /// The trigram index that finds `q`'s candidates (the migrations create it).
    const SUBSTRING_INDEX: SubstringIndex;

    /// Run before a mail is queued, in its transaction, with the address as `$1`: makes the queueing of mails to one
    /// address take turns, so the per-address limit holds under concurrent requests. `None` where writes already
    /// take turns (SQLite).
    const LOCK_MAIL_ADDRESS: Option<&'static str> = None;

    /// Whether the database has row locks (`FOR UPDATE SKIP LOCKED`): concurrent mail senders then skip each
    /// other's claims instead of waiting on them.
    const ROW_LOCKS: bool = false;

    /// How many rows a statement changed (each driver says it in a type of its own).
    fn rows_affected(result: &<Self::Database as Database>::QueryResult) -> u64;
}

/// A caller's session, checked where the caller is loaded: `session_id` must be a family of `user_id` that is not
/// revoked.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CallerSession {
    pub user_id: i64,
    pub session_id: String,
}

/// The store of users, refresh tokens and login failures in a SQL database: every storage port.
pub struct SqlStore<D: Dialect> {
    pub(crate) connections: Connections<D::Database>,
    pub(crate) dialect: D,
    /// Which trigrams of `q` are rare, for its search.
    trigrams: SampledTrigrams,
}

impl<D: Dialect> SqlStore<D> {
    pub fn new(connections: Connections<D::Database>, dialect: D) -> Self {
        Self { connections, dialect, trigrams: SampledTrigrams::default() }
    }

    pub fn connections(&self) -> &Connections<D::Database> {
        &self.connections
    }
}

/// An impl block over every dialect, with the bounds sqlx needs to run this module's statements on the dialect's
/// database (`Database` states none of them itself); written here once rather than on each block.
macro_rules! for_every_dialect {
    (impl SqlStore { $($body:tt)* }) => {
        for_every_dialect!(@block [] [] $($body)*);
    };
    ($(#[$attribute:meta])* impl $port:ident for SqlStore { $($body:tt)* }) => {
        for_every_dialect!(@block [$(#[$attribute])*] [$port for] $($body)*);
    };
    (@block [$($attribute:tt)*] [$($port:tt)*] $($body:tt)*) => {
        $($attribute)*
        impl<D: Dialect> $($port)* SqlStore<D>
        where
            D::Database: sqlx::database::HasStatementCache,
            for<'c> &'c mut <D::Database as Database>::Connection: Executor<'c, Database = D::Database>,
            <D::Database as Database>::Arguments: IntoArguments<D::Database>,
            usize: ColumnIndex<<D::Database as Database>::Row>,
            for<'r> UserRow<D::Time>: FromRow<'r, <D::Database as Database>::Row>,
            for<'q> String: Encode<'q, D::Database> + Decode<'q, D::Database> + Type<D::Database>,
            for<'q> i64: Encode<'q, D::Database> + Decode<'q, D::Database> + Type<D::Database>,
            for<'q> D::Time: Encode<'q, D::Database> + Decode<'q, D::Database> + Type<D::Database>,
            for<'q> i16: Encode<'q, D::Database> + Type<D::Database>,
            for<'q> bool: Encode<'q, D::Database> + Type<D::Database>,
            for<'q> Option<String>: Encode<'q, D::Database> + Decode<'q, D::Database> + Type<D::Database>,
            for<'q> Option<i16>: Encode<'q, D::Database> + Type<D::Database>,
            for<'q> Option<bool>: Encode<'q, D::Database> + Type<D::Database>,
            for<'q> Option<D::Time>: Encode<'q, D::Database> + Type<D::Database>,
        {
            $($body)*
        }
    };
}

pub(crate) use for_every_dialect;

pub(crate) fn into_user<Time: TimeColumn>(row: UserRow<Time>) -> Result<User, RepositoryError> {
    User::try_from(row).map_err(RepositoryError::Unexpected)
}

fn user_id(id: i64) -> Result<UserId, RepositoryError> {
    UserId::new(id).map_err(|e| RepositoryError::Unexpected(e.into()))
}

const INSERT_USER: &str = concat!(
    "INSERT INTO users (username, username_lower, email, name, name_lower, age, role, password_hash, \
     created_at, updated_at, status, disabled_until, email_verified) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, $11, $12) RETURNING ",
    user_columns!()
);

/// Whether a row's user is active at `$11` (a ban whose end has passed has lifted itself). Never NULL.
macro_rules! active_at_11 {
    () => {
        "(status = 'active' OR (disabled_until IS NOT NULL AND disabled_until <= $11))"
    };
}

/// The patch's fields, each kept when `NULL` (the name and age with a flag, as `NULL` is a value they can be
/// set to; `disabled_until` goes with `status`); a new password hash or a disable ends the sessions begun
/// before it (`token_version`, `$15`). The guard refuses a write that would leave no active admin: the row is
/// not an active admin now, or stays one (an admin, not disabled by `$16`), or another active admin remains; the
/// patch's expected email (`$18`, when given) is the row's.
const UPDATE_USER: &str = concat!(
    "UPDATE users SET \
        username = COALESCE($1, username), username_lower = COALESCE($2, username_lower), \
        email = COALESCE($3, email), \
        name = CASE WHEN $4 THEN $5 ELSE name END, name_lower = CASE WHEN $4 THEN $6 ELSE name_lower END, \
        age = CASE WHEN $7 THEN $8 ELSE age END, \
        role = COALESCE($9, role), password_hash = COALESCE($10, password_hash), updated_at = $11, \
        status = COALESCE($13, status), \
        disabled_until = CASE WHEN CAST($13 AS TEXT) IS NULL THEN disabled_until ELSE $14 END, \
        email_verified = COALESCE($17, email_verified), \
        token_version = token_version + (CASE WHEN $15 THEN 1 ELSE 0 END) \
     WHERE id = $12 AND (CAST($18 AS TEXT) IS NULL OR email = $18) AND (NOT (role = 'admin' AND ",
    active_at_11!(),
    ") OR (COALESCE($9, role) = 'admin' AND NOT $16) \
        OR (SELECT count(*) FROM users WHERE role = 'admin' AND ",
    active_at_11!(),
    ") > 1) \
     RETURNING ",
    user_columns!()
);

/// Whether a row's user is active at `$2`.
macro_rules! active_at_2 {
    () => {
        "(status = 'active' OR (disabled_until IS NOT NULL AND disabled_until <= $2))"
    };
}

const DELETE_USER: &str = concat!(
    "DELETE FROM users WHERE id = $1 AND (NOT (role = 'admin' AND ",
    active_at_2!(),
    ") OR (SELECT count(*) FROM users WHERE role = 'admin' AND ",
    active_at_2!(),
    ") > 1)"
);

/// Bound to the token version the login read with the hash it checked; `updated_at` stays.
const RECORD_LOGIN: &str = "UPDATE users SET last_login_at = $1 WHERE id = $2 AND token_version = $3";

const USER_EXISTS: &str = "SELECT id FROM users WHERE id = $1";
const USER_EMAIL: &str = "SELECT email FROM users WHERE id = $1";

for_every_dialect! {
    impl SqlStore {
        /// A write of one statement: in this instance's write turn, on a connection of its own; the rows it
        /// changed.
        async fn write_one(
            &self,
            statement: Query<'_, D::Database, <D::Database as Database>::Arguments>,
            step: &'static str,
        ) -> Result<u64, RepositoryError> {
            let _turn = self.dialect.write_turn().await?;
            let written = self.connections.run(async |c| statement.execute(c).await.step(step)).await;
            Ok(D::rows_affected(&written.map_err(storage_error)?))
        }
    }
}

for_every_dialect! {
    #[async_trait]
    impl UserRepository for SqlStore {
        async fn create(&self, user: NewUser) -> Result<User, CreateUserError> {
            let _turn = self.dialect.write_turn().await?;
            let insert = sqlx::query_as(INSERT_USER)
                .bind(user.username.as_str().to_owned())
                .bind(user.username.folded())
                .bind(user.email.as_str().to_owned())
                .bind(user.name.as_ref().map(|n| n.as_str().to_owned()))
                .bind(user.name.as_ref().map(DisplayName::folded))
                .bind(user.age.map(age_column))
                .bind(user.role.as_str().to_owned())
                .bind(user.password_hash.as_str().to_owned())
                .bind(D::Time::from_timestamp(user.created_at))
                .bind(status_column(user.status))
                .bind(user.status.disabled_until().map(D::Time::from_timestamp))
                .bind(user.email_verified);
            // fetch_all: the statement's whole answer is read, so a commit that fails after the row is seen.
            let rows: Vec<UserRow<D::Time>> = self
                .connections
                .run(async |c| insert.fetch_all(c).await.step("insert the user"))
                .await
                .map_err(create_error)?;
            let row = rows.into_iter().next().ok_or_else(|| anyhow::anyhow!("the insert returned no row"));
            Ok(into_user(row.map_err(RepositoryError::Unexpected)?)?)
        }

        async fn find_by_id(&self, id: UserId) -> Result<Option<User>, RepositoryError> {
            let rows = self.dialect.find_rows(&self.connections, &[id.get()], None).await?;
            rows.into_iter().next().map(into_user).transpose()
        }

        async fn find_by_ids(&self, ids: &[UserId]) -> Result<Vec<User>, RepositoryError> {
            let ids: Vec<i64> = ids.iter().map(|id| id.get()).collect();
            let rows = self.dialect.find_rows(&self.connections, &ids, None).await?;
            rows.into_iter().map(into_user).collect()
        }

        async fn find_caller<'a>(
            &self,
            caller: UserId,
            session: Option<&'a SessionId>,
            others: &[UserId],
        ) -> Result<Vec<User>, RepositoryError> {
            let ids: Vec<i64> = std::iter::once(caller).chain(others.iter().copied()).map(UserId::get).collect();
            let session =
                session.map(|s| CallerSession { user_id: caller.get(), session_id: s.as_str().to_owned() });
            let rows = self.dialect.find_rows(&self.connections, &ids, session.as_ref()).await?;
            rows.into_iter().map(into_user).collect()
        }

        async fn find_by_login_name(&self, name: &LoginName) -> Result<Option<User>, RepositoryError> {
            let row = find_by_login_name::<D::Database, UserRow<D::Time>>(&self.connections, name).await?;
            row.map(into_user).transpose()
        }

        async fn list(&self, query: &ListQuery) -> Result<Page, ListUsersError> {
            let search = match query.filter.q.as_deref().map(fold_case) {
                Some(q) if query.filter.can_match() => {
                    self.trigrams.search(D::SUBSTRING_INDEX, &self.connections, &q).await
                }
                _ => None,
            };
            let listed = list_rows::<D::Database, UserRow<D::Time>, D::Time>(
                &self.connections,
                query,
                user_columns!(),
                search.as_ref(),
            )
            .await?;
            let (total, rows) = listed.ok_or(ListUsersError::StartingAfterNotListed)?;
            let users = rows.into_iter().map(into_user).collect::<Result<_, _>>()?;
            Ok(Page::from_fetched(users, query.limit, total))
        }

        async fn update(&self, id: UserId, patch: UserPatch) -> Result<User, UpdateUserError> {
            let _turn = self.dialect.write_turn().await?;
            let name = patch.name.as_ref();
            let disables = matches!(patch.status, Some(AccountStatus::Disabled { .. }));
            let may_remove_an_admin = disables || patch.role == Some(Role::User);
            let update = sqlx::query_as(UPDATE_USER)
                .bind(patch.username.as_ref().map(|u| u.as_str().to_owned()))
                .bind(patch.username.as_ref().map(|u| u.folded()))
                .bind(patch.email.as_ref().map(|e| e.as_str().to_owned()))
                .bind(name.is_some())
                .bind(name.and_then(|n| n.as_ref().map(|n| n.as_str().to_owned())))
                .bind(name.and_then(|n| n.as_ref().map(DisplayName::folded)))
                .bind(patch.age.is_some())
                .bind(patch.age.flatten().map(age_column))
                .bind(patch.role.map(|r| r.as_str().to_owned()))
                .bind(patch.password_hash.as_ref().map(|h| h.as_str().to_owned()))
                .bind(D::Time::from_timestamp(patch.updated_at))
                .bind(id.get())
                .bind(patch.status.map(status_column))
                .bind(patch.status.and_then(AccountStatus::disabled_until).map(D::Time::from_timestamp))
                .bind(patch.ends_sessions())
                .bind(disables)
                .bind(patch.email_verified)
                .bind(patch.expected_email.as_ref().map(|e| e.as_str().to_owned()));
            let email_of = sqlx::query_scalar(USER_EMAIL).bind(id.get());
            // The row written, or (nothing written) the user's email if the user exists.
            let updated: Result<UserRow<D::Time>, Option<String>> = self
                .connections
                .transaction(async |c| {
                    if may_remove_an_admin {
                        self.dialect.lock_admins(c).await.step("lock the admins")?;
                    }
                    // fetch_all: the statement's whole answer is read, so a failure after the row is seen.
                    let rows: Vec<UserRow<D::Time>> = update.fetch_all(&mut *c).await.step("update the user")?;
                    if let Some(row) = rows.into_iter().next() {
                        return Ok(Ok(row));
                    }
                    // Nothing written: there is no such user, its email is not the expected one, or the guard kept
                    // the last admin.
                    Ok(Err(email_of.fetch_optional(c).await.step("look for the user")?))
                })
                .await
                .map_err(update_error)?;
            match updated {
                Ok(row) => Ok(into_user(row)?),
                Err(email) => Err(nothing_updated(email, patch.expected_email.as_ref(), may_remove_an_admin)),
            }
        }

        async fn replace_password_hash(
            &self,
            id: UserId,
            current: &PasswordHash,
            new: &PasswordHash,
        ) -> Result<bool, RepositoryError> {
            let replace = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash = $3")
                .bind(new.as_str().to_owned())
                .bind(id.get())
                .bind(current.as_str().to_owned());
            Ok(self.write_one(replace, "replace the password hash").await? == 1)
        }

        async fn delete(&self, id: UserId, now: Timestamp) -> Result<(), DeleteUserError> {
            let _turn = self.dialect.write_turn().await?;
            let delete = sqlx::query(DELETE_USER).bind(id.get()).bind(D::Time::from_timestamp(now));
            let exists = sqlx::query_scalar(USER_EXISTS).bind(id.get());
            // `None` once deleted; otherwise whether the user exists.
            let user_exists: Option<bool> = self
                .connections
                .transaction(async |c| {
                    self.dialect.lock_admins(c).await.step("lock the admins")?;
                    let deleted = delete.execute(&mut *c).await.step("delete the user")?;
                    if D::rows_affected(&deleted) == 1 {
                        return Ok(None);
                    }
                    let found: Option<i64> = exists.fetch_optional(c).await.step("look for the user")?;
                    Ok(Some(found.is_some()))
                })
                .await
                .map_err(storage_error)?;
            match user_exists {
                None => Ok(()),
                Some(user_exists) => Err(nothing_deleted(user_exists)),
            }
        }

        async fn record_login(&self, id: UserId, token_version: i64, at: Timestamp) -> Result<bool, RepositoryError> {
            let record =
                sqlx::query(RECORD_LOGIN).bind(D::Time::from_timestamp(at)).bind(id.get()).bind(token_version);
            Ok(self.write_one(record, "record the login").await? == 1)
        }
    }
}

for_every_dialect! {
    /// Spending is one conditional `UPDATE` in a transaction with its reuse handling: concurrent spends of a
    /// token queue on its row (PostgreSQL's row lock, SQLite's single writer) and re-check `spent_at IS NULL`, so
    /// exactly one changes it.
    #[async_trait]
    impl RefreshTokenStore for SqlStore {
        async fn insert(&self, token: StoredRefreshToken) -> Result<(), RepositoryError> {
            let _turn = self.dialect.write_turn().await?;
            let statements: Vec<_> = D::STORE_REFRESH_TOKEN
                .iter()
                .map(|sql| {
                    sqlx::query(*sql)
                        .bind(token.token_hash.clone())
                        .bind(token.family_id.clone())
                        .bind(token.user_id.get())
                        .bind(D::Time::from_timestamp(token.expires_at))
                        .bind(token.token_version)
                        .bind(D::Time::from_timestamp(token.issued_at))
                        .bind(token.client.ip().map(str::to_owned))
                        .bind(token.client.user_agent().map(str::to_owned))
                })
                .collect();
            let store = async |c: &mut <D::Database as Database>::Connection| {
                for statement in statements {
                    statement.execute(&mut *c).await.step("store the refresh token")?;
                }
                Ok(())
            };
            let stored = match D::STORE_REFRESH_TOKEN.len() {
                1 => self.connections.run(store).await,
                _ => self.connections.transaction(store).await,
            };
            unless_user_gone(stored)
        }

        async fn spend<'a>(
            &self,
            token_hash: &str,
            now: Timestamp,
            grace: Option<&'a Grace>,
        ) -> Result<SpendOutcome, RepositoryError> {
            let _turn = self.dialect.write_turn().await?;
            let spend = sqlx::query_as(
                "UPDATE refresh_tokens SET spent_at = $2 \
                 WHERE token_hash = $1 AND spent_at IS NULL AND expires_at > $2 \
                   AND family_id IN (SELECT id FROM refresh_families WHERE revoked_at IS NULL) \
                   AND token_version = (SELECT u.token_version FROM users u WHERE u.id = refresh_tokens.user_id) \
                 RETURNING family_id, user_id, token_version",
            )
            .bind(token_hash.to_owned())
            .bind(D::Time::from_timestamp(now));
            // Spent within the grace, of a live family at its user's version, and its successor not spent yet:
            // answered with that successor again (docs/api.md §6).
            let repeated = grace.map(|grace| {
                sqlx::query_as(
                    "SELECT family_id, user_id, token_version FROM refresh_tokens t \
                     WHERE token_hash = $1 AND expires_at > $2 AND spent_at >= $3 \
                       AND family_id IN (SELECT id FROM refresh_families WHERE revoked_at IS NULL) \
                       AND token_version = (SELECT u.token_version FROM users u WHERE u.id = t.user_id) \
                       AND NOT EXISTS (SELECT 1 FROM refresh_tokens s \
                                       WHERE s.token_hash = $4 AND s.spent_at IS NOT NULL)",
                )
                .bind(token_hash.to_owned())
                .bind(D::Time::from_timestamp(now))
                .bind(D::Time::from_timestamp(grace.spent_since))
                .bind(grace.successor_hash.clone())
            });
            let known = sqlx::query_as(
                "SELECT family_id, user_id FROM refresh_tokens WHERE token_hash = $1 AND expires_at > $2",
            )
            .bind(token_hash.to_owned())
            .bind(D::Time::from_timestamp(now));
            // Spent already, its family revoked, or begun before a password change: reuse. Revoke the family
            // (again).
            let revoke =
                sqlx::query("UPDATE refresh_families SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2");
            let outcome: Spend = self
                .connections
                .transaction(async |c| {
                    // fetch_all: a write's statement runs to its end, so a failure to store it is seen here.
                    let spent: Vec<(String, i64, i64)> =
                        spend.fetch_all(&mut *c).await.step("spend the refresh token")?;
                    if let Some(spent) = spent.into_iter().next() {
                        return Ok(Spend::Spent(spent));
                    }
                    if let Some(repeated) = repeated {
                        let found: Option<(String, i64, i64)> =
                            repeated.fetch_optional(&mut *c).await.step("look for a repeat within the grace")?;
                        if let Some(found) = found {
                            return Ok(Spend::Repeated(found));
                        }
                    }
                    let reused: Option<(String, i64)> =
                        known.fetch_optional(&mut *c).await.step("look for the refresh token")?;
                    if let Some((family_id, _)) = &reused {
                        let revoke = revoke.bind(D::Time::from_timestamp(now)).bind(family_id.clone());
                        revoke.execute(c).await.step("revoke the reused token's family")?;
                    }
                    Ok(reused.map_or(Spend::Invalid, Spend::Reused))
                })
                .await
                .map_err(storage_error)?;
            Ok(match outcome {
                Spend::Spent((family_id, user, token_version)) => {
                    SpendOutcome::Spent { user_id: user_id(user)?, family_id, token_version }
                }
                Spend::Repeated((family_id, user, token_version)) => {
                    SpendOutcome::Repeated { user_id: user_id(user)?, family_id, token_version }
                }
                Spend::Reused((family_id, user)) => SpendOutcome::Reused { user_id: user_id(user)?, family_id },
                Spend::Invalid => SpendOutcome::Invalid,
            })
        }

        async fn revoke_family_of(&self, token_hash: &str, now: Timestamp) -> Result<bool, RepositoryError> {
            let revoke = sqlx::query(
                "UPDATE refresh_families SET revoked_at = $2 \
                 WHERE id = (SELECT family_id FROM refresh_tokens WHERE token_hash = $1) AND revoked_at IS NULL",
            )
            .bind(token_hash.to_owned())
            .bind(D::Time::from_timestamp(now));
            Ok(self.write_one(revoke, "revoke a token's family").await? > 0)
        }

        async fn sessions(&self, user: UserId, now: Timestamp) -> Result<Vec<Session>, RepositoryError> {
            let select = sqlx::query_as(
                "SELECT id, created_at, last_used_at, expires_at, ip, user_agent FROM refresh_families \
                 WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 ORDER BY created_at DESC, id",
            )
            .bind(user.get())
            .bind(D::Time::from_timestamp(now));
            let rows: Vec<SessionRow<D::Time>> = self
                .connections
                .run(async |c| select.fetch_all(c).await.step("read the sessions"))
                .await
                .map_err(storage_error)?;
            rows.into_iter().map(into_session).collect()
        }

        async fn revoke_session(
            &self,
            user: UserId,
            session: &SessionId,
            now: Timestamp,
        ) -> Result<bool, RepositoryError> {
            let revoke = sqlx::query(
                "UPDATE refresh_families SET revoked_at = $3 \
                 WHERE id = $2 AND user_id = $1 AND revoked_at IS NULL AND expires_at > $3",
            )
            .bind(user.get())
            .bind(session.as_str().to_owned())
            .bind(D::Time::from_timestamp(now));
            Ok(self.write_one(revoke, "revoke a session").await? > 0)
        }

        async fn revoke_sessions<'a>(
            &self,
            user: UserId,
            except: Option<&'a SessionId>,
            now: Timestamp,
        ) -> Result<u64, RepositoryError> {
            // An expired session is revoked too (its access tokens may outlive it), though it was not live.
            let revoke = sqlx::query(
                "UPDATE refresh_families SET revoked_at = $3 \
                 WHERE user_id = $1 AND revoked_at IS NULL AND id <> COALESCE($2, '')",
            )
            .bind(user.get())
            .bind(except.map(|s| s.as_str().to_owned()))
            .bind(D::Time::from_timestamp(now));
            self.write_one(revoke, "revoke a user's sessions").await
        }

        async fn revoke_user(&self, user: UserId, now: Timestamp) -> Result<(), RepositoryError> {
            let revoke =
                sqlx::query("UPDATE refresh_families SET revoked_at = COALESCE(revoked_at, $2) WHERE user_id = $1")
                    .bind(user.get())
                    .bind(D::Time::from_timestamp(now));
            self.write_one(revoke, "revoke a user's families").await.map(drop)
        }

        async fn purge_refresh_tokens(&self, now: Timestamp) -> Result<u64, RepositoryError> {
            let _turn = self.dialect.write_turn().await?;
            let expired =
                sqlx::query("DELETE FROM refresh_tokens WHERE expires_at <= $1").bind(D::Time::from_timestamp(now));
            let empty_families = sqlx::query(
                "DELETE FROM refresh_families \
                 WHERE NOT EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.family_id = refresh_families.id)",
            );
            self.connections
                .transaction(async |c| {
                    let purged = expired.execute(&mut *c).await.step("purge expired refresh tokens")?;
                    empty_families.execute(c).await.step("purge empty refresh token families")?;
                    Ok(D::rows_affected(&purged))
                })
                .await
                .map_err(storage_error)
        }
    }
}

/// What a spend found, before its ids are checked.
enum Spend {
    Spent((String, i64, i64)),
    Repeated((String, i64, i64)),
    Reused((String, i64)),
    Invalid,
}

/// A session's row: id, created, last used, expires, IP, user agent.
type SessionRow<Time> = (String, Time, Time, Time, Option<String>, Option<String>);

fn into_session<Time: TimeColumn>(row: SessionRow<Time>) -> Result<Session, RepositoryError> {
    let (id, created_at, last_used_at, expires_at, ip, user_agent) = row;
    let time = |t: Time| t.into_timestamp().ok_or_else(|| anyhow::anyhow!("stored timestamp out of range"));
    Ok(Session {
        id: SessionId::parse(id).map_err(|e| RepositoryError::Unexpected(e.into()))?,
        created_at: time(created_at)?,
        last_used_at: time(last_used_at)?,
        expires_at: time(expires_at)?,
        client: ClientInfo::new(ip, user_agent.as_deref()),
    })
}

for_every_dialect! {
    /// Failed logins: shared by every instance on the database, so the lockout counts them together.
    #[async_trait]
    impl LoginFailureStore for SqlStore {
        async fn record(&self, key: &str, at: Timestamp) -> Result<(), RepositoryError> {
            let insert = sqlx::query("INSERT INTO login_failures (login_key, failed_at) VALUES ($1, $2)")
                .bind(key.to_owned())
                .bind(D::Time::from_timestamp(at));
            self.write_one(insert, "record a failed login").await.map(drop)
        }

        async fn since(&self, key: &str, since: Timestamp) -> Result<Vec<Timestamp>, RepositoryError> {
            let select = sqlx::query_scalar(
                "SELECT failed_at FROM login_failures WHERE login_key = $1 AND failed_at >= $2 ORDER BY failed_at",
            )
            .bind(key.to_owned())
            .bind(D::Time::from_timestamp(since));
            let times: Vec<D::Time> = self
                .connections
                .run(async |c| select.fetch_all(c).await.step("read the failed logins"))
                .await
                .map_err(storage_error)?;
            Ok(times.into_iter().filter_map(TimeColumn::into_timestamp).collect())
        }

        async fn clear(&self, key: &str) -> Result<(), RepositoryError> {
            let delete = sqlx::query("DELETE FROM login_failures WHERE login_key = $1").bind(key.to_owned());
            self.write_one(delete, "clear the failed logins").await.map(drop)
        }

        async fn forget(&self, key: &str, at: Timestamp) -> Result<(), RepositoryError> {
            let delete = sqlx::query("DELETE FROM login_failures WHERE login_key = $1 AND failed_at = $2")
                .bind(key.to_owned())
                .bind(D::Time::from_timestamp(at));
            self.write_one(delete, "forget a refused login").await.map(drop)
        }

        async fn purge_login_failures(&self, before: Timestamp) -> Result<u64, RepositoryError> {
            let delete =
                sqlx::query("DELETE FROM login_failures WHERE failed_at < $1").bind(D::Time::from_timestamp(before));
            self.write_one(delete, "purge old failed logins").await
        }
    }
}

for_every_dialect! {
    #[async_trait]
    impl StorageOperations for SqlStore {
        async fn ping(&self) -> Result<(), RepositoryError> {
            self.dialect.check_ready()?;
            serves_reads(&self.connections).await
        }

        async fn close(&self) {
            self.connections.close().await;
        }

        fn pool_stats(&self) -> Option<PoolStats> {
            Some(self.connections.stats())
        }
    }
}

// After the macro, which it uses.
#[path = "mail.rs"]
mod mail;
