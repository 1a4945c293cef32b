//! The black-box HTTP suite (tests/api/) against the memory backend: the service on a random port, spoken to over
//! HTTP as a REST client would.

const BACKEND: &str = "memory";

include!("api/suite.rs");
