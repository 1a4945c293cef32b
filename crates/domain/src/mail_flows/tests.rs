use super::*;
use crate::password_policy::PasswordMinLength;
use crate::ports::{
    MockClock, MockLoginFailureStore, MockMailStore, MockMailer, MockPasswordHasher, MockRefreshTokenCodec,
    MockRefreshTokenStore, MockUserRepository,
};
use crate::{AccountStatus, Email, PasswordHash, Role, UserId, Username};

fn at(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).expect("valid timestamp")
}

const NOW: &str = "2026-01-01T12:00:00Z";

fn alice() -> User {
    User {
        id: UserId::new(7).expect("id"),
        username: Username::parse("alice").expect("valid"),
        email: Email::parse("alice@example.com").expect("valid"),
        name: None,
        age: None,
        role: Role::User,
        password_hash: PasswordHash::new("hashed:old password"),
        created_at: at("2026-01-01T00:00:00Z"),
        updated_at: at("2026-01-01T00:00:00Z"),
        token_version: 3,
        status: AccountStatus::Active,
        email_verified: false,
        last_login_at: None,
    }
}

fn users_with_alice() -> MockUserRepository {
    let mut users = MockUserRepository::new();
    users.expect_find_by_id().returning(|id| Ok((id == alice().id).then(alice)));
    users.expect_find_by_login_name().returning(|name| {
        Ok(matches!(name, LoginName::Email(e) if e.eq_ignore_ascii_case("alice@example.com")).then(alice))
    });
    users
}

/// Tokens are `token-N`, hashed as `hash(token-N)`.
fn codec() -> MockRefreshTokenCodec {
    let mut codec = MockRefreshTokenCodec::new();
    codec.expect_generate().returning(|| Ok(("token-1".to_owned(), "hash(token-1)".to_owned())));
    codec.expect_hash().returning(|t| format!("hash({t})"));
    codec
}

struct Ports {
    users: MockUserRepository,
    mail: MockMailStore,
    refresh_tokens: MockRefreshTokenStore,
    failures: MockLoginFailureStore,
    mailer: MockMailer,
}

impl Ports {
    fn new(users: MockUserRepository, mail: MockMailStore) -> Self {
        Self {
            users,
            mail,
            refresh_tokens: MockRefreshTokenStore::new(),
            failures: MockLoginFailureStore::new(),
            mailer: MockMailer::new(),
        }
    }

    async fn flows(self) -> MailFlows {
        let mut clock = MockClock::new();
        clock.expect_now().returning(|| at(NOW));
        let clock: Arc<dyn Clock> = Arc::new(clock);
        let mut hasher = MockPasswordHasher::new();
        hasher.expect_hash().returning(|p| Ok(PasswordHash::new(format!("hashed:{}", p.expose()))));
        let hasher: Arc<dyn PasswordHasher> = Arc::new(hasher);
        let passwords =
            PasswordCheck::new(hasher.clone(), Arc::new(self.failures), clock.clone()).await.expect("dummy");
        let ports = MailFlowPorts {
            users: Arc::new(self.users),
            mail: Arc::new(self.mail),
            refresh_tokens: Arc::new(self.refresh_tokens),
            codec: Arc::new(codec()),
            hasher,
            passwords: Arc::new(passwords),
            policy: Arc::new(PasswordPolicy::new(PasswordMinLength::default(), None)),
            clock,
            mailer: Arc::new(self.mailer),
            link: Arc::new(|token| format!("https://app.example.com/account?token={token}")),
        };
        let settings = MailFlowSettings {
            reset_ttl: Duration::from_secs(3600),
            verification_ttl: Duration::from_secs(86_400),
            invite_ttl: Duration::from_secs(604_800),
            max_attempts: 3,
            lease: Duration::from_secs(60),
        };
        MailFlows::new(ports, settings)
    }
}

