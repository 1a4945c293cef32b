//! Several real instances on one fresh PostgreSQL database, as behind a load balancer (docs/api.md §1, §4, §6),
//! and on one SQLite file. The PostgreSQL ones are ignored when TEST_DATABASE_URL is not set (see build.rs).

mod process_support;

use process_support::{field, http, start, stop, TempFolder};
use std::process::Child;
use users_storage_postgres::test_support::TestSchema;

const SECRET: &str = "one secret shared by every instance, 32+ bytes";

struct Cluster {
    instances: Vec<(Child, u16)>,
    _schema: Option<TestSchema>,
    _folder: TempFolder,
}

impl Cluster {
    fn ports(&self) -> Vec<u16> {
        self.instances.iter().map(|(_, port)| *port).collect()
    }

    fn stop(self) {
        for (child, _) in self.instances {
            stop(child);
        }
    }
}

/// `n` instances started at the same moment on an empty database (they race to migrate and to create the
/// bootstrap admin).
fn cluster(n: usize, name: &str) -> Cluster {
    let schema = tokio::runtime::Runtime::new().expect("runtime").block_on(TestSchema::create());
    let folder = TempFolder::new(name);
    let url = schema.url.clone();
    let instances = start_instances(n, "postgres", &url, &folder);
    Cluster { instances, _schema: Some(schema), _folder: folder }
}

/// `n` instances on one SQLite file, started one after the other (the first creates and migrates the file).
fn sqlite_cluster(n: usize) -> Cluster {
    let folder = TempFolder::new("scale-out-sqlite");
    let url = format!("sqlite://{}", folder.0.join("users.db").display());
    let mut instances = start_instances(1, "sqlite", &url, &folder);
    instances.extend(start_instances(n - 1, "sqlite", &url, &folder));
    Cluster { instances, _schema: None, _folder: folder }
}

fn start_instances(n: usize, backend: &'static str, url: &str, folder: &TempFolder) -> Vec<(Child, u16)> {
    let starts: Vec<_> = (0..n)
        .map(|_| {
            let (url, dir) = (url.to_owned(), folder.0.clone());
            std::thread::spawn(move || {
                let folder = process_support::TempFolder(dir);
                let env = [
                    ("APP__STORAGE__BACKEND", backend),
                    ("APP__STORAGE__URL", url.as_str()),
                    ("APP__AUTH__JWT_SECRET", SECRET),
                    ("APP__AUTH__LOGIN_IP_LIMIT_PER_MINUTE", "0"),
                    ("APP__AUTH__SIGNUP_IP_LIMIT_PER_MINUTE", "0"),
                    ("APP__AUTH__BOOTSTRAP_ADMIN__USERNAME", "root"),
                    ("APP__AUTH__BOOTSTRAP_ADMIN__EMAIL", "root@admin.example"),
                    ("APP__AUTH__BOOTSTRAP_ADMIN__PASSWORD", "root password"),
                    // Reuse across instances is checked below: no grace (docs/api.md §6).
                    ("APP__AUTH__REFRESH_REUSE_GRACE_SECS", "0"),
                ];
                let (child, port, _) = start(&folder, &env);
                std::mem::forget(folder); // the cluster owns the folder
                (child, port)
            })
        })
        .collect();
    starts.into_iter().map(|s| s.join().expect("instance started")).collect()
}

