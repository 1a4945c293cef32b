//! Who is calling: the `Authorization: Bearer …` header (scheme name in any case), checked by the domain against
//! the stored user. No header → anonymous; a header that is not a usable bearer token → 401 on every route.

use crate::problem::ApiError;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use paperclip::actix::OperationModifier;
use paperclip::v2::schema::Apiv2Schema as ApiSchema;
use users_domain::auth::{AuthService, Caller};
use users_domain::ports::AccessClaims;

/// A verified access token whose user is not loaded yet (the handler loads it with what it reads, in one round
/// trip); anonymous requests get 401.
pub struct VerifiedToken(pub AccessClaims);

impl FromRequest for VerifiedToken {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let verified = bearer_token(req).and_then(|token| {
            let token =
                token.ok_or(ApiError::Unauthorized { detail: "an access token is required", token_sent: false })?;
            let auth = req.app_data::<web::Data<AuthService>>().ok_or(ApiError::Internal)?;
            let claims = auth.verify(&token)?;
            tracing::Span::current().record("user.id", claims.user_id.get());
            Ok(Self(claims))
        });
        std::future::ready(verified)
    }
}

/// A signed-in caller; anonymous requests get 401.
pub struct Authenticated(pub Caller);

/// A signed-in caller or nobody; a bad token is still 401.
pub struct MaybeAuthenticated(pub Option<Caller>);

fn refused() -> ApiError {
    ApiError::Unauthorized { detail: "invalid access token", token_sent: true }
}

/// The bearer token, `None` without an Authorization header, 401 for any other scheme or shape. Two
/// Authorization headers are 400 before anything else (docs/api.md §4): which one counts would be a guess, and a
/// proxy and the service guessing differently is how one client's credentials get mixed with another's.
fn bearer_token(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let mut values = req.headers().get_all(header::AUTHORIZATION);
    let Some(value) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err(ApiError::invalid("Authorization", "send one Authorization header, not several"));
    }
    let value = value.to_str().map_err(|_| refused())?;
    match value.trim().split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
            Ok(Some(token.trim().to_owned()))
        }
        _ => Err(refused()),
    }
}

async fn authenticate(auth: Option<web::Data<AuthService>>, token: Option<String>) -> Result<Option<Caller>, ApiError> {
    let (Some(auth), Some(token)) = (auth, token) else { return Ok(None) };
    let caller = auth.authenticate(&token).await?;
    tracing::Span::current().record("user.id", caller.id().get());
    Ok(Some(caller))
}

impl FromRequest for MaybeAuthenticated {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = bearer_token(req);
        let auth = req.app_data::<web::Data<AuthService>>().cloned();
        Box::pin(async move { Ok(Self(authenticate(auth, token?).await?)) })
    }
}

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let caller = MaybeAuthenticated::from_request(req, payload);
        Box::pin(async move {
            match caller.await?.0 {
                Some(caller) => Ok(Self(caller)),
                None => Err(ApiError::Unauthorized { detail: "an access token is required", token_sent: false }),
            }
        })
    }
}

// Documented by the OpenAPI patch (the bearer scheme on protected operations), not by paperclip.
impl ApiSchema for VerifiedToken {}
impl OperationModifier for VerifiedToken {}
impl ApiSchema for Authenticated {}
impl OperationModifier for Authenticated {}
impl ApiSchema for MaybeAuthenticated {}
impl OperationModifier for MaybeAuthenticated {}