#[tokio::test]
async fn a_reset_request_queues_only_the_intent_for_a_known_address_within_its_limit() {
    let mut mail = MockMailStore::new();
    mail.expect_enqueue_mail()
        .withf(|intent, now, since, limit| {
            *intent == MailIntent { user_id: alice().id, kind: MailKind::PasswordReset, address: alice().email }
                && *now == at(NOW)
                && *since == at("2026-01-01T11:00:00Z")
                && *limit == 3
        })
        .times(1)
        .returning(|_, _, _, _| Ok(true));
    let flows = Ports::new(users_with_alice(), mail).flows().await;
    assert!(flows.request_password_reset("ALICE@example.com").await.expect("queued"));
    assert!(!flows.request_password_reset("nobody@example.com").await.expect("nothing to queue, no error"));
}

#[tokio::test]
async fn a_resend_queues_nothing_for_a_verified_address() {
    let mut users = MockUserRepository::new();
    users.expect_find_by_login_name().returning(|_| Ok(Some(User { email_verified: true, ..alice() })));
    let mut mail = MockMailStore::new();
    mail.expect_enqueue_mail().never();
    let flows = Ports::new(users, mail).flows().await;
    assert!(!flows.resend_verification("alice@example.com").await.expect("nothing to do"));
}

fn stored(kind: MailKind, address: &str) -> StoredMailToken {
    StoredMailToken {
        token_hash: "hash(token-1)".to_owned(),
        user_id: alice().id,
        kind,
        address: Email::parse(address).expect("valid"),
        expires_at: at("2026-01-01T13:00:00Z"),
    }
}

fn finds(token: Option<StoredMailToken>) -> MockMailStore {
    let mut mail = MockMailStore::new();
    mail.expect_find_mail_token()
        .withf(|hash, now| hash == "hash(token-1)" && *now == at(NOW))
        .returning(move |_, _| Ok(token.clone()));
    mail.expect_take_mail_token().never();
    mail
}

fn strong() -> Password {
    Password::parse("correct horse battery").expect("valid")
}

#[tokio::test]
async fn an_unknown_a_foreign_kind_or_a_stale_address_token_is_invalid_and_changes_nothing() {
    let cases = [
        None,
        Some(stored(MailKind::EmailVerification, "alice@example.com")),
        Some(stored(MailKind::PasswordReset, "old-alice@example.com")),
    ];
    for token in cases {
        let mut users = users_with_alice();
        users.expect_update().never();
        let flows = Ports::new(users, finds(token.clone())).flows().await;
        let error = flows.confirm_password_reset("token-1", &strong()).await.expect_err("invalid");
        assert!(matches!(error, MailFlowError::InvalidToken), "{token:?}: {error:?}");
    }
    let flows = Ports::new(users_with_alice(), finds(Some(stored(MailKind::PasswordReset, "alice@example.com"))));
    let error = flows.flows().await.verify_email("token-1").await.expect_err("a reset token verifies nothing");
    assert!(matches!(error, MailFlowError::InvalidToken));
}

#[tokio::test]
async fn a_weak_password_is_refused_and_keeps_the_token() {
    let flows = Ports::new(users_with_alice(), finds(Some(stored(MailKind::PasswordReset, "alice@example.com"))));
    let weak = Password::parse("ALICE@example.com").expect("valid shape");
    let error = flows.flows().await.confirm_password_reset("token-1", &weak).await.expect_err("weak");
    assert!(matches!(error, MailFlowError::WeakPassword(PolicyViolation::SameAsEmail)), "{error:?}");
}

#[tokio::test]
async fn a_reset_sets_the_password_ends_every_session_clears_the_lockout_and_verifies_the_email() {
    for kind in [MailKind::PasswordReset, MailKind::Invite] {
        let mut mail = MockMailStore::new();
        mail.expect_find_mail_token().returning(move |_, _| Ok(Some(stored(kind, "alice@example.com"))));
        mail.expect_take_mail_token().withf(|hash, _| hash == "hash(token-1)").times(1).returning(|_, _| Ok(true));
        let mut users = users_with_alice();
        users
            .expect_update()
            .withf(|id, patch| {
                *id == alice().id
                    && patch.password_hash == Some(PasswordHash::new("hashed:correct horse battery"))
                    && patch.email_verified == Some(true)
                    && patch.expected_email == Some(alice().email)
                    && patch.ends_sessions()
            })
            .times(1)
            .returning(|_, _| Ok(alice()));
        let mut ports = Ports::new(users, mail);
        ports.refresh_tokens.expect_revoke_user().withf(|id, _| *id == alice().id).times(1).returning(|_, _| Ok(()));
        let cleared = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = cleared.clone();
        ports.failures.expect_clear().returning(move |key| {
            seen.lock().expect("lock").push(key.to_owned());
            Ok(())
        });
        ports.flows().await.confirm_password_reset("token-1", &strong()).await.expect("reset");
        assert_eq!(*cleared.lock().expect("lock"), ["user:7", "name:alice", "name:alice@example.com"]);
    }
}

