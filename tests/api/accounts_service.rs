//! `AccountService` on the memory and SQLite stores with a manual clock: accounts, logins that
//! say nothing about why they failed, sessions that end on time, password changes that end the
//! other sessions, and invites that work once.

use crate::common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use url_shortener::config::SqliteSync;
use url_shortener::domain::{ManualClock, Role, SessionLifetime, Timestamp, Token};
use url_shortener::repository::{AccountStores, MemoryRepository, SqliteRepository};
use url_shortener::service::{AccountService, ServiceError};

const DAY_MS: u64 = 24 * 60 * 60 * 1000;
const PASSWORD: &str = "correct horse battery staple";

struct Fixture {
    accounts: AccountService,
    clock: Arc<ManualClock>,
    _dir: Option<tempfile::TempDir>,
}

fn service(stores: AccountStores, dir: Option<tempfile::TempDir>) -> Fixture {
    let lifetime = SessionLifetime {
        idle: Duration::from_millis(7 * DAY_MS),
        absolute: Duration::from_millis(30 * DAY_MS),
    };
    service_with(stores, dir, lifetime)
}

fn service_with(
    stores: AccountStores,
    dir: Option<tempfile::TempDir>,
    lifetime: SessionLifetime,
) -> Fixture {
    let clock = Arc::new(ManualClock::new(
        Timestamp::from_unix_millis(common::T0).unwrap(),
    ));
    let accounts = AccountService::new(
        stores.users,
        stores.sessions,
        stores.invites,
        clock.clone(),
        lifetime,
        Duration::from_millis(7 * DAY_MS),
        Arc::new(url_shortener::service::HashGate::new(
            4,
            Duration::from_secs(30),
        )),
    );
    Fixture {
        accounts,
        clock,
        _dir: dir,
    }
}

fn memory() -> Fixture {
    service(AccountStores::of(Arc::new(MemoryRepository::new())), None)
}

async fn sqlite() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let repo = SqliteRepository::open(dir.path().join("a.db"), SqliteSync::Normal)
        .await
        .unwrap();
    service(AccountStores::of(Arc::new(repo)), Some(dir))
}

#[tokio::test]
async fn a_created_user_logs_in_with_a_new_session_every_time() {
    for f in [memory(), sqlite().await] {
        let ada = f
            .accounts
            .create_user("Ada", PASSWORD, Some("Ada Lovelace"), Role::Admin)
            .await
            .unwrap();
        assert_eq!(ada.username.as_str(), "ada");
        let (first, user) = f.accounts.login("ADA", PASSWORD).await.unwrap();
        assert_eq!(user.id, ada.id);
        let (second, _) = f.accounts.login("ada", PASSWORD).await.unwrap();
        assert_ne!(first, second, "every login gets a fresh session id");
        for token in [&first, &second] {
            let (_, who) = f.accounts.authenticate(token).await.unwrap().unwrap();
            assert_eq!(who.id, ada.id);
        }
        assert_eq!(
            f.accounts
                .create_user("ada", PASSWORD, None, Role::User)
                .await
                .unwrap_err(),
            ServiceError::UsernameTaken
        );
    }
}

#[tokio::test]
async fn every_failed_login_is_the_same_error_after_the_same_work() {
    let f = memory();
    f.accounts
        .create_user("bob", PASSWORD, None, Role::User)
        .await
        .unwrap();
    f.accounts
        .create_user("carol", PASSWORD, None, Role::User)
        .await
        .unwrap();
    f.accounts
        .update_account("carol", None, Some(true))
        .await
        .unwrap();
    // Warm the dummy hash, then time each kind of failure a few times.
    let _ = f.accounts.login("nobody", PASSWORD).await;
    let cases = [
        ("unknown user", "nobody", PASSWORD),
        ("wrong password", "bob", "not the right password"),
        ("disabled account", "carol", PASSWORD),
        ("malformed name", "x", PASSWORD),
        ("short password", "bob", "short"),
    ];
    let mut figures = Vec::new();
    for (what, username, password) in cases {
        let started = Instant::now();
        for _ in 0..3 {
            assert_eq!(
                f.accounts.login(username, password).await.unwrap_err(),
                ServiceError::InvalidCredentials,
                "{what}"
            );
        }
        figures.push(format!("{what}: {:?}", started.elapsed() / 3));
    }
    let started = Instant::now();
    for _ in 0..3 {
        f.accounts.login("bob", PASSWORD).await.unwrap();
    }
    figures.push(format!("success: {:?}", started.elapsed() / 3));
    println!("login time per attempt: {}", figures.join(", "));
}

#[tokio::test]
async fn a_session_ends_after_its_idle_time_and_after_its_absolute_time() {
    for f in [memory(), sqlite().await] {
        f.accounts
            .create_user("dora", PASSWORD, None, Role::User)
            .await
            .unwrap();
        let (idle, _) = f.accounts.login("dora", PASSWORD).await.unwrap();
        f.clock.advance_millis(7 * DAY_MS - 1);
        assert!(f.accounts.authenticate(&idle).await.unwrap().is_some());
        // That use renewed it: a week from now again.
        f.clock.advance_millis(7 * DAY_MS - 1);
        assert!(f.accounts.authenticate(&idle).await.unwrap().is_some());
        f.clock.advance_millis(7 * DAY_MS);
        assert!(f.accounts.authenticate(&idle).await.unwrap().is_none());

        let (busy, _) = f.accounts.login("dora", PASSWORD).await.unwrap();
        for _ in 0..4 {
            f.clock.advance_millis(6 * DAY_MS);
            assert!(f.accounts.authenticate(&busy).await.unwrap().is_some());
        }
        f.clock.advance_millis(6 * DAY_MS);
        assert!(
            f.accounts.authenticate(&busy).await.unwrap().is_none(),
            "used every six days, still ended 30 days after login"
        );
        assert!(
            f.accounts
                .authenticate(&Token::generate())
                .await
                .unwrap()
                .is_none()
        );
    }
}

