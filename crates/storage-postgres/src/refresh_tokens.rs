//! Refresh tokens in PostgreSQL. Spending is one conditional `UPDATE`: concurrent spends of a token queue on its
//! row lock and re-check `spent_at IS NULL`, so exactly one changes it.

use crate::repository::{storage_error, PostgresUserRepository};
use async_trait::async_trait;
use users_domain::ports::{RefreshTokenStore, RepositoryError, SpendOutcome, StoredRefreshToken};
use users_domain::{Timestamp, UserId};
use users_storage_sql::unless_user_gone;

fn user_id(id: i64) -> Result<UserId, RepositoryError> {
    UserId::new(id).map_err(|e| RepositoryError::Unexpected(e.into()))
}

#[async_trait]
impl RefreshTokenStore for PostgresUserRepository {
    async fn insert(&self, token: StoredRefreshToken) -> Result<(), RepositoryError> {
        let insert = sqlx::query(
            "WITH family AS (INSERT INTO refresh_families (id, user_id) VALUES ($2, $3) ON CONFLICT (id) DO NOTHING) \
             INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at, token_version) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&token.token_hash)
        .bind(&token.family_id)
        .bind(token.user_id.get())
        .bind(token.expires_at.as_datetime())
        .bind(token.token_version);
        unless_user_gone(self.connections.run(async |c| insert.execute(c).await.map(|_| ())).await)
    }

    async fn spend(&self, token_hash: &str, now: Timestamp) -> Result<SpendOutcome, RepositoryError> {
        let spend = sqlx::query_as(
            "UPDATE refresh_tokens SET spent_at = $2 \
             WHERE token_hash = $1 AND spent_at IS NULL AND expires_at > $2 \
               AND family_id IN (SELECT id FROM refresh_families WHERE revoked_at IS NULL) \
               AND token_version = (SELECT u.token_version FROM users u WHERE u.id = refresh_tokens.user_id) \
             RETURNING family_id, user_id, token_version",
        )
        .bind(token_hash)
        .bind(now.as_datetime());
        // Spent already, its family revoked, or begun before a password change: reuse, and the family is revoked
        // (again) in the same statement. Unknown or expired: nothing.
        let revoke = sqlx::query_as(
            "UPDATE refresh_families f SET revoked_at = COALESCE(f.revoked_at, $2) \
             FROM refresh_tokens t \
             WHERE t.token_hash = $1 AND t.expires_at > $2 AND f.id = t.family_id \
             RETURNING f.id, f.user_id",
        )
        .bind(token_hash)
        .bind(now.as_datetime());
        // fetch_all: each statement's whole answer is read, so a commit that fails after its row is seen.
        let (spent, reused): (Vec<(String, i64, i64)>, Vec<(String, i64)>) = self
            .connections
            .run(async |c| {
                let spent: Vec<(String, i64, i64)> = spend.fetch_all(&mut *c).await?;
                match spent.is_empty() {
                    false => Ok((spent, Vec::new())),
                    true => Ok((spent, revoke.fetch_all(c).await?)),
                }
            })
            .await
            .map_err(storage_error)?;
        if let Some((family_id, user, token_version)) = spent.into_iter().next() {
            return Ok(SpendOutcome::Spent { user_id: user_id(user)?, family_id, token_version });
        }
        match reused.into_iter().next() {
            Some((family_id, user)) => Ok(SpendOutcome::Reused { user_id: user_id(user)?, family_id }),
            None => Ok(SpendOutcome::Invalid),
        }
    }

    async fn revoke_family_of(&self, token_hash: &str, now: Timestamp) -> Result<(), RepositoryError> {
        let revoke = sqlx::query(
            "UPDATE refresh_families SET revoked_at = COALESCE(revoked_at, $2) \
             WHERE id = (SELECT family_id FROM refresh_tokens WHERE token_hash = $1)",
        )
        .bind(token_hash)
        .bind(now.as_datetime());
        self.connections.run(async |c| revoke.execute(c).await).await.map_err(storage_error)?;
        Ok(())
    }

    async fn revoke_user(&self, user: UserId, now: Timestamp) -> Result<(), RepositoryError> {
        let revoke =
            sqlx::query("UPDATE refresh_families SET revoked_at = COALESCE(revoked_at, $2) WHERE user_id = $1")
                .bind(user.get())
                .bind(now.as_datetime());
        self.connections.run(async |c| revoke.execute(c).await).await.map_err(storage_error)?;
        Ok(())
    }

    async fn purge_refresh_tokens(&self, now: Timestamp) -> Result<u64, RepositoryError> {
        let expired = sqlx::query("DELETE FROM refresh_tokens WHERE expires_at <= $1").bind(now.as_datetime());
        let empty_families = sqlx::query(
            "DELETE FROM refresh_families f WHERE NOT EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.family_id = f.id)",
        );
        self.connections
            .run(async |c| {
                let purged = expired.execute(&mut *c).await?.rows_affected();
                empty_families.execute(c).await?;
                Ok(purged)
            })
            .await
            .map_err(storage_error)
    }
}
