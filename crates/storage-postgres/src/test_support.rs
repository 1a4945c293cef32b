//! For tests that need PostgreSQL: a schema of their own in the database `TEST_DATABASE_URL` names, dropped when
//! the guard goes out of scope (even when the test fails), so runs never see each other's rows.
//!
//! Such tests carry `#[cfg_attr(no_test_database, ignore = "needs TEST_DATABASE_URL")]`: the crate's build script
//! sets that cfg when the variable is unset at build time, so they count as ignored, never as passed.

use sqlx::Connection;

/// `TEST_DATABASE_URL`. A test that runs without it was built with it (or was asked for with `--ignored`): that is
/// a failure to report, not a reason to pass.
pub fn test_database_url() -> String {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "TEST_DATABASE_URL is not set: this PostgreSQL test needs it, e.g. \
             TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo test"
        ),
    }
}

pub struct TestSchema {
    admin_url: String,
    name: String,
    /// The URL to give the repository: the test database with `search_path` set to this schema.
    pub url: String,
}

impl TestSchema {
    pub async fn create() -> Self {
        let admin_url = test_database_url();
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        let mut connection = sqlx::PgConnection::connect(&admin_url).await.expect("TEST_DATABASE_URL answers");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
            .execute(&mut connection)
            .await
            .expect("schema created");
        let separator = if admin_url.contains('?') { '&' } else { '?' };
        let url = format!("{admin_url}{separator}options=-c%20search_path%3D{name}");
        Self { admin_url, name, url }
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop may run inside a runtime: do the async cleanup on a thread with its own.
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            runtime.block_on(async {
                if let Ok(mut connection) = sqlx::PgConnection::connect(&admin_url).await {
                    let drop_schema = format!("DROP SCHEMA IF EXISTS {name} CASCADE");
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(drop_schema)).execute(&mut connection).await;
                }
            });
        });
        let _ = cleanup.join();
    }
}
