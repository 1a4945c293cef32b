//! The password policy of docs/api.md §7, one function for every place a password is set (sign-up, update,
//! create-admin, the bootstrap admin; later reset and invite). It runs before hashing, so no bcrypt is spent on a
//! refused password.

use crate::limits::PASSWORD_MAX_BYTES;
use crate::ports::{BreachCheckError, BreachedPasswords};
use crate::{Email, Password, Username};
use std::collections::HashSet;
use std::sync::{Arc, LazyLock};

/// The 10,000 most common passwords, lower case, one a line (source and licence: NOTICE beside the file).
const COMMON_PASSWORDS: &str = include_str!("common-passwords.txt");

/// The list as a set, built at its first use.
static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| COMMON_PASSWORDS.lines().collect());

/// The shortest password the policy accepts, in characters: `APP__AUTH__PASSWORD_MIN_LENGTH`, 8–72.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordMinLength(usize);

pub const PASSWORD_MIN_LENGTH_DEFAULT: usize = 8;
pub const PASSWORD_MIN_LENGTH_LOWEST: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be between {PASSWORD_MIN_LENGTH_LOWEST} and {PASSWORD_MAX_BYTES}")]
pub struct PasswordMinLengthError;

impl PasswordMinLength {
    pub fn new(chars: usize) -> Result<Self, PasswordMinLengthError> {
        if (PASSWORD_MIN_LENGTH_LOWEST..=PASSWORD_MAX_BYTES).contains(&chars) {
            Ok(Self(chars))
        } else {
            Err(PasswordMinLengthError)
        }
    }

    pub fn get(self) -> usize {
        self.0
    }
}

impl Default for PasswordMinLength {
    fn default() -> Self {
        Self(PASSWORD_MIN_LENGTH_DEFAULT)
    }
}

/// Why the policy refuses a password; the message follows the word "password" (a 400 names the field).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyViolation {
    #[error("must be at least {0} characters long")]
    TooShort(usize),
    #[error("must not be the username")]
    SameAsUsername,
    #[error("must not be the email address or its part before the @")]
    SameAsEmail,
    #[error("is one of the 10,000 most common passwords")]
    Common,
    #[error("has appeared in a data breach; choose another")]
    Breached,
}

/// The policy, as configured: the minimum length and the optional breached-password check.
pub struct PasswordPolicy {
    min_length: PasswordMinLength,
    breached: Option<Arc<dyn BreachedPasswords>>,
}

impl PasswordPolicy {
    pub fn new(min_length: PasswordMinLength, breached: Option<Arc<dyn BreachedPasswords>>) -> Self {
        Self { min_length, breached }
    }

    /// Checks a password that `username` / `email` (the owner's, as they are after the change) is about to get.
    /// The local rules first; then, if configured, the breach check, which lets the password through when it gets
    /// no answer (logged as a warning: never the password or its hash).
    pub async fn check(&self, password: &Password, username: &Username, email: &Email) -> Result<(), PolicyViolation> {
        self.check_locally(password, username, email)?;
        let Some(breached) = &self.breached else { return Ok(()) };
        match breached.is_breached(password).await {
            Ok(true) => Err(PolicyViolation::Breached),
            Ok(false) => Ok(()),
            Err(BreachCheckError::Unavailable(e)) => {
                tracing::warn!(error = format!("{e:#}"), "breached-password check unavailable: password allowed");
                Ok(())
            }
            Err(BreachCheckError::Unexpected(e)) => {
                tracing::warn!(error = format!("{e:#}"), "breached-password check failed: password allowed");
                Ok(())
            }
        }
    }

