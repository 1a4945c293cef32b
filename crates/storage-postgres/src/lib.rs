//! The PostgreSQL adapter (sqlx): the production backend. The store itself is `users_storage_sql::SqlStore`,
//! written once for both SQL databases; this crate connects it and gives it PostgreSQL's dialect: admin rows
//! locked before a change that could remove an admin, and reads that arrive together sharing one statement
//! (`users_storage_sql::ReadBatches`). Uniqueness and the last-admin rule are decided by the database, so several instances on
//! one database never disagree.

mod store;
#[cfg(feature = "test-support")]
pub mod test_support;

pub use store::{connect, PostgresConfig, PostgresDialect, PostgresStore};
