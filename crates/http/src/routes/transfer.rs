//! `POST /users/import` and `GET /users/export` (docs/api.md §9): NDJSON in and out, streamed. An import reads its
//! body line by line, stores the lines in batches, and writes each batch's results once it has committed; an
//! export writes users as storage hands them out in keyset pages. Neither holds the whole file.

use crate::authentication::Authenticated;
use crate::dto::{ExportLine, ExportParams, ImportLineBody, ImportResultLine, ImportStatus};
use crate::extract::{field_error, BodyTimeout, QueryParams};
use crate::hashing_queue::{HashClass, HashingClient};
use crate::problem::{ApiError, FieldError};
use crate::request_id::stream_within_this_request;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::web::{Bytes, BytesMut};
use actix_web::{FromRequest, HttpRequest, HttpResponse, Responder};
use futures_util::StreamExt;
use paperclip::actix::web::Data;
use paperclip::actix::{api_v2_operation, OperationModifier};
use paperclip::v2::schema::Apiv2Schema as ApiSchema;
use std::time::Duration;
use users_domain::transfer::{Export, Import, ImportLineError, TransferError, TransferService};

/// docs/api.md §9: an import's body is at most 10 MiB.
pub const MAX_IMPORT_BYTES: usize = 10 * 1024 * 1024;
/// Lines stored per transaction: one multi-row insert of this many users (14 values each: 7,000 bound parameters,
/// within both databases' limits).
const IMPORT_BATCH: usize = 500;
pub const NDJSON: &str = "application/x-ndjson";

/// An import's body: `application/x-ndjson` only (415 otherwise), at most 10 MiB when it says its length (413);
/// read as it arrives.
pub struct NdjsonBody {
    payload: Payload,
    idle_limit: Duration,
}

fn is_ndjson(req: &HttpRequest) -> bool {
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    content_type.split(';').next().unwrap_or_default().trim().eq_ignore_ascii_case(NDJSON)
}

impl FromRequest for NdjsonBody {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let declared_length = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let idle_limit = req.app_data::<actix_web::web::Data<BodyTimeout>>().map(|t| t.get_ref().0);
        std::future::ready(match idle_limit {
            None => Err(ApiError::Internal),
            Some(_) if !is_ndjson(req) => Err(ApiError::NotNdjson),
            Some(_) if declared_length.is_some_and(|n| n > MAX_IMPORT_BYTES) => Err(ApiError::ImportTooLarge),
            Some(idle_limit) => Ok(Self { payload: payload.take(), idle_limit }),
        })
    }
}

impl ApiSchema for NdjsonBody {}
impl OperationModifier for NdjsonBody {}

/// A 200 whose NDJSON body is written as it is produced. A stream that fails midway is broken off (no clean end
/// of the chunked body), so a client never takes a partial answer for a whole one.
pub struct NdjsonStream(HttpResponse);

impl Responder for NdjsonStream {
    type Body = actix_web::body::BoxBody;

    fn respond_to(self, _: &HttpRequest) -> HttpResponse {
        self.0
    }
}

impl ApiSchema for NdjsonStream {}
impl OperationModifier for NdjsonStream {}

fn ndjson_response<S>(stream: S) -> NdjsonStream
where
    S: futures_util::Stream<Item = Result<Bytes, actix_web::Error>> + 'static,
{
    NdjsonStream(HttpResponse::Ok().content_type(NDJSON).streaming(stream_within_this_request(stream)))
}

/// Why a stream is broken off; the client sees only the cut.
fn broken_off(why: &'static str) -> actix_web::Error {
    actix_web::error::ErrorInternalServerError(why)
}

impl From<TransferError> for ApiError {
    fn from(e: TransferError) -> Self {
        match e {
            TransferError::Forbidden(detail) => Self::Forbidden(detail),
        }
    }
}

