//! users-api: parse the command line, load the settings, run the command. Fatal errors are one line on stderr
//! and exit code 1.

use clap::Parser;
use std::process::ExitCode;
use users_api::cli::{Cli, Command};
use users_api::settings::{self, Settings};
use users_api::{healthcheck, startup, telemetry};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match settings::load() {
        Ok((_, settings)) => settings,
        Err(e) => return fatal(e),
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::Healthcheck => {
            match healthcheck::ready(&settings.server.host, settings.server.port) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => fatal("not ready"),
                Err(e) => fatal(format!("not ready: {e}")),
            }
        }
        Command::Serve => run(serve(settings)),
        Command::Migrate => run(migrate(settings)),
    }
}

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
    eprintln!("listening on http://{}:{}", settings.server.host, app.port);
    tracing::info!(host = %settings.server.host, port = app.port, backend = ?settings.storage.backend, "serving");
    let handle = app.server.handle();
    let readiness = app.readiness.clone();
    actix_web::rt::spawn(async move {
        wait_for_shutdown_signal().await;
        tracing::info!("shutting down: finishing in-flight requests");
        readiness.start_shutdown();
        handle.stop(true).await;
    });
    let repository = app.repository.clone();
    app.server.await?;
    repository.close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn migrate(settings: Settings) -> anyhow::Result<()> {
    telemetry::init(settings.log.format);
    let repository = startup::repository(&settings, true).await?;
    repository.close().await;
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
