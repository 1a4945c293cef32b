//! The real binary's authentication settings and commands (docs/api.md §1): the JWT secret by profile, the bootstrap
//! admin, `create-admin`, and logs that never carry a secret.

mod process_support;

use process_support::{
    assert_fatal_naming, field, http, http_with, http_with_headers, login, run, start, stop, TempFolder, Terminal,
    ADMIN,
};

const MEMORY: (&str, &str) = ("APP__STORAGE__BACKEND", "memory");
const SECRET: (&str, &str) = ("APP__AUTH__JWT_SECRET", "a test secret of at least thirty-two bytes");

/// Signs `alice` up (password `orbit-tulip-1`) in a request with the id given.
fn sign_up_alice(port: u16, request_id: &str) {
    let signup = r#"{"username":"alice","email":"alice@example.com","password":"orbit-tulip-1"}"#;
    let status = http_with(port, "POST", "/users", signup, None, &format!("X-Request-Id: {request_id}\r\n")).0;
    assert_eq!(status, 201, "alice signed up");
}

#[test]
fn production_refuses_a_missing_or_weak_jwt_secret() {
    let folder = TempFolder::new("production");
    let production = ("APP_ENV", "production");
    assert_fatal_naming(&run(&folder, &[production, MEMORY], &[], None), "APP__AUTH__JWT_SECRET");
    let weak = ("APP__AUTH__JWT_SECRET", "only-31-bytes-long-secret-value");
    assert_eq!(weak.1.len(), 31);
    assert_fatal_naming(&run(&folder, &[production, MEMORY, weak], &[], None), "APP__AUTH__JWT_SECRET");
}

#[test]
fn development_generates_a_secret_and_warns() {
    let folder = TempFolder::new("development");
    let (child, port, log) = start(&folder, &[MEMORY]);
    assert_eq!(http(port, "GET", "/health", "", None).0, 200);
    stop(child);
    let log = log.lock().expect("lock").clone();
    assert!(log.contains("WARN") && log.contains("APP__AUTH__JWT_SECRET"), "{log}");
}

#[test]
fn a_partial_or_invalid_bootstrap_admin_is_fatal() {
    let folder = TempFolder::new("bootstrap-fatal");
    let username = ("APP__AUTH__BOOTSTRAP_ADMIN__USERNAME", "root");
    let email = ("APP__AUTH__BOOTSTRAP_ADMIN__EMAIL", "root@example.com");
    let password = ("APP__AUTH__BOOTSTRAP_ADMIN__PASSWORD", "root password");
    assert_fatal_naming(&run(&folder, &[MEMORY, username], &[], None), "APP__AUTH__BOOTSTRAP_ADMIN__EMAIL");
    assert_fatal_naming(&run(&folder, &[MEMORY, username, email], &[], None), "APP__AUTH__BOOTSTRAP_ADMIN__PASSWORD");
    let bad_email = ("APP__AUTH__BOOTSTRAP_ADMIN__EMAIL", "not an email");
    assert_fatal_naming(
        &run(&folder, &[MEMORY, username, bad_email, password], &[], None),
        "APP__AUTH__BOOTSTRAP_ADMIN__EMAIL",
    );
    let short = ("APP__AUTH__BOOTSTRAP_ADMIN__PASSWORD", "short");
    assert_fatal_naming(
        &run(&folder, &[MEMORY, username, email, short], &[], None),
        "APP__AUTH__BOOTSTRAP_ADMIN__PASSWORD",
    );
}