/// Import users
///
/// Admins only. `application/x-ndjson`, one user per line (at most 10 MiB): the fields of a user, with either
/// `password` or `password_hash` (bcrypt, argon2id or PBKDF2-SHA256; `null` for no usable password). The answer
/// is NDJSON too, one result per line in order, each written once its batch is committed.
#[api_v2_operation(tags(Users), operation_id = "importUsers")]
pub async fn import_users(
    caller: Authenticated,
    transfer: Data<TransferService>,
    hashing: HashingClient,
    body: Result<NdjsonBody, ApiError>,
) -> Result<NdjsonStream, ApiError> {
    let body = body?;
    let import = transfer.start_import(&caller.0)?;
    let run = ImportRun {
        body,
        import,
        hashing,
        pending: BytesMut::new(),
        scanned: 0,
        received: 0,
        next_line: 1,
        body_ended: false,
        storage_failed: false,
    };
    let stream = futures_util::stream::unfold(Some(run), |run| async move {
        let mut run = run?;
        match run.next_batch().await {
            Ok(Some(results)) => Some((Ok(results), Some(run))),
            Ok(None) => None,
            Err(why) => {
                tracing::warn!(reason = why, "import broken off");
                Some((Err(broken_off(why)), None))
            }
        }
    });
    Ok(ndjson_response(stream))
}

/// One import as it goes: the body not yet read, the partial line, and the line numbers.
struct ImportRun {
    body: NdjsonBody,
    import: Import,
    hashing: HashingClient,
    pending: BytesMut,
    /// How much of `pending` holds no newline (searched already).
    scanned: usize,
    received: usize,
    next_line: u64,
    body_ended: bool,
    /// Once storage fails, the rest of the file is not tried: each line is reported failed, not stored.
    storage_failed: bool,
}

/// A line read, with its number.
struct Line {
    number: u64,
    text: Bytes,
}

impl ImportRun {
    /// The next line of the body, or `None` at its end. Blank lines carry no user and get no result.
    async fn next_line(&mut self) -> Result<Option<Line>, &'static str> {
        loop {
            // Only the bytes not searched yet: a long line arriving in many chunks is scanned once.
            let from = self.scanned;
            if let Some(end) = self.pending[from..].iter().position(|b| *b == b'\n').map(|at| from + at) {
                self.scanned = 0;
                let text = self.pending.split_to(end + 1).freeze();
                let number = self.next_line;
                self.next_line += 1;
                let text = text.slice(..end);
                if text.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return Ok(Some(Line { number, text }));
            }
            self.scanned = self.pending.len();
            if self.body_ended {
                if self.pending.iter().all(u8::is_ascii_whitespace) {
                    return Ok(None);
                }
                // The last line, without its newline.
                let text = std::mem::take(&mut self.pending).freeze();
                self.scanned = 0;
                let number = self.next_line;
                self.next_line += 1;
                return Ok(Some(Line { number, text }));
            }
            let chunk = tokio::time::timeout(self.body.idle_limit, self.body.payload.next())
                .await
                .map_err(|_| "the body stopped arriving")?;
            match chunk {
                None => self.body_ended = true,
                Some(Err(_)) => return Err("the body could not be read"),
                Some(Ok(chunk)) => {
                    self.received += chunk.len();
                    if self.received > MAX_IMPORT_BYTES {
                        return Err("the body is larger than 10 MiB");
                    }
                    self.pending.extend_from_slice(&chunk);
                }
            }
        }
    }

    /// Reads up to a batch of lines, stores what passes, and returns the batch's result lines; `None` at the end.
    async fn next_batch(&mut self) -> Result<Option<Bytes>, &'static str> {
        let mut results: Vec<ImportResultLine> = Vec::with_capacity(IMPORT_BATCH);
        let mut prepared = Vec::new();
        // Index into `results` of each prepared user.
        let mut waiting = Vec::new();
        while results.len() < IMPORT_BATCH {
            let Some(line) = self.next_line().await? else { break };
            let (source_id, outcome) = self.prepare(&line).await;
            let result = ImportResultLine {
                line: line.number,
                status: ImportStatus::Failed,
                id: None,
                source_id,
                errors: Vec::new(),
            };
            match outcome {
                Ok(user) => {
                    waiting.push(results.len());
                    prepared.push(user);
                    results.push(result);
                }
                Err(errors) => results.push(ImportResultLine { errors, ..result }),
            }
        }
        if results.is_empty() {
            return Ok(None);
        }
        if !prepared.is_empty() {
            match self.store(prepared).await {
                Ok(outcomes) => {
                    for (index, outcome) in waiting.into_iter().zip(outcomes) {
                        match outcome {
                            Ok(id) => {
                                results[index].status = ImportStatus::Created;
                                results[index].id = Some(id.get());
                            }
                            Err(e) => results[index].errors = vec![line_error(&e)],
                        }
                    }
                }
                Err(()) => {
                    for index in waiting {
                        results[index].errors = vec![line_error(&ImportLineError::NotStored)];
                    }
                }
            }
        }
        let mut out = Vec::with_capacity(results.len() * 64);
        for result in &results {
            serde_json::to_writer(&mut out, result).map_err(|_| "a result could not be written")?;
            out.push(b'\n');
        }
        Ok(Some(Bytes::from(out)))
    }

    /// The line's `id` (as `source_id`) and the user it stores, or why it fails.
    async fn prepare(
        &mut self,
        line: &Line,
    ) -> (Option<serde_json::Value>, Result<users_domain::ports::ImportedUser, Vec<FieldError>>) {
        let json: serde_json::Value = match serde_json::from_slice(&line.text) {
            Ok(json) => json,
            Err(_) => return (None, Err(vec![FieldError::new("line", "malformed JSON")])),
        };
        if !json.is_object() {
            return (None, Err(vec![FieldError::new("line", "must be a JSON object")]));
        }
        let source_id = json.get("id").filter(|id| !id.is_null()).cloned();
        let body: ImportLineBody = match serde_path_to_error::deserialize(json) {
            Ok(body) => body,
            Err(e) => return (source_id, Err(vec![field_error(e, "line")])),
        };
        let candidate = match body.into_candidate() {
            Ok(candidate) => candidate,
            Err(errors) => return (source_id, Err(errors)),
        };
        if self.storage_failed {
            return (source_id, Err(vec![line_error(&ImportLineError::NotStored)]));
        }
        // A plain password is hashed like a sign-up's: in its turn of the shared queue, waiting when it is full.
        let _turn = if candidate.needs_hashing() {
            loop {
                match self.hashing.turn(HashClass::Other).await {
                    Ok(turn) => break turn,
                    Err(ApiError::HashingBusy { retry_after_secs }) => {
                        tokio::time::sleep(Duration::from_secs(retry_after_secs)).await;
                    }
                    Err(_) => return (source_id, Err(vec![line_error(&ImportLineError::NotHashed)])),
                }
            }
        } else {
            None
        };
        let prepared = self.import.prepare(line.number, candidate).await;
        (source_id, prepared.map_err(|e| vec![line_error(&e)]))
    }

    /// Stores a batch; `Err` (logged) when storage failed, after which the rest of the file is not tried.
    async fn store(
        &mut self,
        batch: Vec<users_domain::ports::ImportedUser>,
    ) -> Result<Vec<Result<users_domain::UserId, ImportLineError>>, ()> {
        if self.storage_failed {
            return Err(());
        }
        self.import.store(batch).await.map_err(|e| {
            tracing::error!(error = ?e, "an import batch could not be stored");
            self.storage_failed = true;
        })
    }
}

