use super::*;
use crate::ports::{
    AccessClaims, AccessToken, MockAccessTokens, MockClock, MockLoginFailureStore, MockPasswordHasher,
    MockRefreshTokenCodec, MockRefreshTokenStore, MockUserRepository, SpendOutcome, TokenError,
};
use crate::{
    AccountStatus, ClientInfo, Email, PasswordAttempt, PasswordHash, Role, SessionId, Timestamp, User, UserId, Username,
};
use std::sync::Arc;

fn now() -> Timestamp {
    Timestamp::parse_rfc3339("2026-01-01T12:00:00Z").expect("valid")
}

fn alice() -> User {
    User {
        id: UserId::new(7).expect("id"),
        username: Username::parse("alice").expect("valid"),
        email: Email::parse("alice@example.com").expect("valid"),
        name: None,
        age: None,
        role: Role::User,
        password_hash: PasswordHash::new("hashed:right password"),
        created_at: now(),
        updated_at: now(),
        token_version: 2,
        status: AccountStatus::Active,
        email_verified: false,
        last_login_at: None,
    }
}

fn hasher() -> MockPasswordHasher {
    let mut hasher = MockPasswordHasher::new();
    hasher.expect_hash().returning(|p| Ok(PasswordHash::new(format!("hashed:{}", p.expose()))));
    // `old:` stands for an imported hash (another algorithm or cost): it verifies, and asks for a rehash.
    hasher.expect_verify().returning(|p, h| {
        // Like bcrypt, the mock cannot read a hash it did not make.
        if !h.as_str().contains(':') {
            return Err(crate::ports::HashError::Unexpected(anyhow::anyhow!("not a hash")));
        }
        Ok(h.as_str() == format!("hashed:{}", p.expose()) || h.as_str() == format!("old:{}", p.expose()))
    });
    hasher.expect_needs_rehash().returning(|h| h.as_str().starts_with("old:"));
    hasher
}

fn finding(user: Option<User>) -> MockUserRepository {
    let mut users = MockUserRepository::new();
    let found = user.clone();
    users.expect_find_by_login_name().returning(move |_| Ok(found.clone()));
    let caller = user.clone();
    users.expect_find_caller().returning(move |_, _, _| Ok(caller.clone().into_iter().collect()));
    users.expect_find_by_id().returning(move |_| Ok(user.clone()));
    users.expect_record_login().returning(|_, _, _| Ok(true));
    users
}

fn tokens() -> MockAccessTokens {
    let mut tokens = MockAccessTokens::new();
    tokens.expect_issue().returning(|subject, _| {
        Ok(AccessToken {
            token: format!("access-for-{}-v{}-{}", subject.user_id, subject.token_version, subject.session_id),
            expires_in_secs: 900,
        })
    });
    tokens
}

fn codec() -> MockRefreshTokenCodec {
    let mut codec = MockRefreshTokenCodec::new();
    let next = std::sync::atomic::AtomicU32::new(0);
    codec.expect_generate().returning(move || {
        let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok((format!("refresh-{n}"), format!("hash-of-refresh-{n}")))
    });
    codec.expect_hash().returning(|token| format!("hash-of-{token}"));
    codec.expect_successor().returning(|token| format!("successor-of-{token}"));
    codec
}

struct Ports {
    users: MockUserRepository,
    refresh_tokens: MockRefreshTokenStore,
    failures: MockLoginFailureStore,
    access_tokens: MockAccessTokens,
}

impl Ports {
    async fn service(self) -> AuthService {
        let mut clock = MockClock::new();
        clock.expect_now().returning(now);
        let clock: Arc<dyn crate::ports::Clock> = Arc::new(clock);
        let passwords =
            PasswordCheck::new(Arc::new(hasher()), Arc::new(self.failures), clock.clone()).await.expect("dummy");
        let ports = AuthPorts {
            users: Arc::new(self.users),
            refresh_tokens: Arc::new(self.refresh_tokens),
            codec: Arc::new(codec()),
            access_tokens: Arc::new(self.access_tokens),
            passwords: Arc::new(passwords),
            clock,
        };
        AuthService::new(ports, std::time::Duration::from_secs(3600))
    }
}

