//! The real binary's configuration (docs/api.md §1): settings read from files (`APP__X_FILE`), the storage backend
//! picked by the URL's scheme, and PostgreSQL over TLS (`sslmode=require`, `verify-ca`, `verify-full`).
//! The PostgreSQL tests are built ignored without `TEST_DATABASE_URL`, and those that verify the server's
//! certificate also without `TEST_DATABASE_CA_FILE` (scripts/pg-tls.sh prints it; .ci/run exports it): build.rs.

mod process_support;

use process_support::{assert_fatal_naming, http, login, run, start, stop, TempFolder};
use sqlx::Connection;
use std::path::Path;
use users_storage_postgres::test_support::TestSchema;

const MEMORY: (&str, &str) = ("APP__STORAGE__BACKEND", "memory");
/// So that a test expecting another fatal error never meets a port taken by something else.
const ANY_PORT: (&str, &str) = ("APP__SERVER__PORT", "0");

fn write(folder: &TempFolder, name: &str, contents: &str) -> String {
    let path = folder.0.join(name);
    std::fs::write(&path, contents).expect("file written");
    path.to_str().expect("UTF-8 path").to_owned()
}

#[test]
fn secrets_read_from_files_are_used_as_given_without_the_trailing_newline() {
    let folder = TempFolder::new("setting-files");
    let secret = "a production secret of at least thirty-two bytes";
    let secret_file = write(&folder, "jwt", &format!("{secret}\n"));
    let password_file = write(&folder, "admin-password", "admin password from a file\n");
    let env = [
        MEMORY,
        ("APP_ENV", "production"),
        ("APP__AUTH__JWT_SECRET_FILE", secret_file.as_str()),
        ("APP__AUTH__BOOTSTRAP_ADMIN__USERNAME", "root"),
        ("APP__AUTH__BOOTSTRAP_ADMIN__EMAIL", "root@admin.example"),
        ("APP__AUTH__BOOTSTRAP_ADMIN__PASSWORD_FILE", password_file.as_str()),
    ];
    // Under production a missing secret is fatal: starting at all shows the file was read.
    let (child, port, log) = start(&folder, &env);
    let token = login(port, "root", "admin password from a file");
    stop(child);
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_audience(&["users-api"]);
    let key = jsonwebtoken::DecodingKey::from_secret(secret.as_bytes());
    let verified = jsonwebtoken::decode::<serde_json::Value>(&token, &key, &validation);
    assert!(verified.is_ok(), "signed with the file's secret, newline dropped: {verified:?}");
    let log = log.lock().expect("log").clone();
    assert!(!log.contains(secret) && !log.contains("from a file"), "no secret in the log: {log}");
}

#[test]
fn a_setting_given_directly_and_as_a_file_is_fatal_naming_both() {
    let folder = TempFolder::new("setting-twice");
    let file = write(&folder, "jwt", "a secret from the file");
    let env = [MEMORY, ("APP__AUTH__JWT_SECRET", "a secret from the env"), ("APP__AUTH__JWT_SECRET_FILE", &file)];
    let output = run(&folder, &env, &[], None);
    assert_fatal_naming(&output, "APP__AUTH__JWT_SECRET_FILE");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("APP__AUTH__JWT_SECRET "), "names the plain one too: {stderr}");
    assert!(!stderr.contains("a secret from"), "shows no value: {stderr}");
}

#[test]
fn a_missing_settings_file_is_fatal_naming_its_variable() {
    let folder = TempFolder::new("setting-file-missing");
    let missing = folder.0.join("no-such-file");
    let env = [MEMORY, ("APP__AUTH__JWT_SECRET_FILE", missing.to_str().expect("UTF-8"))];
    assert_fatal_naming(&run(&folder, &env, &[], None), "APP__AUTH__JWT_SECRET_FILE");
}

