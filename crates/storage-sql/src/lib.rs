//! What both SQL adapters share: the connection pool (`connections`), the mapping of database errors, and the
//! listing's SQL, written once: the schemas name their columns alike, and the statement text below is valid on
//! SQLite and PostgreSQL. Values are lower-cased in Rust with the domain's `fold_case` (as the stored `*_lower`
//! columns are), so both backends compare the same way.

mod connections;

/// The columns a user row reads, in both schemas, as a literal so every statement stays a `&'static str`.
#[macro_export]
macro_rules! user_columns {
    () => {
        "id, username, email, name, age, role, password_hash, created_at, updated_at, token_version"
    };
}

pub use connections::{Connection, Connections, Options};
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, FromRow, IntoArguments, QueryBuilder, Type};
use users_domain::auth::LoginName;
use users_domain::ports::{CreateUserError, DeleteUserError, RepositoryError, UpdateUserError};
use users_domain::{fold_case, DisplayName, ListQuery, SortDirection, SortKey};

/// A failed statement as the domain sees it: storage that does not answer is `Unavailable` (503, worth a retry);
/// anything else is unexpected.
pub fn storage_error(error: sqlx::Error) -> RepositoryError {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => RepositoryError::Unavailable(error.into()),
        sqlx::Error::Database(ref e) if e.code().is_some_and(|c| cannot_serve_now(&c)) => {
            RepositoryError::Unavailable(error.into())
        }
        other => RepositoryError::Unexpected(other.into()),
    }
}

/// Whether a database error code says the storage cannot serve the statement now, though a later retry may
/// succeed (503 with Retry-After, never a 500 or a 2xx). PostgreSQL's codes are five-character SQLSTATEs;
/// SQLite's are its extended result codes, in decimal (at most four digits).
fn cannot_serve_now(code: &str) -> bool {
    if code.len() == 5 {
        // 08xxx connection exceptions; 53xxx insufficient resources (53100 disk full); 57014 statement timeout;
        // 57P01 admin shutdown; 57P03 cannot connect now; 55P03 lock wait timed out; 58030 I/O error; 25006 a
        // read-only transaction (a standby); 40001 and 40P01 serialization failure and deadlock.
        return code.starts_with("08")
            || code.starts_with("53")
            || ["57014", "57P01", "57P03", "55P03", "58030", "25006", "40001", "40P01"].contains(&code);
    }
    const BUSY: i32 = 5;
    const LOCKED: i32 = 6;
    const READONLY: i32 = 8;
    const IOERR: i32 = 10;
    const FULL: i32 = 13;
    const CANTOPEN: i32 = 14;
    code.parse::<i32>()
        .is_ok_and(|extended| [BUSY, LOCKED, READONLY, IOERR, FULL, CANTOPEN].contains(&(extended & 0xff)))
}

/// A session's token stored for a user deleted meanwhile (a login racing the delete): the foreign key refuses
/// it, and that is no error: the user's sessions ended with them, so there is nothing to store.
pub fn unless_user_gone(stored: Result<(), sqlx::Error>) -> Result<(), RepositoryError> {
    match stored {
        Err(e) if e.as_database_error().is_some_and(|d| d.is_foreign_key_violation()) => Ok(()),
        other => other.map_err(storage_error),
    }
}

/// Which unique index a violation hit. Both databases name it in the message: PostgreSQL the index
/// (`users_username_lower_key`), SQLite the column (`users.username_lower`).
enum Taken {
    Username,
    Email,
}

fn taken(error: &sqlx::Error) -> Option<Taken> {
    let message = error.as_database_error().filter(|e| e.is_unique_violation())?.message();
    if message.contains("username_lower") {
        Some(Taken::Username)
    } else if message.contains("email") {
        Some(Taken::Email)
    } else {
        None
    }
}

/// An insert's failure: a taken username or email, or a storage error.
pub fn create_error(error: sqlx::Error) -> CreateUserError {
    match taken(&error) {
        Some(Taken::Username) => CreateUserError::UsernameTaken,
        Some(Taken::Email) => CreateUserError::EmailTaken,
        None => storage_error(error).into(),
    }
}

