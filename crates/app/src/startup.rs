//! Wiring: the adapters the settings name, put together behind the domain's ports, served over HTTP.

use crate::settings::{self, Backend, Settings, SettingsError};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;
use users_auth::{BcryptHasher, JwtAccessTokens, OpaqueRefreshTokens};
use users_domain::auth::{AuthPorts, AuthService, PasswordCheck};
use users_domain::ports::{Clock, PasswordHasher, Storage, SystemClock};
use users_domain::{Email, NewUserRequest, Password, UserPorts, UserService, Username};
use users_http::{AppState, BodyTimeout, ClientLimits, HashingQueue, Metrics, QueueLimits, Readiness, ServerOptions};
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

/// The use cases over `storage`, as the settings configure them.
pub async fn services(
    settings: &Settings,
    storage: Arc<dyn Storage>,
) -> Result<(UserService, AuthService), StartupError> {
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
    let passwords = Arc::new(passwords);
    let users = UserService::new(UserPorts {
        repository: storage.clone(),
        hasher,
        clock: clock.clone(),
        passwords: passwords.clone(),
        refresh_tokens: storage.clone(),
    });
    let auth_settings = &settings.auth;
    let access_tokens = JwtAccessTokens::new(
        &secret,
        &auth_settings.issuer,
        &auth_settings.audience,
        auth_settings.access_token_ttl_secs,
    );
    let auth = AuthService::new(
        AuthPorts {
            users: storage.clone(),
            refresh_tokens: storage,
            codec: Arc::new(OpaqueRefreshTokens::new(&secret)),
            access_tokens: Arc::new(access_tokens),
            passwords,
            clock,
        },
        Duration::from_secs(auth_settings.refresh_token_ttl_secs),
    )
    .with_refresh_reuse_grace(Duration::from_secs(auth_settings.refresh_reuse_grace_secs));
    Ok((users, auth))
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
    let body_timeout = BodyTimeout(settings::body_timeout(settings)?);
    let bootstrap_admin = bootstrap_admin(settings)?;
    let trusted_proxies = settings
        .server
        .trusted_proxies
        .iter()
        .map(|cidr| cidr.parse::<ipnet::IpNet>().or_else(|_| cidr.parse::<std::net::IpAddr>().map(ipnet::IpNet::from)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| SettingsError::new("APP__SERVER__TRUSTED_PROXIES", format!("not a CIDR list: {e}")))?;
    Ok(Checked { bootstrap_admin, trusted_proxies, body_timeout })
}

/// What `check` derived from the settings.
pub struct Checked {
    bootstrap_admin: Option<NewUserRequest>,
    trusted_proxies: Vec<ipnet::IpNet>,
    body_timeout: BodyTimeout,
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
    let Checked { bootstrap_admin: admin, trusted_proxies, body_timeout } = checked;
    let (users, auth) = services(settings, storage.clone()).await?;
    if let Some(admin) = admin {
        // Created unless a user already has that username or email (instances starting together race on the
        // unique indexes: one creates it).
        users.ensure_admin(admin).await.map_err(|e| StartupError::Other(e.into()))?;
    }
    let port = listener
        .local_addr()
        .map_err(|source| StartupError::Listen { address: settings.server.host.clone(), source })?
        .port();
    let readiness = Arc::new(Readiness::default());
    let state = AppState {
        users,
        auth: auth.clone(),
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
        metrics: Arc::new(Metrics::new().map_err(|e| StartupError::Other(e.into()))?),
    };
    let options = ServerOptions {
        workers: (settings.server.workers > 0).then_some(settings.server.workers),
        shutdown_timeout: Duration::from_secs(settings.server.shutdown_timeout_secs),
    };
    let server = users_http::serve(listener, state, options)
        .map_err(|source| StartupError::Listen { address: format!("port {port}"), source })?;
    Ok(Application { port, server, readiness, storage, auth })
}
