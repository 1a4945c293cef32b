use super::*;
use crate::password_policy::PasswordMinLength;
use crate::password_policy::PolicyViolation;
use crate::ports::{
    AccessClaims, BreachCheckError, MockBreachedPasswords, MockClock, MockLoginFailureStore, MockPasswordHasher,
    MockRefreshTokenStore, MockUserRepository,
};
use crate::{KeepSessions, PasswordAttempt, PasswordHash, SessionId, Timestamp};
use mockall::predicate::eq;

/// A port error and the use-case error it must become.
type Case<E> = (fn() -> E, fn(&UserServiceError) -> bool);

fn at(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).expect("valid timestamp")
}

fn clock_at(s: &'static str) -> MockClock {
    let mut clock = MockClock::new();
    clock.expect_now().returning(move || at(s));
    clock
}

/// A hasher whose hash of `p` is `hashed:p`, and which verifies exactly that.
fn hasher() -> MockPasswordHasher {
    let mut hasher = MockPasswordHasher::new();
    hasher.expect_hash().returning(|p| Ok(PasswordHash::new(format!("hashed:{}", p.expose()))));
    hasher.expect_verify().returning(|p, h| Ok(h.as_str() == format!("hashed:{}", p.expose())));
    hasher
}

/// No failures recorded so far; records and clears succeed.
fn no_failures() -> MockLoginFailureStore {
    let mut failures = MockLoginFailureStore::new();
    failures.expect_since().returning(|_, _| Ok(Vec::new()));
    failures.expect_record().returning(|_, _| Ok(()));
    failures.expect_clear().returning(|_| Ok(()));
    failures
}

fn revocations() -> MockRefreshTokenStore {
    let mut refresh_tokens = MockRefreshTokenStore::new();
    refresh_tokens.expect_revoke_user().returning(|_, _| Ok(()));
    refresh_tokens
}

struct Ports {
    repository: MockUserRepository,
    hasher: MockPasswordHasher,
    clock: MockClock,
    failures: MockLoginFailureStore,
    refresh_tokens: MockRefreshTokenStore,
    policy: PasswordPolicy,
}

impl Ports {
    fn new(repository: MockUserRepository, clock: MockClock) -> Self {
        Self {
            repository,
            hasher: hasher(),
            clock,
            failures: no_failures(),
            refresh_tokens: revocations(),
            policy: PasswordPolicy::new(PasswordMinLength::default(), None),
        }
    }

    async fn service(self) -> UserService {
        let hasher: Arc<dyn PasswordHasher> = Arc::new(self.hasher);
        let clock: Arc<dyn Clock> = Arc::new(self.clock);
        // The password check has a hasher of its own, so tests can forbid or fail the users' one.
        let passwords =
            PasswordCheck::new(Arc::new(self::hasher()), Arc::new(self.failures), clock.clone()).await.expect("dummy");
        UserService::new(UserPorts {
            repository: Arc::new(self.repository),
            hasher,
            clock,
            passwords: Arc::new(passwords),
            refresh_tokens: Arc::new(self.refresh_tokens),
            policy: Arc::new(self.policy),
        })
    }
}

async fn service(repository: MockUserRepository, hasher: MockPasswordHasher, clock: MockClock) -> UserService {
    Ports { hasher, ..Ports::new(repository, clock) }.service().await
}

fn admin() -> Caller {
    Caller {
        user: User {
            id: UserId::new(1).expect("id"),
            username: Username::parse("root").expect("valid"),
            email: Email::parse("root@example.com").expect("valid"),
            role: Role::Admin,
            ..alice()
        },
        session_id: Some(SessionId::parse("admin-session").expect("sid")),
    }
}

fn as_alice() -> Caller {
    Caller { user: alice(), session_id: Some(SessionId::parse("alice-session").expect("sid")) }
}

fn alice() -> User {
    User {
        id: UserId::new(7).expect("id"),
        username: Username::parse("alice").expect("valid"),
        email: Email::parse("alice@example.com").expect("valid"),
        name: Some(DisplayName::parse("Alice").expect("valid")),
        age: Some(Age::parse(30).expect("valid")),
        role: Role::User,
        password_hash: PasswordHash::new("hashed:old password"),
        created_at: at("2026-01-01T00:00:00Z"),
        updated_at: at("2026-01-01T00:00:00Z"),
        token_version: 0,
        status: AccountStatus::Active,
        email_verified: true,
        last_login_at: None,
    }
}

fn sign_up(role: Option<Role>) -> NewUserRequest {
    NewUserRequest {
        username: Username::parse("alice").expect("valid"),
        email: Email::parse("alice@example.com").expect("valid"),
        name: None,
        age: None,
        role,
        password: Password::parse("correct horse").expect("valid"),
        status: None,
        email_verified: None,
    }
}

fn repository_returning_alice() -> MockUserRepository {
    let mut repository = MockUserRepository::new();
    repository.expect_find_by_id().returning(|_| Ok(Some(alice())));
    repository
}

