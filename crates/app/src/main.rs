//! users-api: parse the command line, load the settings, run the command. Fatal errors are one line on stderr
//! and exit code 1.

use clap::Parser;
use std::process::ExitCode;
use users_api::cli::{Cli, Command};
use users_api::settings::{self, Settings};
use users_api::{create_admin, healthcheck, startup, telemetry};

/// mimalloc rather than glibc's malloc: a batched read's rows and strings are allocated on one worker thread and
/// often freed on another, and with glibc's malloc a PostgreSQL read took about 13 % more of the service's CPU
/// (docs/benchmarks.md, "The allocator and route matching").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match settings::load() {
        Ok((_, settings)) => settings,
        Err(e) => return fatal(e),
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::Healthcheck => match healthcheck::ready(&settings.server.host, settings.server.port) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => fatal("not ready"),
            Err(e) => fatal(format!("not ready: {e}")),
        },
        Command::Serve => run(serve(settings)),
        Command::Migrate => run(migrate(settings)),
        Command::CreateAdmin { username, email } => run(create_admin::run(settings, username, email)),
        Command::GenerateKey { dir } => generate_key(&dir),
    }
}

/// How long the listener stays open after SIGTERM with `/health/ready` answering 503.
const READINESS_DRAIN: std::time::Duration = std::time::Duration::from_secs(2);

fn fatal(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("users-api: {message}");
    ExitCode::FAILURE
}

fn run(command: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    match actix_web::rt::System::new().block_on(command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fatal(format!("{e:#}")),
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    telemetry::init(settings.log.format);
    let app = startup::build(&settings).await?;
    // Installed before the listening line, so a SIGHUP never finds the default action (exit) in place.
    let hangups = hangups()?;
    actix_web::rt::spawn(reload_keys_on_hangup(hangups, app.signing_keys.clone()));
    // Always on stderr, whatever the log level and format: scripts wait for this line.
    let host = &settings.server.host;
    let host = if host.contains(':') && !host.starts_with('[') { format!("[{host}]") } else { host.clone() };
    eprintln!("listening on http://{host}:{}", app.port);
    tracing::info!(host = %settings.server.host, port = app.port, backend = ?settings.storage.backend, "serving");
    let handle = app.server.handle();
    let readiness = app.readiness.clone();
    actix_web::rt::spawn(async move {
        wait_for_shutdown_signal().await;
        // Not ready at once, while still listening for a moment, so load balancers see the 503 and stop sending;
        // then the listener closes and in-flight requests finish (up to the shutdown timeout).
        readiness.start_shutdown();
        tracing::info!("shutting down: readiness is 503; draining");
        tokio::time::sleep(READINESS_DRAIN).await;
        handle.stop(true).await;
    });
    let storage = app.storage.clone();
    let maintenance = actix_web::rt::spawn(purge_periodically(app.auth.clone()));
    app.server.await?;
    maintenance.abort();
    storage.close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn migrate(settings: Settings) -> anyhow::Result<()> {
    telemetry::init(settings.log.format);
    let storage = startup::storage(&settings, true).await?;
    storage.close().await;
    tracing::info!(backend = ?settings.storage.backend, "migrations applied");
    Ok(())
}

async fn wait_for_shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = ctrl_c => {},
                    _ = terminate.recv() => {},
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// Keys are named by the second: a key written in the same second as another waits for the next one.
fn generate_key(dir: &std::path::Path) -> ExitCode {
    let mut attempts = 0;
    loop {
        match users_auth::generate_key_file(dir, users_domain::Timestamp::now().as_datetime()) {
            Ok((file, key_id)) => {
                println!("{} (kid {key_id})", file.display());
                return ExitCode::SUCCESS;
            }
            Err(users_auth::GenerateKeyError::Exists { .. }) if attempts < 3 => {
                attempts += 1;
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
            Err(e) => return fatal(e),
        }
    }
}

#[cfg(unix)]
type Hangups = tokio::signal::unix::Signal;
#[cfg(not(unix))]
type Hangups = ();

fn hangups() -> anyhow::Result<Hangups> {
    #[cfg(unix)]
    {
        use anyhow::Context;
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).context("cannot handle SIGHUP")
    }
    #[cfg(not(unix))]
    Ok(())
}

/// SIGHUP re-reads the signing keys (docs/api.md §8); a folder that no longer loads keeps the keys in use.
async fn reload_keys_on_hangup(hangups: Hangups, keys: Option<std::sync::Arc<users_auth::SigningKeys>>) {
    #[cfg(unix)]
    {
        let mut hangups = hangups;
        while hangups.recv().await.is_some() {
            let Some(keys) = &keys else {
                tracing::info!("SIGHUP: nothing to reload (tokens are signed with APP__AUTH__JWT_SECRET)");
                continue;
            };
            match keys.reload() {
                Ok(loaded) => startup::log_keys_loaded(keys, &loaded),
                Err(e) => {
                    tracing::error!(error = %e, "SIGHUP: the signing keys were not reloaded; the keys in use stay")
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (hangups, keys);
}

/// Every ten minutes, expired refresh tokens and login failures too old to matter are removed.
async fn purge_periodically(auth: users_domain::auth::AuthService) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(600));
    loop {
        every.tick().await;
        let before = users_domain::lockout::relevant_since(users_domain::Timestamp::now());
        match auth.purge_expired(before).await {
            Ok(removed) => tracing::debug!(removed, "expired tokens and login failures purged"),
            Err(e) => tracing::warn!(error = %e, "purge failed; will retry"),
        }
    }
}
