//! Primary-key reads that arrive together share one statement.
//!
//! A read joins a queue. If no read is waiting for a connection on the queue's behalf, it becomes that read: it
//! waits for a connection and then answers everything queued by then with one statement. The others only wait
//! for their answer. Alone, a read is one statement for itself; under load, one statement serves the requests
//! that arrived while the connections were busy, so the database and the service make one round trip (on SQLite,
//! one trip to the connection's thread) where they made many. A read is queued before the statement that answers
//! it starts, so it sees every write that finished before it was asked. As many statements as the service has
//! cores run at once ([`ReadBatches::per_core`]), each on a connection of its own.
//!
//! The statement is the dialect's ([`BatchStatement`]): the batching knows only ids, callers' sessions and the
//! rows' ids.
//!
//! A read that loads a caller names the caller's session: the statement then also returns, for each caller, which
//! of the batch's sessions are theirs and not revoked, and the caller's row is kept only while its own is one of
//! them. The session check costs no round trip of its own, and is made for the callers' rows only, not for every
//! user the batch reads.

use crate::errors::{storage_error, Failed, StatementContext as _};
use crate::{CallerSession, Connections, UserRow};
use async_trait::async_trait;
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Type};
use std::sync::{Mutex, MutexGuard, PoisonError};
use tokio::sync::{oneshot, Semaphore};
use users_domain::ports::RepositoryError;

/// A user row and those of the batch's sessions that are its user's and not revoked (none for a user who is no
/// caller of the batch).
pub type RowWithSessions<Row> = (Row, Vec<String>);

/// A user by primary key, in both dialects: a batch of one id and no session.
const SELECT_ONE: &str = concat!("SELECT ", crate::user_columns!(), " FROM users WHERE id = $1");

/// The statement of the commonest read, one caller with one session (`$1`, `$2`), in both dialects: the user by
/// primary key and whether that session is theirs and live, a plain `EXISTS` on the session's primary key.
const SELECT_ONE_WITH_ONE_SESSION: &str = concat!(
    "SELECT ",
    crate::user_columns!(),
    ", EXISTS(SELECT 1 FROM refresh_families f \
       WHERE f.id = $2 AND f.user_id = users.id AND f.revoked_at IS NULL) AS session_live \
     FROM users WHERE id = $1"
);

/// A row of [`SELECT_ONE_WITH_ONE_SESSION`].
#[derive(sqlx::FromRow)]
pub struct OneSessionRow<Time> {
    #[sqlx(flatten)]
    user: UserRow<Time>,
    session_live: bool,
}

/// The answer to a batch of one id with no session or one session, the commonest batches, by plain primary-key
/// statements that are the same in both dialects (cheaper to plan than a list of one); `None` for any other batch,
/// which the dialect's [`BatchStatement`] answers.
async fn select_one<DB, Time>(
    connection: &mut DB::Connection,
    ids: &[i64],
    sessions: &[CallerSession],
) -> Option<Result<Vec<RowWithSessions<UserRow<Time>>>, Failed>>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'r> UserRow<Time>: FromRow<'r, DB::Row> + Send + Unpin,
    for<'r> OneSessionRow<Time>: FromRow<'r, DB::Row> + Send + Unpin,
    DB::Arguments: IntoArguments<DB>,
{
    let rows = match (ids, sessions) {
        ([id], []) => {
            let rows = sqlx::query_as(SELECT_ONE).bind(*id).fetch_all(connection).await.step("read a user by id");
            rows.map(|rows: Vec<UserRow<Time>>| rows.into_iter().map(|row| (row, Vec::new())).collect())
        }
        ([id], [session]) => {
            let rows = sqlx::query_as(SELECT_ONE_WITH_ONE_SESSION)
                .bind(*id)
                .bind(session.session_id.clone())
                .fetch_all(connection)
                .await
                .step("read a user by id with its session");
            let live = |session_live: bool| if session_live { vec![session.session_id.clone()] } else { Vec::new() };
            rows.map(|rows: Vec<OneSessionRow<Time>>| {
                rows.into_iter().map(|row| (row.user, live(row.session_live))).collect()
            })
        }
        _ => return None,
    };
    Some(rows)
}

