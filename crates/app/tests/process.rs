//! The real binary, for what only a process shows: exit codes, the start-up line, signals, the CLI.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn users_api(env: &[(&str, &str)]) -> Command {
    users_api_in(&std::env::temp_dir(), env)
}

/// The binary run in `folder`, which has no config/: only built-in defaults and these variables count.
fn users_api_in(folder: &Path, env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_users-api"));
    command.current_dir(folder).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    command.envs(env.iter().copied());
    command
}

fn run(env: &[(&str, &str)], args: &[&str]) -> Output {
    users_api(env).args(args).stdin(Stdio::null()).output().expect("binary runs")
}

fn assert_fatal_naming(output: &Output, setting: &str) {
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(lines[0].contains(setting), "names {setting}: {stderr}");
}

#[test]
fn an_unknown_config_value_stops_it_naming_the_env_var() {
    let memory = ("APP__STORAGE__BACKEND", "memory");
    assert_fatal_naming(&run(&[("APP__STORAGE__BACKEND", "mongodb")], &[]), "APP__STORAGE__BACKEND");
    assert_fatal_naming(&run(&[memory, ("APP__SERVER__PORT", "eighty")], &[]), "APP__SERVER__PORT");
    assert_fatal_naming(&run(&[memory, ("APP__SERVER__COLOUR", "blue")], &[]), "APP__SERVER__COLOUR");
    assert_fatal_naming(&run(&[memory, ("APP__LOG__FORMAT", "xml")], &[]), "APP__LOG__FORMAT");
    assert_fatal_naming(&run(&[memory, ("APP__AUTH__BCRYPT_COST", "3")], &[]), "APP__AUTH__BCRYPT_COST");
    assert_fatal_naming(&run(&[memory, ("APP__AUTH__BCRYPT_COST", "32")], &[]), "APP__AUTH__BCRYPT_COST");
    assert_fatal_naming(&run(&[memory, ("APP_ENV", "staging")], &[]), "APP_ENV");
}

#[test]
fn version_and_help() {
    let version = run(&[], &["--version"]);
    assert!(version.status.success());
    assert!(String::from_utf8_lossy(&version.stdout).contains(env!("CARGO_PKG_VERSION")));
    let help = run(&[], &["--help"]);
    assert!(help.status.success());
    let help = String::from_utf8_lossy(&help.stdout);
    for command in ["serve", "migrate", "healthcheck"] {
        assert!(help.contains(command), "{command} in --help");
    }
}

/// Starts `serve` on port 0 and returns the child and its port, read from the start-up line.
fn start(env: &[(&str, &str)]) -> (Child, u16) {
    start_in(&std::env::temp_dir(), env)
}

fn start_in(folder: &Path, env: &[(&str, &str)]) -> (Child, u16) {
    let mut child = users_api_in(folder, env).stderr(Stdio::piped()).stdout(Stdio::null()).spawn().expect("spawned");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(port) = line.strip_prefix("listening on http://127.0.0.1:") {
                let _ = tx.send(port.trim().parse::<u16>().ok());
            }
        }
    });
    let port = rx.recv_timeout(Duration::from_secs(30)).ok().flatten().expect("listening line with a port");
    (child, port)
}

