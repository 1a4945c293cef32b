//! Every error of docs/api.md §5 that applies without auth: status, problem type, the fields named, nothing changed.

use crate::helpers::{spawn_app, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

fn valid() -> Value {
    json!({"username": "alice", "email": "alice@example.com", "password": "orbit-tulip-1"})
}

fn with(field: &str, value: Value) -> Value {
    let mut body = valid();
    body[field] = value;
    body
}

/// Posts `body` to /users, expects a 400 naming `fields`, and that nothing was stored.
async fn refused(app: &TestApp, body: Value, fields: &[&str]) {
    let before = app.count().await;
    app.post("/users", &body).await.invalid_fields(fields);
    assert_eq!(
        app.count().await,
        before,
        "a refused request stores nothing"
    );
}

async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    content_type: &str,
    body: &str,
) -> crate::helpers::Reply {
    app.send(
        method,
        path,
        Some((content_type, body.as_bytes().to_vec())),
        &[],
    )
    .await
}

#[tokio::test]
async fn malformed_json_names_the_body() {
    let Some(app) = spawn_app().await else { return };
    for body in [
        "{",
        "{\"username\": }",
        "not json",
        "",
        "{\"username\": \"alice\"} trailing",
    ] {
        raw(&app, Method::POST, "/users", "application/json", body)
            .await
            .invalid_fields(&["body"]);
    }
}

#[tokio::test]
async fn a_body_that_is_not_an_object_names_the_body() {
    let Some(app) = spawn_app().await else { return };
    for body in [
        "[]",
        "[\"alice\", \"alice@example.com\", \"orbit-tulip-1\"]",
        "\"alice\"",
        "42",
        "null",
        "true",
    ] {
        raw(&app, Method::POST, "/users", "application/json", body)
            .await
            .invalid_fields(&["body"]);
    }
    assert_eq!(app.count().await, 0);
}

#[tokio::test]
async fn each_missing_required_field_is_named() {
    let Some(app) = spawn_app().await else { return };
    for field in ["username", "email", "password"] {
        let mut body = valid();
        body.as_object_mut().expect("object").remove(field);
        refused(&app, body, &[field]).await;
    }
}

#[tokio::test]
async fn a_wrongly_typed_field_is_named() {
    let Some(app) = spawn_app().await else { return };
    refused(&app, with("age", json!("30")), &["age"]).await;
    refused(&app, with("age", json!(30.5)), &["age"]).await;
    refused(&app, with("username", json!(42)), &["username"]).await;
    refused(&app, with("name", json!(["a"])), &["name"]).await;
    refused(&app, with("role", json!(true)), &["role"]).await;
    refused(&app, with("email", json!(null)), &["email"]).await;
}

#[tokio::test]
async fn unknown_fields_are_refused_not_ignored() {
    let Some(app) = spawn_app().await else { return };
    refused(&app, with("id", json!(5)), &["id"]).await;
    refused(
        &app,
        with("created_at", json!("2026-01-01T00:00:00.000000Z")),
        &["created_at"],
    )
    .await;
    refused(&app, with("emial", json!("x@example.com")), &["emial"]).await;
}

#[tokio::test]
async fn username_rules() {
    let Some(app) = spawn_app().await else { return };
    refused(&app, with("username", json!("ab")), &["username"]).await;
    refused(&app, with("username", json!("a".repeat(33))), &["username"]).await;
    refused(&app, with("username", json!("al ice")), &["username"]).await;
    refused(&app, with("username", json!("alice!")), &["username"]).await;
    refused(&app, with("username", json!("ålice")), &["username"]).await;
    // The edges are fine.
    app.create(with("username", json!("a.-"))).await;
    app.create(
        json!({"username": "b".repeat(32), "email": "b@example.com", "password": "orbit-tulip-1"}),
    )
    .await;
}

#[tokio::test]
async fn email_rules() {
    let Some(app) = spawn_app().await else { return };
    refused(&app, with("email", json!("not-an-email")), &["email"]).await;
    refused(&app, with("email", json!("a@b@c.io")), &["email"]).await;
    refused(&app, with("email", json!(" alice@example.com")), &["email"]).await;
    refused(&app, with("email", json!("alice@example.com ")), &["email"]).await;
    let too_long = format!(
        "{}@{}.{}.{}.com",
        "a".repeat(60),
        "b".repeat(63),
        "c".repeat(63),
        "d".repeat(63)
    );
    assert!(too_long.len() > 254);
    refused(&app, with("email", json!(too_long)), &["email"]).await;
}

#[tokio::test]
async fn name_rules() {
    let Some(app) = spawn_app().await else { return };
    refused(&app, with("name", json!("   ")), &["name"]).await;
    refused(&app, with("name", json!("")), &["name"]).await;
    refused(&app, with("name", json!("é".repeat(101))), &["name"]).await;
    // 100 characters of 2 bytes each, with spaces around: fine.
    let user = app
        .create(with("name", json!(format!("  {}  ", "é".repeat(100)))))
        .await;
    assert_eq!(user["name"], "é".repeat(100));
}

