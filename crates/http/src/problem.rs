//! Every error the service answers with, as RFC 9457 problem+json (docs/api.md §5). Only this module turns errors into
//! status codes; the causes of 5xx are logged here and never shown to the client.

use crate::request_id::current_request_id;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::ConnectionType;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use std::fmt;
use users_domain::auth::AuthError;
use users_domain::ports::RepositoryError;
use users_domain::UserServiceError;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// One invalid field or parameter, named as the client sent it (`"body"` for the body as a whole).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

#[derive(Debug)]
#[paperclip::actix::api_v2_errors(
    code = 400,
    description = "Invalid request: malformed JSON, a broken field rule, an unknown field or parameter",
    code = 401,
    description = "No valid access token",
    code = 403,
    description = "Not allowed; at login, the account is disabled",
    code = 404,
    description = "No such user",
    code = 409,
    description = "Username or email taken, or the last admin",
    code = 413,
    description = "Body over 64 KiB (an import's over 10 MiB)",
    code = 408,
    description = "The body stalled: nothing received for the body timeout",
    code = 415,
    description = "Body not JSON (an import's not NDJSON)",
    code = 429,
    description = "Too many attempts",
    code = 500,
    description = "Unexpected error",
    code = 503,
    description = "Storage unavailable, or password hashing busy"
)]
pub enum ApiError {
    Validation(Vec<FieldError>),
    /// No usable credentials. `token_sent`: a token came and was refused (`error="invalid_token"`).
    Unauthorized {
        detail: &'static str,
        token_sent: bool,
    },
    Forbidden(&'static str),
    /// The right password for a disabled account (docs/api.md §6).
    AccountDisabled,
    RateLimited {
        retry_after_secs: u64,
    },
    UserNotFound,
    SessionNotFound,
    RouteNotFound,
    Conflict {
        detail: &'static str,
        errors: Vec<FieldError>,
    },
    PayloadTooLarge,
    UnsupportedMediaType,
    /// An import's body over 10 MiB.
    ImportTooLarge,
    /// An import's body that is not NDJSON.
    NotNdjson,
    /// The body stalled for the body timeout; the connection is closed after the answer.
    RequestTimeout,
    Unavailable,
    /// Readiness after SIGTERM: the instance is going away (its storage may be fine).
    ShuttingDown,
    /// The hashing queue is full for this client (docs/api.md §5).
    HashingBusy {
        retry_after_secs: u64,
    },
    Internal,
    /// A reset, verification or invite token that is unknown, used, expired or of another kind (docs/api.md §7).
    InvalidMailToken,
    /// The right password for an unverified email while verified emails are required (docs/api.md §7).
    EmailNotVerified,
}

/// The problem types of docs/api.md §5, with their titles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemType {
    Validation,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    RequestTimeout,
    RateLimited,
    Unavailable,
    Internal,
    AccountDisabled,
    InvalidToken,
    EmailNotVerified,
}

impl ProblemType {
    pub fn uri(self) -> &'static str {
        match self {
            Self::Validation => "/problems/validation",
            Self::Unauthorized => "/problems/unauthorized",
            Self::Forbidden => "/problems/forbidden",
            Self::NotFound => "/problems/not-found",
            Self::MethodNotAllowed => "/problems/method-not-allowed",
            Self::Conflict => "/problems/conflict",
            Self::PayloadTooLarge => "/problems/payload-too-large",
            Self::UnsupportedMediaType => "/problems/unsupported-media-type",
            Self::RequestTimeout => "/problems/request-timeout",
            Self::RateLimited => "/problems/rate-limited",
            Self::Unavailable => "/problems/unavailable",
            Self::Internal => "/problems/internal",
            Self::AccountDisabled => "/problems/account-disabled",
            Self::InvalidToken => "/problems/invalid-token",
            Self::EmailNotVerified => "/problems/email-not-verified",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Self::Validation => "Validation failed",
            Self::Unauthorized => "Unauthorized",
            Self::Forbidden => "Forbidden",
            Self::NotFound => "Not found",
            Self::MethodNotAllowed => "Method not allowed",
            Self::Conflict => "Conflict",
            Self::PayloadTooLarge => "Payload too large",
            Self::UnsupportedMediaType => "Unsupported media type",
            Self::RequestTimeout => "Request timeout",
            Self::RateLimited => "Too many requests",
            Self::Unavailable => "Service unavailable",
            Self::Internal => "Internal server error",
            Self::AccountDisabled => "Account disabled",
            Self::InvalidToken => "Invalid token",
            Self::EmailNotVerified => "Email not verified",
        }
    }

    /// The type a bare status stands for, for errors made outside our handlers (actix's 404, 405 …).
    pub fn for_status(status: StatusCode) -> Self {
        match status.as_u16() {
            400 => Self::Validation,
            401 => Self::Unauthorized,
            403 => Self::Forbidden,
            404 => Self::NotFound,
            405 => Self::MethodNotAllowed,
            408 => Self::RequestTimeout,
            409 => Self::Conflict,
            413 => Self::PayloadTooLarge,
            415 => Self::UnsupportedMediaType,
            429 => Self::RateLimited,
            503 => Self::Unavailable,
            _ => Self::Internal,
        }
    }
}