fn wait(child: &mut Child, within: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("waitable") {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn serves_on_the_logged_port_and_exits_0_on_sigterm() {
    let env = [("APP__STORAGE__BACKEND", "memory"), ("APP__SERVER__PORT", "0"), ("APP__LOG__FORMAT", "json")];
    let (mut child, port) = start(&env);
    assert!(users_api(&[("APP__SERVER__PORT", &port.to_string())])
        .arg("healthcheck")
        .status()
        .expect("runs")
        .success());
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().expect("kill").success());
    let status = wait(&mut child, Duration::from_secs(20)).expect("exits after SIGTERM");
    assert_eq!(status.code(), Some(0));
    // Nothing listens any more: the health check fails.
    assert!(!users_api(&[("APP__SERVER__PORT", &port.to_string())])
        .arg("healthcheck")
        .status()
        .expect("runs")
        .success());
}

/// One HTTP/1.1 request on loopback, with a bearer token when given: the status and the body.
fn http(port: u16, method: &str, path: &str, body: Option<&str>, token: Option<&str>) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connects");
    let body = body.unwrap_or_default();
    let authorization = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\n\
         {authorization}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("request written");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response read");
    let status = response.get(9..12).and_then(|s| s.parse().ok()).expect("status line");
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

/// Logs in by username: the access token.
fn login(port: u16, username: &str, password: &str) -> String {
    let body = format!(r#"{{"username":"{username}","password":"{password}"}}"#);
    let (status, reply) = http(port, "POST", "/auth/login", Some(&body), None);
    assert_eq!(status, 200, "{reply}");
    let token = reply.split("\"access_token\":\"").nth(1).and_then(|r| r.split('"').next());
    token.expect("access_token").to_owned()
}

/// A bootstrap admin, so the tests can act as one.
const ADMIN: [(&str, &str); 4] = [
    ("APP__AUTH__BOOTSTRAP_ADMIN__USERNAME", "root"),
    ("APP__AUTH__BOOTSTRAP_ADMIN__EMAIL", "root@admin.example"),
    ("APP__AUTH__BOOTSTRAP_ADMIN__PASSWORD", "root password"),
    ("APP__AUTH__BCRYPT_COST", "4"),
];

/// A folder of the test's own under the temp dir, removed at the end.
struct TempFolder(PathBuf);

impl TempFolder {
    fn new(name: &str) -> Self {
        let folder = std::env::temp_dir().join(format!("users-api-process-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&folder);
        std::fs::create_dir_all(&folder).expect("temp folder");
        Self(folder)
    }
}

impl Drop for TempFolder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn an_unreachable_database_at_start_up_exits_1_naming_the_url() {
    let env = [
        ("APP__STORAGE__BACKEND", "postgres"),
        ("APP__STORAGE__URL", "postgres://postgres@127.0.0.1:1/users"),
        ("APP__STORAGE__ACQUIRE_TIMEOUT_SECS", "1"),
    ];
    assert_fatal_naming(&run(&env, &[]), "APP__STORAGE__URL");
}

#[test]
fn a_sqlite_path_that_cannot_be_created_exits_1_naming_the_url() {
    let env = [("APP__STORAGE__URL", "sqlite:///proc/users-api/cannot/users.db")];
    assert_fatal_naming(&run(&env, &[]), "APP__STORAGE__URL");
}

#[test]
fn with_no_config_at_all_users_are_kept_in_data_users_db_across_restarts() {
    let folder = TempFolder::new("default-sqlite");
    let (mut first, port) = start_in(&folder.0, &[("APP__SERVER__PORT", "0"), ("APP__AUTH__BCRYPT_COST", "4")]);
    let (status, _) = http(
        port,
        "POST",
        "/users",
        Some(r#"{"username":"alice","email":"alice@example.com","password":"password1"}"#),
        None,
    );
    assert_eq!(status, 201);
    assert!(Command::new("kill").args(["-TERM", &first.id().to_string()]).status().expect("kill").success());
    assert_eq!(wait(&mut first, Duration::from_secs(20)).and_then(|s| s.code()), Some(0));
    assert!(folder.0.join("data/users.db").is_file(), "data/users.db created with its folder");
    let (mut second, port) = start_in(&folder.0, &[("APP__SERVER__PORT", "0")]);
    let token = login(port, "alice", "password1");
    let (status, body) = http(port, "GET", "/users/1", None, Some(&token));
    let _ = second.kill();
    let _ = second.wait();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"alice\""), "{body}");
}

/// Writes, SIGKILL right after the answers, restart on the same storage: every acknowledged write is there.
fn acknowledged_writes_survive_sigkill(folder: &Path, env: &[(&str, &str)]) {
    let env: Vec<(&str, &str)> = env.iter().chain(ADMIN.iter()).copied().collect();
    let (mut child, port) = start_in(folder, &env);
    let admin = login(port, "root", "root password");
    let create = |name: &str| {
        let body = format!(r#"{{"username":"{name}","email":"{name}@example.com","password":"password1"}}"#);
        let (status, reply) = http(port, "POST", "/users", Some(&body), None);
        assert_eq!(status, 201, "{reply}");
        reply.split("\"id\":").nth(1).and_then(|r| r.split(',').next()).expect("id").to_owned()
    };
    let kept = create("kept");
    let gone = create("gone");
    assert_eq!(http(port, "PATCH", &format!("/users/{kept}"), Some(r#"{"age":42}"#), Some(&admin)).0, 200);
    assert_eq!(http(port, "DELETE", &format!("/users/{gone}"), None, Some(&admin)).0, 204);
    let last = create("last");
    child.kill().expect("SIGKILL");
    let _ = child.wait();

    let (mut restarted, port) = start_in(folder, &env);
    let admin = login(port, "root", "root password");
    let kept_now = http(port, "GET", &format!("/users/{kept}"), None, Some(&admin));
    let gone_now = http(port, "GET", &format!("/users/{gone}"), None, Some(&admin));
    let last_now = http(port, "GET", &format!("/users/{last}"), None, Some(&admin));
    let _ = restarted.kill();
    let _ = restarted.wait();
    assert_eq!(kept_now.0, 200, "{}", kept_now.1);
    assert!(kept_now.1.contains("\"age\":42"), "{}", kept_now.1);
    assert_eq!(gone_now.0, 404, "the delete was kept");
    assert_eq!(last_now.0, 200, "the last write before the kill was kept");
}

#[test]
fn acknowledged_writes_survive_sigkill_on_sqlite() {
    let folder = TempFolder::new("sigkill-sqlite");
    let env = [("APP__SERVER__PORT", "0"), ("APP__AUTH__BCRYPT_COST", "4")];
    acknowledged_writes_survive_sigkill(&folder.0, &env);
}

#[test]
fn acknowledged_writes_survive_sigkill_on_postgres() {
    let Some(schema) = tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(users_storage_postgres::test_support::TestSchema::create())
    else {
        eprintln!("skipped: TEST_DATABASE_URL is not set");
        return;
    };
    let folder = TempFolder::new("sigkill-postgres");
    let env = [
        ("APP__SERVER__PORT", "0"),
        ("APP__AUTH__BCRYPT_COST", "4"),
        ("APP__STORAGE__BACKEND", "postgres"),
        ("APP__STORAGE__URL", schema.url.as_str()),
    ];
    acknowledged_writes_survive_sigkill(&folder.0, &env);
}

#[test]
fn migrate_applies_the_migrations_and_exits_0() {
    let folder = TempFolder::new("migrate");
    let output = users_api_in(&folder.0, &[]).arg("migrate").output().expect("runs");
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(folder.0.join("data/users.db").is_file());
    let memory = users_api_in(&folder.0, &[("APP__STORAGE__BACKEND", "memory")]).arg("migrate").output().expect("runs");
    assert_eq!(memory.status.code(), Some(0), "nothing to migrate in memory");
}

#[test]
fn sigterm_lets_an_in_flight_login_finish_then_exits_0() {
    let folder = TempFolder::new("graceful");
    // A high bcrypt cost: a login takes a good part of a second, long enough to be in flight at SIGTERM.
    let env = [
        ("APP__STORAGE__BACKEND", "memory"),
        ("APP__SERVER__PORT", "0"),
        ("APP__AUTH__BCRYPT_COST", "14"),
        ("APP__AUTH__BOOTSTRAP_ADMIN__USERNAME", "root"),
        ("APP__AUTH__BOOTSTRAP_ADMIN__EMAIL", "root@admin.example"),
        ("APP__AUTH__BOOTSTRAP_ADMIN__PASSWORD", "root password"),
    ];
    let (mut child, port) = start_in(&folder.0, &env);
    let login = std::thread::spawn(move || {
        http(port, "POST", "/auth/login", Some(r#"{"username":"root","password":"root password"}"#), None)
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill").success());
    let (status, body) = login.join().expect("login thread");
    assert_eq!(status, 200, "the in-flight login finished: {body}");
    assert!(body.contains("access_token"));
    let exit = wait(&mut child, Duration::from_secs(30)).expect("exits after SIGTERM");
    assert_eq!(exit.code(), Some(0));
}
