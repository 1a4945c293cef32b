//! Database errors as the domain sees them, each saying which step of its port call failed.

use users_domain::ports::{CreateUserError, RepositoryError, UpdateUserError};

/// A statement of a port call that failed: which step it was ("update the user"), and why.
#[derive(Debug, thiserror::Error)]
#[error("cannot {step}")]
pub struct Failed {
    step: &'static str,
    #[source]
    source: sqlx::Error,
}

/// `.step("…")` on a statement's result: the context that names its step, so a 500's log line says which
/// statement failed ("cannot update the user: …").
pub trait StatementContext<T> {
    fn step(self, step: &'static str) -> Result<T, Failed>;
}

impl<T> StatementContext<T> for Result<T, sqlx::Error> {
    fn step(self, step: &'static str) -> Result<T, Failed> {
        self.map_err(|source| Failed { step, source })
    }
}

/// What [`crate::Connections::run`] needs of its statements' error.
pub trait StatementError {
    /// No connection came within the acquire timeout, or none could be opened.
    fn no_connection(error: sqlx::Error) -> Self;
    /// The server refused a statement: the connection still works, once rolled back.
    fn refused_by_server(&self) -> bool;
}

impl StatementError for sqlx::Error {
    fn no_connection(error: sqlx::Error) -> Self {
        error
    }

    fn refused_by_server(&self) -> bool {
        matches!(self, sqlx::Error::Database(_))
    }
}

impl StatementError for Failed {
    fn no_connection(source: sqlx::Error) -> Self {
        Failed { step: "get a database connection", source }
    }

    fn refused_by_server(&self) -> bool {
        self.source.refused_by_server()
    }
}

/// A failed statement as the domain sees it: storage that does not answer is `Unavailable` (503, worth a retry);
/// anything else is unexpected.
pub fn storage_error(failed: Failed) -> RepositoryError {
    let unavailable = match &failed.source {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(e) => e.code().is_some_and(|c| cannot_serve_now(&c)),
        _ => false,
    };
    match unavailable {
        true => RepositoryError::Unavailable(failed.into()),
        false => RepositoryError::Unexpected(failed.into()),
    }
}

/// Whether a database error code says the storage cannot serve the statement now, though a later retry may
/// succeed (503 with Retry-After, never a 500 or a 2xx). PostgreSQL's codes are five-character SQLSTATEs;
/// SQLite's are its extended result codes, in decimal (at most four digits).
fn cannot_serve_now(code: &str) -> bool {
    if code.len() == 5 {
        // 08xxx connection exceptions; 53xxx insufficient resources (53100 disk full); 57Pxx operator
        // intervention (shutdown, crash, cannot connect now, idle-session timeout); 57014 statement timeout; 55P03
        // lock wait timed out; 58030 I/O error; 25006 a read-only transaction (a standby); 25P03
        // idle-in-transaction timeout; 40001, 40003 and 40P01 serialization failure, statement completion
        // unknown and deadlock.
        return code.starts_with("08")
            || code.starts_with("53")
            || code.starts_with("57P")
            || ["57014", "55P03", "58030", "25006", "25P03", "40001", "40003", "40P01"].contains(&code);
    }
    const BUSY: i32 = 5;
    const LOCKED: i32 = 6;
    const NOMEM: i32 = 7;
    const READONLY: i32 = 8;
    const IOERR: i32 = 10;
    const FULL: i32 = 13;
    const CANTOPEN: i32 = 14;
    const PROTOCOL: i32 = 15;
    const NOTADB: i32 = 26; // the file at the path was replaced by something else
    let transient = [BUSY, LOCKED, NOMEM, READONLY, IOERR, FULL, CANTOPEN, PROTOCOL, NOTADB];
    code.parse::<i32>().is_ok_and(|extended| transient.contains(&(extended & 0xff)))
}

/// A session's token stored for a user deleted meanwhile (a login racing the delete): the foreign key refuses
/// it, and that is no error: the user's sessions ended with them, so there is nothing to store.
pub fn unless_user_gone(stored: Result<(), Failed>) -> Result<(), RepositoryError> {
    match stored {
        Err(e) if e.source.as_database_error().is_some_and(|d| d.is_foreign_key_violation()) => Ok(()),
        other => other.map_err(storage_error),
    }
}

/// Which unique index a violation hit.
enum Taken {
    Username,
    Email,
}

/// PostgreSQL names the violated index (`users_username_lower_key`, `users_email_key`: the migrations' names).
/// SQLite names no constraint; its message names the indexed column (`UNIQUE constraint failed:
/// users.username_lower`), the only place it says which.
fn taken(failed: &Failed) -> Option<Taken> {
    let violation = failed.source.as_database_error().filter(|e| e.is_unique_violation())?;
    let named = violation.constraint().unwrap_or_else(|| violation.message());
    if named.contains("username_lower") {
        Some(Taken::Username)
    } else if named.contains("email") {
        Some(Taken::Email)
    } else {
        None
    }
}

/// An insert's failure: a taken username or email, or a storage error.
pub fn create_error(failed: Failed) -> CreateUserError {
    match taken(&failed) {
        Some(Taken::Username) => CreateUserError::UsernameTaken,
        Some(Taken::Email) => CreateUserError::EmailTaken,
        None => storage_error(failed).into(),
    }
}

/// An update's failure: a taken username or email, or a storage error.
pub fn update_error(failed: Failed) -> UpdateUserError {
    match taken(&failed) {
        Some(Taken::Username) => UpdateUserError::UsernameTaken,
        Some(Taken::Email) => UpdateUserError::EmailTaken,
        None => storage_error(failed).into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_that_cannot_serve_now_is_told_from_a_failed_statement() {
        for code in ["57014", "55P03", "53100", "08006", "57P05", "5", "517", "13", "778", "8", "26"] {
            assert!(cannot_serve_now(code), "{code}");
        }
        // A unique or check violation, a syntax error: the request or the code is at fault.
        for code in ["23505", "23514", "42601", "2067", "19", "1"] {
            assert!(!cannot_serve_now(code), "{code}");
        }
    }

    #[test]
    fn a_storage_error_names_the_step_that_failed() {
        let failed: Result<(), _> = Err(sqlx::Error::PoolTimedOut);
        let error = storage_error(failed.step("update the user").expect_err("failed"));
        assert!(matches!(error, RepositoryError::Unavailable(_)));
        let RepositoryError::Unavailable(cause) = error else { unreachable!() };
        assert!(format!("{cause:#}").starts_with("cannot update the user: "), "{cause:#}");
    }
}
