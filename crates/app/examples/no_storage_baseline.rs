//! The no-storage baseline of docs/benchmarks.md: `GET /users/{id}` as a bare actix-web handler that verifies the
//! service's kind of access token with the service's own verifier (HS256 pinned; `exp`, `iss`, `aud`, `sub`
//! required) and answers a user of the service's JSON shape with the headers the service sets, reading nothing.
//! scripts/bench-read-share.sh measures the service's reads as a share of this.
//!
//! `cargo run --release -p users-api --example no_storage_baseline -- 127.0.0.1:8090`, with the service's
//! `APP__AUTH__JWT_SECRET` (and `APP__AUTH__ISSUER`, `APP__AUTH__AUDIENCE` if set) in the environment.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde::Serialize;
use users_auth::JwtAccessTokens;
use users_domain::ports::AccessTokens as _;

/// The service's allocator (crates/app/src/main.rs), so that the two differ only in what the service does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The fields and order of the service's user JSON (docs/api.md §1).
#[derive(Serialize)]
struct UserJson {
    id: i64,
    username: String,
    email: String,
    name: Option<String>,
    age: Option<i64>,
    role: &'static str,
    created_at: String,
    updated_at: String,
    status: &'static str,
    disabled_until: Option<String>,
    email_verified: bool,
    last_login_at: Option<String>,
}

fn unauthorized() -> HttpResponse {
    HttpResponse::Unauthorized().insert_header((header::WWW_AUTHENTICATE, "Bearer")).finish()
}

async fn get_user(req: HttpRequest, tokens: web::Data<JwtAccessTokens>, id: web::Path<i64>) -> HttpResponse {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_owned());
    let Some(Ok(_claims)) = token.map(|token| tokens.verify(&token)) else { return unauthorized() };
    let id = id.into_inner();
    let user = UserJson {
        id,
        username: format!("u{id:06}"),
        email: format!("u{id:06}@example.com"),
        name: Some("Bench User".to_owned()),
        age: Some(30),
        role: "user",
        created_at: "2026-11-27T10:00:00.123456Z".to_owned(),
        updated_at: "2026-11-27T10:00:00.123456Z".to_owned(),
        status: "active",
        disabled_until: None,
        email_verified: true,
        last_login_at: Some("2026-11-27T10:00:00.123456Z".to_owned()),
    };
    let request_id = uuid::Uuid::new_v4().to_string();
    let mut response = HttpResponse::Ok();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.insert_header(("x-request-id", value));
    }
    response
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CONTENT_SECURITY_POLICY, "default-src 'none'; frame-ancestors 'none'"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        // What the service's CORS layer adds to every response.
        .insert_header((header::VARY, "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"))
        .insert_header((
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            "retry-after, x-total-count, location, www-authenticate, x-request-id, link",
        ))
        .json(user)
}

fn setting(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let address = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8090".to_owned());
    let secret = std::env::var("APP__AUTH__JWT_SECRET")
        .map_err(|_| std::io::Error::other("APP__AUTH__JWT_SECRET is required (the service's secret)"))?;
    let tokens = web::Data::new(JwtAccessTokens::new(
        secret.as_bytes(),
        &setting("APP__AUTH__ISSUER", "users-api"),
        &setting("APP__AUTH__AUDIENCE", "users-api"),
        900,
    ));
    let workers = setting("APP__SERVER__WORKERS", "0").parse::<usize>().unwrap_or(0);
    let mut server = HttpServer::new(move || {
        App::new().app_data(tokens.clone()).service(web::resource("/users/{id}").route(web::get().to(get_user)))
    });
    if workers > 0 {
        server = server.workers(workers);
    }
    let server = server.bind(address)?;
    for bound in server.addrs() {
        eprintln!("listening on http://{bound}"); // as the service says it: the benchmark reads the port here
    }
    server.run().await
}
