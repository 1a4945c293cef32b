use super::*;
use crate::password_policy::PasswordMinLength;
use crate::ports::{MockClock, MockPasswordHasher, MockUserTransfer};
use crate::Email;

fn now() -> Timestamp {
    Timestamp::parse_rfc3339("2026-01-01T12:00:00Z").expect("valid")
}

fn caller(role: Role) -> Caller {
    Caller {
        user: User {
            id: UserId::new(1).expect("id"),
            username: Username::parse("root").expect("valid"),
            email: Email::parse("root@example.com").expect("valid"),
            name: None,
            age: None,
            role,
            password_hash: PasswordHash::new("hashed"),
            created_at: now(),
            updated_at: now(),
            token_version: 0,
            status: AccountStatus::Active,
            email_verified: false,
            last_login_at: None,
        },
        session_id: None,
    }
}

fn service(transfer: MockUserTransfer, hashes_exportable: bool) -> TransferService {
    let mut hasher = MockPasswordHasher::new();
    hasher.expect_hash().returning(|p| Ok(PasswordHash::new(format!("hashed:{}", p.expose()))));
    hasher.expect_recognize().returning(|h| match h.strip_prefix("known:") {
        Some(_) => Ok(PasswordHash::new(h)),
        None => Err(UnsupportedHash::UnknownFormat),
    });
    let mut clock = MockClock::new();
    clock.expect_now().returning(now);
    let policy = Arc::new(PasswordPolicy::new(PasswordMinLength::default(), None));
    let ports =
        TransferPorts { transfer: Arc::new(transfer), hasher: Arc::new(hasher), clock: Arc::new(clock), policy };
    TransferService::new(ports, hashes_exportable)
}

fn candidate(username: &str, email: &str, password: ImportedPassword) -> ImportCandidate {
    ImportCandidate {
        username: Username::parse(username).expect("valid"),
        email: Email::parse(email).expect("valid"),
        name: None,
        age: None,
        role: Role::User,
        created_at: None,
        updated_at: None,
        status: AccountStatus::Active,
        email_verified: false,
        last_login_at: None,
        password,
    }
}

fn plain(password: &str) -> ImportedPassword {
    ImportedPassword::Plain(Password::parse(password).expect("valid"))
}

#[test]
fn only_admins_import_and_export_and_hashes_only_where_allowed() {
    let users = service(MockUserTransfer::new(), false);
    assert!(matches!(users.start_import(&caller(Role::User)), Err(TransferError::Forbidden(_))));
    assert!(matches!(
        users.export(&caller(Role::User), UserFilter::default(), false),
        Err(TransferError::Forbidden(_))
    ));
    assert!(matches!(
        users.export(&caller(Role::Admin), UserFilter::default(), true),
        Err(TransferError::Forbidden(_))
    ));
    assert!(users.export(&caller(Role::Admin), UserFilter::default(), false).is_ok());
    let exportable = service(MockUserTransfer::new(), true);
    assert!(exportable.export(&caller(Role::Admin), UserFilter::default(), true).is_ok_and(|e| e.include_hashes));
}

#[tokio::test]
async fn a_line_repeating_an_earlier_username_or_email_fails_naming_that_line() {
    let mut import = service(MockUserTransfer::new(), false).start_import(&caller(Role::Admin)).expect("admin");
    import.prepare(1, candidate("alice", "alice@example.com", plain("orbit-tulip-1"))).await.expect("first");
    let same_name = import.prepare(2, candidate("ALICE", "other@example.com", plain("orbit-tulip-1"))).await;
    assert!(matches!(same_name, Err(ImportLineError::DuplicateUsername(1))), "{same_name:?}");
    let same_email = import.prepare(3, candidate("bob", "Alice@Example.com", ImportedPassword::Unusable)).await;
    assert!(matches!(same_email, Err(ImportLineError::DuplicateEmail(1))), "{same_email:?}");
    // A failed line claims nothing: a later line may use its names.
    let bad_hash = import.prepare(4, candidate("carol", "carol@example.com", ImportedPassword::Hash("md5".into())));
    assert!(matches!(bad_hash.await, Err(ImportLineError::UnsupportedHash(UnsupportedHash::UnknownFormat))));
    import.prepare(5, candidate("carol", "carol@example.com", ImportedPassword::Unusable)).await.expect("free");
}

