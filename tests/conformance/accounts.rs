//! One conformance suite for the account stores (users, sessions, invites): each check is
//! written once against the traits and instantiated per backend by `conformance!`.

use crate::common;

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use url_shortener::config::SqliteSync;
use url_shortener::domain::{
    AccountEdit, Clock, Invite, PasswordHash, Role, Session, SystemClock, Timestamp, Token,
    TokenKey, User, Username,
};
use url_shortener::repository::{
    AccountEdited, InviteStore, MemoryRepository, PasswordSet, RepoError, SessionStore,
    SqliteRepository, UserStore,
};

/// A fresh backend seen through its three account interfaces.
struct Backend {
    users: Arc<dyn UserStore>,
    /// The same store through another instance (its own connections), where the backend can be
    /// shared: what a second server of a fleet would see.
    twin: Arc<dyn UserStore>,
    sessions: Arc<dyn SessionStore>,
    invites: Arc<dyn InviteStore>,
    /// The store expires sessions by itself (Redis): its sweep has nothing to do.
    native_expiry: bool,
    _guard: Box<dyn Any + Send>,
}

fn of<B: UserStore + SessionStore + InviteStore>(
    backend: B,
    guard: Box<dyn Any + Send>,
) -> Backend {
    let backend = Arc::new(backend);
    Backend {
        twin: backend.clone(),
        users: backend.clone(),
        sessions: backend.clone(),
        invites: backend,
        native_expiry: false,
        _guard: guard,
    }
}

async fn memory() -> Backend {
    of(MemoryRepository::new(), Box::new(()))
}

async fn sqlite() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let repo = SqliteRepository::open(dir.path().join("accounts.db"), SqliteSync::Normal)
        .await
        .unwrap();
    let twin = SqliteRepository::open(dir.path().join("accounts.db"), SqliteSync::Normal)
        .await
        .unwrap();
    Backend {
        twin: Arc::new(twin),
        ..of(repo, Box::new(dir))
    }
}

async fn redis() -> Backend {
    let (repo, scope) = common::backends::RedisScope::open().await;
    let twin = url_shortener::repository::RedisRepository::connect(
        &common::backends::redis_url(),
        &scope.prefix,
        Duration::from_secs(2),
    )
    .await
    .unwrap();
    Backend {
        native_expiry: true,
        twin: Arc::new(twin),
        ..of(repo, Box::new(scope))
    }
}

async fn postgres() -> Backend {
    let (repo, scope) = common::backends::postgres_schema().await;
    let twin = scope.open().await;
    Backend {
        twin: Arc::new(twin),
        ..of(repo, Box::new(scope))
    }
}

async fn dynamodb() -> Backend {
    let (repo, table) = common::backends::dynamodb_table().await;
    let client = url_shortener::repository::DynamoDbRepository::client(
        "us-east-1",
        Some(&common::backends::dynamodb_endpoint()),
        Duration::from_secs(10),
    )
    .await;
    let twin = url_shortener::repository::DynamoDbRepository::new(client, &table, false)
        .await
        .unwrap();
    Backend {
        twin: Arc::new(twin),
        ..of(repo, Box::new(table))
    }
}

/// 2100-01-01 plus `ms`: times far enough ahead that a store with native expiry (Redis) keeps
/// every record a check writes until the check is done.
fn at(ms: i64) -> Timestamp {
    Timestamp::from_unix_millis(4_102_444_800_000 + ms).unwrap()
}

fn user(id: &str, name: &str) -> User {
    User {
        id: id.to_owned(),
        username: Username::parse(name).unwrap(),
        display_name: None,
        // Not a real hash: the stores keep the text, the service verifies it.
        password_hash: PasswordHash::from_phc(format!(
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA${id}"
        )),
        role: Role::User,
        created_at: at(1_000),
        disabled_at: None,
    }
}

fn session(user_id: &str, created: i64) -> Session {
    Session {
        key: Token::generate().key(),
        user_id: user_id.to_owned(),
        created_at: at(created),
        last_seen_at: at(created),
    }
}

async fn users_round_trip_and_names_are_unique(b: Backend) {
    let mut ada = user("u-ada", "ada");
    ada.display_name = url_shortener::domain::DisplayName::parse("Ada L.").unwrap();
    ada.role = Role::Admin;
    b.users.insert_user(&ada).await.unwrap();
    b.users.insert_user(&user("u-bob", "bob")).await.unwrap();

    assert_eq!(b.users.find_user("u-ada").await.unwrap(), Some(ada.clone()));
    assert_eq!(
        b.users
            .find_user_by_name(&Username::parse("ADA").unwrap())
            .await
            .unwrap(),
        Some(ada.clone())
    );
    assert_eq!(b.users.find_user("u-nobody").await.unwrap(), None);
    assert_eq!(
        b.users.insert_user(&user("u-other", "Ada")).await,
        Err(RepoError::Conflict),
        "user names are unique whatever their case"
    );
    assert_eq!(
        b.users.insert_user(&user("u-bob", "robert")).await,
        Err(RepoError::Conflict),
        "ids are unique"
    );
    let names: Vec<String> = b
        .users
        .list_users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.username.to_string())
        .collect();
    assert_eq!(names, ["ada", "bob"]);
}

