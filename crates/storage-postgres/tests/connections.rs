//! The connection pool (`users_storage_sql::Connections`) against PostgreSQL (`TEST_DATABASE_URL`; ignored when it
//! is not set, see build.rs): what happens to a connection after each way its use can end.

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{Connection as _, Postgres};
use std::str::FromStr;
use std::time::Duration;
use users_domain::ports::PoolStats;
use users_storage_postgres::test_support::test_database_url;

type Connections = users_storage_sql::Connections<Postgres>;

async fn connections(size: u32) -> (Connections, PgConnectOptions) {
    let options = PgConnectOptions::from_str(&test_database_url()).expect("TEST_DATABASE_URL parses");
    (Connections::new(options.clone(), size, Duration::from_secs(5)).expect("pool"), options)
}

async fn backend_pid(connections: &Connections) -> Result<i32, sqlx::Error> {
    connections.run(async |c| sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(c).await).await
}

#[cfg_attr(no_test_database, ignore = "needs TEST_DATABASE_URL")]
#[tokio::test]
async fn a_settled_connection_is_reused_as_it_is() {
    let (connections, _) = connections(1).await;
    let first = backend_pid(&connections).await.expect("first use");
    assert_eq!(backend_pid(&connections).await.expect("second use"), first, "the same session, not a new one");
    assert_eq!(connections.stats(), PoolStats { in_use: 0, idle: 1 });
}

#[cfg_attr(no_test_database, ignore = "needs TEST_DATABASE_URL")]
#[tokio::test]
async fn a_connection_broken_in_use_is_replaced_before_anyone_gets_it_again() {
    let (connections, options) = connections(1).await;
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

#[cfg_attr(no_test_database, ignore = "needs TEST_DATABASE_URL")]
#[tokio::test]
async fn a_transaction_refused_by_the_server_is_rolled_back_and_its_connection_kept() {
    let (connections, _) = connections(1).await;
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

#[cfg_attr(no_test_database, ignore = "needs TEST_DATABASE_URL")]
#[tokio::test]
async fn a_transaction_cancelled_with_its_request_does_not_keep_its_locks() {
    let (connections, options) = connections(1).await;
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

#[cfg_attr(no_test_database, ignore = "needs TEST_DATABASE_URL")]
#[tokio::test]
async fn a_connection_left_inside_a_transaction_is_not_handed_to_the_next_user() {
    let (connections, _) = connections(1).await;
    let mut connection = connections.get().await.expect("connection");
    // As a request cancelled right after its BEGIN leaves it.
    sqlx::raw_sql("BEGIN").execute(&mut *connection).await.expect("begun");
    drop(connection);

    assert!(!in_a_transaction(&connections).await, "the next user starts outside any transaction");
}

#[cfg_attr(no_test_database, ignore = "needs TEST_DATABASE_URL")]
#[tokio::test]
async fn a_connection_dropped_mid_statement_answers_the_next_user_correctly() {
    let (connections, _) = connections(1).await;
    let mut connection = connections.get().await.expect("connection");
    let slow = sqlx::query_scalar::<_, i32>("SELECT 7 FROM pg_sleep(0.3)").fetch_one(&mut *connection);
    assert!(tokio::time::timeout(Duration::from_millis(50), slow).await.is_err(), "cancelled mid-statement");
    drop(connection);

    let answer: i32 =
        connections.run(async |c| sqlx::query_scalar("SELECT 42").fetch_one(c).await).await.expect("next use");
    assert_eq!(answer, 42, "its own answer, not the cancelled statement's");
}
