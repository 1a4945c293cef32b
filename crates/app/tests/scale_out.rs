//! Several real instances on one fresh PostgreSQL database, as behind a load balancer (docs/api.md §1, §4).
//! Ignored when TEST_DATABASE_URL is not set (see build.rs).

mod process_support;

use process_support::{field, http, start, stop, TempFolder};
use std::process::Child;
use users_storage_postgres::test_support::TestSchema;

const SECRET: &str = "one secret shared by every instance, 32+ bytes";

struct Cluster {
    instances: Vec<(Child, u16)>,
    _schema: TestSchema,
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
fn cluster(n: usize) -> Cluster {
    let schema = tokio::runtime::Runtime::new().expect("runtime").block_on(TestSchema::create());
    let folder = TempFolder::new("scale-out");
    let url = schema.url.clone();
    let starts: Vec<_> = (0..n)
        .map(|_| {
            let (url, dir) = (url.clone(), folder.0.clone());
            std::thread::spawn(move || {
                let folder = process_support::TempFolder(dir);
                let env = [
                    ("APP__STORAGE__BACKEND", "postgres"),
                    ("APP__STORAGE__URL", url.as_str()),
                    ("APP__AUTH__JWT_SECRET", SECRET),
                    ("APP__AUTH__LOGIN_IP_LIMIT_PER_MINUTE", "0"),
                    ("APP__AUTH__SIGNUP_IP_LIMIT_PER_MINUTE", "0"),
                    ("APP__AUTH__BOOTSTRAP_ADMIN__USERNAME", "root"),
                    ("APP__AUTH__BOOTSTRAP_ADMIN__EMAIL", "root@admin.example"),
                    ("APP__AUTH__BOOTSTRAP_ADMIN__PASSWORD", "root password"),
                ];
                let (child, port, _) = start(&folder, &env);
                std::mem::forget(folder); // the cluster owns the folder
                (child, port)
            })
        })
        .collect();
    let instances = starts.into_iter().map(|s| s.join().expect("instance started")).collect();
    Cluster { instances, _schema: schema, _folder: folder }
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
    let cluster = cluster(3);
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