/// `previous` failures recorded a minute ago; every attempt is recorded (under `key`) before it is checked.
fn failures_with(previous: usize, key: &'static str, expect_clear: Option<&'static str>) -> MockLoginFailureStore {
    let mut failures = MockLoginFailureStore::new();
    let a_minute_ago = Timestamp::from_datetime(now().as_datetime() - time::Duration::minutes(1));
    let mut times: Vec<Timestamp> = (0..previous).map(|_| a_minute_ago).collect();
    times.push(now());
    failures.expect_since().returning(move |_, _| Ok(times.clone()));
    failures.expect_record().withf(move |k, _| k == key).times(1).returning(|_, _| Ok(()));
    match expect_clear {
        Some(key) => failures.expect_clear().withf(move |k| k == key).times(1).returning(|_| Ok(())),
        None => failures.expect_clear().never(),
    };
    failures
}

fn storing_refresh_tokens() -> MockRefreshTokenStore {
    let mut refresh_tokens = MockRefreshTokenStore::new();
    refresh_tokens.expect_insert().returning(|_| Ok(()));
    refresh_tokens
}

#[tokio::test]
async fn a_login_by_username_or_email_issues_a_pair_and_clears_failures() {
    for name in [LoginName::Username("ALICE".into()), LoginName::Email("Alice@Example.com".into())] {
        let mut refresh_tokens = MockRefreshTokenStore::new();
        refresh_tokens
            .expect_insert()
            .withf(|stored| {
                // Bound to the version read with the hash that was checked.
                stored.user_id.get() == 7 && stored.token_hash == "hash-of-refresh-1" && stored.token_version == 2
            })
            .times(1)
            .returning(|_| Ok(()));
        let auth = Ports {
            users: finding(Some(alice())),
            refresh_tokens,
            failures: failures_with(2, "user:7", Some("user:7")),
            access_tokens: tokens(),
        }
        .service()
        .await;
        let pair = auth.login(&name, &attempt("right password"), ClientInfo::default()).await.expect("logged in");
        assert_eq!(pair.access.token, "access-for-7-v2-hash-of-refresh-0", "in the new session");
        assert_eq!(pair.refresh_token.expose(), "refresh-1");
    }
}

#[tokio::test]
async fn an_imported_hash_is_replaced_after_the_first_successful_login_only_while_unchanged() {
    let imported = User { password_hash: PasswordHash::new("old:right password"), ..alice() };
    let mut users = finding(Some(imported));
    users
        .expect_replace_password_hash()
        .withf(|id, current, new| {
            id.get() == 7 && current.as_str() == "old:right password" && new.as_str() == "hashed:right password"
        })
        .times(1)
        .returning(|_, _, _| Ok(true));
    alice_logs_in(users).await;
}

/// Alice logs in with the right password (user 7, no earlier failures) over `users`; the login must succeed.
async fn alice_logs_in(users: MockUserRepository) {
    let auth = Ports {
        users,
        refresh_tokens: storing_refresh_tokens(),
        failures: failures_with(0, "user:7", Some("user:7")),
        access_tokens: tokens(),
    }
    .service()
    .await;
    auth.login(&LoginName::Username("alice".into()), &attempt("right password"), ClientInfo::default())
        .await
        .expect("logged in");
}

#[tokio::test]
async fn a_rehash_that_lost_to_a_password_change_or_failed_still_logs_in() {
    for outcome in [Ok(false), Err(())] {
        let imported = User { password_hash: PasswordHash::new("old:right password"), ..alice() };
        let mut users = finding(Some(imported));
        users.expect_replace_password_hash().times(1).returning(move |_, _, _| {
            outcome.map_err(|()| crate::ports::RepositoryError::Unavailable(anyhow::anyhow!("down")))
        });
        alice_logs_in(users).await;
    }
}

