//! Refresh tokens in SQLite. Spending is one conditional `UPDATE` in a transaction with its reuse handling:
//! writers run one at a time, so exactly one of concurrent spends of a token changes it.

use crate::repository::{storage_error, SqliteUserRepository};
use async_trait::async_trait;
use sqlx::Connection as _;
use users_domain::ports::{RefreshTokenStore, RepositoryError, SpendOutcome, StoredRefreshToken};
use users_domain::{Timestamp, UserId};
use users_storage_sql::unless_user_gone;

fn user_id(id: i64) -> Result<UserId, RepositoryError> {
    UserId::new(id).map_err(|e| RepositoryError::Unexpected(e.into()))
}

#[async_trait]
impl RefreshTokenStore for SqliteUserRepository {
    async fn insert(&self, token: StoredRefreshToken) -> Result<(), RepositoryError> {
        let _turn = self.write_turn().await?;
        let family =
            sqlx::query("INSERT INTO refresh_families (id, user_id) VALUES (?, ?) ON CONFLICT (id) DO NOTHING")
                .bind(&token.family_id)
                .bind(token.user_id.get());
        let stored = sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at, token_version) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&token.token_hash)
        .bind(&token.family_id)
        .bind(token.user_id.get())
        .bind(token.expires_at.unix_micros())
        .bind(token.token_version);
        let inserted = self
            .connections
            .run(async |c| {
                let mut transaction = c.begin().await?;
                family.execute(&mut *transaction).await?;
                stored.execute(&mut *transaction).await?;
                transaction.commit().await
            })
            .await;
        unless_user_gone(inserted)
    }

    async fn spend(&self, token_hash: &str, now: Timestamp) -> Result<SpendOutcome, RepositoryError> {
        let _turn = self.write_turn().await?;
        let spend = sqlx::query_as(
            "UPDATE refresh_tokens SET spent_at = ?2 \
             WHERE token_hash = ?1 AND spent_at IS NULL AND expires_at > ?2 \
               AND family_id IN (SELECT id FROM refresh_families WHERE revoked_at IS NULL) \
               AND token_version = (SELECT token_version FROM users WHERE id = refresh_tokens.user_id) \
             RETURNING family_id, user_id, token_version",
        )
        .bind(token_hash)
        .bind(now.unix_micros());
        let known =
            sqlx::query_as("SELECT family_id, user_id FROM refresh_tokens WHERE token_hash = ? AND expires_at > ?")
                .bind(token_hash)
                .bind(now.unix_micros());
        // Spent already, its family revoked, or begun before a password change: reuse. Revoke the family (again).
        let revoke = sqlx::query("UPDATE refresh_families SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?");
        let (spent, reused): (Vec<(String, i64, i64)>, Option<(String, i64)>) = self
            .connections
            .run(async |c| {
                let mut transaction = c.begin().await?;
                // fetch_all: a write's statement runs to its end, so a failure to store it is seen here.
                let spent: Vec<(String, i64, i64)> = spend.fetch_all(&mut *transaction).await?;
                let mut reused = None;
                if spent.is_empty() {
                    reused = known.fetch_optional(&mut *transaction).await?;
                    if let Some((family_id, _)) = &reused {
                        revoke.bind(now.unix_micros()).bind(family_id).execute(&mut *transaction).await?;
                    }
                }
                transaction.commit().await?;
                Ok((spent, reused))
            })
            .await
            .map_err(storage_error)?;
        if let Some((family_id, user, token_version)) = spent.into_iter().next() {
            return Ok(SpendOutcome::Spent { user_id: user_id(user)?, family_id, token_version });
        }
        match reused {
            Some((family_id, user)) => Ok(SpendOutcome::Reused { user_id: user_id(user)?, family_id }),
            None => Ok(SpendOutcome::Invalid),
        }
    }

    async fn revoke_family_of(&self, token_hash: &str, now: Timestamp) -> Result<(), RepositoryError> {
        let _turn = self.write_turn().await?;
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
        let _turn = self.write_turn().await?;
        let statement =
            sqlx::query("UPDATE refresh_families SET revoked_at = COALESCE(revoked_at, ?) WHERE user_id = ?")
                .bind(now.unix_micros())
                .bind(user.get());
        self.connections.run(async |c| statement.execute(c).await).await.map_err(storage_error)?;
        Ok(())
    }

    async fn purge_refresh_tokens(&self, now: Timestamp) -> Result<u64, RepositoryError> {
        let _turn = self.write_turn().await?;
        let expired = sqlx::query("DELETE FROM refresh_tokens WHERE expires_at <= ?").bind(now.unix_micros());
        let empty_families =
            sqlx::query("DELETE FROM refresh_families WHERE id NOT IN (SELECT family_id FROM refresh_tokens)");
        self.connections
            .run(async |c| {
                let mut transaction = c.begin().await?;
                let purged = expired.execute(&mut *transaction).await?.rows_affected();
                empty_families.execute(&mut *transaction).await?;
                transaction.commit().await?;
                Ok(purged)
            })
            .await
            .map_err(storage_error)
    }
}
