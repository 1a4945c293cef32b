//! Extractors that turn what a client sent into typed values, or into the 400/413/415 problem that names the
//! offending field. actix's own `Json`/`Query`/`Path` lose the field name on a type error, hence these. Each
//! delegates its OpenAPI description to the actix extractor it stands for.

use crate::problem::{ApiError, FieldError};
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use futures_util::StreamExt;
use paperclip::actix::OperationModifier;
use paperclip::v2::models::{DefaultOperationRaw, DefaultSchemaRaw, SecurityScheme};
use paperclip::v2::schema::Apiv2Schema as ApiSchema;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::time::Duration;
use users_domain::UserId;

/// docs/api.md §5: a body over 64 KiB is 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// How long a body may stay idle (no chunk arriving) before the request is answered 408 and its connection closed
/// (docs/api.md §1, `APP__SERVER__BODY_TIMEOUT_SECS`). Idle time, not the whole upload: a slow but steady client is
/// fine, a stalled one does not hold its connection for ever.
#[derive(Debug, Clone, Copy)]
pub struct BodyTimeout(pub Duration);

/// Turns a deserialization failure into the field it is about and a message a client can act on.
pub fn field_error<E: std::fmt::Display>(error: serde_path_to_error::Error<E>, whole: &str) -> FieldError {
    let path = error.path().to_string();
    let message = error.inner().to_string();
    // serde names missing, unknown and duplicate fields only in its message: `missing field `email``.
    let named = ["missing field `", "unknown field `", "duplicate field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix).and_then(|rest| rest.split('`').next()));
    // The path of a missing field is its parent's; that of an unknown one already ends with it.
    let field = match (named, path.as_str()) {
        (Some(name), "." | "" | "?") => name.to_owned(),
        (Some(name), path) if path == name || path.ends_with(&format!(".{name}")) => path.to_owned(),
        (Some(name), parent) => format!("{parent}.{name}"),
        (None, "." | "" | "?") => whole.to_owned(),
        (None, path) => path.to_owned(),
    };
    // Strip serde_json's position suffix: the client knows where its own body is.
    let message = message.split(" at line ").next().unwrap_or_default().to_owned();
    FieldError::new(field, message)
}

/// A JSON request body: `application/json` or any `application/*+json`, at most 64 KiB, deserialized into `T`
/// (whose `deny_unknown_fields` refuses typos).
pub struct JsonBody<T>(pub T);

fn is_json(req: &HttpRequest) -> bool {
    let Some(content_type) = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = is_json(req);
        let declared_length = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        // Registered by `build_app` with the configured value; the setting's one default lives in the settings.
        let idle_limit = req.app_data::<web::Data<BodyTimeout>>().map(|t| t.get_ref().0);
        let mut payload = payload.take();
        Box::pin(async move {
            let idle_limit = idle_limit.ok_or(ApiError::Internal)?;
            if !json {
                return Err(ApiError::UnsupportedMediaType);
            }
            if declared_length.is_some_and(|n| n > MAX_BODY_BYTES) {
                return Err(ApiError::PayloadTooLarge);
            }
            let mut body = web::BytesMut::new();
            while let Some(chunk) =
                tokio::time::timeout(idle_limit, payload.next()).await.map_err(|_| ApiError::RequestTimeout)?
            {
                let chunk = chunk.map_err(|_| ApiError::invalid("body", "the body could not be read"))?;
                if body.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(ApiError::PayloadTooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            // Syntax first (so a malformed body is told apart from a wrongly typed field), then the shape.
            let json: serde_json::Value =
                serde_json::from_slice(&body).map_err(|_| ApiError::invalid("body", "malformed JSON"))?;
            // serde would take a struct from an array too; the contract wants an object.
            if !json.is_object() {
                return Err(ApiError::invalid("body", "must be a JSON object"));
            }
            let value = serde_path_to_error::deserialize(json)
                .map_err(|e| ApiError::Validation(vec![field_error(e, "body")]))?;
            Ok(Self(value))
        })
    }
}

impl<T: ApiSchema> ApiSchema for JsonBody<T> {
    fn name() -> Option<String> {
        T::name()
    }

    fn raw_schema() -> DefaultSchemaRaw {
        T::raw_schema()
    }
}

impl<T: ApiSchema> OperationModifier for JsonBody<T> {
    fn update_parameter(op: &mut DefaultOperationRaw) {
        web::Json::<T>::update_parameter(op);
    }

    fn update_definitions(map: &mut BTreeMap<String, DefaultSchemaRaw>) {
        web::Json::<T>::update_definitions(map);
    }

    fn update_security_definitions(_map: &mut BTreeMap<String, SecurityScheme>) {}
}

/// Query parameters deserialized into `T` (with `deny_unknown_fields`, so an unknown parameter is a 400 too).
pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned> QueryParams<T> {
    pub fn parse(query: &str) -> Result<Self, ApiError> {
        let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(Self)
            .map_err(|e| ApiError::Validation(vec![field_error(e, "query")]))
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for QueryParams<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Self::parse(req.query_string()))
    }
}

impl<T: ApiSchema> ApiSchema for QueryParams<T> {}

impl<T: ApiSchema> OperationModifier for QueryParams<T> {
    fn update_parameter(op: &mut DefaultOperationRaw) {
        web::Query::<T>::update_parameter(op);
    }

    fn update_definitions(_map: &mut BTreeMap<String, DefaultSchemaRaw>) {}
}

/// The `{id}` of a user route: a positive 64-bit integer in plain decimal, else 400 naming `id`.
pub struct UserIdParam(pub UserId);

impl FromRequest for UserIdParam {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let id = req.match_info().get("id").unwrap_or_default();
        std::future::ready(UserId::parse(id).map(Self).map_err(|e| ApiError::invalid("id", e.to_string())))
    }
}

