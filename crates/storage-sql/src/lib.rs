//! The SQL store, written once for PostgreSQL and SQLite: every statement, the row mapping and the storage ports'
//! implementations (`store`), the connection pool (`connections`) and the mapping of database errors (`errors`).
//! The schemas name their columns alike, and each statement's text is valid on both databases (`$N`
//! placeholders, which sqlx binds positionally on SQLite too). What really differs is a [`Dialect`], implemented
//! in each adapter crate. Values are lower-cased in Rust with the domain's `fold_case` (as the stored `*_lower`
//! columns are), so both backends compare the same way.

mod connections;
mod errors;
mod read_batches;
mod rows;
mod store;
mod substring_search;
mod transfer;

/// The columns a user row reads, in both schemas, as a literal so every statement stays a `&'static str`.
#[macro_export]
macro_rules! user_columns {
    () => {
        "id, username, email, name, age, role, password_hash, created_at, updated_at, token_version, status, \
         disabled_until, email_verified, last_login_at"
    };
}

pub use connections::{Connection, Connections, Options};
pub use errors::{storage_error, Failed, StatementContext, StatementError};
pub use read_batches::{BatchStatement, ReadBatches, RowWithSessions};
pub use rows::{TimeColumn, UserRow};
pub use store::{CallerSession, Dialect, SqlStore};
pub use substring_search::SubstringIndex;
use substring_search::{SampledTrigrams, SubstringSearch};

use sqlx::database::HasStatementCache;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, FromRow, IntoArguments, QueryBuilder, Type};
use users_domain::auth::LoginName;
use users_domain::ports::{DeleteUserError, RepositoryError, UpdateUserError};
use users_domain::{fold_case, Counter, Email, ListQuery, SortDirection, SortKey, UserStatus};

/// The `LIKE` pattern of a folded text's occurrences anywhere: `%`, `_` and `\` in it match themselves (the
/// statements say `ESCAPE '\'`).
fn contains_pattern(folded: &str) -> String {
    let escaped = folded.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

/// ` WHERE …` for the query's filters, binding every value (times as the schema stores them, `Time`).
fn push_filter<DB: Database, Time>(builder: &mut QueryBuilder<DB>, query: &ListQuery, search: Option<&SubstringSearch>)
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> Time: TimeColumn + Encode<'t, DB> + Type<DB>,
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
        // Sorted by another key than id, the role is checked on the rows that key's index walks, not looked up:
        // each role is held by a large share of the users, and SQLite (which has no statistics) would otherwise
        // read every user of the role through the role index and sort them all. Sorted by id, the `(role, id)`
        // index serves both.
        let column = if query.sort == SortKey::Id { " AND role = " } else { " AND role || '' = " };
        builder.push(column).push_bind(role.as_str().to_owned());
    }
    if let Some(q) = &filter.q {
        // Written so that no index serves them (`|| ''`): they decide over the candidates of the search's index.
        let pattern = contains_pattern(&fold_case(q));
        builder
            .push(" AND ((username_lower || '') LIKE ")
            .push_bind(pattern.clone())
            .push(" ESCAPE '\\' OR (email || '') LIKE ")
            .push_bind(pattern.clone())
            .push(" ESCAPE '\\' OR (name_lower || '') LIKE ")
            .push_bind(pattern)
            .push(" ESCAPE '\\')");
        if let Some(search) = search {
            search.push_condition(builder);
        }
    }
    // A ban whose end has passed is active: judged at the filter's time. Disabled rows come from a partial index.
    if let Some(status) = filter.status {
        let at = Time::from_timestamp(status.at);
        match status.status {
            UserStatus::Disabled => builder
                .push(" AND status = 'disabled' AND (disabled_until IS NULL OR disabled_until > ")
                .push_bind(at)
                .push(")"),
            UserStatus::Active => builder.push(" AND (status = 'active' OR disabled_until <= ").push_bind(at).push(")"),
        };
    }
}

/// ` AND …`: the rows after the user `after` in the query's order. With an index on the sort key (and `id`), the
/// page starts at that place in the index, whatever its depth. The cursor's key is read by primary key.
fn push_after<DB: Database>(builder: &mut QueryBuilder<DB>, query: &ListQuery, after: i64)
where
    for<'t> i64: Encode<'t, DB> + Type<DB>,
{
    let beyond = match query.direction {
        SortDirection::Ascending => ">",
        SortDirection::Descending => "<",
    };
    let column = match query.sort {
        SortKey::Id => {
            builder.push(format!(" AND id {beyond} ")).push_bind(after);
            return;
        }
        SortKey::Username => "username_lower",
        SortKey::Email => "email",
        SortKey::CreatedAt => "created_at",
        SortKey::UpdatedAt => "updated_at",
    };
    let cursor_key = format!("(SELECT {column} FROM users WHERE id = ");
    if matches!(query.sort, SortKey::Username | SortKey::Email) {
        // Unique: no ties to break.
        builder.push(format!(" AND {column} {beyond} {cursor_key}")).push_bind(after).push(")");
        return;
    }
    // Past the cursor's key, or on it with a higher id (ties go by id ascending in both directions). The first
    // condition bounds the index range; the second drops the few tied rows at or before the cursor.
    builder.push(format!(" AND {column} {beyond}= {cursor_key}")).push_bind(after);
    builder.push(format!(") AND ({column} {beyond} {cursor_key}")).push_bind(after);
    builder.push(") OR id > ").push_bind(after).push(")");
}

