//! Layered configuration (docs/api.md §1): built-in defaults < config/default.toml < config/{APP_ENV}.toml <
//! `APP__SECTION__KEY` env vars, any of which may instead be read from a file (`APP__SECTION__KEY_FILE`). Every
//! error names the setting as its env var, in one line.

use config::{Config, ConfigError, Environment, File, FileFormat, Value, ValueKind};
use secrecy::SecretString;
use serde::{Deserialize, Deserializer};
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use users_domain::password_policy::PasswordMinLength;
use users_mail::{LinkBase, Sender, SmtpUrl};

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
    pub mail: MailSettings,
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
    /// Whether `GET /users/export?include_hashes=true` may hand out password hashes.
    pub export_hashes: bool,
    #[serde(default)]
    pub bootstrap_admin: BootstrapAdminSettings,
    /// docs/api.md §7: the password policy's shortest password, in characters.
    pub password_min_length: usize,
    /// `off` or `hibp`.
    pub breached_password_check: String,
    pub hibp_url: String,
    pub signing: SigningSettings,
    /// docs/api.md §7: how long a password-reset, invite and verification token works.
    pub reset_token_ttl_secs: u64,
    pub invite_token_ttl_secs: u64,
    pub verification_token_ttl_secs: u64,
    /// Refuse logins of users whose email is not verified (needs mail).
    pub require_verified_email: bool,
}

/// How access tokens are signed (docs/api.md §8).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningSettings {
    /// `HS256` (with the JWT secret) or `EdDSA` (with the key files of `keys_dir`).
    pub algorithm: String,
    #[serde(default)]
    pub keys_dir: Option<String>,
    /// How long a new key is published before it signs: at least the time verifiers cache the key set.
    pub publish_delay_secs: u64,
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

/// docs/api.md §7's transport settings, as given; `mail_config` checks them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailSettings {
    pub transport: String,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub dir: Option<String>,
    /// May carry a password.
    #[serde(default)]
    pub smtp_url: Option<SecretString>,
    #[serde(default)]
    pub smtp_ca_file: Option<String>,
    pub smtp_timeout_secs: u64,
    pub max_attempts: u32,
    #[serde(default)]
    pub link_base: Option<String>,
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
    ("auth.signing.algorithm", "HS256"),
    ("auth.signing.publish_delay_secs", "300"),
    ("auth.password_min_length", "8"),
    ("mail.transport", "none"),
    ("mail.smtp_timeout_secs", "10"),
    ("mail.max_attempts", "5"),
    ("auth.breached_password_check", "off"),
    ("auth.hibp_url", users_auth::HIBP_DEFAULT_URL),
    ("auth.export_hashes", "false"),
    ("auth.reset_token_ttl_secs", "3600"),
    ("auth.invite_token_ttl_secs", "604800"),
    ("auth.verification_token_ttl_secs", "86400"),
    ("auth.require_verified_email", "false"),
];

/// Settings that have no default but may be given.
const OPTIONAL: &[&str] = &[
    "storage.backend",
    "storage.url",
    "auth.jwt_secret",
    "auth.bootstrap_admin.username",
    "auth.bootstrap_admin.email",
    "auth.bootstrap_admin.password",
    "auth.signing.keys_dir",
    "log.format",
    "mail.from",
    "mail.dir",
    "mail.smtp_url",
    "mail.smtp_ca_file",
    "mail.link_base",
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

/// How access tokens are signed, as the settings say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signing {
    /// With the JWT secret.
    Hs256,
    /// With the Ed25519 key files of `keys_dir`; a new one signs once published for `publish_delay`.
    EdDsa { keys_dir: PathBuf, publish_delay: std::time::Duration },
}

/// The longest publish delay accepted: a week (a longer one is almost certainly a unit mistake).
const MAX_PUBLISH_DELAY_SECS: u64 = 7 * 24 * 3600;

