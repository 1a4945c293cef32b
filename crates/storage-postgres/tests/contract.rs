//! The storage contracts (users, refresh tokens, login failures), run against PostgreSQL (`TEST_DATABASE_URL`): a
//! fresh schema per test. Ignored when the variable is not set (see build.rs).

use std::sync::Arc;
use std::time::Duration;
use users_domain::ports::UserRepository;
use users_domain::testing::Storage;
use users_storage_postgres::test_support::TestSchema;
use users_storage_postgres::{connect, PostgresConfig, PostgresStore};

async fn fresh_storage() -> Option<(Arc<PostgresStore>, TestSchema)> {
    let schema = TestSchema::create().await;
    let config = PostgresConfig {
        url: schema.url.clone(),
        pool_size: 5,
        acquire_timeout: Duration::from_secs(5),
        statement_timeout: Duration::from_secs(10),
    };
    let repository = connect(&config, true).await.expect("PostgreSQL answers");
    Some((Arc::new(repository), schema))
}

async fn fresh_repository() -> Option<(Arc<dyn UserRepository>, TestSchema)> {
    fresh_storage().await.map(|(storage, guard)| (storage as Arc<dyn UserRepository>, guard))
}

async fn fresh_auth_storage() -> Option<(Arc<dyn Storage>, TestSchema)> {
    fresh_storage().await.map(|(storage, guard)| (storage as Arc<dyn Storage>, guard))
}

users_domain::repository_contract_tests!(
    fresh_repository(),
    #[cfg_attr(no_test_database, ignore = "needs TEST_DATABASE_URL")]
);

mod auth_stores {
    use super::*;
    users_domain::auth_store_contract_tests!(
        fresh_auth_storage(),
        #[cfg_attr(no_test_database, ignore = "needs TEST_DATABASE_URL")]
    );
}

users_domain::concurrent_read_contract_tests!(
    fresh_repository(),
    #[cfg_attr(no_test_database, ignore = "needs TEST_DATABASE_URL")]
);
