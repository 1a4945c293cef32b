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

/// Reads that arrive together share statements (`read_batches`): each must still get exactly its own users, and
/// reads whose requests are cancelled halfway must not leave the others without an answer.
mod shared_reads {
    use super::*;
    use tokio::task::JoinSet;
    use users_domain::testing::new_user;
    use users_domain::UserId;

    async fn seeded(count: usize) -> (Arc<PostgresStore>, TestSchema, Vec<UserId>) {
        let (storage, schema) = fresh_storage().await.expect("PostgreSQL storage");
        let mut ids = Vec::new();
        for i in 0..count {
            ids.push(storage.create(new_user(&format!("reader{i:03}"))).await.expect("created").id);
        }
        (storage, schema, ids)
    }

    #[cfg_attr(no_test_database, ignore = "needs TEST_DATABASE_URL")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_reads_each_get_the_users_they_asked_for() {
        let (storage, _schema, ids) = seeded(30).await;
        let missing = UserId::new(1_000_000).expect("id");
        let mut reads = JoinSet::new();
        for round in 0..300 {
            let storage = storage.clone();
            let (a, b) = (ids[round % ids.len()], ids[(round * 7 + 3) % ids.len()]);
            reads.spawn(async move {
                match round % 3 {
                    0 => {
                        let user = storage.find_by_id(a).await.expect("read").expect("found");
                        assert_eq!(user.id, a);
                        assert_eq!(user.username.as_str(), format!("reader{:03}", round % 30));
                    }
                    1 => {
                        let mut found: Vec<UserId> =
                            storage.find_by_ids(&[a, b]).await.expect("read").iter().map(|u| u.id).collect();
                        found.sort();
                        let mut expected = vec![a, b];
                        expected.sort();
                        expected.dedup();
                        assert_eq!(found, expected);
                    }
                    _ => assert!(storage.find_by_id(missing).await.expect("read").is_none(), "no such user"),
                }
            });
        }
        while let Some(read) = reads.join_next().await {
            read.expect("every read got its own users");
        }
    }

    #[cfg_attr(no_test_database, ignore = "needs TEST_DATABASE_URL")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_cancelled_halfway_leave_the_others_answered() {
        let (storage, _schema, ids) = seeded(10).await;
        let mut reads = JoinSet::new();
        for round in 0..400u64 {
            let storage = storage.clone();
            let id = ids[usize::try_from(round).expect("small") % ids.len()];
            reads.spawn(async move {
                let read = storage.find_by_id(id);
                if round % 4 == 0 {
                    // Cancelled at some point of its life: queued, waiting for a connection or serving others.
                    let _ = tokio::time::timeout(Duration::from_micros(round * 10), read).await;
                    return;
                }
                let user = tokio::time::timeout(Duration::from_secs(20), read).await;
                assert_eq!(user.expect("answered, not left waiting").expect("read").expect("found").id, id);
            });
        }
        while let Some(read) = reads.join_next().await {
            read.expect("every read that was not cancelled got its user");
        }
        assert_eq!(storage.find_by_id(ids[0]).await.expect("read afterwards").expect("found").id, ids[0]);
    }
}