impl ApiSchema for UserIdParam {}

impl OperationModifier for UserIdParam {
    fn update_parameter(op: &mut DefaultOperationRaw) {
        web::Path::<(i64,)>::update_parameter(op);
    }
}

/// The `{id}` and `{sid}` of a session route: the user id as `UserIdParam` takes it, and a session id (else 400
/// naming `sid`).
pub struct SessionPath {
    pub user_id: UserId,
    pub session_id: users_domain::SessionId,
}

impl FromRequest for SessionPath {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let parsed = UserIdParam::from_request(req, payload).into_inner().and_then(|UserIdParam(user_id)| {
            let sid = req.match_info().get("sid").unwrap_or_default();
            let session_id =
                users_domain::SessionId::parse(sid).map_err(|e| ApiError::invalid("sid", e.to_string()))?;
            Ok(Self { user_id, session_id })
        });
        std::future::ready(parsed)
    }
}

impl ApiSchema for SessionPath {}

impl OperationModifier for SessionPath {
    fn update_parameter(op: &mut DefaultOperationRaw) {
        web::Path::<(i64, String)>::update_parameter(op);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[allow(dead_code)]
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        name: String,
        age: Option<i64>,
    }

    fn error_of(json: &str) -> FieldError {
        let mut de = serde_json::Deserializer::from_str(json);
        let e = serde_path_to_error::deserialize::<_, Sample>(&mut de).expect_err("invalid");
        field_error(e, "body")
    }

    #[test]
    fn names_the_field_of_every_kind_of_body_error() {
        assert_eq!(error_of(r#"{"age": 3}"#).field, "name");
        assert_eq!(error_of(r#"{"name": "x", "nmae": 1}"#).field, "nmae");
        assert_eq!(error_of(r#"{"name": 5}"#).field, "name");
        assert_eq!(error_of(r#"{"name": "x", "age": "3"}"#).field, "age");
        assert_eq!(error_of(r#"{"name": "x", "extra": {"a": 1}}"#).field, "extra");
        assert!(!error_of(r#"{"name": 5}"#).message.contains("line"));
    }
}