#[tokio::test]
async fn an_account_without_a_usable_password_fails_as_a_wrong_password() {
    let no_password = User { password_hash: PasswordHash::unusable(), ..alice() };
    let auth = Ports {
        users: finding(Some(no_password)),
        refresh_tokens: MockRefreshTokenStore::new(),
        failures: failures_with(0, "user:7", None),
        access_tokens: MockAccessTokens::new(),
    }
    .service()
    .await;
    let refused =
        auth.login(&LoginName::Username("alice".into()), &attempt("right password"), ClientInfo::default()).await;
    assert!(matches!(refused, Err(AuthError::InvalidCredentials)), "{refused:?}");
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_name_fail_alike_and_are_counted() {
    let wrong = Ports {
        users: finding(Some(alice())),
        refresh_tokens: MockRefreshTokenStore::new(),
        failures: failures_with(0, "user:7", None),
        access_tokens: MockAccessTokens::new(),
    }
    .service()
    .await;
    let error = wrong
        .login(&LoginName::Username("alice".into()), &attempt("wrong password"), ClientInfo::default())
        .await
        .expect_err("refused");
    assert!(matches!(error, AuthError::InvalidCredentials));
    let unknown = Ports {
        users: finding(None),
        refresh_tokens: MockRefreshTokenStore::new(),
        failures: failures_with(0, "name:nobody@example.com", None),
        access_tokens: MockAccessTokens::new(),
    }
    .service()
    .await;
    let error = unknown
        .login(&LoginName::Email("Nobody@Example.com".into()), &attempt("right password"), ClientInfo::default())
        .await
        .expect_err("refused");
    assert!(matches!(error, AuthError::InvalidCredentials));
}

#[tokio::test]
async fn a_password_over_72_bytes_never_matches() {
    let mut long = alice();
    long.password_hash = PasswordHash::new(format!("hashed:{}", "x".repeat(72)));
    let auth = Ports {
        users: finding(Some(long)),
        refresh_tokens: MockRefreshTokenStore::new(),
        failures: failures_with(0, "user:7", None),
        access_tokens: MockAccessTokens::new(),
    }
    .service()
    .await;
    let error = auth
        .login(&LoginName::Username("alice".into()), &attempt("x".repeat(73)), ClientInfo::default())
        .await
        .expect_err("refused");
    assert!(matches!(error, AuthError::InvalidCredentials));
}

#[tokio::test]
async fn a_locked_name_is_refused_even_with_the_right_password() {
    let auth = Ports {
        users: finding(Some(alice())),
        refresh_tokens: MockRefreshTokenStore::new(),
        failures: failures_with(5, "user:7", None),
        access_tokens: MockAccessTokens::new(),
    }
    .service()
    .await;
    let error = auth
        .login(&LoginName::Username("alice".into()), &attempt("right password"), ClientInfo::default())
        .await
        .expect_err("locked");
    assert!(matches!(error, AuthError::Locked { retry_after_secs: 840 }), "{error:?}");
}

fn spending(outcome: SpendOutcome) -> MockRefreshTokenStore {
    let mut refresh_tokens = storing_refresh_tokens();
    refresh_tokens
        .expect_spend()
        .withf(|hash, _, _| hash == "hash-of-presented")
        .returning(move |_, _, _| Ok(outcome.clone()));
    refresh_tokens
}

fn spent_at_version(token_version: i64) -> SpendOutcome {
    SpendOutcome::Spent { user_id: UserId::new(7).expect("id"), family_id: "fam".into(), token_version }
}

#[tokio::test]
async fn a_refresh_rotates_within_the_family() {
    let mut refresh_tokens = MockRefreshTokenStore::new();
    refresh_tokens.expect_spend().returning(|_, _, grace| {
        assert!(grace.is_none(), "no grace unless configured");
        Ok(spent_at_version(2))
    });
    refresh_tokens
        .expect_insert()
        .withf(|stored| {
            stored.family_id == "fam"
                && stored.token_version == 2
                && stored.token_hash == "hash-of-successor-of-presented"
        })
        .times(1)
        .returning(|_| Ok(()));
    let auth = Ports {
        users: finding(Some(alice())),
        refresh_tokens,
        failures: MockLoginFailureStore::new(),
        access_tokens: tokens(),
    }
    .service()
    .await;
    let pair = auth.refresh("presented", ClientInfo::default()).await.expect("rotated");
    assert_eq!(pair.access.token, "access-for-7-v2-fam");
    assert_eq!(pair.refresh_token.expose(), "successor-of-presented", "the successor derived from the spent token");
}

#[tokio::test]
async fn reused_unknown_or_orphaned_refresh_tokens_are_refused() {
    let user = UserId::new(7).expect("id");
    for (outcome, found) in [
        (SpendOutcome::Reused { user_id: user, family_id: "fam".into() }, Some(alice())),
        (SpendOutcome::Invalid, Some(alice())),
        (spent_at_version(2), None),
        // alice's version is 2: a token spent at version 1 began before a password change that has committed.
        (spent_at_version(1), Some(alice())),
    ] {
        let auth = Ports {
            users: finding(found),
            refresh_tokens: spending(outcome),
            failures: MockLoginFailureStore::new(),
            access_tokens: tokens(),
        }
        .service()
        .await;
        let refused = auth.refresh("presented", ClientInfo::default()).await;
        assert!(matches!(refused, Err(AuthError::InvalidRefreshToken | AuthError::RefreshTokenReused)), "{refused:?}");
    }
}

#[tokio::test]
async fn authentication_follows_the_stored_user() {
    let verifying = |version: i64| {
        let mut tokens = MockAccessTokens::new();
        tokens.expect_verify().returning(move |token| match token {
            "good" => Ok(AccessClaims {
                user_id: UserId::new(7).expect("id"),
                token_version: version,
                session_id: Some(SessionId::parse("fam").expect("sid")),
            }),
            _ => Err(TokenError::Invalid),
        });
        tokens
    };
    let service = |users, version| async move {
        Ports {
            users,
            refresh_tokens: MockRefreshTokenStore::new(),
            failures: MockLoginFailureStore::new(),
            access_tokens: verifying(version),
        }
        .service()
        .await
    };
    let caller = service(finding(Some(alice())), 2).await.authenticate("good").await.expect("authenticated");
    assert_eq!(caller.user, alice());
    let stale = service(finding(Some(alice())), 1).await.authenticate("good").await;
    assert!(matches!(stale, Err(AuthError::InvalidToken)), "issued before the last password change");
    let deleted = service(finding(None), 2).await.authenticate("good").await;
    assert!(matches!(deleted, Err(AuthError::InvalidToken)), "the user is gone");
    let garbage = service(finding(Some(alice())), 2).await.authenticate("garbage").await;
    assert!(matches!(garbage, Err(AuthError::InvalidToken)));
}

fn attempt(password: impl Into<String>) -> PasswordAttempt {
    PasswordAttempt::new(password)
}

// Account lifecycle (docs/api.md §4 login order, §6).

fn banned(until: Option<Timestamp>) -> User {
    User { status: AccountStatus::Disabled { until }, ..alice() }
}

#[tokio::test]
async fn a_disabled_account_with_the_right_password_is_refused_and_neither_counted_nor_cleared() {
    let mut failures = failures_with(2, "user:7", None);
    failures.expect_forget().withf(|k, at| k == "user:7" && *at == now()).times(1).returning(|_, _| Ok(()));
    let mut users = MockUserRepository::new();
    users.expect_find_by_login_name().returning(|_| Ok(Some(banned(None))));
    users.expect_record_login().never();
    let auth = Ports { users, refresh_tokens: MockRefreshTokenStore::new(), failures, access_tokens: tokens() }
        .service()
        .await;
    let error = auth
        .login(&LoginName::Username("alice".into()), &attempt("right password"), ClientInfo::default())
        .await
        .expect_err("refused");
    assert!(matches!(error, AuthError::AccountDisabled), "{error:?}");
}

#[tokio::test]
async fn a_disabled_account_with_a_wrong_password_fails_as_usual_and_a_locked_one_is_locked() {
    for (previous, wrong_password, expected) in [(0, true, "invalid"), (5, false, "locked")] {
        let mut users = MockUserRepository::new();
        users.expect_find_by_login_name().returning(|_| Ok(Some(banned(None))));
        users.expect_record_login().never();
        let auth = Ports {
            users,
            refresh_tokens: MockRefreshTokenStore::new(),
            failures: failures_with(previous, "user:7", None), // a failure stays recorded: no forget, no clear
            access_tokens: MockAccessTokens::new(),
        }
        .service()
        .await;
        let password = if wrong_password { "wrong password" } else { "right password" };
        let error = auth
            .login(&LoginName::Username("alice".into()), &attempt(password), ClientInfo::default())
            .await
            .expect_err("refused");
        match expected {
            "invalid" => assert!(matches!(error, AuthError::InvalidCredentials), "{error:?}"),
            _ => assert!(matches!(error, AuthError::Locked { .. }), "{error:?}"),
        }
    }
}

#[tokio::test]
async fn a_ban_whose_end_has_passed_logs_in_and_the_login_is_recorded() {
    let lifted = banned(Some(Timestamp::from_datetime(now().as_datetime() - time::Duration::seconds(1))));
    let mut users = MockUserRepository::new();
    users.expect_find_by_login_name().returning(move |_| Ok(Some(lifted.clone())));
    users
        .expect_record_login()
        .withf(|id, version, at| id.get() == 7 && *version == 2 && *at == now())
        .times(1)
        .returning(|_, _, _| Ok(true));
    alice_logs_in(users).await;
}

#[tokio::test]
async fn a_login_that_raced_a_disable_or_password_change_begins_no_session() {
    let mut users = MockUserRepository::new();
    users.expect_find_by_login_name().returning(|_| Ok(Some(alice())));
    users.expect_record_login().times(1).returning(|_, _, _| Ok(false));
    let mut refresh_tokens = MockRefreshTokenStore::new();
    refresh_tokens.expect_insert().never();
    let auth = Ports {
        users,
        refresh_tokens,
        failures: failures_with(0, "user:7", Some("user:7")),
        access_tokens: MockAccessTokens::new(),
    }
    .service()
    .await;
    let error = auth
        .login(&LoginName::Username("alice".into()), &attempt("right password"), ClientInfo::default())
        .await
        .expect_err("raced");
    assert!(matches!(error, AuthError::InvalidCredentials), "{error:?}");
}

#[tokio::test]
async fn a_disabled_users_refresh_is_refused() {
    let mut refresh_tokens = MockRefreshTokenStore::new();
    refresh_tokens.expect_spend().returning(|_, _, _| Ok(spent_at_version(2)));
    refresh_tokens.expect_insert().never();
    let auth = Ports {
        users: finding(Some(banned(None))),
        refresh_tokens,
        failures: MockLoginFailureStore::new(),
        access_tokens: MockAccessTokens::new(),
    }
    .service()
    .await;
    assert!(matches!(auth.refresh("presented", ClientInfo::default()).await, Err(AuthError::InvalidRefreshToken)));
}

#[tokio::test]
async fn within_the_grace_a_repeated_refresh_gets_the_same_successor_and_stores_nothing() {
    let mut refresh_tokens = MockRefreshTokenStore::new();
    refresh_tokens
        .expect_spend()
        .withf(|hash, at, grace| {
            let expected_since = Timestamp::from_datetime(now().as_datetime() - time::Duration::seconds(10));
            hash == "hash-of-presented"
                && *at == now()
                && grace.is_some_and(|g| {
                    g.successor_hash == "hash-of-successor-of-presented" && g.spent_since == expected_since
                })
        })
        .returning(|_, _, _| {
            Ok(SpendOutcome::Repeated {
                user_id: UserId::new(7).expect("id"),
                family_id: "fam".into(),
                token_version: 2,
            })
        });
    refresh_tokens.expect_insert().never();
    let auth = Ports {
        users: finding(Some(alice())),
        refresh_tokens,
        failures: MockLoginFailureStore::new(),
        access_tokens: tokens(),
    }
    .service()
    .await
    .with_refresh_reuse_grace(std::time::Duration::from_secs(10));
    let pair = auth.refresh("presented", ClientInfo::default()).await.expect("repeated");
    assert_eq!(pair.refresh_token.expose(), "successor-of-presented");
    assert_eq!(pair.access.token, "access-for-7-v2-fam", "a fresh access token of the same session");
}

#[tokio::test]
async fn a_token_is_checked_against_its_session_in_the_read_that_loads_the_caller() {
    let mut tokens = MockAccessTokens::new();
    tokens.expect_verify().returning(|_| {
        Ok(AccessClaims {
            user_id: UserId::new(7).expect("id"),
            token_version: 2,
            session_id: Some(SessionId::parse("fam").expect("sid")),
        })
    });
    let mut users = MockUserRepository::new();
    users.expect_find_by_id().never();
    users
        .expect_find_caller()
        .withf(|caller, session, others| {
            caller.get() == 7 && session.is_some_and(|s| s.as_str() == "fam") && others.is_empty()
        })
        .times(2)
        .returning({
            let live = std::sync::atomic::AtomicBool::new(true);
            // The store leaves the caller out once the session is revoked.
            move |_, _, _| {
                Ok(if live.swap(false, std::sync::atomic::Ordering::SeqCst) { vec![alice()] } else { vec![] })
            }
        });
    let auth = Ports {
        users,
        refresh_tokens: MockRefreshTokenStore::new(),
        failures: MockLoginFailureStore::new(),
        access_tokens: tokens,
    }
    .service()
    .await;
    let caller = auth.authenticate("token").await.expect("live session");
    assert_eq!(caller.session_id.as_ref().map(SessionId::as_str), Some("fam"));
    assert!(matches!(auth.authenticate("token").await, Err(AuthError::InvalidToken)), "revoked session");
}
