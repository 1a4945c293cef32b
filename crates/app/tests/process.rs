//! The real binary, for what only a process shows: exit codes, the start-up line, signals, durability, the CLI.

mod process_support;

use process_support::{
    assert_fatal_naming, http, id_of, login, run, start, stop, terminate, users_api, wait, TempFolder, ADMIN, MEMORY,
};
use std::time::Duration;

#[test]
fn an_unknown_config_value_stops_it_naming_the_env_var() {
    let folder = TempFolder::new("config");
    let fatal = |env: &[(&str, &str)], setting| assert_fatal_naming(&run(&folder, env, &[], None), setting);
    fatal(&[("APP__STORAGE__BACKEND", "mongodb")], "APP__STORAGE__BACKEND");
    fatal(&[MEMORY, ("APP__SERVER__PORT", "eighty")], "APP__SERVER__PORT");
    fatal(&[MEMORY, ("APP__SERVER__COLOUR", "blue")], "APP__SERVER__COLOUR");
    fatal(&[MEMORY, ("APP__LOG__FORMAT", "xml")], "APP__LOG__FORMAT");
    fatal(&[MEMORY, ("APP__AUTH__BCRYPT_COST", "3")], "APP__AUTH__BCRYPT_COST");
    fatal(&[MEMORY, ("APP__AUTH__BCRYPT_COST", "32")], "APP__AUTH__BCRYPT_COST");
    fatal(&[MEMORY, ("APP_ENV", "staging")], "APP_ENV");
    fatal(&[MEMORY, ("APP__SERVER__TRUSTED_PROXIES", "not-a-network")], "APP__SERVER__TRUSTED_PROXIES");
    fatal(&[MEMORY, ("APP__AUTH__ACCESS_TOKEN_TTL_SECS", "9223372036854775807")], "APP__AUTH__ACCESS_TOKEN_TTL_SECS");
    fatal(&[MEMORY, ("APP__AUTH__REFRESH_TOKEN_TTL_SECS", "0")], "APP__AUTH__REFRESH_TOKEN_TTL_SECS");
    fatal(&[MEMORY, ("APP__SERVER__HOST", "no.such.host.invalid")], "APP__SERVER__HOST");
    // Settings are checked before storage is touched: no database file is left behind.
    fatal(&[("APP_ENV", "production")], "APP__AUTH__JWT_SECRET");
    assert!(!folder.0.join("data").exists(), "a fatal setting created nothing");
}

#[test]
fn a_port_in_use_stops_it_naming_the_port() {
    let folder = TempFolder::new("port-in-use");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bound");
    let port = taken.local_addr().expect("address").port().to_string();
    assert_fatal_naming(&run(&folder, &[MEMORY, ("APP__SERVER__PORT", &port)], &[], None), "APP__SERVER__PORT");
}

#[test]
fn version_and_help() {
    let folder = TempFolder::new("cli");
    let version = run(&folder, &[], &["--version"], None);
    assert!(version.status.success());
    assert!(String::from_utf8_lossy(&version.stdout).contains(env!("CARGO_PKG_VERSION")));
    let help = run(&folder, &[], &["--help"], None);
    assert!(help.status.success());
    let help = String::from_utf8_lossy(&help.stdout);
    for command in ["serve", "migrate", "create-admin", "healthcheck"] {
        assert!(help.contains(command), "{command} in --help");
    }
}

#[test]
fn serves_on_the_logged_port_and_exits_0_on_sigterm() {
    let folder = TempFolder::new("serve");
    let (mut child, port, _) = start(&folder, &[MEMORY, ("APP__LOG__FORMAT", "json")]);
    let healthcheck = |folder: &TempFolder| {
        users_api(folder, &[("APP__SERVER__PORT", &port.to_string())]).arg("healthcheck").status().expect("runs")
    };
    assert!(healthcheck(&folder).success());
    terminate(&child);
    let status = wait(&mut child, Duration::from_secs(20)).expect("exits after SIGTERM");
    assert_eq!(status.code(), Some(0));
    assert!(!healthcheck(&folder).success(), "nothing listens any more");
}

#[test]
fn logs_carry_no_colour_codes_when_stderr_is_not_a_terminal() {
    let folder = TempFolder::new("no-colour");
    let (child, port, log) = start(&folder, &[MEMORY, ("APP__LOG__FORMAT", "pretty")]);
    assert_eq!(http(port, "GET", "/health", "", None).0, 200);
    stop(child);
    let log = log.lock().expect("lock").clone();
    assert!(log.contains("request handled"), "the request was logged: {log}");
    assert!(!log.contains('\u{1b}'), "no ANSI escape in a piped log: {log:?}");
}

#[test]
fn an_unreachable_database_at_start_up_exits_1_naming_the_url() {
    let folder = TempFolder::new("unreachable");
    let env = [
        ("APP__STORAGE__BACKEND", "postgres"),
        ("APP__STORAGE__URL", "postgres://postgres@127.0.0.1:1/users"),
        ("APP__STORAGE__ACQUIRE_TIMEOUT_SECS", "1"),
    ];
    assert_fatal_naming(&run(&folder, &env, &[], None), "APP__STORAGE__URL");
}