fn edit(role: Option<Role>, disabled: Option<bool>, when: i64) -> AccountEdit {
    AccountEdit {
        role,
        disabled,
        at: at(when),
    }
}

fn hash(text: &str) -> PasswordHash {
    PasswordHash::from_phc(format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA${text}"))
}

async fn edits_and_password_changes_each_write_only_their_own_fields(b: Backend) {
    let mut cyd = user("u-cy", "cyd");
    cyd.display_name = url_shortener::domain::DisplayName::parse("Cyd").unwrap();
    b.users.insert_user(&cyd).await.unwrap();
    let old = cyd.password_hash.clone();

    let PasswordSet::Set(after) = b
        .users
        .set_password_hash("u-cy", &hash("new"), Some(&old))
        .await
        .unwrap()
    else {
        panic!("the expected hash was the stored one");
    };
    assert_eq!(after.password_hash, hash("new"));
    assert_eq!((after.role, after.disabled_at), (Role::User, None));

    let AccountEdited::Edited(edited) = b
        .users
        .edit_account("u-cy", &edit(Some(Role::Admin), Some(true), 5_000))
        .await
        .unwrap()
    else {
        panic!("an edit of an existing user");
    };
    assert_eq!(
        (edited.role, edited.disabled_at, &edited.password_hash),
        (Role::Admin, Some(at(5_000)), &hash("new"))
    );
    // Disabling again keeps the first time; an edit naming nothing changes nothing.
    b.users
        .edit_account("u-cy", &edit(None, Some(true), 9_000))
        .await
        .unwrap();
    b.users
        .edit_account("u-cy", &edit(None, None, 9_500))
        .await
        .unwrap();
    let stored = b.users.find_user("u-cy").await.unwrap().unwrap();
    assert_eq!(
        stored,
        User {
            password_hash: hash("new"),
            role: Role::Admin,
            disabled_at: Some(at(5_000)),
            ..cyd.clone()
        }
    );
    assert_eq!(
        b.users
            .set_password_hash("u-cy", &hash("third"), Some(&old))
            .await
            .unwrap(),
        PasswordSet::Changed,
        "a change verified against a stale hash writes nothing"
    );
    assert_eq!(
        b.users
            .find_user("u-cy")
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        hash("new")
    );
    let PasswordSet::Set(reset) = b
        .users
        .set_password_hash("u-cy", &hash("reset"), None)
        .await
        .unwrap()
    else {
        panic!("an unconditional set");
    };
    assert_eq!(
        reset.disabled_at,
        Some(at(5_000)),
        "a reset keeps the disable"
    );
    assert_eq!(
        b.users
            .set_password_hash("u-ghost", &hash("x"), None)
            .await
            .unwrap(),
        PasswordSet::NoSuchUser
    );
    assert_eq!(
        b.users
            .edit_account("u-ghost", &edit(Some(Role::Admin), None, 1))
            .await
            .unwrap(),
        AccountEdited::NoSuchUser
    );
}

async fn the_last_active_administrator_cannot_step_down(b: Backend) {
    let mut root = user("u-root", "root");
    root.role = Role::Admin;
    b.users.insert_user(&root).await.unwrap();
    let mut retired = user("u-old", "old-admin");
    retired.role = Role::Admin;
    retired.disabled_at = Some(at(10));
    b.users.insert_user(&retired).await.unwrap();
    for refused in [
        edit(Some(Role::User), None, 100),
        edit(None, Some(true), 100),
    ] {
        assert_eq!(
            b.users.edit_account("u-root", &refused).await.unwrap(),
            AccountEdited::LastAdmin,
            "a disabled administrator does not count"
        );
    }
    assert_eq!(b.users.find_user("u-root").await.unwrap(), Some(root));
    // Enabling the other one lets the first step down.
    b.users
        .edit_account("u-old", &edit(None, Some(false), 200))
        .await
        .unwrap();
    assert!(matches!(
        b.users
            .edit_account("u-root", &edit(Some(Role::User), None, 300))
            .await
            .unwrap(),
        AccountEdited::Edited(_)
    ));
}

async fn administrators_stepping_down_at_once_on_two_instances_leave_exactly_one(b: Backend) {
    for round in 0..3 {
        let ids: Vec<String> = (0..6).map(|i| format!("u-r{round}a{i}")).collect();
        for (i, id) in ids.iter().enumerate() {
            let mut admin = user(id, &format!("r{round}-admin{i}"));
            admin.role = Role::Admin;
            b.users.insert_user(&admin).await.unwrap();
        }
        // The last round's survivor steps down now that six others exist: only this round's
        // administrators are active.
        if round > 0 {
            for survivor in b.users.list_users().await.unwrap() {
                if survivor.is_active_admin() && !ids.contains(&survivor.id) {
                    let outcome = b
                        .users
                        .edit_account(&survivor.id, &edit(Some(Role::User), None, 500))
                        .await
                        .unwrap();
                    assert!(matches!(outcome, AccountEdited::Edited(_)));
                }
            }
        }
        // Half demote, half disable; half through each instance; all at once.
        let tasks: Vec<_> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let store = if i % 2 == 0 {
                    b.users.clone()
                } else {
                    b.twin.clone()
                };
                let change = if i % 3 == 0 {
                    edit(None, Some(true), 1_000)
                } else {
                    edit(Some(Role::User), None, 1_000)
                };
                let id = id.clone();
                tokio::spawn(async move { store.edit_account(&id, &change).await.unwrap() })
            })
            .collect();
        let mut refused = 0;
        for task in tasks {
            if task.await.unwrap() == AccountEdited::LastAdmin {
                refused += 1;
            }
        }
        let active_admins = b
            .users
            .list_users()
            .await
            .unwrap()
            .into_iter()
            .filter(User::is_active_admin)
            .count();
        assert_eq!(
            (active_admins, refused),
            (1, 1),
            "round {round}: exactly one administrator is left, and exactly one edit was refused"
        );
    }
}

