use crate::rows::UserRow;
use anyhow::Context;
use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{PgConnection, Postgres};
use std::str::FromStr;
use std::time::Duration;
use users_domain::ports::{
    CreateUserError, DeleteUserError, PoolStats, RepositoryError, UpdateUserError, UserRepository,
};
use users_domain::{ListQuery, NewUser, Page, Role, User, UserId, UserPatch};
pub(crate) use users_storage_sql::storage_error;
use users_storage_sql::{create_error, list_statements, nothing_deleted, nothing_updated, update_error};

/// The columns a `UserRow` reads, as a literal so every statement stays a `&'static str`.
macro_rules! user_columns {
    () => {
        "id, username, email, name, age, role, password_hash, created_at, updated_at, token_version"
    };
}

/// How to reach the database.
#[derive(Debug, Clone)]
pub struct PostgresConfig {
    /// `postgres://user@host:port/db` (libpq's `options` parameter is honoured, e.g. a `search_path`).
    pub url: String,
    pub pool_size: u32,
    pub acquire_timeout: Duration,
    pub statement_timeout: Duration,
}

#[derive(Clone)]
pub struct PostgresUserRepository {
    pub(crate) pool: PgPool,
}

/// Connects (failing if the database does not answer within the acquire timeout) and migrates.
pub async fn connect(config: &PostgresConfig, migrate: bool) -> anyhow::Result<PostgresUserRepository> {
    let options = PgConnectOptions::from_str(&config.url)
        .context("invalid PostgreSQL URL")?
        .options([("statement_timeout", format!("{}ms", config.statement_timeout.as_millis()))]);
    let pool = PgPoolOptions::new()
        .max_connections(config.pool_size.max(1))
        .acquire_timeout(config.acquire_timeout)
        // A broken connection shows as an error on use and is then dropped; no ping before each query.
        .test_before_acquire(false)
        .connect_with(options)
        .await
        .context("cannot reach PostgreSQL")?;
    let repository = PostgresUserRepository { pool };
    if migrate {
        repository.migrate().await?;
    }
    Ok(repository)
}

impl PostgresUserRepository {
    /// Applies pending migrations; sqlx holds an advisory lock meanwhile, so instances starting together apply
    /// them once.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        sqlx::migrate!("../../migrations/postgres").run(&self.pool).await.context("cannot apply the migrations")
    }
}

fn into_user(row: UserRow) -> Result<User, RepositoryError> {
    User::try_from(row).map_err(RepositoryError::Unexpected)
}

fn lower_name(name: Option<&users_domain::DisplayName>) -> Option<String> {
    name.map(|n| n.as_str().to_lowercase())
}

/// Locks every admin row until the transaction ends: changes that could remove an admin run one at a time, so
/// the "one admin must remain" check that follows sees the others' committed result.
async fn lock_admins(connection: &mut PgConnection) -> Result<(), RepositoryError> {
    sqlx::query("SELECT id FROM users WHERE role = 'admin' FOR UPDATE")
        .fetch_all(connection)
        .await
        .map_err(storage_error)?;
    Ok(())
}

const UPDATE_USER: &str = concat!(
    "UPDATE users SET \
        username = COALESCE($1, username), username_lower = COALESCE($2, username_lower), \
        email = COALESCE($3, email), \
        name = CASE WHEN $4 THEN $5 ELSE name END, name_lower = CASE WHEN $4 THEN $6 ELSE name_lower END, \
        age = CASE WHEN $7 THEN $8 ELSE age END, \
        role = COALESCE($9, role), password_hash = COALESCE($10, password_hash), updated_at = $11, \
        token_version = token_version + (CASE WHEN $10::TEXT IS NULL THEN 0 ELSE 1 END) \
     WHERE id = $12 AND (COALESCE($9, role) = 'admin' OR role <> 'admin' \
        OR (SELECT count(*) FROM users WHERE role = 'admin') > 1) \
     RETURNING ",
    user_columns!()
);

async fn update_row<'e>(
    executor: impl sqlx::Executor<'e, Database = Postgres>,
    id: UserId,
    patch: &UserPatch,
) -> Result<Option<UserRow>, sqlx::Error> {
    let name = patch.name.as_ref();
    sqlx::query_as(UPDATE_USER)
        .bind(patch.username.as_ref().map(|u| u.as_str()))
        .bind(patch.username.as_ref().map(|u| u.folded()))
        .bind(patch.email.as_ref().map(|e| e.as_str()))
        .bind(name.is_some())
        .bind(name.and_then(|n| n.as_ref().map(|n| n.as_str())))
        .bind(name.and_then(|n| lower_name(n.as_ref())))
        .bind(patch.age.is_some())
        .bind(patch.age.flatten().map(age_column))
        .bind(patch.role.map(Role::as_str))
        .bind(patch.password_hash.as_ref().map(|h| h.as_str()))
        .bind(patch.updated_at.as_datetime())
        .bind(id.get())
        .fetch_optional(executor)
        .await
}

