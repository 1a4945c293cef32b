//! The storage contracts (users, refresh tokens, login failures), run against SQLite: a fresh database file per
//! test, removed after it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use users_domain::ports::UserRepository;
use users_domain::testing::Storage;
use users_storage_sqlite::{connect, SqliteConfig, SqliteStore};

/// Removes the test's database folder when the test ends.
struct TempFolder(PathBuf);

impl Drop for TempFolder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn fresh_storage() -> Option<(Arc<SqliteStore>, TempFolder)> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = format!("users-api-contract-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst));
    let folder = TempFolder(std::env::temp_dir().join(name));
    let url = format!("sqlite://{}", folder.0.join("users.db").display());
    let config = SqliteConfig { url, pool_size: 5, acquire_timeout: Duration::from_secs(5) };
    Some((Arc::new(connect(&config, true).await.expect("SQLite opens")), folder))
}

async fn fresh_repository() -> Option<(Arc<dyn UserRepository>, TempFolder)> {
    fresh_storage().await.map(|(storage, guard)| (storage as Arc<dyn UserRepository>, guard))
}

async fn fresh_auth_storage() -> Option<(Arc<dyn Storage>, TempFolder)> {
    fresh_storage().await.map(|(storage, guard)| (storage as Arc<dyn Storage>, guard))
}

users_domain::repository_contract_tests!(fresh_repository());
users_domain::concurrent_read_contract_tests!(fresh_repository());

mod auth_stores {
    use super::*;
    users_domain::auth_store_contract_tests!(fresh_auth_storage());
}
