//! `POST /users/import` and `GET /users/export` (docs/api.md §9): every line outcome, the rehash at the first
//! login, the refusals, and an export imported into another instance.

use crate::helpers::{spawn_app, spawn_app_with, TestApp, ADMIN_PASSWORD, ADMIN_USERNAME};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use users_domain::auth::LoginName;

const NDJSON: &str = "application/x-ndjson";
/// Hashes of "correct horse" made by Python's bcrypt, argon2-cffi and hashlib: independent of the service's crates.
const BCRYPT_COST_5: &str = "$2b$05$GOOwdXjW1LZOiLHh3t.88uAM58ayMUj37vG8ekulwUBSZTw6DzVa6";
const ARGON2ID: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$k9ohroejZy1PN5E1SbHNPug6vB8eQAahb5SOAp6iGF4";
const PBKDF2: &str = "$pbkdf2-sha256$i=29000,l=32$c2FsdHNhbHRzYWx0c2FsdA$wdimsZz82dUhh09vxCX+tZ6CiAyYHJSfs9wD5qYnfzg";

async fn import(app: &TestApp, body: &str) -> (StatusCode, Vec<Value>) {
    let reply = app.send(Method::POST, "/users/import", Some((NDJSON, body.as_bytes().to_vec())), &[]).await;
    let lines = match reply.status {
        StatusCode::OK => {
            assert_eq!(reply.header("content-type").as_deref(), Some(NDJSON));
            reply.text.lines().map(|l| serde_json::from_str(l).expect("a JSON result line")).collect()
        }
        _ => Vec::new(),
    };
    (reply.status, lines)
}

fn ndjson(lines: &[Value]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

fn line(name: &str, password: Value) -> Value {
    let mut line = json!({"username": name, "email": format!("{name}@example.com")});
    match password {
        Value::Object(fields) => line.as_object_mut().expect("object").extend(fields),
        other => panic!("{other}"),
    }
    line
}

async fn logs_in(app: &TestApp, username: &str, password: &str) -> StatusCode {
    let body = json!({"username": username, "password": password});
    app.anonymous().post("/auth/login", &body).await.status
}

async fn stored_hash(app: &TestApp, username: &str) -> String {
    let user = app.repository.find_by_login_name(&LoginName::Username(username.into())).await.expect("read");
    user.expect("stored").password_hash.as_str().to_owned()
}

fn fields(result: &Value) -> Vec<&str> {
    result["errors"].as_array().map_or(Vec::new(), |e| e.iter().filter_map(|e| e["field"].as_str()).collect())
}

#[tokio::test]
async fn every_line_gets_its_outcome_in_order_and_a_failing_line_stops_nothing() {
    let Some(app) = spawn_app().await else { return };
    let mut with_id = line("plain", json!({"password": "correct horse", "name": "Plain", "age": 30}));
    with_id["id"] = json!(42);
    let body = [
        ndjson(&[
            with_id,
            line("bcrypt", json!({"password_hash": BCRYPT_COST_5, "role": "admin"})),
            line("argon", json!({"password_hash": ARGON2ID})),
            line("pbkdf", json!({"password_hash": PBKDF2, "created_at": "2020-01-02T03:04:05.123456Z"})),
            line("nopass", json!({"password_hash": null})),
            line(ADMIN_USERNAME, json!({"password": "correct horse"})),
            json!({"username": "other", "email": "PLAIN@example.com", "password": "correct horse"}),
            line("md5", json!({"password_hash": "$1$abc$def"})),
            line("both", json!({"password": "correct horse", "password_hash": ARGON2ID})),
            line("neither", json!({})),
        ]),
        "{not json\n\n".to_owned(),
        ndjson(&[json!({"username": "bademail", "email": "nope", "password": "correct horse"})]),
        ndjson(&[line("unknown", json!({"password": "correct horse", "admin": true}))]),
        // The last line without its newline counts too.
        line("last", json!({"password": "correct horse"})).to_string(),
    ]
    .concat();
    let (status, results) = import(&app, &body).await;
    assert_eq!(status, StatusCode::OK);
    let numbers: Vec<u64> = results.iter().map(|r| r["line"].as_u64().expect("line")).collect();
    assert_eq!(numbers, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15], "the blank line 12 has no result");
    let created: Vec<bool> = results.iter().map(|r| r["status"] == "created").collect();
    assert_eq!(created, [true, true, true, true, true, false, false, false, false, false, false, false, false, true]);
    assert_eq!(results[0]["source_id"], 42);
    assert!(results[0]["id"].as_i64().is_some_and(|id| id > 1));
    assert_eq!(fields(&results[5]), ["username"], "taken: {}", results[5]);
    assert_eq!(fields(&results[6]), ["email"], "a duplicate of line 1: {}", results[6]);
    assert!(results[6]["errors"][0]["message"].as_str().is_some_and(|m| m.contains("line 1")));
    assert_eq!(fields(&results[7]), ["password_hash"]);
    assert_eq!(fields(&results[8]), ["password", "password_hash"]);
    assert_eq!(fields(&results[9]), ["password", "password_hash"]);
    assert_eq!(fields(&results[10]), ["line"]);
    assert_eq!(fields(&results[11]), ["email"]);
    assert_eq!(fields(&results[12]), ["admin"]);
    // Each created user is there as the line said, and logs in with its password.
    for name in ["plain", "bcrypt", "argon", "pbkdf", "last"] {
        assert_eq!(logs_in(&app, name, "correct horse").await, StatusCode::OK, "{name}");
    }
    let id = results[3]["id"].as_i64().expect("id");
    let pbkdf = app.get(&format!("/users/{id}")).await.json();
    assert_eq!((pbkdf["created_at"].as_str(), pbkdf["updated_at"].as_str()), (Some("2020-01-02T03:04:05.123456Z"), Some("2020-01-02T03:04:05.123456Z")));
    let id = results[1]["id"].as_i64().expect("id");
    assert_eq!(app.get(&format!("/users/{id}")).await.json()["role"], "admin");
    // No usable password: a login fails as a wrong one does.
    assert_eq!(logs_in(&app, "nopass", "correct horse").await, StatusCode::UNAUTHORIZED);
    assert_eq!(logs_in(&app, "nopass", "!").await, StatusCode::UNAUTHORIZED, "not even the stored sentinel");
    for name in ["other", "md5", "both", "neither", "bademail", "unknown"] {
        assert_eq!(logs_in(&app, name, "correct horse").await, StatusCode::UNAUTHORIZED, "{name} not stored");
    }
}

