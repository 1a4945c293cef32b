//! `spawn_app`: the whole service in-process on port 0, and a small REST client for it.

use reqwest::header::{HeaderMap, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use users_api::settings;
use users_api::startup;
use users_domain::ports::UserRepository;
use users_storage_postgres::test_support::TestSchema;

pub struct TestApp {
    pub address: String,
    /// Where this app keeps its users: a second instance on the same URL shares them.
    pub storage_url: String,
    pub repository: Arc<dyn UserRepository>,
    client: reqwest::Client,
    /// Sent as `Authorization: Bearer …` when set.
    pub token: Option<String>,
    /// Drops the test's database (a PostgreSQL schema, a SQLite folder) when the test ends.
    _storage: StorageGuard,
}

/// What a test's storage leaves behind, removed on drop.
enum StorageGuard {
    None,
    Folder(PathBuf),
    Schema(#[allow(dead_code)] TestSchema),
}

impl Drop for StorageGuard {
    fn drop(&mut self) {
        if let Self::Folder(folder) = self {
            let _ = std::fs::remove_dir_all(folder);
        }
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    /// The body as it came (still compressed if the server compressed it).
    pub bytes: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).map(|v| v.to_str().expect("ASCII header").to_owned())
    }

    /// Asserts a problem+json error of `status` and `type`; returns its body.
    pub fn problem(&self, status: u16, problem_type: &str) -> Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.text);
        assert_eq!(self.header("content-type").as_deref(), Some("application/problem+json"), "{}", self.text);
        let body = self.json();
        assert_eq!(body["type"], format!("/problems/{problem_type}"), "{body}");
        assert_eq!(body["status"], status, "{body}");
        assert!(body["title"].is_string() && body["detail"].is_string(), "{body}");
        assert_eq!(body["request_id"].as_str(), self.header("x-request-id").as_deref(), "{body}");
        body
    }

    /// Asserts a 400 naming exactly these fields.
    pub fn invalid_fields(&self, fields: &[&str]) {
        let body = self.problem(400, "validation");
        let mut named: Vec<&str> = body["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("no errors: {body}"))
            .iter()
            .map(|e| e["field"].as_str().expect("field"))
            .collect();
        named.sort_unstable();
        let mut expected = fields.to_vec();
        expected.sort_unstable();
        assert_eq!(named, expected, "{body}");
    }
}

/// The bootstrap admin every test app has; its token is the test client's by default.
pub const ADMIN_USERNAME: &str = "root";
pub const ADMIN_PASSWORD: &str = "root password";