/// The problem+json body.
#[derive(Debug, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_: &'static str,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl Problem {
    pub fn new(kind: ProblemType, status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            type_: kind.uri(),
            title: kind.title(),
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
            request_id: current_request_id(),
        }
    }

    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    pub fn into_response(self) -> HttpResponse {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        HttpResponse::build(status)
            .insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)))
            .body(body)
    }
}

/// The detail of a validation problem: "1 field is invalid", "2 fields are invalid".
fn count_detail(errors: &[FieldError]) -> String {
    match errors.len() {
        1 => "1 field is invalid".to_owned(),
        n => format!("{n} fields are invalid"),
    }
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    fn problem(&self) -> Problem {
        let status = self.status_code();
        let kind = match self {
            Self::AccountDisabled => ProblemType::AccountDisabled,
            Self::InvalidMailToken => ProblemType::InvalidToken,
            Self::EmailNotVerified => ProblemType::EmailNotVerified,
            _ => ProblemType::for_status(status),
        };
        match self {
            Self::Validation(errors) => Problem::new(kind, status, count_detail(errors)).with_errors(errors.clone()),
            Self::Unauthorized { detail, .. } => Problem::new(kind, status, *detail),
            Self::Forbidden(detail) => Problem::new(kind, status, *detail),
            Self::AccountDisabled => Problem::new(kind, status, "this account is disabled"),
            Self::RateLimited { retry_after_secs } => {
                Problem::new(kind, status, format!("too many attempts; retry in {retry_after_secs} s"))
            }
            Self::UserNotFound => Problem::new(kind, status, "no user with this id"),
            Self::SessionNotFound => Problem::new(kind, status, "no live session with this id for this user"),
            Self::RouteNotFound => Problem::new(kind, status, "no such route"),
            Self::Conflict { detail, errors } => Problem::new(kind, status, *detail).with_errors(errors.clone()),
            Self::PayloadTooLarge => Problem::new(kind, status, "the body is larger than 64 KiB"),
            Self::UnsupportedMediaType => {
                Problem::new(kind, status, "the body must be JSON (application/json or application/*+json)")
            }
            Self::RequestTimeout => Problem::new(kind, status, "the body stopped arriving before it was complete"),
            Self::ImportTooLarge => Problem::new(kind, status, "an import's body is at most 10 MiB"),
            Self::NotNdjson => Problem::new(kind, status, "an import's body must be application/x-ndjson"),
            Self::Unavailable => Problem::new(kind, status, "storage is unavailable; try again later"),
            Self::ShuttingDown => Problem::new(kind, status, "shutting down"),
            Self::HashingBusy { retry_after_secs } => {
                Problem::new(kind, status, format!("too many password checks waiting; retry in {retry_after_secs} s"))
            }
            Self::Internal => Problem::new(kind, status, "an unexpected error occurred"),
            Self::InvalidMailToken => Problem::new(kind, status, "the token is unknown, used or expired")
                .with_errors(vec![FieldError::new("token", "is unknown, used or expired")]),
            Self::EmailNotVerified => {
                Problem::new(kind, status, "verify your email address first (POST /auth/verify-email/resend)")
            }
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.problem().detail)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Validation(_) | Self::InvalidMailToken => StatusCode::BAD_REQUEST,
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) | Self::AccountDisabled | Self::EmailNotVerified => StatusCode::FORBIDDEN,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::UserNotFound | Self::SessionNotFound | Self::RouteNotFound => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge | Self::ImportTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType | Self::NotNdjson => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::Unavailable | Self::ShuttingDown | Self::HashingBusy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = self.problem().into_response();
        match self {
            // RFC 6750: the challenge, with `error="invalid_token"` when a token was sent and refused.
            Self::Unauthorized { token_sent, .. } => {
                let challenge = if *token_sent { r#"Bearer error="invalid_token""# } else { "Bearer" };
                response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
            }
            Self::RateLimited { retry_after_secs } | Self::HashingBusy { retry_after_secs } => {
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            // The rest of the body may never come: this connection cannot carry another request.
            Self::RequestTimeout => response.head_mut().set_connection_type(ConnectionType::Close),
            Self::Unavailable => {
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(STORAGE_RETRY_AFTER_SECS));
            }
            _ => {}
        }
        response
    }
}