#[tokio::test]
async fn create_stores_the_hash_never_the_password_with_the_default_role_and_the_clock_time() {
    let mut repository = MockUserRepository::new();
    repository
        .expect_create()
        .withf(|u| {
            u.password_hash.as_str() == "hashed:correct horse"
                && u.role == Role::User
                && u.created_at == at("2026-05-05T05:05:05.5Z")
                && u.status == AccountStatus::Active
                && !u.email_verified
        })
        .times(1)
        .returning(|u| {
            Ok(User {
                id: UserId::new(1).expect("id"),
                username: u.username,
                email: u.email,
                name: u.name,
                age: u.age,
                role: u.role,
                password_hash: u.password_hash,
                created_at: u.created_at,
                updated_at: u.created_at,
                token_version: 0,
                status: u.status,
                email_verified: u.email_verified,
                last_login_at: None,
            })
        });
    let users = service(repository, hasher(), clock_at("2026-05-05T05:05:05.5Z")).await;
    let user = users.create(None, sign_up(None)).await.expect("created");
    assert_eq!(user.id.get(), 1);
    assert_eq!(user.created_at, user.updated_at);
}

#[tokio::test]
async fn create_keeps_a_requested_role() {
    let mut repository = MockUserRepository::new();
    repository
        .expect_create()
        .withf(|u| u.role == Role::Admin)
        .times(1)
        .returning(|_| Err(CreateUserError::Repository(RepositoryError::Unexpected(anyhow::anyhow!("stop here")))));
    let users = service(repository, hasher(), clock_at("2026-01-01T00:00:00Z")).await;
    assert!(matches!(
        users.create(Some(&admin()), sign_up(Some(Role::Admin))).await,
        Err(UserServiceError::Unexpected(_))
    ));
}

#[tokio::test]
async fn create_reports_which_field_is_taken() {
    let cases: [Case<CreateUserError>; 2] = [
        (|| CreateUserError::UsernameTaken, |e| matches!(e, UserServiceError::UsernameTaken)),
        (|| CreateUserError::EmailTaken, |e| matches!(e, UserServiceError::EmailTaken)),
    ];
    for (port_error, is_expected) in cases {
        let mut repository = MockUserRepository::new();
        repository.expect_create().returning(move |_| Err(port_error()));
        let users = service(repository, hasher(), clock_at("2026-01-01T00:00:00Z")).await;
        let error = users.create(None, sign_up(None)).await.expect_err("taken");
        assert!(is_expected(&error), "{error:?}");
    }
}

#[tokio::test]
async fn create_stores_nothing_when_hashing_fails() {
    let mut repository = MockUserRepository::new();
    repository.expect_create().never();
    let mut failing = MockPasswordHasher::new();
    failing.expect_hash().returning(|_| Err(HashError::Unexpected(anyhow::anyhow!("no entropy"))));
    let users = service(repository, failing, clock_at("2026-01-01T00:00:00Z")).await;
    assert!(matches!(users.create(None, sign_up(None)).await, Err(UserServiceError::Unexpected(_))));
}

#[tokio::test]
async fn storage_unavailable_is_its_own_error() {
    let mut repository = MockUserRepository::new();
    repository
        .expect_find_by_id()
        .returning(|_| Err(RepositoryError::Unavailable(anyhow::anyhow!("connection refused"))));
    let users = service(repository, hasher(), clock_at("2026-01-01T00:00:00Z")).await;
    let id = UserId::new(7).expect("id");
    assert!(matches!(users.get(&admin(), id).await, Err(UserServiceError::Unavailable(_))));
}

#[tokio::test]
async fn get_of_a_missing_user_is_not_found() {
    let mut repository = MockUserRepository::new();
    repository.expect_find_by_id().with(eq(UserId::new(9).expect("id"))).returning(|_| Ok(None));
    let users = service(repository, hasher(), clock_at("2026-01-01T00:00:00Z")).await;
    assert!(matches!(users.get(&admin(), UserId::new(9).expect("id")).await, Err(UserServiceError::NotFound)));
}

#[tokio::test]
async fn an_update_that_changes_nothing_writes_nothing() {
    let mut repository = repository_returning_alice();
    repository.expect_update().never();
    let users = service(repository, hasher(), clock_at("2026-06-01T00:00:00Z")).await;
    let same_values = UserChanges {
        username: Some(Username::parse("alice").expect("valid")),
        email: Some(Email::parse("ALICE@example.com").expect("valid")),
        name: Some(Some(DisplayName::parse(" Alice ").expect("valid"))),
        age: Some(Some(Age::parse(30).expect("valid"))),
        role: Some(Role::User),
        password: None,
        current_password: None,
        status: Some(AccountStatus::Active),
        email_verified: Some(true),
    };
    for changes in [UserChanges::default(), same_values] {
        let user = users.update(&admin(), alice().id, changes).await.expect("updated");
        assert_eq!(user, alice(), "updated_at stays as it was");
    }
}

