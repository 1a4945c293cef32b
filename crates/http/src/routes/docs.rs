//! Swagger UI, served from the binary (swagger-ui-dist, committed under assets/): no outside call, a fixed list
//! of files, and a problem+json 404 for any other name.

use crate::middleware::RequestPath;
use crate::problem::ApiError;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

const ASSETS: &[(&str, &str, &[u8])] = &[
    ("index.html", "text/html; charset=utf-8", include_bytes!("../../assets/swagger-ui/index.html")),
    ("swagger-ui.css", "text/css; charset=utf-8", include_bytes!("../../assets/swagger-ui/swagger-ui.css")),
    (
        "swagger-ui-bundle.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js"),
    ),
    (
        "swagger-initializer.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/swagger-ui/swagger-initializer.js"),
    ),
    ("favicon-32x32.png", "image/png", include_bytes!("../../assets/swagger-ui/favicon-32x32.png")),
];

/// The names of every file the UI loads, for tests.
pub fn asset_names() -> impl Iterator<Item = &'static str> {
    ASSETS.iter().map(|(name, _, _)| *name)
}

/// `/docs` → its own page, `/docs/index.html` (under `/api` when asked through it).
pub async fn docs_entry(req: HttpRequest) -> HttpResponse {
    let location = format!("{}/docs/index.html", RequestPath::of(&req).prefix());
    HttpResponse::Found().insert_header((header::LOCATION, location)).finish()
}

pub async fn docs_asset(name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let (_, content_type, bytes) =
        ASSETS.iter().find(|(asset, _, _)| *asset == name.as_str()).ok_or(ApiError::RouteNotFound)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, *content_type))
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(*bytes))
}
