//! The repository contract, run against SQLite: a fresh database file per test.

use std::sync::Arc;
use std::time::Duration;
use users_domain::ports::UserRepository;
use users_storage_sqlite::{connect, SqliteConfig};

async fn fresh_repository() -> Option<Arc<dyn UserRepository>> {
    let folder = std::env::temp_dir().join(format!("users-api-sqlite-{}", uuid_like()));
    let url = format!("sqlite://{}", folder.join("users.db").display());
    let config = SqliteConfig {
        url,
        pool_size: 5,
        acquire_timeout: Duration::from_secs(5),
    };
    Some(Arc::new(
        connect(&config, true).await.expect("SQLite opens"),
    ))
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

users_domain::repository_contract_tests!(fresh_repository());
