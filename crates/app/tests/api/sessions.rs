//! Sessions and the refresh grace (docs/api.md §6): listing and revoking a user's sessions, a revoked session's
//! access tokens ending at once (on every instance), and refreshes repeated within the grace converging on one chain.

use crate::helpers::{spawn_app, spawn_app_with, spawn_second_instance, TestApp, NO_REFRESH_GRACE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;

/// A login of `username` (password `orbit-tulip-1`) from a client with this `User-Agent`: its token pair.
async fn login_as(app: &TestApp, username: &str, user_agent: &str) -> Value {
    let body = serde_json::to_vec(&json!({"username": username, "password": "orbit-tulip-1"})).expect("json");
    let reply = app
        .anonymous()
        .send(Method::POST, "/auth/login", Some(("application/json", body)), &[("User-Agent", user_agent)])
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.json()
}

fn access(pair: &Value) -> String {
    pair["access_token"].as_str().expect("access token").to_owned()
}

fn refresh_token(pair: &Value) -> String {
    pair["refresh_token"].as_str().expect("refresh token").to_owned()
}

/// The session id an access token carries (its `sid` claim).
fn sid(pair: &Value) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let claims = access(pair).split('.').nth(1).map(str::to_owned).expect("claims");
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).expect("base64url")).expect("json");
    claims["sid"].as_str().expect("sid").to_owned()
}

async fn refresh(app: &TestApp, token: &str) -> crate::helpers::Reply {
    app.anonymous().post("/auth/refresh", &json!({ "refresh_token": token })).await
}

/// A user `username` with two sessions: the older one from a laptop, the newer from a phone.
async fn user_with_two_sessions(app: &TestApp, username: &str) -> (i64, Value, Value) {
    let id = app.create_user(username).await["id"].as_i64().expect("id");
    let laptop = login_as(app, username, "Laptop/1.0").await;
    let phone = login_as(app, username, "Phone/2.0").await;
    (id, laptop, phone)
}

fn session_ids(list: &Value) -> Vec<String> {
    list.as_array().expect("array").iter().map(|s| s["id"].as_str().expect("id").to_owned()).collect()
}

/// The access token works (200) or not (401) on the route that reads the caller alone and on the one that reads
/// the caller together with a user.
async fn assert_access(app: &TestApp, pair: &Value, id: i64, expected: StatusCode, what: &str) {
    for path in ["/users/me".to_owned(), format!("/users/{id}")] {
        let reply = app.with_token(&access(pair)).get(&path).await;
        assert_eq!(reply.status, expected, "{what}: {path}: {}", reply.text);
    }
}