/// The listing's statements over `columns`: the check that `starting_after` is a user the filters match, the count
/// of all matches (from the kept counters when the filter has one), and the page (one row more than the limit,
/// which says whether more follow). `None` when the filter cannot match anything (a NUL, which PostgreSQL cannot
/// even compare).
struct ListStatements<DB: Database> {
    cursor_check: Option<QueryBuilder<DB>>,
    count: QueryBuilder<DB>,
    page: QueryBuilder<DB>,
}

fn list_statements<DB: Database, Time>(
    query: &ListQuery,
    columns: &str,
    search: Option<&SubstringSearch>,
) -> Option<ListStatements<DB>>
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'t> Time: TimeColumn + Encode<'t, DB> + Type<DB>,
{
    if !query.filter.can_match() {
        return None;
    }
    let after = query.starting_after.map(|id| id.get());
    let cursor_check = after.map(|after| {
        let mut check = QueryBuilder::new("SELECT id FROM users");
        push_filter::<DB, Time>(&mut check, query, None);
        check.push(" AND id = ").push_bind(after);
        check
    });
    let count = match query.filter.counter() {
        Some(counter) => counted::<DB, Time>(counter),
        None => {
            let mut count = QueryBuilder::new("SELECT count(*) FROM users");
            push_filter::<DB, Time>(&mut count, query, search);
            count
        }
    };
    let mut page = QueryBuilder::new(format!("SELECT {columns} FROM users"));
    push_filter::<DB, Time>(&mut page, query, search);
    if let Some(after) = after {
        push_after(&mut page, query, after);
    }
    page.push(order_by(query));
    page.push(" LIMIT ").push_bind(i64::from(query.limit) + 1);
    if after.is_none() {
        page.push(" OFFSET ").push_bind(i64::try_from(query.offset).unwrap_or(i64::MAX));
    }
    Some(ListStatements { cursor_check, count, page })
}

/// The count a kept counter holds: the sum of its slots in `user_counts` (the migrations' triggers move them with
/// every insert, delete and role change, in the same transaction).
fn counted<DB: Database, Time>(counter: Counter) -> QueryBuilder<DB>
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> Time: TimeColumn + Encode<'t, DB> + Type<DB>,
{
    let kept = "SELECT CAST(COALESCE(sum(users), 0) AS BIGINT) FROM user_counts";
    let mut count = QueryBuilder::new("");
    let (role, active_at) = match counter {
        Counter::All => (None, None),
        Counter::Role(role) => (Some(role), None),
        Counter::Active { role, at } => (role, Some(at)),
    };
    let Some(at) = active_at else {
        count.push(kept);
        if let Some(role) = role {
            count.push(" WHERE role = ").push_bind(role.as_str().to_owned());
        }
        return count;
    };
    // The kept count less the users disabled at `at` (read through the partial index of disabled users).
    count.push("SELECT (").push(kept);
    if let Some(role) = role {
        count.push(" WHERE role = ").push_bind(role.as_str().to_owned());
    }
    count.push(
        ") - (SELECT count(*) FROM users WHERE status = 'disabled' AND (disabled_until IS NULL OR disabled_until > ",
    );
    count.push_bind(Time::from_timestamp(at)).push(")");
    if let Some(role) = role {
        count.push(" AND role = ").push_bind(role.as_str().to_owned());
    }
    count.push(")");
    count
}

/// The listing's page over `columns` (up to `limit + 1` rows) and the count of all its matches (told by the page
/// when it can, else counted), on one connection; `None` when `starting_after` is not a user the filters match.
async fn list_rows<DB, Row, Time>(
    connections: &Connections<DB>,
    query: &ListQuery,
    columns: &str,
    search: Option<&SubstringSearch>,
) -> Result<Option<(u64, Vec<Row>)>, RepositoryError>
where
    DB: Database + HasStatementCache,
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> Time: TimeColumn + Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Decode<'t, DB> + Type<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'r> Row: FromRow<'r, DB::Row> + Send + Unpin,
    DB::Arguments: IntoArguments<DB>,
    usize: ColumnIndex<DB::Row>,
{
    let Some(mut statements) = list_statements::<DB, Time>(query, columns, search) else {
        return Ok(query.starting_after.is_none().then(|| (0, Vec::new())));
    };
    // A substring's statements are planned for their own pattern each time (not once for any pattern, which
    // PostgreSQL may do with a prepared statement): how selective `q` is decides whether its index pays.
    let planned_each_time = query.filter.q.is_none();
    let listed = connections
        .run(async |c| {
            if let Some(check) = statements.cursor_check.as_mut() {
                let found: Option<i64> = check
                    .build_query_scalar()
                    .persistent(planned_each_time)
                    .fetch_optional(&mut *c)
                    .await
                    .step("find the listing's starting_after user")?;
                if found.is_none() {
                    return Ok(None);
                }
            }
            let page = statements.page.build_query_as().persistent(planned_each_time);
            let rows: Vec<Row> = page.fetch_all(&mut *c).await.step("read the listed users")?;
            if let Some(total) = total_told_by_the_page(query, rows.len()) {
                return Ok(Some((total, rows)));
            }
            let count = statements.count.build_query_scalar().persistent(planned_each_time);
            let total: i64 = count.fetch_one(c).await.step("count the listed users")?;
            Ok(Some((u64::try_from(total).unwrap_or(0), rows)))
        })
        .await
        .map_err(storage_error)?;
    Ok(listed)
}

