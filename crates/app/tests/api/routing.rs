//! The /api prefix, trailing slashes, request ids and the headers every response carries.

use crate::helpers::spawn_app;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn the_api_prefix_and_a_trailing_slash_reach_the_same_handlers() {
    let Some(app) = spawn_app().await else { return };
    let reply = app
        .post(
            "/api/users/",
            &json!({"username": "alice", "email": "alice@example.com", "password": "orbit-tulip-1"}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let id = reply.json()["id"].clone();
    assert_eq!(reply.header("location"), Some(format!("/api/users/{id}")));
    for path in [
        format!("/users/{id}"),
        format!("/users/{id}/"),
        format!("/api/users/{id}"),
        format!("/api/users/{id}/"),
    ] {
        let reply = app.get(&path).await;
        assert_eq!(reply.status, 200, "{path} answered, not redirected");
        assert_eq!(reply.json()["username"], "alice");
    }
    for path in ["/users/", "/api/users", "/api/users/"] {
        assert_eq!(app.get(path).await.status, 200, "{path}");
    }
    assert_eq!(app.get("/api/health").await.json(), json!({"status": "ok"}));
    assert_eq!(app.get("/health/").await.json(), json!({"status": "ok"}));
    let signup = app
        .post(
            "/api/users/signup/",
            &json!({"username": "bob", "email": "bob@example.com", "password": "orbit-tulip-1"}),
        )
        .await;
    assert_eq!(signup.status, 201, "{}", signup.text);
    app.get("/api/nothing").await.problem(404, "not-found");
    app.get("/apiusers").await.problem(404, "not-found");
}

#[tokio::test]
async fn a_well_formed_request_id_is_echoed_and_others_replaced() {
    let Some(app) = spawn_app().await else { return };
    let reply = app
        .send(
            Method::GET,
            "/health",
            None,
            &[("X-Request-Id", "abc-123.X_y")],
        )
        .await;
    assert_eq!(reply.header("x-request-id").as_deref(), Some("abc-123.X_y"));
    let longest = "a".repeat(128);
    let reply = app
        .send(Method::GET, "/health", None, &[("X-Request-Id", &longest)])
        .await;
    assert_eq!(reply.header("x-request-id"), Some(longest));
    for bad in ["has space", "semi;colon", &"a".repeat(129)] {
        let reply = app
            .send(Method::GET, "/health", None, &[("X-Request-Id", bad)])
            .await;
        let id = reply.header("x-request-id").expect("generated");
        assert!(uuid_like(&id), "{bad:?} replaced by a UUID, got {id}");
    }
    let reply = app.get("/health").await;
    assert!(uuid_like(&reply.header("x-request-id").expect("generated")));
    // The id is in error bodies too.
    let reply = app
        .send(
            Method::GET,
            "/users/0",
            None,
            &[("X-Request-Id", "trace-me")],
        )
        .await;
    assert_eq!(reply.problem(400, "validation")["request_id"], "trace-me");
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36
        && s.chars().filter(|c| *c == '-').count() == 4
        && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

#[tokio::test]
async fn every_response_carries_nosniff_and_user_data_is_not_cached() {
    let Some(app) = spawn_app().await else { return };
    let created = app.create_user("alice").await;
    for path in [
        "/health",
        "/users",
        "/nothing",
        "/openapi.json",
        "/docs/index.html",
    ] {
        let reply = app.get(path).await;
        assert_eq!(
            reply.header("x-content-type-options").as_deref(),
            Some("nosniff"),
            "{path}"
        );
        assert!(reply.header("x-request-id").is_some(), "{path}");
    }
    for path in ["/users".to_owned(), format!("/users/{}", created["id"])] {
        assert_eq!(
            app.get(&path).await.header("cache-control").as_deref(),
            Some("no-store"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn readiness_reports_storage_that_answers() {
    let Some(app) = spawn_app().await else { return };
    let reply = app.get("/health/ready").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), json!({"status": "ok"}));
}

#[tokio::test]
async fn a_large_listing_comes_back_compressed_when_asked() {
    let Some(app) = spawn_app().await else { return };
    for i in 0..40 {
        app.create_user(&format!("user{i:02}")).await;
    }
    let plain = app.get("/users?limit=100").await;
    assert_eq!(plain.header("content-encoding"), None, "not without Accept-Encoding");
    let gzipped = app.send(Method::GET, "/users?limit=100", None, &[("Accept-Encoding", "gzip")]).await;
    assert_eq!(gzipped.status, 200);
    assert_eq!(gzipped.header("content-encoding").as_deref(), Some("gzip"));
    assert!(gzipped.bytes.len() < plain.bytes.len() / 2, "{} vs {}", gzipped.bytes.len(), plain.bytes.len());
    let mut decoded = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(gzipped.bytes.as_slice()), &mut decoded)
        .expect("valid gzip");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&decoded).expect("JSON"), plain.json());
    let brotli = app.send(Method::GET, "/users?limit=100", None, &[("Accept-Encoding", "br")]).await;
    assert_eq!(brotli.header("content-encoding").as_deref(), Some("br"));
}
