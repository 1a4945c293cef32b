//! The black-box HTTP suite (tests/api/) against the sqlite backend: the service on a random port, spoken to over
//! HTTP as a REST client would.

const BACKEND: &str = "sqlite";

include!("api/suite.rs");
