//! Wiring: the adapters the settings name, put together behind the domain's ports, served over HTTP.

use crate::settings::{self, Backend, MailConfig, MailTransport, Settings, SettingsError};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;
use users_auth::{
    BcryptHasher, HibpRangeApi, JwtAccessTokens, KeysLoaded, OpaqueRefreshTokens, SigningKeys, HIBP_TIMEOUT,
};
use users_domain::auth::{AuthPorts, AuthService, PasswordCheck};
use users_domain::mail_flows::MailFlows;
use users_domain::password_policy::PasswordPolicy;
use users_domain::ports::{BreachedPasswords, Clock, Mailer, PasswordHasher, Storage, SystemClock, VerificationKeys};
use users_domain::transfer::{TransferPorts, TransferService};
use users_domain::{Email, NewUserRequest, Password, UserPorts, UserService, UserServiceError, Username};
use users_http::{
    AppState, BodyTimeout, ClientLimits, HashingQueue, Metrics, PublishedKeys, QueueLimits, Readiness, ServerOptions,
};
use users_mail::{FileMailer, SmtpConfigError, SmtpMailer};
use users_storage_memory::InMemoryStore;
use users_storage_postgres::PostgresConfig;
use users_storage_sqlite::SqliteConfig;

/// A started service: its bound port, the server future, and what shutdown and maintenance need.
pub struct Application {
    pub port: u16,
    pub server: actix_web::dev::Server,
    pub readiness: Arc<Readiness>,
    pub storage: Arc<dyn Storage>,
    pub auth: AuthService,
    /// Under EdDSA, the signing keys, for SIGHUP to reload.
    pub signing_keys: Option<Arc<SigningKeys>>,
    /// The transport the settings name (`None` with `APP__MAIL__TRANSPORT=none`); the mail sender uses it.
    pub mailer: Option<Arc<dyn Mailer>>,
}

/// Why the service could not start; `setting` names the env var to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("cannot listen on {address}: {source}")]
    Listen { address: String, source: std::io::Error },
    #[error("{0:#}")]
    Other(anyhow::Error),
}

/// The storage the settings name, connected (and migrated when `migrate` is set). A database that cannot be
/// reached or created is an error naming `APP__STORAGE__URL`.
pub async fn storage(settings: &Settings, migrate: bool) -> Result<Arc<dyn Storage>, SettingsError> {
    let storage = &settings.storage;
    let unreachable = |e: anyhow::Error| SettingsError::new("APP__STORAGE__URL", format!("{e:#}"));
    let acquire_timeout = Duration::from_secs(storage.acquire_timeout_secs);
    match storage.backend {
        Backend::Memory => Ok(Arc::new(InMemoryStore::new())),
        Backend::Sqlite => {
            let config = SqliteConfig { url: storage.url.clone(), pool_size: storage.pool_size, acquire_timeout };
            Ok(Arc::new(users_storage_sqlite::connect(&config, migrate).await.map_err(unreachable)?))
        }
        Backend::Postgres => {
            let config = PostgresConfig {
                url: storage.url.clone(),
                pool_size: storage.pool_size,
                acquire_timeout,
                statement_timeout: Duration::from_secs(storage.statement_timeout_secs),
            };
            Ok(Arc::new(users_storage_postgres::connect(&config, migrate).await.map_err(unreachable)?))
        }
    }
}

/// The use cases of one instance, over one storage, sharing one hasher, one clock, one password policy and one
/// login check (so a login, a sign-up and a password reset take their turns of the same bcrypt budget).
pub struct Services {
    pub users: UserService,
    pub auth: AuthService,
    pub transfer: TransferService,
    /// The public keys of access tokens (the JWKS).
    pub verification_keys: Arc<dyn VerificationKeys>,
    /// The mail use cases, `None` with mail off.
    pub mail_flows: Option<MailFlows>,
}

/// What every use case that checks or sets a password shares.
pub struct PasswordPorts {
    pub hasher: Arc<dyn PasswordHasher>,
    pub passwords: Arc<PasswordCheck>,
    pub policy: Arc<PasswordPolicy>,
    pub clock: Arc<dyn Clock>,
}

