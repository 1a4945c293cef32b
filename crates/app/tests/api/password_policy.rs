//! The password policy (docs/api.md §7) at sign-up and update: 400 naming `password` with the reason, nothing
//! changed; the minimum length setting; the breached-password check against a fake range API.

use crate::helpers::{spawn_app, spawn_app_with, Reply};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Asserts a 400 naming only `password`, with this message.
fn refused_password(reply: &Reply, message: &str) {
    reply.invalid_fields(&["password"]);
    assert_eq!(reply.json()["errors"][0]["message"], message, "{}", reply.text);
}

fn sign_up(username: &str, password: &str) -> Value {
    json!({"username": username, "email": format!("{username}.w@example.com"), "password": password})
}

#[tokio::test]
async fn sign_up_refuses_common_passwords_and_the_users_own_names_and_stores_nothing() {
    let Some(app) = spawn_app().await else { return };
    let anonymous = app.anonymous();
    let cases = [
        (sign_up("alice", "password123"), "is one of the 10,000 most common passwords"),
        (sign_up("alice", "PASSWORD123"), "is one of the 10,000 most common passwords"),
        (sign_up("margaret", "MARGARET"), "must not be the username"),
        (sign_up("margaret", "Margaret.W"), "must not be the email address or its part before the @"),
        (sign_up("margaret", "margaret.w@EXAMPLE.com"), "must not be the email address or its part before the @"),
        (sign_up("margaret", "ééçç"), "must be at least 8 characters long"),
    ];
    for (body, message) in cases {
        refused_password(&anonymous.post("/users", &body).await, message);
    }
    assert_eq!(app.count().await, 0, "nothing stored");
    let created = anonymous.post("/users", &sign_up("margaret", "margaret-hamilton-1969")).await;
    assert_eq!(created.status, 201, "containing the username is fine: {}", created.text);
}

#[tokio::test]
async fn an_update_refuses_a_weak_password_and_changes_nothing() {
    let Some(app) = spawn_app().await else { return };
    let user = app.create(sign_up("grace", "orbit-tulip-1")).await;
    let path = format!("/users/{}", user["id"]);
    let token = app.login("grace", "orbit-tulip-1").await;
    let own = app.with_token(&token);
    let common = own.patch(&path, &json!({"password": "iloveyou1", "current_password": "orbit-tulip-1"})).await;
    refused_password(&common, "is one of the 10,000 most common passwords");
    // Judged against the username the same request sets.
    let renamed = json!({"username": "Hopper-G", "password": "hopper-g", "current_password": "orbit-tulip-1"});
    refused_password(&own.patch(&path, &renamed).await, "must not be the username");
    // An admin resetting the password meets the policy too.
    refused_password(&app.patch(&path, &json!({"password": "GRACE.W@EXAMPLE.COM"})).await, "must not be the email address or its part before the @");
    let unchanged = app.get(&path).await.json();
    assert_eq!(unchanged, user, "nothing changed");
    app.login("grace", "orbit-tulip-1").await;
    // A refused new password never checked current_password: no failures were counted toward a lockout.
    for _ in 0..6 {
        let reply = own.patch(&path, &json!({"password": "password", "current_password": "wrong"})).await;
        refused_password(&reply, "is one of the 10,000 most common passwords");
    }
    app.login("grace", "orbit-tulip-1").await;
}

#[tokio::test]
async fn the_minimum_length_is_configurable_in_characters() {
    // 13: the bootstrap admin's password ("root password") has exactly that many.
    let Some(app) = spawn_app_with(|url| url, &[("APP__AUTH__PASSWORD_MIN_LENGTH", "13")]).await else { return };
    let anonymous = app.anonymous();
    refused_password(
        &anonymous.post("/users", &sign_up("ada", "tulip-orbit9")).await,
        "must be at least 13 characters long",
    );
    // 13 characters in 25 bytes.
    let accepted = anonymous.post("/users", &sign_up("ada", "éééééé-çççççç")).await;
    assert_eq!(accepted.status, 201, "{}", accepted.text);
}

/// A fake Have I Been Pwned range API on loopback: answers every range with `body`, or never answers.
async fn fake_range_api(body: Option<&'static str>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bound");
    let url = format!("http://{}/range/", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let Some(body) = body else {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    return;
                };
                let reply = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
                let _ = stream.write_all(reply.as_bytes()).await;
            });
        }
    });
    url
}

/// A breached password, and the range API's answer for its prefix (3D5E3): its suffix (SHA-1 3D5E3A287DCECA2C12581AD09B05A4D2B9023366), another
/// suffix, and a padding line.
const BREACHED: &str = "tulip-orbit-42";
const RANGE: &str = "0018A45C4D1DEF81644B54AB7F969B88D65:3\r\nA287DCECA2C12581AD09B05A4D2B9023366:17\r\nFFFFF45C4D1DEF81644B54AB7F969B88D65:0\r\n";

#[tokio::test]
async fn a_breached_password_is_refused_and_others_pass() {
    let url = fake_range_api(Some(RANGE)).await;
    let check = [("APP__AUTH__BREACHED_PASSWORD_CHECK", "hibp"), ("APP__AUTH__HIBP_URL", url.as_str())];
    let Some(app) = spawn_app_with(|url| url, &check).await else { return };
    let anonymous = app.anonymous();
    refused_password(&anonymous.post("/users", &sign_up("ada", BREACHED)).await, "has appeared in a data breach; choose another");
    assert_eq!(app.count().await, 0);
    let accepted = anonymous.post("/users", &sign_up("ada", "tulip-orbit-43")).await;
    assert_eq!(accepted.status, 201, "{}", accepted.text);
}

#[tokio::test]
async fn a_range_api_that_never_answers_lets_the_password_through_after_2_s() {
    let url = fake_range_api(None).await;
    let check = [("APP__AUTH__BREACHED_PASSWORD_CHECK", "hibp"), ("APP__AUTH__HIBP_URL", url.as_str())];
    let Some(app) = spawn_app_with(|url| url, &check).await else { return };
    let started = Instant::now();
    let accepted = app.anonymous().post("/users", &sign_up("ada", BREACHED)).await;
    let waited = started.elapsed();
    assert_eq!(accepted.status, 201, "fails open: {}", accepted.text);
    assert!(waited >= Duration::from_millis(1900) && waited < Duration::from_secs(5), "{waited:?}");
}