#[tokio::test]
async fn age_rules() {
    let Some(app) = spawn_app().await else { return };
    refused(&app, with("age", json!(0)), &["age"]).await;
    refused(&app, with("age", json!(151)), &["age"]).await;
    refused(&app, with("age", json!(-1)), &["age"]).await;
    refused(&app, with("age", json!(1e30)), &["age"]).await;
}

#[tokio::test]
async fn role_rules() {
    let Some(app) = spawn_app().await else { return };
    refused(&app, with("role", json!("root")), &["role"]).await;
    refused(&app, with("role", json!("Admin")), &["role"]).await;
}

#[tokio::test]
async fn password_rules_count_bytes() {
    let Some(app) = spawn_app().await else { return };
    refused(&app, with("password", json!("1234567")), &["password"]).await;
    refused(&app, with("password", json!("x".repeat(73))), &["password"]).await;
    // 37 two-byte characters: 74 bytes, refused rather than truncated.
    refused(&app, with("password", json!("é".repeat(37))), &["password"]).await;
    app.create(with("password", json!("x".repeat(72)))).await;
}

#[tokio::test]
async fn every_broken_rule_is_reported_at_once() {
    let Some(app) = spawn_app().await else { return };
    let body = json!({"username": "a", "email": "bad", "password": "short", "age": 0, "name": " "});
    let reply = app.post("/users", &body).await;
    reply.invalid_fields(&["username", "email", "password", "age", "name"]);
    assert_eq!(reply.json()["detail"], "5 fields are invalid");
}

#[tokio::test]
async fn update_rules_are_the_same_and_refusals_change_nothing() {
    let Some(app) = spawn_app().await else { return };
    let user = app.create_user("alice").await;
    let path = format!("/users/{}", user["id"]);
    for (body, field) in [
        (json!({"username": "x"}), "username"),
        (json!({"username": null}), "username"),
        (json!({"email": "nope"}), "email"),
        (json!({"age": 200}), "age"),
        (json!({"name": " "}), "name"),
        (json!({"password": "short"}), "password"),
        (json!({"role": "root"}), "role"),
        (json!({"id": 9}), "id"),
        (json!({"current_password": "orbit-tulip-1"}), "current_password"),
    ] {
        app.patch(&path, &body).await.invalid_fields(&[field]);
    }
    assert_eq!(app.get(&path).await.json(), user, "nothing changed");
}

#[tokio::test]
async fn bad_query_parameters_are_named() {
    let Some(app) = spawn_app().await else { return };
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=abc", "limit"),
        ("limit=", "limit"),
        ("offset=-1", "offset"),
        ("offset=x", "offset"),
        ("role=root", "role"),
        ("sort=name", "sort"),
        ("sort=--id", "sort"),
        ("sort=ID", "sort"),
        ("page=2", "page"),
        ("limit=5&limit=6", "limit"),
    ] {
        app.get(&format!("/users?{query}"))
            .await
            .invalid_fields(&[field]);
    }
}

#[tokio::test]
async fn bad_path_ids_are_named() {
    let Some(app) = spawn_app().await else { return };
    for id in ["0", "-1", "abc", "1.5", "9223372036854775808", "%20"] {
        app.get(&format!("/users/{id}"))
            .await
            .invalid_fields(&["id"]);
        app.delete(&format!("/users/{id}"))
            .await
            .invalid_fields(&["id"]);
        app.patch(&format!("/users/{id}"), &json!({}))
            .await
            .invalid_fields(&["id"]);
    }
}

#[tokio::test]
async fn a_missing_user_and_a_missing_route_are_404() {
    let Some(app) = spawn_app().await else { return };
    app.get("/users/424242").await.problem(404, "not-found");
    app.patch("/users/424242", &json!({"age": 3}))
        .await
        .problem(404, "not-found");
    app.delete("/users/424242").await.problem(404, "not-found");
    app.get("/nothing/here").await.problem(404, "not-found");
    app.post("/users/1/extra", &valid())
        .await
        .problem(404, "not-found");
}

#[tokio::test]
async fn a_method_the_route_lacks_is_405_with_allow() {
    let Some(app) = spawn_app().await else { return };
    for (method, path, allowed) in [
        (Method::DELETE, "/users", "GET, POST"),
        (Method::POST, "/users/1", "DELETE, GET, PATCH, PUT"),
        (Method::GET, "/users/signup", "POST"),
        (Method::POST, "/health", "GET"),
    ] {
        let reply = app.send(method, path, None, &[]).await;
        reply.problem(405, "method-not-allowed");
        let mut allow: Vec<String> = reply
            .header("allow")
            .expect("Allow")
            .split(',')
            .map(|m| m.trim().to_owned())
            .collect();
        allow.sort();
        assert_eq!(allow.join(", "), allowed, "{path}");
    }
}

