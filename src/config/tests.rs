//! Loading, layering and checking settings, and the documented table held to the structs.

use super::*;

/// Every key of `settings` as `section.key` (`section.sub.key`), with its value.
fn keys(prefix: &str, value: &serde_json::Value, out: &mut Vec<(String, serde_json::Value)>) {
    match value.as_object() {
        Some(fields) => {
            for (name, field) in fields {
                let key = if prefix.is_empty() {
                    name.clone()
                } else {
                    format!("{prefix}.{name}")
                };
                keys(&key, field, out);
            }
        }
        None => out.push((prefix.to_owned(), value.clone())),
    }
}

/// docs/configuration.md's table as (key, default cell). A row may name several keys
/// with their defaults in the same order: `` `a` / `b` | `1` / `2` ``.
fn documented() -> Vec<(String, String)> {
    let mut rows = Vec::new();
    for line in include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/configuration.md"
    ))
    .lines()
    {
        let mut cells = line.split('|').map(str::trim).skip(1);
        let (Some(keys), Some(defaults)) = (cells.next(), cells.next()) else {
            continue;
        };
        let keys: Vec<&str> = keys.split(" / ").collect();
        let defaults: Vec<&str> = defaults.split(" / ").collect();
        for (i, key) in keys.iter().enumerate() {
            let Some(key) = key.strip_prefix('`').and_then(|k| k.strip_suffix('`')) else {
                continue;
            };
            let default = if defaults.len() == keys.len() {
                defaults[i]
            } else {
                defaults[0]
            };
            if key.contains('.') {
                rows.push((key.to_owned(), default.to_owned()));
            }
        }
    }
    rows
}

