//! The refresh-token and login-failure store contract, run against the in-memory adapter.

use std::sync::Arc;
use users_domain::testing::Storage;
use users_storage_memory::InMemoryStore;

async fn fresh_storage() -> Option<(Arc<dyn Storage>, ())> {
    Some((Arc::new(InMemoryStore::new()), ()))
}

users_domain::auth_store_contract_tests!(fresh_storage());