#[tokio::test]
async fn an_update_writes_only_what_differs_with_the_clock_time() {
    let mut repository = repository_returning_alice();
    repository
        .expect_update()
        .withf(|id, patch| {
            *id == alice().id
                && *patch
                    == UserPatch {
                        username: Some(Username::parse("Alice").expect("valid")),
                        email: None,
                        name: Some(None),
                        age: None,
                        role: None,
                        password_hash: Some(PasswordHash::new("hashed:new password")),
                        ..UserPatch::at(at("2026-06-01T00:00:00Z"))
                    }
        })
        .times(1)
        .returning(|_, patch| Ok(patch.apply_to(&alice())));
    let users = service(repository, hasher(), clock_at("2026-06-01T00:00:00Z")).await;
    let changes = UserChanges {
        username: Some(Username::parse("Alice").expect("valid")),
        email: Some(Email::parse("alice@example.com").expect("valid")),
        name: Some(None),
        age: Some(Some(Age::parse(30).expect("valid"))),
        role: None,
        password: Some(Password::parse("new password").expect("valid")),
        current_password: None,
        status: None,
        email_verified: None,
    };
    let user = users.update(&admin(), alice().id, changes).await.expect("updated");
    assert_eq!(user.username.as_str(), "Alice");
    assert_eq!(user.name, None);
    assert_eq!(user.updated_at, at("2026-06-01T00:00:00Z"));
    assert_eq!(user.created_at, alice().created_at);
}

#[tokio::test]
async fn a_new_email_is_written_unverified_even_when_the_user_read_was_unverified() {
    // A verification of the old address may commit between this read and the write: the write itself says false.
    let unverified = || User { email_verified: false, ..alice() };
    let mut repository = MockUserRepository::new();
    repository.expect_find_by_id().returning(move |_| Ok(Some(unverified())));
    repository
        .expect_update()
        .withf(|_, patch| patch.email.is_some() && patch.email_verified == Some(false))
        .times(1)
        .returning(move |_, patch| Ok(patch.apply_to(&unverified())));
    let users = service(repository, hasher(), clock_at("2026-06-01T00:00:00Z")).await;
    let changes =
        UserChanges { email: Some(Email::parse("alice.new@example.com").expect("valid")), ..Default::default() };
    let user = users.update(&admin(), alice().id, changes).await.expect("updated");
    assert!(!user.email_verified);
}

#[tokio::test]
async fn an_update_of_a_missing_user_is_not_found_and_hashes_nothing() {
    let mut repository = MockUserRepository::new();
    repository.expect_find_by_id().returning(|_| Ok(None));
    repository.expect_update().never();
    let mut hasher = MockPasswordHasher::new();
    hasher.expect_hash().never();
    let users = service(repository, hasher, clock_at("2026-06-01T00:00:00Z")).await;
    let changes = UserChanges { password: Some(Password::parse("new password").expect("valid")), ..Default::default() };
    assert!(matches!(users.update(&admin(), alice().id, changes).await, Err(UserServiceError::NotFound)));
}

#[tokio::test]
async fn update_conflicts_come_back_as_such() {
    let cases: [Case<UpdateUserError>; 4] = [
        (|| UpdateUserError::UsernameTaken, |e| matches!(e, UserServiceError::UsernameTaken)),
        (|| UpdateUserError::EmailTaken, |e| matches!(e, UserServiceError::EmailTaken)),
        (|| UpdateUserError::LastAdmin, |e| matches!(e, UserServiceError::LastAdmin)),
        (|| UpdateUserError::NotFound, |e| matches!(e, UserServiceError::NotFound)),
    ];
    for (port_error, is_expected) in cases {
        let mut repository = repository_returning_alice();
        repository.expect_update().returning(move |_, _| Err(port_error()));
        let users = service(repository, hasher(), clock_at("2026-06-01T00:00:00Z")).await;
        let changes = UserChanges { username: Some(Username::parse("bob").expect("valid")), ..Default::default() };
        let error = users.update(&admin(), alice().id, changes).await.expect_err("conflict");
        assert!(is_expected(&error), "{error:?}");
    }
}

#[tokio::test]
async fn delete_maps_not_found_and_last_admin() {
    let cases: [Case<DeleteUserError>; 2] = [
        (|| DeleteUserError::NotFound, |e| matches!(e, UserServiceError::NotFound)),
        (|| DeleteUserError::LastAdmin, |e| matches!(e, UserServiceError::LastAdmin)),
    ];
    for (port_error, is_expected) in cases {
        let mut repository = MockUserRepository::new();
        repository.expect_delete().returning(move |_, _| Err(port_error()));
        let users = service(repository, hasher(), clock_at("2026-06-01T00:00:00Z")).await;
        let error = users.delete(&admin(), alice().id).await.expect_err("refused");
        assert!(is_expected(&error), "{error:?}");
    }
    let mut repository = MockUserRepository::new();
    repository.expect_delete().withf(|id, _| *id == alice().id).times(1).returning(|_, _| Ok(()));
    let users = service(repository, hasher(), clock_at("2026-06-01T00:00:00Z")).await;
    users.delete(&admin(), alice().id).await.expect("deleted");
}

// The authorization policy of docs/api.md §3–§4.

fn new_password(current: Option<&str>) -> UserChanges {
    UserChanges {
        password: Some(Password::parse("brand new password").expect("valid")),
        current_password: current.map(PasswordAttempt::new),
        ..Default::default()
    }
}

