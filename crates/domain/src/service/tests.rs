use super::*;
use crate::ports::{MockClock, MockPasswordHasher, MockUserRepository};
use crate::{PasswordHash, Timestamp};
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

fn hasher() -> MockPasswordHasher {
    let mut hasher = MockPasswordHasher::new();
    hasher
        .expect_hash()
        .returning(|p| Ok(PasswordHash::new(format!("hashed:{}", p.expose()))));
    hasher
}

fn service(
    repository: MockUserRepository,
    hasher: MockPasswordHasher,
    clock: MockClock,
) -> UserService {
    UserService::new(Arc::new(repository), Arc::new(hasher), Arc::new(clock))
}

fn alice() -> User {
    User {
        id: UserId::new(7).expect("id"),
        username: Username::parse("alice").expect("valid"),
        email: Email::parse("alice@example.com").expect("valid"),
        name: Some(DisplayName::parse("Alice").expect("valid")),
        age: Some(Age::parse(30).expect("valid")),
        role: Role::User,
        password_hash: PasswordHash::new("old-hash"),
        created_at: at("2026-01-01T00:00:00Z"),
        updated_at: at("2026-01-01T00:00:00Z"),
        token_version: 0,
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
    }
}

fn repository_returning_alice() -> MockUserRepository {
    let mut repository = MockUserRepository::new();
    repository
        .expect_find_by_id()
        .returning(|_| Ok(Some(alice())));
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
            })
        });
    let users = service(repository, hasher(), clock_at("2026-05-05T05:05:05.5Z"));
    let user = users.create(sign_up(None)).await.expect("created");
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
        .returning(|_| {
            Err(CreateUserError::Repository(RepositoryError::Unexpected(
                anyhow::anyhow!("stop here"),
            )))
        });
    let users = service(repository, hasher(), clock_at("2026-01-01T00:00:00Z"));
    assert!(matches!(
        users.create(sign_up(Some(Role::Admin))).await,
        Err(UserServiceError::Unexpected(_))
    ));
}

#[tokio::test]
async fn create_reports_which_field_is_taken() {
    let cases: [Case<CreateUserError>; 2] = [
        (
            || CreateUserError::UsernameTaken,
            |e| matches!(e, UserServiceError::UsernameTaken),
        ),
        (
            || CreateUserError::EmailTaken,
            |e| matches!(e, UserServiceError::EmailTaken),
        ),
    ];
    for (port_error, is_expected) in cases {
        let mut repository = MockUserRepository::new();
        repository
            .expect_create()
            .returning(move |_| Err(port_error()));
        let users = service(repository, hasher(), clock_at("2026-01-01T00:00:00Z"));
        let error = users.create(sign_up(None)).await.expect_err("taken");
        assert!(is_expected(&error), "{error:?}");
    }
}

#[tokio::test]
async fn create_stores_nothing_when_hashing_fails() {
    let mut repository = MockUserRepository::new();
    repository.expect_create().never();
    let mut failing = MockPasswordHasher::new();
    failing
        .expect_hash()
        .returning(|_| Err(HashError::Unexpected(anyhow::anyhow!("no entropy"))));
    let users = service(repository, failing, clock_at("2026-01-01T00:00:00Z"));
    assert!(matches!(
        users.create(sign_up(None)).await,
        Err(UserServiceError::Unexpected(_))
    ));
}

#[tokio::test]
async fn storage_unavailable_is_its_own_error() {
    let mut repository = MockUserRepository::new();
    repository.expect_find_by_id().returning(|_| {
        Err(RepositoryError::Unavailable(anyhow::anyhow!(
            "connection refused"
        )))
    });
    let users = service(repository, hasher(), clock_at("2026-01-01T00:00:00Z"));
    let id = UserId::new(7).expect("id");
    assert!(matches!(
        users.get(id).await,
        Err(UserServiceError::Unavailable(_))
    ));
}

#[tokio::test]
async fn get_of_a_missing_user_is_not_found() {
    let mut repository = MockUserRepository::new();
    repository
        .expect_find_by_id()
        .with(eq(UserId::new(9).expect("id")))
        .returning(|_| Ok(None));
    let users = service(repository, hasher(), clock_at("2026-01-01T00:00:00Z"));
    assert!(matches!(
        users.get(UserId::new(9).expect("id")).await,
        Err(UserServiceError::NotFound)
    ));
}