#[test]
fn the_bootstrap_admin_is_created_once_and_can_log_in() {
    let folder = TempFolder::new("bootstrap");
    let env = [
        ("APP__AUTH__BOOTSTRAP_ADMIN__USERNAME", "root"),
        ("APP__AUTH__BOOTSTRAP_ADMIN__EMAIL", "root@example.com"),
        ("APP__AUTH__BOOTSTRAP_ADMIN__PASSWORD", "root password"),
    ];
    for _ in 0..2 {
        let (child, port, _) = start(&folder, &env);
        let (status, reply) =
            http(port, "POST", "/auth/login", r#"{"username":"root","password":"root password"}"#, None);
        assert_eq!(status, 200, "{reply}");
        let (status, users) = http(port, "GET", "/users", "", Some(&field(&reply, "access_token")));
        stop(child);
        assert_eq!(status, 200, "{users}");
        assert_eq!(users.matches("\"username\"").count(), 1, "created once, across restarts: {users}");
        assert!(users.contains("\"role\":\"admin\""));
    }
}

#[test]
fn create_admin_takes_the_password_from_the_environment_or_stdin_never_argv() {
    let folder = TempFolder::new("create-admin");
    let from_env = run(
        &folder,
        &[("USERS_API_ADMIN_PASSWORD", "env password")],
        &["create-admin", "--username", "ada", "--email", "ada@example.com"],
        None,
    );
    assert_eq!(from_env.status.code(), Some(0), "{from_env:?}");
    let from_stdin = run(
        &folder,
        &[],
        &["create-admin", "--username", "bea", "--email", "bea@example.com"],
        Some("stdin password\n"),
    );
    assert_eq!(from_stdin.status.code(), Some(0), "{from_stdin:?}");
    let taken = run(
        &folder,
        &[],
        &["create-admin", "--username", "ADA", "--email", "other@example.com"],
        Some("another password\n"),
    );
    assert_eq!(taken.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&taken.stderr).lines().count(), 1, "{taken:?}");
    let weak = run(&folder, &[], &["create-admin", "--username", "cid", "--email", "cid@example.com"], Some("short\n"));
    assert_eq!(weak.status.code(), Some(1), "{weak:?}");
    let memory = run(
        &folder,
        &[MEMORY],
        &["create-admin", "--username", "dee", "--email", "dee@example.com"],
        Some("long enough\n"),
    );
    assert_fatal_naming(&memory, "APP__STORAGE__BACKEND");
    // The admins exist, with the passwords given.
    let (child, port, _) = start(&folder, &[]);
    let env_login = http(port, "POST", "/auth/login", r#"{"username":"ada","password":"env password"}"#, None);
    let stdin_login =
        http(port, "POST", "/auth/login", r#"{"email":"bea@example.com","password":"stdin password"}"#, None);
    let me = http(port, "GET", "/users", "", Some(&field(&env_login.1, "access_token")));
    stop(child);
    assert_eq!(env_login.0, 200, "{}", env_login.1);
    assert_eq!(stdin_login.0, 200, "{}", stdin_login.1);
    assert_eq!(me.0, 200, "an admin may list users: {}", me.1);
}

/// `create-admin --username U --email U@example.com` on a terminal, typing `first` then `second` at its prompts: its
/// exit code and everything the terminal showed.
fn create_admin_typing(folder: &TempFolder, username: &str, first: &str, second: &str) -> (Option<i32>, String) {
    let email = format!("{username}@example.com");
    let mut terminal = Terminal::run(folder, &[], &["create-admin", "--username", username, "--email", &email]);
    terminal.wait_for("Password for the new admin: ");
    terminal.type_line(first);
    terminal.wait_for("Repeat the password: ");
    terminal.type_line(second);
    terminal.finish()
}

#[test]
fn create_admin_on_a_terminal_asks_twice_without_echo() {
    let folder = TempFolder::new("create-admin-terminal");
    let (code, screen) = create_admin_typing(&folder, "tia", "typed on a terminal", "typed on a terminal");
    assert_eq!(code, Some(0), "{screen}");
    assert!(screen.contains("admin created"), "{screen}");
    assert!(!screen.contains("typed on a terminal"), "the password was echoed: {screen:?}");

    let (code, screen) = create_admin_typing(&folder, "uma", "first attempt here", "second attempt here");
    assert_eq!(code, Some(1), "{screen}");
    assert!(screen.contains("differ"), "{screen}");

    let (child, port, _) = start(&folder, &[]);
    let typed = http(port, "POST", "/auth/login", r#"{"username":"tia","password":"typed on a terminal"}"#, None);
    let mistyped = http(port, "POST", "/auth/login", r#"{"username":"uma","password":"first attempt here"}"#, None);
    stop(child);
    assert_eq!(typed.0, 200, "the admin logs in with the password typed: {}", typed.1);
    assert_eq!(mistyped.0, 401, "no admin from a mistyped password: {}", mistyped.1);
}

#[test]
fn create_admin_help_names_its_options_the_password_variable_and_the_configuration() {
    let folder = TempFolder::new("create-admin-help");
    let help = run(&folder, &[], &["create-admin", "--help"], None);
    assert_eq!(help.status.code(), Some(0), "{help:?}");
    let help = String::from_utf8_lossy(&help.stdout);
    for expected in [
        "--username",
        "--email",
        "USERS_API_ADMIN_PASSWORD",
        "terminal",
        "config/default.toml",
        "APP_ENV",
        "APP__SECTION__KEY",
    ] {
        assert!(help.contains(expected), "{expected} in create-admin --help: {help}");
    }
}

#[test]
fn logs_never_carry_a_password_hash_token_or_the_secret() {
    let folder = TempFolder::new("log-audit");
    let secret = "a-jwt-secret-nobody-should-ever-see-0123456789";
    let env = [MEMORY, ("APP__AUTH__JWT_SECRET", secret), ("APP__LOG__FORMAT", "json"), ("RUST_LOG", "trace")];
    let (child, port, log) = start(&folder, &env);
    let password = "correct-horse-battery";
    let signup = format!(r#"{{"username":"alice","email":"alice@example.com","password":"{password}"}}"#);
    assert_eq!(http(port, "POST", "/users", &signup, None).0, 201);
    let (status, pair) =
        http(port, "POST", "/auth/login", &format!(r#"{{"username":"alice","password":"{password}"}}"#), None);
    assert_eq!(status, 200, "{pair}");
    let (access, refresh) = (field(&pair, "access_token"), field(&pair, "refresh_token"));
    let (status, refreshed) = http(port, "POST", "/auth/refresh", &format!(r#"{{"refresh_token":"{refresh}"}}"#), None);
    assert_eq!(status, 200, "{refreshed}");
    assert_eq!(http(port, "GET", "/users/me", "", Some(&access)).0, 200);
    stop(child);
    let log = log.lock().expect("lock").clone();
    assert!(log.contains("login succeeded"), "the login is logged: {log}");
    for secret_value in [
        password,
        secret,
        &access,
        &refresh,
        &field(&refreshed, "access_token"),
        &field(&refreshed, "refresh_token"),
        "$2b$",
    ] {
        assert!(!log.contains(secret_value), "{secret_value:?} leaked into the log");
    }
}

#[test]
fn json_request_logs_carry_the_request_id_route_status_and_user() {
    let folder = TempFolder::new("request-logs");
    let env = [MEMORY, ("APP__LOG__FORMAT", "json"), SECRET];
    let (child, port, log) = start(&folder, &env);
    sign_up_alice(port, "signup-1");
    let (_, pair) = http(port, "POST", "/auth/login", r#"{"username":"alice","password":"orbit-tulip-1"}"#, None);
    let token = field(&pair, "access_token");
    assert_eq!(http_with(port, "GET", "/users/1", "", Some(&token), "X-Request-Id: read-1\r\n").0, 200);
    stop(child);
    let log = log.lock().expect("lock").clone();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter(|line| !line.starts_with("listening on"))
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}")))
        .collect();
    let request_line = |id: &str| {
        lines
            .iter()
            .find(|l| l["message"] == "request handled" && l["span"]["request_id"] == id)
            .unwrap_or_else(|| panic!("no request line for {id}: {log}"))
            .clone()
    };
    let read = request_line("read-1");
    assert_eq!(read["request_id"], "read-1", "the id at the top level too: {read}");
    assert_eq!(read["span"]["method"], "GET");
    assert_eq!(read["span"]["route"], "/users/{id}");
    assert_eq!(read["status"], 200);
    assert!(read["latency_ms"].as_f64().is_some());
    assert_eq!(read["span"]["user.id"], 1, "the user id when known");
    assert_eq!(request_line("signup-1")["status"], 201);
    // Every line of the sign-up carries its request id, the "user created" event included.
    let created = lines.iter().find(|l| l["message"] == "user created").expect("user created event");
    assert!(created["spans"].as_array().expect("spans").iter().any(|s| s["request_id"] == "signup-1"), "{created}");
    assert_eq!(created["request_id"], "signup-1", "{created}");
    assert!(!log.contains("orbit-tulip-1") && !log.contains(&token) && !log.contains("$2b$"));
}

/// The request's span is at `info`: under `RUST_LOG=warn` a warning written while a request is handled still
/// carries the request's id, in either format, the lines of an import (read after its handler returns) included.
#[test]
fn a_warning_in_a_request_or_its_streamed_import_carries_its_id_at_warn_and_info() {
    for (format, level) in [("json", "warn"), ("pretty", "warn"), ("pretty", "info")] {
        let folder = TempFolder::new(&format!("warning-request-id-{format}-{level}"));
        let mut env = vec![
            MEMORY,
            SECRET,
            ("RUST_LOG", level),
            ("APP__LOG__FORMAT", format),
            // Nothing listens there: each password is let through with a warning.
            ("APP__AUTH__BREACHED_PASSWORD_CHECK", "hibp"),
            ("APP__AUTH__HIBP_URL", "http://127.0.0.1:1"),
        ];
        env.extend(ADMIN);
        let (child, port, log) = start(&folder, &env);
        sign_up_alice(port, "breach-check-1");
        let token = login(port, "root", "root password");
        let line = r#"{"username":"bob","email":"bob@example.com","password":"orbit-tulip-2"}"#;
        let (status, results) = import(port, &token, line, "import-1");
        assert!(status == 200 && results.contains(r#""status":"created""#), "{status} {results}");
        stop(child);
        let log = log.lock().expect("lock").clone();
        // The bootstrap admin's password, checked before the service listens, is not a request's.
        let served = log.lines().skip_while(|line| !line.starts_with("listening on"));
        let warnings: Vec<&str> = served.filter(|line| line.contains("breached-password check unavailable")).collect();
        assert_eq!(warnings.len(), 2, "{format} at {level}: one warning per password: {log}");
        for (warning, id) in warnings.into_iter().zip(["breach-check-1", "import-1"]) {
            match (format, level) {
                ("json", _) => {
                    let warning: serde_json::Value = serde_json::from_str(warning).expect("a JSON line");
                    assert_eq!(warning["level"], "WARN", "{warning}");
                    assert_eq!(warning["request_id"], id, "{warning}");
                }
                (_, "warn") => assert!(warning.ends_with(&format!(" request_id={id}")), "{warning}"),
                // At info the request's span shows the id, once.
                _ => assert!(
                    warning.contains(&format!("request{{request_id={id}")) && warning.matches(id).count() == 1,
                    "{warning}"
                ),
            }
        }
        if level == "warn" {
            assert!(!log.contains("request handled"), "{format}: no line per request at warn: {log}");
        }
    }
}

/// `POST /users/import` of NDJSON `lines` as the admin, with a request id: the status and the results.
fn import(port: u16, token: &str, lines: &str, request_id: &str) -> (u16, String) {
    let headers = format!("Content-Type: application/x-ndjson\r\nX-Request-Id: {request_id}\r\n");
    http_with_headers(port, "POST", "/users/import", lines, Some(token), &headers)
}

#[test]
fn an_imports_lines_carry_its_request_id_at_info() {
    let folder = TempFolder::new("import-request-id");
    let mut env = vec![MEMORY, SECRET, ("APP__LOG__FORMAT", "json")];
    env.extend(ADMIN);
    let (child, port, log) = start(&folder, &env);
    let token = login(port, "root", "root password");
    let line = r#"{"username":"bob","email":"bob@example.com","password":"orbit-tulip-2"}"#;
    assert_eq!(import(port, &token, line, "import-2").0, 200);
    stop(child);
    let log = log.lock().expect("lock").clone();
    let created = log.lines().find(|line| line.contains("user created (import)")).unwrap_or_else(|| panic!("{log}"));
    let created: serde_json::Value = serde_json::from_str(created).expect("a JSON line");
    assert_eq!(created["request_id"], "import-2", "{created}");
    assert!(created["spans"].as_array().expect("spans").iter().any(|s| s["request_id"] == "import-2"), "{created}");
}

/// On SQLite, sqlx logs each statement from its own thread (at `debug`): the lines of a sign-up and of an export
/// (read while its body streams) carry their request's id at the top level all the same.
#[test]
fn sqlite_statement_lines_carry_the_request_id() {
    let folder = TempFolder::new("sqlite-request-id");
    let mut env = vec![SECRET, ("APP__LOG__FORMAT", "json"), ("RUST_LOG", "info,sqlx=debug")];
    env.extend(ADMIN);
    let (child, port, log) = start(&folder, &env);
    sign_up_alice(port, "sqlite-1");
    let token = login(port, "root", "root password");
    let (status, export) = http_with(port, "GET", "/users/export", "", Some(&token), "X-Request-Id: export-1\r\n");
    assert!(status == 200 && export.contains("alice@example.com"), "{status} {export}");
    stop(child);
    let log = log.lock().expect("lock").clone();
    let statements: Vec<serde_json::Value> = log
        .lines()
        .filter(|line| line.contains(r#""target":"sqlx::query""#))
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    let of = |id: &str| statements.iter().filter(|line| line["request_id"] == id).count();
    assert!(of("sqlite-1") >= 1, "the sign-up's insert: {log}");
    // The caller's row, read in the handler, and the export's users, read while the body streams.
    assert!(of("export-1") >= 2, "the export's reads: {log}");
}

/// A password reset is queued after its 202 is sent; what it logs is still the request's.
#[test]
fn what_a_password_reset_logs_after_its_answer_carries_the_requests_id() {
    let folder = TempFolder::new("reset-request-id");
    let mail_dir = folder.0.join("mail").display().to_string();
    let env = [
        MEMORY,
        SECRET,
        ("APP__LOG__FORMAT", "json"),
        ("APP__MAIL__TRANSPORT", "file"),
        ("APP__MAIL__DIR", mail_dir.as_str()),
        ("APP__MAIL__FROM", "Users API <no-reply@example.com>"),
        ("APP__MAIL__LINK_BASE", "http://localhost:3000/account"),
    ];
    let (child, port, log) = start(&folder, &env);
    sign_up_alice(port, "reset-signup");
    // Three mails an hour per address (the sign-up's own verification mail among them): the last requests are
    // refused after their answer, and say so in the log.
    for attempt in 1..=4 {
        let id = format!("X-Request-Id: reset-{attempt}\r\n");
        assert_eq!(
            http_with(port, "POST", "/auth/password-reset", r#"{"email":"alice@example.com"}"#, None, &id).0,
            202
        );
    }
    let refusals = |log: &str| -> Vec<serde_json::Value> {
        let lines = log.lines().filter(|line| line.contains("address limit reached"));
        lines.map(|line| serde_json::from_str(line).expect("a JSON line")).collect()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while refusals(&log.lock().expect("lock")).len() < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    stop(child);
    let log = log.lock().expect("lock").clone();
    let refusals = refusals(&log);
    // Five mails asked for (the sign-up's and four resets): two refused, each under its own request's id. Which two
    // is not fixed: the queueing runs after each answer, so not always in the order the requests came.
    assert_eq!(refusals.len(), 2, "two refused mails: {log}");
    let mut ids = Vec::new();
    for refused in &refusals {
        let id = refused["request_id"].as_str().unwrap_or_else(|| panic!("no request_id: {refused}"));
        assert!(id.starts_with("reset-"), "{refused}");
        assert_eq!(refused["span"]["request_id"], id, "inside the request's span too: {refused}");
        ids.push(id);
    }
    assert_ne!(ids[0], ids[1], "{refusals:?}");
}

/// The one line `create-admin` prints when the password policy refuses the password.
fn create_admin_refused(folder: &TempFolder, username: &str, password: &str) -> String {
    let email = format!("{username}@example.com");
    let output = run(
        folder,
        &[SECRET],
        &["create-admin", "--username", username, "--email", &email],
        Some(&format!("{password}\n")),
    );
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    stderr
}

#[test]
fn create_admin_refuses_a_password_the_policy_refuses_in_one_line_and_creates_nothing() {
    let folder = TempFolder::new("create-admin-policy");
    let common = create_admin_refused(&folder, "eve", "Password123");
    assert!(common.contains("password is one of the 10,000 most common passwords"), "{common}");
    let own_name = create_admin_refused(&folder, "frank-lin", "FRANK-LIN");
    assert!(own_name.contains("password must not be the username"), "{own_name}");
    assert!(!own_name.contains("FRANK-LIN"), "the password is not shown: {own_name}");
    // Nothing was created: the same names with a good password succeed.
    let created = run(
        &folder,
        &[("USERS_API_ADMIN_PASSWORD", "a much better password")],
        &["create-admin", "--username", "eve", "--email", "eve@example.com"],
        None,
    );
    assert_eq!(created.status.code(), Some(0), "{created:?}");
}

#[test]
fn a_bootstrap_admin_with_a_weak_password_is_fatal_only_when_it_is_about_to_be_created() {
    let folder = TempFolder::new("bootstrap-policy");
    let env = [
        SECRET,
        ("APP__AUTH__BOOTSTRAP_ADMIN__USERNAME", "root"),
        ("APP__AUTH__BOOTSTRAP_ADMIN__EMAIL", "root@example.com"),
        ("APP__AUTH__BOOTSTRAP_ADMIN__PASSWORD", "password123"),
    ];
    let refused = run(&folder, &env, &[], None);
    assert_fatal_naming(&refused, "APP__AUTH__BOOTSTRAP_ADMIN__PASSWORD");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("common"), "{refused:?}");
    // Once root exists (made with a good password), the same settings serve: nothing is judged.
    let created = run(
        &folder,
        &[("USERS_API_ADMIN_PASSWORD", "a much better password")],
        &["create-admin", "--username", "root", "--email", "root@example.com"],
        None,
    );
    assert_eq!(created.status.code(), Some(0), "{created:?}");
    let (child, port, _) = start(&folder, &env);
    assert_eq!(http(port, "GET", "/health", "", None).0, 200);
    stop(child);
}

#[test]
fn mail_and_policy_settings_that_are_wrong_are_fatal_naming_them() {
    let folder = TempFolder::new("mail-settings");
    let short = ("APP__AUTH__PASSWORD_MIN_LENGTH", "6");
    assert_fatal_naming(&run(&folder, &[MEMORY, short], &[], None), "APP__AUTH__PASSWORD_MIN_LENGTH");
    let file = ("APP__MAIL__TRANSPORT", "file");
    assert_fatal_naming(&run(&folder, &[MEMORY, file], &[], None), "APP__MAIL__FROM");
    let smtp = [
        MEMORY,
        ("APP__MAIL__TRANSPORT", "smtp"),
        ("APP__MAIL__FROM", "no-reply@example.com"),
        ("APP__MAIL__LINK_BASE", "https://app.example.com/account"),
        ("APP__MAIL__SMTP_URL", "smtp://mailer:hunter2@mail.example.com:587"),
        ("APP__MAIL__SMTP_CA_FILE", "not-a-pem.txt"),
    ];
    std::fs::write(folder.0.join("not-a-pem.txt"), "not a certificate").expect("written");
    let refused = run(&folder, &smtp, &[], None);
    assert_fatal_naming(&refused, "APP__MAIL__SMTP_CA_FILE");
    assert!(!String::from_utf8_lossy(&refused.stderr).contains("hunter2"));
}

#[test]
fn the_file_transport_starts_with_its_folder_created() {
    let folder = TempFolder::new("mail-file");
    let env = [
        MEMORY,
        ("APP__MAIL__TRANSPORT", "file"),
        ("APP__MAIL__FROM", "Users API <no-reply@example.com>"),
        ("APP__MAIL__DIR", "outgoing/mail"),
        ("APP__MAIL__LINK_BASE", "http://localhost:3000/account"),
    ];
    let (child, port, _) = start(&folder, &env);
    assert_eq!(http(port, "GET", "/health", "", None).0, 200);
    stop(child);
    assert!(folder.0.join("outgoing/mail").is_dir());
}