#[tokio::test]
async fn a_reset_writes_the_email_verified_even_when_it_read_it_so() {
    // An admin's `email_verified: false` may commit between the reset's read and its write.
    let mut mail = MockMailStore::new();
    mail.expect_find_mail_token().returning(|_, _| Ok(Some(stored(MailKind::PasswordReset, "alice@example.com"))));
    mail.expect_take_mail_token().returning(|_, _| Ok(true));
    let mut users = MockUserRepository::new();
    users.expect_find_by_id().returning(|_| Ok(Some(User { email_verified: true, ..alice() })));
    users
        .expect_update()
        .withf(|_, patch| patch.email_verified == Some(true) && patch.expected_email == Some(alice().email))
        .times(1)
        .returning(|_, patch| Ok(patch.apply_to(&alice())));
    let mut ports = Ports::new(users, mail);
    ports.refresh_tokens.expect_revoke_user().returning(|_, _| Ok(()));
    ports.failures.expect_clear().returning(|_| Ok(()));
    ports.flows().await.confirm_password_reset("token-1", &strong()).await.expect("reset");
}

#[tokio::test]
async fn a_token_used_by_a_concurrent_request_is_invalid() {
    let mut mail = MockMailStore::new();
    mail.expect_find_mail_token().returning(|_, _| Ok(Some(stored(MailKind::EmailVerification, "alice@example.com"))));
    mail.expect_take_mail_token().returning(|_, _| Ok(false));
    let mut users = users_with_alice();
    users.expect_update().never();
    let error = Ports::new(users, mail).flows().await.verify_email("token-1").await.expect_err("used");
    assert!(matches!(error, MailFlowError::InvalidToken));
}

#[tokio::test]
async fn a_token_whose_address_stops_being_the_users_while_in_use_is_invalid() {
    // The email changes between the token's check and the write: the write is conditional on the address, and the
    // repository refuses it, so neither a password nor a verification lands on the new address.
    for kind in [MailKind::PasswordReset, MailKind::EmailVerification] {
        let mut mail = MockMailStore::new();
        mail.expect_find_mail_token().returning(move |_, _| Ok(Some(stored(kind, "alice@example.com"))));
        mail.expect_take_mail_token().returning(|_, _| Ok(true));
        let mut users = users_with_alice();
        users
            .expect_update()
            .withf(|_, patch| patch.expected_email == Some(alice().email))
            .times(1)
            .returning(|_, _| Err(UpdateUserError::EmailChanged));
        let mut ports = Ports::new(users, mail);
        ports.refresh_tokens.expect_revoke_user().never();
        let flows = ports.flows().await;
        let error = match kind {
            MailKind::PasswordReset => flows.confirm_password_reset("token-1", &strong()).await,
            _ => flows.verify_email("token-1").await,
        };
        assert!(matches!(error, Err(MailFlowError::InvalidToken)), "{kind:?}: {error:?}");
    }
}

fn claims(kind: MailKind, address: &str, attempts: u32) -> MockMailStore {
    let mut mail = MockMailStore::new();
    let intent = MailIntent { user_id: alice().id, kind, address: Email::parse(address).expect("valid") };
    mail.expect_claim_mail()
        .withf(|now, lease_until, _| *now == at(NOW) && *lease_until == at("2026-01-01T12:01:00Z"))
        .times(1)
        .returning(move |_, _, _| Ok(vec![QueuedMail { id: 42, intent: intent.clone(), attempts }]));
    mail
}

