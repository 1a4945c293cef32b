//! The account lifecycle over HTTP (docs/api.md §2 lifecycle fields, §4 login order, §6 status and unlock).

use crate::helpers::{spawn_app, Reply, TestApp, ADMIN_USERNAME};
use serde_json::{json, Value};
use std::time::Duration;
use users_domain::Timestamp;

async fn login(app: &TestApp, username: &str, password: &str) -> Reply {
    app.anonymous().post("/auth/login", &json!({"username": username, "password": password})).await
}

/// Logs `username` in with `orbit-tulip-1`: the token pair.
async fn logged_in(app: &TestApp, username: &str) -> Value {
    let reply = login(app, username, "orbit-tulip-1").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json()
}

async fn refresh(app: &TestApp, pair: &Value) -> Reply {
    app.anonymous().post("/auth/refresh", &json!({"refresh_token": pair["refresh_token"]})).await
}

fn access(pair: &Value) -> &str {
    pair["access_token"].as_str().expect("access token")
}

fn path(user: &Value) -> String {
    format!("/users/{}", user["id"])
}

/// An RFC 3339 instant `secs` from now (negative: in the past).
fn from_now(secs: i64) -> String {
    Timestamp::from_datetime(Timestamp::now().as_datetime() + time::Duration::seconds(secs)).to_string()
}

