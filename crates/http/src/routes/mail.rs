//! The mail routes of docs/api.md §7: password reset and email verification. With mail off (transport `none`)
//! each answers 404. The anonymous requests answer 202 at once, whether the address is a user's or not: the
//! lookup and the queueing run after the answer, so neither the answer nor its time tells anything.

use crate::metrics::Metrics;
use crate::problem::{ApiError, FieldError};
use crate::request_id::within_this_request;
use crate::secret_field::SecretField;
use actix_web::body::BoxBody;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, Responder};
use paperclip::actix::web::Data;
use paperclip::actix::{api_v2_operation, Apiv2Schema, NoContent, OperationModifier};
use paperclip::v2::models::{DefaultOperationRaw, Either, Response};
use serde::Deserialize;
use users_domain::mail_flows::MailFlows;
use users_domain::{Email, Password};

use crate::client_limits::ClientLimits;
use crate::dto::CreateUserBody;
use crate::extract::JsonBody;

/// The mail use cases, or `None` when mail is off.
#[derive(Clone, Default)]
pub struct MailRoutes(pub Option<MailFlows>);

impl MailRoutes {
    fn flows(&self) -> Result<&MailFlows, ApiError> {
        self.0.as_ref().ok_or(ApiError::RouteNotFound)
    }

    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// Whether this create is an invite: an admin's, without a password, with mail on.
    pub fn invites(&self, caller: Option<&users_domain::auth::Caller>, body: &CreateUserBody) -> bool {
        self.is_on() && body.password.is_none() && caller.is_some_and(users_domain::auth::Caller::is_admin)
    }

    /// A password nobody knows, for an invited user.
    pub fn unknown_password(&self) -> Result<SecretField, ApiError> {
        let password = self.flows()?.unknown_password()?;
        Ok(SecretField::new(password.expose()))
    }

    /// With mail on, an invited user gets the invite, and another new user whose email is not verified a
    /// verification mail. The user is created whatever becomes of the mail: a failure to queue it is logged.
    pub async fn user_created(&self, user: &users_domain::User, invited: bool) {
        let Some(flows) = &self.0 else { return };
        let queued = if invited {
            flows.send_invite(user).await
        } else if !user.email_verified {
            flows.send_verification(user).await
        } else {
            Ok(())
        };
        if let Err(error) = queued {
            tracing::warn!(user.id = user.id.get(), error = %error, "could not queue the mail of a new user");
        }
    }

    /// With mail on, an email change is told to the old address, and the new one, unless set verified, gets a
    /// verification mail.
    pub async fn email_changed(&self, user: &users_domain::User, old_address: Email) {
        let Some(flows) = &self.0 else { return };
        let mut queued = flows.send_email_changed(user, old_address).await;
        if queued.is_ok() && !user.email_verified {
            queued = flows.send_verification(user).await;
        }
        if let Err(error) = queued {
            tracing::warn!(user.id = user.id.get(), error = %error, "could not queue the mails of an email change");
        }
    }
}

/// 202 without a body: the request is taken; what follows is not told.
pub struct Accepted;

impl Responder for Accepted {
    type Body = BoxBody;

    fn respond_to(self, _: &HttpRequest) -> HttpResponse {
        HttpResponse::build(StatusCode::ACCEPTED).finish()
    }
}

impl paperclip::v2::schema::Apiv2Schema for Accepted {}

impl OperationModifier for Accepted {
    fn update_response(op: &mut DefaultOperationRaw) {
        let description = Some("Accepted: a mail follows if the address is a user's (nothing tells whether)".into());
        op.responses.insert("202".into(), Either::Right(Response { description, ..Default::default() }));
    }
}

/// `POST /auth/password-reset` and `POST /auth/verify-email/resend`.
#[derive(Debug, Deserialize, Apiv2Schema)]
#[serde(deny_unknown_fields)]
#[openapi(rename = "MailRequest")]
pub struct EmailBody {
    /// The account's email address.
    pub email: Option<String>,
}

impl EmailBody {
    fn email(self) -> Result<Email, ApiError> {
        let email = self.email.ok_or_else(|| ApiError::invalid("email", "is required"))?;
        Email::parse(email).map_err(|e| ApiError::invalid("email", e.to_string()))
    }
}

/// `POST /auth/password-reset/confirm`.
#[derive(Debug, Deserialize, Apiv2Schema)]
#[serde(deny_unknown_fields)]
#[openapi(rename = "PasswordResetConfirmation")]
pub struct ResetConfirmBody {
    /// The token of a reset or invite mail.
    pub token: Option<SecretField>,
    /// The new password (the password rules and policy apply).
    pub password: Option<SecretField>,
}

/// `POST /auth/verify-email`.
#[derive(Debug, Deserialize, Apiv2Schema)]
#[serde(deny_unknown_fields)]
#[openapi(rename = "EmailVerification")]
pub struct TokenBody {
    /// The token of a verification mail.
    pub token: Option<SecretField>,
}

fn required_token(token: Option<SecretField>, errors: &mut Vec<FieldError>) -> Option<SecretField> {
    if token.is_none() {
        errors.push(FieldError::new("token", "is required"));
    }
    token
}