#[test]
fn every_key_is_documented_with_its_default() {
    let mut served = Vec::new();
    keys(
        "",
        &serde_json::to_value(Settings::default()).unwrap(),
        &mut served,
    );
    let documented = documented();
    let names = |keys: &mut dyn Iterator<Item = &String>| {
        keys.cloned().collect::<std::collections::BTreeSet<_>>()
    };
    assert_eq!(
        names(&mut documented.iter().map(|(k, _)| k)),
        names(&mut served.iter().map(|(k, _)| k)),
        "docs/configuration.md's keys against the settings structs"
    );
    for (key, value) in served {
        let (_, cell) = documented.iter().find(|(k, _)| *k == key).unwrap();
        // A cell that opens with a `value` states the default; others say it in words
        // ("unset (never)").
        // An unset option's default is said in words, or as what it means (`true`).
        if value.is_null() {
            continue;
        }
        let Some(stated) = cell
            .strip_prefix('`')
            .and_then(|rest| rest.split('`').next())
        else {
            assert!(
                value.is_null() || value.as_array().is_some_and(Vec::is_empty) || value == "",
                "{key}: default {value} not stated in {cell:?}"
            );
            continue;
        };
        let actual = match &value {
            serde_json::Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        assert_eq!(
            stated, actual,
            "{key}: documented default against Settings::default()"
        );
    }
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn defaults_are_the_documented_ones() {
    let s = Settings::load_from(None, env(&[])).unwrap();
    assert_eq!(s.server.listen, "127.0.0.1:8080");
    assert_eq!(s.server.base_url, "http://127.0.0.1:8080");
    assert_eq!(s.links.code_length, 8);
    assert_eq!(s.links.redirect_status, 302);
    assert_eq!(s.links.max_ttl_seconds, 315_360_000);
    assert_eq!(s.links.default_ttl_seconds, None);
    assert!(!s.security.allow_private_destinations);
    assert_eq!(s.clicks.flush_interval_ms, 1_000);
    assert_eq!(s.storage.backend, StorageBackend::Sqlite);
    assert_eq!(
        s.storage.sqlite.path,
        PathBuf::from("data/url-shortener.db")
    );
    assert_eq!(s.storage.sqlite.synchronous, SqliteSync::Full);
    assert_eq!(s.expiration.interval_seconds, 300);
    assert_eq!(s.expiration.batch_size, 1_000);
}

#[test]
fn link_health_defaults_and_bad_values_are_named() {
    let s = Settings::load_from(None, env(&[])).unwrap();
    assert!(s.link_health.enabled);
    assert_eq!(s.link_health.interval_hours, 24);
    assert_eq!(s.link_health.first_check_after_seconds, 60);
    assert_eq!(s.link_health.failures_for_broken, 3);
    assert!(s.link_health.dns_servers.is_empty());
    for (key, value, named) in [
        (
            "URL_SHORTENER__LINK_HEALTH__DNS_SERVERS",
            "resolver.local",
            "dns_servers",
        ),
        (
            "URL_SHORTENER__LINK_HEALTH__INTERVAL_HOURS",
            "0",
            "interval_hours",
        ),
        (
            "URL_SHORTENER__LINK_HEALTH__TIMEOUT_MS",
            "0",
            "link_health.timeout_ms",
        ),
    ] {
        let err = Settings::load_from(None, env(&[(key, value)])).unwrap_err();
        assert!(err.to_string().contains(named), "{key}: {err}");
    }
}

#[test]
fn debug_output_hides_the_redis_password() {
    let mut s = Settings::default();
    s.storage.redis.url = "redis://:hunter2@cache.internal:6379/0".to_owned();
    let shown = format!("{s:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("cache.internal"), "{shown}");
}

#[test]
fn trusted_proxies_parse_from_a_comma_separated_variable() {
    let s = Settings::load_from(
        None,
        env(&[(
            "URL_SHORTENER__RATE_LIMIT__TRUSTED_PROXIES",
            "10.0.0.0/8,192.0.2.1/32",
        )]),
    )
    .unwrap();
    assert_eq!(s.rate_limit.trusted_proxies.len(), 2);
    assert!(s.rate_limit.enabled);
}

#[test]
fn the_redis_limiter_needs_a_secret() {
    let err = Settings::load_from(
        None,
        env(&[("URL_SHORTENER__RATE_LIMIT__BACKEND", "redis")]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("rate_limit.secret"), "{err}");
}

#[test]
fn worker_threads_default_to_one_per_cpu_and_are_bounded() {
    assert_eq!(Settings::default().server.worker_threads, 0);
    let s =
        Settings::load_from(None, env(&[("URL_SHORTENER__SERVER__WORKER_THREADS", "1")])).unwrap();
    assert_eq!(s.server.worker_threads, 1);
    let err = Settings::load_from(
        None,
        env(&[("URL_SHORTENER__SERVER__WORKER_THREADS", "5000")]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("server.worker_threads"), "{err}");
}

#[test]
fn the_runtime_defaults_to_sharded_and_an_unknown_one_is_named() {
    assert_eq!(Settings::default().server.runtime, ServerRuntime::Sharded);
    assert!(Settings::default().server.threads() >= 1);
    let s = Settings::load_from(
        None,
        env(&[("URL_SHORTENER__SERVER__RUNTIME", "work_stealing")]),
    )
    .unwrap();
    assert_eq!(s.server.runtime, ServerRuntime::WorkStealing);
    let err = Settings::load_from(None, env(&[("URL_SHORTENER__SERVER__RUNTIME", "fibers")]))
        .unwrap_err();
    assert!(err.to_string().contains("runtime"), "{err}");
}

#[test]
fn an_unknown_backend_is_named() {
    let err = Settings::load_from(None, env(&[("URL_SHORTENER__STORAGE__BACKEND", "mongo")]))
        .unwrap_err();
    assert!(err.to_string().contains("mongo"), "{err}");
}

#[test]
fn environment_variables_override_defaults() {
    let s = Settings::load_from(
        None,
        env(&[
            ("URL_SHORTENER__LINKS__REDIRECT_STATUS", "308"),
            ("URL_SHORTENER__LINKS__DEFAULT_TTL_SECONDS", "60"),
            (
                "URL_SHORTENER__SECURITY__ALLOW_PRIVATE_DESTINATIONS",
                "true",
            ),
            ("URL_SHORTENER_CONFIG", "/not/a/setting.toml"),
        ]),
    )
    .unwrap();
    assert_eq!(s.links.redirect_status, 308);
    assert_eq!(s.links.default_ttl_seconds, Some(60));
    assert!(s.security.allow_private_destinations);
}

#[test]
fn a_zero_key_budget_is_refused_by_name() {
    for key in ["KEYS_PER_MINUTE", "KEY_BURST"] {
        let error = Settings::load_from(
            None,
            env(&[(&format!("URL_SHORTENER__RATE_LIMIT__{key}"), "0")]),
        )
        .unwrap_err();
        assert!(
            error
                .message
                .contains(&format!("rate_limit.{}", key.to_lowercase())),
            "{error}"
        );
    }
}

#[test]
fn a_bad_value_names_its_key() {
    let err = Settings::load_from(
        None,
        env(&[("URL_SHORTENER__LINKS__REDIRECT_STATUS", "303")]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("links.redirect_status"), "{err}");

    let err = Settings::load_from(None, env(&[("URL_SHORTENER__SERVER__BASE_URL", "ftp://x")]))
        .unwrap_err();
    assert!(err.to_string().contains("server.base_url"), "{err}");

    let err = Settings::load_from(None, env(&[("URL_SHORTENER__LINKS__CODE_LENGTH", "abc")]))
        .unwrap_err();
    assert!(err.to_string().contains("code_length"), "{err}");
}

#[test]
fn short_urls_take_the_root_or_the_s_prefix_and_nothing_else() {
    assert_eq!(Settings::default().links.short_url_prefix, "/");
    for ok in ["/", "/s/"] {
        let s = Settings::load_from(None, env(&[("URL_SHORTENER__LINKS__SHORT_URL_PREFIX", ok)]))
            .unwrap();
        assert_eq!(s.links.short_url_prefix, ok);
    }
    for bad in ["", "s", "/s", "/go/", "https://x/"] {
        let err = Settings::load_from(
            None,
            env(&[("URL_SHORTENER__LINKS__SHORT_URL_PREFIX", bad)]),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("links.short_url_prefix"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn an_unknown_key_is_an_error_not_a_silent_typo() {
    let err =
        Settings::load_from(None, env(&[("URL_SHORTENER__LINKS__CODE_LENGHT", "9")])).unwrap_err();
    assert!(err.to_string().contains("code_lenght"), "{err}");
}

#[test]
fn a_toml_file_is_layered_under_the_environment() {
    let dir = std::env::temp_dir().join(format!("url-shortener-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("settings.toml");
    std::fs::write(
        &file,
        "[server]\nlisten = \"127.0.0.1:9999\"\n[links]\ncode_length = 10\n",
    )
    .unwrap();
    let s = Settings::load_from(
        Some(&file),
        env(&[("URL_SHORTENER__LINKS__CODE_LENGTH", "12")]),
    )
    .unwrap();
    assert_eq!(s.server.listen, "127.0.0.1:9999");
    assert_eq!(s.links.code_length, 12);
    std::fs::remove_dir_all(dir).unwrap();
}
