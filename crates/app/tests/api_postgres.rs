//! The black-box HTTP suite (tests/api/) against the postgres backend: the service on a random port, spoken to over
//! HTTP as a REST client would.
//! Needs TEST_DATABASE_URL. Without it at build time (see build.rs) the suite is not built, and one ignored test
//! stands for it, so cargo's count says "ignored" rather than "passed".

#[cfg(not(no_test_database))]
const BACKEND: &str = "postgres";

#[cfg(not(no_test_database))]
include!("api/suite.rs");

#[cfg(no_test_database)]
#[test]
#[ignore = "the HTTP suite on PostgreSQL needs TEST_DATABASE_URL"]
fn http_suite_on_postgres() {}