#[tokio::test]
async fn a_taken_username_or_email_is_409_naming_it_case_insensitively() {
    let Some(app) = spawn_app().await else { return };
    app.create_user("alice").await;
    let reply = app
        .post(
            "/users",
            &json!({"username": "ALICE", "email": "other@example.com", "password": "orbit-tulip-1"}),
        )
        .await;
    assert_eq!(
        reply.problem(409, "conflict")["errors"][0]["field"],
        "username"
    );
    let reply = app
        .post(
            "/users",
            &json!({"username": "other", "email": "Alice@EXAMPLE.com", "password": "orbit-tulip-1"}),
        )
        .await;
    assert_eq!(
        reply.problem(409, "conflict")["errors"][0]["field"],
        "email"
    );
    assert_eq!(app.count().await, 1);
    let bob = app.create_user("bob").await;
    let path = format!("/users/{}", bob["id"]);
    let reply = app.patch(&path, &json!({"username": "Alice"})).await;
    assert_eq!(
        reply.problem(409, "conflict")["errors"][0]["field"],
        "username"
    );
    let reply = app
        .patch(&path, &json!({"email": "ALICE@example.com"}))
        .await;
    assert_eq!(
        reply.problem(409, "conflict")["errors"][0]["field"],
        "email"
    );
    assert_eq!(app.get(&path).await.json(), bob);
}

#[tokio::test]
async fn a_body_over_64_kib_is_413() {
    let Some(app) = spawn_app().await else { return };
    let padding = "x".repeat(64 * 1024);
    let body = format!(
        r#"{{"username": "alice", "email": "alice@example.com", "password": "orbit-tulip-1", "name": "{padding}"}}"#
    );
    raw(&app, Method::POST, "/users", "application/json", &body)
        .await
        .problem(413, "payload-too-large");
    assert_eq!(app.count().await, 0);
}

#[tokio::test]
async fn a_body_that_is_not_json_is_415_and_json_types_are_accepted() {
    let Some(app) = spawn_app().await else { return };
    let body = valid().to_string();
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/xml",
    ] {
        raw(&app, Method::POST, "/users", content_type, &body)
            .await
            .problem(415, "unsupported-media-type");
    }
    let reply = app.send(Method::POST, "/users", None, &[]).await;
    reply.problem(415, "unsupported-media-type");
    let reply = raw(
        &app,
        Method::POST,
        "/users",
        "application/vnd.users+json; charset=utf-8",
        &body,
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
}

#[tokio::test]
async fn error_bodies_leak_no_internals() {
    let Some(app) = spawn_app().await else { return };
    let reply = raw(
        &app,
        Method::POST,
        "/users",
        "application/json",
        "{\"username\": [",
    )
    .await;
    let body = reply.json();
    assert!(
        !reply.text.contains("line")
            && !reply.text.contains("column")
            && !reply.text.contains(".rs"),
        "{body}"
    );
}

#[tokio::test]
async fn a_nul_character_is_refused_or_matches_nothing_never_a_500() {
    let Some(app) = spawn_app().await else { return };
    refused(&app, with("name", json!("a\u{0}b")), &["name"]).await;
    refused(&app, with("name", json!("two\nlines")), &["name"]).await;
    for query in ["q=%00", "username=a%00", "email=%00%40x.io"] {
        let reply = app.get(&format!("/users?{query}")).await;
        assert_eq!(reply.status, 200, "{query}: {}", reply.text);
        assert_eq!(reply.json(), json!([]), "{query}");
    }
    let login = app.anonymous().post("/auth/login", &json!({"username": "a\u{0}b", "password": "orbit-tulip-1"})).await;
    login.problem(401, "unauthorized");
}

#[tokio::test]
async fn the_plain_routes_answer_other_methods_with_405() {
    let Some(app) = spawn_app().await else { return };
    for path in ["/metrics", "/openapi.json", "/docs", "/docs/index.html"] {
        let reply = app.send(Method::POST, path, None, &[]).await;
        reply.problem(405, "method-not-allowed");
        assert_eq!(reply.header("allow").as_deref(), Some("GET"), "{path}");
    }
}

#[tokio::test]
async fn a_null_role_at_sign_up_is_refused() {
    let Some(app) = spawn_app().await else { return };
    refused(&app, with("role", json!(null)), &["role"]).await;
}

#[tokio::test]
async fn every_missing_field_is_named_at_once() {
    let Some(app) = spawn_app().await else { return };
    refused(&app, json!({}), &["username", "email", "password"]).await;
    refused(&app, json!({"username": "x"}), &["username", "email", "password"]).await;
    let login = app.anonymous().post("/auth/login", &json!({})).await;
    login.invalid_fields(&["username", "email", "password"]);
}