fn untouched() -> MockUserRepository {
    let mut repository = MockUserRepository::new();
    repository.expect_find_by_id().never();
    repository.expect_update().never();
    repository.expect_delete().never();
    repository.expect_list().never();
    repository.expect_create().never();
    repository
}

#[tokio::test]
async fn only_an_admin_may_send_a_role_at_sign_up() {
    let users = service(untouched(), hasher(), clock_at("2026-01-01T00:00:00Z")).await;
    for actor in [None, Some(as_alice())] {
        for role in [Role::User, Role::Admin] {
            let error = users.create(actor.as_ref(), sign_up(Some(role))).await.expect_err("refused");
            assert!(matches!(error, UserServiceError::Forbidden(_)), "{error:?}");
        }
    }
}

#[tokio::test]
async fn a_user_reads_themself_without_a_round_trip_and_nobody_else() {
    let users = service(untouched(), hasher(), clock_at("2026-01-01T00:00:00Z")).await;
    assert_eq!(users.get(&as_alice(), alice().id).await.expect("self"), alice());
    for other in [1, 424242] {
        let error = users.get(&as_alice(), UserId::new(other).expect("id")).await.expect_err("refused");
        assert!(matches!(error, UserServiceError::Forbidden(_)), "{other}: 403 whether or not it exists");
    }
    let error = users.list(&as_alice(), &ListQuery::default()).await.expect_err("refused");
    assert!(matches!(error, UserServiceError::Forbidden(_)));
}

#[tokio::test]
async fn a_listing_after_a_user_it_does_not_hold_is_a_bad_request_not_a_failure() {
    let mut repository = MockUserRepository::new();
    repository.expect_list().returning(|_| Err(ListUsersError::StartingAfterNotListed));
    let users = service(repository, hasher(), clock_at("2026-01-01T00:00:00Z")).await;
    let query = ListQuery { starting_after: Some(UserId::new(7).expect("id")), ..ListQuery::default() };
    let error = users.list(&admin(), &query).await.expect_err("refused");
    assert!(matches!(error, UserServiceError::StartingAfterNotListed), "{error:?}");
}

#[tokio::test]
async fn a_user_may_not_update_or_delete_another_nor_set_a_role() {
    let users = service(untouched(), hasher(), clock_at("2026-01-01T00:00:00Z")).await;
    let other = UserId::new(1).expect("id");
    let rename = UserChanges { name: Some(None), ..Default::default() };
    assert!(matches!(users.update(&as_alice(), other, rename).await, Err(UserServiceError::Forbidden(_))));
    assert!(matches!(users.delete(&as_alice(), other).await, Err(UserServiceError::Forbidden(_))));
    let own_role = UserChanges { role: Some(Role::User), ..Default::default() };
    assert!(
        matches!(users.update(&as_alice(), alice().id, own_role).await, Err(UserServiceError::Forbidden(_))),
        "even the current value"
    );
}

#[tokio::test]
async fn changing_ones_own_password_needs_the_current_one() {
    let users = service(untouched(), hasher(), clock_at("2026-01-01T00:00:00Z")).await;
    let error = users.update(&as_alice(), alice().id, new_password(None)).await.expect_err("refused");
    assert!(matches!(error, UserServiceError::CurrentPasswordRequired));
    let mut as_admin_self = admin();
    as_admin_self.user.password_hash = PasswordHash::new("hashed:old password");
    let error = users.update(&as_admin_self, as_admin_self.id(), new_password(None)).await.expect_err("refused");
    assert!(matches!(error, UserServiceError::CurrentPasswordRequired), "admins too");
}

#[tokio::test]
async fn a_wrong_current_password_is_forbidden_and_counted_as_a_failed_login() {
    let mut failures = MockLoginFailureStore::new();
    failures.expect_since().returning(|_, _| Ok(Vec::new()));
    failures.expect_record().withf(|key, _| key == "user:7").times(1).returning(|_, _| Ok(()));
    let ports = Ports { failures, ..Ports::new(untouched(), clock_at("2026-01-01T00:00:00Z")) };
    let users = ports.service().await;
    let error = users.update(&as_alice(), alice().id, new_password(Some("not it"))).await.expect_err("refused");
    assert!(matches!(error, UserServiceError::WrongCurrentPassword));
}

#[tokio::test]
async fn a_locked_name_gets_locked_on_a_password_change_too() {
    let mut failures = MockLoginFailureStore::new();
    let five_recent: Vec<Timestamp> = (0..5).map(|i| at(&format!("2026-01-01T00:0{i}:00Z"))).collect();
    failures.expect_since().returning(move |_, _| Ok(five_recent.clone()));
    failures.expect_record().times(1).returning(|_, _| Ok(())); // the attempt, recorded before it is judged
    let ports = Ports { failures, ..Ports::new(untouched(), clock_at("2026-01-01T00:05:00Z")) };
    let users = ports.service().await;
    let error = users.update(&as_alice(), alice().id, new_password(Some("old password"))).await.expect_err("locked");
    assert!(matches!(error, UserServiceError::Locked { retry_after_secs: 840 }), "{error:?}");
}

