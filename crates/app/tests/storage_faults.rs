//! PostgreSQL going away while the service runs, through a TCP proxy this test owns (the machine's PostgreSQL
//! stays up for the other tests). Ignored when TEST_DATABASE_URL is not set (see build.rs).

/// These tests run on PostgreSQL alone (the shared helpers ask which backend).
fn backend() -> &'static str {
    "postgres"
}

#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;

use helpers::spawn_app_with;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Forwards connections to `upstream` while up; `cut` closes every open connection and refuses new ones.
struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
        let port = listener.local_addr().expect("address").port();
        let up = Arc::new(AtomicBool::new(true));
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (accept_up, accept_connections) = (up.clone(), connections.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !accept_up.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let upstream = upstream.clone();
                let forward = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                accept_connections.lock().expect("lock").push(forward);
            }
        });
        Self { port, up, connections }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for connection in self.connections.lock().expect("lock").drain(..) {
            connection.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// `postgres://user@host:port/db?…` → the `host:port` part.
fn authority(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let host_and_rest = after_scheme.split_once('@').map_or(after_scheme, |(_, rest)| rest);
    host_and_rest.split(['/', '?']).next().unwrap_or_default().to_owned()
}

#[cfg_attr(no_test_database, ignore = "needs TEST_DATABASE_URL")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_gives_503_then_the_service_recovers_by_itself() {
    let database_url = users_storage_postgres::test_support::test_database_url();
    let upstream = authority(&database_url);
    let proxy = Proxy::start(upstream.clone()).await;
    let proxied = format!("127.0.0.1:{}", proxy.port);
    let settings = [("APP__STORAGE__ACQUIRE_TIMEOUT_SECS", "1"), ("APP__STORAGE__POOL_SIZE", "4")];
    let app = spawn_app_with(|url| url.replacen(&upstream, &proxied, 1), &settings).await.expect("service starts");
    let user = app.create_user("alice").await;
    let path = format!("/users/{}", user["id"]);
    // Warm the pool so that broken pooled connections are part of the test.
    for _ in 0..8 {
        assert_eq!(app.get(&path).await.status, 200);
    }

    proxy.cut();
    let started = Instant::now();
    app.get(&path).await.problem(503, "unavailable");
    assert!(started.elapsed() < Duration::from_secs(10), "answered within the acquire timeout (and a margin)");
    app.get("/health/ready").await.problem(503, "unavailable");
    app.post(
        "/users",
        &serde_json::json!({"username": "bob", "email": "bob@example.com", "password": "orbit-tulip-1"}),
    )
    .await
    .problem(503, "unavailable");
    for _ in 0..4 {
        let reply = app.get(&path).await;
        assert_eq!(reply.status, 503, "never a 500 while it is away: {}", reply.text);
        assert!(!reply.text.contains("pool") && !reply.text.contains("connection"), "no internals: {}", reply.text);
    }

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.get("/health/ready").await.status != 200 {
        assert!(Instant::now() < deadline, "recovers without a restart");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for _ in 0..20 {
        let reply = app.get(&path).await;
        assert_eq!(reply.status, 200, "broken connections are not reused after recovery: {}", reply.text);
    }
    assert_eq!(app.count().await, 1, "nothing was written while it was away");
}

/// A connection of the test's own to the app's schema (its URL sets the `search_path`).
async fn sql(app: &helpers::TestApp) -> sqlx::PgConnection {
    use sqlx::Connection;
    sqlx::PgConnection::connect(&app.storage_url).await.expect("the test connects to its schema")
}

async fn execute(connection: &mut sqlx::PgConnection, statement: &'static str) {
    sqlx::raw_sql(statement).execute(connection).await.expect("statement runs");
}

/// Asserts a 503 that says when to retry (1–30 s).
fn assert_unavailable(reply: &helpers::Reply) {
    reply.problem(503, "unavailable");
    let retry_after: u64 = reply.header("retry-after").and_then(|v| v.parse().ok()).expect("Retry-After in seconds");
    assert!((1..=30).contains(&retry_after), "{retry_after}");
    assert!(!reply.text.contains("SQL") && !reply.text.contains("53100"), "no internals: {}", reply.text);
}

#[cfg_attr(no_test_database, ignore = "needs TEST_DATABASE_URL")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_that_fails_is_a_503_and_nothing_is_acknowledged() {
    let app = helpers::spawn_app().await.expect("service starts");
    let alice = app.create_user("alice").await;
    let mut connection = sql(&app).await;
    // A deferred constraint trigger fails every write of `users` at COMMIT, after the statement answered its
    // row, as a disk that fills up at the commit would (53100 disk_full).
    execute(
        &mut connection,
        "CREATE FUNCTION refuse_commit() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'no space left' USING ERRCODE = '53100'; END $$; \
         CREATE CONSTRAINT TRIGGER refuse_commit AFTER INSERT OR UPDATE ON users \
         DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_commit();",
    )
    .await;
    for i in 0..5 {
        let body = serde_json::json!({"username": format!("bob{i}"), "email": format!("bob{i}@example.com"), "password": "orbit-tulip-1"});
        assert_unavailable(&app.post("/users", &body).await);
    }
    let renamed = app.patch(&format!("/users/{}", alice["id"]), &serde_json::json!({"name": "Renamed"})).await;
    assert_unavailable(&renamed);
    execute(&mut connection, "DROP TRIGGER refuse_commit ON users").await;
    assert_eq!(app.count().await, 1, "no refused sign-up was stored");
    let alice_now = app.get(&format!("/users/{}", alice["id"])).await.json();
    assert_eq!(alice_now["name"], serde_json::Value::Null, "the refused update left nothing");
    let next = app.create_user("carol").await;
    assert!(next["id"].as_i64() > alice["id"].as_i64(), "ids are never handed out twice");
}

