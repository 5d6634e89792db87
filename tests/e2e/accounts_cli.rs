//! `url-shortener user …` through the release binary on the default SQLite store: accounts an
//! operator creates, lists, disables, re-roles and re-passwords, with clear errors for bad
//! input, and no password anywhere in the database file.

use crate::common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const PASSWORD: &str = "correct horse battery staple";

/// Runs `url-shortener ARGS` in `dir` on its SQLite file, with `stdin` as standard input.
fn run(dir: &Path, args: &[&str], stdin: &str) -> Output {
    run_with(dir, &[], args, stdin)
}

/// As [`run`], with more settings in the environment.
fn run_with(dir: &Path, env: &[(&str, &str)], args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(common::process::binary())
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .envs(env.iter().copied())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn ok(dir: &Path, args: &[&str], stdin: &str) -> String {
    let output = run(dir, args, stdin);
    assert!(output.status.success(), "{args:?}: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}

fn refused(dir: &Path, args: &[&str], stdin: &str) -> String {
    let output = run(dir, args, stdin);
    assert!(!output.status.success(), "{args:?} succeeded: {output:?}");
    String::from_utf8(output.stderr).unwrap()
}

fn row_of(list: &str, username: &str) -> String {
    list.lines()
        .find(|line| line.starts_with(&format!("{username} ")))
        .unwrap_or_else(|| panic!("{username} not listed:\n{list}"))
        .to_owned()
}

#[test]
fn an_operator_manages_accounts_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let line = format!("{PASSWORD}\n");
    let created = ok(
        dir.path(),
        &["user", "create", "Ada", "--admin", "--password-stdin"],
        &line,
    );
    assert!(created.contains("created ada (admin)"), "{created}");
    ok(
        dir.path(),
        &["user", "create", "bob", "--password-stdin"],
        &line,
    );

    let list = ok(dir.path(), &["user", "list"], "");
    assert!(row_of(&list, "ada").contains("admin"), "{list}");
    assert!(row_of(&list, "bob").contains("active"), "{list}");

    ok(dir.path(), &["user", "disable", "bob"], "");
    let list = ok(dir.path(), &["user", "list"], "");
    assert!(row_of(&list, "bob").contains("disabled"), "{list}");
    ok(dir.path(), &["user", "enable", "bob"], "");
    ok(dir.path(), &["user", "set-role", "bob", "admin"], "");
    let list = ok(dir.path(), &["user", "list"], "");
    assert!(row_of(&list, "bob").contains("admin"), "{list}");
    ok(
        dir.path(),
        &["user", "set-password", "bob", "--password-stdin"],
        "another long passphrase\n",
    );

    // Bad input: a clear message and a failing exit status, nothing created.
    let taken = refused(
        dir.path(),
        &["user", "create", "ADA", "--password-stdin"],
        &line,
    );
    assert!(taken.contains("taken"), "{taken}");
    let bad_name = refused(
        dir.path(),
        &["user", "create", "a b", "--password-stdin"],
        &line,
    );
    assert!(bad_name.contains("user name"), "{bad_name}");
    let weak = refused(
        dir.path(),
        &["user", "create", "cyd", "--password-stdin"],
        "short\n",
    );
    assert!(weak.contains("12 to 256"), "{weak}");
    let unknown = refused(dir.path(), &["user", "disable", "nobody"], "");
    assert!(unknown.contains("no such user"), "{unknown}");
    let list = ok(dir.path(), &["user", "list"], "");
    assert_eq!(
        list.lines().count(),
        3,
        "a header and two accounts:\n{list}"
    );

    // Only argon2id hashes reach the store: no password, in any file SQLite wrote.
    for entry in std::fs::read_dir(dir.path().join("data")).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        for secret in [PASSWORD, "another long passphrase"] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "a password was written to the database"
            );
        }
    }
}

#[test]
fn the_user_commands_work_on_redis_too() {
    let prefix = format!("{}:", common::backends::unique("cli"));
    let dir = tempfile::tempdir().unwrap();
    let url = common::backends::redis_url();
    let env = [
        ("URL_SHORTENER__STORAGE__BACKEND", "redis"),
        ("URL_SHORTENER__STORAGE__REDIS__URL", url.as_str()),
        ("URL_SHORTENER__STORAGE__REDIS__KEY_PREFIX", prefix.as_str()),
    ];
    let run_on_redis = |args: &[&str], stdin: &str| run_with(dir.path(), &env, args, stdin);
    let created = run_on_redis(
        &["user", "create", "ada", "--admin", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    assert!(created.status.success(), "{created:?}");
    let list = run_on_redis(&["user", "list"], "");
    assert!(list.status.success(), "{list:?}");
    let list = String::from_utf8(list.stdout).unwrap();
    assert!(row_of(&list, "ada").contains("admin"), "{list}");
    drop(common::backends::RedisScope { prefix });
}
