//! Authentication and authorization over HTTP (docs/api.md §3–§4).

use crate::helpers::{spawn_app, spawn_app_with, Reply, TestApp, ADMIN_PASSWORD, ADMIN_USERNAME, NO_REFRESH_GRACE};
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::Arc;
use users_domain::ports::{AccessTokens, TokenSubject};
use users_domain::{Role, Timestamp, UserId};

const SECRET: &[u8] = b"a test secret of at least thirty-two bytes";

/// Signs up `username` (password `orbit-tulip-1`) and logs in: the user and its token pair.
async fn signed_up(app: &TestApp, username: &str) -> (Value, Value) {
    let body = json!({"username": username, "email": format!("{username}@example.com"), "password": "orbit-tulip-1"});
    let created = app.anonymous().post("/users", &body).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let pair = login(app, json!({"username": username, "password": "orbit-tulip-1"})).await;
    assert_eq!(pair.status, 200, "{}", pair.text);
    (created.json(), pair.json())
}

async fn login(app: &TestApp, body: Value) -> Reply {
    app.anonymous().post("/auth/login", &body).await
}

fn token(pair: &Value) -> &str {
    pair["access_token"].as_str().expect("access token")
}

fn refresh_token(pair: &Value) -> &str {
    pair["refresh_token"].as_str().expect("refresh token")
}

