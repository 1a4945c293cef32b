//! Primary-key reads that arrive together share one statement.
//!
//! A read joins a queue. If no read is waiting for a connection on the queue's behalf, it becomes that read: it
//! waits for a connection and then answers everything queued by then with one statement. The others only wait
//! for their answer. Alone, a read is one statement for itself; under load, one statement serves the requests
//! that arrived while the connections were busy, so PostgreSQL and the service make one round trip where they
//! made many. A read is queued before the statement that answers it starts, so it sees every write that finished
//! before it was asked. Connections still serve several statements at once: reads are not serialized.
//!
//! A read that loads a caller names the caller's session: the statement then also returns, for each user, which
//! of the batch's sessions are theirs and not revoked, and the caller's row is kept only while its own is one of
//! them. The session check costs no round trip of its own.

use sqlx::{PgConnection, Postgres};
use std::sync::{Mutex, MutexGuard, PoisonError};
use time::OffsetDateTime;
use tokio::sync::oneshot;
use users_domain::ports::RepositoryError;
use users_storage_sql::user_columns;
use users_storage_sql::{storage_error, CallerSession, Connections, Failed, StatementContext as _};

type UserRow = users_storage_sql::UserRow<OffsetDateTime>;

const SELECT_ONE: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1");
const SELECT_MANY: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE id = ANY($1)");
/// The users and, for each, those of the sessions `$2` that are theirs and not revoked.
const SELECT_WITH_SESSIONS: &str = concat!(
    "SELECT ",
    user_columns!(),
    ", ARRAY(SELECT f.id FROM refresh_families f \
             WHERE f.id = ANY($2) AND f.user_id = users.id AND f.revoked_at IS NULL) AS live_sessions \
     FROM users WHERE id = ANY($1)"
);

/// A user row and its live sessions among those asked.
#[derive(sqlx::FromRow)]
struct SessionUserRow {
    #[sqlx(flatten)]
    user: UserRow,
    live_sessions: Vec<String>,
}

/// A batch's answer: each user row with its live sessions among the batch's (none asked: none).
type Answer = Vec<(UserRow, Vec<String>)>;

#[derive(Default)]
pub(crate) struct ReadBatches {
    state: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    reads: Vec<QueuedRead>,
    /// A read is waiting for a connection and will take every queued read along.
    server_waiting: bool,
}

struct QueuedRead {
    ids: Vec<i64>,
    session: Option<CallerSession>,
    reply: oneshot::Sender<Result<Vec<UserRow>, BatchFailed>>,
}

impl QueuedRead {
    /// This read's rows of a batch's answer: its ids, the caller's only while its session is live.
    fn own_rows(&self, answer: &Answer) -> Vec<UserRow> {
        own_rows(&self.ids, self.session.as_ref(), answer)
    }
}

fn own_rows(ids: &[i64], session: Option<&CallerSession>, answer: &Answer) -> Vec<UserRow> {
    answer
        .iter()
        .filter(|(row, _)| ids.contains(&row.id))
        .filter(|(row, live)| match session {
            Some(session) if session.user_id == row.id => live.contains(&session.session_id),
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

impl ReadBatches {
    /// The rows with these ids, in no particular order; an id without a row has none.
    pub(crate) async fn read(
        &self,
        connections: &Connections<Postgres>,
        ids: &[i64],
        session: Option<&CallerSession>,
    ) -> Result<Vec<UserRow>, RepositoryError> {
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
                let sessions: Vec<String> = session.iter().map(|s| s.session_id.clone()).collect();
                let answer = connections.run(async |c| select(c, ids, &sessions).await).await;
                Ok(own_rows(ids, session, &answer.map_err(storage_error)?))
            }
        }
    }

    /// Waits for a connection, then answers every queued read with one statement on it.
    async fn serve(&self, connections: &Connections<Postgres>) {
        let mut waiting = WaitingServer { batches: self, waiting: true };
        // Before and after the wait, let the requests that are ready on this worker queue their reads first: the
        // batch grows for the price of two turns of the scheduler (nothing, when the service is idle).
        tokio::task::yield_now().await;
        let mut batch = Vec::new();
        let rows = connections
            .run(async |c| {
                tokio::task::yield_now().await;
                batch = waiting.take_queue();
                let mut ids: Vec<i64> = batch.iter().flat_map(|read| read.ids.iter().copied()).collect();
                ids.sort_unstable();
                ids.dedup();
                let mut sessions: Vec<String> =
                    batch.iter().filter_map(|read| read.session.as_ref().map(|s| s.session_id.clone())).collect();
                sessions.sort_unstable();
                sessions.dedup();
                select(c, &ids, &sessions).await
            })
            .await;
        if waiting.waiting {
            // No connection came: the reads queued meanwhile share the error.
            batch = waiting.take_queue();
        }
        match rows {
            Ok(rows) => {
                for read in batch {
                    let own = read.own_rows(&rows);
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

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // The queue is changed in single calls: a panic elsewhere cannot leave it half-changed.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The read waiting for a connection on the queue's behalf. Dropped before it took the queue (its request was
/// cancelled), it lets the next read take its place and releases the queued ones, which then read alone.
struct WaitingServer<'a> {
    batches: &'a ReadBatches,
    waiting: bool,
}

impl WaitingServer<'_> {
    fn take_queue(&mut self) -> Vec<QueuedRead> {
        self.waiting = false;
        let mut queue = self.batches.lock();
        queue.server_waiting = false;
        std::mem::take(&mut queue.reads)
    }
}

impl Drop for WaitingServer<'_> {
    fn drop(&mut self) {
        if self.waiting {
            let mut queue = self.batches.lock();
            queue.server_waiting = false;
            queue.reads.clear();
        }
    }
}

/// One id without sessions is the plain primary-key lookup (PostgreSQL spends less on it than on `ANY` of one
/// element); with sessions, each row also says which of them are live.
async fn select(connection: &mut PgConnection, ids: &[i64], sessions: &[String]) -> Result<Answer, Failed> {
    if !sessions.is_empty() {
        let rows: Vec<SessionUserRow> = sqlx::query_as(SELECT_WITH_SESSIONS)
            .bind(ids)
            .bind(sessions)
            .fetch_all(connection)
            .await
            .step("read users by id with their sessions")?;
        return Ok(rows.into_iter().map(|row| (row.user, row.live_sessions)).collect());
    }
    let rows: Vec<UserRow> = match ids {
        [id] => sqlx::query_as(SELECT_ONE).bind(id).fetch_all(connection).await,
        _ => sqlx::query_as(SELECT_MANY).bind(ids).fetch_all(connection).await,
    }
    .step("read users by id")?;
    Ok(rows.into_iter().map(|row| (row, Vec::new())).collect())
}