#[tokio::test]
async fn a_short_idle_timeout_is_honoured_to_within_a_tenth() {
    let lifetime = SessionLifetime {
        idle: Duration::from_secs(120),
        absolute: Duration::from_millis(30 * DAY_MS),
    };
    let f = service_with(
        AccountStores::of(Arc::new(MemoryRepository::new())),
        None,
        lifetime,
    );
    f.accounts
        .create_user("fay", PASSWORD, None, Role::User)
        .await
        .unwrap();
    let (token, _) = f.accounts.login("fay", PASSWORD).await.unwrap();
    // Used 50 s after login, then every 100 s (under the 120 s idle timeout): each use must
    // count, or the session would end 120 s after the last use that happened to be written.
    f.clock.advance_millis(50_000);
    assert!(f.accounts.authenticate(&token).await.unwrap().is_some());
    for round in 0..4 {
        f.clock.advance_millis(100_000);
        assert!(
            f.accounts.authenticate(&token).await.unwrap().is_some(),
            "use {round}: still live"
        );
    }
    // Unused: alive a tenth short of the timeout, ended past it.
    f.clock.advance_millis(108_000);
    assert!(f.accounts.authenticate(&token).await.unwrap().is_some());
    f.clock.advance_millis(121_000);
    assert!(f.accounts.authenticate(&token).await.unwrap().is_none());
}

#[tokio::test]
async fn changing_the_password_ends_the_other_sessions_and_keeps_this_one() {
    for f in [memory(), sqlite().await] {
        let erin = f
            .accounts
            .create_user("erin", PASSWORD, None, Role::User)
            .await
            .unwrap();
        let (here, _) = f.accounts.login("erin", PASSWORD).await.unwrap();
        let (elsewhere, _) = f.accounts.login("erin", PASSWORD).await.unwrap();
        assert_eq!(
            f.accounts
                .change_password(
                    &erin,
                    Some(&here.key()),
                    "wrong current pw",
                    "a new long password"
                )
                .await
                .unwrap_err(),
            ServiceError::InvalidCredentials
        );
        f.accounts
            .change_password(&erin, Some(&here.key()), PASSWORD, "a new long password")
            .await
            .unwrap();
        assert!(f.accounts.authenticate(&here).await.unwrap().is_some());
        assert!(f.accounts.authenticate(&elsewhere).await.unwrap().is_none());
        assert!(f.accounts.login("erin", PASSWORD).await.is_err());
        f.accounts
            .login("erin", "a new long password")
            .await
            .unwrap();
        // Log out everywhere.
        f.accounts.end_sessions(&erin, None).await.unwrap();
        assert!(f.accounts.authenticate(&here).await.unwrap().is_none());
    }
}

#[tokio::test]
async fn disabling_an_account_ends_its_sessions() {
    let f = memory();
    f.accounts
        .create_user("fay", PASSWORD, None, Role::User)
        .await
        .unwrap();
    let (token, _) = f.accounts.login("fay", PASSWORD).await.unwrap();
    f.accounts
        .update_account("fay", None, Some(true))
        .await
        .unwrap();
    assert!(f.accounts.authenticate(&token).await.unwrap().is_none());
    assert_eq!(
        f.accounts.login("fay", PASSWORD).await.unwrap_err(),
        ServiceError::InvalidCredentials
    );
    f.accounts
        .update_account("fay", Some(Role::Admin), Some(false))
        .await
        .unwrap();
    let (_, fay) = f.accounts.login("fay", PASSWORD).await.unwrap();
    assert!(fay.is_admin());
}

#[tokio::test]
async fn an_invite_makes_one_account_and_then_no_more() {
    for f in [memory(), sqlite().await] {
        let admin = f
            .accounts
            .create_user("root", PASSWORD, None, Role::Admin)
            .await
            .unwrap();
        assert!(f.accounts.has_admin().await.unwrap());
        let (token, _) = f.accounts.create_invite(&admin, Role::User).await.unwrap();
        let gus = f
            .accounts
            .accept_invite(&token, "gus", PASSWORD, None)
            .await
            .unwrap();
        assert_eq!(gus.role, Role::User);
        assert_eq!(
            f.accounts
                .accept_invite(&token, "gus2", PASSWORD, None)
                .await
                .unwrap_err(),
            ServiceError::InvalidInvite
        );
        let (late, _) = f.accounts.create_invite(&admin, Role::User).await.unwrap();
        f.clock.advance_millis(7 * DAY_MS);
        assert_eq!(
            f.accounts
                .accept_invite(&late, "hal", PASSWORD, None)
                .await
                .unwrap_err(),
            ServiceError::InvalidInvite
        );
        // A taken name does not use the invite up.
        let (fresh, _) = f.accounts.create_invite(&admin, Role::User).await.unwrap();
        assert_eq!(
            f.accounts
                .accept_invite(&fresh, "gus", PASSWORD, None)
                .await
                .unwrap_err(),
            ServiceError::UsernameTaken
        );
        f.accounts
            .accept_invite(&fresh, "ivy", PASSWORD, None)
            .await
            .unwrap();
    }
}