#[tokio::test]
async fn a_foreign_hash_becomes_bcrypt_at_the_configured_cost_at_the_first_login() {
    let Some(app) = spawn_app().await else { return };
    let lines = [
        line("argon", json!({"password_hash": ARGON2ID})),
        line("pbkdf", json!({"password_hash": PBKDF2})),
        line("bcrypt", json!({"password_hash": BCRYPT_COST_5})),
    ];
    let (_, results) = import(&app, &ndjson(&lines)).await;
    assert!(results.iter().all(|r| r["status"] == "created"), "{results:?}");
    for (name, imported) in [("argon", ARGON2ID), ("pbkdf", PBKDF2), ("bcrypt", BCRYPT_COST_5)] {
        assert_eq!(stored_hash(&app, name).await, imported, "kept as imported until a login");
        assert_eq!(logs_in(&app, name, "wrong horse").await, StatusCode::UNAUTHORIZED);
        assert_eq!(stored_hash(&app, name).await, imported, "a failed login changes nothing");
        assert_eq!(logs_in(&app, name, "correct horse").await, StatusCode::OK);
        let rehashed = stored_hash(&app, name).await;
        assert!(rehashed.starts_with("$2b$04$"), "bcrypt at the test profile's cost 4: {name}");
        assert_eq!(logs_in(&app, name, "correct horse").await, StatusCode::OK, "{name} still logs in");
        assert_eq!(stored_hash(&app, name).await, rehashed, "no second rehash");
    }
}

#[tokio::test]
async fn an_import_is_refused_before_anything_is_stored() {
    let Some(app) = spawn_app().await else { return };
    let body = ndjson(&[line("ann", json!({"password": "correct horse"}))]);
    let reply = app.anonymous().send(Method::POST, "/users/import", Some((NDJSON, body.clone().into_bytes())), &[]).await;
    reply.problem(401, "unauthorized");
    let json_body = Some(("application/json", body.clone().into_bytes()));
    app.send(Method::POST, "/users/import", json_body, &[]).await.problem(415, "unsupported-media-type");
    let user = app.create_user("user").await;
    let token = app.login("user", "orbit-tulip-1").await;
    let reply = app.with_token(&token).send(Method::POST, "/users/import", Some((NDJSON, body.into_bytes())), &[]).await;
    reply.problem(403, "forbidden");
    let too_large = "\n".repeat(10 * 1024 * 1024 + 1).into_bytes();
    app.send(Method::POST, "/api/users/import/", Some((NDJSON, too_large)), &[]).await.problem(413, "payload-too-large");
    assert_eq!(app.count().await, 1, "only {user}");
    assert_eq!(app.get("/users/import").await.status, StatusCode::METHOD_NOT_ALLOWED, "a route, not an id");
}

async fn export(app: &TestApp, query: &str) -> (StatusCode, Vec<Value>) {
    let reply = app.get(&format!("/users/export{query}")).await;
    let lines = match reply.status {
        StatusCode::OK => {
            assert_eq!(reply.header("content-type").as_deref(), Some(NDJSON));
            reply.text.lines().map(|l| serde_json::from_str(l).expect("a JSON user line")).collect()
        }
        _ => Vec::new(),
    };
    (reply.status, lines)
}

