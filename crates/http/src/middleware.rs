//! The one middleware every request passes: it serves `/api/…` and trailing-slash paths as their canonical route,
//! gives the request its id (in every log line and error body), adds the headers of docs/api.md §5, turns any error
//! response that is not yet problem+json (actix's 404/405, a panic's 500) into one, and logs one line per request.

use crate::metrics::{Metrics, UNMATCHED};
use crate::problem::{Problem, ProblemType, PROBLEM_JSON};
use crate::request_id::{self, with_request_id};
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::Uri;
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage, HttpRequest};
use std::time::Instant;
use tracing::Instrument;

/// The path the client asked for (less trailing slashes), and whether it came through `/api`.
#[derive(Debug, Clone)]
pub struct RequestPath {
    pub original: String,
    pub api_prefixed: bool,
}

impl RequestPath {
    pub fn of(req: &HttpRequest) -> Self {
        req.extensions()
            .get::<Self>()
            .cloned()
            .unwrap_or_else(|| Self { original: req.path().to_owned(), api_prefixed: false })
    }

    /// `/api` when the request came through it, else nothing: for `Location` and other links.
    pub fn prefix(&self) -> &'static str {
        if self.api_prefixed {
            "/api"
        } else {
            ""
        }
    }
}

/// `/api/users/` → `/users`: the canonical path a route is registered under.
fn canonical_path(path: &str) -> (&str, bool) {
    let (rest, api_prefixed) = match path.strip_prefix("/api") {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => (rest, true),
        _ => (path, false),
    };
    let trimmed = rest.trim_end_matches('/');
    (if trimmed.is_empty() { "/" } else { trimmed }, api_prefixed)
}

/// Routes the request by its canonical path. A path that is canonical already (the common case) is left as it is,
/// with nothing recorded: [`RequestPath::of`] then reads it from the request.
fn rewrite_path(req: &mut ServiceRequest) {
    let path = req.path();
    let (canonical, api_prefixed) = canonical_path(path);
    if canonical == path {
        return;
    }
    let canonical = canonical.to_owned();
    let original = if path.len() > 1 { path.trim_end_matches('/').to_owned() } else { path.to_owned() };
    req.extensions_mut().insert(RequestPath { original, api_prefixed });
    let path_and_query = match req.query_string() {
        "" => canonical,
        query => format!("{canonical}?{query}"),
    };
    let mut parts = req.head().uri.clone().into_parts();
    let Ok(path_and_query) = path_and_query.parse() else {
        return;
    };
    parts.path_and_query = Some(path_and_query);
    if let Ok(uri) = Uri::from_parts(parts) {
        req.match_info_mut().get_mut().update(&uri);
        req.head_mut().uri = uri;
    }
}

pub async fn request_context(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let started = Instant::now();
    let id = request_id::accept_or_generate(req.headers().get(request_id::HEADER).map(HeaderValue::as_bytes));
    rewrite_path(&mut req);
    let is_docs = {
        let path = req.path();
        path == "/docs" || path.starts_with("/docs/")
    };
    let method = req.method().clone();
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %method,
        route = tracing::field::Empty,
        user.id = tracing::field::Empty
    );
    // Errors from the services inside are responses already (actix turns handler errors into responses); an
    // `Err` here is passed on as it is. (Cloning the request to answer it here would break routing.)
    let response = with_request_id(id.clone(), async move {
        let response = as_problem_if_error(next.call(req).await?.map_into_boxed_body());
        let route = response.request().match_pattern().unwrap_or_else(|| UNMATCHED.to_owned());
        tracing::Span::current().record("route", route.as_str());
        if let Some(metrics) = response.request().app_data::<web::Data<Metrics>>() {
            let seconds = started.elapsed().as_secs_f64();
            metrics.observe_request(method.as_str(), &route, response.status(), seconds);
        }
        tracing::info!(
            status = response.status().as_u16(),
            latency_ms = started.elapsed().as_secs_f64() * 1000.0,
            "request handled"
        );
        Ok::<_, Error>(response)
    })
    .instrument(span)
    .await?;
    Ok(with_standard_headers(response, &id, is_docs))
}

/// An error response made outside our handlers (actix's 404 and 405, a panic) gets a problem+json body;
/// its headers (such as `Allow`) stay.
fn as_problem_if_error(response: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    let status = response.status();
    let is_problem =
        response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return response;
    }
    let kind = ProblemType::for_status(status);
    let detail = match kind {
        ProblemType::NotFound => "no such route",
        ProblemType::MethodNotAllowed => "this route does not take this method",
        ProblemType::Internal => "an unexpected error occurred",
        _ => kind.title(),
    };
    let mut problem = Problem::new(kind, status, detail).into_response();
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            problem.headers_mut().append(name.clone(), value.clone());
        }
    }
    response.into_response(problem)
}

fn with_standard_headers(mut response: ServiceResponse<BoxBody>, id: &str, is_docs: bool) -> ServiceResponse<BoxBody> {
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(id) {
        headers.insert(header::HeaderName::from_static(request_id::HEADER), value);
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // JSON needs no scripts, styles or frames; Swagger UI (its own page) does.
    if !is_docs {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        );
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::canonical_path;

    #[test]
    fn api_prefix_and_trailing_slashes_map_to_the_canonical_path() {
        assert_eq!(canonical_path("/users"), ("/users", false));
        assert_eq!(canonical_path("/users/"), ("/users", false));
        assert_eq!(canonical_path("/api/users/7/"), ("/users/7", true));
        assert_eq!(canonical_path("/api"), ("/", true));
        assert_eq!(canonical_path("/apiary"), ("/apiary", false));
        assert_eq!(canonical_path("/"), ("/", false));
    }
}
