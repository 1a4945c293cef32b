//! Layered configuration (docs/api.md §1): built-in defaults < config/default.toml < config/{APP_ENV}.toml <
//! `APP__SECTION__KEY` env vars, any of which may instead be read from a file (`APP__SECTION__KEY_FILE`). Every
//! error names the setting as its env var, in one line.

use config::{Config, ConfigError, Environment, File, FileFormat, Value, ValueKind};
use secrecy::SecretString;
use serde::{Deserialize, Deserializer};
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    Development,
    Production,
    Test,
}

impl Profile {
    fn from_env(app_env: Option<&str>) -> Result<Self, SettingsError> {
        match app_env {
            None | Some("development") => Ok(Self::Development),
            Some("production") => Ok(Self::Production),
            Some("test") => Ok(Self::Test),
            Some(other) => {
                Err(SettingsError::new("APP_ENV", format!("must be development, production or test, not {other:?}")))
            }
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Development => "development",
            Self::Production => "production",
            Self::Test => "test",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub storage: StorageSettings,
    pub auth: AuthSettings,
    pub log: LogSettings,
    /// From `APP_ENV`; set by `load`.
    #[serde(skip)]
    pub profile: Option<Profile>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub shutdown_timeout_secs: u64,
    #[serde(deserialize_with = "comma_list")]
    pub trusted_proxies: Vec<String>,
    #[serde(deserialize_with = "comma_list")]
    pub cors_origins: Vec<String>,
    /// Worker threads; 0 = one per core.
    pub workers: usize,
    /// A request body idle this long → 408 and the connection closes.
    pub body_timeout_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    #[default]
    Sqlite,
    Postgres,
    Memory,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
            Self::Memory => "memory",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSettings {
    /// As configured (if at all); resolved with the URL into `backend` and `url` by `load`.
    #[serde(rename = "backend", default)]
    backend_name: Option<String>,
    #[serde(rename = "url", default)]
    url_setting: Option<String>,
    #[serde(skip)]
    pub backend: Backend,
    #[serde(skip)]
    pub url: String,
    pub pool_size: u32,
    pub acquire_timeout_secs: u64,
    pub statement_timeout_secs: u64,
    pub migrate_on_start: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    #[serde(default)]
    pub jwt_secret: Option<SecretString>,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    /// docs/api.md §6: how long a spent refresh token presented again gets the same successor; 0 = off.
    pub refresh_reuse_grace_secs: u64,
    pub bcrypt_cost: u32,
    pub login_ip_limit_per_minute: u32,
    /// Sign-ups (creates that are not an admin's) per client IP and minute; 0 = off.
    pub signup_ip_limit_per_minute: u32,
    pub issuer: String,
    pub audience: String,
    #[serde(default)]
    pub bootstrap_admin: BootstrapAdminSettings,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootstrapAdminSettings {
    pub username: Option<String>,
    pub email: Option<String>,
    pub password: Option<SecretString>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    #[serde(rename = "format")]
    format_name: String,
    #[serde(skip)]
    pub format: LogFormat,
}

/// A fatal configuration error: the setting (as its env var) and what is wrong with it.
#[derive(Debug)]
pub struct SettingsError {
    pub setting: String,
    pub problem: String,
}

impl SettingsError {
    pub fn new(setting: impl Into<String>, problem: impl Into<String>) -> Self {
        Self { setting: setting.into(), problem: problem.into() }
    }
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "configuration error: {}: {}", self.setting, self.problem)
    }
}

impl std::error::Error for SettingsError {}

/// `storage.url` → `APP__STORAGE__URL`.
pub fn env_name(key: &str) -> String {
    format!("APP__{}", key.replace('.', "__").to_ascii_uppercase())
}

const DEFAULTS: &[(&str, &str)] = &[
    ("server.host", "127.0.0.1"),
    ("server.port", "8080"),
    ("server.shutdown_timeout_secs", "30"),
    ("server.trusted_proxies", ""),
    ("server.cors_origins", ""),
    ("server.workers", "0"),
    ("server.body_timeout_secs", "10"),
    ("storage.pool_size", "10"),
    ("storage.acquire_timeout_secs", "5"),
    ("storage.statement_timeout_secs", "10"),
    ("storage.migrate_on_start", "true"),
    ("auth.access_token_ttl_secs", "900"),
    ("auth.refresh_token_ttl_secs", "1209600"),
    ("auth.refresh_reuse_grace_secs", "10"),
    ("auth.bcrypt_cost", "12"),
    ("auth.login_ip_limit_per_minute", "30"),
    ("auth.signup_ip_limit_per_minute", "10"),
    ("auth.issuer", "users-api"),
    ("auth.audience", "users-api"),
];

/// Settings that have no default but may be given.
const OPTIONAL: &[&str] = &[
    "storage.backend",
    "storage.url",
    "auth.jwt_secret",
    "auth.bootstrap_admin.username",
    "auth.bootstrap_admin.email",
    "auth.bootstrap_admin.password",
    "log.format",
];

/// Where `config/` is: the working directory's, else the one beside the executable.
fn config_dir() -> Option<PathBuf> {
    let here = PathBuf::from("config");
    if here.is_dir() {
        return Some(here);
    }
    let beside = std::env::current_exe().ok()?.parent()?.join("config");
    beside.is_dir().then_some(beside)
}

/// The settings from this process's environment.
pub fn load() -> Result<(Profile, Settings), SettingsError> {
    load_from(std::env::vars().collect())
}

/// The settings from the given environment variables (tests pass their own, rather than the process's).
pub fn load_from(env: HashMap<String, String>) -> Result<(Profile, Settings), SettingsError> {
    let profile = Profile::from_env(env.get("APP_ENV").map(String::as_str))?;
    let env = read_setting_files(env)?;
    let mut builder = Config::builder();
    for (key, value) in DEFAULTS {
        builder = builder.set_default(*key, *value).map_err(|e| SettingsError::new(env_name(key), e.to_string()))?;
    }
    let log_format = if profile == Profile::Production { "json" } else { "pretty" };
    builder = builder
        .set_default("log.format", log_format)
        .map_err(|e| SettingsError::new("APP__LOG__FORMAT", e.to_string()))?;
    if let Some(dir) = config_dir() {
        builder = builder.add_source(file(&dir, "default")).add_source(file(&dir, profile.as_str()));
    }
    let config = builder
        .add_source(Environment::with_prefix("APP").prefix_separator("__").separator("__").source(Some(env)))
        .build()
        .map_err(describe)?;
    reject_unknown_keys(&config)?;
    let mut settings: Settings = config.try_deserialize().map_err(describe)?;
    let storage = &settings.storage;
    (settings.storage.backend, settings.storage.url) =
        storage_target(storage.backend_name.as_deref(), storage.url_setting.as_deref())?;
    settings.log.format = parse_log_format(&settings.log.format_name)?;
    settings.profile = Some(profile);
    Ok((profile, settings))
}

fn file(dir: &Path, name: &str) -> File<config::FileSourceFile, FileFormat> {
    File::from(dir.join(format!("{name}.toml"))).format(FileFormat::Toml).required(false)
}

fn known_keys() -> BTreeSet<&'static str> {
    DEFAULTS.iter().map(|(k, _)| *k).chain(OPTIONAL.iter().copied()).collect()
}

fn reject_unknown_keys(config: &Config) -> Result<(), SettingsError> {
    let known = known_keys();
    let mut present = Vec::new();
    if let Ok(table) = config.clone().try_deserialize::<config::Map<String, Value>>() {
        flatten("", &table, &mut present);
    }
    match present.into_iter().find(|key| !known.contains(key.as_str())) {
        Some(unknown) => Err(SettingsError::new(env_name(&unknown), "unknown setting")),
        None => Ok(()),
    }
}

fn flatten(prefix: &str, table: &config::Map<String, Value>, out: &mut Vec<String>) {
    for (key, value) in table {
        let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        match &value.kind {
            ValueKind::Table(inner) => flatten(&path, inner, out),
            _ => out.push(path),
        }
    }
}

fn describe(error: ConfigError) -> SettingsError {
    match error {
        ConfigError::Type { key: Some(key), unexpected, expected, .. } => {
            SettingsError::new(env_name(&key), format!("expected {expected}, got {unexpected}"))
        }
        ConfigError::At { error, key: Some(key), .. } => SettingsError::new(env_name(&key), error.to_string()),
        other => SettingsError::new("APP__*", other.to_string()),
    }
}

/// A list given as a comma-separated string (env vars) or as an array (TOML).
fn comma_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum List {
        One(String),
        Many(Vec<String>),
    }
    let items = match List::deserialize(d)? {
        List::One(s) => s.split(',').map(str::to_owned).collect(),
        List::Many(v) => v,
    };
    Ok(items.into_iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect())
}

