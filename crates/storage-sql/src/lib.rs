//! The SQL store, written once for PostgreSQL and SQLite: every statement, the row mapping and the storage ports'
//! implementations (`store`), the connection pool (`connections`) and the mapping of database errors (`errors`).
//! The schemas name their columns alike, and each statement's text is valid on both databases (`$N`
//! placeholders, which sqlx binds positionally on SQLite too). What really differs is a [`Dialect`], implemented
//! in each adapter crate. Values are lower-cased in Rust with the domain's `fold_case` (as the stored `*_lower`
//! columns are), so both backends compare the same way.

mod connections;
mod errors;
mod rows;
mod store;

/// The columns a user row reads, in both schemas, as a literal so every statement stays a `&'static str`.
#[macro_export]
macro_rules! user_columns {
    () => {
        "id, username, email, name, age, role, password_hash, created_at, updated_at, token_version"
    };
}

pub use connections::{Connection, Connections, Options};
pub use errors::{storage_error, Failed, StatementContext, StatementError};
pub use rows::{TimeColumn, UserRow};
pub use store::{CallerSession, Dialect, SqlStore};

use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, FromRow, IntoArguments, QueryBuilder, Type};
use users_domain::auth::LoginName;
use users_domain::ports::{DeleteUserError, RepositoryError, UpdateUserError};
use users_domain::{fold_case, ListQuery, SortDirection, SortKey};