    /// The rules that need nothing outside the process: length, the owner's names, the common list. Every
    /// comparison ignores case.
    pub fn check_locally(
        &self,
        password: &Password,
        username: &Username,
        email: &Email,
    ) -> Result<(), PolicyViolation> {
        let secret = password.expose();
        // The upper bound (72 bytes) holds for every `Password`.
        if secret.chars().count() < self.min_length.get() {
            return Err(PolicyViolation::TooShort(self.min_length.get()));
        }
        let folded = secret.to_lowercase();
        if folded == username.folded() {
            return Err(PolicyViolation::SameAsUsername);
        }
        // `Email` is stored lower-cased.
        let address = email.as_str();
        let local_part = address.rsplit_once('@').map_or(address, |(local, _)| local);
        if folded == address || folded == local_part {
            return Err(PolicyViolation::SameAsEmail);
        }
        if COMMON.contains(folded.as_str()) {
            return Err(PolicyViolation::Common);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::MockBreachedPasswords;

    fn password(s: &str) -> Password {
        Password::parse(s).expect("a valid password")
    }

    fn alice() -> (Username, Email) {
        (Username::parse("Alice_W").expect("username"), Email::parse("Alice.W@Example.com").expect("email"))
    }

    fn local_policy(min: usize) -> PasswordPolicy {
        PasswordPolicy::new(PasswordMinLength::new(min).expect("in range"), None)
    }

    fn check_locally(policy: &PasswordPolicy, candidate: &str) -> Result<(), PolicyViolation> {
        let (username, email) = alice();
        policy.check_locally(&password(candidate), &username, &email)
    }

    #[test]
    fn the_minimum_length_is_8_to_72_characters() {
        assert_eq!(PasswordMinLength::default().get(), 8);
        assert_eq!(PasswordMinLength::new(7), Err(PasswordMinLengthError));
        assert_eq!(PasswordMinLength::new(73), Err(PasswordMinLengthError));
        assert_eq!(PasswordMinLength::new(72).map(PasswordMinLength::get), Ok(72));
    }

    #[test]
    fn counts_characters_not_bytes() {
        let policy = local_policy(8);
        // 4 characters in 8 bytes: a valid `Password`, too short for the policy.
        assert_eq!(check_locally(&policy, "ééçç"), Err(PolicyViolation::TooShort(8)));
        assert_eq!(check_locally(&policy, "éé-çç-üü"), Ok(()));
        let strict = local_policy(12);
        assert_eq!(check_locally(&strict, "tulip-orbit"), Err(PolicyViolation::TooShort(12)));
        assert_eq!(check_locally(&strict, "tulip-orbit7"), Ok(()));
    }

    #[test]
    fn refuses_the_owners_username_email_and_local_part_in_any_case() {
        let policy = local_policy(8);
        let (_, email) = alice();
        let long_name = Username::parse("Margaret-Hamilton").expect("username");
        let owner = |p: &str| policy.check_locally(&password(p), &long_name, &email);
        assert_eq!(owner("margaret-HAMILTON"), Err(PolicyViolation::SameAsUsername));
        assert_eq!(owner("ALICE.W@example.COM"), Err(PolicyViolation::SameAsEmail));
        let long_local = Email::parse("grace.hopper@navy.mil").expect("email");
        assert_eq!(
            policy.check_locally(&password("Grace.Hopper"), &long_name, &long_local),
            Err(PolicyViolation::SameAsEmail)
        );
        // Containing a name is fine: only equality is refused.
        assert_eq!(owner("margaret-hamilton-1969"), Ok(()));
    }

    #[test]
    fn refuses_the_common_passwords_in_any_case_and_only_those() {
        let policy = local_policy(8);
        for common in ["password", "12345678", "Password123", "IloveYOU1", "baseball"] {
            assert_eq!(check_locally(&policy, common), Err(PolicyViolation::Common), "{common}");
        }
        // The 10,000th entry is in, the rest of the source list is not.
        assert_eq!(COMMON_PASSWORDS.lines().count(), 10_000);
        assert_eq!(COMMON.len(), 10_000, "no duplicates");
        for fine in ["correct horse battery", "tulip-orbit-42", "Zq8#vL2!pW"] {
            assert_eq!(check_locally(&policy, fine), Ok(()), "{fine}");
        }
    }

    #[test]
    fn the_messages_say_what_to_change() {
        assert_eq!(PolicyViolation::TooShort(12).to_string(), "must be at least 12 characters long");
        assert_eq!(PolicyViolation::Common.to_string(), "is one of the 10,000 most common passwords");
    }

    fn breach_policy(breached: MockBreachedPasswords) -> PasswordPolicy {
        PasswordPolicy::new(PasswordMinLength::default(), Some(Arc::new(breached)))
    }

    async fn check(policy: &PasswordPolicy, candidate: &str) -> Result<(), PolicyViolation> {
        let (username, email) = alice();
        policy.check(&password(candidate), &username, &email).await
    }

    #[tokio::test]
    async fn a_breached_password_is_refused_and_a_clean_one_allowed() {
        let mut breached = MockBreachedPasswords::new();
        breached.expect_is_breached().returning(|p| Ok(p.expose() == "tulip-orbit-42"));
        let policy = breach_policy(breached);
        assert_eq!(check(&policy, "tulip-orbit-42").await, Err(PolicyViolation::Breached));
        assert_eq!(check(&policy, "tulip-orbit-43").await, Ok(()));
    }

    #[tokio::test]
    async fn no_answer_from_the_breach_check_lets_the_password_through() {
        let mut breached = MockBreachedPasswords::new();
        breached
            .expect_is_breached()
            .times(1)
            .returning(|_| Err(BreachCheckError::Unavailable(anyhow::anyhow!("timed out"))));
        breached
            .expect_is_breached()
            .times(1)
            .returning(|_| Err(BreachCheckError::Unexpected(anyhow::anyhow!("bad body"))));
        let policy = breach_policy(breached);
        assert_eq!(check(&policy, "tulip-orbit-42").await, Ok(()));
        assert_eq!(check(&policy, "tulip-orbit-42").await, Ok(()));
    }

    #[tokio::test]
    async fn the_local_rules_run_first_so_a_refused_password_is_never_sent_out() {
        let mut breached = MockBreachedPasswords::new();
        breached.expect_is_breached().never();
        let policy = breach_policy(breached);
        assert_eq!(check(&policy, "password1").await, Err(PolicyViolation::Common));
        assert_eq!(check(&policy, "ééçç").await, Err(PolicyViolation::TooShort(8)));
    }
}
