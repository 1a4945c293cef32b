//! users-api's HTTP adapter (actix-web): routes, DTOs, problem+json errors, request ids, OpenAPI and Swagger UI.

mod authentication;
mod client_limits;
mod dto;
mod extract;
mod hashing_queue;
mod metrics;
mod middleware;
mod openapi;
mod pagination;
mod problem;
mod request_id;
mod responses;
mod routes;
mod secret_field;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{web as actix, App, HttpServer};
use paperclip::actix::{web, OpenApiExt};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use users_domain::auth::AuthService;
use users_domain::ports::{StorageOperations, VerificationKeys};
use users_domain::transfer::TransferService;
use users_domain::UserService;

pub use client_limits::ClientLimits;
pub use extract::BodyTimeout;
pub use hashing_queue::{HashingQueue, QueueLimits};
pub use metrics::Metrics;
pub use request_id::current_request_id;
pub use routes::docs::asset_names as docs_asset_names;

/// Whether the service still takes traffic: cleared at shutdown so `/health/ready` answers 503 at once.
#[derive(Debug, Default)]
pub struct Readiness {
    shutting_down: AtomicBool,
}

impl Readiness {
    pub fn start_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }
}

/// What the handlers need; cloned into every worker.
#[derive(Clone)]
pub struct AppState {
    pub users: UserService,
    pub auth: AuthService,
    /// Import and export in bulk.
    pub transfer: TransferService,
    pub readiness: Arc<Readiness>,
    /// The store's readiness probe, pool statistics and shutdown (`/health/ready`, `/metrics`).
    pub storage: Arc<dyn StorageOperations>,
    /// Shared by the workers: the client IP rule and the per-IP limits are per instance.
    pub client_limits: Arc<ClientLimits>,
    /// Shared by the workers: one queue for the instance's hashing.
    pub hashing: HashingQueue,
    pub body_timeout: BodyTimeout,
    /// Origins allowed by CORS (besides the service's own).
    pub cors_origins: Arc<Vec<String>>,
    /// Shared by the workers: one registry per instance.
    pub metrics: Arc<Metrics>,
    /// What `/.well-known/jwks.json` serves.
    pub published_keys: PublishedKeys,
    /// The mail use cases; `None` with mail off (their routes answer 404).
    pub mail: Option<users_domain::mail_flows::MailFlows>,
}

/// The public keys of access tokens (docs/api.md §8), and how long clients may cache them.
#[derive(Clone)]
pub struct PublishedKeys {
    pub keys: Arc<dyn VerificationKeys>,
    pub max_age: Duration,
}

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Worker threads; `None` = one per core.
    pub workers: Option<usize>,
    pub shutdown_timeout: Duration,
}

/// Starts serving on `listener` (bound already, so tests can use port 0). Signals are the caller's to handle.
pub fn serve(listener: TcpListener, state: AppState, options: ServerOptions) -> std::io::Result<Server> {
    let mut server = HttpServer::new(move || build_app(state.clone()))
        .disable_signals()
        .shutdown_timeout(options.shutdown_timeout.as_secs());
    if let Some(workers) = options.workers {
        server = server.workers(workers);
    }
    Ok(server.listen(listener)?.run())
}