/// `APP__AUTH__SIGNING__*` (docs/api.md §8): the algorithm (`HS256` or `EdDSA`, any case), and under EdDSA the keys
/// folder (required) and the publish delay (0 to a week). Under HS256 the folder is not read.
pub fn signing(settings: &Settings) -> Result<Signing, SettingsError> {
    let signing = &settings.auth.signing;
    if signing.publish_delay_secs > MAX_PUBLISH_DELAY_SECS {
        return Err(SettingsError::new(
            "APP__AUTH__SIGNING__PUBLISH_DELAY_SECS",
            format!("must be between 0 and {MAX_PUBLISH_DELAY_SECS}"),
        ));
    }
    match signing.algorithm.to_ascii_lowercase().as_str() {
        "hs256" => Ok(Signing::Hs256),
        "eddsa" => {
            let keys_dir = signing.keys_dir.as_deref().filter(|dir| !dir.trim().is_empty()).ok_or_else(|| {
                SettingsError::new(
                    "APP__AUTH__SIGNING__KEYS_DIR",
                    "is required with APP__AUTH__SIGNING__ALGORITHM=EdDSA (create a key with `users-api generate-key --dir DIR`)",
                )
            })?;
            let publish_delay = std::time::Duration::from_secs(signing.publish_delay_secs);
            Ok(Signing::EdDsa { keys_dir: PathBuf::from(keys_dir), publish_delay })
        }
        other => {
            Err(SettingsError::new("APP__AUTH__SIGNING__ALGORITHM", format!("must be HS256 or EdDSA, not {other:?}")))
        }
    }
}

/// The password policy's settings (docs/api.md §7), checked.
pub struct PasswordPolicySettings {
    pub min_length: PasswordMinLength,
    /// The range API's base URL when the breached-password check is on.
    pub hibp_url: Option<String>,
}

/// `APP__AUTH__PASSWORD_MIN_LENGTH` (8–72), `APP__AUTH__BREACHED_PASSWORD_CHECK` (`off` | `hibp`) and, with
/// `hibp`, `APP__AUTH__HIBP_URL` (an http(s) URL).
pub fn password_policy(settings: &Settings) -> Result<PasswordPolicySettings, SettingsError> {
    let auth = &settings.auth;
    let min_length = PasswordMinLength::new(auth.password_min_length)
        .map_err(|e| SettingsError::new("APP__AUTH__PASSWORD_MIN_LENGTH", e.to_string()))?;
    let hibp_url = match auth.breached_password_check.as_str() {
        "off" => None,
        "hibp" => {
            users_auth::HibpRangeApi::parse_url(&auth.hibp_url)
                .map_err(|e| SettingsError::new("APP__AUTH__HIBP_URL", e.to_string()))?;
            Some(auth.hibp_url.clone())
        }
        other => {
            return Err(SettingsError::new(
                "APP__AUTH__BREACHED_PASSWORD_CHECK",
                format!("must be off or hibp, not {other:?}"),
            ))
        }
    };
    Ok(PasswordPolicySettings { min_length, hibp_url })
}

/// How mail leaves the service (docs/api.md §7), checked.
pub enum MailTransport {
    None,
    File { dir: PathBuf, sender: Sender },
    Smtp { url: SmtpUrl, ca_pem: Option<Vec<u8>>, timeout: std::time::Duration, sender: Sender },
}

/// The mail settings, checked: the transport, and (unless it is `none`) the attempts and the links' base.
pub struct MailConfig {
    pub transport: MailTransport,
    pub max_attempts: u32,
    pub link_base: Option<LinkBase>,
}

/// The most attempts per mail, and the longest SMTP timeout, accepted.
const MAIL_MAX_ATTEMPTS: u32 = 100;
const SMTP_MAX_TIMEOUT_SECS: u64 = 300;