async fn set(app: &TestApp, user: &Value, body: Value) -> Value {
    let reply = app.patch(&path(user), &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json()
}

#[tokio::test]
async fn a_new_user_is_active_unverified_and_a_login_sets_last_login_at_only() {
    let Some(app) = spawn_app().await else { return };
    let alice = app.create_user("alice").await;
    assert_eq!(alice["status"], "active");
    assert_eq!(alice["disabled_until"], Value::Null);
    assert_eq!(alice["email_verified"], false);
    assert_eq!(alice["last_login_at"], Value::Null);
    logged_in(&app, "alice").await;
    let read = app.get(&path(&alice)).await.json();
    let last_login = read["last_login_at"].as_str().expect("set by the login");
    assert!(Timestamp::parse_rfc3339(last_login).is_some_and(|t| t >= Timestamp::parse_rfc3339(
        alice["created_at"].as_str().expect("created_at")
    )
    .expect("valid")));
    assert_eq!(read["updated_at"], alice["updated_at"], "a login does not move updated_at");
    // The server sets it: a body naming it is refused.
    app.patch(&path(&alice), &json!({"last_login_at": from_now(0)})).await.invalid_fields(&["last_login_at"]);
}

#[tokio::test]
async fn only_an_admin_sets_status_disabled_until_or_email_verified_even_unchanged() {
    let Some(app) = spawn_app().await else { return };
    let alice = app.create_user("alice").await;
    let token = access(&logged_in(&app, "alice").await).to_owned();
    let own = app.with_token(&token);
    for body in [json!({"status": "active"}), json!({"email_verified": false}), json!({"status": "disabled"})] {
        own.patch(&path(&alice), &body).await.problem(403, "forbidden");
    }
    // The request's shape is checked first: a past end is a 400 even from someone who may not send it.
    own.patch(&path(&alice), &json!({"status": "disabled", "disabled_until": from_now(-60)}))
        .await
        .invalid_fields(&["disabled_until"]);
    for body in [json!({"status": "active"}), json!({"email_verified": false})] {
        let mut sign_up = json!({"username": "bob", "email": "bob@example.com", "password": "orbit-tulip-1"});
        sign_up.as_object_mut().expect("object").extend(body.as_object().expect("object").clone());
        app.anonymous().post("/users", &sign_up).await.problem(403, "forbidden");
        own.post("/users", &sign_up).await.problem(403, "forbidden");
    }
    // An admin may, at creation too.
    let until = from_now(3600);
    let carol = app
        .create(json!({"username": "carol", "email": "carol@example.com", "password": "orbit-tulip-1",
                       "status": "disabled", "disabled_until": until, "email_verified": true}))
        .await;
    assert_eq!(carol["status"], "disabled");
    assert_eq!(carol["disabled_until"], until);
    assert_eq!(carol["email_verified"], true);
    login(&app, "carol", "orbit-tulip-1").await.problem(403, "account-disabled");
}

#[tokio::test]
async fn bad_status_and_disabled_until_are_400_naming_the_field() {
    let Some(app) = spawn_app().await else { return };
    let alice = app.create_user("alice").await;
    let cases = [
        (json!({"status": "banned"}), "status"),
        (json!({"status": "disabled", "disabled_until": from_now(-1)}), "disabled_until"),
        (json!({"status": "disabled", "disabled_until": "tomorrow"}), "disabled_until"),
        (json!({"status": "active", "disabled_until": from_now(60)}), "disabled_until"),
        (json!({"disabled_until": from_now(60)}), "disabled_until"),
        (json!({"email_verified": "yes"}), "email_verified"),
    ];
    for (body, field) in cases {
        app.patch(&path(&alice), &body).await.invalid_fields(&[field]);
    }
    assert_eq!(app.get(&path(&alice)).await.json(), alice, "nothing changed");
}

#[tokio::test]
async fn disabling_ends_every_session_and_a_login_is_refused_after_the_password() {
    let Some(app) = spawn_app().await else { return };
    let alice = app.create_user("alice").await;
    let pair = logged_in(&app, "alice").await;
    let other_session = logged_in(&app, "alice").await;
    let disabled = set(&app, &alice, json!({"status": "disabled"})).await;
    assert_eq!(disabled["status"], "disabled");
    assert_eq!(disabled["disabled_until"], Value::Null);
    let me = app.with_token(access(&pair)).get("/users/me").await;
    me.problem(401, "unauthorized");
    refresh(&app, &pair).await.problem(401, "unauthorized");
    refresh(&app, &other_session).await.problem(401, "unauthorized");
    let refused = login(&app, "alice", "orbit-tulip-1").await;
    refused.problem(403, "account-disabled");
    let by_email =
        app.anonymous().post("/auth/login", &json!({"email": "alice@example.com", "password": "orbit-tulip-1"})).await;
    by_email.problem(403, "account-disabled");
    login(&app, "alice", "wrong password").await.problem(401, "unauthorized");
    // Re-enabled: logins work again; the sessions ended by the disable stay ended.
    let enabled = set(&app, &alice, json!({"status": "active"})).await;
    assert_eq!(enabled["status"], "active");
    logged_in(&app, "alice").await;
    refresh(&app, &other_session).await.problem(401, "unauthorized");
}

#[tokio::test]
async fn a_refused_login_of_a_disabled_account_neither_counts_nor_clears_failures() {
    let Some(app) = spawn_app().await else { return };
    let alice = app.create_user("alice").await;
    for _ in 0..4 {
        login(&app, "alice", "wrong password").await.problem(401, "unauthorized");
    }
    set(&app, &alice, json!({"status": "disabled"})).await;
    let before = app.get(&path(&alice)).await.json()["last_login_at"].clone();
    for _ in 0..3 {
        login(&app, "alice", "orbit-tulip-1").await.problem(403, "account-disabled");
    }
    assert_eq!(app.get(&path(&alice)).await.json()["last_login_at"], before, "a 403 sets no last_login_at");
    // The fifth failure locks: the 403s did not clear the four before.
    login(&app, "alice", "wrong password").await.problem(401, "unauthorized");
    let locked = login(&app, "alice", "orbit-tulip-1").await;
    locked.problem(429, "rate-limited");
    assert!(locked.header("retry-after").is_some());
}

#[tokio::test]
async fn a_ban_with_an_end_lifts_itself() {
    let Some(app) = spawn_app().await else { return };
    let alice = app.create_user("alice").await;
    let until = from_now(2);
    let banned = set(&app, &alice, json!({"status": "disabled", "disabled_until": until})).await;
    assert_eq!((banned["status"].as_str(), banned["disabled_until"].as_str()), (Some("disabled"), Some(until.as_str())));
    login(&app, "alice", "orbit-tulip-1").await.problem(403, "account-disabled");
    let disabled = app.get("/users?status=disabled").await;
    assert_eq!(disabled.header("x-total-count").as_deref(), Some("1"));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let read = app.get(&path(&alice)).await.json();
    assert_eq!((read["status"].as_str(), &read["disabled_until"]), (Some("active"), &Value::Null));
    logged_in(&app, "alice").await;
    let disabled = app.get("/users?status=disabled").await;
    assert_eq!(disabled.header("x-total-count").as_deref(), Some("0"));
    assert_eq!(disabled.json(), json!([]));
}

#[tokio::test]
async fn the_last_active_admin_cannot_be_disabled_deleted_or_demoted() {
    let Some(app) = spawn_app().await else { return };
    let root = app.get("/users/me").await.json();
    app.patch(&path(&root), &json!({"status": "disabled"})).await.problem(409, "conflict");
    let second = app
        .create(json!({"username": "second", "email": "second@example.com", "password": "orbit-tulip-1", "role": "admin",
                       "status": "disabled"}))
        .await;
    // A disabled admin does not count.
    app.patch(&path(&root), &json!({"status": "disabled"})).await.problem(409, "conflict");
    app.patch(&path(&root), &json!({"role": "user"})).await.problem(409, "conflict");
    app.delete(&path(&root)).await.problem(409, "conflict");
    assert_eq!(app.get("/users/me").await.json(), root, "nothing changed");
    // Once the second is active again, either may be disabled, not both.
    set(&app, &second, json!({"status": "active"})).await;
    let as_second = access(&logged_in(&app, "second").await).to_owned();
    set(&app, &root, json!({"status": "disabled", "disabled_until": from_now(3600)})).await;
    let second_client = app.with_token(&as_second);
    second_client.patch(&path(&second), &json!({"status": "disabled"})).await.problem(409, "conflict");
    // The permission check comes before existence, existence before the conflict.
    let missing = second_client.patch("/users/999999", &json!({"status": "disabled"})).await;
    missing.problem(404, "not-found");
}

#[tokio::test]
async fn the_listing_filters_by_status() {
    let Some(app) = spawn_app().await else { return };
    let alice = app.create_user("alice").await;
    let bob = app.create_user("bob").await;
    app.create_user("carol").await;
    set(&app, &alice, json!({"status": "disabled"})).await;
    set(&app, &bob, json!({"status": "disabled", "disabled_until": from_now(3600)})).await;
    let names = |reply: &Reply| -> Vec<String> {
        reply.json().as_array().expect("array").iter().map(|u| u["username"].as_str().expect("name").to_owned()).collect()
    };
    let disabled = app.get("/users?status=disabled&limit=1").await;
    assert_eq!(disabled.status, 200, "{}", disabled.text);
    assert_eq!(names(&disabled), ["alice"]);
    assert_eq!(disabled.header("x-total-count").as_deref(), Some("2"));
    let link = disabled.header("link").expect("Link");
    assert!(link.contains("status=disabled"), "{link}");
    let active = app.get("/users?status=active").await;
    assert_eq!(names(&active), [ADMIN_USERNAME, "carol"]);
    assert_eq!(active.header("x-total-count").as_deref(), Some("2"));
    let combined = app.get("/users?status=disabled&q=BO").await;
    assert_eq!(names(&combined), ["bob"]);
    app.get("/users?status=banned").await.invalid_fields(&["status"]);
}

#[tokio::test]
async fn an_email_change_resets_email_verified_unless_the_request_sets_it() {
    let Some(app) = spawn_app().await else { return };
    let alice = app.create_user("alice").await;
    assert_eq!(set(&app, &alice, json!({"email_verified": true})).await["email_verified"], true);
    let token = access(&logged_in(&app, "alice").await).to_owned();
    let changed = app.with_token(&token).patch(&path(&alice), &json!({"email": "alice2@example.com", "current_password": "orbit-tulip-1"})).await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    assert_eq!(changed.json()["email_verified"], false);
    let kept = set(&app, &alice, json!({"email": "alice3@example.com", "email_verified": true})).await;
    assert_eq!(kept["email_verified"], true);
    // The same address in another case is no change.
    let same = set(&app, &alice, json!({"email": "ALICE3@example.com"})).await;
    assert_eq!(same["email_verified"], true);
}

#[tokio::test]
async fn an_admin_clears_a_lockout() {
    let Some(app) = spawn_app().await else { return };
    let alice = app.create_user("alice").await;
    let bob = app.create_user("bob").await;
    let bobs_token = access(&logged_in(&app, "bob").await).to_owned();
    for _ in 0..5 {
        login(&app, "alice", "wrong password").await.problem(401, "unauthorized");
    }
    login(&app, "alice", "orbit-tulip-1").await.problem(429, "rate-limited");
    let unlock = format!("{}/lockout", path(&alice));
    app.with_token(&bobs_token).delete(&unlock).await.problem(403, "forbidden");
    app.with_token(&bobs_token).delete(&format!("{}/lockout", path(&bob))).await.problem(403, "forbidden");
    app.anonymous().delete(&unlock).await.problem(401, "unauthorized");
    app.delete("/users/999999/lockout").await.problem(404, "not-found");
    app.delete("/users/abc/lockout").await.invalid_fields(&["id"]);
    login(&app, "alice", "orbit-tulip-1").await.problem(429, "rate-limited");
    let cleared = app.delete(&unlock).await;
    assert_eq!(cleared.status, 204, "{}", cleared.text);
    assert!(cleared.text.is_empty());
    logged_in(&app, "alice").await;
    // Under /api too; and it is idempotent.
    assert_eq!(app.delete(&format!("/api{unlock}")).await.status, 204);
    // By email: the same count.
    for _ in 0..5 {
        let body = json!({"email": "alice@example.com", "password": "wrong password"});
        app.anonymous().post("/auth/login", &body).await.problem(401, "unauthorized");
    }
    login(&app, "alice", "orbit-tulip-1").await.problem(429, "rate-limited");
    assert_eq!(app.delete(&unlock).await.status, 204);
    logged_in(&app, "alice").await;
}

#[tokio::test]
async fn a_login_racing_a_disable_yields_no_token_that_works_after_it() {
    let Some(app) = spawn_app().await else { return };
    let alice = app.create_user("alice").await;
    let app = std::sync::Arc::new(app);
    let logins: Vec<_> = (0..12)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(3 * i)).await;
                login(&app, "alice", "orbit-tulip-1").await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(15)).await;
    set(&app, &alice, json!({"status": "disabled"})).await;
    let mut succeeded = 0;
    for attempt in logins {
        let reply = attempt.await.expect("task");
        match reply.status.as_u16() {
            200 => {
                succeeded += 1;
                let pair = reply.json();
                app.with_token(access(&pair)).get("/users/me").await.problem(401, "unauthorized");
                refresh(&app, &pair).await.problem(401, "unauthorized");
            }
            401 => {} // its check raced the disable: no session began
            403 => {}
            other => panic!("unexpected {other}: {}", reply.text),
        }
    }
    eprintln!("{succeeded} logins succeeded before or during the disable");
}

