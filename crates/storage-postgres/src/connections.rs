//! The adapter's connection pool: deadpool over sqlx's `PgConnection`.
//!
//! sqlx's own pool pings every connection handed back to it (a Sync round trip, launchbadge/sqlx#1743), which
//! doubled PostgreSQL's work on the hot read path. Here a connection whose statements all finished goes back as
//! it is. One whose statements failed on the server is brought back to a clean state at once (sqlx's queued
//! `ROLLBACK` and a sync), so no transaction or lock outlives its request. One whose use did not finish (a request
//! cancelled mid-statement or mid-`BEGIN`, a broken socket) is closed rather than handed out again: PostgreSQL
//! then rolls back whatever it held. One that sat idle is pinged before its next use, and replaced if the ping
//! fails, so a connection broken while the database was away is not handed out again.

use deadpool::managed::{self, Metrics, PoolError, RecycleResult};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::Connection as _;
use std::ops::{Deref, DerefMut};
use std::time::Duration;
use users_domain::ports::PoolStats;

/// A connection not handed out for longer than this is pinged before it is handed out again.
const PING_AFTER_IDLE: Duration = Duration::from_secs(10);

pub(crate) struct Connections {
    pool: managed::Pool<Manager>,
    acquire_timeout: Duration,
}

/// A checked-out connection. Call [`Connection::settle`] once its statements have all finished; dropped without
/// it, the connection is closed instead of going back to the pool.
pub(crate) struct Connection {
    /// Present until the connection is dropped.
    object: Option<managed::Object<Manager>>,
    settled: bool,
}

struct Manager {
    options: PgConnectOptions,
}

impl managed::Manager for Manager {
    type Type = PgConnection;
    type Error = sqlx::Error;

    async fn create(&self) -> Result<PgConnection, sqlx::Error> {
        PgConnection::connect_with(&self.options).await
    }

    async fn recycle(&self, connection: &mut PgConnection, metrics: &Metrics) -> RecycleResult<sqlx::Error> {
        if metrics.last_used() > PING_AFTER_IDLE {
            connection.ping().await?;
        }
        Ok(())
    }
}

impl Connections {
    pub(crate) fn new(
        options: PgConnectOptions,
        size: u32,
        acquire_timeout: Duration,
    ) -> Result<Self, managed::BuildError> {
        let pool = managed::Pool::builder(Manager { options })
            .max_size(usize::try_from(size.max(1)).unwrap_or(usize::MAX))
            .build()?;
        Ok(Self { pool, acquire_timeout })
    }

    /// A connection within the acquire timeout, whether that goes to waiting for one, pinging idle ones or opening
    /// one; as sqlx's errors, so that one mapping serves the pool and the statements.
    pub(crate) async fn get(&self) -> Result<Connection, sqlx::Error> {
        let object = match tokio::time::timeout(self.acquire_timeout, self.pool.get()).await {
            Err(_) => return Err(sqlx::Error::PoolTimedOut),
            Ok(Err(PoolError::Backend(error))) => return Err(error),
            Ok(Err(PoolError::Closed)) => return Err(sqlx::Error::PoolClosed),
            Ok(Err(other)) => return Err(sqlx::Error::Configuration(other.to_string().into())),
            Ok(Ok(object)) => object,
        };
        Ok(Connection { object: Some(object), settled: false })
    }

    /// Runs statements on one connection. After a refusal by the server the connection is made clean again (an
    /// open transaction rolled back) before the error is returned, and kept.
    pub(crate) async fn run<T>(
        &self,
        statements: impl AsyncFnOnce(&mut PgConnection) -> Result<T, sqlx::Error>,
    ) -> Result<T, sqlx::Error> {
        let mut connection = self.get().await?;
        match statements(&mut connection).await {
            Ok(value) => {
                connection.settle();
                Ok(value)
            }
            Err(error) => {
                // sqlx queued the ROLLBACK of a dropped transaction; the ping sends it and waits for the server.
                if matches!(error, sqlx::Error::Database(_)) && connection.ping().await.is_ok() {
                    connection.settle();
                }
                Err(error)
            }
        }
    }

    pub(crate) fn stats(&self) -> PoolStats {
        let status = self.pool.status();
        let idle = u32::try_from(status.available).unwrap_or(u32::MAX);
        let size = u32::try_from(status.size).unwrap_or(u32::MAX);
        PoolStats { in_use: size.saturating_sub(idle), idle }
    }

    /// Refuses new checkouts and says goodbye on every idle connection; busy ones are dropped when handed back.
    pub(crate) async fn close(&self) {
        let idle = self.pool.retain(|_, _| false).removed;
        self.pool.close();
        for connection in idle {
            let _ = connection.close().await;
        }
    }
}

impl Connection {
    /// Hands the connection back to the pool as it is (no ping): its statements all finished.
    pub(crate) fn settle(mut self) {
        self.settled = true;
    }

    fn object(&self) -> &managed::Object<Manager> {
        self.object.as_ref().expect("present until dropped")
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        if let Some(object) = self.object.take() {
            if !self.settled {
                // Out of the pool and closed: PostgreSQL rolls back whatever the unfinished use left open.
                drop(managed::Object::take(object));
            }
        }
    }
}

impl Deref for Connection {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        self.object()
    }
}