/// An update's failure: a taken username or email, or a storage error.
pub fn update_error(error: sqlx::Error) -> UpdateUserError {
    match taken(&error) {
        Some(Taken::Username) => UpdateUserError::UsernameTaken,
        Some(Taken::Email) => UpdateUserError::EmailTaken,
        None => storage_error(error).into(),
    }
}

/// `%`, `_` and `\` in `q` match themselves (the statements say `ESCAPE '\'`).
pub fn like_pattern(q: &str) -> String {
    let escaped = fold_case(q).replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

/// ` WHERE …` for the query's filters, binding every value.
pub fn push_filter<DB: Database>(builder: &mut QueryBuilder<DB>, query: &ListQuery)
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

/// The `name_lower` column's value for a name (the listing's filters compare lower-cased values).
pub fn lower_name(name: Option<&DisplayName>) -> Option<String> {
    name.map(|n| fold_case(n.as_str()))
}

/// The listing's page over `columns` and the count of all its matches: two statements on one connection.
pub async fn list_rows<DB, Row>(
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
            let total = count.build_query_scalar().fetch_one(&mut *c).await?;
            Ok((total, page.build_query_as().fetch_all(c).await?))
        })
        .await
        .map_err(storage_error)?;
    Ok((u64::try_from(total).unwrap_or(0), rows))
}

/// The user a login names, by the unique index of its username or email (`$1` is a placeholder on both
/// backends). `None` when no user can have the name: one with a NUL (sign-up refuses it; PostgreSQL cannot
/// even compare it).
pub async fn find_by_login_name<DB, Row>(
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
    connections.run(async |c| statement.fetch_optional(c).await).await.map_err(storage_error)
}

/// How long readiness waits for its probe statement.
const READINESS_WITHIN: std::time::Duration = std::time::Duration::from_secs(2);

/// Readiness: a read of the users table answers within two seconds. A ping alone would still answer while a lock
/// held on the table, or a stalled database, keeps every request waiting.
pub async fn serves_reads<DB>(connections: &Connections<DB>) -> Result<(), RepositoryError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
{
    let probe = connections.run(async |c| sqlx::query("SELECT id FROM users LIMIT 1").execute(c).await.map(|_| ()));
    match tokio::time::timeout(READINESS_WITHIN, probe).await {
        Ok(answered) => answered.map_err(storage_error),
        Err(_) => Err(RepositoryError::Unavailable(anyhow::anyhow!("the readiness probe took over 2 s"))),
    }
}

/// An update whose guarded statement wrote nothing: the user is there (so the guard kept the last admin) or not.
pub fn nothing_updated(user_exists: bool) -> UpdateUserError {
    if user_exists {
        UpdateUserError::LastAdmin
    } else {
        UpdateUserError::NotFound
    }
}

/// The same for a delete.
pub fn nothing_deleted(user_exists: bool) -> DeleteUserError {
    if user_exists {
        DeleteUserError::LastAdmin
    } else {
        DeleteUserError::NotFound
    }
}

/// ` ORDER BY …`: the sort key in its direction, ties by id ascending.
pub fn order_by(query: &ListQuery) -> &'static str {
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
    fn storage_that_cannot_serve_now_is_told_from_a_failed_statement() {
        for code in ["57014", "55P03", "53100", "08006", "5", "517", "13", "778", "8"] {
            assert!(cannot_serve_now(code), "{code}");
        }
        // A unique or check violation, a syntax error: the request or the code is at fault.
        for code in ["23505", "23514", "42601", "2067", "19", "1"] {
            assert!(!cannot_serve_now(code), "{code}");
        }
    }

    #[test]
    fn like_patterns_escape_wildcards_and_lower_case() {
        assert_eq!(like_pattern("A_b%C\\"), "%a\\_b\\%c\\\\%");
    }
}
