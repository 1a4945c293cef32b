//! The users-api binary's library half: configuration, telemetry and wiring, so tests can start the service
//! in-process on port 0.

pub mod cli;
pub mod create_admin;
pub mod healthcheck;
pub mod mail_sender;
pub mod settings;
pub mod startup;
pub mod telemetry;