#[tokio::test]
async fn a_password_change_revokes_every_refresh_token_of_the_user() {
    let mut repository = MockUserRepository::new();
    repository.expect_find_by_id().returning(|_| Ok(Some(alice())));
    repository
        .expect_update()
        .withf(|_, patch| patch.password_hash == Some(PasswordHash::new("hashed:brand new password")))
        .times(2)
        .returning(|_, patch| Ok(patch.apply_to(&alice())));
    let mut refresh_tokens = MockRefreshTokenStore::new();
    refresh_tokens
        .expect_revoke_user()
        .with(eq(alice().id), mockall::predicate::always())
        .times(2)
        .returning(|_, _| Ok(()));
    let ports = Ports { refresh_tokens, ..Ports::new(repository, clock_at("2026-01-01T00:00:00Z")) };
    let users = ports.service().await;
    let updated = users.update(&as_alice(), alice().id, new_password(Some("old password"))).await.expect("changed");
    assert_eq!(updated.token_version, alice().token_version + 1);
    // An admin resetting another user's password needs no current password.
    users.update(&admin(), alice().id, new_password(None)).await.expect("reset");
}

#[tokio::test]
async fn a_user_may_delete_themself_and_their_refresh_tokens_go() {
    let mut repository = MockUserRepository::new();
    repository.expect_delete().withf(|id, _| *id == alice().id).times(1).returning(|_, _| Ok(()));
    let mut refresh_tokens = MockRefreshTokenStore::new();
    refresh_tokens.expect_revoke_user().times(1).returning(|_, _| Ok(()));
    let ports = Ports { refresh_tokens, ..Ports::new(repository, clock_at("2026-01-01T00:00:00Z")) };
    ports.service().await.delete(&as_alice(), alice().id).await.expect("deleted");
}

fn claims_of(user: &User) -> AccessClaims {
    AccessClaims {
        user_id: user.id,
        token_version: user.token_version,
        session_id: Some(SessionId::parse(format!("session-of-{}", user.id)).expect("sid")),
    }
}

#[tokio::test]
async fn reading_with_a_token_loads_caller_session_and_target_in_one_round_trip() {
    let mut repository = MockUserRepository::new();
    repository.expect_find_by_id().never();
    repository.expect_find_by_ids().never();
    repository
        .expect_find_caller()
        .withf(|caller, session, others| {
            *caller == admin().id() && session.is_some_and(|s| s.as_str() == "session-of-1") && others == [alice().id]
        })
        .times(1)
        .returning(|_, _, _| Ok(vec![alice(), admin().user]));
    repository
        .expect_find_caller()
        .withf(|caller, session, others| {
            *caller == alice().id && session.is_some_and(|s| s.as_str() == "session-of-7") && others.is_empty()
        })
        .times(1)
        .returning(|_, _, _| Ok(vec![alice()]));
    let users = service(repository, hasher(), clock_at("2026-01-01T00:00:00Z")).await;
    assert_eq!(users.get_as(&claims_of(&admin().user), alice().id).await.expect("admin reads alice"), alice());
    assert_eq!(users.get_as(&claims_of(&alice()), alice().id).await.expect("alice reads herself"), alice());
}

#[tokio::test]
async fn reading_with_an_outdated_token_or_another_users_id_is_refused() {
    let mut repository = MockUserRepository::new();
    repository.expect_find_caller().returning(|caller, _, others| {
        Ok([alice(), admin().user].into_iter().filter(|u| u.id == caller || others.contains(&u.id)).collect())
    });
    let users = service(repository, hasher(), clock_at("2026-01-01T00:00:00Z")).await;
    let outdated = AccessClaims { token_version: alice().token_version - 1, ..claims_of(&alice()) };
    assert!(matches!(users.get_as(&outdated, alice().id).await, Err(UserServiceError::InvalidToken)));
    let gone = AccessClaims { user_id: UserId::new(99).expect("id"), token_version: 0, session_id: None };
    assert!(matches!(users.get_as(&gone, alice().id).await, Err(UserServiceError::InvalidToken)));
    let other = users.get_as(&claims_of(&alice()), admin().id()).await;
    assert!(matches!(other, Err(UserServiceError::Forbidden(_))));
    let missing = users.get_as(&claims_of(&admin().user), UserId::new(424242).expect("id")).await;
    assert!(matches!(missing, Err(UserServiceError::NotFound)));
}

// Account lifecycle (docs/api.md §6).

fn disable(until: Option<&str>) -> UserChanges {
    UserChanges { status: Some(AccountStatus::Disabled { until: until.map(at) }), ..Default::default() }
}

#[tokio::test]
async fn only_an_admin_may_send_status_or_email_verified_even_unchanged() {
    let users = service(untouched(), hasher(), clock_at("2026-01-01T00:00:00Z")).await;
    let attempts = [
        UserChanges { status: Some(AccountStatus::Active), ..Default::default() },
        UserChanges { email_verified: Some(true), ..Default::default() },
        disable(None),
    ];
    for changes in attempts {
        let error = users.update(&as_alice(), alice().id, changes).await.expect_err("refused");
        assert!(matches!(error, UserServiceError::Forbidden(_)), "{error:?}");
    }
    let sign_ups = [
        NewUserRequest { status: Some(AccountStatus::Active), ..sign_up(None) },
        NewUserRequest { email_verified: Some(false), ..sign_up(None) },
    ];
    for request in sign_ups {
        for actor in [None, Some(as_alice())] {
            let error = users.create(actor.as_ref(), request.clone()).await.expect_err("refused");
            assert!(matches!(error, UserServiceError::Forbidden(_)), "{error:?}");
        }
    }
}

