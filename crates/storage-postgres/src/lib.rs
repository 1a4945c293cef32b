//! The PostgreSQL adapter of the repository port (sqlx): the production backend. Reads that arrive together share
//! one statement (`read_batches`); connections are pooled without sqlx's ping after every use
//! (`users_storage_sql::Connections`); prepared statements are cached per connection; uniqueness and the last-admin rule are decided
//! by the database, so several instances on one database never disagree.

mod login_failures;
mod read_batches;
mod refresh_tokens;
mod repository;
mod rows;
#[cfg(feature = "test-support")]
pub mod test_support;

pub use repository::{connect, PostgresConfig, PostgresUserRepository};
