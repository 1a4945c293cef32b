//! Login names and passwords match only as sign-up would have accepted them (docs/api.md §2, §4), and concurrent
//! logins with the right password all succeed.

use crate::helpers::spawn_app;
use serde_json::json;
use std::sync::Arc;

const KELVIN_SIGN: char = '\u{212A}';

#[tokio::test]
async fn a_name_with_a_look_alike_character_is_not_the_ascii_name() {
    let Some(app) = spawn_app().await else { return };
    app.create(json!({"username": "kelvin", "email": "kelvin@example.com", "password": "orbit-tulip-1"})).await;
    let look_alike = format!("{KELVIN_SIGN}elvin");
    for body in [
        json!({"username": look_alike, "password": "orbit-tulip-1"}),
        json!({"email": format!("{look_alike}@example.com"), "password": "orbit-tulip-1"}),
    ] {
        app.anonymous().post("/auth/login", &body).await.problem(401, "unauthorized");
    }
    let ascii = app.anonymous().post("/auth/login", &json!({"username": "KELVIN", "password": "orbit-tulip-1"})).await;
    assert_eq!(ascii.status, 200, "{}", ascii.text);
    let encoded = "%E2%84%AAelvin"; // the KELVIN SIGN, percent-encoded
    for filter in [format!("username={encoded}"), format!("email={encoded}%40example.com"), format!("q={encoded}")] {
        let listed = app.get(&format!("/users?{filter}")).await;
        assert_eq!(listed.status, 200, "{}", listed.text);
        assert_eq!(listed.header("x-total-count").as_deref(), Some("0"), "{filter}: {}", listed.text);
    }
    let listed = app.get("/users?username=KELVIN").await;
    assert_eq!(listed.header("x-total-count").as_deref(), Some("1"));
}

#[tokio::test]
async fn a_password_with_a_nul_is_refused_everywhere() {
    let Some(app) = spawn_app().await else { return };
    let body = json!({"username": "alice", "email": "alice@example.com", "password": "Secret12\u{0}Secret12"});
    app.anonymous().post("/users", &body).await.invalid_fields(&["password"]);
    app.create(json!({"username": "alice", "email": "alice@example.com", "password": "Secret12"})).await;
    let login = json!({"username": "alice", "password": "Secret12\u{0}Secret12"});
    app.anonymous().post("/auth/login", &login).await.invalid_fields(&["password"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_concurrent_logins_with_the_right_password_all_succeed() {
    let Some(app) = spawn_app().await.map(Arc::new) else { return };
    app.create_user("alice").await;
    for round in 0..3 {
        let logins: Vec<_> = (0..8)
            .map(|_| {
                let app = app.clone();
                tokio::spawn(async move {
                    app.anonymous().post("/auth/login", &json!({"username": "alice", "password": "orbit-tulip-1"})).await
                })
            })
            .collect();
        for login in logins {
            let reply = login.await.expect("task");
            assert_eq!(reply.status, 200, "round {round}: {}", reply.text);
        }
    }
}