fn unauthorized(reply: &Reply, token_sent: bool) {
    reply.problem(401, "unauthorized");
    let challenge = reply.header("www-authenticate").expect("WWW-Authenticate");
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    assert_eq!(challenge.contains(r#"error="invalid_token""#), token_sent, "{challenge}");
}

#[tokio::test]
async fn sign_up_log_in_me_refresh_and_log_out() {
    let Some(app) = spawn_app().await else { return };
    let (alice, pair) = signed_up(&app, "alice").await;
    assert_eq!(pair["token_type"], "Bearer");
    assert!(pair["expires_in"].as_u64().is_some_and(|s| s > 0));
    // Log in by email too, in another case; and through the alias.
    let by_email = login(&app, json!({"email": "ALICE@example.com", "password": "orbit-tulip-1"})).await;
    assert_eq!(by_email.status, 200, "{}", by_email.text);
    assert_eq!(by_email.header("cache-control").as_deref(), Some("no-store"));
    let alias = app.anonymous().post("/users/login", &json!({"username": "Alice", "password": "orbit-tulip-1"})).await;
    assert_eq!(alias.status, 200, "{}", alias.text);
    // The caller.
    let me = app.with_token(token(&pair)).get("/users/me").await;
    assert_eq!(me.status, 200, "{}", me.text);
    let mut expected = alice.clone();
    // The logins since sign-up set it (docs/api.md §2).
    expected["last_login_at"] = me.json()["last_login_at"].clone();
    assert!(expected["last_login_at"].is_string(), "{}", me.text);
    assert_eq!(me.json(), expected);
    // Refresh: a new pair; the old refresh token is spent.
    let refreshed = app.anonymous().post("/auth/refresh", &json!({"refresh_token": refresh_token(&pair)})).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    let refreshed = refreshed.json();
    assert_ne!(refresh_token(&refreshed), refresh_token(&pair));
    assert_eq!(app.with_token(token(&refreshed)).get("/users/me").await.status, 200);
    // Log out: 204, and the refresh token is dead.
    let out = app.anonymous().post("/auth/logout", &json!({"refresh_token": refresh_token(&refreshed)})).await;
    assert_eq!(out.status, 204);
    let after = app.anonymous().post("/auth/refresh", &json!({"refresh_token": refresh_token(&refreshed)})).await;
    after.problem(401, "unauthorized");
    // Logout is idempotent.
    for token in [refresh_token(&refreshed), "never-issued"] {
        assert_eq!(app.anonymous().post("/auth/logout", &json!({"refresh_token": token})).await.status, 204);
    }
    app.anonymous().send(Method::PUT, "/users/me", None, &[]).await.problem(405, "method-not-allowed");
}

#[tokio::test]
async fn who_may_call_what() {
    let Some(app) = spawn_app().await else { return };
    let (alice, pair) = signed_up(&app, "alice").await;
    let (bob, _) = signed_up(&app, "bob").await;
    let own = format!("/users/{}", alice["id"]);
    let other = format!("/users/{}", bob["id"]);
    let alice_client = app.with_token(token(&pair));
    // No token: 401 with the bare challenge on every protected route.
    for (method, path) in [(Method::GET, "/users"), (Method::GET, "/users/me"), (Method::GET, own.as_str()), (Method::DELETE, own.as_str())] {
        unauthorized(&app.anonymous().send(method, path, None, &[]).await, false);
    }
    unauthorized(&app.anonymous().patch(&own, &json!({"age": 3})).await, false);
    // A user: themself yes, others no, listing no.
    assert_eq!(alice_client.get(&own).await.status, 200);
    alice_client.get(&other).await.problem(403, "forbidden");
    alice_client.get("/users/424242").await.problem(403, "forbidden");
    alice_client.get("/users").await.problem(403, "forbidden");
    alice_client.patch(&other, &json!({"age": 3})).await.problem(403, "forbidden");
    alice_client.delete(&other).await.problem(403, "forbidden");
    assert_eq!(alice_client.patch(&own, &json!({"age": 3})).await.status, 200);
    // An admin: everything, and 404 for a missing user.
    assert_eq!(app.get(&other).await.status, 200);
    app.get("/users/424242").await.problem(404, "not-found");
    assert_eq!(app.get("/users").await.status, 200);
    // Shape before permission: a bad body is 400 even where the caller may not act.
    alice_client.patch(&other, &json!({"age": "x"})).await.invalid_fields(&["age"]);
    // Delete oneself: 204, and the token stops working at once.
    assert_eq!(alice_client.delete(&own).await.status, 204);
    unauthorized(&alice_client.get("/users/me").await, true);
}

#[tokio::test]
async fn only_an_admin_may_send_a_role() {
    let Some(app) = spawn_app().await else { return };
    let with_role = |name: &str, role: &str| {
        json!({"username": name, "email": format!("{name}@example.com"), "password": "orbit-tulip-1", "role": role})
    };
    app.anonymous().post("/users", &with_role("eve", "user")).await.problem(403, "forbidden");
    let (alice, pair) = signed_up(&app, "alice").await;
    let alice_client = app.with_token(token(&pair));
    alice_client.post("/users", &with_role("eve", "admin")).await.problem(403, "forbidden");
    alice_client.patch(&format!("/users/{}", alice["id"]), &json!({"role": "user"})).await.problem(403, "forbidden");
    let made = app.post("/users", &with_role("eve", "admin")).await;
    assert_eq!(made.status, 201, "{}", made.text);
    assert_eq!(made.json()["role"], "admin");
    let promoted = app.patch(&format!("/users/{}", alice["id"]), &json!({"role": "admin"})).await;
    assert_eq!(promoted.json()["role"], "admin");
    // Alice is an admin now, at once, with the token she already had; demoted, she loses it at once.
    assert_eq!(alice_client.get("/users").await.status, 200);
    app.patch(&format!("/users/{}", alice["id"]), &json!({"role": "user"})).await;
    alice_client.get("/users").await.problem(403, "forbidden");
}

#[tokio::test]
async fn the_last_admin_stays() {
    let Some(app) = spawn_app().await else { return };
    let me = app.get("/users/me").await.json();
    let root = format!("/users/{}", me["id"]);
    app.delete(&root).await.problem(409, "conflict");
    app.patch(&root, &json!({"role": "user"})).await.problem(409, "conflict");
    // Two admins demoting each other at once: one admin remains.
    let second = app
        .post("/users", &json!({"username": "second", "email": "second@example.com", "password": "orbit-tulip-1", "role": "admin"}))
        .await
        .json();
    let second_token = app.login("second", "orbit-tulip-1").await;
    let app = Arc::new(app);
    let root_demotes_second = {
        let app = app.clone();
        let path = format!("/users/{}", second["id"]);
        tokio::spawn(async move { app.patch(&path, &json!({"role": "user"})).await.status.as_u16() })
    };
    let second_demotes_root = {
        let app = app.clone();
        let path = root.clone();
        tokio::spawn(async move { app.with_token(&second_token).patch(&path, &json!({"role": "user"})).await.status.as_u16() })
    };
    let mut statuses = [root_demotes_second.await.expect("task"), second_demotes_root.await.expect("task")];
    statuses.sort_unstable();
    assert!(statuses == [200, 409] || statuses == [200, 403], "{statuses:?}");
    let only_admins = users_domain::ListQuery {
        filter: users_domain::UserFilter { role: Some(Role::Admin), ..Default::default() },
        ..Default::default()
    };
    assert_eq!(app.repository.list(&only_admins).await.expect("listed").total, 1);
}

#[tokio::test]
async fn changing_ones_password_needs_the_current_one_and_ends_older_tokens() {
    let Some(app) = spawn_app().await else { return };
    let (alice, pair) = signed_up(&app, "alice").await;
    let own = format!("/users/{}", alice["id"]);
    let client = app.with_token(token(&pair));
    client.patch(&own, &json!({"password": "new password"})).await.invalid_fields(&["current_password"]);
    client.patch(&own, &json!({"password": "new password", "current_password": "wrong one"})).await.problem(403, "forbidden");
    // A token issued in the same second as the change.
    let same_second = app.login("alice", "orbit-tulip-1").await;
    let changed = client.patch(&own, &json!({"password": "new password", "current_password": "orbit-tulip-1"})).await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    unauthorized(&client.get("/users/me").await, true);
    unauthorized(&app.with_token(&same_second).get("/users/me").await, true);
    let refresh = app.anonymous().post("/auth/refresh", &json!({"refresh_token": refresh_token(&pair)})).await;
    refresh.problem(401, "unauthorized");
    let fresh = app.login("alice", "new password").await;
    assert_eq!(app.with_token(&fresh).get("/users/me").await.status, 200);
    // An admin resets another user's password without current_password.
    assert_eq!(app.patch(&own, &json!({"password": "reset by admin"})).await.status, 200);
    assert_eq!(login(&app, json!({"username": "alice", "password": "reset by admin"})).await.status, 200);
}

#[tokio::test]
async fn bad_tokens_are_401_with_the_challenge_on_every_route() {
    let Some(app) = spawn_app().await else { return };
    let (alice, _) = signed_up(&app, "alice").await;
    let subject = |id: i64| TokenSubject {
        user_id: UserId::new(id).expect("id"),
        role: Role::Admin,
        token_version: 0,
        session_id: users_domain::SessionId::parse("no-such-session").expect("sid"),
    };
    let ours = users_auth::JwtAccessTokens::new(SECRET, "users-api", "users-api", 900);
    let expired = ours
        .issue(&subject(1), Timestamp::from_datetime(Timestamp::now().as_datetime() - time::Duration::hours(2)))
        .expect("issued")
        .token;
    let never_existed = ours.issue(&subject(424242), Timestamp::now()).expect("issued").token;
    let other_issuer = users_auth::JwtAccessTokens::new(SECRET, "evil", "users-api", 900)
        .issue(&subject(1), Timestamp::now())
        .expect("issued")
        .token;
    let wrong_key = users_auth::JwtAccessTokens::new(b"another secret of at least 32 bytes!!", "users-api", "users-api", 900)
        .issue(&subject(1), Timestamp::now())
        .expect("issued")
        .token;
    let valid = app.token.clone().expect("admin token");
    let headers = [
        format!("Token {valid}"),
        valid.clone(),
        "Bearer".to_owned(),
        "Bearer garbage".to_owned(),
        format!("Bearer {expired}"),
        format!("Bearer {never_existed}"),
        format!("Bearer {other_issuer}"),
        format!("Bearer {wrong_key}"),
    ];
    for header in &headers {
        for (method, path) in [(Method::GET, "/users".to_owned()), (Method::GET, format!("/users/{}", alice["id"]))] {
            let reply = app.anonymous().send(method, &path, None, &[("Authorization", header)]).await;
            unauthorized(&reply, true);
        }
        // Sign-up too: a bad token is 401 even where none is needed.
        let body = json!({"username": "carol", "email": "carol@example.com", "password": "orbit-tulip-1"});
        let bytes = serde_json::to_vec(&body).expect("json");
        let reply = app.anonymous().send(Method::POST, "/users", Some(("application/json", bytes)), &[("Authorization", header)]).await;
        unauthorized(&reply, true);
    }
    // The scheme name in any case.
    let lower = app.anonymous().send(Method::GET, "/users", None, &[("Authorization", &format!("bearer {valid}"))]).await;
    assert_eq!(lower.status, 200);
    // The /auth routes ignore the header.
    let reply = app
        .anonymous()
        .send(
            Method::POST,
            "/auth/login",
            Some(("application/json", serde_json::to_vec(&json!({"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD})).expect("json"))),
            &[("Authorization", "Bearer garbage")],
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
}

#[tokio::test]
async fn a_reused_refresh_token_revokes_its_family() {
    let Some(app) = spawn_app_with(|url| url, NO_REFRESH_GRACE).await else { return };
    let (_, pair) = signed_up(&app, "alice").await;
    let first = refresh_token(&pair).to_owned();
    let second = app.anonymous().post("/auth/refresh", &json!({"refresh_token": first})).await.json();
    let reuse = app.anonymous().post("/auth/refresh", &json!({"refresh_token": first})).await;
    reuse.problem(401, "unauthorized");
    let newest = app.anonymous().post("/auth/refresh", &json!({"refresh_token": refresh_token(&second)})).await;
    newest.problem(401, "unauthorized");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_refreshes_with_one_token_let_one_through() {
    let Some(app) = spawn_app_with(|url| url, NO_REFRESH_GRACE).await else { return };
    let (_, pair) = signed_up(&app, "alice").await;
    let app = Arc::new(app);
    let token = refresh_token(&pair).to_owned();
    let refreshes: Vec<_> = (0..20)
        .map(|_| {
            let (app, token) = (app.clone(), token.clone());
            tokio::spawn(async move { app.anonymous().post("/auth/refresh", &json!({"refresh_token": token})).await.status.as_u16() })
        })
        .collect();
    let mut ok = 0;
    for refresh in refreshes {
        match refresh.await.expect("task") {
            200 => ok += 1,
            401 => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(ok, 1);
}

#[tokio::test]
async fn wrong_password_and_unknown_user_look_the_same() {
    let Some(app) = spawn_app().await else { return };
    signed_up(&app, "alice").await;
    let strip = |mut v: Value| {
        v.as_object_mut().expect("object").remove("request_id");
        v
    };
    let wrong = login(&app, json!({"username": "alice", "password": "wrong password"})).await;
    let unknown = login(&app, json!({"username": "nobody", "password": "wrong password"})).await;
    wrong.problem(401, "unauthorized");
    unknown.problem(401, "unauthorized");
    assert_eq!(strip(wrong.json()), strip(unknown.json()));
    login(&app, json!({"password": "x"})).await.invalid_fields(&["username", "email"]);
    login(&app, json!({"username": "alice", "email": "alice@example.com", "password": "x"})).await.invalid_fields(&["username", "email"]);
    login(&app, json!({"username": "alice", "password": "orbit-tulip-1", "remember": true})).await.invalid_fields(&["remember"]);
}

#[tokio::test]
async fn five_failures_lock_the_name_for_15_minutes() {
    let Some(app) = spawn_app().await else { return };
    signed_up(&app, "alice").await;
    signed_up(&app, "bob").await;
    // Username and email of one user count together.
    for attempt in 0..5 {
        let name = if attempt % 2 == 0 { json!({"username": "ALICE"}) } else { json!({"email": "alice@example.com"}) };
        let mut body = name;
        body["password"] = json!("wrong password");
        login(&app, body).await.problem(401, "unauthorized");
    }
    let locked = login(&app, json!({"username": "alice", "password": "orbit-tulip-1"})).await;
    locked.problem(429, "rate-limited");
    let retry_after: u64 = locked.header("retry-after").expect("Retry-After").parse().expect("seconds");
    assert!((890..=900).contains(&retry_after), "{retry_after}");
    // Others are unaffected; unknown names are counted the same way.
    assert_eq!(login(&app, json!({"username": "bob", "password": "orbit-tulip-1"})).await.status, 200);
    for _ in 0..5 {
        login(&app, json!({"username": "ghost", "password": "wrong password"})).await.problem(401, "unauthorized");
    }
    login(&app, json!({"username": "ghost", "password": "wrong password"})).await.problem(429, "rate-limited");
}

#[tokio::test]
async fn a_success_before_the_fifth_failure_clears_the_count() {
    let Some(app) = spawn_app().await else { return };
    signed_up(&app, "alice").await; // one success already
    for _ in 0..4 {
        login(&app, json!({"username": "alice", "password": "wrong password"})).await.problem(401, "unauthorized");
    }
    assert_eq!(login(&app, json!({"username": "alice", "password": "orbit-tulip-1"})).await.status, 200);
    for _ in 0..4 {
        login(&app, json!({"username": "alice", "password": "wrong password"})).await.problem(401, "unauthorized");
    }
    assert_eq!(login(&app, json!({"username": "alice", "password": "orbit-tulip-1"})).await.status, 200);
}

#[tokio::test]
async fn the_per_ip_login_limit_counts_the_client_behind_a_trusted_proxy() {
    let settings = [("APP__AUTH__LOGIN_IP_LIMIT_PER_MINUTE", "3"), ("APP__SERVER__TRUSTED_PROXIES", "127.0.0.1/32")];
    // spawn_app_with logs the admin in once: that is one login from 127.0.0.1.
    let Some(app) = spawn_app_with(|url| url, &settings).await else { return };
    let body = serde_json::to_vec(&json!({"username": "nobody", "password": "wrong password"})).expect("json");
    let from = |ip: &'static str| [("X-Forwarded-For", ip)];
    for _ in 0..3 {
        let reply = app.anonymous().send(Method::POST, "/auth/login", Some(("application/json", body.clone())), &from("203.0.113.1")).await;
        assert_eq!(reply.status, 401, "{}", reply.text);
    }
    let limited = app.anonymous().send(Method::POST, "/auth/login", Some(("application/json", body.clone())), &from("203.0.113.1")).await;
    limited.problem(429, "rate-limited");
    assert!(limited.header("retry-after").expect("Retry-After").parse::<u64>().expect("seconds") >= 1);
    let other = app.anonymous().send(Method::POST, "/auth/login", Some(("application/json", body.clone())), &from("203.0.113.2")).await;
    assert_eq!(other.status, 401, "another client is unaffected");
}

#[tokio::test]
async fn x_forwarded_for_from_an_untrusted_peer_is_ignored() {
    let Some(app) = spawn_app_with(|url| url, &[("APP__AUTH__LOGIN_IP_LIMIT_PER_MINUTE", "2")]).await else { return };
    // The admin's login was the first from 127.0.0.1; one more is allowed, whatever the header claims.
    let body = serde_json::to_vec(&json!({"username": "nobody", "password": "wrong password"})).expect("json");
    let first = app.anonymous().send(Method::POST, "/auth/login", Some(("application/json", body.clone())), &[("X-Forwarded-For", "198.51.100.1")]).await;
    assert_eq!(first.status, 401);
    let second = app.anonymous().send(Method::POST, "/auth/login", Some(("application/json", body)), &[("X-Forwarded-For", "198.51.100.2")]).await;
    second.problem(429, "rate-limited");
}

#[tokio::test]
async fn cors_allows_only_the_configured_origins() {
    let Some(app) = spawn_app_with(|url| url, &[("APP__SERVER__CORS_ORIGINS", "https://app.example,https://admin.example")]).await
    else {
        return;
    };
    let preflight = |origin: &'static str| {
        [("Origin", origin), ("Access-Control-Request-Method", "PATCH"), ("Access-Control-Request-Headers", "authorization, content-type")]
    };
    let allowed = app.anonymous().send(Method::OPTIONS, "/users/1", None, &preflight("https://admin.example")).await;
    assert!(allowed.status.is_success(), "{} {}", allowed.status, allowed.text);
    assert_eq!(allowed.header("access-control-allow-origin").as_deref(), Some("https://admin.example"));
    let refused = app.anonymous().send(Method::OPTIONS, "/users/1", None, &preflight("https://evil.example")).await;
    assert!(refused.header("access-control-allow-origin").is_none());
    assert!(!refused.status.is_success());
    let simple = app.send(Method::GET, "/users", None, &[("Origin", "https://app.example")]).await;
    assert_eq!(simple.header("access-control-allow-origin").as_deref(), Some("https://app.example"));
    let exposed = simple.header("access-control-expose-headers").expect("exposed").to_ascii_lowercase();
    for name in ["x-total-count", "link", "location", "x-request-id", "retry-after", "www-authenticate"] {
        assert!(exposed.contains(name), "{name} in {exposed}");
    }
}

#[tokio::test]
async fn security_headers_on_every_response_and_no_csp_on_swagger_ui() {
    let Some(app) = spawn_app().await else { return };
    for path in ["/health", "/users", "/nothing", "/openapi.json"] {
        let reply = app.get(path).await;
        assert_eq!(reply.header("referrer-policy").as_deref(), Some("no-referrer"), "{path}");
        assert!(reply.header("content-security-policy").is_some_and(|c| c.contains("default-src 'none'")), "{path}");
    }
    let docs = app.get("/docs/index.html").await;
    assert!(docs.header("content-security-policy").is_none());
}

#[tokio::test]
async fn instances_on_one_database_share_lockout_and_refresh_tokens() {
    let Some(first) = spawn_app_with(|url| url, NO_REFRESH_GRACE).await else { return };
    let Some(second) = crate::helpers::spawn_second_instance(&first).await else { return };
    signed_up(&first, "alice").await;
    // Failures spread over the instances count together.
    for (i, instance) in [&first, &second, &first, &second, &first].into_iter().enumerate() {
        let reply = login(instance, json!({"username": "alice", "password": format!("wrong {i}")})).await;
        reply.problem(401, "unauthorized");
    }
    login(&second, json!({"username": "alice", "password": "orbit-tulip-1"})).await.problem(429, "rate-limited");
    // A refresh token rotated on one instance and replayed on the other: reuse, the family revoked everywhere.
    let pair = login(&first, json!({"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD})).await.json();
    let rotated = second.anonymous().post("/auth/refresh", &json!({"refresh_token": refresh_token(&pair)})).await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    first.anonymous().post("/auth/refresh", &json!({"refresh_token": refresh_token(&pair)})).await.problem(401, "unauthorized");
    let newest = rotated.json();
    second.anonymous().post("/auth/refresh", &json!({"refresh_token": refresh_token(&newest)})).await.problem(401, "unauthorized");
}

/// A token with exactly these header and claims, HMAC-SHA256-signed with `key` whatever the header says.
fn forged(header: Value, claims: Value, key: &[u8]) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let signing_input =
        format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
    let key = jsonwebtoken::EncodingKey::from_secret(key);
    let signature = jsonwebtoken::crypto::sign(signing_input.as_bytes(), &key, jsonwebtoken::Algorithm::HS256)
        .expect("signed");
    format!("{signing_input}.{signature}")
}

#[tokio::test]
async fn forged_tokens_are_401() {
    let Some(app) = spawn_app().await else { return };
    let me = app.get("/users/me").await.json();
    let now = Timestamp::now().as_datetime().unix_timestamp();
    let claims = json!({"sub": me["id"].to_string(), "role": "admin", "iat": now, "exp": now + 600, "iss": "users-api",
                        "aud": "users-api", "jti": "forged", "ver": 0});
    let with = |key: &str, value: Value| {
        let mut claims = claims.clone();
        match value {
            Value::Null => {
                claims.as_object_mut().expect("object").remove(key);
            }
            value => claims[key] = value,
        }
        claims
    };
    let hs256 = json!({"alg": "HS256", "typ": "JWT"});
    // The forging is sound: these claims with our key and header are accepted.
    let genuine = forged(hs256.clone(), claims.clone(), SECRET);
    assert_eq!(app.with_token(&genuine).get("/users/me").await.status, 200);
    let unsigned = {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine;
        let header = URL_SAFE_NO_PAD.encode(json!({"alg": "none", "typ": "JWT"}).to_string());
        format!("{header}.{}.", URL_SAFE_NO_PAD.encode(claims.to_string()))
    };
    let cases = [
        ("alg none", unsigned),
        ("HS512 header", forged(json!({"alg": "HS512", "typ": "JWT"}), claims.clone(), SECRET)),
        ("RS256 header", forged(json!({"alg": "RS256", "typ": "JWT"}), claims.clone(), SECRET)),
        ("wrong signature", forged(hs256.clone(), claims.clone(), b"not the secret, but 32 bytes long!")),
        ("wrong iss", forged(hs256.clone(), with("iss", json!("evil")), SECRET)),
        ("wrong aud", forged(hs256.clone(), with("aud", json!("another-api")), SECRET)),
        ("expired", forged(hs256.clone(), with("exp", json!(now - 60)), SECRET)),
        ("no exp", forged(hs256.clone(), with("exp", Value::Null), SECRET)),
        ("nbf in the future", forged(hs256.clone(), with("nbf", json!(now + 600)), SECRET)),
        ("never-existing user", forged(hs256.clone(), with("sub", json!("424242")), SECRET)),
    ];
    for (what, token) in cases {
        let reply = app.with_token(&token).get("/users/me").await;
        assert_eq!(reply.status, 401, "{what}: {}", reply.text);
        unauthorized(&reply, true);
    }
}

#[tokio::test]
async fn every_login_request_counts_toward_the_per_ip_limit_even_a_malformed_one() {
    // spawn_app_with logs the admin in once: the first of the three.
    let Some(app) = spawn_app_with(|url| url, &[("APP__AUTH__LOGIN_IP_LIMIT_PER_MINUTE", "3")]).await else { return };
    let malformed = app.anonymous().send(Method::POST, "/auth/login", Some(("application/json", b"{".to_vec())), &[]).await;
    malformed.invalid_fields(&["body"]);
    login(&app, json!({"username": "nobody"})).await.invalid_fields(&["password"]);
    login(&app, json!({"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD})).await.problem(429, "rate-limited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_wrong_passwords_get_no_more_than_five_checks() {
    let Some(app) = spawn_app().await else { return };
    signed_up(&app, "alice").await;
    let app = Arc::new(app);
    let attempts: Vec<_> = (0..40)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move {
                login(&app, json!({"username": "alice", "password": format!("wrong {i}")})).await.status.as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.expect("task"));
    }
    let checked = statuses.iter().filter(|s| **s == 401).count();
    assert!(checked <= 5, "{checked} passwords checked: {statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 40 - checked, "{statuses:?}");
    login(&app, json!({"username": "alice", "password": "orbit-tulip-1"})).await.problem(429, "rate-limited");
}

#[tokio::test]
async fn a_stale_token_is_401_before_any_shape_error() {
    let Some(app) = spawn_app().await else { return };
    let (alice, pair) = signed_up(&app, "alice").await;
    let stale = app.with_token(token(&pair));
    assert_eq!(stale.delete(&format!("/users/{}", alice["id"])).await.status, 204);
    // The token's user is gone: every protected route says 401 first, whatever else is wrong with the request.
    for _ in 0..5 {
        unauthorized(&stale.get("/users/abc").await, true);
        unauthorized(&stale.delete("/users/abc").await, true);
        unauthorized(&stale.get("/users?bogus=1").await, true);
        unauthorized(&stale.send(Method::POST, "/users", Some(("application/json", b"{".to_vec())), &[]).await, true);
        unauthorized(&stale.send(Method::PATCH, "/users/1", Some(("text/plain", b"x".to_vec())), &[]).await, true);
        unauthorized(&stale.send(Method::PATCH, "/users/abc", Some(("application/json", b"{".to_vec())), &[]).await, true);
    }
}