/// Nothing but what the test itself wrote is left in the working directory (no `./postgres:` SQLite folder,
/// no `data/`).
fn assert_nothing_created(folder: &TempFolder, own_files: &[&str]) {
    let entries: Vec<String> = std::fs::read_dir(&folder.0)
        .expect("readable")
        .map(|entry| entry.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| !own_files.contains(&name.as_str()))
        .collect();
    assert!(entries.is_empty(), "created in the working directory: {entries:?}");
}

#[test]
fn a_postgres_url_with_the_backend_unset_is_postgres_and_never_a_sqlite_file() {
    let folder = TempFolder::new("url-decides");
    for url in ["postgres://postgres@127.0.0.1:1/users", "postgresql://postgres@127.0.0.1:1/users"] {
        let env = [("APP__STORAGE__URL", url), ("APP__STORAGE__ACQUIRE_TIMEOUT_SECS", "1"), ANY_PORT];
        let output = run(&folder, &env, &[], None);
        assert_fatal_naming(&output, "APP__STORAGE__URL");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("PostgreSQL"), "tried PostgreSQL: {stderr}");
    }
    assert_nothing_created(&folder, &[]);
}

#[test]
#[cfg_attr(no_test_database, ignore = "needs TEST_DATABASE_URL")]
fn a_postgres_url_alone_serves_from_postgres() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let schema = runtime.block_on(TestSchema::create());
    let folder = TempFolder::new("url-decides-postgres");
    let (child, port, _) = start(&folder, &[("APP__STORAGE__URL", &schema.url)]);
    let signup = r#"{"username":"alice","email":"alice@example.com","password":"orbit-tulip-1"}"#;
    let (status, body) = http(port, "POST", "/users", signup, None);
    stop(child);
    assert_eq!(status, 201, "{body}");
    let stored: i64 = runtime.block_on(async {
        let mut connection = sqlx::PgConnection::connect(&schema.url).await.expect("connects");
        sqlx::query_scalar("SELECT count(*) FROM users WHERE username = 'alice'")
            .fetch_one(&mut connection)
            .await
            .expect("counted")
    });
    assert_eq!(stored, 1, "the user is in the PostgreSQL schema");
    assert_nothing_created(&folder, &[]);
}

/// Runs the service in a folder of its own with `env`: it must stop at once, in one line naming `setting`, having
/// created nothing. Returns that line.
fn fatal_storage_setting(name: &str, env: &[(&str, &str)], setting: &str) -> String {
    let folder = TempFolder::new(name);
    let output = run(&folder, env, &[], None);
    assert_fatal_naming(&output, setting);
    assert_nothing_created(&folder, &[]);
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_backend_contradicting_the_url_is_fatal_naming_both() {
    for (backend, url) in [("sqlite", "postgres://postgres@127.0.0.1:1/users"), ("postgres", "sqlite://x/users.db")] {
        let env = [("APP__STORAGE__BACKEND", backend), ("APP__STORAGE__URL", url)];
        let line = fatal_storage_setting("contradiction", &env, "APP__STORAGE__BACKEND");
        assert!(line.contains("APP__STORAGE__URL"), "{line}");
    }
}

#[test]
fn postgres_without_a_url_is_fatal_naming_the_url_once() {
    let line = fatal_storage_setting("no-url", &[("APP__STORAGE__BACKEND", "postgres")], "APP__STORAGE__URL");
    assert_eq!(line.matches("APP__STORAGE__URL").count(), 1, "{line}");
}

#[test]
fn a_url_of_another_scheme_is_fatal_without_showing_its_password() {
    let env = [("APP__STORAGE__URL", "mysql://app:hunter2@127.0.0.1/users")];
    let line = fatal_storage_setting("other-scheme", &env, "APP__STORAGE__URL");
    assert!(!line.contains("hunter2"), "{line}");
}

/// `url` with more query parameters.
fn with_params(url: &str, params: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{params}")
}

#[test]
#[cfg_attr(no_test_database, ignore = "needs TEST_DATABASE_URL")]
fn sslmode_require_connects_over_tls() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let schema = runtime.block_on(TestSchema::create());
    let application = format!("users-api-tls-{}", std::process::id());
    let url = with_params(&schema.url, &format!("sslmode=require&application_name={application}"));
    let folder = TempFolder::new("sslmode-require");
    let (child, port, _) = start(&folder, &[("APP__STORAGE__URL", &url)]);
    let signup = r#"{"username":"bob","email":"bob@example.com","password":"orbit-tulip-1"}"#;
    let (status, body) = http(port, "POST", "/users", signup, None);
    let connections: Vec<(bool, Option<String>)> = runtime.block_on(async {
        let mut connection = sqlx::PgConnection::connect(&schema.url).await.expect("connects");
        sqlx::query_as(
            "SELECT s.ssl, s.version FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.application_name = $1",
        )
        .bind(&application)
        .fetch_all(&mut connection)
        .await
        .expect("pg_stat_ssl read")
    });
    stop(child);
    assert_eq!(status, 201, "{body}");
    assert!(!connections.is_empty(), "the service holds connections while serving");
    assert!(connections.iter().all(|(ssl, version)| *ssl && version.is_some()), "all over TLS: {connections:?}");
}

