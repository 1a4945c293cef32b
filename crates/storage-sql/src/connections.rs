//! The SQL adapters' connection pool: deadpool over sqlx's connections (`PgConnection`, `SqliteConnection`).
//!
//! sqlx's own pool pings every connection handed back to it (a Sync round trip, launchbadge/sqlx#1743), which
//! doubled PostgreSQL's work on the hot read path (and cost SQLite a trip to its worker thread). Here a connection whose statements all finished goes back as
//! it is. One whose statements failed on the server is brought back to a clean state at once (sqlx's queued
//! `ROLLBACK` and a sync), so no transaction or lock outlives its request. One whose use did not finish (a request
//! cancelled mid-statement or mid-`BEGIN`, a broken socket) is closed rather than handed out again: the database
//! then rolls back whatever it held. One that sat idle is pinged before its next use, and replaced if the ping
//! fails, so a connection broken while the database was away is not handed out again.

use crate::errors::{Failed, StatementContext as _, StatementError};
use deadpool::managed::{self, Metrics, PoolError, RecycleResult};
use sqlx::migrate::{Migrate, Migrator};
use sqlx::{Acquire, ConnectOptions, Connection as _, Database};
use std::ops::{Deref, DerefMut};
use std::time::Duration;
use users_domain::ports::PoolStats;

/// A connection not handed out for longer than this is pinged before it is handed out again.
const PING_AFTER_IDLE: Duration = Duration::from_secs(10);

pub struct Connections<DB: Database> {
    pool: managed::Pool<Manager<DB>>,
    acquire_timeout: Duration,
}

/// What a connection is opened with (`PgConnectOptions`, `SqliteConnectOptions`).
pub type Options<DB> = <<DB as Database>::Connection as sqlx::Connection>::Options;

/// A checked-out connection. Call [`Connection::settle`] once its statements have all finished; dropped without
/// it, the connection is closed instead of going back to the pool.
pub struct Connection<DB: Database> {
    /// Present until the connection is dropped.
    object: Option<managed::Object<Manager<DB>>>,
    settled: bool,
}

struct Manager<DB: Database> {
    options: Options<DB>,
}

impl<DB: Database> managed::Manager for Manager<DB> {
    type Type = DB::Connection;
    type Error = sqlx::Error;

    async fn create(&self) -> Result<DB::Connection, sqlx::Error> {
        self.options.connect().await
    }

    async fn recycle(&self, connection: &mut DB::Connection, metrics: &Metrics) -> RecycleResult<sqlx::Error> {
        if metrics.last_used() > PING_AFTER_IDLE {
            connection.ping().await?;
        }
        Ok(())
    }
}

impl<DB: Database> Connections<DB> {
    pub fn new(options: Options<DB>, size: u32, acquire_timeout: Duration) -> Result<Self, managed::BuildError> {
        let pool = managed::Pool::builder(Manager { options })
            .max_size(usize::try_from(size.max(1)).unwrap_or(usize::MAX))
            .build()?;
        Ok(Self { pool, acquire_timeout })
    }

    /// A connection within the acquire timeout, whether that goes to waiting for one, pinging idle ones or opening
    /// one; as sqlx's errors, so that one mapping serves the pool and the statements.
    pub async fn get(&self) -> Result<Connection<DB>, sqlx::Error> {
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
    pub async fn run<T, E: StatementError>(
        &self,
        statements: impl AsyncFnOnce(&mut DB::Connection) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut connection = self.get().await.map_err(E::no_connection)?;
        match statements(&mut connection).await {
            Ok(value) => {
                connection.settle();
                Ok(value)
            }
            Err(error) => {
                // sqlx queued the ROLLBACK of a dropped transaction; the ping sends it and waits for the server.
                if error.refused_by_server() && connection.ping().await.is_ok() {
                    connection.settle();
                }
                Err(error)
            }
        }
    }

    /// Runs statements in one transaction on one connection: all of them take effect, or none.
    pub async fn transaction<T>(
        &self,
        statements: impl AsyncFnOnce(&mut DB::Connection) -> Result<T, Failed>,
    ) -> Result<T, Failed> {
        self.run(async |c| {
            let mut transaction = c.begin().await.step("begin a transaction")?;
            let value = statements(&mut transaction).await?;
            transaction.commit().await.step("commit the transaction")?;
            Ok(value)
        })
        .await
    }

    /// A connection answers: at start-up (a database that cannot be reached or opened fails it there, not at the
    /// first request) and for readiness.
    pub async fn check(&self) -> Result<(), sqlx::Error> {
        self.run(async |c| c.ping().await).await
    }

    /// Applies pending migrations on one connection.
    pub async fn migrate(&self, migrator: &Migrator) -> Result<(), sqlx::Error>
    where
        for<'c> &'c mut DB::Connection: Acquire<'c, Connection = &'c mut DB::Connection>,
        DB::Connection: Migrate,
    {
        self.run(async |c| migrator.run(c).await.map_err(|e| sqlx::Error::Migrate(e.into()))).await
    }

    pub fn stats(&self) -> PoolStats {
        let status = self.pool.status();
        let idle = u32::try_from(status.available).unwrap_or(u32::MAX);
        let size = u32::try_from(status.size).unwrap_or(u32::MAX);
        PoolStats { in_use: size.saturating_sub(idle), idle }
    }

    /// Refuses new checkouts and says goodbye on every idle connection; busy ones are dropped when handed back.
    pub async fn close(&self) {
        let idle = self.pool.retain(|_, _| false).removed;
        self.pool.close();
        for connection in idle {
            let _ = connection.close().await;
        }
    }
}

impl<DB: Database> Connection<DB> {
    /// Hands the connection back to the pool as it is (no ping): its statements all finished.
    pub fn settle(mut self) {
        self.settled = true;
    }

    fn object(&self) -> &managed::Object<Manager<DB>> {
        self.object.as_ref().expect("present until dropped")
    }
}

impl<DB: Database> Drop for Connection<DB> {
    fn drop(&mut self) {
        if let Some(object) = self.object.take() {
            if !self.settled {
                // Out of the pool and closed: the database rolls back whatever the unfinished use left open.
                drop(managed::Object::take(object));
            }
        }
    }
}

impl<DB: Database> Deref for Connection<DB> {
    type Target = DB::Connection;

    fn deref(&self) -> &DB::Connection {
        self.object()
    }
}

impl<DB: Database> DerefMut for Connection<DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        self.object.as_mut().expect("present until dropped")
    }
}