#[tokio::test]
async fn an_admin_creates_a_user_with_lifecycle_fields() {
    let mut repository = MockUserRepository::new();
    let banned = AccountStatus::Disabled { until: Some(at("2026-02-01T00:00:00Z")) };
    repository
        .expect_create()
        .withf(move |u| u.status == banned && u.email_verified)
        .times(1)
        .returning(|_| Err(CreateUserError::Repository(RepositoryError::Unexpected(anyhow::anyhow!("stop here")))));
    let users = service(repository, hasher(), clock_at("2026-01-01T00:00:00Z")).await;
    let request = NewUserRequest { status: Some(banned), email_verified: Some(true), ..sign_up(None) };
    assert!(matches!(users.create(Some(&admin()), request).await, Err(UserServiceError::Unexpected(_))));
}

#[tokio::test]
async fn disabling_ends_every_session_and_the_last_active_admin_stays() {
    let mut repository = repository_returning_alice();
    repository
        .expect_update()
        .withf(|_, patch| patch.status == Some(AccountStatus::Disabled { until: None }) && patch.ends_sessions())
        .times(1)
        .returning(|_, patch| Ok(patch.apply_to(&alice())));
    let mut refresh_tokens = MockRefreshTokenStore::new();
    refresh_tokens.expect_revoke_user().withf(|id, _| *id == alice().id).times(1).returning(|_, _| Ok(()));
    let ports = Ports { refresh_tokens, ..Ports::new(repository, clock_at("2026-01-01T00:00:00Z")) };
    let disabled = ports.service().await.update(&admin(), alice().id, disable(None)).await.expect("disabled");
    assert_eq!(disabled.token_version, alice().token_version + 1, "its tokens end");
    let mut repository = repository_returning_alice();
    repository.expect_update().returning(|_, _| Err(UpdateUserError::LastAdmin));
    let users = service(repository, hasher(), clock_at("2026-01-01T00:00:00Z")).await;
    let error = users.update(&admin(), alice().id, disable(None)).await.expect_err("refused");
    assert!(matches!(error, UserServiceError::LastAdmin));
}

#[tokio::test]
async fn a_ban_that_lifted_itself_is_active_and_enabling_it_writes_nothing() {
    let mut repository = MockUserRepository::new();
    repository.expect_find_by_id().returning(|_| {
        Ok(Some(User { status: AccountStatus::Disabled { until: Some(at("2026-01-01T00:00:00Z")) }, ..alice() }))
    });
    repository.expect_update().never();
    let users = service(repository, hasher(), clock_at("2026-01-02T00:00:00Z")).await;
    let changes = UserChanges { status: Some(AccountStatus::Active), ..Default::default() };
    users.update(&admin(), alice().id, changes).await.expect("nothing to do");
}

#[tokio::test]
async fn an_email_change_unverifies_unless_the_request_says_otherwise() {
    let new_email = || Some(Email::parse("new@example.com").expect("valid"));
    for (sent, expected) in [(None, Some(false)), (Some(true), Some(true)), (Some(false), Some(false))] {
        let mut repository = repository_returning_alice();
        repository
            .expect_update()
            .withf(move |_, patch| patch.email == new_email() && patch.email_verified == expected)
            .times(1)
            .returning(|_, patch| Ok(patch.apply_to(&alice())));
        let users = service(repository, hasher(), clock_at("2026-01-01T00:00:00Z")).await;
        let changes = UserChanges { email: new_email(), email_verified: sent, ..Default::default() };
        let user = users.update(&admin(), alice().id, changes).await.expect("updated");
        assert_eq!(user.email_verified, sent.unwrap_or(false), "sent {sent:?}");
    }
}

#[tokio::test]
async fn unlock_is_for_admins_and_clears_the_users_names() {
    let users = service(untouched(), hasher(), clock_at("2026-01-01T00:00:00Z")).await;
    for actor in [as_alice()] {
        let error = users.unlock(&actor, alice().id).await.expect_err("refused");
        assert!(matches!(error, UserServiceError::Forbidden(_)), "{error:?}");
    }
    let mut repository = MockUserRepository::new();
    repository.expect_find_by_id().returning(|_| Ok(None));
    let users = service(repository, hasher(), clock_at("2026-01-01T00:00:00Z")).await;
    assert!(matches!(users.unlock(&admin(), alice().id).await, Err(UserServiceError::NotFound)));
    let mut failures = MockLoginFailureStore::new();
    let cleared = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = cleared.clone();
    failures.expect_clear().times(3).returning(move |key| {
        seen.lock().expect("lock").push(key.to_owned());
        Ok(())
    });
    let ports = Ports { failures, ..Ports::new(repository_returning_alice(), clock_at("2026-01-01T00:00:00Z")) };
    ports.service().await.unlock(&admin(), alice().id).await.expect("unlocked");
    assert_eq!(*cleared.lock().expect("lock"), ["user:7", "name:alice", "name:alice@example.com"]);
}