/// Runs the lookup and queueing after the answer; its failure is logged, never the client's.
/// A "mail me" request (reset, resend): 404 with mail off, then the address's shape, then the per-IP limit (as at
/// login, docs/api.md §4); 202 at once, the lookup and the queueing after the answer.
fn accept_mail_request<F, Fut>(
    req: &HttpRequest,
    mail: &MailRoutes,
    limits: &ClientLimits,
    metrics: Data<Metrics>,
    body: Result<JsonBody<EmailBody>, ApiError>,
    request: F,
) -> Result<Accepted, ApiError>
where
    F: FnOnce(MailFlows, Email) -> Fut,
    Fut: std::future::Future<Output = Result<bool, users_domain::mail_flows::MailFlowError>> + 'static,
{
    let flows = mail.flows()?.clone();
    let email = body?.0.email()?;
    limits.check_mail_request(req)?;
    queue_later(metrics, request(flows, email));
    Ok(Accepted)
}

fn queue_later<F>(metrics: Data<Metrics>, request: F)
where
    F: std::future::Future<Output = Result<bool, users_domain::mail_flows::MailFlowError>> + 'static,
{
    actix_web::rt::spawn(within_this_request(async move {
        match request.await {
            Ok(true) => metrics.mail_queued(),
            Ok(false) => {}
            Err(error) => tracing::warn!(error = %error, "mail request failed"),
        }
    }));
}

/// Request a password reset
///
/// 202 whether or not the address is a user's: when it is, a mail with a single-use link follows (at most 3
/// mails per address per hour). Limited per client IP like login. 404 when mail is off.
#[api_v2_operation(tags(Auth), operation_id = "requestPasswordReset")]
pub async fn request_password_reset(
    req: HttpRequest,
    mail: Data<MailRoutes>,
    limits: Data<ClientLimits>,
    metrics: Data<Metrics>,
    body: Result<JsonBody<EmailBody>, ApiError>,
) -> Result<Accepted, ApiError> {
    accept_mail_request(&req, &mail, &limits, metrics, body, |flows, email| async move {
        flows.request_password_reset(email.as_str()).await
    })
}

/// Set a new password with a reset or invite token
///
/// 204: the password is set, every session of the user ends, the lockout is cleared and the email counts as
/// verified. A token that is unknown, used, expired or of another kind: 400 `/problems/invalid-token`.
#[api_v2_operation(tags(Auth), operation_id = "confirmPasswordReset")]
pub async fn confirm_password_reset(
    mail: Data<MailRoutes>,
    hashing: crate::hashing_queue::HashingClient,
    body: Result<JsonBody<ResetConfirmBody>, ApiError>,
) -> Result<NoContent, ApiError> {
    let flows = mail.flows()?;
    let body = body?;
    let mut errors = Vec::new();
    let token = required_token(body.0.token, &mut errors);
    let password = match body.0.password {
        None => {
            errors.push(FieldError::new("password", "is required"));
            None
        }
        Some(password) => match Password::parse(password.into_exposed()) {
            Ok(password) => Some(password),
            Err(e) => {
                errors.push(FieldError::new("password", e.to_string()));
                None
            }
        },
    };
    let (Some(token), Some(password), true) = (token, password, errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    // The new password's hash waits its turn in the fair queue, as every hash a client causes (docs/api.md §4).
    let _turn = hashing.turn(crate::hashing_queue::HashClass::Other).await?;
    flows.confirm_password_reset(token.expose(), &password).await?;
    Ok(NoContent)
}

/// Verify an email address
///
/// 204: the address the token was sent to is verified, if the user still has it; otherwise, or for a token that
/// is unknown, used, expired or of another kind: 400 `/problems/invalid-token`.
#[api_v2_operation(tags(Auth), operation_id = "verifyEmail")]
pub async fn verify_email(
    mail: Data<MailRoutes>,
    body: Result<JsonBody<TokenBody>, ApiError>,
) -> Result<NoContent, ApiError> {
    let flows = mail.flows()?;
    let body = body?;
    let mut errors = Vec::new();
    let Some(token) = required_token(body.0.token, &mut errors) else {
        return Err(ApiError::Validation(errors));
    };
    flows.verify_email(token.expose()).await?;
    Ok(NoContent)
}

/// Send a new verification mail
///
/// 202 whether or not the address is an unverified user's: when it is, a verification mail follows (at most 3
/// mails per address per hour). Limited per client IP like login. 404 when mail is off.
#[api_v2_operation(tags(Auth), operation_id = "resendVerification")]
pub async fn resend_verification(
    req: HttpRequest,
    mail: Data<MailRoutes>,
    limits: Data<ClientLimits>,
    metrics: Data<Metrics>,
    body: Result<JsonBody<EmailBody>, ApiError>,
) -> Result<Accepted, ApiError> {
    accept_mail_request(&req, &mail, &limits, metrics, body, |flows, email| async move {
        flows.resend_verification(email.as_str()).await
    })
}

/// Send a verification mail to a user's address
///
/// The user themself or an admin: 202, and a verification mail to the user's address follows (at most 3 mails per
/// address per hour; none once the address is verified). 404 when mail is off.
#[api_v2_operation(tags(Users), operation_id = "sendEmailVerification")]
pub async fn send_email_verification(
    caller: Result<crate::authentication::Authenticated, ApiError>,
    users: Data<users_domain::UserService>,
    mail: Data<MailRoutes>,
    metrics: Data<Metrics>,
    id: Result<crate::extract::UserIdParam, ApiError>,
) -> Result<Accepted, ApiError> {
    // With mail off the route is not there: 404 before the token and the id are looked at (docs/api.md §4 order).
    let flows = mail.flows()?.clone();
    let user = users.get(&caller?.0, id?.0).await?;
    queue_later(metrics, async move { flows.resend_verification(user.email.as_str()).await });
    Ok(Accepted)
}