/// The count of all matches when the page itself tells it, so that the count statement (a second pass over the
/// matches when no kept counter serves the filter, as for `q`) is skipped: a page from an offset that ends before
/// its limit holds the last match, unless it is empty past the first page (the matches may end anywhere before
/// the offset). After a cursor, the matches before it are unknown.
fn total_told_by_the_page(query: &ListQuery, fetched: usize) -> Option<u64> {
    let limit = usize::try_from(query.limit).unwrap_or(usize::MAX);
    let ends_here = fetched <= limit && (fetched > 0 || query.offset == 0);
    (query.starting_after.is_none() && ends_here)
        .then(|| query.offset.saturating_add(u64::try_from(fetched).unwrap_or(u64::MAX)))
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

/// An update whose guarded statement wrote nothing: the user is not there, has another email than the patch
/// expects, or is there as it expects (so the guard kept the last admin). `email`: the user's, looked up after the
/// statement. On PostgreSQL that look takes a new snapshot, so an email changed and changed back between the two
/// reads as expected: when the patch could not remove an admin, that is the only way the guard failed.
fn nothing_updated(
    email: Option<String>,
    expected_email: Option<&Email>,
    may_remove_an_admin: bool,
) -> UpdateUserError {
    match (email, expected_email) {
        (None, _) => UpdateUserError::NotFound,
        (Some(email), Some(expected)) if email != expected.as_str() => UpdateUserError::EmailChanged,
        (Some(_), Some(_)) if !may_remove_an_admin => UpdateUserError::EmailChanged,
        (Some(_), _) => UpdateUserError::LastAdmin,
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

/// ` ORDER BY …`: the sort key in its direction, ties by id ascending. Usernames and emails are unique (folded),
/// so they have no ties to break, and their unique index serves both directions; the timestamps have an index
/// for each direction, each ending in `id ASC`.
fn order_by(query: &ListQuery) -> &'static str {
    use SortDirection::{Ascending as Asc, Descending as Desc};
    match (query.sort, query.direction) {
        (SortKey::Id, Asc) => " ORDER BY id ASC",
        (SortKey::Id, Desc) => " ORDER BY id DESC",
        (SortKey::Username, Asc) => " ORDER BY username_lower ASC",
        (SortKey::Username, Desc) => " ORDER BY username_lower DESC",
        (SortKey::Email, Asc) => " ORDER BY email ASC",
        (SortKey::Email, Desc) => " ORDER BY email DESC",
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
    fn a_page_tells_the_total_only_when_it_ends_the_matches_from_a_known_offset() {
        let query = |offset, after: Option<i64>| ListQuery {
            limit: 3,
            offset,
            starting_after: after.map(|id| users_domain::UserId::new(id).expect("an id")),
            ..ListQuery::default()
        };
        assert_eq!(total_told_by_the_page(&query(0, None), 0), Some(0), "no match at all");
        assert_eq!(total_told_by_the_page(&query(6, None), 2), Some(8), "the last page");
        assert_eq!(total_told_by_the_page(&query(6, None), 3), Some(9), "a full page with nothing after it");
        assert_eq!(total_told_by_the_page(&query(0, None), 4), None, "more follow");
        assert_eq!(total_told_by_the_page(&query(9, None), 0), None, "past the end: the end is unknown");
        assert_eq!(total_told_by_the_page(&query(0, Some(5)), 1), None, "the matches before the cursor are unknown");
    }

    #[test]
    fn an_update_that_wrote_nothing_is_told_apart_by_the_email_found_after_it() {
        let expected = Email::parse("ann@example.com").expect("valid");
        let found = |email: &str| Some(email.to_owned());
        assert!(matches!(nothing_updated(None, Some(&expected), true), UpdateUserError::NotFound));
        assert!(matches!(
            nothing_updated(found("bob@example.com"), Some(&expected), true),
            UpdateUserError::EmailChanged
        ));
        assert!(matches!(nothing_updated(found("ann@example.com"), None, true), UpdateUserError::LastAdmin));
        // The email was another when the guarded statement ran, and is back by the look after it: only the email
        // guard can have failed for a patch that removes no admin.
        assert!(matches!(
            nothing_updated(found("ann@example.com"), Some(&expected), false),
            UpdateUserError::EmailChanged
        ));
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(contains_pattern("a_b%c\\"), "%a\\_b\\%c\\\\%");
    }
}