/// The use cases over `storage`, as the settings configure them. `signing_keys`: the EdDSA keys `check` loaded;
/// without them tokens are signed with the JWT secret (commands that issue no token pass `None`). `mail`: the
/// mail settings and the transport, `None` with mail off (and for commands that send none).
pub async fn services(
    settings: &Settings,
    storage: Arc<dyn Storage>,
    signing_keys: Option<Arc<SigningKeys>>,
    mail: Option<(&MailConfig, Arc<dyn Mailer>)>,
) -> Result<Services, StartupError> {
    let hasher: Arc<dyn PasswordHasher> = Arc::new(
        BcryptHasher::new(settings.auth.bcrypt_cost)
            .map_err(|e| SettingsError::new("APP__AUTH__BCRYPT_COST", e.to_string()))?,
    );
    let (secret, warning) = settings::jwt_secret(settings)?;
    if let Some(warning) = warning {
        tracing::warn!("{warning}");
    }
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let passwords = PasswordCheck::new(hasher.clone(), storage.clone(), clock.clone())
        .await
        .map_err(|e| StartupError::Other(e.into()))?;
    let shared = PasswordPorts {
        hasher,
        passwords: Arc::new(passwords),
        policy: Arc::new(password_policy(settings)?),
        clock: clock.clone(),
    };
    let mail_flows = match mail {
        Some((config, mailer)) => crate::mail_sender::mail_flows(settings, storage.clone(), config, mailer, &shared)?,
        None => None,
    };
    let transfer = TransferService::new(
        TransferPorts {
            transfer: storage.clone(),
            hasher: shared.hasher.clone(),
            clock: clock.clone(),
            policy: shared.policy.clone(),
        },
        settings.auth.export_hashes,
    );
    let users = UserService::new(UserPorts {
        repository: storage.clone(),
        hasher: shared.hasher,
        clock: clock.clone(),
        passwords: shared.passwords.clone(),
        refresh_tokens: storage.clone(),
        policy: shared.policy,
    });
    let auth_settings = &settings.auth;
    let (issuer, audience, ttl) = (&auth_settings.issuer, &auth_settings.audience, auth_settings.access_token_ttl_secs);
    let access_tokens = Arc::new(match signing_keys {
        Some(keys) => JwtAccessTokens::signed_with(keys, issuer, audience, ttl),
        None => JwtAccessTokens::new(&secret, issuer, audience, ttl),
    });
    let auth = AuthService::new(
        AuthPorts {
            users: storage.clone(),
            refresh_tokens: storage,
            codec: Arc::new(OpaqueRefreshTokens::new(&secret)),
            access_tokens: access_tokens.clone(),
            passwords: shared.passwords,
            clock,
        },
        Duration::from_secs(auth_settings.refresh_token_ttl_secs),
    )
    .requiring_verified_email(auth_settings.require_verified_email)
    .with_refresh_reuse_grace(Duration::from_secs(auth_settings.refresh_reuse_grace_secs));
    Ok(Services { users, auth, transfer, verification_keys: access_tokens, mail_flows })
}

/// Under EdDSA (docs/api.md §8), the keys of `APP__AUTH__SIGNING__KEYS_DIR` and what loading them found; a missing
/// or empty folder or a file that is not an Ed25519 key is fatal, naming the setting.
pub fn signing_keys(settings: &Settings) -> Result<Option<(Arc<SigningKeys>, KeysLoaded)>, SettingsError> {
    match settings::signing(settings)? {
        settings::Signing::Hs256 => Ok(None),
        settings::Signing::EdDsa { keys_dir, publish_delay } => {
            let (keys, loaded) = SigningKeys::load(&keys_dir, publish_delay)
                .map_err(|e| SettingsError::new("APP__AUTH__SIGNING__KEYS_DIR", e.to_string()))?;
            Ok(Some((Arc::new(keys), loaded)))
        }
    }
}

/// Logs what a (re)load of the signing keys found: its warnings, the number of keys and the one signing now (key ids
/// are public; nothing else of a key is ever logged).
pub fn log_keys_loaded(keys: &SigningKeys, loaded: &KeysLoaded) {
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    let signing = keys.signing_key_id(users_domain::Timestamp::now().as_datetime());
    tracing::info!(keys = loaded.key_ids.len(), signing_kid = signing.as_deref(), "EdDSA signing keys loaded");
}

/// The password policy of docs/api.md §7, with the breached-password check when it is on.
pub(crate) fn password_policy(settings: &Settings) -> Result<PasswordPolicy, StartupError> {
    let policy = settings::password_policy(settings)?;
    let breached: Option<Arc<dyn BreachedPasswords>> = match &policy.hibp_url {
        Some(url) => Some(Arc::new(HibpRangeApi::new(url, HIBP_TIMEOUT).map_err(StartupError::Other)?)),
        None => None,
    };
    Ok(PasswordPolicy::new(policy.min_length, breached))
}