/// `%`, `_` and `\` in `q` match themselves (the statements say `ESCAPE '\'`).
fn like_pattern(q: &str) -> String {
    let escaped = fold_case(q).replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

/// ` WHERE …` for the query's filters, binding every value.
fn push_filter<DB: Database>(builder: &mut QueryBuilder<DB>, query: &ListQuery)
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
{
    let filter = &query.filter;
    builder.push(" WHERE 1 = 1");
    if let Some(username) = &filter.username {
        builder.push(" AND username_lower = ").push_bind(fold_case(username));
    }
    if let Some(email) = &filter.email {
        builder.push(" AND email = ").push_bind(fold_case(email));
    }
    if let Some(role) = filter.role {
        builder.push(" AND role = ").push_bind(role.as_str().to_owned());
    }
    if let Some(q) = &filter.q {
        let pattern = like_pattern(q);
        builder
            .push(" AND (username_lower LIKE ")
            .push_bind(pattern.clone())
            .push(" ESCAPE '\\' OR email LIKE ")
            .push_bind(pattern.clone())
            .push(" ESCAPE '\\' OR name_lower LIKE ")
            .push_bind(pattern)
            .push(" ESCAPE '\\')");
    }
}

/// The listing's two statements over `columns`: the count of all matches, and the page. `None` when the filter
/// cannot match anything (a NUL, which PostgreSQL cannot even compare): the page is then empty, with no statement.
fn list_statements<DB: Database>(query: &ListQuery, columns: &str) -> Option<(QueryBuilder<DB>, QueryBuilder<DB>)>
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
{
    if !query.filter.can_match() {
        return None;
    }
    let mut count = QueryBuilder::new("SELECT count(*) FROM users");
    push_filter(&mut count, query);
    let mut page = QueryBuilder::new(format!("SELECT {columns} FROM users"));
    push_filter(&mut page, query);
    page.push(order_by(query));
    page.push(" LIMIT ").push_bind(i64::from(query.limit));
    page.push(" OFFSET ").push_bind(i64::try_from(query.offset).unwrap_or(i64::MAX));
    Some((count, page))
}

/// The listing's page over `columns` and the count of all its matches: two statements on one connection.
async fn list_rows<DB, Row>(
    connections: &Connections<DB>,
    query: &ListQuery,
    columns: &str,
) -> Result<(u64, Vec<Row>), RepositoryError>
where
    DB: Database,
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Decode<'t, DB> + Type<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'r> Row: FromRow<'r, DB::Row> + Send + Unpin,
    DB::Arguments: IntoArguments<DB>,
    usize: ColumnIndex<DB::Row>,
{
    let Some((mut count, mut page)) = list_statements::<DB>(query, columns) else {
        return Ok((0, Vec::new()));
    };
    let (total, rows): (i64, Vec<Row>) = connections
        .run(async |c| {
            let total = count.build_query_scalar().fetch_one(&mut *c).await.step("count the listed users")?;
            Ok((total, page.build_query_as().fetch_all(c).await.step("read the listed users")?))
        })
        .await
        .map_err(storage_error)?;
    Ok((u64::try_from(total).unwrap_or(0), rows))
}

/// The user a login names, by the unique index of its username or email (`$1` is a placeholder on both
/// backends). `None` when no user can have the name: one with a NUL (sign-up refuses it; PostgreSQL cannot
/// even compare it).
async fn find_by_login_name<DB, Row>(
    connections: &Connections<DB>,
    name: &LoginName,
) -> Result<Option<Row>, RepositoryError>
where
    DB: Database,
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'r> Row: FromRow<'r, DB::Row> + Send + Unpin,
    DB::Arguments: IntoArguments<DB>,
{
    let (sql, value) = match name {
        LoginName::Username(username) => {
            (concat!("SELECT ", user_columns!(), " FROM users WHERE username_lower = $1"), username)
        }
        LoginName::Email(email) => (concat!("SELECT ", user_columns!(), " FROM users WHERE email = $1"), email),
    };
    if value.contains('\0') {
        return Ok(None);
    }
    let statement = sqlx::query_as(sql).bind(fold_case(value));
    let found = connections.run(async |c| statement.fetch_optional(c).await.step("find the user by login name"));
    found.await.map_err(storage_error)
}

/// How long readiness waits for its probe statement.
const READINESS_WITHIN: std::time::Duration = std::time::Duration::from_secs(2);

/// Readiness: a read of the users table answers within two seconds. A ping alone would still answer while a lock
/// held on the table, or a stalled database, keeps every request waiting.
async fn serves_reads<DB>(connections: &Connections<DB>) -> Result<(), RepositoryError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
{
    // Only the statement is timed: waiting for a connection of a busy, healthy pool is bounded by the acquire
    // timeout and does not make the instance unready. A probe cut short closes its connection.
    let mut connection = connections.get().await.step("get a database connection").map_err(storage_error)?;
    let probe = sqlx::query("SELECT id FROM users LIMIT 1").execute(&mut *connection);
    match tokio::time::timeout(READINESS_WITHIN, probe).await {
        Ok(answered) => {
            answered.step("read the users table").map_err(storage_error)?;
            connection.settle();
            Ok(())
        }
        Err(_) => Err(RepositoryError::Unavailable(anyhow::anyhow!("the readiness probe took over 2 s"))),
    }
}

/// An update whose guarded statement wrote nothing: the user is there (so the guard kept the last admin) or not.
fn nothing_updated(user_exists: bool) -> UpdateUserError {
    if user_exists {
        UpdateUserError::LastAdmin
    } else {
        UpdateUserError::NotFound
    }
}

/// The same for a delete.
fn nothing_deleted(user_exists: bool) -> DeleteUserError {
    if user_exists {
        DeleteUserError::LastAdmin
    } else {
        DeleteUserError::NotFound
    }
}

/// ` ORDER BY …`: the sort key in its direction, ties by id ascending.
fn order_by(query: &ListQuery) -> &'static str {
    use SortDirection::{Ascending as Asc, Descending as Desc};
    match (query.sort, query.direction) {
        (SortKey::Id, Asc) => " ORDER BY id ASC",
        (SortKey::Id, Desc) => " ORDER BY id DESC",
        (SortKey::Username, Asc) => " ORDER BY username_lower ASC, id ASC",
        (SortKey::Username, Desc) => " ORDER BY username_lower DESC, id ASC",
        (SortKey::Email, Asc) => " ORDER BY email ASC, id ASC",
        (SortKey::Email, Desc) => " ORDER BY email DESC, id ASC",
        (SortKey::CreatedAt, Asc) => " ORDER BY created_at ASC, id ASC",
        (SortKey::CreatedAt, Desc) => " ORDER BY created_at DESC, id ASC",
        (SortKey::UpdatedAt, Asc) => " ORDER BY updated_at ASC, id ASC",
        (SortKey::UpdatedAt, Desc) => " ORDER BY updated_at DESC, id ASC",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards_and_lower_case() {
        assert_eq!(like_pattern("A_b%C\\"), "%a\\_b\\%c\\\\%");
    }
}
