//! The session routes of docs/api.md §6: a user's live sessions, and revoking one or all of them.

use crate::authentication::Authenticated;
use crate::dto::{ExceptDto, RevokeSessionsParams, SessionResponse};
use crate::extract::{QueryParams, SessionPath, UserIdParam};
use crate::metrics::{Metrics, SessionEnd};
use crate::problem::ApiError;
use paperclip::actix::web::{Data, Json};
use paperclip::actix::{api_v2_operation, NoContent};
use users_domain::{KeepSessions, UserService};

/// List a user's sessions
///
/// The user themself, or an admin. The live sessions (not revoked, not expired), newest first; `current` marks
/// the calling token's.
#[api_v2_operation(tags(Sessions), operation_id = "listSessions")]
pub async fn list_sessions(
    caller: Authenticated,
    users: Data<UserService>,
    id: Result<UserIdParam, ApiError>,
) -> Result<Json<Vec<SessionResponse>>, ApiError> {
    let caller = caller.0;
    let sessions = users.sessions(&caller, id?.0).await?;
    let current = caller.session_id.as_ref();
    Ok(Json(sessions.into_iter().map(|session| SessionResponse::new(session, current)).collect()))
}

/// Revoke a session
///
/// The user themself, or an admin. Its refresh token and access tokens stop working at once. 404 when it is not a
/// live session of that user.
#[api_v2_operation(tags(Sessions), operation_id = "revokeSession")]
pub async fn revoke_session(
    caller: Authenticated,
    users: Data<UserService>,
    metrics: Data<Metrics>,
    path: Result<SessionPath, ApiError>,
) -> Result<NoContent, ApiError> {
    let path = path?;
    users.revoke_session(&caller.0, path.user_id, &path.session_id).await?;
    metrics.sessions_revoked(SessionEnd::Deleted, 1);
    Ok(NoContent)
}

/// Revoke a user's sessions
///
/// The user themself, or an admin. Every live session, the caller's own included unless `?except=current`.
#[api_v2_operation(tags(Sessions), operation_id = "revokeSessions")]
pub async fn revoke_sessions(
    caller: Authenticated,
    users: Data<UserService>,
    metrics: Data<Metrics>,
    id: Result<UserIdParam, ApiError>,
    params: Result<QueryParams<RevokeSessionsParams>, ApiError>,
) -> Result<NoContent, ApiError> {
    let id = id?.0;
    let keep = match params?.0.except {
        Some(ExceptDto::Current) => KeepSessions::Current,
        None => KeepSessions::None,
    };
    let revoked = users.revoke_sessions(&caller.0, id, keep).await?;
    metrics.sessions_revoked(SessionEnd::Deleted, revoked);
    Ok(NoContent)
}
