//! The repository contract, run against PostgreSQL (`TEST_DATABASE_URL`): a fresh schema per test. Skipped when
//! the variable is not set.

use std::sync::Arc;
use std::time::Duration;
use users_domain::ports::UserRepository;
use users_storage_postgres::test_support::TestSchema;
use users_storage_postgres::{connect, PostgresConfig};

async fn fresh_repository() -> Option<(Arc<dyn UserRepository>, TestSchema)> {
    let schema = TestSchema::create().await?;
    let config = PostgresConfig {
        url: schema.url.clone(),
        pool_size: 5,
        acquire_timeout: Duration::from_secs(5),
        statement_timeout: Duration::from_secs(10),
    };
    let repository = connect(&config, true).await.expect("PostgreSQL answers");
    Some((Arc::new(repository), schema))
}

users_domain::repository_contract_tests!(fresh_repository());
