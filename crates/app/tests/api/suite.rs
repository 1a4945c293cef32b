// The black-box HTTP suite, included by tests/api.rs, which defines `backend()`: the backend picked for this run.

#[path = "helpers.rs"]
mod helpers;

#[path = "auth.rs"]
mod auth;
#[path = "concurrency.rs"]
mod concurrency;
#[path = "crud.rs"]
mod crud;
#[path = "docs.rs"]
mod docs;
#[path = "errors.rs"]
mod errors;
#[path = "listing.rs"]
mod listing;
#[path = "login_names.rs"]
mod login_names;
#[path = "operations.rs"]
mod operations;
#[path = "races.rs"]
mod races;
#[path = "routing.rs"]
mod routing;
#[path = "sessions.rs"]
mod sessions;
#[path = "trust.rs"]
mod trust;
#[path = "jwks.rs"]
mod jwks;
#[path = "lifecycle.rs"]
mod lifecycle;
#[path = "password_policy.rs"]
mod password_policy;
#[path = "transfer.rs"]
mod transfer;
#[path = "mail.rs"]
mod mail;
