//! Failed logins in PostgreSQL: shared by every instance on the database, so the lockout counts them together.

use crate::repository::{storage_error, PostgresUserRepository};
use async_trait::async_trait;
use time::OffsetDateTime;
use users_domain::ports::{LoginFailureStore, RepositoryError};
use users_domain::Timestamp;

#[async_trait]
impl LoginFailureStore for PostgresUserRepository {
    async fn record(&self, key: &str, at: Timestamp) -> Result<(), RepositoryError> {
        let insert = sqlx::query("INSERT INTO login_failures (login_key, failed_at) VALUES ($1, $2)")
            .bind(key)
            .bind(at.as_datetime());
        self.connections.run(async |c| insert.execute(c).await).await.map_err(storage_error)?;
        Ok(())
    }

    async fn since(&self, key: &str, since: Timestamp) -> Result<Vec<Timestamp>, RepositoryError> {
        let select = sqlx::query_scalar(
            "SELECT failed_at FROM login_failures WHERE login_key = $1 AND failed_at >= $2 ORDER BY failed_at",
        )
        .bind(key)
        .bind(since.as_datetime());
        let times: Vec<OffsetDateTime> =
            self.connections.run(async |c| select.fetch_all(c).await).await.map_err(storage_error)?;
        Ok(times.into_iter().map(Timestamp::from_datetime).collect())
    }

    async fn clear(&self, key: &str) -> Result<(), RepositoryError> {
        let delete = sqlx::query("DELETE FROM login_failures WHERE login_key = $1").bind(key);
        self.connections.run(async |c| delete.execute(c).await).await.map_err(storage_error)?;
        Ok(())
    }

    async fn purge_login_failures(&self, before: Timestamp) -> Result<u64, RepositoryError> {
        let delete = sqlx::query("DELETE FROM login_failures WHERE failed_at < $1").bind(before.as_datetime());
        let purged = self.connections.run(async |c| delete.execute(c).await).await.map_err(storage_error)?;
        Ok(purged.rows_affected())
    }
}