#[test]
fn a_sqlite_path_that_cannot_be_created_exits_1_naming_the_url() {
    let folder = TempFolder::new("uncreatable");
    let env = [("APP__STORAGE__URL", "sqlite:///proc/users-api/cannot/users.db")];
    assert_fatal_naming(&run(&folder, &env, &[], None), "APP__STORAGE__URL");
}

#[test]
fn with_no_config_at_all_users_are_kept_in_data_users_db_across_restarts() {
    let folder = TempFolder::new("default-sqlite");
    let (mut first, port, _) = start(&folder, &[]);
    let signup = r#"{"username":"alice","email":"alice@example.com","password":"orbit-tulip-1"}"#;
    assert_eq!(http(port, "POST", "/users", signup, None).0, 201);
    terminate(&first);
    assert_eq!(wait(&mut first, Duration::from_secs(20)).and_then(|s| s.code()), Some(0));
    assert!(folder.0.join("data/users.db").is_file(), "data/users.db created with its folder");
    let (second, port, _) = start(&folder, &[]);
    let token = login(port, "alice", "orbit-tulip-1");
    let (status, body) = http(port, "GET", "/users/1", "", Some(&token));
    stop(second);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"alice\""), "{body}");
}

/// Writes, SIGKILL right after the answers, restart on the same storage: every acknowledged write is there.
fn acknowledged_writes_survive_sigkill(folder: &TempFolder, env: &[(&str, &str)]) {
    let env: Vec<(&str, &str)> = env.iter().chain(ADMIN.iter()).copied().collect();
    let (mut child, port, _) = start(folder, &env);
    let admin = login(port, "root", "root password");
    let create = |name: &str| {
        let body = format!(r#"{{"username":"{name}","email":"{name}@example.com","password":"orbit-tulip-1"}}"#);
        let (status, reply) = http(port, "POST", "/users", &body, None);
        assert_eq!(status, 201, "{reply}");
        id_of(&reply)
    };
    let kept = create("kept");
    let gone = create("gone");
    assert_eq!(http(port, "PATCH", &format!("/users/{kept}"), r#"{"age":42}"#, Some(&admin)).0, 200);
    assert_eq!(http(port, "DELETE", &format!("/users/{gone}"), "", Some(&admin)).0, 204);
    let last = create("last");
    child.kill().expect("SIGKILL");
    let _ = child.wait();

    let (restarted, port, _) = start(folder, &env);
    let admin = login(port, "root", "root password");
    let kept_now = http(port, "GET", &format!("/users/{kept}"), "", Some(&admin));
    let gone_now = http(port, "GET", &format!("/users/{gone}"), "", Some(&admin));
    let last_now = http(port, "GET", &format!("/users/{last}"), "", Some(&admin));
    stop(restarted);
    assert_eq!(kept_now.0, 200, "{}", kept_now.1);
    assert!(kept_now.1.contains("\"age\":42"), "{}", kept_now.1);
    assert_eq!(gone_now.0, 404, "the delete was kept");
    assert_eq!(last_now.0, 200, "the last write before the kill was kept");
}

#[test]
fn acknowledged_writes_survive_sigkill_on_sqlite() {
    acknowledged_writes_survive_sigkill(&TempFolder::new("sigkill-sqlite"), &[]);
}

#[test]
#[cfg_attr(no_test_database, ignore = "needs TEST_DATABASE_URL")]
fn acknowledged_writes_survive_sigkill_on_postgres() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let schema = runtime.block_on(users_storage_postgres::test_support::TestSchema::create());
    let env = [("APP__STORAGE__BACKEND", "postgres"), ("APP__STORAGE__URL", schema.url.as_str())];
    acknowledged_writes_survive_sigkill(&TempFolder::new("sigkill-postgres"), &env);
}

#[test]
fn migrate_applies_the_migrations_and_exits_0() {
    let folder = TempFolder::new("migrate");
    let output = run(&folder, &[], &["migrate"], None);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(folder.0.join("data/users.db").is_file());
    let memory = run(&folder, &[MEMORY], &["migrate"], None);
    assert_eq!(memory.status.code(), Some(0), "nothing to migrate in memory");
}

#[test]
fn sigterm_lets_an_in_flight_login_finish_then_exits_0() {
    let folder = TempFolder::new("graceful");
    // A high bcrypt cost: a login takes a good part of a second, long enough to be in flight at SIGTERM.
    let env: Vec<(&str, &str)> = [MEMORY, ("APP__AUTH__BCRYPT_COST", "14")].into_iter().chain(ADMIN).collect();
    let (mut child, port, _) = start(&folder, &env);
    let login = std::thread::spawn(move || {
        http(port, "POST", "/auth/login", r#"{"username":"root","password":"root password"}"#, None)
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(http(port, "GET", "/health/ready", "", None).0, 200);
    terminate(&child);
    std::thread::sleep(Duration::from_millis(100));
    let (ready, problem) = http(port, "GET", "/health/ready", "", None);
    assert_eq!(ready, 503, "not ready at once after SIGTERM, so a load balancer stops sending: {problem}");
    assert!(problem.contains("shutting down"), "says why, not that storage is down: {problem}");
    let (status, body) = login.join().expect("login thread");
    assert_eq!(status, 200, "the in-flight login finished: {body}");
    assert!(body.contains("access_token"));
    let exit = wait(&mut child, Duration::from_secs(30)).expect("exits after SIGTERM");
    assert_eq!(exit.code(), Some(0));
}