async fn a_password_change_racing_an_edit_keeps_both(b: Backend) {
    let mut keeper = user("u-keep", "keeper");
    keeper.role = Role::Admin;
    b.users.insert_user(&keeper).await.unwrap();
    for round in 0..10 {
        let id = format!("u-race{round}");
        let racer = user(&id, &format!("racer{round}"));
        b.users.insert_user(&racer).await.unwrap();
        let (users, twin) = (b.users.clone(), b.twin.clone());
        let (password, disable) = tokio::join!(
            {
                let id = id.clone();
                let old = racer.password_hash.clone();
                async move {
                    users
                        .set_password_hash(&id, &hash(&format!("p{round}")), Some(&old))
                        .await
                        .unwrap()
                }
            },
            {
                let id = id.clone();
                async move {
                    twin.edit_account(&id, &edit(Some(Role::Admin), Some(true), 7_000))
                        .await
                        .unwrap()
                }
            }
        );
        assert!(matches!(password, PasswordSet::Set(_)));
        assert!(matches!(disable, AccountEdited::Edited(_)));
        let stored = b.users.find_user(&id).await.unwrap().unwrap();
        assert_eq!(
            (stored.password_hash, stored.role, stored.disabled_at),
            (hash(&format!("p{round}")), Role::Admin, Some(at(7_000))),
            "round {round}: neither write undid the other"
        );
    }
}

async fn fifty_concurrent_signups_of_one_name_admit_exactly_one(b: Backend) {
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let users = b.users.clone();
            tokio::spawn(
                async move { users.insert_user(&user(&format!("u-{i}"), "popular")).await },
            )
        })
        .collect();
    let mut admitted = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => admitted += 1,
            Err(RepoError::Conflict) => {}
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert_eq!(admitted, 1);
}

async fn sessions_are_found_touched_and_ended(b: Backend) {
    let s = session("u-1", 1_000);
    b.sessions.insert_session(&s, at(100_000)).await.unwrap();
    assert_eq!(
        b.sessions.find_session(&s.key).await.unwrap(),
        Some(s.clone())
    );
    assert_eq!(
        b.sessions.insert_session(&s, at(100_000)).await,
        Err(RepoError::Conflict)
    );

    b.sessions
        .touch_session(&s.key, at(9_000), at(200_000))
        .await
        .unwrap();
    // Never backwards.
    b.sessions
        .touch_session(&s.key, at(2_000), at(200_000))
        .await
        .unwrap();
    let found = b.sessions.find_session(&s.key).await.unwrap().unwrap();
    assert_eq!(found.last_seen_at, at(9_000));

    b.sessions.delete_session(&s.key).await.unwrap();
    assert_eq!(b.sessions.find_session(&s.key).await.unwrap(), None);
    // Touching or ending a gone session changes nothing and recreates nothing.
    b.sessions
        .touch_session(&s.key, at(9_500), at(200_000))
        .await
        .unwrap();
    b.sessions.delete_session(&s.key).await.unwrap();
    assert_eq!(b.sessions.find_session(&s.key).await.unwrap(), None);
    let unknown = TokenKey::from_hex("0".repeat(64));
    assert_eq!(b.sessions.find_session(&unknown).await.unwrap(), None);
}

