//! The command line (docs/api.md §1).

use clap::{Parser, Subcommand};

/// Where every subcommand takes its settings from; shown under `--help`.
const CONFIGURATION: &str = "\
Configuration, lowest layer first: built-in defaults < config/default.toml < config/{APP_ENV}.toml < environment
variables APP__SECTION__KEY (e.g. APP__SERVER__PORT=9090, APP__STORAGE__URL=postgres://user@host/db).
APP_ENV is development (the default), production or test; config/ is looked up in the working directory, then beside
the executable. Every setting is listed in docs/settings.md.";

#[derive(Debug, Parser)]
#[command(
    name = "users-api",
    version,
    about = "users-api: the user management REST service",
    after_help = CONFIGURATION
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API (the default): on APP__SERVER__HOST:APP__SERVER__PORT, 127.0.0.1:8080 unless configured.
    #[command(after_help = CONFIGURATION)]
    Serve,
    /// Apply pending migrations to the configured storage and exit.
    #[command(after_help = CONFIGURATION)]
    Migrate,
    /// Ask the configured host and port for /health/ready: exit 0 on 200, else 1 (for container health checks).
    #[command(after_help = CONFIGURATION)]
    Healthcheck,
    /// Create an admin in the configured storage (after applying pending migrations).
    ///
    /// The password comes from the environment variable USERS_API_ADMIN_PASSWORD; else, on a terminal, it is asked
    /// for twice without echo; else one line of standard input is read. Never from the command line. Exit 0 when
    /// created; 1 with one line on stderr when the username or email is taken, a value breaks the rules of
    /// docs/api.md §2 (password 8-72 bytes), or the storage backend is memory.
    #[command(after_help = CONFIGURATION)]
    CreateAdmin {
        /// The admin's username: 3-32 characters of A-Z a-z 0-9 _ . - (unique, case-insensitively).
        #[arg(long)]
        username: String,
        /// The admin's email address (unique, case-insensitively).
        #[arg(long)]
        email: String,
    },
    /// Write a new Ed25519 signing key for EdDSA access tokens (docs/api.md §8) and exit.
    ///
    /// The key is an unencrypted PKCS#8 PEM file named by the current UTC time (e.g. 20261127T101500Z.pem),
    /// readable by its owner only; the folder is created if missing. Prints the file and the key's id (kid).
    /// Rotation: generate a key in APP__AUTH__SIGNING__KEYS_DIR, send SIGHUP (or restart); it is published at once
    /// and signs after APP__AUTH__SIGNING__PUBLISH_DELAY_SECS; remove the old file after the access-token TTL.
    GenerateKey {
        /// The keys folder (APP__AUTH__SIGNING__KEYS_DIR).
        #[arg(long)]
        dir: std::path::PathBuf,
    },
}