fn parse_backend(name: &str) -> Result<Backend, SettingsError> {
    match name {
        "sqlite" => Ok(Backend::Sqlite),
        "postgres" => Ok(Backend::Postgres),
        "memory" => Ok(Backend::Memory),
        other => Err(SettingsError::new(
            "APP__STORAGE__BACKEND",
            format!("must be sqlite, postgres or memory, not {other:?}"),
        )),
    }
}

fn parse_log_format(name: &str) -> Result<LogFormat, SettingsError> {
    match name {
        "pretty" => Ok(LogFormat::Pretty),
        "json" => Ok(LogFormat::Json),
        other => Err(SettingsError::new("APP__LOG__FORMAT", format!("must be pretty or json, not {other:?}"))),
    }
}

/// The shortest JWT secret accepted under `production` (docs/api.md §1).
pub const MIN_JWT_SECRET_BYTES: usize = 32;

/// The HS256 key: the configured secret's bytes. Under `production` a missing or weak one is fatal; otherwise a
/// missing one is replaced by a random one and a weak one used, each with a warning (returned, to be logged).
/// An empty or whitespace-only secret counts as missing everywhere: as a key it would let anyone sign tokens.
pub fn jwt_secret(settings: &Settings) -> Result<(Vec<u8>, Option<&'static str>), SettingsError> {
    use secrecy::ExposeSecret;
    let configured = settings
        .auth
        .jwt_secret
        .as_ref()
        .map(|s| s.expose_secret())
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.as_bytes().to_vec());
    let production = settings.profile == Some(Profile::Production);
    match configured {
        Some(secret) if secret.len() >= MIN_JWT_SECRET_BYTES => Ok((secret, None)),
        Some(_) if production => {
            Err(SettingsError::new("APP__AUTH__JWT_SECRET", "must be at least 32 bytes under production"))
        }
        None if production => {
            Err(SettingsError::new("APP__AUTH__JWT_SECRET", "is required (and not empty) under production"))
        }
        Some(secret) => Ok((secret, Some("APP__AUTH__JWT_SECRET is shorter than 32 bytes: fine for development only"))),
        None => {
            let mut random = vec![0u8; MIN_JWT_SECRET_BYTES];
            getrandom::fill(&mut random).map_err(|e| SettingsError::new("APP__AUTH__JWT_SECRET", e.to_string()))?;
            Ok((random, Some("APP__AUTH__JWT_SECRET is not set (or empty): using a random one; tokens end at restart")))
        }
    }
}