/// The CA that signed the test server's certificate, from scripts/pg-tls.sh.
fn test_ca_file() -> String {
    match std::env::var("TEST_DATABASE_CA_FILE") {
        Ok(ca) if !ca.is_empty() => ca,
        _ => panic!("TEST_DATABASE_CA_FILE is not set: export TEST_DATABASE_CA_FILE=\"$(scripts/pg-tls.sh)\""),
    }
}

/// Runs `migrate` (connect, migrate, exit) on `url`.
fn migrate(folder: &TempFolder, url: &str) -> std::process::Output {
    run(folder, &[("APP__STORAGE__URL", url), ("APP__STORAGE__ACQUIRE_TIMEOUT_SECS", "5")], &["migrate"], None)
}

/// A CA of the test's own, valid in form but unrelated to the server's certificate.
fn unrelated_ca(folder: &TempFolder) -> String {
    let (key, cert) = (folder.0.join("other-ca.key"), folder.0.join("other-ca.crt"));
    let made = std::process::Command::new("openssl")
        .args(["req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"])
        .args(["-days", "1", "-subj", "/CN=not the server's CA", "-addext", "basicConstraints=critical,CA:TRUE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(made.status.success(), "{made:?}");
    cert.to_str().expect("UTF-8").to_owned()
}

#[test]
#[cfg_attr(any(no_test_database, no_test_database_ca), ignore = "needs TEST_DATABASE_URL and TEST_DATABASE_CA_FILE")]
fn verify_ca_and_verify_full_connect_with_the_servers_ca_and_refuse_another() {
    let ca = test_ca_file();
    assert!(Path::new(&ca).is_file(), "TEST_DATABASE_CA_FILE names a file: {ca}");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let schema = runtime.block_on(TestSchema::create());
    let folder = TempFolder::new("sslmode-verify");
    let other_ca = unrelated_ca(&folder);
    for mode in ["verify-ca", "verify-full"] {
        let trusted = migrate(&folder, &with_params(&schema.url, &format!("sslmode={mode}&sslrootcert={ca}")));
        assert_eq!(trusted.status.code(), Some(0), "{mode} with the server's CA: {trusted:?}");
        let refused = migrate(&folder, &with_params(&schema.url, &format!("sslmode={mode}&sslrootcert={other_ca}")));
        assert_fatal_naming(&refused, "APP__STORAGE__URL");
    }
    let missing = folder.0.join("no-such-ca.crt");
    let missing = missing.to_str().expect("UTF-8");
    let output = migrate(&folder, &with_params(&schema.url, &format!("sslmode=verify-full&sslrootcert={missing}")));
    assert_fatal_naming(&output, "APP__STORAGE__URL");
    assert!(String::from_utf8_lossy(&output.stderr).contains(&format!("sslrootcert={missing}")), "{output:?}");
    assert_nothing_created(&folder, &["other-ca.key", "other-ca.crt"]);
}