/// Ages are 1–150: they fit a SMALLINT.
fn age_column(age: users_domain::Age) -> i16 {
    i16::try_from(age.get()).unwrap_or(i16::MAX)
}

#[async_trait]
impl UserRepository for PostgresUserRepository {
    async fn create(&self, user: NewUser) -> Result<User, CreateUserError> {
        let sql = concat!(
            "INSERT INTO users (username, username_lower, email, name, name_lower, age, role, password_hash, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING ",
            user_columns!()
        );
        let row: UserRow = sqlx::query_as(sql)
            .bind(user.username.as_str())
            .bind(user.username.folded())
            .bind(user.email.as_str())
            .bind(user.name.as_ref().map(|n| n.as_str()))
            .bind(lower_name(user.name.as_ref()))
            .bind(user.age.map(age_column))
            .bind(user.role.as_str())
            .bind(user.password_hash.as_str())
            .bind(user.created_at.as_datetime())
            .fetch_one(&self.pool)
            .await
            .map_err(create_error)?;
        Ok(into_user(row)?)
    }

    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, RepositoryError> {
        let sql = concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1");
        let row: Option<UserRow> =
            sqlx::query_as(sql).bind(id.get()).fetch_optional(&self.pool).await.map_err(storage_error)?;
        row.map(into_user).transpose()
    }

    async fn find_by_ids(&self, ids: &[UserId]) -> Result<Vec<User>, RepositoryError> {
        // The common case, a caller reading itself: the plain primary-key lookup.
        if let [id] = ids {
            return Ok(self.find_by_id(*id).await?.into_iter().collect());
        }
        let sql = concat!("SELECT ", user_columns!(), " FROM users WHERE id = ANY($1)");
        let ids: Vec<i64> = ids.iter().map(|id| id.get()).collect();
        let rows: Vec<UserRow> = sqlx::query_as(sql).bind(ids).fetch_all(&self.pool).await.map_err(storage_error)?;
        rows.into_iter().map(into_user).collect()
    }

    async fn list(&self, query: &ListQuery) -> Result<Page, RepositoryError> {
        let Some((mut count, mut page)) = list_statements::<Postgres>(query, user_columns!()) else {
            return Ok(Page { users: Vec::new(), total: 0 });
        };
        let total: i64 = count.build_query_scalar().fetch_one(&self.pool).await.map_err(storage_error)?;
        let rows: Vec<UserRow> = page.build_query_as().fetch_all(&self.pool).await.map_err(storage_error)?;
        let users = rows.into_iter().map(into_user).collect::<Result<_, _>>()?;
        Ok(Page { users, total: u64::try_from(total).unwrap_or(0) })
    }

    async fn update(&self, id: UserId, patch: UserPatch) -> Result<User, UpdateUserError> {
        let updated = if patch.role == Some(Role::User) {
            // A demotion: serialize with other admin changes so one admin always remains.
            let mut transaction = self.pool.begin().await.map_err(storage_error)?;
            lock_admins(&mut transaction).await?;
            let updated = update_row(&mut *transaction, id, &patch).await;
            transaction.commit().await.map_err(storage_error)?;
            updated
        } else {
            update_row(&self.pool, id, &patch).await
        };
        let row = updated.map_err(update_error)?;
        match row {
            Some(row) => Ok(into_user(row)?),
            // Nothing written: either there is no such user, or the guard kept the last admin.
            None => Err(nothing_updated(self.find_by_id(id).await?.is_some())),
        }
    }

    async fn delete(&self, id: UserId) -> Result<(), DeleteUserError> {
        let mut transaction = self.pool.begin().await.map_err(storage_error)?;
        lock_admins(&mut transaction).await?;
        let deleted = sqlx::query(
            "DELETE FROM users WHERE id = $1 AND (role <> 'admin' \
                OR (SELECT count(*) FROM users WHERE role = 'admin') > 1)",
        )
        .bind(id.get())
        .execute(&mut *transaction)
        .await
        .map_err(storage_error)?;
        transaction.commit().await.map_err(storage_error)?;
        if deleted.rows_affected() == 1 {
            return Ok(());
        }
        Err(nothing_deleted(self.find_by_id(id).await?.is_some()))
    }

    async fn ping(&self) -> Result<(), RepositoryError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(storage_error)?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    fn pool_stats(&self) -> Option<PoolStats> {
        let idle = u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX);
        Some(PoolStats { in_use: self.pool.size().saturating_sub(idle), idle })
    }
}