// The password policy (docs/api.md §7) wherever a password is set, before any hash.

fn with_password(mut request: NewUserRequest, password: &str) -> NewUserRequest {
    request.password = Password::parse(password).expect("valid");
    request
}

fn hashes_nothing() -> MockPasswordHasher {
    let mut hasher = MockPasswordHasher::new();
    hasher.expect_hash().never();
    hasher
}

#[tokio::test]
async fn a_sign_up_with_a_weak_password_is_refused_before_hashing_and_stores_nothing() {
    let users = service(untouched(), hashes_nothing(), clock_at("2026-01-01T00:00:00Z")).await;
    let cases = [
        ("Password123", PolicyViolation::Common),
        ("ALICE@example.com", PolicyViolation::SameAsEmail),
        ("ééçç", PolicyViolation::TooShort(8)),
    ];
    for (password, violation) in cases {
        let error = users.create(None, with_password(sign_up(None), password)).await.expect_err("refused");
        assert!(matches!(&error, UserServiceError::WeakPassword(v) if *v == violation), "{password}: {error:?}");
    }
}

#[tokio::test]
async fn the_configured_minimum_length_applies() {
    let ports = Ports {
        hasher: hashes_nothing(),
        policy: PasswordPolicy::new(PasswordMinLength::new(16).expect("in range"), None),
        ..Ports::new(untouched(), clock_at("2026-01-01T00:00:00Z"))
    };
    let users = ports.service().await;
    let error = users.create(None, with_password(sign_up(None), "fifteen chars!!")).await.expect_err("short");
    assert!(matches!(error, UserServiceError::WeakPassword(PolicyViolation::TooShort(16))), "{error:?}");
    assert_eq!(error.to_string(), "password must be at least 16 characters long");
}

#[tokio::test]
async fn a_breached_password_is_refused_and_an_unanswered_check_lets_it_through() {
    let mut breached = MockBreachedPasswords::new();
    breached.expect_is_breached().times(1).returning(|_| Ok(true));
    breached
        .expect_is_breached()
        .times(1)
        .returning(|_| Err(BreachCheckError::Unavailable(anyhow::anyhow!("no answer within 2 s"))));
    let mut repository = MockUserRepository::new();
    repository.expect_create().times(1).returning(|_| Err(CreateUserError::UsernameTaken));
    let ports = Ports {
        policy: PasswordPolicy::new(PasswordMinLength::default(), Some(Arc::new(breached))),
        ..Ports::new(repository, clock_at("2026-01-01T00:00:00Z"))
    };
    let users = ports.service().await;
    let error = users.create(None, sign_up(None)).await.expect_err("breached");
    assert!(matches!(error, UserServiceError::WeakPassword(PolicyViolation::Breached)), "{error:?}");
    // The second check gets no answer: the sign-up goes on (and reaches storage).
    let error = users.create(None, sign_up(None)).await.expect_err("taken");
    assert!(matches!(error, UserServiceError::UsernameTaken), "{error:?}");
}

#[tokio::test]
async fn an_update_judges_the_password_against_the_names_after_the_update_before_checking_current_password() {
    let mut failures = MockLoginFailureStore::new();
    failures.expect_record().never(); // current_password is not even checked
    let ports =
        Ports { failures, hasher: hashes_nothing(), ..Ports::new(untouched(), clock_at("2026-01-01T00:00:00Z")) };
    let users = ports.service().await;
    let renamed = UserChanges {
        username: Some(Username::parse("Rosalind-F").expect("valid")),
        password: Some(Password::parse("rosalind-f").expect("valid")),
        current_password: Some(PasswordAttempt::new("old password")),
        ..Default::default()
    };
    let error = users.update(&as_alice(), alice().id, renamed).await.expect_err("refused");
    assert!(matches!(error, UserServiceError::WeakPassword(PolicyViolation::SameAsUsername)), "{error:?}");
    let common = UserChanges {
        password: Some(Password::parse("iloveyou1").expect("valid")),
        current_password: Some(PasswordAttempt::new("old password")),
        ..Default::default()
    };
    let error = users.update(&as_alice(), alice().id, common).await.expect_err("refused");
    assert!(matches!(error, UserServiceError::WeakPassword(PolicyViolation::Common)), "{error:?}");
}

#[tokio::test]
async fn an_admin_resetting_a_password_meets_the_policy_against_that_users_names() {
    let ports = Ports {
        hasher: hashes_nothing(),
        ..Ports::new(repository_returning_alice(), clock_at("2026-01-01T00:00:00Z"))
    };
    let users = ports.service().await;
    let changes =
        UserChanges { password: Some(Password::parse("ALICE@EXAMPLE.COM").expect("valid")), ..Default::default() };
    let error = users.update(&admin(), alice().id, changes).await.expect_err("refused");
    assert!(matches!(error, UserServiceError::WeakPassword(PolicyViolation::SameAsEmail)), "{error:?}");
}