/// When to retry after storage could not serve (unreachable, a timeout, a held lock, a full disk): long enough for a
/// lock or a failover to pass, short enough that a client does not give up.
const STORAGE_RETRY_AFTER_SECS: u64 = 5;

impl From<UserServiceError> for ApiError {
    fn from(e: UserServiceError) -> Self {
        match e {
            UserServiceError::InvalidToken => Self::Unauthorized { detail: "invalid access token", token_sent: true },
            UserServiceError::Forbidden(detail) => Self::Forbidden(detail),
            UserServiceError::WeakPassword(violation) => Self::invalid("password", violation.to_string()),
            UserServiceError::CurrentPasswordRequired => {
                Self::invalid("current_password", "is required to change your own password or email")
            }
            UserServiceError::WrongCurrentPassword => Self::Forbidden("current_password is wrong"),
            UserServiceError::Locked { retry_after_secs } => Self::RateLimited { retry_after_secs },
            UserServiceError::NotFound => Self::UserNotFound,
            UserServiceError::SessionNotFound => Self::SessionNotFound,
            UserServiceError::UsernameTaken => Self::Conflict {
                detail: "the username is already taken",
                errors: vec![FieldError::new("username", "is already taken")],
            },
            UserServiceError::EmailTaken => Self::Conflict {
                detail: "the email is already taken",
                errors: vec![FieldError::new("email", "is already taken")],
            },
            UserServiceError::LastAdmin => Self::Conflict {
                detail: "the last active admin cannot be deleted, demoted or disabled",
                errors: Vec::new(),
            },
            UserServiceError::StartingAfterNotListed => {
                Self::invalid("starting_after", "must be the id of a user that this listing's filters match")
            }
            UserServiceError::Unavailable(cause) => Self::unavailable(&cause),
            UserServiceError::Unexpected(cause) => Self::internal(&cause),
        }
    }
}

impl ApiError {
    /// Storage could not serve: a 503; the cause goes to the log, never to the client.
    fn unavailable(cause: &impl fmt::Display) -> Self {
        tracing::warn!(error = format!("{cause:#}"), "storage unavailable");
        Self::Unavailable
    }

    /// Anything unexpected: a bare 500; the whole cause chain goes to the log.
    fn internal(cause: &impl fmt::Display) -> Self {
        tracing::error!(error = format!("{cause:#}"), "unexpected error");
        Self::Internal
    }
}

impl From<RepositoryError> for ApiError {
    fn from(e: RepositoryError) -> Self {
        match e {
            RepositoryError::Unavailable(cause) => Self::unavailable(&cause),
            RepositoryError::Unexpected(cause) => Self::internal(&cause),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::InvalidCredentials => Self::Unauthorized { detail: "invalid credentials", token_sent: false },
            AuthError::Locked { retry_after_secs } => Self::RateLimited { retry_after_secs },
            AuthError::AccountDisabled => Self::AccountDisabled,
            AuthError::EmailNotVerified => Self::EmailNotVerified,
            AuthError::InvalidToken => Self::Unauthorized { detail: "invalid access token", token_sent: true },
            AuthError::InvalidRefreshToken | AuthError::RefreshTokenReused => {
                Self::Unauthorized { detail: "invalid refresh token", token_sent: false }
            }
            AuthError::Unavailable(cause) => Self::unavailable(&cause),
            AuthError::Unexpected(cause) => Self::internal(&cause),
        }
    }
}

impl From<users_domain::mail_flows::MailFlowError> for ApiError {
    fn from(e: users_domain::mail_flows::MailFlowError) -> Self {
        use users_domain::mail_flows::MailFlowError;
        match e {
            MailFlowError::InvalidToken => Self::InvalidMailToken,
            MailFlowError::WeakPassword(violation) => Self::invalid("password", violation.to_string()),
            MailFlowError::Unavailable(cause) => Self::unavailable(&cause),
            MailFlowError::Unexpected(cause) => Self::internal(&cause),
        }
    }
}