#[tokio::test]
async fn passwords_are_hashed_hashes_kept_and_timestamps_defaulted() {
    let mut import = service(MockUserTransfer::new(), false).start_import(&caller(Role::Admin)).expect("admin");
    let hashed = import.prepare(1, candidate("alice", "a@example.com", plain("orbit-tulip-1"))).await.expect("ok");
    assert_eq!(hashed.user.password_hash.as_str(), "hashed:orbit-tulip-1");
    assert_eq!((hashed.user.created_at, hashed.updated_at), (now(), now()));
    let kept = import.prepare(2, candidate("bob", "b@example.com", ImportedPassword::Hash("known:x".into())));
    assert_eq!(kept.await.expect("ok").user.password_hash.as_str(), "known:x");
    let none = import.prepare(3, candidate("carol", "c@example.com", ImportedPassword::Unusable)).await.expect("ok");
    assert!(!none.user.password_hash.is_usable());
    let created = Timestamp::parse_rfc3339("2020-01-01T00:00:00.5Z").expect("valid");
    let with_times =
        ImportCandidate { created_at: Some(created), ..candidate("dave", "d@example.com", plain("pw-zebra-ox")) };
    let stored = import.prepare(4, with_times).await.expect("ok");
    assert_eq!((stored.user.created_at, stored.updated_at), (created, created));
    let backwards = ImportCandidate {
        created_at: Some(now()),
        updated_at: Some(created),
        ..candidate("erin", "e@example.com", ImportedPassword::Unusable)
    };
    assert!(matches!(import.prepare(5, backwards).await, Err(ImportLineError::UpdatedBeforeCreated)));
}

#[tokio::test]
async fn a_plain_password_the_policy_refuses_fails_its_line() {
    let mut import = service(MockUserTransfer::new(), false).start_import(&caller(Role::Admin)).expect("admin");
    for (line, password) in [(1, "password123"), (2, "Alice-Smith"), (3, "ALICE@example.com")] {
        let weak = candidate("alice-smith", "alice@example.com", plain(password));
        let refused = import.prepare(line, weak).await;
        assert!(matches!(&refused, Err(ImportLineError::WeakPassword(_))), "{refused:?}");
        assert_eq!(refused.err().map(|e| e.field()), Some("password"));
    }
    // A refused line claims no name: the next line may take it.
    import.prepare(4, candidate("alice-smith", "alice@example.com", plain("orbit-tulip-1"))).await.expect("ok");
}

#[tokio::test]
async fn a_stored_batch_answers_per_user_in_order() {
    let mut transfer = MockUserTransfer::new();
    transfer.expect_import_users().times(1).returning(|users| {
        assert_eq!(users.len(), 3);
        Ok(vec![
            StoredImport::Created(UserId::new(10).expect("id")),
            StoredImport::UsernameTaken,
            StoredImport::EmailTaken,
        ])
    });
    let mut import = service(transfer, false).start_import(&caller(Role::Admin)).expect("admin");
    let mut batch = Vec::new();
    for (n, name) in ["ann", "ben", "cid"].iter().enumerate() {
        let line = candidate(name, &format!("{name}@example.com"), ImportedPassword::Unusable);
        batch.push(import.prepare(n as u64 + 1, line).await.expect("ok"));
    }
    let outcomes = import.store(batch).await.expect("stored");
    assert!(matches!(outcomes[0], Ok(id) if id.get() == 10));
    assert!(matches!(outcomes[1], Err(ImportLineError::UsernameTaken)));
    assert!(matches!(outcomes[2], Err(ImportLineError::EmailTaken)));
}

#[tokio::test]
async fn an_export_reads_keyset_pages_until_a_short_one() {
    let user = |id: i64| User { id: UserId::new(id).expect("id"), ..caller(Role::User).user };
    let mut transfer = MockUserTransfer::new();
    let mut sequence = mockall::Sequence::new();
    transfer
        .expect_export_users()
        .withf(|_, after, limit| after.is_none() && *limit == EXPORT_BATCH)
        .times(1)
        .in_sequence(&mut sequence)
        .returning(move |_, _, limit| Ok((1..=i64::from(limit)).map(user).collect()));
    transfer
        .expect_export_users()
        .withf(|_, after, _| after.is_some_and(|a| a.get() == i64::from(EXPORT_BATCH)))
        .times(1)
        .in_sequence(&mut sequence)
        .returning(move |_, _, _| Ok(vec![user(5000)]));
    let mut export =
        service(transfer, false).export(&caller(Role::Admin), UserFilter::default(), false).expect("admin");
    assert_eq!(export.next_batch().await.expect("read").map(|b| b.len()), Some(EXPORT_BATCH as usize));
    assert_eq!(export.next_batch().await.expect("read").map(|b| b.len()), Some(1));
    assert!(export.next_batch().await.expect("read").is_none(), "no third read after a short page");
}