fn line_error(e: &ImportLineError) -> FieldError {
    FieldError::new(e.field(), e.to_string())
}

/// Export users
///
/// Admins only. Every user matching the filters, by id, as NDJSON (one user per line), streamed. Password hashes
/// only with `include_hashes=true`, which the service must allow (`APP__AUTH__EXPORT_HASHES`; else 403).
#[api_v2_operation(tags(Users), operation_id = "exportUsers")]
pub async fn export_users(
    caller: Authenticated,
    transfer: Data<TransferService>,
    params: Result<QueryParams<ExportParams>, ApiError>,
) -> Result<NdjsonStream, ApiError> {
    let params = params?.0;
    let export = transfer.export(&caller.0, params.filter(), params.include_hashes.unwrap_or(false))?;
    let stream = futures_util::stream::unfold(Some(export), |export| async move {
        let mut export: Export = export?;
        match export.next_batch().await {
            Ok(Some(users)) => {
                let include_hashes = export.include_hashes;
                let mut out = Vec::with_capacity(users.len() * 200);
                for user in users {
                    if serde_json::to_writer(&mut out, &ExportLine::new(user, include_hashes)).is_err() {
                        return Some((Err(broken_off("a user could not be written")), None));
                    }
                    out.push(b'\n');
                }
                Some((Ok(Bytes::from(out)), Some(export)))
            }
            Ok(None) => None,
            Err(e) => {
                tracing::error!(error = ?e, "export broken off");
                Some((Err(broken_off("storage failed during the export")), None))
            }
        }
    });
    Ok(ndjson_response(stream))
}
