use crate::database_file::DatabaseFile;
use anyhow::Context;
use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection as _, Sqlite};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, OwnedMutexGuard};
use users_domain::ports::RepositoryError;
use users_storage_sql::{
    user_columns, BatchStatement, CallerSession, Connections, Dialect, Failed, ReadBatches, RowWithSessions, SqlStore,
    StatementContext as _, SubstringIndex,
};

/// A user row as SQLite stores it: timestamps in microseconds since the Unix epoch.
type UserRow = users_storage_sql::UserRow<i64>;

/// How to reach the database.
#[derive(Debug, Clone)]
pub struct SqliteConfig {
    /// `sqlite://path/to/file.db` (relative to the working directory) or `sqlite::memory:`.
    pub url: String,
    pub pool_size: u32,
    pub acquire_timeout: Duration,
}

/// The store of every storage port in SQLite.
pub type SqliteStore = SqlStore<SqliteDialect>;

/// What SQLite does its own way: timestamps as `INTEGER` microseconds, writers taking turns in the process, the
/// database file checked before each write, and an in-memory database kept alive.
pub struct SqliteDialect {
    /// SQLite runs one writer at a time; writers queue here, in order, rather than in its busy-retry loop (where
    /// an unlucky one can wait far longer than the others). Reads do not take it.
    writer: Arc<Mutex<()>>,
    write_wait: Duration,
    /// An in-memory database lives as long as one of its connections does: this one, held for the store's
    /// life, keeps it when the pool closes its own (a request cancelled mid-statement closes its connection).
    _memory_keeper: Option<std::sync::Mutex<SqliteConnection>>,
    /// The file opened (`None` in memory): checked before each write, so none goes into a removed file.
    file: Option<DatabaseFile>,
    /// Primary-key reads that arrive together share one statement: each statement is a trip to the thread of
    /// the connection's SQLite handle and back, which costs far more than reading a few rows more.
    reads: ReadBatches<UsersById>,
}

/// The statement of a batch of primary-key reads.
struct UsersById;

/// A user row and its live sessions among those asked.
#[derive(sqlx::FromRow)]
struct SessionUserRow {
    #[sqlx(flatten)]
    user: UserRow,
    live_sessions: Option<String>,
}

#[async_trait]
impl BatchStatement for UsersById {
    type Database = Sqlite;
    type Row = UserRow;

    /// Many ids, or one id with several sessions (the shared batching answers one id with at most one session
    /// itself): the ids go as one JSON array, so the statement's text (and its prepared form, cached per
    /// connection) is the same for every batch size; so do the sessions and the callers' ids. Each caller's live
    /// sessions come back space-separated (a session id has no space); the other users' rows skip the check.
    async fn select(
        &self,
        connection: &mut SqliteConnection,
        ids: &[i64],
        sessions: &[CallerSession],
    ) -> Result<Vec<RowWithSessions<UserRow>>, Failed> {
        const SELECT_MANY: &str =
            concat!("SELECT ", user_columns!(), " FROM users WHERE id IN (SELECT value FROM json_each($1))");
        const SELECT_WITH_SESSIONS: &str = concat!(
            "SELECT ",
            user_columns!(),
            ", CASE WHEN id IN (SELECT value FROM json_each($3)) THEN (SELECT group_concat(f.id, ' ') \
               FROM refresh_families f WHERE f.id IN (SELECT value FROM json_each($2)) AND f.user_id = users.id \
               AND f.revoked_at IS NULL) END AS live_sessions \
             FROM users WHERE id IN (SELECT value FROM json_each($1))"
        );
        if sessions.is_empty() {
            let rows: Vec<UserRow> = sqlx::query_as(SELECT_MANY)
                .bind(json_array(ids))
                .fetch_all(connection)
                .await
                .step("read users by id")?;
            return Ok(rows.into_iter().map(|row| (row, Vec::new())).collect());
        }
        // Session ids are letters, digits, `_` and `-` (SessionId): quoted as they are, they are JSON strings.
        let session_ids = json_array(sessions.iter().map(|s| format!("\"{}\"", s.session_id)));
        let rows: Vec<SessionUserRow> = sqlx::query_as(SELECT_WITH_SESSIONS)
            .bind(json_array(ids))
            .bind(session_ids)
            .bind(json_array(sessions.iter().map(|s| s.user_id)))
            .fetch_all(connection)
            .await
            .step("read users by id with their sessions")?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let live = row.live_sessions.unwrap_or_default().split_whitespace().map(str::to_owned).collect();
                (row.user, live)
            })
            .collect())
    }

    fn id_of(row: &UserRow) -> i64 {
        row.id
    }
}

/// A JSON array of these items, each as it displays (so a string must come quoted).
fn json_array<T: std::fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    let items: Vec<String> = items.into_iter().map(|item| item.to_string()).collect();
    format!("[{}]", items.join(","))
}

