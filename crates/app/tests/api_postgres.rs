//! The black-box HTTP suite (tests/api/) against the postgres backend: the service on a random port, spoken to over
//! HTTP as a REST client would.
//! Skipped when TEST_DATABASE_URL is not set.

const BACKEND: &str = "postgres";

include!("api/suite.rs");