/// `APP__MAIL__*`: `TRANSPORT` none | file | smtp; unless none, `FROM` and `LINK_BASE` are required, `file` needs
/// `DIR` and `smtp` needs `SMTP_URL` (its CA file, if given, must hold a PEM certificate). Errors never quote the
/// SMTP URL: it may hold a password.
pub fn mail_config(settings: &Settings) -> Result<MailConfig, SettingsError> {
    let mail = &settings.mail;
    if !(1..=MAIL_MAX_ATTEMPTS).contains(&mail.max_attempts) {
        return Err(SettingsError::new(
            "APP__MAIL__MAX_ATTEMPTS",
            format!("must be between 1 and {MAIL_MAX_ATTEMPTS}"),
        ));
    }
    if !(1..=SMTP_MAX_TIMEOUT_SECS).contains(&mail.smtp_timeout_secs) {
        return Err(SettingsError::new(
            "APP__MAIL__SMTP_TIMEOUT_SECS",
            format!("must be between 1 and {SMTP_MAX_TIMEOUT_SECS}"),
        ));
    }
    let given = |value: &Option<String>| value.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
    let required = |value: &Option<String>, var: &str| {
        given(value)
            .ok_or_else(|| SettingsError::new(var, format!("is required with APP__MAIL__TRANSPORT={}", mail.transport)))
    };
    let config = |transport| {
        let link_base = required(&mail.link_base, "APP__MAIL__LINK_BASE")?;
        let link_base =
            LinkBase::parse(&link_base).map_err(|e| SettingsError::new("APP__MAIL__LINK_BASE", e.to_string()))?;
        Ok(MailConfig { transport, max_attempts: mail.max_attempts, link_base: Some(link_base) })
    };
    let sender = || {
        Sender::parse(&required(&mail.from, "APP__MAIL__FROM")?)
            .map_err(|e| SettingsError::new("APP__MAIL__FROM", e.to_string()))
    };
    match mail.transport.as_str() {
        "none" => Ok(MailConfig { transport: MailTransport::None, max_attempts: mail.max_attempts, link_base: None }),
        "file" => {
            let sender = sender()?;
            let dir = PathBuf::from(required(&mail.dir, "APP__MAIL__DIR")?);
            config(MailTransport::File { dir, sender })
        }
        "smtp" => {
            use secrecy::ExposeSecret;
            let sender = sender()?;
            let url = mail.smtp_url.as_ref().map(|u| u.expose_secret().to_owned());
            let url = SmtpUrl::parse(&required(&url, "APP__MAIL__SMTP_URL")?)
                .map_err(|e| SettingsError::new("APP__MAIL__SMTP_URL", e.to_string()))?;
            let ca_pem = match given(&mail.smtp_ca_file) {
                Some(path) => Some(std::fs::read(&path).map_err(|e| {
                    SettingsError::new("APP__MAIL__SMTP_CA_FILE", format!("cannot read {path:?}: {e}"))
                })?),
                None => None,
            };
            let timeout = std::time::Duration::from_secs(mail.smtp_timeout_secs);
            config(MailTransport::Smtp { url, ca_pem, timeout, sender })
        }
        other => Err(SettingsError::new("APP__MAIL__TRANSPORT", format!("must be none, file or smtp, not {other:?}"))),
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

    fn signing_of(vars: &[(&str, &str)]) -> Result<Signing, SettingsError> {
        signing(&load_env(vars)?)
    }

    #[test]
    fn tokens_are_hs256_unless_eddsa_is_asked_for_with_a_keys_folder() {
        assert_eq!(signing_of(&[]).expect("loads"), Signing::Hs256);
        let ignored = [("APP__AUTH__SIGNING__KEYS_DIR", "/nowhere")];
        assert_eq!(signing_of(&ignored).expect("loads"), Signing::Hs256, "the folder is not read under HS256");
        let eddsa = [("APP__AUTH__SIGNING__ALGORITHM", "eddsa"), ("APP__AUTH__SIGNING__KEYS_DIR", "/run/keys")];
        let expected =
            Signing::EdDsa { keys_dir: PathBuf::from("/run/keys"), publish_delay: std::time::Duration::from_secs(300) };
        assert_eq!(signing_of(&eddsa).expect("loads"), expected);
    }

    #[test]
    fn a_bad_signing_setting_is_fatal_naming_it() {
        let cases: [(&[(&str, &str)], &str); 4] = [
            (&[("APP__AUTH__SIGNING__ALGORITHM", "EdDSA")], "APP__AUTH__SIGNING__KEYS_DIR"),
            (
                &[("APP__AUTH__SIGNING__ALGORITHM", "EdDSA"), ("APP__AUTH__SIGNING__KEYS_DIR", " ")],
                "APP__AUTH__SIGNING__KEYS_DIR",
            ),
            (&[("APP__AUTH__SIGNING__ALGORITHM", "RS256")], "APP__AUTH__SIGNING__ALGORITHM"),
            (&[("APP__AUTH__SIGNING__PUBLISH_DELAY_SECS", "604801")], "APP__AUTH__SIGNING__PUBLISH_DELAY_SECS"),
        ];
        for (vars, setting) in cases {
            assert_eq!(signing_of(vars).expect_err("fatal").setting, setting, "{vars:?}");
        }
    }

    #[test]
    fn the_password_policy_settings_are_checked() {
        let policy = password_policy(&load_env(&[]).expect("loads")).expect("defaults");
        assert_eq!((policy.min_length.get(), policy.hibp_url), (8, None));
        let policy = password_policy(&load_env(&[("APP__AUTH__PASSWORD_MIN_LENGTH", "12")]).expect("loads"));
        assert_eq!(policy.expect("valid").min_length.get(), 12);
        for bad in ["7", "73"] {
            let settings = load_env(&[("APP__AUTH__PASSWORD_MIN_LENGTH", bad)]).expect("loads");
            let error = password_policy(&settings).err().expect("out of range");
            assert_eq!(error.setting, "APP__AUTH__PASSWORD_MIN_LENGTH");
        }
        let hibp = load_env(&[("APP__AUTH__BREACHED_PASSWORD_CHECK", "hibp")]).expect("loads");
        assert_eq!(password_policy(&hibp).expect("valid").hibp_url.as_deref(), Some(users_auth::HIBP_DEFAULT_URL));
        let error = password_policy(&load_env(&[("APP__AUTH__BREACHED_PASSWORD_CHECK", "on")]).expect("loads"))
            .err()
            .expect("unknown");
        assert_eq!(error.setting, "APP__AUTH__BREACHED_PASSWORD_CHECK");
        let bad_url = [("APP__AUTH__BREACHED_PASSWORD_CHECK", "hibp"), ("APP__AUTH__HIBP_URL", "ftp://x/")];
        let error = password_policy(&load_env(&bad_url).expect("loads")).err().expect("bad URL");
        assert_eq!(error.setting, "APP__AUTH__HIBP_URL");
    }

    fn mail_error(vars: &[(&str, &str)]) -> SettingsError {
        mail_config(&load_env(vars).expect("loads")).err().expect("refused")
    }

    const FILE_MAIL: [(&str, &str); 4] = [
        ("APP__MAIL__TRANSPORT", "file"),
        ("APP__MAIL__FROM", "Users API <no-reply@example.com>"),
        ("APP__MAIL__DIR", "data/mail"),
        ("APP__MAIL__LINK_BASE", "https://app.example.com/account"),
    ];

    #[test]
    fn mail_is_off_by_default_and_every_transport_names_what_it_misses() {
        let config = mail_config(&load_env(&[]).expect("loads")).expect("defaults");
        assert!(matches!(config.transport, MailTransport::None));
        assert_eq!(config.max_attempts, 5);
        let file = mail_config(&load_env(&FILE_MAIL).expect("loads")).expect("valid");
        assert!(matches!(file.transport, MailTransport::File { .. }));
        for missing in ["APP__MAIL__FROM", "APP__MAIL__DIR", "APP__MAIL__LINK_BASE"] {
            let vars: Vec<_> = FILE_MAIL.iter().copied().filter(|(k, _)| *k != missing).collect();
            assert_eq!(mail_error(&vars).setting, missing);
        }
        let smtp = [("APP__MAIL__TRANSPORT", "smtp"), FILE_MAIL[1], FILE_MAIL[3]];
        assert_eq!(mail_error(&smtp).setting, "APP__MAIL__SMTP_URL");
        assert_eq!(mail_error(&[("APP__MAIL__TRANSPORT", "sendmail")]).setting, "APP__MAIL__TRANSPORT");
        let bad_from = [FILE_MAIL[0], ("APP__MAIL__FROM", "no-reply"), FILE_MAIL[2], FILE_MAIL[3]];
        assert_eq!(mail_error(&bad_from).setting, "APP__MAIL__FROM");
        let bad_link = [FILE_MAIL[0], FILE_MAIL[1], FILE_MAIL[2], ("APP__MAIL__LINK_BASE", "https://x/a?b=c")];
        assert_eq!(mail_error(&bad_link).setting, "APP__MAIL__LINK_BASE");
        assert_eq!(mail_error(&[("APP__MAIL__MAX_ATTEMPTS", "0")]).setting, "APP__MAIL__MAX_ATTEMPTS");
        assert_eq!(mail_error(&[("APP__MAIL__SMTP_TIMEOUT_SECS", "0")]).setting, "APP__MAIL__SMTP_TIMEOUT_SECS");
    }

    #[test]
    fn an_smtp_url_error_never_shows_the_url_and_a_ca_file_must_be_readable() {
        let smtp = [("APP__MAIL__TRANSPORT", "smtp"), FILE_MAIL[1], FILE_MAIL[3]];
        let mut vars = smtp.to_vec();
        vars.push(("APP__MAIL__SMTP_URL", "smtp://mailer:hunter2@mail.example.com?tls=maybe"));
        let error = mail_error(&vars);
        assert_eq!(error.setting, "APP__MAIL__SMTP_URL");
        assert!(!error.to_string().contains("hunter2"), "{error}");
        let mut vars = smtp.to_vec();
        vars.push(("APP__MAIL__SMTP_URL", "smtps://mailer:hunter2@mail.example.com"));
        let config = mail_config(&load_env(&vars).expect("loads")).expect("valid");
        assert!(matches!(config.transport, MailTransport::Smtp { ca_pem: None, .. }));
        vars.push(("APP__MAIL__SMTP_CA_FILE", "/no/such/ca.pem"));
        assert_eq!(mail_error(&vars).setting, "APP__MAIL__SMTP_CA_FILE");
    }
}

/// The mail flows' settings (docs/api.md §7), checked.
pub struct MailFlowTimes {
    pub reset_ttl: std::time::Duration,
    pub invite_ttl: std::time::Duration,
    pub verification_ttl: std::time::Duration,
}

/// The longest token lifetime accepted: 30 days.
const MAX_MAIL_TOKEN_TTL_SECS: u64 = 30 * 24 * 3600;

/// `APP__AUTH__{RESET,INVITE,VERIFICATION}_TOKEN_TTL_SECS` (60 s to 30 days), and
/// `APP__AUTH__REQUIRE_VERIFIED_EMAIL`, which needs a mail transport: nobody could verify otherwise.
pub fn mail_flow_times(settings: &Settings, mail_on: bool) -> Result<MailFlowTimes, SettingsError> {
    let auth = &settings.auth;
    let ttl = |secs: u64, var: &str| {
        if (60..=MAX_MAIL_TOKEN_TTL_SECS).contains(&secs) {
            Ok(std::time::Duration::from_secs(secs))
        } else {
            Err(SettingsError::new(var, format!("must be between 60 and {MAX_MAIL_TOKEN_TTL_SECS}")))
        }
    };
    if auth.require_verified_email && !mail_on {
        return Err(SettingsError::new(
            "APP__AUTH__REQUIRE_VERIFIED_EMAIL",
            "needs a mail transport (APP__MAIL__TRANSPORT file or smtp): nobody could verify an address",
        ));
    }
    Ok(MailFlowTimes {
        reset_ttl: ttl(auth.reset_token_ttl_secs, "APP__AUTH__RESET_TOKEN_TTL_SECS")?,
        invite_ttl: ttl(auth.invite_token_ttl_secs, "APP__AUTH__INVITE_TOKEN_TTL_SECS")?,
        verification_ttl: ttl(auth.verification_token_ttl_secs, "APP__AUTH__VERIFICATION_TOKEN_TTL_SECS")?,
    })
}

#[cfg(test)]
mod mail_flow_tests {
    use super::*;

    fn load_env(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let env = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        load_from(env).map(|(_, settings)| settings)
    }

    #[test]
    fn token_lifetimes_default_and_are_range_checked() {
        let times = mail_flow_times(&load_env(&[]).expect("loads"), false).expect("defaults");
        assert_eq!(times.reset_ttl.as_secs(), 3600);
        assert_eq!(times.invite_ttl.as_secs(), 604_800);
        assert_eq!(times.verification_ttl.as_secs(), 86_400);
        for (var, value) in [
            ("APP__AUTH__RESET_TOKEN_TTL_SECS", "59"),
            ("APP__AUTH__INVITE_TOKEN_TTL_SECS", "2592001"),
            ("APP__AUTH__VERIFICATION_TOKEN_TTL_SECS", "0"),
        ] {
            let settings = load_env(&[(var, value)]).expect("loads");
            assert_eq!(mail_flow_times(&settings, true).err().expect("refused").setting, var);
        }
    }

    #[test]
    fn requiring_verified_emails_without_mail_is_fatal() {
        let settings = load_env(&[("APP__AUTH__REQUIRE_VERIFIED_EMAIL", "true")]).expect("loads");
        let error = mail_flow_times(&settings, false).err().expect("fatal");
        assert_eq!(error.setting, "APP__AUTH__REQUIRE_VERIFIED_EMAIL");
        assert!(mail_flow_times(&settings, true).is_ok());
    }
}
