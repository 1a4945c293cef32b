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

/// A started service: its bound port and the server future.
pub struct Application {
    pub port: u16,
    pub server: actix_web::dev::Server,
    pub readiness: Arc<Readiness>,
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

pub async fn repository(settings: &Settings) -> Result<Arc<dyn UserRepository>, SettingsError> {
    match settings.storage.backend {
        Backend::Memory => Ok(Arc::new(InMemoryUserRepository::new())),
        Backend::Sqlite | Backend::Postgres => Err(SettingsError::new(
            "APP__STORAGE__BACKEND",
            "the SQL backends are not built yet; use memory",
        )),
    }
}

pub async fn build(settings: &Settings) -> Result<Application, StartupError> {
    let repository = repository(settings).await?;
    build_with(settings, repository).await
}

/// Serves on the given repository: tests keep a handle on it to look behind the API.
pub async fn build_with(
    settings: &Settings,
    repository: Arc<dyn UserRepository>,
) -> Result<Application, StartupError> {
    let hasher = BcryptHasher::new(settings.auth.bcrypt_cost)
        .map_err(|e| SettingsError::new("APP__AUTH__BCRYPT_COST", e.to_string()))?;
    let users = UserService::new(repository, Arc::new(hasher), Arc::new(SystemClock));
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
    })
}
