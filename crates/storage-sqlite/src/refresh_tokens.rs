//! Refresh tokens in SQLite. Spending is one conditional `UPDATE`: writers run one at a time, so exactly one of
//! concurrent spends of a token changes it.

use crate::repository::{storage_error, SqliteUserRepository};
use async_trait::async_trait;
use users_domain::ports::{RefreshTokenStore, RepositoryError, SpendOutcome, StoredRefreshToken};
use users_domain::{Timestamp, UserId};

fn user_id(id: i64) -> Result<UserId, RepositoryError> {
    UserId::new(id).map_err(|e| RepositoryError::Unexpected(e.into()))
}

#[async_trait]
impl RefreshTokenStore for SqliteUserRepository {
    async fn insert(&self, token: StoredRefreshToken) -> Result<(), RepositoryError> {
        let _turn = self.write_turn().await;
        let statement =
            sqlx::query("INSERT INTO refresh_families (id, user_id) VALUES (?, ?) ON CONFLICT (id) DO NOTHING")
                .bind(&token.family_id)
                .bind(token.user_id.get());
        self.connections.run(async |c| statement.execute(c).await).await.map_err(storage_error)?;
        let statement =
            sqlx::query("INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at) VALUES (?, ?, ?, ?)")
                .bind(&token.token_hash)
                .bind(&token.family_id)
                .bind(token.user_id.get())
                .bind(token.expires_at.unix_micros());
        self.connections.run(async |c| statement.execute(c).await).await.map_err(storage_error)?;
        Ok(())
    }

    async fn spend(&self, token_hash: &str, now: Timestamp) -> Result<SpendOutcome, RepositoryError> {
        let _turn = self.write_turn().await;
        let statement = sqlx::query_as(
            "UPDATE refresh_tokens SET spent_at = ?2 \
             WHERE token_hash = ?1 AND spent_at IS NULL AND expires_at > ?2 \
               AND family_id IN (SELECT id FROM refresh_families WHERE revoked_at IS NULL) \
             RETURNING family_id, user_id",
        )
        .bind(token_hash)
        .bind(now.unix_micros());
        let spent: Option<(String, i64)> =
            self.connections.run(async |c| statement.fetch_optional(c).await).await.map_err(storage_error)?;
        if let Some((family_id, user)) = spent {
            return Ok(SpendOutcome::Spent { user_id: user_id(user)?, family_id });
        }
        let statement =
            sqlx::query_as("SELECT family_id, user_id FROM refresh_tokens WHERE token_hash = ? AND expires_at > ?")
                .bind(token_hash)
                .bind(now.unix_micros());
        let known: Option<(String, i64)> =
            self.connections.run(async |c| statement.fetch_optional(c).await).await.map_err(storage_error)?;
        let Some((family_id, user)) = known else {
            return Ok(SpendOutcome::Invalid);
        };
        // Spent already, or its family was revoked: reuse. Revoke the family (again).
        let statement = sqlx::query("UPDATE refresh_families SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?")
            .bind(now.unix_micros())
            .bind(&family_id);
        self.connections.run(async |c| statement.execute(c).await).await.map_err(storage_error)?;
        Ok(SpendOutcome::Reused { user_id: user_id(user)?, family_id })
    }

    async fn revoke_family_of(&self, token_hash: &str, now: Timestamp) -> Result<(), RepositoryError> {
        let _turn = self.write_turn().await;
        let statement = sqlx::query(
            "UPDATE refresh_families SET revoked_at = COALESCE(revoked_at, ?) \
             WHERE id = (SELECT family_id FROM refresh_tokens WHERE token_hash = ?)",
        )
        .bind(now.unix_micros())
        .bind(token_hash);
        self.connections.run(async |c| statement.execute(c).await).await.map_err(storage_error)?;
        Ok(())
    }

    async fn revoke_user(&self, user: UserId, now: Timestamp) -> Result<(), RepositoryError> {
        let _turn = self.write_turn().await;
        let statement =
            sqlx::query("UPDATE refresh_families SET revoked_at = COALESCE(revoked_at, ?) WHERE user_id = ?")
                .bind(now.unix_micros())
                .bind(user.get());
        self.connections.run(async |c| statement.execute(c).await).await.map_err(storage_error)?;
        Ok(())
    }

    async fn purge_refresh_tokens(&self, now: Timestamp) -> Result<u64, RepositoryError> {
        let _turn = self.write_turn().await;
        let statement = sqlx::query("DELETE FROM refresh_tokens WHERE expires_at <= ?").bind(now.unix_micros());
        let purged =
            self.connections.run(async |c| statement.execute(c).await).await.map_err(storage_error)?.rows_affected();
        let statement =
            sqlx::query("DELETE FROM refresh_families WHERE id NOT IN (SELECT family_id FROM refresh_tokens)");
        self.connections.run(async |c| statement.execute(c).await).await.map_err(storage_error)?;
        Ok(purged)
    }
}