/// The mailer the checked mail settings name: `None` for `none`. The file transport creates its folder.
pub fn mailer(config: &MailConfig) -> Result<Option<Arc<dyn Mailer>>, SettingsError> {
    match &config.transport {
        MailTransport::None => Ok(None),
        MailTransport::File { dir, sender } => {
            let mailer = FileMailer::new(dir.clone(), sender.clone())
                .map_err(|e| SettingsError::new("APP__MAIL__DIR", format!("cannot create {}: {e}", dir.display())))?;
            Ok(Some(Arc::new(mailer)))
        }
        MailTransport::Smtp { url, ca_pem, timeout, sender } => {
            let mailer = SmtpMailer::new(url, ca_pem.as_deref(), *timeout, sender.clone()).map_err(|e| match e {
                SmtpConfigError::CaFile => SettingsError::new("APP__MAIL__SMTP_CA_FILE", e.to_string()),
                SmtpConfigError::Tls(_) => SettingsError::new("APP__MAIL__SMTP_URL", e.to_string()),
            })?;
            Ok(Some(Arc::new(mailer)))
        }
    }
}

/// The bootstrap admin of docs/api.md §1, checked against §2's rules: a fatal error naming the setting otherwise.
pub fn bootstrap_admin(settings: &Settings) -> Result<Option<NewUserRequest>, SettingsError> {
    let Some((username, email, password)) = settings::bootstrap_admin(settings)? else { return Ok(None) };
    let invalid = |var: &str, e: &dyn std::fmt::Display| SettingsError::new(var, e.to_string());
    let request = NewUserRequest {
        username: Username::parse(username).map_err(|e| invalid("APP__AUTH__BOOTSTRAP_ADMIN__USERNAME", &e))?,
        email: Email::parse(email).map_err(|e| invalid("APP__AUTH__BOOTSTRAP_ADMIN__EMAIL", &e))?,
        password: Password::parse(password).map_err(|e| invalid("APP__AUTH__BOOTSTRAP_ADMIN__PASSWORD", &e))?,
        name: None,
        age: None,
        role: None,
        status: None,
        // The operator gave the address: an admin is never locked out by APP__AUTH__REQUIRE_VERIFIED_EMAIL.
        email_verified: Some(true),
    };
    Ok(Some(request))
}