/// The bootstrap admin (username, email, password) when all three are set; one or two set is fatal.
pub fn bootstrap_admin(settings: &Settings) -> Result<Option<(String, String, String)>, SettingsError> {
    use secrecy::ExposeSecret;
    let admin = &settings.auth.bootstrap_admin;
    let password = admin.password.as_ref().map(|p| p.expose_secret().to_owned());
    match (&admin.username, &admin.email, password) {
        (Some(username), Some(email), Some(password)) => Ok(Some((username.clone(), email.clone(), password))),
        (None, None, None) => Ok(None),
        (username, email, _) => {
            let missing = if username.is_none() {
                "APP__AUTH__BOOTSTRAP_ADMIN__USERNAME"
            } else if email.is_none() {
                "APP__AUTH__BOOTSTRAP_ADMIN__EMAIL"
            } else {
                "APP__AUTH__BOOTSTRAP_ADMIN__PASSWORD"
            };
            Err(SettingsError::new(missing, "the bootstrap admin needs username, email and password together"))
        }
    }
}

/// Token lifetimes within sane bounds (a second to a year for access tokens, to ten years for refresh tokens), so
/// no expiry computation can overflow.
pub fn token_ttls(settings: &Settings) -> Result<(), SettingsError> {
    const YEAR: u64 = 365 * 24 * 3600;
    let auth = &settings.auth;
    if !(1..=YEAR).contains(&auth.access_token_ttl_secs) {
        return Err(SettingsError::new("APP__AUTH__ACCESS_TOKEN_TTL_SECS", format!("must be between 1 and {YEAR}")));
    }
    if !(1..=10 * YEAR).contains(&auth.refresh_token_ttl_secs) {
        return Err(SettingsError::new(
            "APP__AUTH__REFRESH_TOKEN_TTL_SECS",
            format!("must be between 1 and {}", 10 * YEAR),
        ));
    }
    // A grace is for tabs and retries racing one refresh: seconds, not a second lifetime for spent tokens.
    if auth.refresh_reuse_grace_secs > MAX_REFRESH_REUSE_GRACE_SECS {
        return Err(SettingsError::new(
            "APP__AUTH__REFRESH_REUSE_GRACE_SECS",
            format!("must be between 0 and {MAX_REFRESH_REUSE_GRACE_SECS}"),
        ));
    }
    Ok(())
}

