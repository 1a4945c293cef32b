//! The repository contract, run against the in-memory adapter.

use std::sync::Arc;
use users_domain::ports::UserRepository;
use users_storage_memory::InMemoryStore;

async fn fresh_repository() -> Option<(Arc<dyn UserRepository>, ())> {
    Some((Arc::new(InMemoryStore::new()), ()))
}

users_domain::repository_contract_tests!(fresh_repository());
users_domain::concurrent_read_contract_tests!(fresh_repository());