#[tokio::test]
async fn the_sender_mints_the_token_at_send_time_stores_only_its_hash_and_links_the_token() {
    let mut mail = claims(MailKind::PasswordReset, "alice@example.com", 0);
    mail.expect_insert_mail_token()
        .withf(|t| {
            t.token_hash == "hash(token-1)"
                && t.kind == MailKind::PasswordReset
                && t.address.as_str() == "alice@example.com"
                && t.expires_at == at("2026-01-01T13:00:00Z")
        })
        .times(1)
        .returning(|_| Ok(()));
    mail.expect_finish_mail().with(mockall::predicate::eq(42)).times(1).returning(|_| Ok(()));
    let mut ports = Ports::new(users_with_alice(), mail);
    ports
        .mailer
        .expect_send()
        .withf(|m| {
            m.to.as_str() == "alice@example.com"
                && m.kind == MailKind::PasswordReset
                && m.text_body.contains("https://app.example.com/account?token=token-1")
                && !m.text_body.contains("hash(")
        })
        .times(1)
        .returning(|_| Ok(()));
    assert_eq!(ports.flows().await.send_due().await.expect("sent"), [MailOutcome::Sent]);
}

#[tokio::test]
async fn a_transient_failure_is_retried_with_backoff_until_the_last_attempt() {
    let mut mail = claims(MailKind::EmailVerification, "alice@example.com", 1);
    mail.expect_insert_mail_token().returning(|_| Ok(()));
    mail.expect_retry_mail()
        .withf(|id, attempts, at_time| *id == 42 && *attempts == 2 && *at_time == at("2026-01-01T12:00:10Z"))
        .times(1)
        .returning(|_, _, _| Ok(()));
    let mut ports = Ports::new(users_with_alice(), mail);
    ports.mailer.expect_send().returning(|_| Err(MailError::Transient(anyhow::anyhow!("no answer"))));
    assert_eq!(ports.flows().await.send_due().await.expect("pass"), [MailOutcome::Deferred]);

    // The third attempt of three, and a permanent failure, are given up.
    for (attempts, error) in [(2, true), (0, false)] {
        let mut mail = claims(MailKind::EmailVerification, "alice@example.com", attempts);
        mail.expect_insert_mail_token().returning(|_| Ok(()));
        mail.expect_retry_mail().never();
        mail.expect_finish_mail().times(1).returning(|_| Ok(()));
        let mut ports = Ports::new(users_with_alice(), mail);
        ports.mailer.expect_send().returning(move |_| {
            Err(if error {
                MailError::Transient(anyhow::anyhow!("no answer"))
            } else {
                MailError::Permanent(anyhow::anyhow!("550 no such mailbox"))
            })
        });
        assert_eq!(ports.flows().await.send_due().await.expect("pass"), [MailOutcome::Failed]);
    }
}

#[tokio::test]
async fn a_mail_to_an_address_the_user_no_longer_has_is_dropped_unsent() {
    let mut mail = claims(MailKind::EmailVerification, "old-alice@example.com", 0);
    mail.expect_insert_mail_token().never();
    mail.expect_finish_mail().times(1).returning(|_| Ok(()));
    let mut ports = Ports::new(users_with_alice(), mail);
    ports.mailer.expect_send().never();
    assert_eq!(ports.flows().await.send_due().await.expect("pass"), [MailOutcome::Dropped]);
}

#[test]
fn a_mail_says_a_tokens_lifetime_in_the_largest_whole_unit() {
    assert_eq!(lifetime(Duration::from_secs(3600)), "60 minutes");
    assert_eq!(lifetime(Duration::from_secs(86_400)), "24 hours");
    assert_eq!(lifetime(Duration::from_secs(604_800)), "7 days");
    assert_eq!(lifetime(Duration::from_secs(5400)), "90 minutes");
}

#[test]
fn retries_back_off_from_5_seconds_doubling_to_at_most_10_minutes() {
    let waits: Vec<u64> = (1..=9).map(|attempts| backoff(attempts).as_secs()).collect();
    assert_eq!(waits, [5, 10, 20, 40, 80, 160, 320, 600, 600]);
}
