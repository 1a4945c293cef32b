//! The `/auth` routes of docs/api.md §3. They ignore the `Authorization` header.

use crate::client_limits::{client_info, WithinLoginLimit};
use crate::dto::{LoginBody, RefreshBody, TokenResponse};
use crate::extract::JsonBody;
use crate::hashing_queue::{HashClass, HashingClient};
use crate::metrics::{LoginOutcome, Metrics, SessionEnd};
use crate::problem::ApiError;
use actix_web::HttpRequest;
use paperclip::actix::web::{Data, Json};
use paperclip::actix::{api_v2_operation, NoContent};
use users_domain::auth::{AuthError, AuthService};

/// Log in
///
/// With `username` or `email` (not both) and the password. Wrong password and unknown user answer alike (401).
/// After 5 failures for one name within 15 minutes: 429 for 15 minutes from the 5th. The right password for a
/// disabled account: 403 `/problems/account-disabled`.
#[api_v2_operation(tags(Auth), operation_id = "login")]
pub async fn login(
    req: HttpRequest,
    _counted: WithinLoginLimit,
    auth: Data<AuthService>,
    metrics: Data<Metrics>,
    hashing: HashingClient,
    body: JsonBody<LoginBody>,
) -> Result<Json<TokenResponse>, ApiError> {
    let (name, password) = body.0.credentials()?;
    let _turn = hashing.turn(HashClass::Login).await?;
    let outcome = auth.login(&name, &password, client_info(&req)).await;
    match &outcome {
        Ok(_) => metrics.login(LoginOutcome::Succeeded),
        Err(AuthError::InvalidCredentials) => metrics.login(LoginOutcome::Failed),
        Err(AuthError::Locked { .. }) => metrics.login(LoginOutcome::LockedOut),
        Err(AuthError::AccountDisabled) => metrics.login(LoginOutcome::Disabled),
        Err(AuthError::EmailNotVerified) => metrics.login(LoginOutcome::EmailNotVerified),
        Err(_) => {}
    }
    Ok(Json(outcome?.into()))
}

/// Refresh
///
/// Spends the refresh token and returns a new pair. A spent token revokes its whole family, except within the
/// refresh grace: the token just spent, presented again, gets the same new refresh token.
#[api_v2_operation(tags(Auth), operation_id = "refresh")]
pub async fn refresh(
    req: HttpRequest,
    auth: Data<AuthService>,
    metrics: Data<Metrics>,
    body: JsonBody<RefreshBody>,
) -> Result<Json<TokenResponse>, ApiError> {
    let refreshed = auth.refresh(body.0.refresh_token.expose(), client_info(&req)).await;
    if let Err(AuthError::RefreshTokenReused) = refreshed {
        metrics.refresh_token_reused();
    }
    Ok(Json(refreshed?.into()))
}

/// Log out
///
/// Revokes the refresh token's family, its session: the session's access tokens stop working at once. Idempotent:
/// an unknown, spent or revoked token is 204 too.
#[api_v2_operation(tags(Auth), operation_id = "logout")]
pub async fn logout(
    auth: Data<AuthService>,
    metrics: Data<Metrics>,
    body: JsonBody<RefreshBody>,
) -> Result<NoContent, ApiError> {
    if auth.logout(body.0.refresh_token.expose()).await? {
        metrics.sessions_revoked(SessionEnd::Logout, 1);
    }
    Ok(NoContent)
}
