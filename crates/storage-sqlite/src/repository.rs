use crate::database_file::DatabaseFile;
use crate::rows::UserRow;
use anyhow::Context;
use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, QueryBuilder, Sqlite};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, MutexGuard};
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
pub struct SqliteConfig {
    /// `sqlite://path/to/file.db` (relative to the working directory) or `sqlite::memory:`.
    pub url: String,
    pub pool_size: u32,
    pub acquire_timeout: Duration,
}

pub struct SqliteUserRepository {
    pub(crate) connections: Connections<Sqlite>,
    /// SQLite runs one writer at a time; writers queue here, in order, rather than in its busy-retry loop (where
    /// an unlucky one can wait far longer than the others). Reads do not take it.
    writer: Arc<Mutex<()>>,
    /// An in-memory database lives as long as one of its connections does: this one, held for the repository's
    /// life, keeps it when the pool closes its own (a request cancelled mid-statement closes its connection).
    _memory_keeper: Option<std::sync::Mutex<SqliteConnection>>,
    /// The file opened (`None` in memory): checked before each write, so none goes into a removed file.
    file: Option<DatabaseFile>,
}

impl SqliteUserRepository {
    /// Held for the duration of one write; refused when the database file is no longer the one opened.
    pub(crate) async fn write_turn(&self) -> Result<MutexGuard<'_, ()>, RepositoryError> {
        let turn = self.writer.lock().await;
        self.check_file()?;
        Ok(turn)
    }

    fn check_file(&self) -> Result<(), RepositoryError> {
        self.file.as_ref().map_or(Ok(()), DatabaseFile::check)
    }
}

/// Opens (creating the file and its folder if missing) and migrates the database.
pub async fn connect(config: &SqliteConfig, migrate: bool) -> anyhow::Result<SqliteUserRepository> {
    let options = SqliteConnectOptions::from_str(&config.url)
        .with_context(|| format!("invalid SQLite URL {:?}", config.url))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5));
    let path = options.get_filename().to_owned();
    if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !is_memory(&config.url) {
            create_folder(folder)?;
        }
    }
    let memory_keeper = match is_memory(&config.url) {
        true => Some(std::sync::Mutex::new(options.connect().await.context("cannot open the SQLite database")?)),
        false => None,
    };
    let connections =
        Connections::new(options, config.pool_size, config.acquire_timeout).context("invalid SQLite pool settings")?;
    let mut repository =
        SqliteUserRepository { connections, writer: Arc::default(), _memory_keeper: memory_keeper, file: None };
    repository
        .connections
        .run(async |c| {
            // A write, rolled back, proves the file can be written: a read-only file or folder fails here, not
            // at the first sign-up. (A write lock alone is granted on a read-only database whose WAL index exists.)
            let version: i64 = sqlx::query_scalar("PRAGMA user_version").fetch_one(&mut *c).await?;
            sqlx::query("BEGIN IMMEDIATE").execute(&mut *c).await?;
            // An integer read from the database itself: nothing to inject.
            let rewrite = sqlx::AssertSqlSafe(format!("PRAGMA user_version = {version}"));
            let written = sqlx::query(rewrite).execute(&mut *c).await;
            sqlx::query("ROLLBACK").execute(c).await?;
            written
        })
        .await
        .with_context(|| format!("cannot open the SQLite database {:?} for writing", config.url))?;
    if !is_memory(&config.url) {
        let file = DatabaseFile::opened(&path).with_context(|| format!("cannot find {}", path.display()))?;
        repository.file = Some(file);
    }
    if migrate {
        repository.migrate().await?;
    }
    Ok(repository)
}

fn is_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

fn create_folder(folder: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(folder).with_context(|| format!("cannot create the folder {}", folder.display()))
}

impl SqliteUserRepository {
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let migrated = self.connections.migrate(&sqlx::migrate!("../../migrations/sqlite")).await;
        migrated.context("cannot apply the migrations")
    }
}

/// The one row an `INSERT … RETURNING` wrote.
fn written(rows: Vec<UserRow>) -> Result<UserRow, RepositoryError> {
    rows.into_iter().next().ok_or_else(|| RepositoryError::Unexpected(anyhow::anyhow!("the insert returned no row")))
}

fn into_user(row: UserRow) -> Result<User, RepositoryError> {
    User::try_from(row).map_err(RepositoryError::Unexpected)
}

#[async_trait]
impl UserRepository for SqliteUserRepository {
    async fn create(&self, user: NewUser) -> Result<User, CreateUserError> {
        let _turn = self.write_turn().await?;
        let sql = concat!(
            "INSERT INTO users (username, username_lower, email, name, name_lower, age, role, password_hash, \
             created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING ",
            user_columns!()
        );
        let statement = sqlx::query_as(sql)
            .bind(user.username.as_str())
            .bind(user.username.folded())
            .bind(user.email.as_str())
            .bind(user.name.as_ref().map(|n| n.as_str()))
            .bind(lower_name(user.name.as_ref()))
            .bind(user.age.map(|a| a.get()))
            .bind(user.role.as_str())
            .bind(user.password_hash.as_str())
            .bind(user.created_at.unix_micros())
            .bind(user.created_at.unix_micros());
        let rows: Vec<UserRow> =
            self.connections.run(async |c| statement.fetch_all(c).await).await.map_err(create_error)?;
        Ok(into_user(written(rows)?)?)
    }

    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, RepositoryError> {
        let sql = concat!("SELECT ", user_columns!(), " FROM users WHERE id = ?");
        let statement = sqlx::query_as(sql).bind(id.get());
        let row: Option<UserRow> =
            self.connections.run(async |c| statement.fetch_optional(c).await).await.map_err(storage_error)?;
        row.map(into_user).transpose()
    }