async fn ending_a_users_sessions_can_keep_one_and_spares_other_users(b: Backend) {
    let (mine, also_mine, keep) = (session("u-me", 1), session("u-me", 2), session("u-me", 3));
    let theirs = session("u-them", 4);
    for s in [&mine, &also_mine, &keep, &theirs] {
        b.sessions.insert_session(s, at(100_000)).await.unwrap();
    }
    let ended = b
        .sessions
        .delete_user_sessions("u-me", Some(&keep.key))
        .await
        .unwrap();
    assert_eq!(ended, 2);
    assert_eq!(b.sessions.find_session(&mine.key).await.unwrap(), None);
    assert!(b.sessions.find_session(&keep.key).await.unwrap().is_some());
    assert!(
        b.sessions
            .find_session(&theirs.key)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        b.sessions.delete_user_sessions("u-me", None).await.unwrap(),
        1
    );
    assert_eq!(b.sessions.find_session(&keep.key).await.unwrap(), None);
}

async fn expired_sessions_are_swept_in_batches(b: Backend) {
    if b.native_expiry {
        // The store forgets a session at its storage expiry by itself.
        let now = SystemClock.now();
        let short = session("u-1", 1);
        b.sessions
            .insert_session(&short, now.saturating_add(Duration::from_millis(300)))
            .await
            .unwrap();
        assert!(b.sessions.find_session(&short.key).await.unwrap().is_some());
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(b.sessions.find_session(&short.key).await.unwrap(), None);
        return;
    }
    let live = session("u-1", 1);
    b.sessions.insert_session(&live, at(50_000)).await.unwrap();
    let mut expired = Vec::new();
    for i in 0..5 {
        let s = session("u-1", 10 + i);
        b.sessions.insert_session(&s, at(1_000 + i)).await.unwrap();
        expired.push(s);
    }
    assert_eq!(
        b.sessions
            .delete_expired_sessions(at(10_000), 3)
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        b.sessions
            .delete_expired_sessions(at(10_000), 3)
            .await
            .unwrap(),
        2
    );
    for s in &expired {
        assert_eq!(b.sessions.find_session(&s.key).await.unwrap(), None);
    }
    assert!(b.sessions.find_session(&live.key).await.unwrap().is_some());
}

async fn an_invite_is_used_exactly_once(b: Backend) {
    let invite = Invite {
        key: Token::generate().key(),
        role: Role::Admin,
        created_by: "u-admin".into(),
        created_at: at(1_000),
        expires_at: at(90_000),
        used_at: None,
    };
    b.invites.insert_invite(&invite).await.unwrap();
    assert_eq!(
        b.invites.insert_invite(&invite).await,
        Err(RepoError::Conflict)
    );
    assert_eq!(
        b.invites.find_invite(&invite.key).await.unwrap(),
        Some(invite.clone())
    );

    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (invites, key) = (b.invites.clone(), invite.key.clone());
            tokio::spawn(async move { invites.use_invite(&key, at(2_000 + i)).await.unwrap() })
        })
        .collect();
    let mut winners = 0;
    for task in tasks {
        winners += usize::from(task.await.unwrap());
    }
    assert_eq!(winners, 1);
    let used = b.invites.find_invite(&invite.key).await.unwrap().unwrap();
    assert!(used.used_at.is_some());
    let unknown = Token::generate().key();
    assert!(!b.invites.use_invite(&unknown, at(3_000)).await.unwrap());
    assert_eq!(b.invites.find_invite(&unknown).await.unwrap(), None);
}

async fn invites_are_listed_newest_first(b: Backend) {
    for created in [1_000, 3_000, 2_000] {
        let invite = Invite {
            key: Token::generate().key(),
            role: Role::User,
            created_by: "u-admin".into(),
            created_at: at(created),
            expires_at: at(90_000),
            used_at: None,
        };
        b.invites.insert_invite(&invite).await.unwrap();
    }
    let order: Vec<i64> = b
        .invites
        .list_invites()
        .await
        .unwrap()
        .iter()
        .map(|i| i.created_at.as_unix_millis() - at(0).as_unix_millis())
        .collect();
    assert_eq!(order, [3_000, 2_000, 1_000]);
}

backends!(4;
    users_round_trip_and_names_are_unique,
    edits_and_password_changes_each_write_only_their_own_fields,
    the_last_active_administrator_cannot_step_down,
    administrators_stepping_down_at_once_on_two_instances_leave_exactly_one,
    a_password_change_racing_an_edit_keeps_both,
    fifty_concurrent_signups_of_one_name_admit_exactly_one,
    sessions_are_found_touched_and_ended,
    ending_a_users_sessions_can_keep_one_and_spares_other_users,
    expired_sessions_are_swept_in_batches,
    an_invite_is_used_exactly_once,
    invites_are_listed_newest_first,
);