#[cfg_attr(no_test_database, ignore = "needs TEST_DATABASE_URL")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_lock_is_a_503_with_retry_after_and_readiness_says_so() {
    let settings = [("APP__STORAGE__STATEMENT_TIMEOUT_SECS", "1")];
    let app = spawn_app_with(|url| url, &settings).await.expect("service starts");
    let alice = app.create_user("alice").await;
    let path = format!("/users/{}", alice["id"]);
    let mut connection = sql(&app).await;
    execute(&mut connection, "BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE").await;

    assert_unavailable(&app.get(&path).await);
    assert_unavailable(&app.patch(&path, &serde_json::json!({"age": 30})).await);
    app.get("/health/ready").await.problem(503, "unavailable");

    execute(&mut connection, "ROLLBACK").await;
    assert_eq!(app.get("/health/ready").await.status, 200);
    assert_eq!(app.get(&path).await.status, 200);
}

#[cfg_attr(no_test_database, ignore = "needs TEST_DATABASE_URL")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_killed_by_the_database_cost_at_most_a_503_each_then_heal() {
    let name = format!("users_api_kill_{}", std::process::id());
    let tagged = name.clone();
    let app = spawn_app_with(move |url| format!("{url}&application_name={tagged}"), &[]).await.expect("service starts");
    let alice = app.create_user("alice").await;
    let path = format!("/users/{}", alice["id"]);
    let warm: Vec<_> = (0..8).map(|_| app.get(&path)).collect();
    for reply in futures_util::future::join_all(warm).await {
        assert_eq!(reply.status, 200);
    }
    let untagged = app.storage_url.replace(&format!("&application_name={name}"), "");
    let mut connection = {
        use sqlx::Connection;
        sqlx::PgConnection::connect(&untagged).await.expect("the test connects")
    };
    let killed: Vec<bool> =
        sqlx::query_scalar("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1")
            .bind(&name)
            .fetch_all(&mut connection)
            .await
            .expect("terminated");
    assert!(!killed.is_empty(), "the service's connections were found");
    let mut unavailable = 0;
    for _ in 0..30 {
        let reply = app.get(&path).await;
        match reply.status.as_u16() {
            200 => {}
            503 => unavailable += 1,
            other => panic!("never {other} for a killed connection: {}", reply.text),
        }
    }
    assert!(unavailable <= killed.len(), "each killed connection fails at most one request");
    assert_eq!(app.get("/health/ready").await.status, 200);
    for _ in 0..10 {
        assert_eq!(app.get(&path).await.status, 200, "healed");
    }
}

