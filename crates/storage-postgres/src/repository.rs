use crate::read_batches::ReadBatches;
use crate::rows::UserRow;
use anyhow::Context;
use async_trait::async_trait;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection as _, PgConnection, Postgres};
use std::str::FromStr;
use std::time::Duration;
use users_domain::auth::LoginName;
use users_domain::ports::{
    CreateUserError, DeleteUserError, PoolStats, RepositoryError, UpdateUserError, UserRepository,
};
use users_domain::{ListQuery, NewUser, Page, Role, User, UserId, UserPatch};
pub(crate) use users_storage_sql::storage_error;
use users_storage_sql::{
    create_error, find_by_login_name, list_rows, lower_name, nothing_deleted, nothing_updated, serves_reads,
    update_error, user_columns, Connections,
};

/// How to reach the database.
#[derive(Debug, Clone)]
pub struct PostgresConfig {
    /// `postgres://user@host:port/db` (libpq's `options` parameter is honoured, e.g. a `search_path`).
    pub url: String,
    pub pool_size: u32,
    pub acquire_timeout: Duration,
    pub statement_timeout: Duration,
}

pub struct PostgresUserRepository {
    pub(crate) connections: Connections<Postgres>,
    reads: ReadBatches,
}

/// Connects (failing if the database does not answer within the acquire timeout) and migrates.
pub async fn connect(config: &PostgresConfig, migrate: bool) -> anyhow::Result<PostgresUserRepository> {
    let options = PgConnectOptions::from_str(&config.url)
        .context("invalid PostgreSQL URL")?
        .options([("statement_timeout", format!("{}ms", config.statement_timeout.as_millis()))]);
    let connections = Connections::new(options, config.pool_size, config.acquire_timeout)
        .context("invalid PostgreSQL pool settings")?;
    let repository = PostgresUserRepository { connections, reads: ReadBatches::default() };
    repository.connections.check().await.context("cannot reach PostgreSQL")?;
    if migrate {
        repository.migrate().await?;
    }
    Ok(repository)
}

impl PostgresUserRepository {
    /// Applies pending migrations; sqlx holds an advisory lock meanwhile, so instances starting together apply
    /// them once.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let migrated = self.connections.migrate(&sqlx::migrate!("../../migrations/postgres")).await;
        migrated.context("cannot apply the migrations")
    }
}

fn into_user(row: UserRow) -> Result<User, RepositoryError> {
    User::try_from(row).map_err(RepositoryError::Unexpected)
}

/// Locks every admin row until the transaction ends: changes that could remove an admin run one at a time, so
/// the "one admin must remain" check that follows sees the others' committed result.
async fn lock_admins(connection: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT id FROM users WHERE role = 'admin' FOR UPDATE").fetch_all(connection).await?;
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
        // fetch_all: the statement's whole answer is read, so a commit that fails after the row is seen.
        .fetch_all(executor)
        .await
        .map(|rows| rows.into_iter().next())
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
        let insert = sqlx::query_as(sql)
            .bind(user.username.as_str())
            .bind(user.username.folded())
            .bind(user.email.as_str())
            .bind(user.name.as_ref().map(|n| n.as_str()))
            .bind(lower_name(user.name.as_ref()))
            .bind(user.age.map(age_column))
            .bind(user.role.as_str())
            .bind(user.password_hash.as_str())
            .bind(user.created_at.as_datetime());
        // fetch_all: the statement's whole answer is read, so a commit that fails after the row is seen.
        let rows: Vec<UserRow> =
            self.connections.run(async |c| insert.fetch_all(c).await).await.map_err(create_error)?;
        let row = rows.into_iter().next().ok_or_else(|| anyhow::anyhow!("the insert returned no row"));
        Ok(into_user(row.map_err(RepositoryError::Unexpected)?)?)
    }

    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, RepositoryError> {
        let rows = self.reads.read(&self.connections, &[id.get()]).await?;
        rows.into_iter().next().map(into_user).transpose()
    }

    async fn find_by_ids(&self, ids: &[UserId]) -> Result<Vec<User>, RepositoryError> {
        let ids: Vec<i64> = ids.iter().map(|id| id.get()).collect();
        let rows = self.reads.read(&self.connections, &ids).await?;
        rows.into_iter().map(into_user).collect()
    }

    async fn find_by_login_name(&self, name: &LoginName) -> Result<Option<User>, RepositoryError> {
        let row = find_by_login_name::<Postgres, UserRow>(&self.connections, name).await?;
        row.map(into_user).transpose()
    }

    async fn list(&self, query: &ListQuery) -> Result<Page, RepositoryError> {
        let (total, rows) = list_rows::<Postgres, UserRow>(&self.connections, query, user_columns!()).await?;
        let users = rows.into_iter().map(into_user).collect::<Result<_, _>>()?;
        Ok(Page { users, total })
    }

    async fn update(&self, id: UserId, patch: UserPatch) -> Result<User, UpdateUserError> {
        let demotion = patch.role == Some(Role::User);
        let updated = self
            .connections
            .run(async |c| {
                if !demotion {
                    return update_row(c, id, &patch).await;
                }
                // A demotion: serialize with other admin changes so one admin always remains.
                let mut transaction = c.begin().await?;
                lock_admins(&mut transaction).await?;
                let updated = update_row(&mut *transaction, id, &patch).await?;
                transaction.commit().await?;
                Ok(updated)
            })
            .await;
        let row = updated.map_err(update_error)?;
        match row {
            Some(row) => Ok(into_user(row)?),
            // Nothing written: either there is no such user, or the guard kept the last admin.
            None => Err(nothing_updated(self.find_by_id(id).await?.is_some())),
        }
    }

    async fn delete(&self, id: UserId) -> Result<(), DeleteUserError> {
        let delete = sqlx::query(
            "DELETE FROM users WHERE id = $1 AND (role <> 'admin' \
                OR (SELECT count(*) FROM users WHERE role = 'admin') > 1)",
        )
        .bind(id.get());
        let deleted = self
            .connections
            .run(async |c| {
                let mut transaction = c.begin().await?;
                lock_admins(&mut transaction).await?;
                let deleted = delete.execute(&mut *transaction).await?;
                transaction.commit().await?;
                Ok(deleted)
            })
            .await
            .map_err(storage_error)?;
        if deleted.rows_affected() == 1 {
            return Ok(());
        }
        Err(nothing_deleted(self.find_by_id(id).await?.is_some()))
    }

    async fn ping(&self) -> Result<(), RepositoryError> {
        serves_reads(&self.connections).await
    }

    async fn close(&self) {
        self.connections.close().await;
    }

    fn pool_stats(&self) -> Option<PoolStats> {
        Some(self.connections.stats())
    }
}