    async fn find_by_ids(&self, ids: &[UserId]) -> Result<Vec<User>, RepositoryError> {
        let mut select = QueryBuilder::<Sqlite>::new(concat!("SELECT ", user_columns!(), " FROM users WHERE id IN ("));
        let mut separated = select.separated(", ");
        for id in ids {
            separated.push_bind(id.get());
        }
        select.push(")");
        let statement = select.build_query_as();
        let rows: Vec<UserRow> =
            self.connections.run(async |c| statement.fetch_all(c).await).await.map_err(storage_error)?;
        rows.into_iter().map(into_user).collect()
    }

    async fn find_by_login_name(&self, name: &LoginName) -> Result<Option<User>, RepositoryError> {
        let row = find_by_login_name::<Sqlite, UserRow>(&self.connections, name).await?;
        row.map(into_user).transpose()
    }

    async fn list(&self, query: &ListQuery) -> Result<Page, RepositoryError> {
        let (total, rows) = list_rows::<Sqlite, UserRow>(&self.connections, query, user_columns!()).await?;
        let users = rows.into_iter().map(into_user).collect::<Result<_, _>>()?;
        Ok(Page { users, total })
    }

    async fn update(&self, id: UserId, patch: UserPatch) -> Result<User, UpdateUserError> {
        let _turn = self.write_turn().await?;
        // One statement: SQLite runs writers one at a time, so the last-admin guard and the write are atomic.
        let sql = concat!(
            "UPDATE users SET \
                username = COALESCE(?1, username), username_lower = COALESCE(?2, username_lower), \
                email = COALESCE(?3, email), \
                name = CASE WHEN ?4 THEN ?5 ELSE name END, name_lower = CASE WHEN ?4 THEN ?6 ELSE name_lower END, \
                age = CASE WHEN ?7 THEN ?8 ELSE age END, \
                role = COALESCE(?9, role), password_hash = COALESCE(?10, password_hash), updated_at = ?11, \
                token_version = token_version + (CASE WHEN ?10 IS NULL THEN 0 ELSE 1 END) \
             WHERE id = ?12 AND (COALESCE(?9, role) = 'admin' OR role <> 'admin' \
                OR (SELECT count(*) FROM users WHERE role = 'admin') > 1) \
             RETURNING ",
            user_columns!()
        );
        let name = patch.name.as_ref();
        let statement = sqlx::query_as(sql)
            .bind(patch.username.as_ref().map(|u| u.as_str()))
            .bind(patch.username.as_ref().map(|u| u.folded()))
            .bind(patch.email.as_ref().map(|e| e.as_str()))
            .bind(name.is_some())
            .bind(name.and_then(|n| n.as_ref().map(|n| n.as_str())))
            .bind(name.and_then(|n| lower_name(n.as_ref())))
            .bind(patch.age.is_some())
            .bind(patch.age.flatten().map(|a| a.get()))
            .bind(patch.role.map(Role::as_str))
            .bind(patch.password_hash.as_ref().map(|h| h.as_str()))
            .bind(patch.updated_at.unix_micros())
            .bind(id.get());
        // fetch_all: a write's statement runs to its end, where SQLite commits; a failed commit is seen here.
        let rows: Vec<UserRow> =
            self.connections.run(async |c| statement.fetch_all(c).await).await.map_err(update_error)?;
        match rows.into_iter().next() {
            Some(row) => Ok(into_user(row)?),
            // Nothing written: either there is no such user, or the guard refused the last admin's demotion.
            None => Err(nothing_updated(self.find_by_id(id).await?.is_some())),
        }
    }

    async fn delete(&self, id: UserId) -> Result<(), DeleteUserError> {
        let _turn = self.write_turn().await?;
        let statement = sqlx::query(
            "DELETE FROM users WHERE id = ?1 AND (role <> 'admin' \
                OR (SELECT count(*) FROM users WHERE role = 'admin') > 1)",
        )
        .bind(id.get());
        let deleted = self.connections.run(async |c| statement.execute(c).await).await.map_err(storage_error)?;
        if deleted.rows_affected() == 1 {
            return Ok(());
        }
        Err(nothing_deleted(self.find_by_id(id).await?.is_some()))
    }

    async fn ping(&self) -> Result<(), RepositoryError> {
        self.check_file()?;
        serves_reads(&self.connections).await
    }

    async fn close(&self) {
        self.connections.close().await;
    }

    fn pool_stats(&self) -> Option<PoolStats> {
        Some(self.connections.stats())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use users_domain::testing::new_user;

    #[tokio::test]
    async fn an_in_memory_database_outlives_the_connections_the_pool_closes() {
        let config =
            SqliteConfig { url: "sqlite::memory:".into(), pool_size: 1, acquire_timeout: Duration::from_secs(5) };
        let repository = connect(&config, true).await.expect("opens");
        let alice = repository.create(new_user("alice")).await.expect("created");
        // A use that does not finish (a cancelled request) closes its connection: here the pool's only one.
        drop(repository.connections.get().await.expect("connection"));
        tokio::time::sleep(Duration::from_millis(300)).await; // SQLite's worker thread closes it meanwhile

        let found = repository.find_by_id(alice.id).await.expect("the schema and rows are still there");
        assert_eq!(found.map(|u| u.id), Some(alice.id));
    }
}