fn login(port: u16, username: &str, password: &str) -> (u16, String) {
    http(port, "POST", "/auth/login", &format!(r#"{{"username":"{username}","password":"{password}"}}"#), None)
}

fn token_of(port: u16, username: &str, password: &str) -> String {
    let (status, body) = login(port, username, password);
    assert_eq!(status, 200, "{body}");
    field(&body, "access_token")
}

#[test]
#[cfg_attr(no_test_database, ignore = "needs TEST_DATABASE_URL")]
fn instances_started_together_share_one_database_consistently() {
    let cluster = cluster(3, "scale-out");
    let ports = cluster.ports();
    // All came up, migrations applied once, one bootstrap admin.
    for port in &ports {
        assert_eq!(http(*port, "GET", "/health/ready", "", None).0, 200);
    }
    let admin = token_of(ports[0], "root", "root password");
    let (_, admins) = http(ports[1], "GET", "/users?role=admin", "", Some(&admin));
    assert_eq!(admins.matches("\"username\"").count(), 1, "{admins}");

    // 50 concurrent creates of one username spread over the instances: exactly one 201.
    let creates: Vec<_> = (0..50)
        .map(|i| {
            let port = ports[i % ports.len()];
            std::thread::spawn(move || {
                let body = format!(r#"{{"username":"same","email":"same{i}@example.com","password":"orbit-tulip-1"}}"#);
                http(port, "POST", "/users", &body, None).0
            })
        })
        .collect();
    let statuses: Vec<u16> = creates.into_iter().map(|c| c.join().expect("create")).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 49, "{statuses:?}");

    // A refresh token rotated on one instance, replayed on another: 401, and the family revoked everywhere.
    let (_, pair) = login(ports[0], "same", "orbit-tulip-1");
    let refresh = format!(r#"{{"refresh_token":"{}"}}"#, field(&pair, "refresh_token"));
    let (status, rotated) = http(ports[1], "POST", "/auth/refresh", &refresh, None);
    assert_eq!(status, 200, "{rotated}");
    assert_eq!(http(ports[2], "POST", "/auth/refresh", &refresh, None).0, 401);
    let newest = format!(r#"{{"refresh_token":"{}"}}"#, field(&rotated, "refresh_token"));
    assert_eq!(http(ports[0], "POST", "/auth/refresh", &newest, None).0, 401);

    // Failed logins spread over the instances count together.
    for i in 0..5 {
        assert_eq!(login(ports[i % ports.len()], "same", "wrong password").0, 401);
    }
    assert_eq!(login(ports[2], "same", "orbit-tulip-1").0, 429);

    // A password change on one instance: the old token is refused by every instance at once.
    let user = token_of(ports[0], "root", "root password");
    let (_, me) = http(ports[0], "GET", "/users/me", "", Some(&user));
    let id = me.split("\"id\":").nth(1).and_then(|r| r.split(',').next()).expect("id").to_owned();
    let change = r#"{"password":"a new root password","current_password":"root password"}"#;
    assert_eq!(http(ports[1], "PATCH", &format!("/users/{id}"), change, Some(&user)).0, 200);
    for port in &ports {
        assert_eq!(http(*port, "GET", "/users/me", "", Some(&user)).0, 401, "instance on port {port}");
    }
    // A delete on one instance: the deleted user's token is refused everywhere.
    let admin = token_of(ports[2], "root", "a new root password");
    let (_, signup) = http(
        ports[0],
        "POST",
        "/users",
        r#"{"username":"gone","email":"gone@example.com","password":"orbit-tulip-1"}"#,
        None,
    );
    let gone_id = signup.split("\"id\":").nth(1).and_then(|r| r.split(',').next()).expect("id").to_owned();
    let gone = token_of(ports[1], "gone", "orbit-tulip-1");
    assert_eq!(http(ports[2], "DELETE", &format!("/users/{gone_id}"), "", Some(&admin)).0, 204);
    for port in &ports {
        assert_eq!(http(*port, "GET", "/users/me", "", Some(&gone)).0, 401, "instance on port {port}");
    }
    cluster.stop();
}

/// The session id (`sid` claim) of an access token.
fn sid_of(access: &str) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let claims = access.split('.').nth(1).and_then(|c| URL_SAFE_NO_PAD.decode(c).ok()).expect("claims");
    field(&String::from_utf8(claims).expect("utf-8"), "sid")
}

/// A session revoked through one instance, and a logout through another, hold on every instance at once.
fn revocations_hold_on_every_instance(cluster: Cluster) {
    let ports = cluster.ports();
    let signup = r#"{"username":"alice","email":"alice@example.com","password":"orbit-tulip-1"}"#;
    let (_, created) = http(ports[0], "POST", "/users", signup, None);
    let id = created.split("\"id\":").nth(1).and_then(|r| r.split(',').next()).expect("id").to_owned();
    let laptop = token_of(ports[0], "alice", "orbit-tulip-1");
    let (_, phone) = login(ports[2], "alice", "orbit-tulip-1");
    let phone_access = field(&phone, "access_token");
    for port in &ports {
        assert_eq!(http(*port, "GET", &format!("/users/{id}"), "", Some(&laptop)).0, 200, "port {port}");
    }
    let path = format!("/users/{id}/sessions/{}", sid_of(&laptop));
    assert_eq!(http(ports[1], "DELETE", &path, "", Some(&phone_access)).0, 204);
    for port in &ports {
        assert_eq!(http(*port, "GET", &format!("/users/{id}"), "", Some(&laptop)).0, 401, "revoked, port {port}");
        assert_eq!(http(*port, "GET", "/users/me", "", Some(&phone_access)).0, 200, "the other session, port {port}");
    }
    let logout = format!(r#"{{"refresh_token":"{}"}}"#, field(&phone, "refresh_token"));
    assert_eq!(http(ports[0], "POST", "/auth/logout", &logout, None).0, 204);
    for port in &ports {
        assert_eq!(http(*port, "GET", "/users/me", "", Some(&phone_access)).0, 401, "logged out, port {port}");
    }
    cluster.stop();
}

#[test]
#[cfg_attr(no_test_database, ignore = "needs TEST_DATABASE_URL")]
fn a_session_revocation_holds_on_three_instances_on_one_postgresql() {
    revocations_hold_on_every_instance(cluster(3, "scale-out-sessions"));
}

#[test]
fn a_session_revocation_holds_on_three_instances_on_one_sqlite_file() {
    revocations_hold_on_every_instance(sqlite_cluster(3));
}
