//! PostgreSQL going away while the service runs, through a TCP proxy this test owns (the machine's PostgreSQL
//! stays up for the other tests). Ignored when TEST_DATABASE_URL is not set (see build.rs).

const BACKEND: &str = "postgres";

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
    app.post("/users", &serde_json::json!({"username": "bob", "email": "bob@example.com", "password": "password1"}))
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