/// The longest refresh grace accepted.
const MAX_REFRESH_REUSE_GRACE_SECS: u64 = 300;

/// How long a request body may stay idle: 1 s to an hour (0 would answer every body 408 at once).
pub fn body_timeout(settings: &Settings) -> Result<std::time::Duration, SettingsError> {
    const HOUR: u64 = 3600;
    match settings.server.body_timeout_secs {
        secs @ 1..=HOUR => Ok(std::time::Duration::from_secs(secs)),
        _ => Err(SettingsError::new("APP__SERVER__BODY_TIMEOUT_SECS", format!("must be between 1 and {HOUR}"))),
    }
}

/// `APP__AUTH__JWT_SECRET` → `auth.jwt_secret`; `None` for a variable that is not a setting.
fn setting_key(var: &str) -> Option<String> {
    Some(var.strip_prefix("APP__")?.to_ascii_lowercase().replace("__", "."))
}

/// docs/api.md §1: `APP__X_FILE=/path` sets `APP__X` to that file's contents with one trailing newline dropped, so
/// secrets can be mounted as files (compose and Kubernetes secrets) rather than put in the environment. Giving both
/// is fatal. A variable whose own name is a setting ending in `_FILE` keeps its meaning.
fn read_setting_files(mut env: HashMap<String, String>) -> Result<HashMap<String, String>, SettingsError> {
    let known = known_keys();
    let is_setting = |var: &str| setting_key(var).is_some_and(|key| known.contains(key.as_str()));
    let mut from_files: Vec<(String, String)> = env
        .keys()
        .filter(|var| !is_setting(var))
        .filter_map(|var| Some((var.clone(), var.strip_suffix("_FILE")?.to_owned())))
        .filter(|(_, target)| is_setting(target))
        .collect();
    from_files.sort();
    for (file_var, target) in from_files {
        if env.contains_key(&target) {
            return Err(SettingsError::new(&target, format!("is set twice: give either {target} or {file_var}")));
        }
        let path = env.remove(&file_var).unwrap_or_default();
        let unreadable = |problem: String| SettingsError::new(&file_var, format!("cannot read {path:?}: {problem}"));
        let bytes = std::fs::read(&path).map_err(|e| unreadable(e.to_string()))?;
        let mut value = String::from_utf8(bytes).map_err(|_| unreadable("not UTF-8 text".to_owned()))?;
        if value.ends_with('\n') {
            value.pop();
            if value.ends_with('\r') {
                value.pop();
            }
        }
        env.insert(target, value);
    }
    Ok(env)
}

