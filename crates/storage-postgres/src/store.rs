use anyhow::Context;
use async_trait::async_trait;
use sqlx::postgres::PgConnectOptions;
use sqlx::{PgConnection, Postgres};
use std::str::FromStr;
use std::time::Duration;
use time::OffsetDateTime;
use users_domain::ports::RepositoryError;
use users_storage_sql::{user_columns, BatchStatement, CallerSession, Failed, ReadBatches};
use users_storage_sql::{Connections, Dialect, SqlStore, UserRow};
use users_storage_sql::{RowWithSessions, StatementContext as _, SubstringIndex};

/// How to reach the database.
#[derive(Debug, Clone)]
pub struct PostgresConfig {
    /// `postgres://user@host:port/db` (libpq's `options` parameter is honoured, e.g. a `search_path`).
    pub url: String,
    pub pool_size: u32,
    pub acquire_timeout: Duration,
    pub statement_timeout: Duration,
}

/// The store of every storage port in PostgreSQL.
pub type PostgresStore = SqlStore<PostgresDialect>;

/// What PostgreSQL does its own way: `TIMESTAMPTZ` columns, admin rows locked before a demotion or delete, and
/// primary-key reads batched.
pub struct PostgresDialect {
    reads: ReadBatches<UsersById>,
}

impl PostgresDialect {
    /// A batch in flight per core of the service, within the pool: with as many as the pool has connections, the
    /// same reads went out in smaller batches and cost PostgreSQL more per read (docs/benchmarks.md, "Reads as a
    /// share"); the rest of the pool stays free for writes.
    fn new(pool_size: u32) -> Self {
        Self { reads: ReadBatches::per_core(UsersById, pool_size) }
    }
}

/// The statement of a batch of primary-key reads.
struct UsersById;

/// A user row and its live sessions among those asked.
#[derive(sqlx::FromRow)]
struct SessionUserRow {
    #[sqlx(flatten)]
    user: UserRow<OffsetDateTime>,
    live_sessions: Option<Vec<String>>,
}

#[async_trait]
impl BatchStatement for UsersById {
    type Database = Postgres;
    type Row = UserRow<OffsetDateTime>;

    /// Many ids, or one id with several sessions (the shared batching answers one id with at most one session
    /// itself); with sessions, each caller's row also says which of them are its user's and live (an `ARRAY`
    /// column, NULL for the rows of users who are no caller).
    async fn select(
        &self,
        connection: &mut PgConnection,
        ids: &[i64],
        sessions: &[CallerSession],
    ) -> Result<Vec<RowWithSessions<Self::Row>>, Failed> {
        const SELECT_MANY: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE id = ANY($1)");
        const SELECT_WITH_SESSIONS: &str = concat!(
            "SELECT ",
            user_columns!(),
            ", CASE WHEN id = ANY($3) THEN ARRAY(SELECT f.id FROM refresh_families f \
               WHERE f.id = ANY($2) AND f.user_id = users.id AND f.revoked_at IS NULL) END AS live_sessions \
             FROM users WHERE id = ANY($1)"
        );
        if sessions.is_empty() {
            let rows: Vec<Self::Row> =
                sqlx::query_as(SELECT_MANY).bind(ids).fetch_all(connection).await.step("read users by id")?;
            return Ok(rows.into_iter().map(|row| (row, Vec::new())).collect());
        }
        let session_ids: Vec<&str> = sessions.iter().map(|s| s.session_id.as_str()).collect();
        let callers: Vec<i64> = sessions.iter().map(|s| s.user_id).collect();
        let rows: Vec<SessionUserRow> = sqlx::query_as(SELECT_WITH_SESSIONS)
            .bind(ids)
            .bind(session_ids)
            .bind(callers)
            .fetch_all(connection)
            .await
            .step("read users by id with their sessions")?;
        Ok(rows.into_iter().map(|row| (row.user, row.live_sessions.unwrap_or_default())).collect())
    }

    fn id_of(row: &Self::Row) -> i64 {
        row.id
    }
}

/// Connects (failing if the database does not answer within the acquire timeout) and migrates.
pub async fn connect(config: &PostgresConfig, migrate: bool) -> anyhow::Result<PostgresStore> {
    check_certificate_files(&config.url)?;
    let options = PgConnectOptions::from_str(&config.url)
        .context("invalid PostgreSQL URL")?
        .options([("statement_timeout", format!("{}ms", config.statement_timeout.as_millis()))]);
    let connections = Connections::new(options, config.pool_size, config.acquire_timeout)
        .context("invalid PostgreSQL pool settings")?;
    connections.check().await.context("cannot reach PostgreSQL")?;
    if migrate {
        // sqlx holds an advisory lock meanwhile, so instances starting together apply them once.
        let migrated = connections.migrate(&sqlx::migrate!("../../migrations/postgres")).await;
        migrated.context("cannot apply the migrations")?;
    }
    Ok(SqlStore::new(connections, PostgresDialect::new(config.pool_size)))
}

/// The certificate files a URL names for TLS (`sslrootcert`, `sslcert`, `sslkey`) must be readable: checked here
/// so that a wrong path is reported with its parameter, rather than as a bare I/O error of the first connection.
fn check_certificate_files(url: &str) -> anyhow::Result<()> {
    let Some((_, query)) = url.split_once('?') else { return Ok(()) };
    for (name, path) in form_urlencoded::parse(query.as_bytes()) {
        if matches!(name.as_ref(), "sslrootcert" | "sslcert" | "sslkey") {
            std::fs::File::open(path.as_ref()).with_context(|| format!("cannot read {name}={path}"))?;
        }
    }
    Ok(())
}

#[async_trait]
impl Dialect for PostgresDialect {
    type Database = Postgres;
    type Time = OffsetDateTime;
    /// Writers need no turn: row locks and the guarded statements order them.
    type WriteTurn = ();

    async fn write_turn(&self) -> Result<(), RepositoryError> {
        Ok(())
    }

    /// Locks every admin row until the transaction ends: changes that could remove an admin run one at a time,
    /// so the "one admin must remain" guard that follows sees the others' committed result.
    async fn lock_admins(&self, transaction: &mut PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT id FROM users WHERE role = 'admin' FOR UPDATE").fetch_all(transaction).await?;
        Ok(())
    }

    async fn find_rows(
        &self,
        connections: &Connections<Postgres>,
        ids: &[i64],
        session: Option<&CallerSession>,
    ) -> Result<Vec<UserRow<OffsetDateTime>>, RepositoryError> {
        self.reads.read(connections, ids, session).await
    }

    // A transaction-scoped advisory lock keyed by the address: concurrent queueings to one address count in turn.
    const LOCK_MAIL_ADDRESS: Option<&'static str> = Some("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))");
    const ROW_LOCKS: bool = true;

    /// pg_trgm's GIN indexes of the migrations, on the folded columns.
    const SUBSTRING_INDEX: SubstringIndex = SubstringIndex::ColumnTrigrams;

    const STORE_REFRESH_TOKEN: &'static [&'static str] =
        &["WITH family AS (INSERT INTO refresh_families (id, user_id, created_at, last_used_at, expires_at, ip, user_agent) \
            VALUES ($2, $3, $6, $6, $4, $7, $8) \
            ON CONFLICT (id) DO UPDATE SET last_used_at = excluded.last_used_at, expires_at = excluded.expires_at, \
              ip = excluded.ip, user_agent = excluded.user_agent) \
         INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at, token_version) \
         VALUES ($1, $2, $3, $4, $5)"];

    fn rows_affected(result: &sqlx::postgres::PgQueryResult) -> u64 {
        result.rows_affected()
    }
}
