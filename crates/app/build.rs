// The PostgreSQL tests of this crate (storage_faults.rs, scale_out.rs, config_process.rs, one process test)
// are built `#[ignore]`d when TEST_DATABASE_URL is unset (`cfg(no_test_database)`), so cargo counts them as ignored
// rather than passed; setting or changing the variable rebuilds them.
fn main() {
    println!("cargo::rerun-if-env-changed=TEST_DATABASE_URL");
    println!("cargo::rustc-check-cfg=cfg(no_test_database)");
    if std::env::var_os("TEST_DATABASE_URL").is_none_or(|url| url.is_empty()) {
        println!("cargo::rustc-cfg=no_test_database");
    }
    // Likewise the sslmode=verify-ca/verify-full tests (tests/config_process.rs) without the CA that
    // scripts/pg-tls.sh installs and prints.
    println!("cargo::rerun-if-env-changed=TEST_DATABASE_CA_FILE");
    println!("cargo::rustc-check-cfg=cfg(no_test_database_ca)");
    if std::env::var_os("TEST_DATABASE_CA_FILE").is_none_or(|ca| ca.is_empty()) {
        println!("cargo::rustc-cfg=no_test_database_ca");
    }
}
