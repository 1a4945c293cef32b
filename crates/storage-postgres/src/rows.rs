//! Rows ↔ domain values. A stored row was valid when written; one that no longer parses is an unexpected error.

use anyhow::Context;
use time::OffsetDateTime;
use users_domain::{Age, DisplayName, Email, PasswordHash, Role, Timestamp, User, UserId, Username};

#[derive(Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub name: Option<String>,
    pub age: Option<i16>,
    pub role: String,
    pub password_hash: String,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub token_version: i64,
}

impl TryFrom<UserRow> for User {
    type Error = anyhow::Error;

    fn try_from(row: UserRow) -> anyhow::Result<Self> {
        Ok(User {
            id: UserId::new(row.id).context("stored id")?,
            username: Username::parse(row.username).context("stored username")?,
            email: Email::parse(row.email).context("stored email")?,
            name: row.name.as_deref().map(DisplayName::parse).transpose().context("stored name")?,
            age: row.age.map(|a| Age::parse(i64::from(a))).transpose().context("stored age")?,
            role: Role::parse(&row.role).context("stored role")?,
            password_hash: PasswordHash::new(row.password_hash),
            created_at: Timestamp::from_datetime(row.created_at),
            updated_at: Timestamp::from_datetime(row.updated_at),
            token_version: row.token_version,
        })
    }
}
