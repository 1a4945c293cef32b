//! The adapter's connection pool: deadpool over sqlx's `PgConnection`.
//!
//! sqlx's own pool pings every connection handed back to it (a Sync round trip, launchbadge/sqlx#1743), which
//! doubled PostgreSQL's work on the hot read path. Here a connection whose statements all finished goes back as
//! it is; one whose last use did not finish (an error, a request cancelled mid-statement) or that sat unused for
//! a while is pinged before its next use, and replaced if the ping fails, so a connection broken while the
//! database was away is not handed out again.

use deadpool::managed::{self, Metrics, PoolError, RecycleResult};
use deadpool::Runtime;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::Connection as _;
use std::ops::{Deref, DerefMut};
use std::time::Duration;
use users_domain::ports::PoolStats;

/// A connection unused for longer than this is pinged before it is handed out again.
const PING_AFTER_IDLE: Duration = Duration::from_secs(10);

pub(crate) struct Connections {
    pool: managed::Pool<Manager>,
}

/// A checked-out connection. Call [`Connection::settle`] once its statements have all finished; dropped
/// without it, it is pinged before anyone uses it again.
pub(crate) struct Connection(managed::Object<Manager>);

struct Manager {
    options: PgConnectOptions,
}

struct Tracked {
    raw: PgConnection,
    settled: bool,
}

impl managed::Manager for Manager {
    type Type = Tracked;
    type Error = sqlx::Error;

    async fn create(&self) -> Result<Tracked, sqlx::Error> {
        Ok(Tracked { raw: PgConnection::connect_with(&self.options).await?, settled: true })
    }

    async fn recycle(&self, connection: &mut Tracked, metrics: &Metrics) -> RecycleResult<sqlx::Error> {
        if !connection.settled || metrics.last_used() > PING_AFTER_IDLE {
            connection.raw.ping().await?;
        }
        Ok(())
    }
}

impl Connections {
    /// Waiting for a free connection, opening one and pinging one are each bounded by `acquire_timeout`.
    pub(crate) fn new(
        options: PgConnectOptions,
        size: u32,
        acquire_timeout: Duration,
    ) -> Result<Self, managed::BuildError> {
        let pool = managed::Pool::builder(Manager { options })
            .max_size(usize::try_from(size.max(1)).unwrap_or(usize::MAX))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(acquire_timeout))
            .create_timeout(Some(acquire_timeout))
            .recycle_timeout(Some(acquire_timeout))
            .build()?;
        Ok(Self { pool })
    }

    /// A connection, as sqlx's errors so that one mapping serves the pool and the statements.
    pub(crate) async fn get(&self) -> Result<Connection, sqlx::Error> {
        let mut object = self.pool.get().await.map_err(|error| match error {
            PoolError::Backend(error) => error,
            PoolError::Timeout(_) => sqlx::Error::PoolTimedOut,
            PoolError::Closed => sqlx::Error::PoolClosed,
            other => sqlx::Error::Configuration(other.to_string().into()),
        })?;
        object.settled = false;
        Ok(Connection(object))
    }

    /// Runs statements on one connection and hands it back settled if they succeeded.
    pub(crate) async fn run<T>(
        &self,
        statements: impl AsyncFnOnce(&mut PgConnection) -> Result<T, sqlx::Error>,
    ) -> Result<T, sqlx::Error> {
        let mut connection = self.get().await?;
        let value = statements(&mut connection).await?;
        connection.settle();
        Ok(value)
    }

    pub(crate) fn stats(&self) -> PoolStats {
        let status = self.pool.status();
        let idle = u32::try_from(status.available).unwrap_or(u32::MAX);
        let size = u32::try_from(status.size).unwrap_or(u32::MAX);
        PoolStats { in_use: size.saturating_sub(idle), idle }
    }

    /// Refuses new checkouts and says goodbye on every idle connection; busy ones close when handed back.
    pub(crate) async fn close(&self) {
        let idle = self.pool.retain(|_, _| false).removed;
        self.pool.close();
        for connection in idle {
            let _ = connection.raw.close().await;
        }
    }
}

impl Connection {
    /// Marks the connection as ready for the next user as it is (no ping): its statements all finished.
    pub(crate) fn settle(mut self) {
        self.0.settled = true;
    }
}

impl Deref for Connection {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        &self.0.raw
    }
}

impl DerefMut for Connection {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.0.raw
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