/// The settings a test runs with: this suite's backend on a storage of its own, port 0, the cheapest bcrypt.
pub fn test_env(backend: &str, url: &str) -> HashMap<String, String> {
    [
        ("APP_ENV", "test"),
        ("APP__SERVER__PORT", "0"),
        ("APP__SERVER__WORKERS", "2"),
        ("APP__STORAGE__BACKEND", backend),
        ("APP__STORAGE__URL", url),
        ("APP__AUTH__BCRYPT_COST", "4"),
        ("APP__AUTH__LOGIN_IP_LIMIT_PER_MINUTE", "0"),
        ("APP__AUTH__SIGNUP_IP_LIMIT_PER_MINUTE", "0"),
        ("APP__AUTH__JWT_SECRET", "a test secret of at least thirty-two bytes"),
        ("APP__AUTH__BOOTSTRAP_ADMIN__USERNAME", ADMIN_USERNAME),
        ("APP__AUTH__BOOTSTRAP_ADMIN__EMAIL", "root@admin.example"),
        ("APP__AUTH__BOOTSTRAP_ADMIN__PASSWORD", ADMIN_PASSWORD),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// A fresh, empty storage for `crate::backend()` (PostgreSQL: a schema of its own in `TEST_DATABASE_URL`).
async fn fresh_storage() -> (String, StorageGuard) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    match crate::backend() {
        "memory" => (String::new(), StorageGuard::None),
        "sqlite" => {
            let name = format!("users-api-http-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst));
            let folder = std::env::temp_dir().join(name);
            (format!("sqlite://{}", folder.join("users.db").display()), StorageGuard::Folder(folder))
        }
        "postgres" => {
            let schema = TestSchema::create().await;
            (schema.url.clone(), StorageGuard::Schema(schema))
        }
        other => panic!("unknown backend {other}"),
    }
}

/// The whole service in-process on a random port, on `crate::backend()`. (Always `Some`: on PostgreSQL without
/// `TEST_DATABASE_URL` it fails, naming the variable; the `Option` keeps the suite's `let Some(app)` form.)
pub async fn spawn_app() -> Option<TestApp> {
    spawn_app_with(|url| url, &[]).await
}

/// A second instance on the same storage as `first` (SQL backends only: memory is not shared), as instances
/// behind a load balancer run.
pub async fn spawn_second_instance(first: &TestApp) -> Option<TestApp> {
    if crate::backend() == "memory" {
        return None;
    }
    let url = first.storage_url.clone();
    spawn_app_with(move |_| url, &[]).await
}

/// The settings that turn the refresh grace off (docs/api.md §6): §4's rule, exactly one winner, holds.
pub const NO_REFRESH_GRACE: &[(&str, &str)] = &[("APP__AUTH__REFRESH_REUSE_GRACE_SECS", "0")];

/// As `spawn_app`, with the storage URL passed through `route` (e.g. through a proxy) and extra settings.
pub async fn spawn_app_with(route: impl FnOnce(String) -> String, extra: &[(&str, &str)]) -> Option<TestApp> {
    let (url, guard) = fresh_storage().await;
    let storage_url = route(url);
    let mut env = test_env(crate::backend(), &storage_url);
    env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    let (_, settings) = settings::load_from(env).expect("test settings");
    let storage = startup::storage(&settings, true).await.expect("storage ready");
    let app = startup::build_with(&settings, storage.clone()).await.expect("service starts");
    tokio::spawn(app.server);
    let mut test_app = TestApp {
        address: format!("http://127.0.0.1:{}", app.port),
        repository: storage,
        client: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client"),
        token: None,
        _storage: guard,
        storage_url,
    };
    test_app.token = Some(test_app.login(ADMIN_USERNAME, ADMIN_PASSWORD).await);
    Some(test_app)
}

/// A REST client of the test app with a token of its own (or none).
pub struct Client<'a> {
    app: &'a TestApp,
    token: Option<String>,
}

impl Client<'_> {
    /// Any request: `body` is sent as-is with `content_type` when given.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = self.app.client.request(method, format!("{}{path}", self.app.address));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some((content_type, bytes)) = body {
            request = request.header(CONTENT_TYPE, content_type).body(bytes);
        }
        let response = request.send().await.expect("request sent");
        let (status, headers) = (response.status(), response.headers().clone());
        let bytes = response.bytes().await.expect("body read").to_vec();
        Reply { status, headers, text: String::from_utf8_lossy(&bytes).into_owned(), bytes }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None, &[]).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send(Method::DELETE, path, None, &[]).await
    }

    pub async fn json(&self, method: Method, path: &str, body: &Value) -> Reply {
        let bytes = serde_json::to_vec(body).expect("serializable");
        self.send(method, path, Some(("application/json", bytes)), &[]).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.json(Method::POST, path, body).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Reply {
        self.json(Method::PATCH, path, body).await
    }
}

/// The test app's own client sends its `token` (the admin's unless a test changes it).
impl TestApp {
    fn client(&self) -> Client<'_> {
        Client { app: self, token: self.token.clone() }
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
        headers: &[(&str, &str)],
    ) -> Reply {
        self.client().send(method, path, body, headers).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.client().get(path).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.client().delete(path).await
    }

    pub async fn json(&self, method: Method, path: &str, body: &Value) -> Reply {
        self.client().json(method, path, body).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.client().post(path, body).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Reply {
        self.client().patch(path, body).await
    }

    /// Creates `username` (email `username@example.com`) and returns the created user.
    pub async fn create_user(&self, username: &str) -> Value {
        self.create(
            json!({"username": username, "email": format!("{username}@example.com"), "password": "orbit-tulip-1"}),
        )
        .await
    }

    pub async fn create(&self, body: Value) -> Value {
        let reply = self.post("/users", &body).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        reply.json()
    }

    /// How many users are stored besides the bootstrap admin, read behind the API.
    pub async fn count(&self) -> u64 {
        self.repository.list(&users_domain::ListQuery::default()).await.expect("listed").total - 1
    }

    /// Logs in by username; returns the access token.
    pub async fn login(&self, username: &str, password: &str) -> String {
        let reply = self.anonymous().post("/auth/login", &json!({"username": username, "password": password})).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        reply.json()["access_token"].as_str().expect("access token").to_owned()
    }

    /// The same service, spoken to without a token.
    pub fn anonymous(&self) -> Client<'_> {
        Client { app: self, token: None }
    }

    /// The same service, spoken to with `token`.
    pub fn with_token(&self, token: &str) -> Client<'_> {
        Client { app: self, token: Some(token.to_owned()) }
    }
}
