//! Races an attacker can arrange around a password change (docs/api.md §4): a login that checked the old password, or
//! a refresh that spent a token, while the change ran must not yield a token that works once the change returned.
//! Each test runs 25 rounds with the requests on tasks of their own: many interleavings, by the scheduler's
//! timing, not an enumeration of them.

use crate::helpers::{spawn_app, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;

const ROUNDS: usize = 25;

/// A pair `(access, refresh)` from a login reply.
fn pair(reply: &Value) -> (String, String) {
    let field = |name: &str| reply[name].as_str().expect(name).to_owned();
    (field("access_token"), field("refresh_token"))
}

/// Asserts that neither token of `pair` works now.
async fn assert_dead(app: &TestApp, (access, refresh): &(String, String), what: &str) {
    let me = app.with_token(access).get("/users/me").await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED, "{what}: its access token still works: {}", me.text);
    let refreshed = app.anonymous().post("/auth/refresh", &json!({ "refresh_token": refresh })).await;
    assert_eq!(refreshed.status, StatusCode::UNAUTHORIZED, "{what}: its refresh token still works: {}", refreshed.text);
}

/// One round: a login with the old password and a refresh of an older session, started together with the
/// password change (each request on a task of its own, so every interleaving can happen).
async fn race_one_change(app: &Arc<TestApp>, round: usize, change_by_admin: bool) {
    let username = format!("racer{round}");
    let user = app.create_user(&username).await;
    let id = user["id"].as_i64().expect("id");
    let login = json!({"username": username, "password": "orbit-tulip-1"});
    let before = app.anonymous().post("/auth/login", &login).await;
    assert_eq!(before.status, StatusCode::OK, "{}", before.text);
    let (own_access, older_refresh) = pair(&before.json());

    let change = {
        let app = app.clone();
        let (token, body) = match change_by_admin {
            true => (app.token.clone().expect("admin token"), json!({"password": "orbit-tulip-2"})),
            false => (own_access.clone(), json!({"password": "orbit-tulip-2", "current_password": "orbit-tulip-1"})),
        };
        tokio::spawn(async move { app.with_token(&token).patch(&format!("/users/{id}"), &body).await })
    };
    let racing_login = {
        let app = app.clone();
        tokio::spawn(async move { app.anonymous().post("/auth/login", &login).await })
    };
    let racing_refresh = {
        let app = app.clone();
        let body = json!({ "refresh_token": older_refresh });
        tokio::spawn(async move { app.anonymous().post("/auth/refresh", &body).await })
    };
    let changed = change.await.expect("task");
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    for (what, reply) in [("login", racing_login.await.expect("task")), ("refresh", racing_refresh.await.expect("task"))]
    {
        match reply.status {
            StatusCode::OK => assert_dead(app, &pair(&reply.json()), what).await,
            StatusCode::UNAUTHORIZED => {}
            other => panic!("{what}: unexpected {other}: {}", reply.text),
        }
    }
    // The new password still works.
    let after = app.anonymous().post("/auth/login", &json!({"username": username, "password": "orbit-tulip-2"})).await;
    assert_eq!(after.status, StatusCode::OK, "{}", after.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_login_or_refresh_racing_an_own_password_change_outlives_it() {
    let Some(app) = spawn_app().await.map(Arc::new) else { return };
    for round in 0..ROUNDS {
        race_one_change(&app, round, false).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_login_or_refresh_racing_an_admin_reset_outlives_it() {
    let Some(app) = spawn_app().await.map(Arc::new) else { return };
    for round in 0..ROUNDS {
        race_one_change(&app, round, true).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_login_or_refresh_racing_a_delete_outlives_it() {
    let Some(app) = spawn_app().await.map(Arc::new) else { return };
    for round in 0..ROUNDS {
        let username = format!("doomed{round}");
        let id = app.create_user(&username).await["id"].as_i64().expect("id");
        let login = json!({"username": username, "password": "orbit-tulip-1"});
        let older = pair(&app.anonymous().post("/auth/login", &login).await.json());
        let delete = {
            let app = app.clone();
            tokio::spawn(async move { app.delete(&format!("/users/{id}")).await })
        };
        let racing_login = {
            let app = app.clone();
            tokio::spawn(async move { app.anonymous().post("/auth/login", &login).await })
        };
        let racing_refresh = {
            let app = app.clone();
            let body = json!({ "refresh_token": older.1 });
            tokio::spawn(async move { app.anonymous().post("/auth/refresh", &body).await })
        };
        assert_eq!(delete.await.expect("task").status, StatusCode::NO_CONTENT);
        for (what, reply) in
            [("login", racing_login.await.expect("task")), ("refresh", racing_refresh.await.expect("task"))]
        {
            match reply.status {
                StatusCode::OK => assert_dead(&app, &pair(&reply.json()), what).await,
                StatusCode::UNAUTHORIZED => {}
                other => panic!("{what}: unexpected {other}: {}", reply.text),
            }
        }
    }
}
