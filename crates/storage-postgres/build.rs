// Re-embed the migrations whenever one is added or changed.
// Without TEST_DATABASE_URL the PostgreSQL tests are built `#[ignore]`d (`cfg(no_test_database)`), so cargo counts
// them as ignored rather than passed; setting or changing the variable rebuilds them.
fn main() {
    println!("cargo::rerun-if-changed=../../migrations/postgres");
    println!("cargo::rerun-if-env-changed=TEST_DATABASE_URL");
    println!("cargo::rustc-check-cfg=cfg(no_test_database)");
    if std::env::var_os("TEST_DATABASE_URL").is_none_or(|url| url.is_empty()) {
        println!("cargo::rustc-cfg=no_test_database");
    }
}
