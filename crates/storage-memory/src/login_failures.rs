//! Failed logins in memory.

use crate::InMemoryStore;
use async_trait::async_trait;
use users_domain::ports::{LoginFailureStore, RepositoryError};
use users_domain::Timestamp;

pub(crate) type LoginFailures = std::collections::HashMap<String, Vec<Timestamp>>;

#[async_trait]
impl LoginFailureStore for InMemoryStore {
    async fn record(&self, key: &str, at: Timestamp) -> Result<(), RepositoryError> {
        let mut failures = self.login_failures();
        let times = failures.entry(key.to_owned()).or_default();
        times.push(at);
        times.sort_unstable();
        Ok(())
    }

    async fn since(&self, key: &str, since: Timestamp) -> Result<Vec<Timestamp>, RepositoryError> {
        let failures = self.login_failures();
        Ok(failures.get(key).map(|t| t.iter().copied().filter(|t| *t >= since).collect()).unwrap_or_default())
    }

    async fn clear(&self, key: &str) -> Result<(), RepositoryError> {
        self.login_failures().remove(key);
        Ok(())
    }

    async fn forget(&self, key: &str, at: Timestamp) -> Result<(), RepositoryError> {
        if let Some(times) = self.login_failures().get_mut(key) {
            times.retain(|t| *t != at);
        }
        Ok(())
    }

    async fn purge_login_failures(&self, before: Timestamp) -> Result<u64, RepositoryError> {
        let mut failures = self.login_failures();
        let mut purged = 0;
        for times in failures.values_mut() {
            let kept = times.len();
            times.retain(|t| *t >= before);
            purged += (kept - times.len()) as u64;
        }
        failures.retain(|_, times| !times.is_empty());
        Ok(purged)
    }
}