/// Opens (creating the file and its folder if missing) and migrates the database.
pub async fn connect(config: &SqliteConfig, migrate: bool) -> anyhow::Result<SqliteStore> {
    let options = SqliteConnectOptions::from_str(&config.url)
        .with_context(|| format!("invalid SQLite URL {:?}", config.url))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5));
    let path = options.get_filename().to_owned();
    let in_memory = is_memory(&config.url);
    if let Some(folder) = path.parent().filter(|p| !in_memory && !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder).with_context(|| format!("cannot create the folder {}", folder.display()))?;
    }
    // The file is created here, once. The pool's connections never create it: one opened after the file was
    // removed fails (503) instead of starting an empty database at the path.
    let first = options.connect().await.with_context(|| format!("cannot open the SQLite database {:?}", config.url))?;
    let (memory_keeper, pool_options) = match in_memory {
        true => (Some(std::sync::Mutex::new(first)), options),
        false => {
            let _ = first.close().await;
            (None, options.create_if_missing(false))
        }
    };
    let connections = Connections::new(pool_options, config.pool_size, config.acquire_timeout)
        .context("invalid SQLite pool settings")?;
    connections
        .run(async |c| {
            // A write, rolled back, proves the file was opened for writing: a read-only file or folder fails here,
            // not at the first sign-up. (A write lock alone is granted on a read-only database whose WAL index
            // exists.) Whether the disk has room is only known at each commit.
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
    let file = match in_memory {
        true => None,
        false => Some(DatabaseFile::opened(&path).with_context(|| format!("cannot find {}", path.display()))?),
    };
    if migrate {
        let migrated = connections.migrate(&sqlx::migrate!("../../migrations/sqlite")).await;
        migrated.context("cannot apply the migrations")?;
    }
    let dialect = SqliteDialect {
        writer: Arc::default(),
        write_wait: config.acquire_timeout,
        _memory_keeper: memory_keeper,
        file,
        // A statement is a trip to the connection's thread, which works all the while.
        reads: ReadBatches::per_core(UsersById, config.pool_size),
    };
    Ok(SqlStore::new(connections, dialect))
}

fn is_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

#[async_trait]
impl Dialect for SqliteDialect {
    type Database = Sqlite;
    type Time = i64;
    type WriteTurn = OwnedMutexGuard<()>;

    /// Held for the duration of one write; refused when the database file is no longer the one opened.
    /// Waiting for it is bounded by the acquire timeout, like waiting for a connection: writes queued behind a
    /// lock another process holds get a 503, not a wait that grows with the queue.
    async fn write_turn(&self) -> Result<OwnedMutexGuard<()>, RepositoryError> {
        let turn = tokio::time::timeout(self.write_wait, self.writer.clone().lock_owned())
            .await
            .map_err(|_| RepositoryError::Unavailable(anyhow::anyhow!("no write turn within {:?}", self.write_wait)))?;
        self.check_ready()?;
        Ok(turn)
    }

    /// Nothing to lock: SQLite runs one writer at a time, so the guarded statement and its check are atomic.
    async fn lock_admins(&self, _transaction: &mut SqliteConnection) -> Result<(), sqlx::Error> {
        Ok(())
    }

    async fn find_rows(
        &self,
        connections: &Connections<Sqlite>,
        ids: &[i64],
        session: Option<&CallerSession>,
    ) -> Result<Vec<UserRow>, RepositoryError> {
        self.reads.read(connections, ids, session).await
    }

    fn check_ready(&self) -> Result<(), RepositoryError> {
        self.file.as_ref().map_or(Ok(()), DatabaseFile::check)
    }

    /// The family first (the token refers to it); SQLite has no data-modifying `WITH`.
    const STORE_REFRESH_TOKEN: &'static [&'static str] = &[
        "INSERT INTO refresh_families (id, user_id, created_at, last_used_at, expires_at, ip, user_agent) \
         VALUES ($2, $3, $6, $6, $4, $7, $8) \
         ON CONFLICT (id) DO UPDATE SET last_used_at = excluded.last_used_at, expires_at = excluded.expires_at, \
           ip = excluded.ip, user_agent = excluded.user_agent",
        "INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at, token_version) \
         VALUES ($1, $2, $3, $4, $5)",
    ];

    /// The FTS5 table of the migrations (trigram tokenizer, case-sensitive, over the folded columns).
    const SUBSTRING_INDEX: SubstringIndex = SubstringIndex::SearchTable;

    fn rows_affected(result: &sqlx::sqlite::SqliteQueryResult) -> u64 {
        result.rows_affected()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use users_domain::ports::UserRepository;
    use users_domain::testing::new_user;

    #[tokio::test]
    async fn an_in_memory_database_outlives_the_connections_the_pool_closes() {
        let config =
            SqliteConfig { url: "sqlite::memory:".into(), pool_size: 1, acquire_timeout: Duration::from_secs(5) };
        let store = connect(&config, true).await.expect("opens");
        let alice = store.create(new_user("alice")).await.expect("created");
        // A use that does not finish (a cancelled request) closes its connection: here the pool's only one.
        drop(store.connections().get().await.expect("connection"));
        tokio::time::sleep(Duration::from_millis(300)).await; // SQLite's worker thread closes it meanwhile

        let found = store.find_by_id(alice.id).await.expect("the schema and rows are still there");
        assert_eq!(found.map(|u| u.id), Some(alice.id));
    }
}
