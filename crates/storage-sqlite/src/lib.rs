//! The SQLite adapter of the repository port (sqlx): the embedded default backend. WAL, `synchronous = FULL`
//! (an acknowledged write survives a power cut), foreign keys on, and a busy timeout so writers wait, not fail.
//! Connections come from `users_storage_sql::Connections`, like PostgreSQL's.

mod database_file;
mod login_failures;
mod refresh_tokens;
mod repository;
mod rows;

pub use repository::{connect, SqliteConfig, SqliteUserRepository};
