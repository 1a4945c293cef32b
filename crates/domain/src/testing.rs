//! The repository contract: one suite, run by every storage adapter against its own backend with
//! [`repository_contract_tests!`](crate::repository_contract_tests). The in-memory adapter defines the reference
//! behaviour; the SQL adapters must give the same answers.

use crate::auth::LoginName;
use crate::ports::{
    CreateUserError, DeleteUserError, Grace, ListUsersError, SpendOutcome, StoredRefreshToken, UpdateUserError,
    UserRepository,
};
use crate::{
    AccountStatus, Age, ClientInfo, DisplayName, Email, ListQuery, NewUser, PasswordHash, Role, SessionId,
    SortDirection, SortKey, StatusFilter, Timestamp, User, UserFilter, UserId, UserPatch, UserStatus, Username,
};
use std::sync::Arc;

/// Generates one `#[tokio::test]` per contract case. `$make` is an async expression giving a fresh, empty
/// repository and a guard dropped when the case ends (to clean up its database), or `None` to skip (a backend
/// not configured on this machine). Attributes after it go on every case, e.g.
/// `fresh(), #[cfg_attr(no_test_database, ignore = "needs TEST_DATABASE_URL")]` for a backend that may be absent.
#[macro_export]
macro_rules! repository_contract_tests {
    ($make:expr $(, #[$attr:meta])* $(,)?) => {
        $crate::repository_contract_tests!(@cases { $(#[$attr])* } $make;
            create_assigns_fresh_ids_and_keeps_every_field,
            find_by_id_of_a_missing_user_is_none,
            find_by_ids_returns_the_users_that_exist,
            username_is_unique_case_insensitively,
            email_is_unique_case_insensitively,
            racing_creates_of_one_username_let_exactly_one_win,
            ids_are_never_reused_after_a_delete,
            update_applies_only_the_patch,
            update_of_a_missing_user_is_not_found,
            update_refuses_a_username_or_email_of_another_user,
            an_update_expecting_another_email_writes_nothing,
            the_last_admin_cannot_be_demoted_or_deleted,
            delete_removes_the_user_and_frees_its_names,
            find_by_login_name_matches_username_or_email_case_insensitively,
            list_filters_case_insensitively,
            list_q_treats_percent_and_underscore_literally,
            list_sorts_by_every_key_both_ways_with_ties_by_id,
            list_pages_with_limit_offset_and_total,
            timestamps_keep_microseconds_on_every_read,
            lifecycle_fields_are_kept_and_a_disable_ends_sessions,
            the_last_active_admin_cannot_be_disabled_demoted_or_deleted,
            record_login_moves_only_last_login_at_and_only_at_the_read_version,
            list_filters_by_status_judging_bans_at_the_filter_time,
            list_pages_after_a_user_in_every_order,
            list_after_a_user_the_listing_does_not_hold_is_refused,
            list_totals_follow_creates_deletes_and_role_changes,
            list_totals_stay_exact_under_concurrent_role_changes_and_deletes,
            list_q_matches_the_reference_folding_over_tricky_names,
            list_q_finds_its_matches_among_users_who_share_most_of_it,
        );
    };
    (@cases $attrs:tt $make:expr; $($case:ident),+ $(,)?) => {
        $( $crate::contract_case!($attrs $make; $case); )+
    };
}

/// One contract case as a `#[tokio::test]`, for the two contract macros. The attributes travel as one `{ … }` group,
/// so that each case repeats all of them.
#[doc(hidden)]
#[macro_export]
macro_rules! contract_case {
    ({ $(#[$attr:meta])* } $make:expr; $case:ident) => {
        $(#[$attr])*
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            match $make.await {
                Some((storage, _guard)) => $crate::testing::$case(storage).await,
                None => eprintln!("skipped: backend not configured"),
            }
        }
    };
}

fn at(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).expect("valid timestamp")
}

/// A valid new user named `username`, with `username@example.com`.
pub fn new_user(username: &str) -> NewUser {
    NewUser {
        username: Username::parse(username).expect("valid username"),
        email: Email::parse(format!("{username}@example.com")).expect("valid email"),
        name: None,
        age: None,
        role: Role::User,
        password_hash: PasswordHash::new("$2b$04$not-a-real-hash"),
        created_at: at("2026-01-01T00:00:00.000001Z"),
        status: AccountStatus::Active,
        email_verified: false,
    }
}

fn with_email(mut user: NewUser, email: &str) -> NewUser {
    user.email = Email::parse(email).expect("valid email");
    user
}

fn admin(username: &str) -> NewUser {
    NewUser { role: Role::Admin, ..new_user(username) }
}

fn empty_patch(at_time: &str) -> UserPatch {
    UserPatch::at(at(at_time))
}

async fn create(repository: &Arc<dyn UserRepository>, user: NewUser) -> User {
    repository.create(user).await.expect("created")
}

async fn list(repository: &Arc<dyn UserRepository>, query: ListQuery) -> (Vec<String>, u64) {
    let page = repository.list(&query).await.expect("listed");
    (page.users.iter().map(|u| u.username.as_str().to_owned()).collect(), page.total)
}

fn query(filter: UserFilter) -> ListQuery {
    ListQuery { filter, ..ListQuery::default() }
}

pub async fn create_assigns_fresh_ids_and_keeps_every_field(repository: Arc<dyn UserRepository>) {
    let mut full = new_user("Alice");
    full.name = Some(DisplayName::parse("Alice Liddell").expect("valid"));
    full.age = Some(Age::parse(30).expect("valid"));
    full.role = Role::Admin;
    let alice = create(&repository, full.clone()).await;
    let bob = create(&repository, new_user("bob")).await;
    assert!(bob.id > alice.id, "ids increase");
    assert_eq!(alice.username.as_str(), "Alice", "case kept");
    assert_eq!(alice.email, full.email);
    assert_eq!(alice.name, full.name);
    assert_eq!(alice.age, full.age);
    assert_eq!(alice.role, Role::Admin);
    assert_eq!(alice.password_hash, full.password_hash);
    assert_eq!(alice.created_at, full.created_at);
    assert_eq!(alice.updated_at, full.created_at);
    assert_eq!(repository.find_by_id(alice.id).await.expect("read"), Some(alice));
}

pub async fn find_by_id_of_a_missing_user_is_none(repository: Arc<dyn UserRepository>) {
    let id = UserId::new(424242).expect("id");
    assert_eq!(repository.find_by_id(id).await.expect("read"), None);
}

pub async fn find_by_ids_returns_the_users_that_exist(repository: Arc<dyn UserRepository>) {
    let alice = create(&repository, new_user("alice")).await;
    let bob = create(&repository, new_user("bob")).await;
    let missing = UserId::new(424242).expect("id");
    let mut found = repository.find_by_ids(&[bob.id, missing, alice.id]).await.expect("read");
    found.sort_by_key(|u| u.id);
    assert_eq!(found, vec![alice.clone(), bob]);
    assert_eq!(repository.find_by_ids(&[alice.id]).await.expect("read"), vec![alice]);
    assert!(repository.find_by_ids(&[missing]).await.expect("read").is_empty());
}

pub async fn username_is_unique_case_insensitively(repository: Arc<dyn UserRepository>) {
    create(&repository, new_user("alice")).await;
    let clash = with_email(new_user("ALICE"), "other@example.com");
    assert!(matches!(repository.create(clash).await, Err(CreateUserError::UsernameTaken)));
    // When both clash, either may be reported.
    let both = with_email(new_user("Alice"), "ALICE@example.com");
    assert!(matches!(repository.create(both).await, Err(CreateUserError::UsernameTaken | CreateUserError::EmailTaken)));
    let page = repository.list(&ListQuery::default()).await.expect("listed");
    assert_eq!(page.total, 1, "nothing stored by a refused create");
}

pub async fn email_is_unique_case_insensitively(repository: Arc<dyn UserRepository>) {
    create(&repository, new_user("alice")).await;
    let clash = with_email(new_user("bob"), "Alice@Example.com");
    assert!(matches!(repository.create(clash).await, Err(CreateUserError::EmailTaken)));
}

pub async fn racing_creates_of_one_username_let_exactly_one_win(repository: Arc<dyn UserRepository>) {
    let attempts = (0..20).map(|i| {
        let repository = repository.clone();
        tokio::spawn(async move {
            let user = with_email(new_user("racer"), &format!("racer{i}@example.com"));
            repository.create(user).await
        })
    });
    let mut created = 0;
    for attempt in attempts.collect::<Vec<_>>() {
        match attempt.await.expect("task") {
            Ok(_) => created += 1,
            Err(CreateUserError::UsernameTaken) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(created, 1);
}

pub async fn ids_are_never_reused_after_a_delete(repository: Arc<dyn UserRepository>) {
    create(&repository, new_user("first")).await;
    let last = create(&repository, new_user("second")).await;
    repository.delete(last.id, at(NOW)).await.expect("deleted");
    let next = create(&repository, new_user("third")).await;
    assert!(next.id > last.id, "{} after {}", next.id, last.id);
}

pub async fn update_applies_only_the_patch(repository: Arc<dyn UserRepository>) {
    let mut original = new_user("alice");
    original.name = Some(DisplayName::parse("Alice").expect("valid"));
    original.age = Some(Age::parse(30).expect("valid"));
    let alice = create(&repository, original).await;
    let patch = UserPatch {
        username: Some(Username::parse("Alicia").expect("valid")),
        age: Some(None),
        password_hash: Some(PasswordHash::new("$2b$04$another")),
        ..empty_patch("2026-02-02T02:02:02.123456Z")
    };
    let updated = repository.update(alice.id, patch.clone()).await.expect("updated");
    assert_eq!(updated, patch.apply_to(&alice));
    assert_eq!(updated.name, alice.name, "untouched field kept");
    assert_eq!(updated.age, None, "cleared");
    assert_eq!(updated.created_at, alice.created_at);
    assert_eq!(updated.token_version, alice.token_version + 1, "a new password ends older tokens");
    assert_eq!(repository.find_by_id(alice.id).await.expect("read"), Some(updated.clone()));
    let no_password = UserPatch { age: Some(None), ..empty_patch("2026-02-03T00:00:00Z") };
    let again = repository.update(alice.id, no_password).await.expect("updated");
    assert_eq!(again.token_version, updated.token_version, "only a password change bumps it");
    // The old username is free again; the new one is taken.
    create(&repository, with_email(new_user("alice"), "new-alice@example.com")).await;
    let clash = with_email(new_user("ALICIA"), "x@example.com");
    assert!(matches!(repository.create(clash).await, Err(CreateUserError::UsernameTaken)));
}

pub async fn update_of_a_missing_user_is_not_found(repository: Arc<dyn UserRepository>) {
    let id = UserId::new(424242).expect("id");
    let result = repository.update(id, empty_patch("2026-02-02T00:00:00Z")).await;
    assert!(matches!(result, Err(UpdateUserError::NotFound)));
}

pub async fn update_refuses_a_username_or_email_of_another_user(repository: Arc<dyn UserRepository>) {
    let alice = create(&repository, new_user("alice")).await;
    create(&repository, new_user("bob")).await;
    let to_bob =
        UserPatch { username: Some(Username::parse("BOB").expect("valid")), ..empty_patch("2026-02-02T00:00:00Z") };
    assert!(matches!(repository.update(alice.id, to_bob).await, Err(UpdateUserError::UsernameTaken)));
    let to_bobs_email = UserPatch {
        email: Some(Email::parse("bob@example.com").expect("valid")),
        ..empty_patch("2026-02-02T00:00:00Z")
    };
    assert!(matches!(repository.update(alice.id, to_bobs_email).await, Err(UpdateUserError::EmailTaken)));
    // Changing the case of one's own username is no clash.
    let own =
        UserPatch { username: Some(Username::parse("ALICE").expect("valid")), ..empty_patch("2026-02-02T00:00:00Z") };
    let renamed = repository.update(alice.id, own).await.expect("own name in another case");
    assert_eq!(renamed.username.as_str(), "ALICE");
    let unchanged = repository.find_by_id(alice.id).await.expect("read").expect("exists");
    assert_eq!(unchanged.email, alice.email, "refused updates wrote nothing");
}

pub async fn an_update_expecting_another_email_writes_nothing(repository: Arc<dyn UserRepository>) {
    // A password reset mailed to alice's former address, landing after she moved to a new one.
    let alice = create(&repository, new_user("alice")).await;
    let reset = |expected: &str| UserPatch {
        password_hash: Some(PasswordHash::new("$2b$04$reset")),
        email_verified: Some(true),
        expected_email: Some(Email::parse(expected).expect("valid")),
        ..empty_patch("2026-02-02T00:00:00Z")
    };
    let stale = repository.update(alice.id, reset("alice.old@example.com")).await;
    assert!(matches!(stale, Err(UpdateUserError::EmailChanged)), "{stale:?}");
    let unchanged = repository.find_by_id(alice.id).await.expect("read").expect("exists");
    assert_eq!(unchanged, alice, "nothing written, the token version included");
    // The address compares as emails do, case-insensitively.
    let current = repository.update(alice.id, reset("ALICE@example.com")).await.expect("the address she has");
    assert!(current.email_verified);
    assert_eq!(current.token_version, alice.token_version + 1);
}

pub async fn the_last_admin_cannot_be_demoted_or_deleted(repository: Arc<dyn UserRepository>) {
    let root = create(&repository, admin("root")).await;
    let demote = UserPatch { role: Some(Role::User), ..empty_patch("2026-02-02T00:00:00Z") };
    assert!(matches!(repository.update(root.id, demote.clone()).await, Err(UpdateUserError::LastAdmin)));
    assert!(matches!(repository.delete(root.id, at(NOW)).await, Err(DeleteUserError::LastAdmin)));
    // A second admin: either one may go, but not both.
    let second = create(&repository, admin("second")).await;
    repository.update(root.id, demote.clone()).await.expect("demoted: another admin remains");
    assert!(matches!(repository.delete(second.id, at(NOW)).await, Err(DeleteUserError::LastAdmin)));
    assert!(matches!(repository.update(second.id, demote).await, Err(UpdateUserError::LastAdmin)));
    // Two admins demoting each other at once: one admin must remain.
    let promote = UserPatch { role: Some(Role::Admin), ..empty_patch("2026-02-03T00:00:00Z") };
    repository.update(root.id, promote).await.expect("promoted");
    let demotions = [root.id, second.id].map(|id| {
        let repository = repository.clone();
        tokio::spawn(async move {
            let demote = UserPatch { role: Some(Role::User), ..empty_patch("2026-02-04T00:00:00Z") };
            repository.update(id, demote).await
        })
    });
    let mut demoted = 0;
    for demotion in demotions {
        if demotion.await.expect("task").is_ok() {
            demoted += 1;
        }
    }
    assert_eq!(demoted, 1);
    let admins =
        repository.list(&query(UserFilter { role: Some(Role::Admin), ..UserFilter::default() })).await.expect("listed");
    assert_eq!(admins.total, 1);
}

pub async fn delete_removes_the_user_and_frees_its_names(repository: Arc<dyn UserRepository>) {
    let alice = create(&repository, new_user("alice")).await;
    repository.delete(alice.id, at(NOW)).await.expect("deleted");
    assert_eq!(repository.find_by_id(alice.id).await.expect("read"), None);
    assert!(matches!(repository.delete(alice.id, at(NOW)).await, Err(DeleteUserError::NotFound)));
    create(&repository, new_user("ALICE")).await;
}

pub async fn find_by_login_name_matches_username_or_email_case_insensitively(repository: Arc<dyn UserRepository>) {
    let alice = create(&repository, new_user("alice")).await;
    create(&repository, new_user("bob")).await;
    for name in [LoginName::Username("ALICE".into()), LoginName::Email("Alice@Example.com".into())] {
        assert_eq!(repository.find_by_login_name(&name).await.expect("read"), Some(alice.clone()), "{name:?}");
    }
    for name in [
        LoginName::Username("alice@example.com".into()),
        LoginName::Email("alice".into()),
        LoginName::Username("\u{212A}alice".into()),
        LoginName::Username("ali\0ce".into()),
        LoginName::Email("nobody@example.com".into()),
    ] {
        assert_eq!(repository.find_by_login_name(&name).await.expect("read"), None, "{name:?}");
    }
}

pub async fn list_filters_case_insensitively(repository: Arc<dyn UserRepository>) {
    let mut named = new_user("carol");
    named.name = Some(DisplayName::parse("Carol Ann Smith").expect("valid"));
    create(&repository, new_user("Alice")).await;
    create(&repository, admin("bob")).await;
    create(&repository, named).await;
    let by_username = UserFilter { username: Some("ALICE".into()), ..UserFilter::default() };
    assert_eq!(list(&repository, query(by_username)).await, (vec!["Alice".into()], 1));
    let by_email = UserFilter { email: Some("Bob@EXAMPLE.com".into()), ..UserFilter::default() };
    assert_eq!(list(&repository, query(by_email)).await, (vec!["bob".into()], 1));
    let partial_username_is_no_match = UserFilter { username: Some("ali".into()), ..UserFilter::default() };
    assert_eq!(list(&repository, query(partial_username_is_no_match)).await, (vec![], 0));
    let by_role = UserFilter { role: Some(Role::Admin), ..UserFilter::default() };
    assert_eq!(list(&repository, query(by_role)).await, (vec!["bob".into()], 1));
    let by_name = UserFilter { q: Some("ANN SM".into()), ..UserFilter::default() };
    assert_eq!(list(&repository, query(by_name)).await, (vec!["carol".into()], 1));
    let by_q_in_username = UserFilter { q: Some("LIC".into()), ..UserFilter::default() };
    assert_eq!(list(&repository, query(by_q_in_username)).await, (vec!["Alice".into()], 1));
    let by_email_domain = UserFilter { q: Some("@EXAMPLE".into()), ..UserFilter::default() };
    assert_eq!(list(&repository, query(by_email_domain)).await.1, 3);
    let combined = UserFilter { role: Some(Role::User), q: Some("a".into()), ..UserFilter::default() };
    assert_eq!(list(&repository, query(combined)).await, (vec!["Alice".into(), "carol".into()], 2));
}

pub async fn list_q_treats_percent_and_underscore_literally(repository: Arc<dyn UserRepository>) {
    create(&repository, new_user("a_b")).await;
    create(&repository, new_user("axb")).await;
    let mut percent = new_user("percent");
    percent.name = Some(DisplayName::parse("100% sure").expect("valid"));
    create(&repository, percent).await;
    let underscore = UserFilter { q: Some("a_b".into()), ..UserFilter::default() };
    assert_eq!(list(&repository, query(underscore)).await, (vec!["a_b".into()], 1));
    let percent = UserFilter { q: Some("0%".into()), ..UserFilter::default() };
    assert_eq!(list(&repository, query(percent)).await, (vec!["percent".into()], 1));
    let nul = UserFilter { q: Some("a\0".into()), username: Some("\0".into()), ..UserFilter::default() };
    assert_eq!(list(&repository, query(nul)).await, (vec![], 0), "a NUL matches nothing, and is no error");
    let backslash = UserFilter { q: Some("\\".into()), ..UserFilter::default() };
    assert_eq!(list(&repository, query(backslash)).await, (vec![], 0));
}

pub async fn list_sorts_by_every_key_both_ways_with_ties_by_id(repository: Arc<dyn UserRepository>) {
    // Insertion order = id order: carol(1), Alice(2), bob(3), alice2(4). created_at ties for Alice and bob.
    let mut carol = with_email(new_user("carol"), "a@example.com");
    carol.created_at = at("2026-01-03T00:00:00Z");
    let mut alice = with_email(new_user("Alice"), "C@example.com");
    alice.created_at = at("2026-01-01T00:00:00Z");
    let mut bob = with_email(new_user("bob"), "b@example.com");
    bob.created_at = at("2026-01-01T00:00:00Z");
    let mut alice2 = with_email(new_user("alice2"), "d@example.com");
    alice2.created_at = at("2026-01-02T00:00:00Z");
    for user in [carol, alice, bob, alice2] {
        create(&repository, user).await;
    }
    let sorted = |sort, direction| ListQuery { sort, direction, ..ListQuery::default() };
    let cases: [(SortKey, SortDirection, [&str; 4]); 8] = [
        (SortKey::Id, SortDirection::Ascending, ["carol", "Alice", "bob", "alice2"]),
        (SortKey::Id, SortDirection::Descending, ["alice2", "bob", "Alice", "carol"]),
        (SortKey::Username, SortDirection::Ascending, ["Alice", "alice2", "bob", "carol"]),
        (SortKey::Username, SortDirection::Descending, ["carol", "bob", "alice2", "Alice"]),
        (SortKey::Email, SortDirection::Ascending, ["carol", "bob", "Alice", "alice2"]),
        (SortKey::Email, SortDirection::Descending, ["alice2", "Alice", "bob", "carol"]),
        // Ties (Alice and bob) broken by id ascending, in both directions.
        (SortKey::CreatedAt, SortDirection::Ascending, ["Alice", "bob", "alice2", "carol"]),
        (SortKey::CreatedAt, SortDirection::Descending, ["carol", "alice2", "Alice", "bob"]),
    ];
    for (key, direction, expected) in cases {
        let (names, _) = list(&repository, sorted(key, direction)).await;
        assert_eq!(names, expected, "{key:?} {direction:?}");
    }
    // updated_at: all equal to created_at until one is updated.
    let first = repository.list(&sorted(SortKey::Id, SortDirection::Ascending)).await.expect("listed").users[0].id;
    repository
        .update(
            first,
            UserPatch {
                age: Some(None),
                name: Some(Some(DisplayName::parse("x").expect("valid"))),
                ..empty_patch("2026-01-01T12:00:00Z")
            },
        )
        .await
        .expect("updated");
    let (names, _) = list(&repository, sorted(SortKey::UpdatedAt, SortDirection::Ascending)).await;
    assert_eq!(names, ["Alice", "bob", "carol", "alice2"]);
    let (names, _) = list(&repository, sorted(SortKey::UpdatedAt, SortDirection::Descending)).await;
    assert_eq!(names, ["alice2", "carol", "Alice", "bob"]);
}

pub async fn list_pages_with_limit_offset_and_total(repository: Arc<dyn UserRepository>) {
    for i in 0..7 {
        create(&repository, new_user(&format!("user{i}"))).await;
    }
    let page = |limit, offset| ListQuery { limit, offset, ..ListQuery::default() };
    assert_eq!(list(&repository, page(3, 0)).await, (vec!["user0".into(), "user1".into(), "user2".into()], 7));
    assert_eq!(list(&repository, page(3, 6)).await, (vec!["user6".into()], 7));
    assert_eq!(list(&repository, page(3, 7)).await, (vec![], 7));
    assert_eq!(list(&repository, page(100, u64::from(u32::MAX) * 4)).await, (vec![], 7));
    let none = ListQuery { filter: UserFilter { q: Some("nobody".into()), ..UserFilter::default() }, ..page(3, 0) };
    assert_eq!(list(&repository, none).await, (vec![], 0));
    // A filter no kept count serves: the total is the same whether the page ends the matches or not.
    let q_user = |limit, offset| ListQuery {
        filter: UserFilter { q: Some("USER".into()), ..UserFilter::default() },
        ..page(limit, offset)
    };
    assert_eq!(list(&repository, q_user(10, 5)).await, (vec!["user5".into(), "user6".into()], 7));
    assert_eq!(list(&repository, q_user(2, 1)).await, (vec!["user1".into(), "user2".into()], 7));
    assert_eq!(list(&repository, q_user(2, 9)).await, (vec![], 7));
}

pub async fn timestamps_keep_microseconds_on_every_read(repository: Arc<dyn UserRepository>) {
    let mut user = new_user("alice");
    user.created_at = at("2026-03-04T05:06:07.123456Z");
    let created = create(&repository, user).await;
    assert_eq!(created.created_at.to_string(), "2026-03-04T05:06:07.123456Z");
    let patch =
        UserPatch { age: Some(Some(Age::parse(5).expect("valid"))), ..empty_patch("2026-03-04T05:06:08.000001Z") };
    let updated = repository.update(created.id, patch).await.expect("updated");
    let read = repository.find_by_id(created.id).await.expect("read").expect("exists");
    let listed = repository.list(&ListQuery::default()).await.expect("listed").users;
    for seen in [&updated, &read, &listed[0]] {
        assert_eq!(seen.created_at.to_string(), "2026-03-04T05:06:07.123456Z");
        assert_eq!(seen.updated_at.to_string(), "2026-03-04T05:06:08.000001Z");
    }
}

fn disabled(until: Option<&str>) -> AccountStatus {
    AccountStatus::Disabled { until: until.map(at) }
}

fn status_patch(status: AccountStatus, at_time: &str) -> UserPatch {
    UserPatch { status: Some(status), ..empty_patch(at_time) }
}

pub async fn lifecycle_fields_are_kept_and_a_disable_ends_sessions(repository: Arc<dyn UserRepository>) {
    let banned =
        NewUser { status: disabled(Some("2026-05-01T00:00:00.654321Z")), email_verified: true, ..new_user("banned") };
    let created = create(&repository, banned.clone()).await;
    assert_eq!(created.status, banned.status);
    assert!(created.email_verified);
    assert_eq!(created.last_login_at, None);
    assert_eq!(repository.find_by_id(created.id).await.expect("read"), Some(created.clone()));
    let alice = create(&repository, new_user("alice")).await;
    assert_eq!((alice.status, alice.email_verified), (AccountStatus::Active, false), "the defaults");
    // A disable (for good) bumps the token version; re-enabling and verifying do not.
    let disable = status_patch(disabled(None), "2026-02-02T00:00:00Z");
    let off = repository.update(alice.id, disable.clone()).await.expect("disabled");
    assert_eq!(off, disable.apply_to(&alice));
    assert_eq!(off.status, disabled(None));
    assert_eq!(off.token_version, alice.token_version + 1, "a disable ends older tokens");
    let enable =
        UserPatch { email_verified: Some(true), ..status_patch(AccountStatus::Active, "2026-02-03T00:00:00Z") };
    let on = repository.update(alice.id, enable).await.expect("enabled");
    assert_eq!((on.status, on.email_verified, on.token_version), (AccountStatus::Active, true, off.token_version));
    // A ban with an end keeps its end; a later change of status clears it.
    let until = status_patch(disabled(Some("2026-03-01T00:00:00.000001Z")), "2026-02-04T00:00:00Z");
    let timed = repository.update(alice.id, until).await.expect("disabled");
    assert_eq!(timed.status.disabled_until(), Some(at("2026-03-01T00:00:00.000001Z")));
    let forever = repository.update(alice.id, status_patch(disabled(None), "2026-02-05T00:00:00Z")).await;
    assert_eq!(forever.expect("disabled").status, disabled(None));
    assert_eq!(repository.find_by_id(alice.id).await.expect("read").expect("exists").status, disabled(None));
}

pub async fn the_last_active_admin_cannot_be_disabled_demoted_or_deleted(repository: Arc<dyn UserRepository>) {
    let root = create(&repository, admin("root")).await;
    // A disabled admin is no admin that remains.
    let banned =
        create(&repository, NewUser { status: disabled(Some("2026-02-10T00:00:00Z")), ..admin("banned") }).await;
    let before_the_end = "2026-02-02T00:00:00Z";
    let disable = status_patch(disabled(None), before_the_end);
    assert!(matches!(repository.update(root.id, disable.clone()).await, Err(UpdateUserError::LastAdmin)));
    let demote = UserPatch { role: Some(Role::User), ..empty_patch(before_the_end) };
    assert!(matches!(repository.update(root.id, demote).await, Err(UpdateUserError::LastAdmin)));
    assert!(matches!(repository.delete(root.id, at(before_the_end)).await, Err(DeleteUserError::LastAdmin)));
    let unchanged = repository.find_by_id(root.id).await.expect("read").expect("exists");
    assert_eq!(unchanged, root, "refused writes wrote nothing");
    // Once the ban has lifted itself, the other admin counts again.
    let after_the_end = "2026-02-11T00:00:00Z";
    let off = repository.update(root.id, status_patch(disabled(None), after_the_end)).await.expect("disabled");
    assert_eq!(off.status, disabled(None));
    // Now `banned` is the only active admin; disabling it is refused, as is deleting it.
    let again = status_patch(disabled(None), "2026-02-12T00:00:00Z");
    assert!(matches!(repository.update(banned.id, again).await, Err(UpdateUserError::LastAdmin)));
    assert!(matches!(repository.delete(banned.id, at("2026-02-12T00:00:00Z")).await, Err(DeleteUserError::LastAdmin)));
    // A disabled admin may itself be deleted or demoted.
    let demote_root = UserPatch { role: Some(Role::User), ..empty_patch("2026-02-12T00:00:00Z") };
    repository.update(root.id, demote_root).await.expect("a disabled admin may be demoted");
    // Two active admins disabling each other at once: one active admin must remain.
    let enable_root =
        UserPatch { role: Some(Role::Admin), ..status_patch(AccountStatus::Active, "2026-02-13T00:00:00Z") };
    repository.update(root.id, enable_root).await.expect("enabled");
    let disables = [root.id, banned.id].map(|id| {
        let repository = repository.clone();
        tokio::spawn(async move { repository.update(id, status_patch(disabled(None), "2026-02-14T00:00:00Z")).await })
    });
    let mut disabled_now = 0;
    for disable in disables {
        match disable.await.expect("task") {
            Ok(_) => disabled_now += 1,
            Err(UpdateUserError::LastAdmin) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(disabled_now, 1);
}

pub async fn record_login_moves_only_last_login_at_and_only_at_the_read_version(repository: Arc<dyn UserRepository>) {
    let alice = create(&repository, new_user("alice")).await;
    let login = at("2026-02-02T02:02:02.000002Z");
    assert!(repository.record_login(alice.id, alice.token_version, login).await.expect("recorded"));
    let read = repository.find_by_id(alice.id).await.expect("read").expect("exists");
    assert_eq!(read.last_login_at, Some(login));
    assert_eq!(read.updated_at, alice.updated_at, "a login does not move updated_at");
    // A password change committed since the login read the user: nothing recorded.
    let change =
        UserPatch { password_hash: Some(PasswordHash::new("$2b$04$new")), ..empty_patch("2026-02-03T00:00:00Z") };
    let changed = repository.update(alice.id, change).await.expect("updated");
    let late = at("2026-02-04T00:00:00Z");
    assert!(!repository.record_login(alice.id, alice.token_version, late).await.expect("answered"));
    let read = repository.find_by_id(alice.id).await.expect("read").expect("exists");
    assert_eq!(read.last_login_at, Some(login));
    assert!(repository.record_login(alice.id, changed.token_version, late).await.expect("recorded"));
    let missing = UserId::new(424242).expect("id");
    assert!(!repository.record_login(missing, 0, late).await.expect("answered"));
}

pub async fn list_filters_by_status_judging_bans_at_the_filter_time(repository: Arc<dyn UserRepository>) {
    create(&repository, new_user("active")).await;
    create(&repository, NewUser { status: disabled(None), ..new_user("forever") }).await;
    create(&repository, NewUser { status: disabled(Some("2026-02-10T00:00:00Z")), ..new_user("timed") }).await;
    let by_status = |status, when: &str| {
        query(UserFilter { status: Some(StatusFilter { status, at: at(when) }), ..UserFilter::default() })
    };
    let before = "2026-02-09T23:59:59.999999Z";
    assert_eq!(
        list(&repository, by_status(UserStatus::Disabled, before)).await,
        (vec!["forever".into(), "timed".into()], 2)
    );
    assert_eq!(list(&repository, by_status(UserStatus::Active, before)).await, (vec!["active".into()], 1));
    let at_the_end = "2026-02-10T00:00:00Z";
    assert_eq!(list(&repository, by_status(UserStatus::Disabled, at_the_end)).await, (vec!["forever".into()], 1));
    assert_eq!(
        list(&repository, by_status(UserStatus::Active, at_the_end)).await,
        (vec!["active".into(), "timed".into()], 2)
    );
    // Combined with another filter.
    let both = ListQuery {
        filter: UserFilter { q: Some("TIM".into()), ..by_status(UserStatus::Disabled, before).filter },
        ..ListQuery::default()
    };
    assert_eq!(list(&repository, both).await, (vec!["timed".into()], 1));
}

/// Every user of `query`'s listing, walked page by page with `starting_after` (limit 2).
async fn walk_after(repository: &Arc<dyn UserRepository>, query: &ListQuery) -> Vec<UserId> {
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page_query = ListQuery { limit: 2, starting_after: after, ..query.clone() };
        let page = repository.list(&page_query).await.expect("listed");
        seen.extend(page.users.iter().map(|u| u.id));
        match (page.has_more, page.users.last()) {
            (true, Some(last)) => after = Some(last.id),
            _ => break,
        }
        assert!(seen.len() <= 100, "the walk ends");
    }
    seen
}

/// Users with ties on every timestamp and names that sort apart from their ids.
async fn users_with_ties(repository: &Arc<dyn UserRepository>) {
    let times = ["2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"];
    for (i, name) in ["delta", "Alpha", "charlie", "bravo", "echo", "Foxtrot", "golf"].into_iter().enumerate() {
        let mut user = new_user(name);
        user.created_at = at(times[i % times.len()]);
        user.role = if i % 3 == 0 { Role::Admin } else { Role::User };
        create(repository, user).await;
    }
}

pub async fn list_pages_after_a_user_in_every_order(repository: Arc<dyn UserRepository>) {
    users_with_ties(&repository).await;
    let filters = [
        UserFilter::default(),
        UserFilter { role: Some(Role::User), ..UserFilter::default() },
        UserFilter { q: Some("O@EX".into()), ..UserFilter::default() },
    ];
    for filter in filters {
        for sort in SortKey::ALL {
            for direction in [SortDirection::Ascending, SortDirection::Descending] {
                let query = ListQuery { filter: filter.clone(), sort, direction, limit: 100, ..ListQuery::default() };
                let all: Vec<UserId> =
                    repository.list(&query).await.expect("listed").users.iter().map(|u| u.id).collect();
                assert!(!all.is_empty());
                assert_eq!(walk_after(&repository, &query).await, all, "{sort:?} {direction:?} {filter:?}");
                // The total counts every match, wherever the page starts.
                let after_first = ListQuery { starting_after: Some(all[0]), limit: 1, ..query.clone() };
                let page = repository.list(&after_first).await.expect("listed");
                assert_eq!(page.total, all.len() as u64);
                assert_eq!(page.users.first().map(|u| u.id), all.get(1).copied());
                assert_eq!(page.has_more, all.len() > 2);
                // After the last one: an empty page, and nothing more.
                let after_last = ListQuery { starting_after: all.last().copied(), ..query.clone() };
                let page = repository.list(&after_last).await.expect("listed");
                assert!(page.users.is_empty() && !page.has_more);
            }
        }
    }
}

pub async fn list_after_a_user_the_listing_does_not_hold_is_refused(repository: Arc<dyn UserRepository>) {
    let alice = create(&repository, new_user("alice")).await;
    let root = create(&repository, admin("root")).await;
    let gone = create(&repository, new_user("gone")).await;
    repository.delete(gone.id, at(NOW)).await.expect("deleted");
    let after = |id, filter| ListQuery { filter, starting_after: Some(id), ..ListQuery::default() };
    let admins = UserFilter { role: Some(Role::Admin), ..UserFilter::default() };
    let refused = [
        after(gone.id, UserFilter::default()),
        after(UserId::new(424242).expect("id"), UserFilter::default()),
        after(alice.id, admins.clone()),
        after(root.id, UserFilter { q: Some("ali".into()), ..UserFilter::default() }),
        after(root.id, UserFilter { q: Some("\0".into()), ..UserFilter::default() }),
    ];
    for query in refused {
        let listed = repository.list(&query).await;
        assert!(matches!(listed, Err(ListUsersError::StartingAfterNotListed)), "{query:?}: {listed:?}");
    }
    let page = repository.list(&after(root.id, admins)).await.expect("a user the filters match");
    assert!(page.users.is_empty() && !page.has_more);
    assert_eq!(page.total, 1);
}

async fn totals(repository: &Arc<dyn UserRepository>) -> [u64; 3] {
    let total = |role| async move {
        let filter = UserFilter { role, ..UserFilter::default() };
        repository.list(&query(filter)).await.expect("listed").total
    };
    [total(None).await, total(Some(Role::User)).await, total(Some(Role::Admin)).await]
}

pub async fn list_totals_follow_creates_deletes_and_role_changes(repository: Arc<dyn UserRepository>) {
    assert_eq!(totals(&repository).await, [0, 0, 0]);
    let root = create(&repository, admin("root")).await;
    let alice = create(&repository, new_user("alice")).await;
    let bob = create(&repository, new_user("bob")).await;
    assert_eq!(totals(&repository).await, [3, 2, 1]);
    let promote = UserPatch { role: Some(Role::Admin), ..empty_patch("2026-02-01T00:00:00Z") };
    repository.update(alice.id, promote.clone()).await.expect("promoted");
    assert_eq!(totals(&repository).await, [3, 1, 2]);
    repository.update(alice.id, promote).await.expect("the same role again");
    let rename =
        UserPatch { name: Some(Some(DisplayName::parse("B").expect("valid"))), ..empty_patch("2026-02-02T00:00:00Z") };
    repository.update(bob.id, rename).await.expect("renamed");
    assert_eq!(totals(&repository).await, [3, 1, 2], "no role moved");
    repository.delete(bob.id, at(NOW)).await.expect("deleted");
    assert_eq!(totals(&repository).await, [2, 0, 2]);
    // Refused writes move nothing.
    assert!(repository.create(new_user("ROOT")).await.is_err());
    repository.delete(root.id, at(NOW)).await.expect("another admin remains");
    let demote = UserPatch { role: Some(Role::User), ..empty_patch("2026-02-03T00:00:00Z") };
    assert!(matches!(repository.update(alice.id, demote).await, Err(UpdateUserError::LastAdmin)));
    assert!(matches!(repository.delete(alice.id, at(NOW)).await, Err(DeleteUserError::LastAdmin)));
    assert_eq!(totals(&repository).await, [1, 0, 1]);
}

pub async fn list_totals_stay_exact_under_concurrent_role_changes_and_deletes(repository: Arc<dyn UserRepository>) {
    create(&repository, admin("root")).await;
    let mut ids = Vec::new();
    for i in 0..12 {
        ids.push(create(&repository, new_user(&format!("user{i}"))).await.id);
    }
    // Promotions and demotions of the same users, and deletes of others, all at once.
    let writes: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(i, &id)| {
            let repository = repository.clone();
            tokio::spawn(async move {
                match i % 3 {
                    0 => repository.delete(id, at(NOW)).await.map_err(|e| e.to_string()),
                    _ => {
                        let role = if i % 3 == 1 { Role::Admin } else { Role::User };
                        let patch = UserPatch { role: Some(Role::Admin), ..empty_patch("2026-02-01T00:00:00Z") };
                        repository.update(id, patch).await.map_err(|e| e.to_string())?;
                        let patch = UserPatch { role: Some(role), ..empty_patch("2026-02-02T00:00:00Z") };
                        repository.update(id, patch).await.map(drop).map_err(|e| e.to_string())
                    }
                }
            })
        })
        .collect();
    for write in writes {
        write.await.expect("task").expect("written");
    }
    let everyone = repository.list(&ListQuery { limit: 100, ..ListQuery::default() }).await.expect("listed").users;
    let admins = everyone.iter().filter(|u| u.role == Role::Admin).count() as u64;
    assert_eq!(totals(&repository).await, [everyone.len() as u64, everyone.len() as u64 - admins, admins]);
    assert_eq!(everyone.len(), 9);
    assert_eq!(admins, 5, "root and the four promoted to stay");
}

pub async fn list_q_matches_the_reference_folding_over_tricky_names(repository: Arc<dyn UserRepository>) {
    let names = [
        "\u{212A}elvin Sign",
        "kelvin plain",
        "\u{0130}stanbul",
        "istanbul",
        "\u{0130}I\u{0131}i",
        "ΟΔΟΣ ΣΟΦΟΣ",
        "οδοσ",
        "Straße",
        "STRASSE",
        "100% _sure_",
        "a\\b",
    ];
    for (i, name) in names.into_iter().enumerate() {
        let mut user = new_user(&format!("user{i}"));
        user.name = Some(DisplayName::parse(name).expect("valid"));
        create(&repository, user).await;
    }
    create(&repository, new_user("Kelvin_2")).await;
    let everyone = repository.list(&ListQuery { limit: 100, ..ListQuery::default() }).await.expect("listed").users;
    let qs = [
        "kel",
        "\u{212A}el",
        "KEL",
        "\u{212A}ELVIN",
        "k",
        "\u{212A}",
        "elvin",
        "İst",
        "i\u{307}st",
        "ist",
        "STAN",
        "ı",
        "\u{0130}i",
        "οδος",
        "ΟΔΟΣ",
        "ς",
        "σοφος",
        "Σ",
        "straße",
        "STRASSE",
        "ss",
        "ß",
        "%",
        "_",
        "% _",
        "_s",
        "0%",
        "\\",
        "a\\b",
        "e",
        "el",
        "n_2",
        "user1",
        "@example",
        "ser1@e",
    ];
    assert_q_lists_what_the_reference_matches(&repository, &everyone, &qs).await;
}

/// A store may search `q` by a part of it that few users hold (every user here holds `user` and `@example.`):
/// whatever part it picks, the answer is `q`'s.
pub async fn list_q_finds_its_matches_among_users_who_share_most_of_it(repository: Arc<dyn UserRepository>) {
    for k in 0..250 {
        let mut user = with_email(new_user(&format!("user{k}")), &format!("user{k}@example.com"));
        user.name = Some(DisplayName::parse(&format!("User {k}")).expect("valid"));
        create(&repository, user).await;
    }
    let mut zed = with_email(new_user("Zed_1"), "zed@example.org");
    zed.name = Some(DisplayName::parse("\u{212A}elvin User").expect("valid"));
    create(&repository, zed).await;
    let everyone = all_users(&repository).await;
    let qs = [
        "user142@",
        "USER142@EXAMPLE.COM",
        "ser14",
        "r142@e",
        "er 14",
        "user1",
        "@example.com",
        "example.",
        "zed@e",
        "zed@example.org",
        "d_1",
        "\u{212A}elvin",
        "kelvin",
        "elvin user",
        "user999",
        "42@ex",
        "r1_",
        "9@ex",
        "er24",
    ];
    assert_q_lists_what_the_reference_matches(&repository, &everyone, &qs).await;
}

/// Each `q`'s first page (100, by id) and total are those of `UserFilter::matches` over `everyone`.
async fn assert_q_lists_what_the_reference_matches(
    repository: &Arc<dyn UserRepository>,
    everyone: &[User],
    qs: &[&str],
) {
    for &q in qs {
        let filter = UserFilter { q: Some(q.into()), ..UserFilter::default() };
        let expected: Vec<UserId> = everyone.iter().filter(|u| filter.matches(u)).map(|u| u.id).collect();
        let page = repository.list(&ListQuery { filter, limit: 100, ..ListQuery::default() }).await.expect("listed");
        let found: Vec<UserId> = page.users.iter().map(|u| u.id).collect();
        assert_eq!(found, expected.iter().copied().take(100).collect::<Vec<_>>(), "q = {q:?}");
        assert_eq!(page.total, expected.len() as u64, "q = {q:?}");
    }
}

/// Every user, by id, through pages of 100.
async fn all_users(repository: &Arc<dyn UserRepository>) -> Vec<User> {
    let mut everyone: Vec<User> = Vec::new();
    loop {
        let starting_after = everyone.last().map(|u| u.id);
        let query = ListQuery { limit: 100, starting_after, ..ListQuery::default() };
        let page = repository.list(&query).await.expect("listed").users;
        if page.is_empty() {
            return everyone;
        }
        everyone.extend(page);
    }
}

/// Generates one `#[tokio::test]` per case of the refresh-token and login-failure store contract. `$make` gives
/// a fresh storage implementing all three storage ports and a guard, or `None` to skip.
#[macro_export]
macro_rules! auth_store_contract_tests {
    ($make:expr $(, #[$attr:meta])* $(,)?) => {
        $crate::auth_store_contract_tests!(@cases { $(#[$attr])* } $make;
            a_refresh_token_is_spent_once_and_reuse_revokes_its_family,
            a_password_change_ends_the_sessions_begun_before_it,
            concurrent_spends_of_one_token_let_exactly_one_win,
            unknown_and_expired_refresh_tokens_are_invalid,
            revoking_a_family_ends_its_tokens,
            revoking_a_user_ends_all_their_families_only,
            purge_removes_expired_refresh_tokens,
            login_failures_are_kept_per_key_in_order,
            clearing_and_purging_login_failures,
            forgetting_a_login_failure_keeps_the_others,
            an_import_batch_stores_its_users_and_reports_taken_names_per_user,
            an_export_reads_keyset_pages_by_id_with_the_filters,
            a_password_hash_is_replaced_only_while_unchanged,
            queued_mail_is_claimed_by_one_sender_until_its_lease_ends,
            concurrent_claims_give_each_mail_to_one_sender,
            the_address_limit_counts_the_mails_of_the_window,
            a_mail_token_is_taken_once_and_only_until_it_expires,
            purging_mail_removes_expired_tokens_and_old_finished_mails,
            concurrent_queueings_to_one_address_keep_its_limit,
            find_caller_checks_the_session_in_the_same_read,
            concurrent_callers_each_get_their_own_session_check,
            sessions_are_listed_newest_first_with_their_last_use,
            sessions_are_revoked_one_or_all_but_one,
            a_token_spent_within_the_grace_is_repeated_until_its_successor_is_spent,
            concurrent_spends_within_the_grace_all_converge_on_one_successor,
        );
    };
    (@cases $attrs:tt $make:expr; $($case:ident),+ $(,)?) => {
        $( $crate::contract_case!($attrs $make; $case); )+
    };
}

pub use crate::ports::Storage;

fn minutes_after(start: Timestamp, minutes: i64) -> Timestamp {
    Timestamp::from_datetime(start.as_datetime() + time::Duration::minutes(minutes))
}

async fn refresh_token(storage: &Arc<dyn Storage>, user: UserId, hash: &str, family: &str, expires_at: Timestamp) {
    refresh_token_at_version(storage, user, hash, family, expires_at, 0).await;
}

async fn refresh_token_at_version(
    storage: &Arc<dyn Storage>,
    user: UserId,
    hash: &str,
    family: &str,
    expires_at: Timestamp,
    token_version: i64,
) {
    let token = StoredRefreshToken {
        token_hash: hash.to_owned(),
        user_id: user,
        family_id: family.to_owned(),
        expires_at,
        token_version,
        issued_at: at(NOW),
        client: ClientInfo::default(),
    };
    storage.insert(token).await.expect("stored");
}

const NOW: &str = "2026-03-01T12:00:00.123456Z";

pub async fn a_refresh_token_is_spent_once_and_reuse_revokes_its_family(storage: Arc<dyn Storage>) {
    let now = at(NOW);
    let user = storage.create(new_user("alice")).await.expect("created").id;
    refresh_token(&storage, user, "h1", "fam", minutes_after(now, 60)).await;
    let spent = SpendOutcome::Spent { user_id: user, family_id: "fam".into(), token_version: 0 };
    assert_eq!(storage.spend("h1", now, None).await.expect("spend"), spent);
    // Rotation: the next token of the family works, once.
    refresh_token(&storage, user, "h2", "fam", minutes_after(now, 60)).await;
    refresh_token(&storage, user, "h3", "fam", minutes_after(now, 60)).await;
    assert_eq!(storage.spend("h2", now, None).await.expect("spend"), spent);
    // Reusing the spent h1: reuse, and the whole family is revoked, the newest token too.
    let reused = SpendOutcome::Reused { user_id: user, family_id: "fam".into() };
    assert_eq!(storage.spend("h1", now, None).await.expect("spend"), reused);
    assert_eq!(storage.spend("h3", now, None).await.expect("spend"), reused);
    // A token stored into a revoked family (a rotation racing the revocation) does not work either.
    refresh_token(&storage, user, "h4", "fam", minutes_after(now, 60)).await;
    assert_eq!(storage.spend("h4", now, None).await.expect("spend"), reused);
}

pub async fn a_password_change_ends_the_sessions_begun_before_it(storage: Arc<dyn Storage>) {
    let now = at(NOW);
    let alice = storage.create(new_user("alice")).await.expect("created");
    let later = minutes_after(now, 60);
    refresh_token_at_version(&storage, alice.id, "before", "fam-before", later, alice.token_version).await;
    let patch = UserPatch { password_hash: Some(PasswordHash::new("$2b$04$new")), ..empty_patch(NOW) };
    let changed = storage.update(alice.id, patch).await.expect("updated");
    // A login that checked the old password stores its token only after the change: still at the old version.
    refresh_token_at_version(&storage, alice.id, "raced", "fam-raced", later, alice.token_version).await;
    refresh_token_at_version(&storage, alice.id, "after", "fam-after", later, changed.token_version).await;
    for hash in ["before", "raced"] {
        let outcome = storage.spend(hash, now, None).await.expect("spend");
        assert!(matches!(outcome, SpendOutcome::Reused { .. }), "{hash}: {outcome:?}");
    }
    let after = storage.spend("after", now, None).await.expect("spend");
    let expected =
        SpendOutcome::Spent { user_id: alice.id, family_id: "fam-after".into(), token_version: changed.token_version };
    assert_eq!(after, expected);
    // A deleted user's tokens are gone with them.
    refresh_token_at_version(&storage, alice.id, "orphan", "fam-after", later, changed.token_version).await;
    storage.delete(alice.id, at(NOW)).await.expect("deleted");
    assert_eq!(storage.spend("orphan", now, None).await.expect("spend"), SpendOutcome::Invalid);
    // A login that raced the delete stores its token after it: nothing is stored, and that is no error.
    refresh_token_at_version(&storage, alice.id, "late", "fam-late", later, changed.token_version).await;
    assert_eq!(storage.spend("late", now, None).await.expect("spend"), SpendOutcome::Invalid);
}

pub async fn concurrent_spends_of_one_token_let_exactly_one_win(storage: Arc<dyn Storage>) {
    let now = at(NOW);
    let user = storage.create(new_user("alice")).await.expect("created").id;
    refresh_token(&storage, user, "hot", "fam", minutes_after(now, 60)).await;
    let spends: Vec<_> = (0..20)
        .map(|_| {
            let storage = storage.clone();
            tokio::spawn(async move { storage.spend("hot", now, None).await })
        })
        .collect();
    let mut spent = 0;
    for spend in spends {
        match spend.await.expect("task").expect("spend") {
            SpendOutcome::Spent { .. } => spent += 1,
            SpendOutcome::Reused { .. } => {}
            other => panic!("without a grace, a known token is spent or reused: {other:?}"),
        }
    }
    assert_eq!(spent, 1);
}

pub async fn unknown_and_expired_refresh_tokens_are_invalid(storage: Arc<dyn Storage>) {
    let now = at(NOW);
    let user = storage.create(new_user("alice")).await.expect("created").id;
    assert_eq!(storage.spend("never-issued", now, None).await.expect("spend"), SpendOutcome::Invalid);
    refresh_token(&storage, user, "old", "fam", now).await;
    assert_eq!(storage.spend("old", now, None).await.expect("spend"), SpendOutcome::Invalid, "expires at `now`");
}

pub async fn revoking_a_family_ends_its_tokens(storage: Arc<dyn Storage>) {
    let now = at(NOW);
    let user = storage.create(new_user("alice")).await.expect("created").id;
    refresh_token(&storage, user, "a1", "fam-a", minutes_after(now, 60)).await;
    refresh_token(&storage, user, "b1", "fam-b", minutes_after(now, 60)).await;
    storage.revoke_family_of("a1", now).await.expect("revoked");
    storage.revoke_family_of("unknown", now).await.expect("revoking an unknown token is no error");
    assert!(matches!(storage.spend("a1", now, None).await.expect("spend"), SpendOutcome::Reused { .. }));
    assert!(matches!(storage.spend("b1", now, None).await.expect("spend"), SpendOutcome::Spent { .. }), "other family");
}

pub async fn revoking_a_user_ends_all_their_families_only(storage: Arc<dyn Storage>) {
    let now = at(NOW);
    let alice = storage.create(new_user("alice")).await.expect("created").id;
    let bob = storage.create(new_user("bob")).await.expect("created").id;
    refresh_token(&storage, alice, "a1", "fam-a1", minutes_after(now, 60)).await;
    refresh_token(&storage, alice, "a2", "fam-a2", minutes_after(now, 60)).await;
    refresh_token(&storage, bob, "b1", "fam-b", minutes_after(now, 60)).await;
    storage.revoke_user(alice, now).await.expect("revoked");
    for hash in ["a1", "a2"] {
        assert!(matches!(storage.spend(hash, now, None).await.expect("spend"), SpendOutcome::Reused { .. }), "{hash}");
    }
    assert!(matches!(storage.spend("b1", now, None).await.expect("spend"), SpendOutcome::Spent { .. }));
}

pub async fn purge_removes_expired_refresh_tokens(storage: Arc<dyn Storage>) {
    let now = at(NOW);
    let user = storage.create(new_user("alice")).await.expect("created").id;
    refresh_token(&storage, user, "expired", "fam-old", minutes_after(now, -1)).await;
    refresh_token(&storage, user, "live", "fam-new", minutes_after(now, 60)).await;
    assert!(storage.purge_refresh_tokens(now).await.expect("purged") >= 1);
    assert_eq!(storage.spend("expired", now, None).await.expect("spend"), SpendOutcome::Invalid);
    assert!(matches!(storage.spend("live", now, None).await.expect("spend"), SpendOutcome::Spent { .. }));
}

pub async fn login_failures_are_kept_per_key_in_order(storage: Arc<dyn Storage>) {
    let now = at(NOW);
    let times = [minutes_after(now, -20), minutes_after(now, -10), minutes_after(now, -1), now];
    for at_time in [times[2], times[0], times[3], times[1]] {
        storage.record("user:1", at_time).await.expect("recorded");
    }
    storage.record("name:bob", now).await.expect("recorded");
    assert_eq!(storage.since("user:1", minutes_after(now, -15)).await.expect("read"), times[1..].to_vec());
    assert_eq!(storage.since("user:1", minutes_after(now, -60)).await.expect("read"), times.to_vec());
    assert_eq!(storage.since("name:bob", minutes_after(now, -60)).await.expect("read"), vec![now]);
    assert!(storage.since("name:carol", minutes_after(now, -60)).await.expect("read").is_empty());
}

pub async fn clearing_and_purging_login_failures(storage: Arc<dyn Storage>) {
    let now = at(NOW);
    for key in ["user:1", "user:2"] {
        storage.record(key, minutes_after(now, -40)).await.expect("recorded");
        storage.record(key, now).await.expect("recorded");
    }
    storage.clear("user:1").await.expect("cleared");
    assert!(storage.since("user:1", minutes_after(now, -60)).await.expect("read").is_empty());
    assert_eq!(storage.purge_login_failures(minutes_after(now, -30)).await.expect("purged"), 1);
    assert_eq!(storage.since("user:2", minutes_after(now, -60)).await.expect("read"), vec![now]);
}

pub async fn forgetting_a_login_failure_keeps_the_others(storage: Arc<dyn Storage>) {
    let now = at(NOW);
    let earlier = minutes_after(now, -1);
    storage.record("user:1", earlier).await.expect("recorded");
    storage.record("user:1", now).await.expect("recorded");
    storage.record("user:2", now).await.expect("recorded");
    storage.forget("user:1", now).await.expect("forgotten");
    assert_eq!(storage.since("user:1", minutes_after(now, -60)).await.expect("read"), vec![earlier]);
    assert_eq!(storage.since("user:2", minutes_after(now, -60)).await.expect("read"), vec![now], "other keys kept");
    storage.forget("user:3", now).await.expect("forgetting nothing is no error");
}

// Users in bulk (import, export) and the rehash at login.

pub async fn an_import_batch_stores_its_users_and_reports_taken_names_per_user(storage: Arc<dyn Storage>) {
    use crate::ports::{ImportedUser, StoredImport};
    storage.create(new_user("taken")).await.expect("created");
    let imported =
        |user: NewUser, updated_at: &str| ImportedUser { user, updated_at: at(updated_at), last_login_at: None };
    let full = NewUser {
        name: Some(DisplayName::parse("Ann Example").expect("valid")),
        age: Some(Age::parse(41).expect("valid")),
        role: Role::Admin,
        password_hash: PasswordHash::new("$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g"),
        created_at: at("2020-05-06T07:08:09.123456Z"),
        status: AccountStatus::Disabled { until: None },
        email_verified: true,
        ..new_user("ann")
    };
    let last_login = at("2021-02-03T04:05:06.000007Z");
    let batch = vec![
        ImportedUser { last_login_at: Some(last_login), ..imported(full.clone(), "2021-01-01T00:00:00.654321Z") },
        imported(new_user("TAKEN"), NOW),
        imported(with_email(new_user("bob"), "Taken@Example.com"), NOW),
        imported(new_user("cid"), NOW),
    ];
    let outcomes = storage.import_users(batch).await.expect("imported");
    assert_eq!(outcomes.len(), 4);
    assert_eq!(&outcomes[1..3], &[StoredImport::UsernameTaken, StoredImport::EmailTaken]);
    let (StoredImport::Created(ann), StoredImport::Created(cid)) = (outcomes[0], outcomes[3]) else {
        panic!("both created: {outcomes:?}");
    };
    assert!(ann < cid, "ids in the batch's order");
    let stored = storage.find_by_id(ann).await.expect("read").expect("stored");
    assert_eq!((stored.username.as_str(), stored.name, stored.age), ("ann", full.name, full.age));
    assert_eq!((stored.role, &stored.password_hash), (Role::Admin, &full.password_hash));
    assert_eq!((stored.created_at, stored.updated_at), (full.created_at, at("2021-01-01T00:00:00.654321Z")));
    assert_eq!((stored.status, stored.email_verified, stored.last_login_at), (full.status, true, Some(last_login)));
    assert!(storage.find_by_login_name(&LoginName::Username("bob".into())).await.expect("read").is_none());
    assert!(storage.import_users(Vec::new()).await.expect("nothing to do").is_empty());
}

pub async fn an_export_reads_keyset_pages_by_id_with_the_filters(storage: Arc<dyn Storage>) {
    let mut ids = Vec::new();
    for name in ["ann", "bob", "cid", "dan", "eve"] {
        let user = if name == "bob" || name == "eve" { admin(name) } else { new_user(name) };
        ids.push(storage.create(user).await.expect("created").id);
    }
    storage.delete(ids[2], at(NOW)).await.expect("deleted");
    let names = |users: Vec<User>| users.iter().map(|u| u.username.as_str().to_owned()).collect::<Vec<_>>();
    let all = UserFilter::default();
    assert_eq!(names(storage.export_users(&all, None, 2).await.expect("read")), ["ann", "bob"]);
    assert_eq!(names(storage.export_users(&all, Some(ids[1]), 2).await.expect("read")), ["dan", "eve"]);
    assert!(storage.export_users(&all, Some(ids[4]), 2).await.expect("read").is_empty());
    let admins = UserFilter { role: Some(Role::Admin), ..UserFilter::default() };
    assert_eq!(names(storage.export_users(&admins, Some(ids[1]), 10).await.expect("read")), ["eve"]);
    let q = UserFilter { q: Some("N".into()), ..UserFilter::default() };
    assert_eq!(names(storage.export_users(&q, None, 10).await.expect("read")), ["ann", "dan"]);
}

pub async fn a_password_hash_is_replaced_only_while_unchanged(storage: Arc<dyn Storage>) {
    let user = storage.create(new_user("ann")).await.expect("created");
    let old = user.password_hash.clone();
    let rehashed = PasswordHash::new("$2b$04$rehashed");
    assert!(storage.replace_password_hash(user.id, &old, &rehashed).await.expect("written"));
    // A second rehash from the same old hash (a password change won meanwhile, say) changes nothing.
    assert!(!storage.replace_password_hash(user.id, &old, &PasswordHash::new("late")).await.expect("written"));
    let stored = storage.find_by_id(user.id).await.expect("read").expect("there");
    assert_eq!(stored.password_hash, rehashed);
    // The password is the same: sessions and updated_at stay.
    assert_eq!((stored.token_version, stored.updated_at), (user.token_version, user.updated_at));
    let missing = UserId::new(999_999).expect("id");
    assert!(!storage.replace_password_hash(missing, &old, &rehashed).await.expect("written"));
}

// The mail outbox and mail tokens (docs/api.md §7).

use crate::ports::{MailIntent, MailKind, StoredMailToken};

fn intent(user: &User, kind: MailKind) -> MailIntent {
    MailIntent { user_id: user.id, kind, address: user.email.clone() }
}

async fn queue(storage: &Arc<dyn Storage>, intent: MailIntent, now: Timestamp) {
    assert!(storage.enqueue_mail(intent, now, minutes_after(now, -60), 100).await.expect("queued"), "queued");
}

async fn claimed_ids(storage: &Arc<dyn Storage>, now: Timestamp, lease_minutes: i64, max: u32) -> Vec<i64> {
    let claimed = storage.claim_mail(now, minutes_after(now, lease_minutes), max).await.expect("claimed");
    claimed.iter().map(|m| m.id).collect()
}

pub async fn queued_mail_is_claimed_by_one_sender_until_its_lease_ends(storage: Arc<dyn Storage>) {
    let now = at(NOW);
    let alice = storage.create(new_user("alice")).await.expect("created");
    queue(&storage, intent(&alice, MailKind::PasswordReset), now).await;
    queue(&storage, intent(&alice, MailKind::EmailVerification), minutes_after(now, 1)).await;
    let later = minutes_after(now, 2);
    let first = storage.claim_mail(later, minutes_after(later, 5), 1).await.expect("claimed");
    assert_eq!(first.len(), 1);
    assert_eq!((first[0].intent.clone(), first[0].attempts), (intent(&alice, MailKind::PasswordReset), 0));
    let second = claimed_ids(&storage, later, 5, 10).await;
    assert_eq!(second.len(), 1, "the other one");
    assert_ne!(second[0], first[0].id);
    assert!(claimed_ids(&storage, later, 5, 10).await.is_empty(), "both are leased");
    // The first sender finishes its mail; the second one's lease runs out unfinished.
    storage.finish_mail(first[0].id).await.expect("finished");
    let after_lease = minutes_after(later, 6);
    assert_eq!(claimed_ids(&storage, after_lease, 5, 10).await, second, "claimed again after its lease");
    storage.retry_mail(second[0], 1, minutes_after(after_lease, 30)).await.expect("retry");
    assert!(claimed_ids(&storage, minutes_after(after_lease, 29), 5, 10).await.is_empty(), "not due yet");
    let retried = storage.claim_mail(minutes_after(after_lease, 30), minutes_after(after_lease, 35), 10).await;
    let retried = retried.expect("claimed");
    assert_eq!((retried.len(), retried[0].attempts), (1, 1));
    storage.finish_mail(second[0]).await.expect("finished");
    assert!(claimed_ids(&storage, minutes_after(now, 600), 5, 10).await.is_empty(), "finished mails stay finished");
}

pub async fn concurrent_claims_give_each_mail_to_one_sender(storage: Arc<dyn Storage>) {
    let now = at(NOW);
    let alice = storage.create(new_user("alice")).await.expect("created");
    for _ in 0..10 {
        queue(&storage, intent(&alice, MailKind::PasswordReset), now).await;
    }
    let claims: Vec<_> = (0..4)
        .map(|_| {
            let storage = storage.clone();
            tokio::spawn(async move { storage.claim_mail(now, minutes_after(now, 5), 4).await })
        })
        .collect();
    let mut ids = Vec::new();
    for claim in claims {
        ids.extend(claim.await.expect("task").expect("claimed").into_iter().map(|m| m.id));
    }
    let count = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), count, "no mail claimed twice");
    assert_eq!(count, 10, "every mail claimed once");
}

pub async fn the_address_limit_counts_the_mails_of_the_window(storage: Arc<dyn Storage>) {
    let now = at(NOW);
    let alice = storage.create(new_user("alice")).await.expect("created");
    let bob = storage.create(new_user("bob")).await.expect("created");
    let window_start = minutes_after(now, -60);
    for minute in 0..3 {
        let queued =
            storage.enqueue_mail(intent(&alice, MailKind::PasswordReset), minutes_after(now, minute), window_start, 3);
        assert!(queued.await.expect("queued"), "mail {minute}");
    }
    let fourth =
        storage.enqueue_mail(intent(&alice, MailKind::EmailVerification), minutes_after(now, 3), window_start, 3);
    assert!(!fourth.await.expect("answered"), "the fourth within the window is refused");
    let other = storage.enqueue_mail(intent(&bob, MailKind::PasswordReset), minutes_after(now, 3), window_start, 3);
    assert!(other.await.expect("answered"), "another address has its own count");
    // An hour after the first, it has left the window.
    let next_window = minutes_after(now, 1);
    let later = storage.enqueue_mail(intent(&alice, MailKind::PasswordReset), minutes_after(now, 61), next_window, 3);
    assert!(later.await.expect("answered"));
}

fn mail_token(user: &User, hash: &str, kind: MailKind, expires_at: Timestamp) -> StoredMailToken {
    StoredMailToken { token_hash: hash.to_owned(), user_id: user.id, kind, address: user.email.clone(), expires_at }
}

pub async fn a_mail_token_is_taken_once_and_only_until_it_expires(storage: Arc<dyn Storage>) {
    let now = at(NOW);
    let alice = storage.create(new_user("alice")).await.expect("created");
    let expires_at = minutes_after(now, 60);
    let token = mail_token(&alice, "reset-hash", MailKind::PasswordReset, expires_at);
    storage.insert_mail_token(token.clone()).await.expect("stored");
    assert_eq!(storage.find_mail_token("reset-hash", now).await.expect("found"), Some(token));
    assert_eq!(storage.find_mail_token("reset-hash", expires_at).await.expect("read"), None, "expired");
    assert!(!storage.take_mail_token("reset-hash", expires_at).await.expect("read"), "expired");
    let takes: Vec<_> = (0..8)
        .map(|_| {
            let storage = storage.clone();
            tokio::spawn(async move { storage.take_mail_token("reset-hash", now).await })
        })
        .collect();
    let mut taken = 0;
    for take in takes {
        taken += usize::from(take.await.expect("task").expect("answered"));
    }
    assert_eq!(taken, 1, "single use");
    assert_eq!(storage.find_mail_token("reset-hash", now).await.expect("read"), None);
    assert!(!storage.take_mail_token("never-issued", now).await.expect("answered"));
    // A deleted user's tokens go with them, and one minted after the delete is not stored.
    storage
        .insert_mail_token(mail_token(&alice, "verify-hash", MailKind::EmailVerification, expires_at))
        .await
        .expect("stored");
    storage.delete(alice.id, now).await.expect("deleted");
    assert_eq!(storage.find_mail_token("verify-hash", now).await.expect("read"), None);
    storage.insert_mail_token(mail_token(&alice, "late-hash", MailKind::Invite, expires_at)).await.expect("no error");
    assert_eq!(storage.find_mail_token("late-hash", now).await.expect("read"), None);
}

pub async fn purging_mail_removes_expired_tokens_and_old_finished_mails(storage: Arc<dyn Storage>) {
    let now = at(NOW);
    let alice = storage.create(new_user("alice")).await.expect("created");
    storage
        .insert_mail_token(mail_token(&alice, "old", MailKind::PasswordReset, minutes_after(now, 1)))
        .await
        .expect("stored");
    storage
        .insert_mail_token(mail_token(&alice, "new", MailKind::PasswordReset, minutes_after(now, 90)))
        .await
        .expect("stored");
    queue(&storage, intent(&alice, MailKind::PasswordReset), now).await;
    queue(&storage, intent(&alice, MailKind::EmailVerification), now).await;
    let finished = claimed_ids(&storage, now, 5, 1).await;
    storage.finish_mail(finished[0]).await.expect("finished");
    let later = minutes_after(now, 60);
    assert_eq!(storage.purge_mail(later, minutes_after(now, 1)).await.expect("purged"), 2, "one token, one mail");
    assert!(storage.find_mail_token("new", later).await.expect("read").is_some());
    let pending = claimed_ids(&storage, later, 5, 10).await;
    assert_eq!(pending.len(), 1, "an unfinished mail is kept");
    assert!(
        !storage
            .enqueue_mail(intent(&alice, MailKind::PasswordReset), later, minutes_after(now, -1), 1)
            .await
            .expect("answered"),
        "the kept mail still counts"
    );
}

pub async fn concurrent_queueings_to_one_address_keep_its_limit(storage: Arc<dyn Storage>) {
    let now = at(NOW);
    let alice = storage.create(new_user("alice")).await.expect("created");
    let queueings: Vec<_> = (0..12)
        .map(|_| {
            let (storage, intent) = (storage.clone(), intent(&alice, MailKind::PasswordReset));
            tokio::spawn(async move { storage.enqueue_mail(intent, now, minutes_after(now, -60), 3).await })
        })
        .collect();
    let mut queued = 0;
    for queueing in queueings {
        queued += usize::from(queueing.await.expect("task").expect("answered"));
    }
    assert_eq!(queued, 3);
}

/// Generates the concurrent-read cases: reads that arrive together (which an adapter may answer with shared
/// statements) each get exactly their own users, and reads cancelled halfway leave the others answered. `$make` as
/// for [`repository_contract_tests!`](crate::repository_contract_tests).
#[macro_export]
macro_rules! concurrent_read_contract_tests {
    ($make:expr $(, #[$attr:meta])* $(,)?) => {
        $crate::concurrent_read_contract_tests!(@cases { $(#[$attr])* } $make;
            concurrent_reads_each_get_the_users_they_asked_for,
            reads_cancelled_halfway_leave_the_others_answered,
        );
    };
    (@cases $attrs:tt $make:expr; $($case:ident),+ $(,)?) => {
        $( $crate::contract_case!($attrs $make; $case); )+
    };
}

async fn seeded_readers(repository: &Arc<dyn UserRepository>, count: usize) -> Vec<UserId> {
    let mut ids = Vec::new();
    for i in 0..count {
        ids.push(create(repository, new_user(&format!("reader{i:03}"))).await.id);
    }
    ids
}

pub async fn concurrent_reads_each_get_the_users_they_asked_for(repository: Arc<dyn UserRepository>) {
    let ids = seeded_readers(&repository, 30).await;
    let missing = UserId::new(1_000_000).expect("id");
    let mut reads = tokio::task::JoinSet::new();
    for round in 0..300 {
        let repository = repository.clone();
        let (a, b) = (ids[round % ids.len()], ids[(round * 7 + 3) % ids.len()]);
        reads.spawn(async move {
            match round % 3 {
                0 => {
                    let user = repository.find_by_id(a).await.expect("read").expect("found");
                    assert_eq!(user.id, a);
                    assert_eq!(user.username.as_str(), format!("reader{:03}", round % 30));
                }
                1 => {
                    let mut found: Vec<UserId> =
                        repository.find_by_ids(&[a, b]).await.expect("read").iter().map(|u| u.id).collect();
                    found.sort();
                    let mut expected = vec![a, b];
                    expected.sort();
                    expected.dedup();
                    assert_eq!(found, expected);
                }
                _ => assert!(repository.find_by_id(missing).await.expect("read").is_none(), "no such user"),
            }
        });
    }
    while let Some(read) = reads.join_next().await {
        read.expect("every read got its own users");
    }
}

pub async fn reads_cancelled_halfway_leave_the_others_answered(repository: Arc<dyn UserRepository>) {
    use std::time::Duration;
    let ids = seeded_readers(&repository, 10).await;
    let mut reads = tokio::task::JoinSet::new();
    for round in 0..400u64 {
        let repository = repository.clone();
        let id = ids[usize::try_from(round).expect("small") % ids.len()];
        reads.spawn(async move {
            let read = repository.find_by_id(id);
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
    assert_eq!(repository.find_by_id(ids[0]).await.expect("read afterwards").expect("found").id, ids[0]);
}

/// A token of `family` issued at `issued_at` to `client`, expiring an hour later.
async fn session_token(
    storage: &Arc<dyn Storage>,
    user: UserId,
    hash: &str,
    family: &str,
    issued_at: Timestamp,
    client: ClientInfo,
) {
    let token = StoredRefreshToken {
        token_hash: hash.to_owned(),
        user_id: user,
        family_id: family.to_owned(),
        expires_at: minutes_after(issued_at, 60),
        token_version: 0,
        issued_at,
        client,
    };
    storage.insert(token).await.expect("stored");
}

fn sid(s: &str) -> SessionId {
    SessionId::parse(s).expect("session id")
}

fn ids_of(users: &[User]) -> Vec<UserId> {
    let mut ids: Vec<UserId> = users.iter().map(|u| u.id).collect();
    ids.sort();
    ids
}

pub async fn find_caller_checks_the_session_in_the_same_read(storage: Arc<dyn Storage>) {
    let now = at(NOW);
    let alice = storage.create(new_user("alice")).await.expect("created").id;
    let bob = storage.create(new_user("bob")).await.expect("created").id;
    session_token(&storage, alice, "a1", "s-alice", now, ClientInfo::default()).await;
    session_token(&storage, bob, "b1", "s-bob", now, ClientInfo::default()).await;
    let found = storage.find_caller(alice, Some(&sid("s-alice")), &[bob]).await.expect("read");
    assert_eq!(ids_of(&found), vec![alice, bob]);
    assert_eq!(ids_of(&storage.find_caller(alice, None, &[]).await.expect("read")), vec![alice], "no session");
    // Another user's session, or an unknown one, is not the caller's: the caller is left out, the others not.
    for other in ["s-bob", "s-unknown"] {
        let found = storage.find_caller(alice, Some(&sid(other)), &[bob]).await.expect("read");
        assert_eq!(ids_of(&found), vec![bob], "{other}");
    }
    storage.revoke_family_of("a1", now).await.expect("revoked");
    let found = storage.find_caller(alice, Some(&sid("s-alice")), &[bob]).await.expect("read");
    assert_eq!(ids_of(&found), vec![bob], "a revoked session's caller is left out");
    let found = storage.find_caller(bob, Some(&sid("s-bob")), &[alice]).await.expect("read");
    assert_eq!(ids_of(&found), vec![alice, bob], "other sessions are untouched");
    let missing = UserId::new(alice.get() + 100).expect("id");
    assert!(storage.find_caller(missing, None, &[]).await.expect("read").is_empty());
}

/// Reads of several callers at once, which the SQL stores answer in shared statements: each caller is found only
/// with a live session of their own, whichever other callers, sessions and users the same statement served.
pub async fn concurrent_callers_each_get_their_own_session_check(storage: Arc<dyn Storage>) {
    let now = at(NOW);
    let alice = storage.create(new_user("alice")).await.expect("created").id;
    let bob = storage.create(new_user("bob")).await.expect("created").id;
    let carol = storage.create(new_user("carol")).await.expect("created").id;
    session_token(&storage, alice, "a1", "s-alice", now, ClientInfo::default()).await;
    session_token(&storage, alice, "a0", "s-alice-old", now, ClientInfo::default()).await;
    session_token(&storage, bob, "b1", "s-bob", now, ClientInfo::default()).await;
    session_token(&storage, carol, "c1", "s-carol", now, ClientInfo::default()).await;
    storage.revoke_family_of("a0", now).await.expect("revoked");
    storage.revoke_family_of("c1", now).await.expect("revoked");
    // (caller, session, others read) → the users found
    let cases = [
        (alice, "s-alice", vec![bob], vec![alice, bob]),
        (bob, "s-bob", vec![alice], vec![alice, bob]),
        (alice, "s-bob", vec![carol], vec![carol]),
        (carol, "s-carol", vec![alice], vec![alice]),
        (alice, "s-alice-old", vec![], vec![]),
        (bob, "s-alice", vec![], vec![]),
    ];
    let mut reads = tokio::task::JoinSet::new();
    for round in 0..300 {
        let storage = storage.clone();
        let (caller, session, others, expected) = cases[round % cases.len()].clone();
        reads.spawn(async move {
            let found = storage.find_caller(caller, Some(&sid(session)), &others).await.expect("read");
            assert_eq!(ids_of(&found), expected, "caller {caller:?} with {session}");
        });
    }
    while let Some(read) = reads.join_next().await {
        read.expect("every caller's session was checked on its own");
    }
}

pub async fn sessions_are_listed_newest_first_with_their_last_use(storage: Arc<dyn Storage>) {
    let now = at(NOW);
    let alice = storage.create(new_user("alice")).await.expect("created").id;
    let bob = storage.create(new_user("bob")).await.expect("created").id;
    let laptop = ClientInfo::new(Some("192.0.2.1".into()), Some("Laptop/1.0"));
    let phone = ClientInfo::new(Some("2001:db8::1".into()), None);
    session_token(&storage, alice, "l1", "s-laptop", now, laptop).await;
    session_token(&storage, alice, "p1", "s-phone", minutes_after(now, 1), phone.clone()).await;
    session_token(&storage, alice, "g1", "s-gone", minutes_after(now, 2), ClientInfo::default()).await;
    session_token(&storage, bob, "b1", "s-bob", minutes_after(now, 3), ClientInfo::default()).await;
    // The laptop's session is refreshed later from elsewhere: last used, client and expiry move; created does not.
    let moved = ClientInfo::new(Some("198.51.100.7".into()), Some("Laptop/1.1"));
    storage.spend("l1", minutes_after(now, 5), None).await.expect("spent");
    session_token(&storage, alice, "l2", "s-laptop", minutes_after(now, 5), moved.clone()).await;
    storage.revoke_family_of("g1", now).await.expect("revoked");

    let sessions = storage.sessions(alice, minutes_after(now, 6)).await.expect("listed");
    let ids: Vec<&str> = sessions.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["s-phone", "s-laptop"], "newest first; revoked and other users' left out");
    assert_eq!(sessions[0].client, phone);
    assert_eq!(sessions[0].created_at, minutes_after(now, 1));
    assert_eq!(sessions[0].last_used_at, minutes_after(now, 1));
    assert_eq!(sessions[0].expires_at, minutes_after(now, 61));
    let laptop = &sessions[1];
    assert_eq!(laptop.client, moved);
    assert_eq!((laptop.created_at, laptop.last_used_at), (now, minutes_after(now, 5)));
    assert_eq!(laptop.expires_at, minutes_after(now, 65));
    // Once its newest token expired, a session is no longer listed.
    let later = storage.sessions(alice, minutes_after(now, 62)).await.expect("listed");
    assert_eq!(later.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), ["s-laptop"]);
}

pub async fn sessions_are_revoked_one_or_all_but_one(storage: Arc<dyn Storage>) {
    let now = at(NOW);
    let alice = storage.create(new_user("alice")).await.expect("created").id;
    let bob = storage.create(new_user("bob")).await.expect("created").id;
    for (hash, family) in [("a1", "s-1"), ("a2", "s-2"), ("a3", "s-3"), ("a4", "s-4")] {
        session_token(&storage, alice, hash, family, now, ClientInfo::default()).await;
    }
    session_token(&storage, bob, "b1", "s-bob", now, ClientInfo::default()).await;
    assert!(!storage.revoke_session(bob, &sid("s-1"), now).await.expect("revoke"), "not bob's");
    assert!(!storage.revoke_session(alice, &sid("s-unknown"), now).await.expect("revoke"));
    assert!(storage.revoke_session(alice, &sid("s-1"), now).await.expect("revoke"));
    assert!(!storage.revoke_session(alice, &sid("s-1"), now).await.expect("revoke"), "no longer live");
    assert!(matches!(storage.spend("a1", now, None).await.expect("spend"), SpendOutcome::Reused { .. }));

    assert_eq!(storage.revoke_sessions(alice, Some(&sid("s-4")), now).await.expect("revoked"), 2);
    for hash in ["a2", "a3"] {
        assert!(matches!(storage.spend(hash, now, None).await.expect("spend"), SpendOutcome::Reused { .. }));
    }
    assert!(matches!(storage.spend("a4", now, None).await.expect("spend"), SpendOutcome::Spent { .. }), "kept");
    let left: Vec<SessionId> = storage.sessions(alice, now).await.expect("listed").into_iter().map(|s| s.id).collect();
    assert_eq!(left, vec![sid("s-4")]);
    assert_eq!(storage.revoke_sessions(alice, None, now).await.expect("revoked"), 1);
    assert!(storage.sessions(alice, now).await.expect("listed").is_empty());
    assert_eq!(storage.sessions(bob, now).await.expect("listed").len(), 1, "another user's untouched");
}

fn grace(successor: &str, spent_since: Timestamp) -> Grace {
    Grace { successor_hash: successor.to_owned(), spent_since }
}

pub async fn a_token_spent_within_the_grace_is_repeated_until_its_successor_is_spent(storage: Arc<dyn Storage>) {
    let now = at(NOW);
    let later = minutes_after(now, 1);
    let user = storage.create(new_user("alice")).await.expect("created").id;
    let spent = SpendOutcome::Spent { user_id: user, family_id: "fam".into(), token_version: 0 };
    let repeated = SpendOutcome::Repeated { user_id: user, family_id: "fam".into(), token_version: 0 };
    let reused = SpendOutcome::Reused { user_id: user, family_id: "fam".into() };
    refresh_token(&storage, user, "h1", "fam", minutes_after(now, 60)).await;
    let since_before = grace("h2", minutes_after(now, -1));
    assert_eq!(storage.spend("h1", now, Some(&since_before)).await.expect("spend"), spent);
    // Again within the grace: its successor again, before and after the successor is stored, as often as asked.
    assert_eq!(storage.spend("h1", later, Some(&since_before)).await.expect("spend"), repeated);
    refresh_token(&storage, user, "h2", "fam", minutes_after(now, 60)).await;
    assert_eq!(storage.spend("h1", later, Some(&since_before)).await.expect("spend"), repeated);
    // Spent before the grace began: reuse as without a grace (tried on a family of its own, as it revokes it).
    refresh_token(&storage, user, "k1", "fam-late", minutes_after(now, 60)).await;
    storage.spend("k1", now, None).await.expect("spend");
    let since_after = grace("k2", minutes_after(now, 1));
    let outcome = storage.spend("k1", later, Some(&since_after)).await.expect("spend");
    assert!(matches!(outcome, SpendOutcome::Reused { .. }), "{outcome:?}");
    // Once the successor is spent, the older token is reuse: the family is revoked, the newest token too.
    assert_eq!(storage.spend("h2", later, Some(&grace("h3", now))).await.expect("spend"), spent);
    refresh_token(&storage, user, "h3", "fam", minutes_after(now, 60)).await;
    assert_eq!(storage.spend("h1", later, Some(&since_before)).await.expect("spend"), reused);
    assert_eq!(storage.spend("h3", later, None).await.expect("spend"), reused);
    // A revoked family has no grace.
    refresh_token(&storage, user, "m1", "fam-out", minutes_after(now, 60)).await;
    storage.spend("m1", now, None).await.expect("spend");
    storage.revoke_family_of("m1", now).await.expect("revoked");
    let outcome = storage.spend("m1", later, Some(&grace("m2", minutes_after(now, -1)))).await.expect("spend");
    assert!(matches!(outcome, SpendOutcome::Reused { .. }), "{outcome:?}");
}

pub async fn concurrent_spends_within_the_grace_all_converge_on_one_successor(storage: Arc<dyn Storage>) {
    let now = at(NOW);
    let user = storage.create(new_user("alice")).await.expect("created").id;
    refresh_token(&storage, user, "hot", "fam", minutes_after(now, 60)).await;
    let spends: Vec<_> = (0..20)
        .map(|_| {
            let storage = storage.clone();
            let grace = grace("next", minutes_after(now, -1));
            tokio::spawn(async move { storage.spend("hot", now, Some(&grace)).await })
        })
        .collect();
    let (mut spent, mut repeated) = (0, 0);
    for spend in spends {
        match spend.await.expect("task").expect("spend") {
            SpendOutcome::Spent { .. } => spent += 1,
            SpendOutcome::Repeated { .. } => repeated += 1,
            other => panic!("within the grace, no reuse: {other:?}"),
        }
    }
    assert_eq!((spent, repeated), (1, 19));
}
