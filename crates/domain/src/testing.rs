//! The repository contract: one suite, run by every storage adapter against its own backend with
//! [`repository_contract_tests!`](crate::repository_contract_tests). The in-memory adapter defines the reference
//! behaviour; the SQL adapters must give the same answers.

use crate::auth::LoginName;
use crate::ports::{
    CreateUserError, DeleteUserError, Grace, SpendOutcome, StoredRefreshToken, UpdateUserError, UserRepository,
};
use crate::{
    Age, ClientInfo, DisplayName, Email, ListQuery, NewUser, PasswordHash, Role, SessionId, SortDirection, SortKey,
    Timestamp, User, UserFilter, UserId, UserPatch, Username,
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
            the_last_admin_cannot_be_demoted_or_deleted,
            delete_removes_the_user_and_frees_its_names,
            find_by_login_name_matches_username_or_email_case_insensitively,
            list_filters_case_insensitively,
            list_q_treats_percent_and_underscore_literally,
            list_sorts_by_every_key_both_ways_with_ties_by_id,
            list_pages_with_limit_offset_and_total,
            timestamps_keep_microseconds_on_every_read,
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
    UserPatch {
        username: None,
        email: None,
        name: None,
        age: None,
        role: None,
        password_hash: None,
        updated_at: at(at_time),
    }
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
    repository.delete(last.id).await.expect("deleted");
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

pub async fn the_last_admin_cannot_be_demoted_or_deleted(repository: Arc<dyn UserRepository>) {
    let root = create(&repository, admin("root")).await;
    let demote = UserPatch { role: Some(Role::User), ..empty_patch("2026-02-02T00:00:00Z") };
    assert!(matches!(repository.update(root.id, demote.clone()).await, Err(UpdateUserError::LastAdmin)));
    assert!(matches!(repository.delete(root.id).await, Err(DeleteUserError::LastAdmin)));
    // A second admin: either one may go, but not both.
    let second = create(&repository, admin("second")).await;
    repository.update(root.id, demote.clone()).await.expect("demoted: another admin remains");
    assert!(matches!(repository.delete(second.id).await, Err(DeleteUserError::LastAdmin)));
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
    repository.delete(alice.id).await.expect("deleted");
    assert_eq!(repository.find_by_id(alice.id).await.expect("read"), None);
    assert!(matches!(repository.delete(alice.id).await, Err(DeleteUserError::NotFound)));
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
            find_caller_checks_the_session_in_the_same_read,
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
    storage.delete(alice.id).await.expect("deleted");
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