#[tokio::test]
async fn an_export_streams_every_matching_user_and_hashes_only_where_allowed() {
    let Some(app) = spawn_app().await else { return };
    for name in ["ann", "bob", "cid"] {
        app.create_user(name).await;
    }
    let (status, users) = export(&app, "").await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = users.iter().filter_map(|u| u["username"].as_str()).collect();
    assert_eq!(names, [ADMIN_USERNAME, "ann", "bob", "cid"], "every user, by id");
    assert!(users.iter().all(|u| u.get("password_hash").is_none()), "no hashes unless asked");
    let (_, admins) = export(&app, "?role=admin").await;
    assert_eq!(admins.len(), 1, "the listing's filters apply");
    let (_, some) = export(&app, "?q=B").await;
    assert_eq!(some.iter().filter_map(|u| u["username"].as_str()).collect::<Vec<_>>(), ["bob"]);
    app.get("/users/export?include_hashes=true").await.problem(403, "forbidden");
    app.get("/users/export?limit=5").await.problem(400, "validation");
    let token = app.login("ann", "orbit-tulip-1").await;
    app.with_token(&token).get("/users/export").await.problem(403, "forbidden");
    app.anonymous().get("/api/users/export").await.problem(401, "unauthorized");
}

#[tokio::test]
async fn an_export_with_hashes_imports_into_a_fresh_instance_as_the_same_users() {
    let Some(source) = spawn_app_with(|url| url, &[("APP__AUTH__EXPORT_HASHES", "true")]).await else { return };
    source.create(json!({"username": "Ann", "email": "ann@example.com", "password": "ann password", "name": "Ann A.", "age": 33})).await;
    source.create(json!({"username": "boss", "email": "boss@example.com", "password": "boss password", "role": "admin"})).await;
    let (_, imported) = import(&source, &ndjson(&[line("argon", json!({"password_hash": ARGON2ID})), line("none", json!({"password_hash": null}))])).await;
    assert_eq!(imported.len(), 2);
    let (status, exported) = export(&source, "?include_hashes=true").await;
    assert_eq!(status, StatusCode::OK);
    assert!(exported.iter().all(|u| u.get("password_hash").is_some()));
    assert!(!exported.iter().any(|u| u["password_hash"] == ADMIN_PASSWORD));
    // The target has its own bootstrap admin: the source's is left out.
    let others: Vec<Value> = exported.iter().filter(|u| u["username"] != ADMIN_USERNAME).cloned().collect();
    let Some(target) = spawn_app().await else { return };
    let (_, results) = import(&target, &ndjson(&others)).await;
    assert!(results.iter().all(|r| r["status"] == "created"), "{results:?}");
    let (_, copied) = export(&target, "").await;
    let without_ids = |users: &[Value]| -> Vec<Value> {
        users
            .iter()
            .filter(|u| u["username"] != ADMIN_USERNAME)
            .map(|u| {
                let mut u = u.clone();
                let fields = u.as_object_mut().expect("object");
                fields.remove("id");
                fields.remove("password_hash");
                u
            })
            .collect()
    };
    assert_eq!(without_ids(&copied), without_ids(&exported), "identical users, ids aside");
    for (name, password) in [("Ann", "ann password"), ("boss", "boss password"), ("argon", "correct horse")] {
        assert_eq!(logs_in(&target, name, password).await, StatusCode::OK, "{name}");
    }
    assert_eq!(logs_in(&target, "none", "correct horse").await, StatusCode::UNAUTHORIZED);
    let source_ids: Vec<&Value> = others.iter().map(|u| &u["id"]).collect();
    let reported: Vec<&Value> = results.iter().map(|r| &r["source_id"]).collect();
    assert_eq!(reported, source_ids, "each result names the line's id");
}

#[tokio::test]
async fn lines_take_the_lifecycle_fields_and_the_password_policy() {
    let Some(app) = spawn_app().await else { return };
    let body = ndjson(&[
        // Exported while a ban ran, imported after it ended: active, as a read would say.
        line("ended", json!({"password_hash": null, "status": "disabled", "disabled_until": "2020-01-01T00:00:00.000000Z"})),
        line("banned", json!({"password_hash": null, "status": "disabled", "disabled_until": null, "email_verified": true,
                              "last_login_at": "2021-02-03T04:05:06.000007Z"})),
        line("weak", json!({"password": "password123"})),
        line("samename", json!({"password": "SameName"})),
    ]);
    let (status, results) = import(&app, &body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(results.iter().map(|r| r["status"].as_str().unwrap_or("")).collect::<Vec<_>>(), ["created", "created", "failed", "failed"]);
    assert_eq!(fields(&results[2]), ["password"], "a common password: {}", results[2]);
    assert_eq!(fields(&results[3]), ["password"], "the username: {}", results[3]);
    let ended = app.get(&format!("/users/{}", results[0]["id"])).await.json();
    assert_eq!((&ended["status"], &ended["disabled_until"]), (&json!("active"), &Value::Null));
    let banned = app.get(&format!("/users/{}", results[1]["id"])).await.json();
    assert_eq!((&banned["status"], &banned["email_verified"]), (&json!("disabled"), &json!(true)));
    assert_eq!(banned["last_login_at"], "2021-02-03T04:05:06.000007Z");
}