pub fn build_app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    use routes::{auth, docs, health, jwks, mail, sessions, transfer, users};
    App::new()
        .wrap_api()
        .app_data(actix::Data::new(state.users))
        .app_data(actix::Data::new(state.auth))
        .app_data(actix::Data::new(state.transfer))
        .app_data(actix::Data::from(state.readiness))
        .app_data(actix::Data::new(state.storage))
        .app_data(actix::Data::from(state.client_limits))
        .app_data(actix::Data::new(state.hashing))
        .app_data(actix::Data::new(state.body_timeout))
        .app_data(actix::Data::from(state.metrics))
        .app_data(actix::Data::new(state.published_keys))
        .app_data(actix::Data::new(mail::MailRoutes(state.mail)))
        .service(
            web::resource("/users").route(web::post().to(users::create_user)).route(web::get().to(users::list_users)),
        )
        // Named routes and aliases before `/users/{id}`, so they are never taken for ids; the document leaves the
        // aliases out.
        .service(web::resource("/users/me").route(web::get().to(users::get_me)))
        .service(web::resource("/users/signup").route(web::post().to(users::create_user)))
        .service(web::resource("/users/login").route(web::post().to(auth::login)))
        .service(web::resource("/users/import").route(web::post().to(transfer::import_users)))
        .service(web::resource("/users/export").route(web::get().to(transfer::export_users)))
        .service(
            web::resource("/users/{id}")
                .route(web::get().to(users::get_user))
                .route(web::put().to(users::update_user))
                .route(web::patch().to(users::update_user))
                .route(web::delete().to(users::delete_user)),
        )
        .service(web::resource("/users/{id}/email-verification").route(web::post().to(mail::send_email_verification)))
        .service(web::resource("/users/{id}/lockout").route(web::delete().to(users::clear_lockout)))
        .service(
            web::resource("/users/{id}/sessions")
                .route(web::get().to(sessions::list_sessions))
                .route(web::delete().to(sessions::revoke_sessions)),
        )
        .service(web::resource("/users/{id}/sessions/{sid}").route(web::delete().to(sessions::revoke_session)))
        .service(web::resource("/auth/login").route(web::post().to(auth::login)))
        .service(web::resource("/auth/refresh").route(web::post().to(auth::refresh)))
        .service(web::resource("/auth/logout").route(web::post().to(auth::logout)))
        .service(web::resource("/auth/password-reset").route(web::post().to(mail::request_password_reset)))
        .service(web::resource("/auth/password-reset/confirm").route(web::post().to(mail::confirm_password_reset)))
        .service(web::resource("/auth/verify-email").route(web::post().to(mail::verify_email)))
        .service(web::resource("/auth/verify-email/resend").route(web::post().to(mail::resend_verification)))
        .service(web::resource("/health").route(web::get().to(health::health)))
        .service(web::resource("/health/ready").route(web::get().to(health::ready)))
        .service(web::resource("/.well-known/jwks.json").route(web::get().to(jwks::jwks)))
        .with_raw_json_spec_v3(|app, spec| app.app_data(actix::Data::new(openapi::patch(spec))))
        .build()
        // Resources, so another method gets 405 with Allow rather than 404.
        .service(actix::resource("/openapi.json").route(actix::get().to(serve_openapi)))
        .service(actix::resource("/metrics").route(actix::get().to(metrics::serve_metrics)))
        .service(actix::resource("/docs").route(actix::get().to(docs::docs_entry)))
        .service(actix::resource("/docs/{file}").route(actix::get().to(docs::docs_asset)))
        .default_service(actix::to(route_not_found))
        // gzip or brotli when the client accepts it (Accept-Encoding).
        .wrap(actix_web::middleware::Compress::default())
        .wrap(cors(state.cors_origins))
        .wrap(actix_web::middleware::from_fn(middleware::request_context))
}

/// CORS (docs/api.md §4): the configured origins and the service's own, the routes' methods, the `Authorization`
/// and `Content-Type` request headers, and the response headers scripts may read.
fn cors(origins: Arc<Vec<String>>) -> actix_cors::Cors {
    use actix_web::http::header;
    actix_cors::Cors::default()
        .allowed_origin_fn(move |origin, request| {
            let origin = origin.to_str().unwrap_or_default();
            origins.iter().any(|allowed| allowed == origin) || is_same_origin(origin, request)
        })
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .expose_headers([
            header::HeaderName::from_static("x-total-count"),
            header::LINK,
            header::LOCATION,
            header::HeaderName::from_static("x-request-id"),
            header::RETRY_AFTER,
            header::WWW_AUTHENTICATE,
        ])
        .max_age(3600)
}

/// Whether `origin` is the service itself (Swagger UI calling its own API): same host as the request's `Host`.
fn is_same_origin(origin: &str, request: &actix_web::dev::RequestHead) -> bool {
    let host = request.headers().get(actix_web::http::header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin.split_once("://").map(|(_, rest)| rest);
    host.is_some() && host == origin_host
}

async fn serve_openapi(doc: actix::Data<serde_json::Value>) -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok().json(doc.get_ref())
}

async fn route_not_found() -> Result<actix_web::HttpResponse, problem::ApiError> {
    Err(problem::ApiError::RouteNotFound)
}
