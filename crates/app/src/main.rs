//! users-api: parse the command line, load the settings, run the command. Fatal errors are one line on stderr
//! and exit code 1.

use clap::Parser;
use std::process::ExitCode;
use users_api::cli::{Cli, Command};
use users_api::settings::{self, Settings};
use users_api::{create_admin, healthcheck, startup, telemetry};

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
