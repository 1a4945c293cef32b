//! Rows ↔ domain values. A stored row was valid when written; one that no longer parses is an unexpected error.

use anyhow::{anyhow, Context};
use time::OffsetDateTime;
use users_domain::{
    AccountStatus, Age, DisplayName, Email, PasswordHash, Role, Timestamp, User, UserId, UserStatus, Username,
};

/// A timestamp column as a schema stores it: PostgreSQL's `TIMESTAMPTZ` (`OffsetDateTime`), SQLite's `INTEGER`
/// microseconds since the Unix epoch (`i64`).
pub trait TimeColumn: Sized + Clone + Send + Sync + Unpin + 'static {
    fn from_timestamp(at: Timestamp) -> Self;
    /// `None` when the stored value is out of the domain's range.
    fn into_timestamp(self) -> Option<Timestamp>;
}

impl TimeColumn for OffsetDateTime {
    fn from_timestamp(at: Timestamp) -> Self {
        at.as_datetime()
    }

    fn into_timestamp(self) -> Option<Timestamp> {
        Some(Timestamp::from_datetime(self))
    }
}

impl TimeColumn for i64 {
    fn from_timestamp(at: Timestamp) -> Self {
        at.unix_micros()
    }

    fn into_timestamp(self) -> Option<Timestamp> {
        Timestamp::from_unix_micros(self)
    }
}

/// A user row, its timestamps as the schema stores them. Ages are 1–150: a SMALLINT on PostgreSQL, an INTEGER
/// on SQLite, `i16` on both.
#[derive(Clone, sqlx::FromRow)]
pub struct UserRow<Time> {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub name: Option<String>,
    pub age: Option<i16>,
    pub role: String,
    pub password_hash: String,
    pub created_at: Time,
    pub updated_at: Time,
    pub token_version: i64,
    pub status: String,
    pub disabled_until: Option<Time>,
    pub email_verified: bool,
    pub last_login_at: Option<Time>,
}

/// The `age` column's value: ages are 1–150, so they fit.
pub(crate) fn age_column(age: Age) -> i16 {
    i16::try_from(age.get()).unwrap_or(i16::MAX)
}

/// The `status` column's value.
pub(crate) fn status_column(status: AccountStatus) -> String {
    status.kind().as_str().to_owned()
}

fn timestamp(stored: impl TimeColumn) -> anyhow::Result<Timestamp> {
    stored.into_timestamp().ok_or_else(|| anyhow!("stored timestamp out of range"))
}

impl<Time: TimeColumn> TryFrom<UserRow<Time>> for User {
    type Error = anyhow::Error;

    fn try_from(row: UserRow<Time>) -> anyhow::Result<Self> {
        Ok(User {
            id: UserId::new(row.id).context("stored id")?,
            username: Username::parse(row.username).context("stored username")?,
            email: Email::parse(row.email).context("stored email")?,
            name: row.name.as_deref().map(DisplayName::parse).transpose().context("stored name")?,
            age: row.age.map(|a| Age::parse(i64::from(a))).transpose().context("stored age")?,
            role: Role::parse(&row.role).context("stored role")?,
            password_hash: PasswordHash::new(row.password_hash),
            created_at: timestamp(row.created_at)?,
            updated_at: timestamp(row.updated_at)?,
            token_version: row.token_version,
            status: match UserStatus::parse(&row.status).context("stored status")? {
                UserStatus::Active => AccountStatus::Active,
                UserStatus::Disabled => {
                    AccountStatus::Disabled { until: row.disabled_until.map(timestamp).transpose()? }
                }
            },
            email_verified: row.email_verified,
            last_login_at: row.last_login_at.map(timestamp).transpose()?,
        })
    }
}