#[tokio::test]
async fn the_bootstrap_admins_password_is_judged_only_when_it_is_about_to_be_created() {
    let mut repository = MockUserRepository::new();
    repository
        .expect_find_by_login_name()
        .returning(|name| Ok(matches!(name, crate::auth::LoginName::Email(e) if e == "alice@example.com").then(alice)));
    repository.expect_create().never();
    let users = service(repository, hashes_nothing(), clock_at("2026-01-01T00:00:00Z")).await;
    let weak = with_password(sign_up(None), "password");
    assert!(!users.ensure_admin(weak).await.expect("exists already: not judged"));

    let mut repository = MockUserRepository::new();
    repository.expect_find_by_login_name().returning(|_| Ok(None));
    repository.expect_create().never();
    let users = service(repository, hashes_nothing(), clock_at("2026-01-01T00:00:00Z")).await;
    let error = users.ensure_admin(with_password(sign_up(None), "password")).await.expect_err("weak");
    assert!(matches!(error, UserServiceError::WeakPassword(PolicyViolation::Common)), "{error:?}");
}

// docs/api.md §3: one's own email changes only with the current password (an admin changing another's does not).

#[tokio::test]
async fn changing_ones_own_email_needs_the_current_password_and_an_admin_changing_anothers_does_not() {
    let users = service(untouched(), hasher(), clock_at("2026-01-01T00:00:00Z")).await;
    let new_email = || Some(Email::parse("new@example.com").expect("valid"));
    let changes = UserChanges { email: new_email(), ..Default::default() };
    let error = users.update(&as_alice(), alice().id, changes).await.expect_err("refused");
    assert!(matches!(error, UserServiceError::CurrentPasswordRequired), "{error:?}");
    let same = UserChanges { email: Some(alice().email), ..Default::default() };
    users.update(&as_alice(), alice().id, same).await.expect("the same address is no change");
    let mut repository = repository_returning_alice();
    repository.expect_update().times(1).returning(|_, patch| Ok(patch.apply_to(&alice())));
    let users = service(repository, hasher(), clock_at("2026-01-01T00:00:00Z")).await;
    let changes = UserChanges { email: new_email(), ..Default::default() };
    users.update(&admin(), alice().id, changes).await.expect("an admin needs no password of theirs");
}

#[tokio::test]
async fn sessions_are_the_users_own_or_an_admins_business() {
    let mut refresh_tokens = MockRefreshTokenStore::new();
    refresh_tokens.expect_sessions().never();
    refresh_tokens.expect_revoke_session().never();
    refresh_tokens.expect_revoke_sessions().never();
    let ports = Ports { refresh_tokens, ..Ports::new(MockUserRepository::new(), clock_at("2026-01-01T00:00:00Z")) };
    let users = ports.service().await;
    let sid = SessionId::parse("s").expect("sid");
    assert!(matches!(users.sessions(&as_alice(), admin().id()).await, Err(UserServiceError::Forbidden(_))));
    let one = users.revoke_session(&as_alice(), admin().id(), &sid).await;
    assert!(matches!(one, Err(UserServiceError::Forbidden(_))));
    let all = users.revoke_sessions(&as_alice(), admin().id(), KeepSessions::None).await;
    assert!(matches!(all, Err(UserServiceError::Forbidden(_))));
}

#[tokio::test]
async fn revoking_sessions_keeps_the_callers_own_only_when_asked_and_a_dead_one_is_not_found() {
    let mut refresh_tokens = MockRefreshTokenStore::new();
    refresh_tokens
        .expect_revoke_sessions()
        .withf(|user, except, _| *user == alice().id && except.is_some_and(|s| s.as_str() == "alice-session"))
        .times(1)
        .returning(|_, _, _| Ok(2));
    refresh_tokens
        .expect_revoke_sessions()
        .withf(|user, except, _| *user == alice().id && except.is_none())
        .times(1)
        .returning(|_, _, _| Ok(3));
    refresh_tokens.expect_revoke_session().times(1).returning(|_, _, _| Ok(false));
    let mut repository = MockUserRepository::new();
    repository.expect_find_by_id().with(eq(UserId::new(9).expect("id"))).returning(|_| Ok(None));
    let ports = Ports { refresh_tokens, ..Ports::new(repository, clock_at("2026-01-01T00:00:00Z")) };
    let users = ports.service().await;
    assert_eq!(users.revoke_sessions(&as_alice(), alice().id, KeepSessions::Current).await.expect("revoked"), 2);
    assert_eq!(users.revoke_sessions(&as_alice(), alice().id, KeepSessions::None).await.expect("revoked"), 3);
    let dead = users.revoke_session(&as_alice(), alice().id, &SessionId::parse("gone").expect("sid")).await;
    assert!(matches!(dead, Err(UserServiceError::SessionNotFound)));
    let missing = users.sessions(&admin(), UserId::new(9).expect("id")).await;
    assert!(matches!(missing, Err(UserServiceError::NotFound)), "a missing user is 404 to an admin");
}
