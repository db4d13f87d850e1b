//! Upgrading a store whose accounts' usernames differ only in case (which
//! releases before migration 0007 allowed): the upgrade is refused with an
//! error naming every group, nothing is migrated past the old schema,
//! `rename_user` clears the duplicates on the store as it is (ledgered), and
//! the store then upgrades and its projection agrees with the log.

use cts_ledger::{EventDraft, EventKind, Salt};
use cts_store::{Schema, Store, StoreError, UNIQUE_NAMES};
use sqlx::SqlitePool;

/// A store at the schema before [`UNIQUE_NAMES`] holding `alice`, `Alice`,
/// `bob` and `BOB` (plus `carol`), each with its `user.created` event as the
/// release that allowed them wrote it.
async fn old_store_with_case_duplicates(path: &std::path::Path) {
    let before = cts_store::migrations_before(UNIQUE_NAMES);
    let pool = SqlitePool::connect_with(cts_store::connect_options(path))
        .await
        .unwrap();
    before.run(&pool).await.unwrap();
    let names = ["alice", "Alice", "bob", "BOB", "carol"];
    for (i, name) in names.iter().enumerate() {
        sqlx::query(
            "INSERT INTO users (username, pseudonym, role, specialties, password_hash, created)
             VALUES (?, ?, 'clinician', '[]', ?, '2026-11-01T00:00:00Z')",
        )
        .bind(name)
        .bind(format!("R-0000000{i}"))
        .bind(format!("$argon2id$old-{i}"))
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;
    // The duplicates keep the store before 0007 in this mode, so the
    // accounts' events can be written as the old release did.
    let store = Store::open_to(path, Schema::BeforeUniqueNames)
        .await
        .unwrap();
    for (i, name) in names.iter().enumerate() {
        let pseudonym = format!("R-0000000{i}");
        let credential =
            cts_store::projection::credential_digest(&pseudonym, &format!("$argon2id$old-{i}"));
        let draft = EventDraft::new(EventKind::new("user.created").unwrap(), "cli:old")
            .subject(format!("user:{pseudonym}"))
            .body(serde_json::json!({
                "role": "clinician", "specialties": [], "credential": credential,
            }))
            .attach("username", name.as_bytes().to_vec());
        store
            .ledger()
            .append_prepared(vec![draft.prepare(Salt::random).unwrap()], None)
            .await
            .unwrap();
    }
    drop(store);
}

async fn applied(path: &std::path::Path, version: i64) -> bool {
    let pool = SqlitePool::connect_with(cts_store::connect_options(path))
        .await
        .unwrap();
    let row: Option<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE version = ?")
            .bind(version)
            .fetch_optional(&pool)
            .await
            .unwrap();
    pool.close().await;
    row.is_some()
}

#[tokio::test]
async fn case_duplicate_usernames_are_named_then_renamed_before_the_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cts.db");
    old_store_with_case_duplicates(&path).await;

    // The upgrade is refused, naming both groups (and not carol), and the
    // schema stays where it was.
    let err = Store::open(&path).await.expect_err("upgrade must refuse");
    match &err {
        StoreError::CaseDuplicateUsernames { path: p, groups } => {
            assert_eq!(p, &path);
            assert_eq!(
                groups,
                &vec![
                    vec!["Alice".to_owned(), "alice".to_owned()],
                    vec!["BOB".to_owned(), "bob".to_owned()],
                ]
            );
        }
        other => panic!("expected CaseDuplicateUsernames, got {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("Alice / alice") && message.contains("cts user rename"),
        "{message}"
    );
    assert!(!applied(&path, UNIQUE_NAMES).await, "nothing past 0006 ran");

    // Renaming picks the account by its exact name, refuses a name that is
    // taken when case is ignored, and is ledgered.
    let store = Store::open_to(&path, Schema::BeforeUniqueNames)
        .await
        .unwrap();
    let refused = cts_store::users::rename_user(&store, "cli:admin", "Alice", "CAROL").await;
    assert!(
        matches!(refused, Err(ref e @ StoreError::Conflict { what: "user", .. }) if e.to_string().contains("already exists")),
        "{refused:?}"
    );
    let missing = cts_store::users::rename_user(&store, "cli:admin", "ALICE", "alice2").await;
    assert!(
        matches!(missing, Err(StoreError::NotFound { what: "user", .. })),
        "{missing:?}"
    );
    let renamed = cts_store::users::rename_user(&store, "cli:admin", "Alice", "alice.m")
        .await
        .unwrap();
    assert_eq!(
        (renamed.username.as_str(), renamed.pseudonym.as_str()),
        ("alice.m", "R-00000001")
    );
    drop(store);

    // One group left: still refused, naming only it.
    match Store::open(&path).await.err() {
        Some(StoreError::CaseDuplicateUsernames { groups, .. }) => {
            assert_eq!(groups, vec![vec!["BOB".to_owned(), "bob".to_owned()]]);
        }
        other => panic!("expected the bob group, got {other:?}"),
    }
    let store = Store::open_to(&path, Schema::BeforeUniqueNames)
        .await
        .unwrap();
    cts_store::users::rename_user(&store, "cli:admin", "BOB", "robert")
        .await
        .unwrap();
    drop(store);

    // Now the store upgrades; names are unique regardless of case, each
    // account keeps its pseudonym, and the tables agree with the log
    // (the renames included).
    let store = Store::open(&path).await.unwrap();
    assert!(applied(&path, UNIQUE_NAMES).await);
    let names: Vec<(String, String)> = cts_store::users::list_users(&store)
        .await
        .unwrap()
        .into_iter()
        .map(|u| (u.username, u.pseudonym))
        .collect();
    assert_eq!(
        names,
        vec![
            ("alice".to_owned(), "R-00000000".to_owned()),
            ("alice.m".to_owned(), "R-00000001".to_owned()),
            ("bob".to_owned(), "R-00000002".to_owned()),
            ("carol".to_owned(), "R-00000004".to_owned()),
            ("robert".to_owned(), "R-00000003".to_owned()),
        ]
    );
    let dup = sqlx::query("UPDATE users SET username = 'ALICE' WHERE username = 'alice.m'")
        .execute(store.db())
        .await;
    assert!(dup.is_err(), "the unique index holds after the upgrade");
    let projection = cts_store::projection::check(store.path(), &|_| {}).unwrap();
    assert!(projection.ok(), "{:?}", projection.failures);

    // A rename that the table does not show is named by the check.
    sqlx::query("UPDATE users SET username = 'mallory' WHERE pseudonym = 'R-00000003'")
        .execute(store.db())
        .await
        .unwrap();
    let projection = cts_store::projection::check(store.path(), &|_| {}).unwrap();
    assert!(
        projection
            .failures
            .iter()
            .any(|f| f.place.contains("R-00000003") && f.problem.contains("username")),
        "{:?}",
        projection.failures
    );
    drop(store);
}

#[tokio::test]
async fn a_store_without_duplicates_migrates_fully_in_either_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cts.db");
    let store = Store::open_to(&path, Schema::BeforeUniqueNames)
        .await
        .unwrap();
    drop(store);
    assert!(applied(&path, UNIQUE_NAMES).await);
}