/// Every setting checked before anything is logged or opened, so a fatal one is the only line and leaves nothing
/// behind (no database file created, no migration applied).
pub fn check(settings: &Settings) -> Result<Checked, SettingsError> {
    BcryptHasher::new(settings.auth.bcrypt_cost)
        .map_err(|e| SettingsError::new("APP__AUTH__BCRYPT_COST", e.to_string()))?;
    settings::jwt_secret(settings)?;
    settings::token_ttls(settings)?;
    let signing_keys = signing_keys(settings)?;
    settings::password_policy(settings)?;
    let mail = settings::mail_config(settings)?;
    settings::mail_flow_times(settings, !matches!(mail.transport, MailTransport::None))?;
    if matches!(mail.transport, MailTransport::Smtp { .. }) {
        // Builds nothing that lasts: it checks the CA file and the TLS set-up.
        mailer(&mail)?;
    }
    let body_timeout = BodyTimeout(settings::body_timeout(settings)?);
    let bootstrap_admin = bootstrap_admin(settings)?;
    let trusted_proxies = settings
        .server
        .trusted_proxies
        .iter()
        .map(|cidr| cidr.parse::<ipnet::IpNet>().or_else(|_| cidr.parse::<std::net::IpAddr>().map(ipnet::IpNet::from)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| SettingsError::new("APP__SERVER__TRUSTED_PROXIES", format!("not a CIDR list: {e}")))?;
    Ok(Checked { bootstrap_admin, trusted_proxies, body_timeout, signing_keys, mail })
}

/// What `check` derived from the settings.
pub struct Checked {
    bootstrap_admin: Option<NewUserRequest>,
    trusted_proxies: Vec<ipnet::IpNet>,
    body_timeout: BodyTimeout,
    signing_keys: Option<(Arc<SigningKeys>, KeysLoaded)>,
    mail: MailConfig,
}

/// Binds the configured address; a failure names the setting to fix.
fn listen(settings: &Settings) -> Result<TcpListener, SettingsError> {
    let address = format!("{}:{}", settings.server.host, settings.server.port);
    TcpListener::bind(&address).map_err(|e| {
        let setting = match e.kind() {
            std::io::ErrorKind::AddrInUse | std::io::ErrorKind::PermissionDenied => "APP__SERVER__PORT",
            _ => "APP__SERVER__HOST",
        };
        SettingsError::new(setting, format!("cannot listen on {address}: {e}"))
    })
}

pub async fn build(settings: &Settings) -> Result<Application, StartupError> {
    let checked = check(settings)?;
    let listener = listen(settings)?;
    let storage = storage(settings, settings.storage.migrate_on_start).await?;
    serve_on(settings, checked, listener, storage).await
}

/// Serves on the given storage: tests keep a handle on it to look behind the API.
pub async fn build_with(settings: &Settings, storage: Arc<dyn Storage>) -> Result<Application, StartupError> {
    let checked = check(settings)?;
    let listener = listen(settings)?;
    serve_on(settings, checked, listener, storage).await
}

async fn serve_on(
    settings: &Settings,
    checked: Checked,
    listener: TcpListener,
    storage: Arc<dyn Storage>,
) -> Result<Application, StartupError> {
    let Checked { bootstrap_admin: admin, trusted_proxies, body_timeout, signing_keys, mail } = checked;
    if let Some((keys, loaded)) = &signing_keys {
        log_keys_loaded(keys, loaded);
    }
    let signing_keys = signing_keys.map(|(keys, _)| keys);
    let mailer = mailer(&mail)?;
    let mail_on = mailer.clone().map(|transport| (&mail, transport));
    let Services { users, auth, transfer, verification_keys, mail_flows } =
        services(settings, storage.clone(), signing_keys.clone(), mail_on).await?;
    if let Some(admin) = admin {
        // Created unless a user already has that username or email (instances starting together race on the
        // unique indexes: one creates it).
        users.ensure_admin(admin).await.map_err(|e| match e {
            // A bootstrap admin that breaks the policy is a configuration error (docs/api.md §1).
            UserServiceError::WeakPassword(violation) => StartupError::Settings(SettingsError::new(
                "APP__AUTH__BOOTSTRAP_ADMIN__PASSWORD",
                violation.to_string(),
            )),
            other => StartupError::Other(other.into()),
        })?;
    }
    let port = listener
        .local_addr()
        .map_err(|source| StartupError::Listen { address: settings.server.host.clone(), source })?
        .port();
    let readiness = Arc::new(Readiness::default());
    let metrics = Arc::new(Metrics::new().map_err(|e| StartupError::Other(e.into()))?);
    if let Some(flows) = &mail_flows {
        crate::mail_sender::spawn_sender(flows.clone(), metrics.clone());
    }
    let state = AppState {
        users,
        auth: auth.clone(),
        transfer,
        readiness: readiness.clone(),
        storage: storage.clone(),
        client_limits: Arc::new(ClientLimits::new(
            trusted_proxies,
            settings.auth.login_ip_limit_per_minute,
            settings.auth.signup_ip_limit_per_minute,
        )),
        // As many turns as the hasher hashes at once, so a turn is a hash that runs now.
        hashing: HashingQueue::new(QueueLimits::for_concurrency(BcryptHasher::concurrent_hashes())),
        body_timeout,
        cors_origins: Arc::new(settings.server.cors_origins.clone()),
        metrics: metrics.clone(),
        // Verifiers may cache the key set no longer than a new key waits before it signs.
        published_keys: PublishedKeys {
            keys: verification_keys,
            max_age: Duration::from_secs(settings.auth.signing.publish_delay_secs),
        },
        mail: mail_flows,
    };
    let options = ServerOptions {
        workers: (settings.server.workers > 0).then_some(settings.server.workers),
        shutdown_timeout: Duration::from_secs(settings.server.shutdown_timeout_secs),
    };
    let server = users_http::serve(listener, state, options)
        .map_err(|source| StartupError::Listen { address: format!("port {port}"), source })?;
    Ok(Application { port, server, readiness, storage, auth, signing_keys, mailer })
}

#[cfg(test)]
mod tests {
    use super::*;
    use users_domain::ports::{MailKind, MailMessage, MailSubject};

    #[tokio::test]
    async fn the_file_transport_is_built_from_the_settings_and_writes_a_mail() {
        let dir = std::env::temp_dir().join(format!("users-api-startup-mail-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let env = [
            ("APP__MAIL__TRANSPORT", "file"),
            ("APP__MAIL__FROM", "Users API <no-reply@example.com>"),
            ("APP__MAIL__DIR", dir.to_str().expect("UTF-8")),
            ("APP__MAIL__LINK_BASE", "https://app.example.com/account"),
        ];
        let (_, settings) =
            settings::load_from(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()).expect("loads");
        let mailer = mailer(&settings::mail_config(&settings).expect("valid")).expect("built").expect("not none");
        let message = MailMessage {
            to: Email::parse("alice@example.com").expect("valid"),
            subject: MailSubject::parse("Hello").expect("valid"),
            text_body: "Hello.\n".to_owned(),
            kind: MailKind::EmailVerification,
        };
        mailer.send(&message).await.expect("written");
        let files: Vec<_> = std::fs::read_dir(&dir).expect("created").collect();
        assert_eq!(files.len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
        let none = settings::load_from(Default::default()).expect("loads").1;
        assert!(mailer_of(&none).is_none(), "transport none: no mailer");
    }

    fn mailer_of(settings: &Settings) -> Option<Arc<dyn Mailer>> {
        mailer(&settings::mail_config(settings).expect("valid")).expect("built")
    }
}
