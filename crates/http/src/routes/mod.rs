pub mod auth;
pub mod docs;
pub mod health;
pub mod sessions;
pub mod users;