/// The statement that answers a batch: the rows of these ids (sorted, distinct) that exist, in any order, each
/// caller's with those of the callers' `sessions` (sorted, distinct; often none) that are its user's and not
/// revoked. The callers are the users the sessions name, and their ids are among `ids`. The other rows need no
/// session check, and the statement skips it for them: at a batch's size, checking every row was about a quarter
/// of the database's work. Batches of one id with at most one session never reach it: [`select_one`] answers
/// them.
#[async_trait]
pub trait BatchStatement: Send + Sync + 'static {
    type Database: Database;
    type Row: Clone + Send + 'static;

    async fn select(
        &self,
        connection: &mut <Self::Database as Database>::Connection,
        ids: &[i64],
        sessions: &[CallerSession],
    ) -> Result<Vec<RowWithSessions<Self::Row>>, Failed>;

    /// The id a row answers for.
    fn id_of(row: &Self::Row) -> i64;
}

pub struct ReadBatches<S: BatchStatement> {
    statement: S,
    state: Mutex<Queue<S::Row>>,
    /// Batches in flight at most: while they all are, new reads queue behind one waiting read, so batches grow.
    in_flight: Semaphore,
}

struct Queue<Row> {
    reads: Vec<QueuedRead<Row>>,
    /// A read is waiting for a connection and will take every queued read along.
    server_waiting: bool,
}

struct QueuedRead<Row> {
    ids: Vec<i64>,
    session: Option<CallerSession>,
    reply: oneshot::Sender<Result<Vec<Row>, BatchFailed>>,
}

/// A read's rows of a batch's answer: its ids, the caller's only while its session is live.
fn own_rows<S: BatchStatement>(
    ids: &[i64],
    session: Option<&CallerSession>,
    answer: &[RowWithSessions<S::Row>],
) -> Vec<S::Row> {
    answer
        .iter()
        .filter(|(row, _)| ids.contains(&S::id_of(row)))
        .filter(|(row, live)| match session {
            Some(session) if session.user_id == S::id_of(row) => live.contains(&session.session_id),
            _ => true,
        })
        .map(|(row, _)| row.clone())
        .collect()
}

/// What every read of a batch learns when the statement serving them failed.
#[derive(Debug, thiserror::Error)]
#[error("the shared read failed: {message}")]
struct BatchFailed {
    unavailable: bool,
    message: String,
}

impl From<BatchFailed> for RepositoryError {
    fn from(failed: BatchFailed) -> Self {
        if failed.unavailable {
            RepositoryError::Unavailable(failed.into())
        } else {
            RepositoryError::Unexpected(failed.into())
        }
    }
}

