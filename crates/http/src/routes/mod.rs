pub mod auth;
pub mod docs;
pub mod health;
pub mod jwks;
pub mod mail;
pub mod sessions;
pub mod transfer;
pub mod users;
