//! The command line of API.md §1.

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "users-api", version, about = "users-api: the user management REST service")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API (the default).
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Ask the configured host and port for /health/ready: exit 0 on 200, else 1 (for container health checks).
    Healthcheck,
    /// Create an admin (after applying pending migrations). The password comes from USERS_API_ADMIN_PASSWORD, else
    /// one line of standard input; never from the command line.
    CreateAdmin {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
    },
}