#[tokio::test]
async fn an_update_that_changes_nothing_writes_nothing() {
    let mut repository = repository_returning_alice();
    repository.expect_update().never();
    let users = service(repository, hasher(), clock_at("2026-06-01T00:00:00Z"));
    let same_values = UserChanges {
        username: Some(Username::parse("alice").expect("valid")),
        email: Some(Email::parse("ALICE@example.com").expect("valid")),
        name: Some(Some(DisplayName::parse(" Alice ").expect("valid"))),
        age: Some(Some(Age::parse(30).expect("valid"))),
        role: Some(Role::User),
        password: None,
    };
    for changes in [UserChanges::default(), same_values] {
        let user = users.update(alice().id, changes).await.expect("updated");
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
                        updated_at: at("2026-06-01T00:00:00Z"),
                    }
        })
        .times(1)
        .returning(|_, patch| Ok(patch.apply_to(&alice())));
    let users = service(repository, hasher(), clock_at("2026-06-01T00:00:00Z"));
    let changes = UserChanges {
        username: Some(Username::parse("Alice").expect("valid")),
        email: Some(Email::parse("alice@example.com").expect("valid")),
        name: Some(None),
        age: Some(Some(Age::parse(30).expect("valid"))),
        role: None,
        password: Some(Password::parse("new password").expect("valid")),
    };
    let user = users.update(alice().id, changes).await.expect("updated");
    assert_eq!(user.username.as_str(), "Alice");
    assert_eq!(user.name, None);
    assert_eq!(user.updated_at, at("2026-06-01T00:00:00Z"));
    assert_eq!(user.created_at, alice().created_at);
}

#[tokio::test]
async fn an_update_of_a_missing_user_is_not_found_and_hashes_nothing() {
    let mut repository = MockUserRepository::new();
    repository.expect_find_by_id().returning(|_| Ok(None));
    repository.expect_update().never();
    let mut hasher = MockPasswordHasher::new();
    hasher.expect_hash().never();
    let users = service(repository, hasher, clock_at("2026-06-01T00:00:00Z"));
    let changes = UserChanges {
        password: Some(Password::parse("new password").expect("valid")),
        ..Default::default()
    };
    assert!(matches!(
        users.update(alice().id, changes).await,
        Err(UserServiceError::NotFound)
    ));
}

#[tokio::test]
async fn update_conflicts_come_back_as_such() {
    let cases: [Case<UpdateUserError>; 4] = [
        (
            || UpdateUserError::UsernameTaken,
            |e| matches!(e, UserServiceError::UsernameTaken),
        ),
        (
            || UpdateUserError::EmailTaken,
            |e| matches!(e, UserServiceError::EmailTaken),
        ),
        (
            || UpdateUserError::LastAdmin,
            |e| matches!(e, UserServiceError::LastAdmin),
        ),
        (
            || UpdateUserError::NotFound,
            |e| matches!(e, UserServiceError::NotFound),
        ),
    ];
    for (port_error, is_expected) in cases {
        let mut repository = repository_returning_alice();
        repository
            .expect_update()
            .returning(move |_, _| Err(port_error()));
        let users = service(repository, hasher(), clock_at("2026-06-01T00:00:00Z"));
        let changes = UserChanges {
            username: Some(Username::parse("bob").expect("valid")),
            ..Default::default()
        };
        let error = users
            .update(alice().id, changes)
            .await
            .expect_err("conflict");
        assert!(is_expected(&error), "{error:?}");
    }
}

#[tokio::test]
async fn delete_maps_not_found_and_last_admin() {
    let cases: [Case<DeleteUserError>; 2] = [
        (
            || DeleteUserError::NotFound,
            |e| matches!(e, UserServiceError::NotFound),
        ),
        (
            || DeleteUserError::LastAdmin,
            |e| matches!(e, UserServiceError::LastAdmin),
        ),
    ];
    for (port_error, is_expected) in cases {
        let mut repository = MockUserRepository::new();
        repository
            .expect_delete()
            .returning(move |_| Err(port_error()));
        let users = service(repository, hasher(), clock_at("2026-06-01T00:00:00Z"));
        let error = users.delete(alice().id).await.expect_err("refused");
        assert!(is_expected(&error), "{error:?}");
    }
    let mut repository = MockUserRepository::new();
    repository
        .expect_delete()
        .with(eq(alice().id))
        .times(1)
        .returning(|_| Ok(()));
    let users = service(repository, hasher(), clock_at("2026-06-01T00:00:00Z"));
    users.delete(alice().id).await.expect("deleted");
}