#[tokio::test]
async fn logins_refused_because_disabled_are_counted() {
    let Some(app) = spawn_app().await else { return };
    let alice = app.create_user("alice").await;
    set(&app, &alice, json!({"status": "disabled"})).await;
    login(&app, "alice", "orbit-tulip-1").await.problem(403, "account-disabled");
    let metrics = app.get("/metrics").await.text;
    assert!(metrics.lines().any(|l| l == r#"logins_total{outcome="disabled"} 1"#), "{metrics}");
}

#[tokio::test]
async fn the_document_describes_the_lifecycle() {
    let Some(app) = spawn_app().await else { return };
    let doc = app.get("/openapi.json").await.json();
    let user = &doc["components"]["schemas"]["User"];
    for field in ["status", "disabled_until", "email_verified", "last_login_at"] {
        assert!(user["required"].as_array().expect("required").contains(&json!(field)), "{field}");
    }
    assert_eq!(user["properties"]["disabled_until"]["nullable"], true);
    assert_eq!(user["properties"]["last_login_at"]["nullable"], true);
    let status_param = doc["paths"]["/users"]["get"]["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .find(|p| p["name"] == "status")
        .expect("status filter")
        .clone();
    assert_eq!(status_param["schema"]["enum"], json!(["active", "disabled"]));
    let unlock = &doc["paths"]["/users/{id}/lockout"]["delete"];
    assert_eq!(unlock["operationId"], "clearLockout");
    assert!(unlock["responses"]["204"].is_object(), "{unlock}");
    assert!(doc["paths"]["/auth/login"]["post"]["responses"]["403"].is_object());
    for name in ["NewUser", "UserUpdate"] {
        let schema = &doc["components"]["schemas"][name]["properties"];
        assert!(schema["status"].is_object() && schema["email_verified"].is_object(), "{name}");
        assert_eq!(schema["disabled_until"]["nullable"], true, "{name}");
    }
}