impl DerefMut for Connection {
    fn deref_mut(&mut self) -> &mut PgConnection {
        self.object.as_mut().expect("present until dropped")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    async fn connections(size: u32) -> Option<(Connections, PgConnectOptions)> {
        let Ok(url) = std::env::var("TEST_DATABASE_URL") else {
            eprintln!("skipped: TEST_DATABASE_URL is not set");
            return None;
        };
        let options = PgConnectOptions::from_str(&url).expect("TEST_DATABASE_URL parses");
        Some((Connections::new(options.clone(), size, Duration::from_secs(5)).expect("pool"), options))
    }

    async fn backend_pid(connections: &Connections) -> Result<i32, sqlx::Error> {
        connections.run(async |c| sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(c).await).await
    }

    #[tokio::test]
    async fn a_settled_connection_is_reused_as_it_is() {
        let Some((connections, _)) = connections(1).await else { return };
        let first = backend_pid(&connections).await.expect("first use");
        assert_eq!(backend_pid(&connections).await.expect("second use"), first, "the same session, not a new one");
        assert_eq!(connections.stats(), PoolStats { in_use: 0, idle: 1 });
    }

    #[tokio::test]
    async fn a_connection_broken_in_use_is_replaced_before_anyone_gets_it_again() {
        let Some((connections, options)) = connections(1).await else { return };
        let first = backend_pid(&connections).await.expect("first use");
        let mut admin = PgConnection::connect_with(&options).await.expect("admin connection");
        sqlx::query("SELECT pg_terminate_backend($1)").bind(first).execute(&mut admin).await.expect("terminated");

        connections.run(async |c| sqlx::query("SELECT 1").execute(c).await).await.expect_err("its session is gone");
        let second = backend_pid(&connections).await.expect("a working connection after the failure");
        assert_ne!(second, first, "the broken connection was replaced");
    }

    /// Whether another session can take the transaction-level advisory lock `key` now (and so whether the
    /// session that took it has ended its transaction).
    async fn lock_is_free(options: &PgConnectOptions, key: i64) -> bool {
        let mut other = PgConnection::connect_with(options).await.expect("another session");
        sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)").bind(key).fetch_one(&mut other).await.expect("try")
    }

    /// `SAVEPOINT` is refused outside a transaction block: a clean connection refuses it.
    async fn in_a_transaction(connections: &Connections) -> bool {
        connections.run(async |c| sqlx::raw_sql("SAVEPOINT probe").execute(c).await).await.is_ok()
    }

    #[tokio::test]
    async fn a_transaction_refused_by_the_server_is_rolled_back_and_its_connection_kept() {
        let Some((connections, _)) = connections(1).await else { return };
        let first = backend_pid(&connections).await.expect("first use");
        let refused = connections
            .run(async |c| {
                let mut transaction = c.begin().await?;
                sqlx::query("SELECT 1 / 0").execute(&mut *transaction).await?;
                transaction.commit().await
            })
            .await;
        assert!(matches!(refused, Err(sqlx::Error::Database(_))), "division by zero: {refused:?}");
        assert!(!in_a_transaction(&connections).await, "the next user starts outside any transaction");
        assert_eq!(backend_pid(&connections).await.expect("next use"), first, "the connection was kept");
    }

    #[tokio::test]
    async fn a_transaction_cancelled_with_its_request_does_not_keep_its_locks() {
        let Some((connections, options)) = connections(1).await else { return };
        let key = 7_002;
        let cancelled = tokio::time::timeout(
            Duration::from_millis(300),
            connections.run(async |c| {
                let mut transaction = c.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(key).execute(&mut *transaction).await?;
                sqlx::query("SELECT pg_sleep(0.5)").execute(&mut *transaction).await?;
                transaction.commit().await
            }),
        )
        .await;
        assert!(cancelled.is_err(), "cancelled while the transaction held its lock");
        // PostgreSQL ends the session (and its transaction) once the statement in flight notices the closed socket.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !lock_is_free(&options, key).await {
            assert!(tokio::time::Instant::now() < deadline, "the lock outlived its request");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    #[tokio::test]
    async fn a_connection_left_inside_a_transaction_is_not_handed_to_the_next_user() {
        let Some((connections, _)) = connections(1).await else { return };
        let mut connection = connections.get().await.expect("connection");
        // As a request cancelled right after its BEGIN leaves it.
        sqlx::raw_sql("BEGIN").execute(&mut *connection).await.expect("begun");
        drop(connection);

        assert!(!in_a_transaction(&connections).await, "the next user starts outside any transaction");
    }

    #[tokio::test]
    async fn a_connection_dropped_mid_statement_answers_the_next_user_correctly() {
        let Some((connections, _)) = connections(1).await else { return };
        let mut connection = connections.get().await.expect("connection");
        let slow = sqlx::query_scalar::<_, i32>("SELECT 7 FROM pg_sleep(0.3)").fetch_one(&mut *connection);
        assert!(tokio::time::timeout(Duration::from_millis(50), slow).await.is_err(), "cancelled mid-statement");
        drop(connection);

        let answer: i32 =
            connections.run(async |c| sqlx::query_scalar("SELECT 42").fetch_one(c).await).await.expect("next use");
        assert_eq!(answer, 42, "its own answer, not the cancelled statement's");
    }
}
