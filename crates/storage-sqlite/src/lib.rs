//! The SQLite adapter (sqlx): the embedded default backend. The store itself is `users_storage_sql::SqlStore`,
//! written once for both SQL databases; this crate opens it (WAL, `synchronous = FULL` so an acknowledged write
//! survives a power cut, foreign keys on, a busy timeout so writers wait, not fail) and gives it SQLite's
//! dialect: `INTEGER` microsecond timestamps, writers taking turns in the process, and no write into a database
//! file that was removed or replaced while open.

mod database_file;
mod store;

pub use store::{connect, SqliteConfig, SqliteDialect, SqliteStore};
