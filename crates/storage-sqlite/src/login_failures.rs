//! Failed logins in SQLite.

use crate::repository::{storage_error, SqliteUserRepository};
use async_trait::async_trait;
use users_domain::ports::{LoginFailureStore, RepositoryError};
use users_domain::Timestamp;

#[async_trait]
impl LoginFailureStore for SqliteUserRepository {
    async fn record(&self, key: &str, at: Timestamp) -> Result<(), RepositoryError> {
        let _turn = self.write_turn().await?;
        let statement = sqlx::query("INSERT INTO login_failures (login_key, failed_at) VALUES (?, ?)")
            .bind(key)
            .bind(at.unix_micros());
        self.connections.run(async |c| statement.execute(c).await).await.map_err(storage_error)?;
        Ok(())
    }

    async fn since(&self, key: &str, since: Timestamp) -> Result<Vec<Timestamp>, RepositoryError> {
        let statement = sqlx::query_scalar(
            "SELECT failed_at FROM login_failures WHERE login_key = ? AND failed_at >= ? ORDER BY failed_at",
        )
        .bind(key)
        .bind(since.unix_micros());
        let times: Vec<i64> =
            self.connections.run(async |c| statement.fetch_all(c).await).await.map_err(storage_error)?;
        Ok(times.into_iter().filter_map(Timestamp::from_unix_micros).collect())
    }

    async fn clear(&self, key: &str) -> Result<(), RepositoryError> {
        let _turn = self.write_turn().await?;
        let statement = sqlx::query("DELETE FROM login_failures WHERE login_key = ?").bind(key);
        self.connections.run(async |c| statement.execute(c).await).await.map_err(storage_error)?;
        Ok(())
    }

    async fn purge_login_failures(&self, before: Timestamp) -> Result<u64, RepositoryError> {
        let _turn = self.write_turn().await?;
        let statement = sqlx::query("DELETE FROM login_failures WHERE failed_at < ?").bind(before.unix_micros());
        let purged = self.connections.run(async |c| statement.execute(c).await).await.map_err(storage_error)?;
        Ok(purged.rows_affected())
    }
}
