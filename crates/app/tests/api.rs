//! The black-box HTTP suite (tests/api/): the service on a random port, spoken to over HTTP as a REST client would.
//! Compiled once; the backend is picked at run time by USERS_API_TEST_BACKEND = sqlite (the default, the embedded
//! default backend) | memory | postgres (needs TEST_DATABASE_URL). `scripts/test.sh` runs it on all three.

include!("api/suite.rs");

/// The backend this run of the suite stores users in.
fn backend() -> &'static str {
    static BACKEND: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();
    BACKEND.get_or_init(|| match std::env::var("USERS_API_TEST_BACKEND").as_deref() {
        Err(_) | Ok("") | Ok("sqlite") => "sqlite",
        Ok("memory") => "memory",
        Ok("postgres") => "postgres",
        Ok(other) => panic!("USERS_API_TEST_BACKEND must be sqlite, memory or postgres, not {other:?}"),
    })
}
