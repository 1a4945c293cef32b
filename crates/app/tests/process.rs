//! The real binary, for what only a process shows: exit codes, the start-up line, signals, the CLI.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn users_api(env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_users-api"));
    // A folder with no config/, so only built-in defaults and these variables count.
    command
        .current_dir(std::env::temp_dir())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    command.envs(env.iter().copied());
    command
}

fn run(env: &[(&str, &str)], args: &[&str]) -> Output {
    users_api(env)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("binary runs")
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
    assert_fatal_naming(
        &run(&[("APP__STORAGE__BACKEND", "mongodb")], &[]),
        "APP__STORAGE__BACKEND",
    );
    assert_fatal_naming(
        &run(&[memory, ("APP__SERVER__PORT", "eighty")], &[]),
        "APP__SERVER__PORT",
    );
    assert_fatal_naming(
        &run(&[memory, ("APP__SERVER__COLOUR", "blue")], &[]),
        "APP__SERVER__COLOUR",
    );
    assert_fatal_naming(
        &run(&[memory, ("APP__LOG__FORMAT", "xml")], &[]),
        "APP__LOG__FORMAT",
    );
    assert_fatal_naming(
        &run(&[memory, ("APP__AUTH__BCRYPT_COST", "3")], &[]),
        "APP__AUTH__BCRYPT_COST",
    );
    assert_fatal_naming(
        &run(&[memory, ("APP__AUTH__BCRYPT_COST", "32")], &[]),
        "APP__AUTH__BCRYPT_COST",
    );
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
    let mut child = users_api(env)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawned");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(port) = line.strip_prefix("listening on http://127.0.0.1:") {
                let _ = tx.send(port.trim().parse::<u16>().ok());
            }
        }
    });
    let port = rx
        .recv_timeout(Duration::from_secs(30))
        .ok()
        .flatten()
        .expect("listening line with a port");
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
    let env = [
        ("APP__STORAGE__BACKEND", "memory"),
        ("APP__SERVER__PORT", "0"),
        ("APP__LOG__FORMAT", "json"),
    ];
    let (mut child, port) = start(&env);
    assert!(users_api(&[("APP__SERVER__PORT", &port.to_string())])
        .arg("healthcheck")
        .status()
        .expect("runs")
        .success());
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill")
        .success());
    let status = wait(&mut child, Duration::from_secs(20)).expect("exits after SIGTERM");
    assert_eq!(status.code(), Some(0));
    // Nothing listens any more: the health check fails.
    assert!(!users_api(&[("APP__SERVER__PORT", &port.to_string())])
        .arg("healthcheck")
        .status()
        .expect("runs")
        .success());
}