impl<S, Time> ReadBatches<S>
where
    S: BatchStatement<Row = UserRow<Time>>,
    Time: Clone + Send + 'static,
    for<'c> &'c mut <S::Database as Database>::Connection: Executor<'c, Database = S::Database>,
    for<'t> i64: Encode<'t, S::Database> + Type<S::Database>,
    for<'t> String: Encode<'t, S::Database> + Type<S::Database>,
    for<'r> UserRow<Time>: FromRow<'r, <S::Database as Database>::Row> + Send + Unpin,
    for<'r> OneSessionRow<Time>: FromRow<'r, <S::Database as Database>::Row> + Send + Unpin,
    <S::Database as Database>::Arguments: IntoArguments<S::Database>,
{
    /// At most `in_flight` statements at once (at least one).
    fn new(statement: S, in_flight: usize) -> Self {
        Self {
            statement,
            state: Mutex::new(Queue { reads: Vec::new(), server_waiting: false }),
            in_flight: Semaphore::new(in_flight.clamp(1, Semaphore::MAX_PERMITS)),
        }
    }

    /// One statement in flight per core of this process, and no more than the pool's `pool_size` connections. More
    /// at once would split the same reads into smaller batches: more statements for the database to run, and no
    /// faster answers, since the service cannot take in more than its cores' worth of answers at a time. Reads
    /// that arrive meanwhile queue, so under load the batches grow instead.
    pub fn per_core(statement: S, pool_size: u32) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self::new(statement, cores.min(usize::try_from(pool_size).unwrap_or(usize::MAX)))
    }

    /// The rows with these ids, in no particular order; an id without a row has none, and neither has the
    /// caller's id when `session` is not a live session of the caller's.
    pub async fn read(
        &self,
        connections: &Connections<S::Database>,
        ids: &[i64],
        session: Option<&CallerSession>,
    ) -> Result<Vec<S::Row>, RepositoryError> {
        let (reply, answer) = oneshot::channel();
        let serve = {
            let mut queue = self.lock();
            queue.reads.push(QueuedRead { ids: ids.to_vec(), session: session.cloned(), reply });
            !std::mem::replace(&mut queue.server_waiting, true)
        };
        if serve {
            self.serve(connections).await;
        }
        match answer.await {
            Ok(rows) => Ok(rows?),
            // The read serving this one was cancelled (its client went away): read alone.
            Err(_) => {
                let sessions: Vec<CallerSession> = session.into_iter().cloned().collect();
                let answer = connections.run(async |c| self.select(c, ids, &sessions).await).await;
                Ok(own_rows::<S>(ids, session, &answer.map_err(storage_error)?))
            }
        }
    }

    /// Waits for a connection, then answers every queued read with one statement on it.
    async fn serve(&self, connections: &Connections<S::Database>) {
        let mut waiting = WaitingServer { batches: self, waiting: true };
        // Before and after the wait, let the requests that are ready on this worker queue their reads first: the
        // batch grows for the price of two turns of the scheduler (nothing, when the service is idle).
        tokio::task::yield_now().await;
        // Never closed: only an error if it were.
        let _turn = self.in_flight.acquire().await;
        let mut batch = Vec::new();
        let rows = connections
            .run(async |c| {
                tokio::task::yield_now().await;
                batch = waiting.take_queue();
                let mut ids: Vec<i64> = batch.iter().flat_map(|read| read.ids.iter().copied()).collect();
                ids.sort_unstable();
                ids.dedup();
                let mut sessions: Vec<CallerSession> = batch.iter().filter_map(|read| read.session.clone()).collect();
                sessions.sort_unstable();
                sessions.dedup();
                self.select(c, &ids, &sessions).await
            })
            .await;
        if waiting.waiting {
            // No connection came: the reads queued meanwhile share the error.
            batch = waiting.take_queue();
        }
        match rows {
            Ok(rows) => {
                for read in batch {
                    let own = own_rows::<S>(&read.ids, read.session.as_ref(), &rows);
                    // A read whose client went away has no receiver left: nothing to do.
                    let _ = read.reply.send(Ok(own));
                }
            }
            Err(error) => {
                let (unavailable, message) = match storage_error(error) {
                    RepositoryError::Unavailable(cause) => (true, format!("{cause:#}")),
                    RepositoryError::Unexpected(cause) => (false, format!("{cause:#}")),
                };
                for read in batch {
                    let _ = read.reply.send(Err(BatchFailed { unavailable, message: message.clone() }));
                }
            }
        }
    }

    /// A batch's answer: [`select_one`]'s for one id with at most one session, else the dialect's statement's.
    async fn select(
        &self,
        connection: &mut <S::Database as Database>::Connection,
        ids: &[i64],
        sessions: &[CallerSession],
    ) -> Result<Vec<RowWithSessions<S::Row>>, Failed> {
        match select_one::<S::Database, Time>(connection, ids, sessions).await {
            Some(answer) => answer,
            None => self.statement.select(connection, ids, sessions).await,
        }
    }
}

impl<S: BatchStatement> ReadBatches<S> {
    fn lock(&self) -> MutexGuard<'_, Queue<S::Row>> {
        // The queue is changed in single calls: a panic elsewhere cannot leave it half-changed.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The read waiting for a connection on the queue's behalf. Dropped before it took the queue (its request was
/// cancelled), it lets the next read take its place and releases the queued ones, which then read alone.
struct WaitingServer<'a, S: BatchStatement> {
    batches: &'a ReadBatches<S>,
    waiting: bool,
}

impl<S: BatchStatement> WaitingServer<'_, S> {
    fn take_queue(&mut self) -> Vec<QueuedRead<S::Row>> {
        self.waiting = false;
        let mut queue = self.batches.lock();
        queue.server_waiting = false;
        std::mem::take(&mut queue.reads)
    }
}

impl<S: BatchStatement> Drop for WaitingServer<'_, S> {
    fn drop(&mut self) {
        if self.waiting {
            let mut queue = self.batches.lock();
            queue.server_waiting = false;
            queue.reads.clear();
        }
    }
}
