//! Running the real binary in tests: a folder of its own, the start-up line, signals, and a tiny HTTP client.
#![allow(dead_code)] // each test target uses a different part

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const MEMORY: (&str, &str) = ("APP__STORAGE__BACKEND", "memory");

/// A bootstrap admin (`root`, password `root password`), so a test can act as one.
pub const ADMIN: [(&str, &str); 3] = [
    ("APP__AUTH__BOOTSTRAP_ADMIN__USERNAME", "root"),
    ("APP__AUTH__BOOTSTRAP_ADMIN__EMAIL", "root@admin.example"),
    ("APP__AUTH__BOOTSTRAP_ADMIN__PASSWORD", "root password"),
];

/// A folder of the test's own (no config/ in it), removed at the end.
pub struct TempFolder(pub PathBuf);

impl TempFolder {
    pub fn new(name: &str) -> Self {
        let folder = std::env::temp_dir().join(format!("users-api-test-{name}-{}", std::process::id()));
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

pub fn users_api(folder: &TempFolder, env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_users-api"));
    command.current_dir(&folder.0).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    // Port 0 unless a test names one: a test that reaches the bind must not need 8080 free (a developer's own
    // service often runs there).
    command.env("APP__AUTH__BCRYPT_COST", "4").env("APP__SERVER__PORT", "0").envs(env.iter().copied());
    command
}

pub fn run(folder: &TempFolder, env: &[(&str, &str)], args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = users_api(folder, env)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    if let Some(mut pipe) = child.stdin.take() {
        let _ = pipe.write_all(stdin.unwrap_or_default().as_bytes());
    }
    child.wait_with_output().expect("exits")
}

pub fn assert_fatal_naming(output: &Output, setting: &str) {
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains(setting), "names {setting}: {stderr}");
}

/// Starts `serve` on port 0; returns the child, its port and everything it writes to stderr (kept growing).
pub fn start(folder: &TempFolder, env: &[(&str, &str)]) -> (Child, u16, Arc<Mutex<String>>) {
    let child = users_api(folder, env)
        .env("APP__SERVER__PORT", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawned");
    listening(child)
}

/// A started server (stderr piped) once it says where it listens: the child, its port and its growing stderr.
pub fn listening(mut child: Child) -> (Child, u16, Arc<Mutex<String>>) {
    let stderr = child.stderr.take().expect("stderr");
    let log = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(port) = line.strip_prefix("listening on http://127.0.0.1:") {
                let _ = tx.send(port.trim().parse::<u16>().ok());
            }
            sink.lock().expect("lock").push_str(&format!("{line}\n"));
        }
    });
    let port = rx.recv_timeout(Duration::from_secs(30)).ok().flatten().expect("listening line with a port");
    (child, port, log)
}

pub fn stop(mut child: Child) {
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();
}

pub fn http(port: u16, method: &str, path: &str, body: &str, token: Option<&str>) -> (u16, String) {
    http_with(port, method, path, body, token, "")
}

/// `http` with extra header lines (each ending in `\r\n`).
pub fn http_with(port: u16, method: &str, path: &str, body: &str, token: Option<&str>, extra: &str) -> (u16, String) {
    let headers = format!("Content-Type: application/json\r\n{extra}");
    http_with_headers(port, method, path, body, token, &headers)
}

/// A request whose header lines (`Content-Type` included, each ending in `\r\n`) the caller gives.
pub fn http_with_headers(
    port: u16,
    method: &str,
    path: &str,
    body: &str,
    token: Option<&str>,
    headers: &str,
) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connects");
    let authorization = token.map(|t| format!("Authorization: Bearer {t}\r\n{headers}")).unwrap_or(headers.to_owned());
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         {authorization}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("request written");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response read");
    let status = response.get(9..12).and_then(|s| s.parse().ok()).expect("status line");
    (status, response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default())
}

pub fn field(json: &str, name: &str) -> String {
    let value = json.split(&format!("\"{name}\":\"")).nth(1).and_then(|r| r.split('"').next());
    value.unwrap_or_else(|| panic!("{name} in {json}")).to_owned()
}

/// Waits up to `within` for the child to exit.
pub fn wait(child: &mut Child, within: Duration) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + within;
    while std::time::Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("waitable") {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// Sends SIGTERM.
pub fn terminate(child: &Child) {
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill").success());
}

/// Logs in by username: the access token.
pub fn login(port: u16, username: &str, password: &str) -> String {
    let (status, reply) =
        http(port, "POST", "/auth/login", &format!(r#"{{"username":"{username}","password":"{password}"}}"#), None);
    assert_eq!(status, 200, "{reply}");
    field(&reply, "access_token")
}

/// The `id` of a user in a JSON body.
pub fn id_of(json: &str) -> String {
    json.split("\"id\":").nth(1).and_then(|r| r.split(',').next()).expect("id").to_owned()
}

/// The binary on a pseudo-terminal of its own (util-linux `script`), typed into and read like a person would.
pub struct Terminal {
    child: Child,
    keyboard: std::process::ChildStdin,
    screen: Arc<Mutex<String>>,
}

impl Terminal {
    pub fn run(folder: &TempFolder, env: &[(&str, &str)], args: &[&str]) -> Self {
        let command_line = std::iter::once(env!("CARGO_BIN_EXE_users-api"))
            .chain(args.iter().copied())
            .map(|word| format!("'{word}'"))
            .collect::<Vec<_>>()
            .join(" ");
        let mut child = Command::new("script")
            .args(["--quiet", "--return", "--command", &command_line, "/dev/null"])
            .current_dir(&folder.0)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("APP__AUTH__BCRYPT_COST", "4")
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("util-linux script runs");
        let keyboard = child.stdin.take().expect("stdin");
        let mut output = child.stdout.take().expect("stdout");
        let screen = Arc::new(Mutex::new(String::new()));
        let sink = screen.clone();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 1024];
            while let Ok(read @ 1..) = output.read(&mut buffer) {
                sink.lock().expect("lock").push_str(&String::from_utf8_lossy(&buffer[..read]));
            }
        });
        Self { child, keyboard, screen }
    }

    /// Waits until the screen shows `text` (panics after 20 s, showing the screen).
    pub fn wait_for(&self, text: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !self.screen().contains(text) {
            assert!(std::time::Instant::now() < deadline, "{text:?} never appeared: {:?}", self.screen());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Types a line (the terminal sees Enter as a carriage return).
    pub fn type_line(&mut self, line: &str) {
        self.keyboard.write_all(format!("{line}\r").as_bytes()).expect("typed");
        self.keyboard.flush().expect("flushed");
    }

    pub fn screen(&self) -> String {
        self.screen.lock().expect("lock").clone()
    }

    /// Waits for the program to end: its exit code and everything the terminal showed.
    pub fn finish(mut self) -> (Option<i32>, String) {
        let status = wait(&mut self.child, Duration::from_secs(30)).expect("the program ends");
        std::thread::sleep(Duration::from_millis(100)); // the last output reaches the reader
        (status.code(), self.screen())
    }
}
