//! The embedded default under the faults a real deployment meets, through the real binary: the disk filling up
//! (a file-size limit on the process), the database file removed while the service runs, a database the process
//! may not write. A 2xx for a write means it is on disk; a write that cannot be stored is a 503 with Retry-After.

mod process_support;

use process_support::{http, id_of, login, start, TempFolder};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

const ADMIN: (&str, &str) = ("root", "root password");

fn settings() -> Vec<(&'static str, &'static str)> {
    vec![
        ("APP_ENV", "test"),
        ("APP__AUTH__JWT_SECRET", "a test secret of at least thirty-two bytes"),
        ("APP__AUTH__LOGIN_IP_LIMIT_PER_MINUTE", "0"),
        ("APP__AUTH__BOOTSTRAP_ADMIN__USERNAME", ADMIN.0),
        ("APP__AUTH__BOOTSTRAP_ADMIN__EMAIL", "root@admin.example"),
        ("APP__AUTH__BOOTSTRAP_ADMIN__PASSWORD", ADMIN.1),
    ]
}

fn create(port: u16, admin: &str, name: &str) -> (u16, String) {
    let body = format!(r#"{{"username":"{name}","email":"{name}@example.com","password":"orbit-tulip-1"}}"#);
    http(port, "POST", "/users", &body, Some(admin))
}

fn kill(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// A 503 problem. (`Retry-After` is checked by the in-process suites, which see headers.)
fn assert_unavailable(status: u16, reply: &str, what: &str) {
    assert_eq!(status, 503, "{what}: {reply}");
    assert!(reply.contains("/problems/unavailable"), "{what}: {reply}");
}

#[test]
fn with_the_disk_full_no_write_is_acknowledged_that_was_not_stored() {
    let folder = TempFolder::new("disk-full");
    let env = settings();
    // Migrate and create the admin first, with no limit: the limit then applies to the writes under test.
    let (server, port, _) = start(&folder, &env);
    let admin = login(port, ADMIN.0, ADMIN.1);
    let (status, victim) = create(port, &admin, "victim");
    assert_eq!(status, 201, "{victim}");
    kill(server);

    // Files may grow to 1 MiB: SQLite's write-ahead log reaches it after some hundreds of sign-ups. SIGXFSZ is
    // ignored (as a service manager's LimitFSIZE would leave it), so a write past the limit fails with EFBIG.
    let limited = Command::new("bash")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 1024; exec \"$0\" serve")
        .arg(env!("CARGO_BIN_EXE_users-api"))
        .current_dir(&folder.0)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("APP__AUTH__BCRYPT_COST", "4")
        .env("APP__SERVER__PORT", "0")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("spawned");
    let (server, port, log) = process_support::listening(limited);
    let admin = login(port, ADMIN.0, ADMIN.1);
    let mut acknowledged = Vec::new();
    let mut refused = None;
    for i in 0..5000 {
        let (status, reply) = create(port, &admin, &format!("user{i}"));
        match status {
            201 => acknowledged.push(id_of(&reply)),
            _ => {
                refused = Some((status, reply));
                break;
            }
        }
    }
    let (status, reply) = refused.expect("the disk fills up within 5000 sign-ups");
    assert_unavailable(status, &reply, "the sign-up that did not fit");
    assert!(!reply.contains("SQL") && !reply.contains("users.db"), "no internals: {reply}");
    let victim_id = id_of(&victim);
    let (status, reply) = http(port, "PATCH", &format!("/users/{victim_id}"), r#"{"name":"Renamed"}"#, Some(&admin));
    // An update writes fewer pages than a sign-up, and SQLite writes after a failed transaction from where that one
    // began: whether it still fits depends on where the limit fell. Either way, acknowledged means stored.
    let renamed = status == 200;
    if !renamed {
        assert_unavailable(status, &reply, "an update that did not fit");
    }
    // More attempts are refused alike, never answered 201.
    for i in 0..5 {
        let (status, reply) = create(port, &admin, &format!("late{i}"));
        assert_unavailable(status, &reply, "a later sign-up");
    }
    let log = log.lock().expect("log").clone();
    assert!(!log.contains("orbit-tulip-1"), "no password in the logs");
    kill(server);

    // Restarted with room again: every acknowledged user is there, each with its own id, the update only if it
    // was acknowledged.
    let (server, port, _) = start(&folder, &env);
    let admin = login(port, ADMIN.0, ADMIN.1);
    let mut distinct = acknowledged.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), acknowledged.len(), "no id handed out twice");
    for id in &acknowledged {
        let (status, reply) = http(port, "GET", &format!("/users/{id}"), "", Some(&admin));
        assert_eq!(status, 200, "user {id} was acknowledged: {reply}");
    }
    let (_, victim_now) = http(port, "GET", &format!("/users/{victim_id}"), "", Some(&admin));
    if renamed {
        assert!(victim_now.contains(r#""name":"Renamed""#), "the acknowledged update is stored: {victim_now}");
    } else {
        assert!(victim_now.contains(r#""name":null"#), "the refused update left nothing: {victim_now}");
    }
    let (status, next) = create(port, &admin, "next");
    assert_eq!(status, 201, "{next}");
    assert!(!acknowledged.contains(&id_of(&next)), "a new user gets a fresh id");
    kill(server);
}

#[test]
fn a_database_file_removed_while_running_is_noticed_and_written_no_more() {
    let folder = TempFolder::new("file-removed");
    let env = settings();
    let (server, port, _) = start(&folder, &env);
    let admin = login(port, ADMIN.0, ADMIN.1);
    assert_eq!(create(port, &admin, "before").0, 201);
    assert_eq!(http(port, "GET", "/health/ready", "", None).0, 200);

    let (_, before) = create(port, &admin, "reader");
    let reader = id_of(&before);
    let database = folder.0.join("data/users.db");
    std::fs::remove_file(&database).expect("removed");
    // Reads on connections opened after the removal (the pool grows under concurrent requests) fail as
    // unavailable: no empty database appears at the path, and nothing is a 500.
    let reads: Vec<_> = (0..20)
        .map(|_| {
            let (admin, path) = (admin.clone(), format!("/users/{reader}"));
            std::thread::spawn(move || http(port, "GET", &path, "", Some(&admin)))
        })
        .collect();
    for read in reads {
        let (status, reply) = read.join().expect("thread");
        assert!(status == 200 || status == 503, "a read after the removal: {status} {reply}");
    }
    assert!(!database.exists(), "no new database file was created at the path");
    let (status, reply) = http(port, "GET", "/health/ready", "", None);
    assert_unavailable(status, &reply, "readiness");
    let (status, reply) = create(port, &admin, "after");
    assert_unavailable(status, &reply, "a sign-up into a removed file");
    // A new file at the path (a restored backup) is not the one opened either.
    std::fs::write(&database, b"").expect("replaced");
    let (status, reply) = create(port, &admin, "after");
    assert_unavailable(status, &reply, "a sign-up into a replaced file");
    kill(server);
}

#[test]
fn a_database_the_service_may_not_write_is_fatal_at_start_up() {
    let folder = TempFolder::new("read-only");
    let env = settings();
    let (server, _, _) = start(&folder, &env);
    kill(server);
    let data = folder.0.join("data");
    let root = std::process::Command::new("id").arg("-u").output().expect("id").stdout == b"0\n";
    let mut command = process_support::users_api(&folder, &env);
    if root {
        // Root writes through any mode bits: run as nobody, who may read the folder but write nothing in it.
        set_mode(&folder.0, 0o755);
        set_mode(&data, 0o755);
        command.arg0("users-api").uid(65534).gid(65534);
    } else {
        set_mode(&data, 0o555);
        set_mode(&data.join("users.db"), 0o444);
    }
    let output = command
        .env("APP__SERVER__PORT", "0")
        .arg("serve")
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .output()
        .expect("runs");
    set_mode(&data, 0o755);
    process_support::assert_fatal_naming(&output, "APP__STORAGE__URL");
}

fn set_mode(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

#[tokio::test]
async fn a_write_lock_held_by_another_process_is_a_503() {
    use sqlx::{Connection, SqliteConnection};
    let folder = TempFolder::new("busy");
    let env = settings();
    let (server, port, _) = start(&folder, &env);
    let admin = login(port, ADMIN.0, ADMIN.1);
    // Another program holds SQLite's write lock for longer than the service's busy timeout (5 s).
    let url = format!("sqlite://{}", folder.0.join("data/users.db").display());
    let mut holder = SqliteConnection::connect(&url).await.expect("opens");
    sqlx::raw_sql("BEGIN IMMEDIATE").execute(&mut holder).await.expect("holds the write lock");
    let (status, reply) = tokio::task::spawn_blocking(move || create(port, &admin, "blocked")).await.expect("task");
    assert_unavailable(status, &reply, "a sign-up while the lock is held");
    sqlx::raw_sql("ROLLBACK").execute(&mut holder).await.expect("released");
    kill(server);
}