#[tokio::test]
async fn sessions_are_listed_newest_first_with_their_client_and_the_current_one_marked() {
    let Some(app) = spawn_app().await else { return };
    let (id, laptop, _) = user_with_two_sessions(&app, "alice").await;
    let long_agent = format!("Tablet/{}", "x".repeat(300));
    let tablet = login_as(&app, "alice", &long_agent).await;
    // The laptop refreshes after an update: last used and its client move, created does not, and the order stays
    // by creation.
    let body = serde_json::to_vec(&json!({ "refresh_token": refresh_token(&laptop) })).expect("json");
    let laptop = app
        .anonymous()
        .send(Method::POST, "/auth/refresh", Some(("application/json", body)), &[("User-Agent", "Laptop/1.1")])
        .await
        .json();

    let reply = app.with_token(&access(&tablet)).get(&format!("/users/{id}/sessions")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.header("cache-control").as_deref(), Some("no-store"));
    let list = reply.json();
    let sessions = list.as_array().expect("array");
    assert_eq!(sessions.len(), 3);
    assert_eq!(sessions[0]["id"], sid(&tablet), "newest first");
    assert_eq!(sessions[2]["id"], sid(&laptop));
    let agents: Vec<&str> = sessions.iter().map(|s| s["user_agent"].as_str().expect("agent")).collect();
    assert_eq!(agents[0].chars().count(), 256, "cut to 256 characters");
    assert_eq!(&agents[1..], ["Phone/2.0", "Laptop/1.1"]);
    let current: Vec<bool> = sessions.iter().map(|s| s["current"].as_bool().expect("current")).collect();
    assert_eq!(current, [true, false, false]);
    for session in sessions {
        assert_eq!(session["ip"], "127.0.0.1");
        let keys: Vec<&String> = session.as_object().expect("object").keys().collect();
        assert_eq!(keys.len(), 7, "{keys:?}");
        for field in ["created_at", "last_used_at", "expires_at"] {
            let at = session[field].as_str().expect(field);
            assert!(at.ends_with('Z') && at.split('.').nth(1).is_some_and(|f| f.len() == 7), "{field}: {at}");
        }
        assert!(session["expires_at"].as_str() > session["last_used_at"].as_str());
    }
    assert!(sessions[2]["last_used_at"].as_str() > sessions[2]["created_at"].as_str(), "the refresh moved it");

    // The admin may look; another user may not; a missing user is 404 to the admin; a bad id is 400.
    assert_eq!(session_ids(&app.get(&format!("/users/{id}/sessions")).await.json()).len(), 3);
    app.create_user("bob").await;
    let bob = login_as(&app, "bob", "Bob/1").await;
    app.with_token(&access(&bob)).get(&format!("/users/{id}/sessions")).await.problem(403, "forbidden");
    app.get("/users/424242/sessions").await.problem(404, "not-found");
    app.get("/users/abc/sessions").await.invalid_fields(&["id"]);
    assert_eq!(app.anonymous().get(&format!("/users/{id}/sessions")).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn revoking_a_session_ends_its_access_and_refresh_tokens_at_once_and_no_other() {
    let Some(app) = spawn_app().await else { return };
    let (id, laptop, phone) = user_with_two_sessions(&app, "alice").await;
    assert_access(&app, &laptop, id, StatusCode::OK, "before").await;
    let path = format!("/users/{id}/sessions/{}", sid(&laptop));
    let revoked = app.with_token(&access(&phone)).delete(&path).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.text);
    assert_access(&app, &laptop, id, StatusCode::UNAUTHORIZED, "revoked").await;
    refresh(&app, &refresh_token(&laptop)).await.problem(401, "unauthorized");
    assert_access(&app, &phone, id, StatusCode::OK, "the other session").await;
    assert_eq!(session_ids(&app.get(&format!("/users/{id}/sessions")).await.json()), [sid(&phone)]);

    // Not live any more, not this user's, or not a session id at all.
    app.with_token(&access(&phone)).delete(&path).await.problem(404, "not-found");
    app.create_user("bob").await;
    let bob = login_as(&app, "bob", "Bob/1").await;
    let bobs_path = format!("/users/{id}/sessions/{}", sid(&bob));
    app.with_token(&access(&phone)).delete(&bobs_path).await.problem(404, "not-found");
    app.with_token(&access(&bob)).delete(&format!("/users/{id}/sessions/{}", sid(&phone))).await.problem(403, "forbidden");
    app.with_token(&access(&phone)).delete(&format!("/users/{id}/sessions/a%20b")).await.invalid_fields(&["sid"]);
    assert_access(&app, &bob, id + 1, StatusCode::OK, "bob's session").await;
    // An admin revokes a user's session.
    let by_admin = app.delete(&format!("/users/{id}/sessions/{}", sid(&phone))).await;
    assert_eq!(by_admin.status, StatusCode::NO_CONTENT, "{}", by_admin.text);
    assert_access(&app, &phone, id, StatusCode::UNAUTHORIZED, "revoked by an admin").await;
}

#[tokio::test]
async fn deleting_every_session_keeps_the_callers_own_only_when_asked() {
    let Some(app) = spawn_app().await else { return };
    let (id, laptop, phone) = user_with_two_sessions(&app, "alice").await;
    let tablet = login_as(&app, "alice", "Tablet/3").await;
    let all = format!("/users/{id}/sessions");
    let caller = app.with_token(&access(&tablet));
    caller.delete(&format!("{all}?except=someone")).await.invalid_fields(&["except"]);
    caller.delete(&format!("{all}?keep=current")).await.invalid_fields(&["keep"]);
    assert_eq!(caller.delete(&format!("{all}?except=current")).await.status, StatusCode::NO_CONTENT);
    for (what, pair) in [("laptop", &laptop), ("phone", &phone)] {
        assert_access(&app, pair, id, StatusCode::UNAUTHORIZED, what).await;
        refresh(&app, &refresh_token(pair)).await.problem(401, "unauthorized");
    }
    assert_access(&app, &tablet, id, StatusCode::OK, "kept").await;
    assert_eq!(session_ids(&caller.get(&all).await.json()), [sid(&tablet)]);
    assert_eq!(caller.delete(&all).await.status, StatusCode::NO_CONTENT);
    assert_access(&app, &tablet, id, StatusCode::UNAUTHORIZED, "the caller's own too").await;
    assert_eq!(session_ids(&app.get(&all).await.json()), Vec::<String>::new());
}

#[tokio::test]
async fn logout_ends_its_sessions_access_tokens_at_once_and_is_counted() {
    let Some(app) = spawn_app().await else { return };
    let (id, laptop, phone) = user_with_two_sessions(&app, "alice").await;
    let count = |text: &str| {
        text.lines()
            .filter(|l| l.starts_with("sessions_revoked_total{") && l.contains("reason=\"logout\""))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    let before = count(&app.get("/metrics").await.text);
    let body = json!({ "refresh_token": refresh_token(&laptop) });
    assert_eq!(app.anonymous().post("/auth/logout", &body).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.anonymous().post("/auth/logout", &body).await.status, StatusCode::NO_CONTENT, "idempotent");
    assert_access(&app, &laptop, id, StatusCode::UNAUTHORIZED, "logged out").await;
    assert_access(&app, &phone, id, StatusCode::OK, "another session").await;
    assert_eq!(count(&app.get("/metrics").await.text) - before, 1.0, "one session ended");
}

#[tokio::test]
async fn within_the_grace_a_spent_token_gets_the_same_new_token_and_an_older_one_is_reuse() {
    let Some(app) = spawn_app().await else { return };
    let (id, laptop, _) = user_with_two_sessions(&app, "alice").await;
    let first = refresh_token(&laptop);
    let rotated = refresh(&app, &first).await.json();
    let again = refresh(&app, &first).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    let again = again.json();
    assert_eq!(refresh_token(&again), refresh_token(&rotated), "the same new refresh token");
    assert_eq!(sid(&again), sid(&laptop), "the same session");
    assert_access(&app, &again, id, StatusCode::OK, "its fresh access token").await;
    // The chain moves on: the first token is now older than the last one spent, so it is reuse.
    let third = refresh(&app, &refresh_token(&rotated)).await.json();
    refresh(&app, &first).await.problem(401, "unauthorized");
    refresh(&app, &refresh_token(&third)).await.problem(401, "unauthorized");
    assert_access(&app, &third, id, StatusCode::UNAUTHORIZED, "the family is revoked").await;
}

#[tokio::test]
async fn a_revoked_family_has_no_grace() {
    let Some(app) = spawn_app().await else { return };
    let (_, laptop, _) = user_with_two_sessions(&app, "alice").await;
    let first = refresh_token(&laptop);
    let rotated = refresh(&app, &first).await.json();
    let logout = app.anonymous().post("/auth/logout", &json!({ "refresh_token": refresh_token(&rotated) })).await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    refresh(&app, &first).await.problem(401, "unauthorized");
}

#[tokio::test]
async fn after_the_grace_or_without_one_a_spent_token_is_reuse() {
    let Some(short) = spawn_app_with(|url| url, &[("APP__AUTH__REFRESH_REUSE_GRACE_SECS", "1")]).await else { return };
    let (_, laptop, _) = user_with_two_sessions(&short, "alice").await;
    let rotated = refresh(&short, &refresh_token(&laptop)).await.json();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    refresh(&short, &refresh_token(&laptop)).await.problem(401, "unauthorized");
    refresh(&short, &refresh_token(&rotated)).await.problem(401, "unauthorized");

    let Some(none) = spawn_app_with(|url| url, NO_REFRESH_GRACE).await else { return };
    let (_, laptop, _) = user_with_two_sessions(&none, "alice").await;
    assert_eq!(refresh(&none, &refresh_token(&laptop)).await.status, StatusCode::OK);
    refresh(&none, &refresh_token(&laptop)).await.problem(401, "unauthorized");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_refreshes_within_the_grace_all_get_the_same_new_token() {
    let Some(app) = spawn_app().await else { return };
    let (id, laptop, _) = user_with_two_sessions(&app, "alice").await;
    let app = Arc::new(app);
    let token = refresh_token(&laptop);
    let refreshes: Vec<_> = (0..20)
        .map(|_| {
            let (app, token) = (app.clone(), token.clone());
            tokio::spawn(async move { refresh(&app, &token).await })
        })
        .collect();
    let mut new_tokens = Vec::new();
    for refreshed in refreshes {
        let reply = refreshed.await.expect("task");
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        let pair = reply.json();
        assert_access(&app, &pair, id, StatusCode::OK, "each access token").await;
        new_tokens.push(refresh_token(&pair));
    }
    new_tokens.dedup();
    assert_eq!(new_tokens.len(), 1, "one chain");
    assert_eq!(refresh(&app, &new_tokens[0]).await.status, StatusCode::OK, "and it goes on");
}

const ROUNDS: usize = 25;

/// A session revoked while its access token reads and its refresh token rotates (each on a task of its own, so
/// every interleaving can happen): once the revocation returned, nothing of the session works.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revocation_racing_reads_and_refreshes_leaves_nothing_of_the_session_working() {
    let Some(app) = spawn_app().await else { return };
    let app = Arc::new(app);
    let id = app.create_user("alice").await["id"].as_i64().expect("id");
    for round in 0..ROUNDS {
        let pair = login_as(&app, "alice", "Racer").await;
        let read = {
            let (app, token) = (app.clone(), access(&pair));
            tokio::spawn(async move { app.with_token(&token).get(&format!("/users/{id}")).await.status })
        };
        let rotate = {
            let (app, token) = (app.clone(), refresh_token(&pair));
            tokio::spawn(async move { refresh(&app, &token).await })
        };
        let revoke = {
            let app = app.clone();
            let path = match round % 3 {
                0 => format!("/users/{id}/sessions/{}", sid(&pair)),
                1 => format!("/users/{id}/sessions"),
                _ => String::new(),
            };
            let logout = json!({ "refresh_token": refresh_token(&pair) });
            tokio::spawn(async move {
                match path.is_empty() {
                    true => app.anonymous().post("/auth/logout", &logout).await.status,
                    false => app.delete(&path).await.status,
                }
            })
        };
        assert_eq!(revoke.await.expect("task"), StatusCode::NO_CONTENT, "round {round}");
        let read = read.await.expect("task");
        assert!(matches!(read, StatusCode::OK | StatusCode::UNAUTHORIZED), "round {round}: {read}");
        assert_access(&app, &pair, id, StatusCode::UNAUTHORIZED, &format!("round {round}: revoked")).await;
        refresh(&app, &refresh_token(&pair)).await.problem(401, "unauthorized");
        let rotated = rotate.await.expect("task");
        if rotated.status == StatusCode::OK {
            let rotated = rotated.json();
            let what = format!("round {round}: a pair rotated during the revocation");
            assert_access(&app, &rotated, id, StatusCode::UNAUTHORIZED, &what).await;
            refresh(&app, &refresh_token(&rotated)).await.problem(401, "unauthorized");
        }
    }
}

/// Three instances on one database: a session revoked through one is refused at once by all three, and a logout
/// through another too (the check rides in each instance's own read of the caller).
#[tokio::test]
async fn a_revocation_holds_at_once_on_every_instance() {
    let Some(first) = spawn_app().await else { return };
    let Some(second) = spawn_second_instance(&first).await else { return };
    let Some(third) = spawn_second_instance(&first).await else { return };
    let instances = [&first, &second, &third];
    let id = first.create_user("alice").await["id"].as_i64().expect("id");
    let laptop = login_as(&first, "alice", "Laptop/1.0").await;
    let phone = login_as(&third, "alice", "Phone/2.0").await;
    for instance in instances {
        assert_access(instance, &laptop, id, StatusCode::OK, "before").await;
    }
    let revoked = second.delete(&format!("/users/{id}/sessions/{}", sid(&laptop))).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.text);
    for instance in instances {
        assert_access(instance, &laptop, id, StatusCode::UNAUTHORIZED, "revoked on another instance").await;
        assert_access(instance, &phone, id, StatusCode::OK, "the other session").await;
    }
    let logout = first.anonymous().post("/auth/logout", &json!({ "refresh_token": refresh_token(&phone) })).await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    for instance in instances {
        assert_access(instance, &phone, id, StatusCode::UNAUTHORIZED, "logged out on another instance").await;
    }
}
