pub mod auth;
pub mod docs;
pub mod health;
pub mod transfer;
pub mod users;
