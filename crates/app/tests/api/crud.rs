use crate::helpers::spawn_app;
use reqwest::{Method, StatusCode};
use serde_json::json;
use users_domain::UserId;

#[tokio::test]
async fn create_returns_the_user_with_location_and_no_password() {
    let Some(app) = spawn_app().await else { return };
    let reply = app
        .post(
            "/users",
            &json!({"username": "Alice", "email": "Alice@Example.COM", "password": "correct horse", "name": "  Alice L.  ", "age": 30}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let user = reply.json();
    let id = user["id"].as_i64().expect("integer id");
    assert_eq!(reply.header("location"), Some(format!("/users/{id}")));
    assert_eq!(user["username"], "Alice", "case kept");
    assert_eq!(user["email"], "alice@example.com", "lower-cased");
    assert_eq!(user["name"], "Alice L.", "trimmed");
    assert_eq!(user["age"], 30);
    assert_eq!(user["role"], "user");
    assert_eq!(user["created_at"], user["updated_at"]);
    let keys: Vec<&String> = user.as_object().expect("object").keys().collect();
    assert_eq!(keys.len(), 12, "every field but the password: {keys:?}");
    assert!(!reply.text.contains("correct horse") && !reply.text.contains("$2b$"));
    assert_eq!(reply.header("cache-control").as_deref(), Some("no-store"));
}

#[tokio::test]
async fn absent_optional_fields_come_back_as_null() {
    let Some(app) = spawn_app().await else { return };
    let user = app.create_user("bob").await;
    assert_eq!(user["name"], json!(null));
    assert_eq!(user["age"], json!(null));
}

#[tokio::test]
async fn timestamps_have_six_fraction_digits_and_z() {
    let Some(app) = spawn_app().await else { return };
    let user = app.create_user("bob").await;
    let stamp = user["created_at"].as_str().expect("string");
    // 2026-01-02T03:04:05.123456Z
    assert_eq!(stamp.len(), 27, "{stamp}");
    assert!(
        stamp.ends_with('Z') && stamp.as_bytes()[19] == b'.',
        "{stamp}"
    );
    assert!(stamp[20..26].bytes().all(|b| b.is_ascii_digit()), "{stamp}");
}

#[tokio::test]
async fn the_stored_password_is_a_bcrypt_hash_that_verifies() {
    let Some(app) = spawn_app().await else { return };
    let user = app.create_user("carol").await;
    let id = UserId::new(user["id"].as_i64().expect("id")).expect("positive");
    let stored = app
        .repository
        .find_by_id(id)
        .await
        .expect("read")
        .expect("stored");
    let hash = stored.password_hash.as_str();
    assert!(hash.starts_with("$2b$04$"), "bcrypt at the configured cost");
    assert!(bcrypt::verify("orbit-tulip-1", hash).expect("valid hash"));
    assert!(!bcrypt::verify("orbit-tulip-2", hash).expect("valid hash"));
}

#[tokio::test]
async fn get_returns_the_same_user_on_every_read() {
    let Some(app) = spawn_app().await else { return };
    let created = app.create_user("dave").await;
    let path = format!("/users/{}", created["id"]);
    for _ in 0..2 {
        let reply = app.get(&path).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.json(), created);
    }
}

#[tokio::test]
async fn put_and_patch_change_only_what_they_send() {
    let Some(app) = spawn_app().await else { return };
    let created = app.create(json!({"username": "erin", "email": "erin@example.com", "password": "orbit-tulip-1", "name": "Erin", "age": 40})).await;
    let path = format!("/users/{}", created["id"]);
    let patched = app.patch(&path, &json!({"age": 41})).await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    let patched = patched.json();
    assert_eq!(patched["age"], 41);
    assert_eq!(patched["name"], "Erin");
    assert_eq!(patched["created_at"], created["created_at"]);
    assert_ne!(patched["updated_at"], created["updated_at"]);
    let put = app
        .json(
            Method::PUT,
            &path,
            &json!({"username": "Erin2", "email": "ERIN2@example.com"}),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text);
    let put = put.json();
    assert_eq!(put["username"], "Erin2");
    assert_eq!(put["email"], "erin2@example.com");
    assert_eq!(put["age"], 41, "PUT takes a subset too");
    assert_eq!(app.get(&path).await.json(), put);
}

#[tokio::test]
async fn null_clears_name_and_age() {
    let Some(app) = spawn_app().await else { return };
    let created = app.create(json!({"username": "fay", "email": "fay@example.com", "password": "orbit-tulip-1", "name": "Fay", "age": 20})).await;
    let path = format!("/users/{}", created["id"]);
    let cleared = app
        .patch(&path, &json!({"name": null, "age": null}))
        .await
        .json();
    assert_eq!(cleared["name"], json!(null));
    assert_eq!(cleared["age"], json!(null));
}

#[tokio::test]
async fn an_update_that_changes_nothing_keeps_updated_at() {
    let Some(app) = spawn_app().await else { return };
    let created = app.create(json!({"username": "gus", "email": "gus@example.com", "password": "orbit-tulip-1", "age": 5})).await;
    let path = format!("/users/{}", created["id"]);
    for body in [
        json!({}),
        json!({"username": "gus", "email": "GUS@example.com", "age": 5}),
    ] {
        let reply = app.patch(&path, &body).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(reply.json(), created);
    }
}

#[tokio::test]
async fn a_new_password_is_stored_hashed() {
    let Some(app) = spawn_app().await else { return };
    let created = app.create_user("hal").await;
    let path = format!("/users/{}", created["id"]);
    let reply = app.patch(&path, &json!({"password": "new password"})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert!(!reply.text.contains("new password"));
    let id = UserId::new(created["id"].as_i64().expect("id")).expect("positive");
    let stored = app
        .repository
        .find_by_id(id)
        .await
        .expect("read")
        .expect("stored");
    assert!(bcrypt::verify("new password", stored.password_hash.as_str()).expect("valid hash"));
}

#[tokio::test]
async fn delete_answers_204_then_the_user_is_gone() {
    let Some(app) = spawn_app().await else { return };
    let created = app.create_user("ivy").await;
    let path = format!("/users/{}", created["id"]);
    let reply = app.delete(&path).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert!(reply.text.is_empty());
    app.get(&path).await.problem(404, "not-found");
    app.delete(&path).await.problem(404, "not-found");
}

#[tokio::test]
async fn ids_are_not_reused_after_a_delete() {
    let Some(app) = spawn_app().await else { return };
    let first = app.create_user("jay").await;
    app.delete(&format!("/users/{}", first["id"])).await;
    let second = app.create_user("kim").await;
    assert!(second["id"].as_i64() > first["id"].as_i64());
}

#[tokio::test]
async fn the_signup_alias_creates_too() {
    let Some(app) = spawn_app().await else { return };
    let reply = app
        .post(
            "/users/signup",
            &json!({"username": "lee", "email": "lee@example.com", "password": "orbit-tulip-1"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    assert_eq!(
        reply.header("location"),
        Some(format!("/users/{}", reply.json()["id"]))
    );
}