/// Forwards connections to `upstream`, counting the Execute messages clients send: one per statement run (sqlx
/// uses the extended protocol). Needs an unencrypted connection (`sslmode=disable`) to read them.
struct CountingProxy {
    port: u16,
    executes: Arc<std::sync::atomic::AtomicUsize>,
}

impl CountingProxy {
    async fn start(upstream: String) -> Self {
        use std::sync::atomic::AtomicUsize;
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
        let port = listener.local_addr().expect("address").port();
        let executes = Arc::new(AtomicUsize::new(0));
        let counter = executes.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (upstream, counter) = (upstream.clone(), counter.clone());
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else { return };
                    let (mut client_read, mut client_write) = client.into_split();
                    let (mut server_read, mut server_write) = server.into_split();
                    let answers = tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
                    });
                    let _ = count_executes(&mut client_read, &mut server_write, &counter).await;
                    answers.abort();
                });
            }
        });
        Self { port, executes }
    }

    fn executes(&self) -> usize {
        self.executes.load(Ordering::SeqCst)
    }
}

/// Copies a client's messages to the server, counting Execute ('E') messages. The first message (startup) has no
/// type byte; every later one is a type byte and a length that counts itself.
async fn count_executes(
    client: &mut tokio::net::tcp::OwnedReadHalf,
    server: &mut tokio::net::tcp::OwnedWriteHalf,
    counter: &std::sync::atomic::AtomicUsize,
) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut length = [0u8; 4];
    client.read_exact(&mut length).await?;
    let mut startup = vec![0u8; (u32::from_be_bytes(length) as usize).saturating_sub(4)];
    client.read_exact(&mut startup).await?;
    server.write_all(&length).await?;
    server.write_all(&startup).await?;
    loop {
        let kind = client.read_u8().await?;
        client.read_exact(&mut length).await?;
        let mut body = vec![0u8; (u32::from_be_bytes(length) as usize).saturating_sub(4)];
        client.read_exact(&mut body).await?;
        if kind == b'E' {
            counter.fetch_add(1, Ordering::SeqCst);
        }
        server.write_all(&[kind]).await?;
        server.write_all(&length).await?;
        server.write_all(&body).await?;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(no_test_database, ignore = "needs TEST_DATABASE_URL")]
async fn login_costs_six_statements_on_postgresql() {
    let database_url = users_storage_postgres::test_support::test_database_url();
    let upstream = authority(&database_url);
    let proxy = CountingProxy::start(upstream.clone()).await;
    let proxied = format!("127.0.0.1:{}", proxy.port);
    let route = |url: String| format!("{}&sslmode=disable", url.replacen(&upstream, &proxied, 1));
    let Some(app) = spawn_app_with(route, &[]).await else { return };
    app.create_user("alice").await;
    let login = serde_json::json!({"username": "alice", "password": "orbit-tulip-1"});
    // The first login prepares the statements and warms the pool; the second is the steady state.
    assert_eq!(app.anonymous().post("/auth/login", &login).await.status, 200);
    let before = proxy.executes();
    assert_eq!(app.anonymous().post("/auth/login", &login).await.status, 200);
    assert_eq!(
        proxy.executes() - before,
        6,
        "find the user, record the attempt, read failures, clear, record last_login_at, store the token"
    );
}
