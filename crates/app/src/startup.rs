//! Wiring: the adapters the settings name, put together behind the domain's ports, served over HTTP.

use crate::settings::{Backend, Settings, SettingsError};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;
use users_auth::BcryptHasher;
use users_domain::ports::{SystemClock, UserRepository};
use users_domain::UserService;
use users_http::{AppState, Readiness, ServerOptions};
use users_storage_memory::InMemoryUserRepository;
use users_storage_postgres::PostgresConfig;
use users_storage_sqlite::SqliteConfig;

/// A started service: its bound port, the server future, and what shutdown needs.
pub struct Application {
    pub port: u16,
    pub server: actix_web::dev::Server,
    pub readiness: Arc<Readiness>,
    pub repository: Arc<dyn UserRepository>,
}

/// Why the service could not start; `setting` names the env var to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: String,
        source: std::io::Error,
    },
}

/// The repository the settings name, connected (and migrated when `migrate` is set). A database that cannot
/// be reached or created is an error naming `APP__STORAGE__URL`.
pub async fn repository(
    settings: &Settings,
    migrate: bool,
) -> Result<Arc<dyn UserRepository>, SettingsError> {
    let storage = &settings.storage;
    let unreachable = |e: anyhow::Error| SettingsError::new("APP__STORAGE__URL", format!("{e:#}"));
    let acquire_timeout = Duration::from_secs(storage.acquire_timeout_secs);
    match storage.backend {
        Backend::Memory => Ok(Arc::new(InMemoryUserRepository::new())),
        Backend::Sqlite => {
            let config = SqliteConfig {
                url: storage.url.clone(),
                pool_size: storage.pool_size,
                acquire_timeout,
            };
            Ok(Arc::new(
                users_storage_sqlite::connect(&config, migrate)
                    .await
                    .map_err(unreachable)?,
            ))
        }
        Backend::Postgres => {
            let config = PostgresConfig {
                url: storage.url.clone(),
                pool_size: storage.pool_size,
                acquire_timeout,
                statement_timeout: Duration::from_secs(storage.statement_timeout_secs),
            };
            Ok(Arc::new(
                users_storage_postgres::connect(&config, migrate)
                    .await
                    .map_err(unreachable)?,
            ))
        }
    }
}

pub async fn build(settings: &Settings) -> Result<Application, StartupError> {
    let repository = repository(settings, settings.storage.migrate_on_start).await?;
    build_with(settings, repository).await
}

/// Serves on the given repository: tests keep a handle on it to look behind the API.
pub async fn build_with(
    settings: &Settings,
    repository: Arc<dyn UserRepository>,
) -> Result<Application, StartupError> {
    let hasher = BcryptHasher::new(settings.auth.bcrypt_cost)
        .map_err(|e| SettingsError::new("APP__AUTH__BCRYPT_COST", e.to_string()))?;
    let users = UserService::new(repository.clone(), Arc::new(hasher), Arc::new(SystemClock));
    let address = format!("{}:{}", settings.server.host, settings.server.port);
    let listener = TcpListener::bind(&address).map_err(|source| StartupError::Listen {
        address: address.clone(),
        source,
    })?;
    let port = listener
        .local_addr()
        .map_err(|source| StartupError::Listen { address, source })?
        .port();
    let readiness = Arc::new(Readiness::default());
    let state = AppState {
        users,
        readiness: readiness.clone(),
    };
    let options = ServerOptions {
        workers: (settings.server.workers > 0).then_some(settings.server.workers),
        shutdown_timeout: Duration::from_secs(settings.server.shutdown_timeout_secs),
    };
    let server =
        users_http::serve(listener, state, options).map_err(|source| StartupError::Listen {
            address: format!("port {port}"),
            source,
        })?;
    Ok(Application {
        port,
        server,
        readiness,
        repository,
    })
}
