use crate::lockout::{locked_until, relevant_since, retry_after_secs};
use crate::ports::{Clock, HashError, LoginFailureStore, PasswordHasher, RepositoryError};
use crate::{Password, PasswordHash, UserId};
use std::collections::HashMap;
use std::sync::Arc;

/// What failed logins are counted under: a user's id (so username and email count as one name), or the
/// lower-cased name when no user has it (counted the same way, so a lockout reveals nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginKey(String);

impl LoginKey {
    pub fn user(id: UserId) -> Self {
        Self(format!("user:{id}"))
    }

    pub fn unknown_name(name: &str) -> Self {
        // A NUL cannot be stored as text everywhere; it never names a user anyway.
        Self(format!("name:{}", crate::fold_case(name).replace('\0', "\u{FFFD}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("wrong password")]
    Wrong,
    #[error("locked out")]
    Locked { retry_after_secs: u64 },
    /// The right password for an account that is not admitted (disabled).
    #[error("right password, account refused")]
    Refused,
    #[error("storage unavailable")]
    Unavailable(#[source] anyhow::Error),
    #[error(transparent)]
    Unexpected(anyhow::Error),
}

impl From<RepositoryError> for CheckError {
    fn from(e: RepositoryError) -> Self {
        match e {
            RepositoryError::Unavailable(e) => Self::Unavailable(e),
            RepositoryError::Unexpected(e) => Self::Unexpected(e),
        }
    }
}

impl From<HashError> for CheckError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Unexpected(e) => Self::Unexpected(e),
        }
    }
}

/// Checks a password under the lockout rule, recording each failure. A wrong password, an unknown user and an
/// unusable password all cost one hash, so timing tells nothing.
pub struct PasswordCheck {
    hasher: Arc<dyn PasswordHasher>,
    failures: Arc<dyn LoginFailureStore>,
    clock: Arc<dyn Clock>,
    dummy_password: Password,
    dummy_hash: PasswordHash,
    turns: AttemptTurns,
}

impl PasswordCheck {
    pub async fn new(
        hasher: Arc<dyn PasswordHasher>,
        failures: Arc<dyn LoginFailureStore>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, HashError> {
        let dummy_password =
            Password::parse("dummy password for timing").map_err(|e| HashError::Unexpected(e.into()))?;
        let dummy_hash = hasher.hash(&dummy_password).await?;
        Ok(Self { hasher, failures, clock, dummy_password, dummy_hash, turns: AttemptTurns::default() })
    }

    /// `Locked` with the seconds to wait, if `key` is locked out now.
    pub async fn ensure_not_locked(&self, key: &LoginKey) -> Result<(), CheckError> {
        let now = self.clock.now();
        let failures = self.failures.since(key.as_str(), relevant_since(now)).await?;
        match locked_until(&failures, now) {
            Some(until) => Err(CheckError::Locked { retry_after_secs: retry_after_secs(until, now) }),
            None => Ok(()),
        }
    }

    /// Forgets failures older than `before`.
    pub async fn purge(&self, before: crate::Timestamp) -> Result<u64, RepositoryError> {
        self.failures.purge_login_failures(before).await
    }

    /// Forgets every failure of `keys` (an admin's unlock).
    pub async fn clear(&self, keys: &[LoginKey]) -> Result<(), RepositoryError> {
        for key in keys {
            self.failures.clear(key.as_str()).await?;
        }
        Ok(())
    }

    /// Checks `password` against `hash` (`None`: no such user) for `key`: refused while locked; a success clears
    /// the failures, a failure is recorded.
    pub async fn check(&self, key: &LoginKey, hash: Option<&PasswordHash>, password: &str) -> Result<(), CheckError> {
        self.check_admitting(key, hash, password, true).await
    }

    /// `check` for an account that the right password may not open (`admitted` false: disabled): then `Refused`,
    /// checked after the lock and the password, and the attempt neither counts as a failure nor clears the
    /// earlier ones.
    pub async fn check_admitting(
        &self,
        key: &LoginKey,
        hash: Option<&PasswordHash>,
        password: &str,
        admitted: bool,
    ) -> Result<(), CheckError> {
        // Attempts for one key take turns in this process, so each is judged on the outcomes of those before it:
        // concurrent right passwords all succeed, and of concurrent wrong ones at most the 5 that the rule allows
        // are checked.
        let _turn = self.turns.take(key).await;
        // Across instances, the attempt is recorded as a failure before the (slow) check and cleared if it
        // succeeds, and the lock is judged on the attempts recorded before this one: the same bound holds there.
        let now = self.clock.now();
        self.failures.record(key.as_str(), now).await?;
        let earlier: Vec<_> =
            self.failures.since(key.as_str(), relevant_since(now)).await?.into_iter().filter(|f| *f < now).collect();
        if let Some(until) = locked_until(&earlier, now) {
            return Err(CheckError::Locked { retry_after_secs: retry_after_secs(until, now) });
        }
        let verified = match (Password::parse(password), hash) {
            (Ok(password), Some(hash)) => self.hasher.verify(&password, hash).await?,
            (Ok(password), None) => {
                self.hasher.verify(&password, &self.dummy_hash).await?;
                false
            }
            // Too short or too long (never truncated): cannot match; spend the same time anyway.
            (Err(_), _) => {
                self.hasher.verify(&self.dummy_password, &self.dummy_hash).await?;
                false
            }
        };
        if !verified {
            return Err(CheckError::Wrong);
        }
        if !admitted {
            self.failures.forget(key.as_str(), now).await?;
            return Err(CheckError::Refused);
        }
        self.failures.clear(key.as_str()).await?;
        Ok(())
    }
}

/// One turn at a time per login key, in this process. A key's entry lives while someone holds or awaits its turn.
#[derive(Default)]
struct AttemptTurns {
    keys: std::sync::Mutex<TurnKeys>,
}

/// A key's turn (or the wait for it); the next attempt for the key starts when it is dropped. Dropped while
/// still waiting (a client that went away), it gives up its place all the same.
struct Turn<'a> {
    turns: &'a AttemptTurns,
    key: String,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

/// Per key: its lock, and how many attempts hold or await it.
type TurnKeys = HashMap<String, (Arc<tokio::sync::Mutex<()>>, usize)>;

impl AttemptTurns {
    fn keys(&self) -> std::sync::MutexGuard<'_, TurnKeys> {
        // No code that can panic runs under this lock.
        self.keys.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn take(&self, key: &LoginKey) -> Turn<'_> {
        let lock = {
            let mut keys = self.keys();
            let (lock, holders) = keys.entry(key.as_str().to_owned()).or_default();
            *holders += 1;
            lock.clone()
        };
        // Counted before the wait, so the count comes down however the wait ends.
        let mut turn = Turn { turns: self, key: key.as_str().to_owned(), guard: None };
        turn.guard = Some(lock.lock_owned().await);
        turn
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut keys = self.turns.keys();
        if let Some((_, holders)) = keys.get_mut(&self.key) {
            *holders -= 1;
            if *holders == 0 {
                keys.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod turn_tests {
    use super::*;

    #[tokio::test]
    async fn a_key_is_forgotten_once_nobody_holds_or_awaits_it_even_after_a_cancelled_wait() {
        let turns = AttemptTurns::default();
        let key = LoginKey::user(crate::UserId::new(1).expect("id"));
        let first = turns.take(&key).await;
        // A second attempt starts waiting, then its client goes away.
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(20), turns.take(&key)).await;
        assert!(waiting.is_err(), "the key is taken");
        assert_eq!(turns.keys().get(key.as_str()).map(|(_, holders)| *holders), Some(1));
        drop(first);
        assert!(turns.keys().is_empty(), "no entry left behind");
        let again = turns.take(&key).await;
        drop(again);
        assert!(turns.keys().is_empty());
    }
}
