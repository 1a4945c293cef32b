//! Issue "Trust", the HTTP side: fair hashing, the sign-up limit, stalled bodies, two Authorization headers, and
//! several X-Forwarded-For lines.

use crate::helpers::{spawn_app, spawn_app_with, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A client whose connections come from `local` (any 127.0.0.0/8 address is this host's loopback): another
/// client IP, as the service sees it, with no proxy in between.
fn client_from(local: &str) -> reqwest::Client {
    let local: IpAddr = local.parse().expect("IP");
    reqwest::Client::builder().local_address(local).build().expect("client")
}

fn signup_body(username: &str) -> Value {
    json!({"username": username, "email": format!("{username}@example.com"), "password": "orbit-tulip-1"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_login_is_not_starved_by_many_concurrent_signups_from_another_client() {
    // Hashes slow enough (cost 10) that the flood is still queued when the login arrives.
    let Some(app) = spawn_app_with(|url| url, &[("APP__AUTH__BCRYPT_COST", "10")]).await else { return };
    app.create_user("alice").await;
    let done: Arc<Mutex<Vec<String>>> = Arc::default();
    let flood = client_from("127.0.0.1");
    let (first_done, first_done_seen) = tokio::sync::watch::channel(false);
    let signups: Vec<_> = (0..24)
        .map(|i| {
            let (flood, done, first_done, url) =
                (flood.clone(), done.clone(), first_done.clone(), format!("{}/users", app.address));
            tokio::spawn(async move {
                let reply = flood.post(url).json(&signup_body(&format!("flood{i}"))).send().await.expect("sent");
                let status = reply.status();
                done.lock().expect("lock").push(format!("signup {status}"));
                let _ = first_done.send(true);
                status
            })
        })
        .collect();
    // Once one sign-up is answered, the others have long been sent and wait for their turns.
    let mut first_done_seen = first_done_seen;
    first_done_seen.wait_for(|done| *done).await.expect("a sign-up answered");
    let login = client_from("127.0.0.2")
        .post(format!("{}/auth/login", app.address))
        .json(&json!({"username": "alice", "password": "orbit-tulip-1"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(login.status(), StatusCode::OK);
    done.lock().expect("lock").push("login".to_owned());
    let mut created = 0;
    for signup in signups {
        let status = signup.await.expect("task");
        assert!(status == StatusCode::CREATED || status == StatusCode::SERVICE_UNAVAILABLE, "{status}");
        created += usize::from(status == StatusCode::CREATED);
    }
    let order = done.lock().expect("lock").clone();
    let before_login = order.iter().take_while(|e| *e != "login").filter(|e| *e == "signup 201 Created").count();
    // First come, first served would put the login behind every queued sign-up; a fair turn puts it next.
    assert!(before_login <= 3, "the login waited behind {before_login} of {created} sign-ups: {order:?}");
    assert!(created - before_login >= created / 2, "most of the flood was still waiting: {order:?}");
}

#[tokio::test]
async fn anonymous_signups_are_limited_per_ip_and_an_admins_creates_are_not() {
    let Some(app) = spawn_app_with(|url| url, &[("APP__AUTH__SIGNUP_IP_LIMIT_PER_MINUTE", "2")]).await else {
        return;
    };
    for name in ["first", "second"] {
        assert_eq!(app.anonymous().post("/users", &signup_body(name)).await.status, StatusCode::CREATED);
    }
    let limited = app.anonymous().post("/users/signup", &signup_body("third")).await;
    limited.problem(429, "rate-limited");
    let wait: u64 = limited.header("retry-after").expect("Retry-After").parse().expect("seconds");
    assert!((1..=60).contains(&wait), "{wait}");
    // A signed-in user who is not an admin signs others up like anyone else.
    let user = app.login("first", "orbit-tulip-1").await;
    app.with_token(&user).post("/users", &signup_body("fourth")).await.problem(429, "rate-limited");
    for name in ["by-admin-1", "by-admin-2", "by-admin-3"] {
        assert_eq!(app.post("/users", &signup_body(name)).await.status, StatusCode::CREATED, "admins are exempt");
    }
    let elsewhere = client_from("127.0.0.2")
        .post(format!("{}/users", app.address))
        .json(&signup_body("from-elsewhere"))
        .send()
        .await
        .expect("sent");
    assert_eq!(elsewhere.status(), StatusCode::CREATED, "another client IP has its own count");
    assert_eq!(app.count().await, 6);
}

/// Opens a connection and sends a request head and the first bytes of a 100-byte JSON body, then nothing more.
async fn stalled_body(app: &TestApp, method: &str, path: &str) -> TcpStream {
    let address = app.address.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.expect("connected");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"user"
    );
    stream.write_all(head.as_bytes()).await.expect("written");
    stream
}

/// Everything the server sends until it closes the connection (bounded, so a connection left open fails the
/// test instead of hanging it).
async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut response))
        .await
        .expect("the server closed the connection")
        .expect("read");
    String::from_utf8_lossy(&response).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stalled_bodies_get_408_and_a_closed_connection_while_others_are_served() {
    let Some(app) = spawn_app_with(|url| url, &[("APP__SERVER__BODY_TIMEOUT_SECS", "1")]).await else { return };
    let mut stalled = Vec::new();
    for i in 0..100 {
        let path = ["/users", "/auth/login", "/auth/refresh"][i % 3];
        stalled.push(stalled_body(&app, "POST", path).await);
    }
    // The service answers others while the stalled connections are open.
    assert_eq!(app.anonymous().get("/health").await.status, StatusCode::OK);
    assert_eq!(app.create_user("alice").await["username"], "alice");
    for mut stream in stalled {
        let response = read_until_closed(&mut stream).await;
        assert!(response.starts_with("HTTP/1.1 408"), "{response}");
        assert!(response.to_ascii_lowercase().contains("content-type: application/problem+json"), "{response}");
        assert!(response.contains(r#""type":"/problems/request-timeout""#), "{response}");
    }
    assert_eq!(app.anonymous().get("/health").await.status, StatusCode::OK);
    assert_eq!(app.count().await, 1, "no stalled sign-up created anything");
}

#[tokio::test]
async fn the_body_timeout_counts_idle_time_not_the_whole_upload() {
    let Some(app) = spawn_app_with(|url| url, &[("APP__SERVER__BODY_TIMEOUT_SECS", "2")]).await else { return };
    let body = serde_json::to_vec(&signup_body("steady")).expect("json");
    let address = app.address.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.expect("connected");
    let head = format!(
        "POST /users HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    // Longer in all than the timeout, never idle for long.
    let chunks = body.chunks(body.len().div_ceil(12));
    for chunk in chunks {
        tokio::time::sleep(Duration::from_millis(300)).await;
        stream.write_all(chunk).await.expect("chunk");
    }
    let response = read_until_closed(&mut stream).await;
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
}

#[tokio::test]
async fn two_authorization_headers_are_400_before_authentication() {
    let Some(app) = spawn_app().await else { return };
    let admin = app.token.clone().expect("admin token");
    let alice = app.create_user("alice").await["id"].as_i64().expect("id");
    let bearer = format!("Bearer {admin}");
    let twice = [("Authorization", bearer.as_str()), ("Authorization", bearer.as_str())];
    let patch = serde_json::to_vec(&json!({"name": "Alice"})).expect("json");
    let routes = [
        (Method::GET, "/users/me".to_owned(), None),
        (Method::GET, "/users".to_owned(), None),
        (Method::GET, format!("/users/{alice}"), None),
        (Method::PATCH, format!("/users/{alice}"), Some(("application/json", patch.clone()))),
        (Method::DELETE, format!("/users/{alice}"), None),
        (Method::POST, "/users".to_owned(), Some(("application/json", serde_json::to_vec(&signup_body("bob")).expect("json")))),
    ];
    for (method, path, body) in routes {
        // Even the same valid admin token twice.
        let reply = app.anonymous().send(method.clone(), &path, body, &twice).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{method} {path}: {}", reply.text);
        reply.invalid_fields(&["Authorization"]);
    }
    let with_a_bad_one = [("Authorization", bearer.as_str()), ("Authorization", "Bearer not-a-token")];
    app.anonymous().get("/users/me").await.problem(401, "unauthorized");
    let reply = app.anonymous().send(Method::GET, "/users/me", None, &with_a_bad_one).await;
    reply.invalid_fields(&["Authorization"]);
    assert_eq!(app.get(&format!("/users/{alice}")).await.json()["name"], Value::Null, "nothing was changed");
    assert_eq!(app.count().await, 1, "nothing was created");
    // The /auth routes ignore the Authorization header, however many.
    let login = serde_json::to_vec(&json!({"username": "alice", "password": "orbit-tulip-1"})).expect("json");
    let reply = app.anonymous().send(Method::POST, "/auth/login", Some(("application/json", login)), &twice).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
}

#[tokio::test]
async fn several_x_forwarded_for_lines_are_one_list_and_the_right_most_untrusted_address_counts() {
    let settings = [("APP__AUTH__LOGIN_IP_LIMIT_PER_MINUTE", "3"), ("APP__SERVER__TRUSTED_PROXIES", "127.0.0.1/32")];
    let Some(app) = spawn_app_with(|url| url, &settings).await else { return };
    let body = serde_json::to_vec(&json!({"username": "nobody", "password": "wrong password"})).expect("json");
    let login = |lines: [&'static str; 2]| {
        let body = body.clone();
        let app = &app;
        async move {
            let headers = [("X-Forwarded-For", lines[0]), ("X-Forwarded-For", lines[1])];
            app.anonymous().send(Method::POST, "/auth/login", Some(("application/json", body)), &headers).await
        }
    };
    // The client writes whatever it likes in the first line; the proxy appends the address it saw.
    for client_chosen in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        assert_eq!(login([client_chosen, "203.0.113.7"]).await.status, StatusCode::UNAUTHORIZED);
    }
    let limited = login(["198.51.100.4", "203.0.113.7"]).await;
    limited.problem(429, "rate-limited");
    // A proxy of ours further right is skipped; the client it forwarded for is another one.
    assert_eq!(login(["203.0.113.7", "203.0.113.8, 127.0.0.1"]).await.status, StatusCode::UNAUTHORIZED);
}
