//! Black-box tests: the service on a random port, spoken to over HTTP as a REST client would.

mod helpers;

mod concurrency;
mod crud;
mod docs;
mod errors;
mod listing;
mod routing;