/// Where users are kept when neither the backend nor the URL is set.
pub const DEFAULT_STORAGE_URL: &str = "sqlite://data/users.db";

/// The backend and URL (docs/api.md §1): an unset backend follows the URL's scheme, and one set that contradicts it is
/// fatal, naming both (so a `postgres://` URL never becomes a SQLite file named `postgres:`); PostgreSQL needs a
/// URL; memory ignores it. An empty value counts as unset. The URL itself is never quoted: it may hold a password.
fn storage_target(backend: Option<&str>, url: Option<&str>) -> Result<(Backend, String), SettingsError> {
    let set = |value: &&str| !value.trim().is_empty();
    let backend = backend.filter(set).map(parse_backend).transpose()?;
    let url = url.filter(set);
    if backend == Some(Backend::Memory) {
        return Ok((Backend::Memory, url.unwrap_or_default().to_owned()));
    }
    let Some(url) = url else {
        return match backend {
            Some(Backend::Postgres) => Err(SettingsError::new(
                "APP__STORAGE__URL",
                "is required with the postgres backend (e.g. postgres://user@host:5432/db)",
            )),
            _ => Ok((Backend::Sqlite, DEFAULT_STORAGE_URL.to_owned())),
        };
    };
    let by_scheme = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Backend::Postgres
    } else if url.starts_with("sqlite:") {
        Backend::Sqlite
    } else {
        return Err(SettingsError::new("APP__STORAGE__URL", "must begin with sqlite:, postgres:// or postgresql://"));
    };
    match backend {
        Some(configured) if configured != by_scheme => Err(SettingsError::new(
            "APP__STORAGE__BACKEND",
            format!(
                "is {} but APP__STORAGE__URL is a {} URL: make them agree, or leave APP__STORAGE__BACKEND unset",
                configured.as_str(),
                by_scheme.as_str()
            ),
        )),
        _ => Ok((by_scheme, url.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn load_env(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let env = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        load_from(env).map(|(_, settings)| settings)
    }

    /// A file of the test's own with these contents, removed when dropped.
    struct SecretFile(PathBuf);

    impl SecretFile {
        fn new(name: &str, contents: &[u8]) -> Self {
            let path = std::env::temp_dir().join(format!("users-api-settings-{name}-{}", std::process::id()));
            std::fs::write(&path, contents).expect("written");
            Self(path)
        }

        fn path(&self) -> &str {
            self.0.to_str().expect("UTF-8 temp path")
        }
    }

    impl Drop for SecretFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn jwt_secret_of(settings: &Settings) -> String {
        settings.auth.jwt_secret.as_ref().expect("secret set").expose_secret().to_owned()
    }

    #[test]
    fn a_setting_is_read_from_its_file_without_the_trailing_newline() {
        let file = SecretFile::new("newline", b"a secret read from a mounted file\n");
        let settings = load_env(&[("APP__AUTH__JWT_SECRET_FILE", file.path())]).expect("loads");
        assert_eq!(jwt_secret_of(&settings), "a secret read from a mounted file");
    }

    #[test]
    fn only_one_trailing_newline_is_dropped_and_other_whitespace_is_kept() {
        let file = SecretFile::new("two-newlines", b" padded secret \n\n");
        let settings = load_env(&[("APP__AUTH__JWT_SECRET_FILE", file.path())]).expect("loads");
        assert_eq!(jwt_secret_of(&settings), " padded secret \n");
        let windows = SecretFile::new("crlf", b"windows secret\r\n");
        let settings = load_env(&[("APP__AUTH__JWT_SECRET_FILE", windows.path())]).expect("loads");
        assert_eq!(jwt_secret_of(&settings), "windows secret");
    }

    #[test]
    fn any_setting_can_come_from_a_file_and_is_parsed_like_the_env_var() {
        let port = SecretFile::new("port", b"9091\n");
        let password = SecretFile::new("admin-password", b"00001234");
        let settings = load_env(&[
            ("APP__SERVER__PORT_FILE", port.path()),
            ("APP__AUTH__BOOTSTRAP_ADMIN__PASSWORD_FILE", password.path()),
        ])
        .expect("loads");
        assert_eq!(settings.server.port, 9091);
        let admin_password = settings.auth.bootstrap_admin.password.as_ref().expect("set").expose_secret().to_owned();
        assert_eq!(admin_password, "00001234", "a password stays a string");
    }

    #[test]
    fn a_setting_given_both_directly_and_as_a_file_is_fatal_naming_both() {
        let file = SecretFile::new("both", b"from the file");
        let error = load_env(&[("APP__AUTH__JWT_SECRET", "from the env"), ("APP__AUTH__JWT_SECRET_FILE", file.path())])
            .expect_err("both given");
        assert_eq!(error.setting, "APP__AUTH__JWT_SECRET");
        assert!(error.problem.contains("APP__AUTH__JWT_SECRET_FILE"), "{error}");
        assert!(!error.to_string().contains("from the"), "no value is shown: {error}");
    }

    #[test]
    fn an_unreadable_file_is_fatal_naming_the_file_variable_and_path() {
        let missing = std::env::temp_dir().join("users-api-settings-no-such-file");
        let missing = missing.to_str().expect("UTF-8");
        let error = load_env(&[("APP__AUTH__JWT_SECRET_FILE", missing)]).expect_err("no such file");
        assert_eq!(error.setting, "APP__AUTH__JWT_SECRET_FILE");
        assert!(error.problem.contains(missing), "{error}");
        let binary = SecretFile::new("binary", &[0xff, 0xfe, 0x00]);
        let error = load_env(&[("APP__AUTH__JWT_SECRET_FILE", binary.path())]).expect_err("not text");
        assert_eq!(error.setting, "APP__AUTH__JWT_SECRET_FILE");
    }

    #[test]
    fn a_file_variable_for_no_known_setting_is_an_unknown_setting() {
        let file = SecretFile::new("unknown", b"x");
        let error = load_env(&[("APP__AUTH__NO_SUCH_SETTING_FILE", file.path())]).expect_err("unknown");
        assert_eq!(error.setting, "APP__AUTH__NO_SUCH_SETTING_FILE");
        assert_eq!(error.problem, "unknown setting");
    }

    fn storage_of(vars: &[(&str, &str)]) -> Result<(Backend, String), SettingsError> {
        load_env(vars).map(|settings| (settings.storage.backend, settings.storage.url))
    }

    #[test]
    fn with_neither_backend_nor_url_users_are_kept_in_the_default_sqlite_file() {
        assert_eq!(storage_of(&[]).expect("loads"), (Backend::Sqlite, "sqlite://data/users.db".to_owned()));
        let empty = storage_of(&[("APP__STORAGE__BACKEND", ""), ("APP__STORAGE__URL", "")]).expect("loads");
        assert_eq!(empty, (Backend::Sqlite, DEFAULT_STORAGE_URL.to_owned()), "empty counts as unset");
        let sqlite = storage_of(&[("APP__STORAGE__BACKEND", "sqlite")]).expect("loads");
        assert_eq!(sqlite, (Backend::Sqlite, DEFAULT_STORAGE_URL.to_owned()));
    }

    #[test]
    fn an_unset_backend_follows_the_url_scheme() {
        for url in ["postgres://u@db:5432/users", "postgresql://u@db/users?sslmode=require"] {
            assert_eq!(storage_of(&[("APP__STORAGE__URL", url)]).expect("loads"), (Backend::Postgres, url.to_owned()));
        }
        for url in ["sqlite://elsewhere/users.db", "sqlite::memory:"] {
            assert_eq!(storage_of(&[("APP__STORAGE__URL", url)]).expect("loads"), (Backend::Sqlite, url.to_owned()));
        }
    }

    #[test]
    fn a_backend_that_contradicts_the_url_is_fatal_naming_both() {
        for (backend, url) in [("sqlite", "postgres://u@db/users"), ("postgres", "sqlite://data/users.db")] {
            let error = storage_of(&[("APP__STORAGE__BACKEND", backend), ("APP__STORAGE__URL", url)])
                .expect_err("contradiction");
            assert_eq!(error.setting, "APP__STORAGE__BACKEND");
            assert!(error.problem.contains("APP__STORAGE__URL"), "{error}");
        }
        let agreeing = [("APP__STORAGE__BACKEND", "postgres"), ("APP__STORAGE__URL", "postgres://u@db/users")];
        assert_eq!(storage_of(&agreeing).expect("loads").0, Backend::Postgres);
    }

    #[test]
    fn postgres_without_a_url_is_fatal_naming_the_url_once() {
        let error = storage_of(&[("APP__STORAGE__BACKEND", "postgres")]).expect_err("no URL");
        assert_eq!(error.setting, "APP__STORAGE__URL");
        assert_eq!(error.to_string().matches("APP__STORAGE__URL").count(), 1, "{error}");
    }

    #[test]
    fn memory_ignores_the_url() {
        let memory = [("APP__STORAGE__BACKEND", "memory"), ("APP__STORAGE__URL", "postgres://u@db/users")];
        assert_eq!(storage_of(&memory).expect("loads").0, Backend::Memory);
        assert_eq!(storage_of(&[("APP__STORAGE__BACKEND", "memory")]).expect("loads").0, Backend::Memory);
    }

    #[test]
    fn a_url_of_no_known_scheme_is_fatal_without_quoting_it() {
        for url in ["mysql://user:hunter2@db/users", "data/users.db", "POSTGRES://user:hunter2@db/users"] {
            let error = storage_of(&[("APP__STORAGE__URL", url)]).expect_err("unknown scheme");
            assert_eq!(error.setting, "APP__STORAGE__URL");
            assert!(!error.to_string().contains("hunter2"), "the URL's password is not shown: {error}");
        }
        let error = storage_of(&[("APP__STORAGE__BACKEND", "mongodb")]).expect_err("unknown backend");
        assert_eq!(error.setting, "APP__STORAGE__BACKEND");
    }

    #[test]
    fn the_refresh_grace_defaults_to_ten_seconds_and_is_bounded() {
        let settings = load_env(&[]).expect("loads");
        assert_eq!(settings.auth.refresh_reuse_grace_secs, 10);
        assert!(token_ttls(&settings).is_ok());
        let off = load_env(&[("APP__AUTH__REFRESH_REUSE_GRACE_SECS", "0")]).expect("loads");
        assert!(token_ttls(&off).is_ok(), "0 turns it off");
        let long = load_env(&[("APP__AUTH__REFRESH_REUSE_GRACE_SECS", "301")]).expect("loads");
        let refused = token_ttls(&long).expect_err("over 300 s");
        assert!(refused.to_string().contains("APP__AUTH__REFRESH_REUSE_GRACE_SECS"), "{refused}");
    }
}
