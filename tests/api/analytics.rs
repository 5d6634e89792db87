//! Click analytics over a real socket: real user agents told apart into people and bots,
//! referrer hosts and CDN countries kept (and nothing more of them), the time series and
//! breakdown endpoints with their range rules.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::{T0, TestApp, assert_problem};
use serde_json::Value;
use url_shortener::config::SqliteSync;
use url_shortener::repository::{AccountStores, SqliteRepository};

const CHROME_WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const SAFARI_IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1";
const SAFARI_IPAD: &str = "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1";

/// What the link-preview fetchers and crawlers send.
const BOTS: &[&str] = &[
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Twitterbot/1.0",
    "WhatsApp/2.23.20.0 A",
    "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
    "TelegramBot (like TwitterBot)",
    "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
];

async fn visit(app: &TestApp, code: &str, headers: &[(&str, &str)]) {
    let mut request = app.client.get(app.url(&format!("/s/{code}")));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 302);
}

async fn json(app: &TestApp, path: &str) -> Value {
    let response = app.get(path).await;
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

fn clicks_of(list: &Value, field: &str, key: &str) -> u64 {
    list.as_array()
        .unwrap()
        .iter()
        .find(|e| e[field] == key)
        .map_or(0, |e| e["clicks"].as_u64().unwrap())
}

#[tokio::test]
async fn people_and_bots_are_told_apart_by_their_real_user_agents() {
    let app = TestApp::spawn().await;
    let code = app.create("https://example.com/post").await["short_code"]
        .as_str()
        .unwrap()
        .to_owned();
    for agent in [CHROME_WINDOWS, SAFARI_IPHONE, SAFARI_IPAD] {
        visit(&app, &code, &[("user-agent", agent)]).await;
    }
    for agent in BOTS {
        visit(&app, &code, &[("user-agent", agent)]).await;
    }
    // No user agent at all: no browser does that.
    visit(&app, &code, &[]).await;
    // HEAD counts nothing.
    assert_eq!(app.head(&code).await.status(), 302);

    // Before any flush (this instance's pending clicks) and after: the same answer.
    let bots = BOTS.len() as u64 + 1;
    for flushed in [false, true] {
        if flushed {
            app.state
                .urls
                .click_flusher(Duration::from_secs(1))
                .flush()
                .await;
        }
        let stats = json(&app, &format!("/stats/{code}")).await;
        assert_eq!(stats["click_count"], 3 + bots, "flushed: {flushed}");
        assert_eq!(stats["human_clicks"], 3, "flushed: {flushed}");
        assert_eq!(stats["bot_clicks"], bots, "flushed: {flushed}");
        let breakdown = json(&app, &format!("/stats/{code}/breakdown")).await;
        let devices = &breakdown["devices"];
        assert_eq!(clicks_of(devices, "device", "desktop"), 1);
        assert_eq!(clicks_of(devices, "device", "mobile"), 1);
        assert_eq!(clicks_of(devices, "device", "tablet"), 1);
        assert_eq!(clicks_of(devices, "device", "bot"), bots);
    }
}

#[tokio::test]
async fn only_the_referrer_host_and_the_cdn_country_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("links.db");
    let sqlite = Arc::new(
        SqliteRepository::open(&path, SqliteSync::Full)
            .await
            .unwrap(),
    );
    let app = TestApp::builder()
        .repo(sqlite.clone())
        .accounts(AccountStores::of(sqlite.clone()))
        .clicks(sqlite)
        .settings(|s| s.clicks.country_header = Some("CF-IPCountry".into()))
        .spawn()
        .await;
    let code = app.create("https://example.com/").await["short_code"]
        .as_str()
        .unwrap()
        .to_owned();
    let referer = "https://News.Example.com:8443/private/thread?token=s3cret-token#frag";
    visit(
        &app,
        &code,
        &[
            ("user-agent", CHROME_WINDOWS),
            ("referer", referer),
            ("cf-ipcountry", "de"),
            ("x-forwarded-for", "203.0.113.77"),
        ],
    )
    .await;
    // A spoofed or unknown country and a non-web referrer are not kept.
    visit(
        &app,
        &code,
        &[
            ("user-agent", CHROME_WINDOWS),
            ("referer", "android-app://com.example.mail/"),
            ("cf-ipcountry", "XX"),
        ],
    )
    .await;
    app.state
        .urls
        .click_flusher(Duration::from_secs(1))
        .flush()
        .await;

    let breakdown = json(&app, &format!("/stats/{code}/breakdown")).await;
    let referrers = &breakdown["referrers"];
    assert_eq!(clicks_of(referrers, "host", "news.example.com"), 1);
    assert_eq!(clicks_of(referrers, "host", "(direct)"), 1);
    assert_eq!(clicks_of(&breakdown["countries"], "country", "DE"), 1);
    assert_eq!(
        clicks_of(&breakdown["countries"], "country", "(unknown)"),
        1
    );

    // Nothing else of the visitor reached the file (or its write-ahead log).
    app.stop().await;
    let mut stored = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        stored.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let stored = String::from_utf8_lossy(&stored);
    for secret in [
        "s3cret-token",
        "private/thread",
        "8443",
        "203.0.113.77",
        "127.0.0.1",
        "Chrome/131",
        "android-app",
    ] {
        assert!(!stored.contains(secret), "{secret} is in the database");
    }
    assert!(stored.contains("news.example.com"));
}

#[tokio::test]
async fn a_country_header_counts_only_when_configured() {
    let app = TestApp::spawn().await;
    let code = app.create("https://example.com/").await["short_code"]
        .as_str()
        .unwrap()
        .to_owned();
    visit(&app, &code, &[("cf-ipcountry", "FR")]).await;
    let breakdown = json(&app, &format!("/stats/{code}/breakdown")).await;
    assert_eq!(
        clicks_of(&breakdown["countries"], "country", "(unknown)"),
        1
    );
    assert_eq!(clicks_of(&breakdown["countries"], "country", "FR"), 0);
}

#[tokio::test]
async fn the_time_series_has_every_bucket_and_refuses_bad_ranges() {
    let app = TestApp::spawn().await;
    let code = app.create("https://example.com/").await["short_code"]
        .as_str()
        .unwrap()
        .to_owned();
    visit(&app, &code, &[("user-agent", SAFARI_IPHONE)]).await;
    visit(&app, &code, &[("user-agent", "Twitterbot/1.0")]).await;
    // T0 is the test clock's now: the clicks are in its hour.
    let hour = T0 - T0.rem_euclid(3_600_000);
    let from = url_shortener::domain::Timestamp::from_unix_millis(hour - 2 * 3_600_000)
        .unwrap()
        .to_string();
    let to = url_shortener::domain::Timestamp::from_unix_millis(hour + 3_600_000)
        .unwrap()
        .to_string();
    let series = json(
        &app,
        &format!("/stats/{code}/timeseries?interval=hour&from={from}&to={to}"),
    )
    .await;
    assert_eq!(series["interval"], "hour");
    let points = series["points"].as_array().unwrap();
    assert_eq!(points.len(), 3);
    assert_eq!(points[0]["start"], from);
    assert_eq!(
        (points[0]["human"].as_u64(), points[0]["bot"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(
        (points[2]["human"].as_u64(), points[2]["bot"].as_u64()),
        (Some(1), Some(1))
    );

    // Daily by default, 30 days ending now.
    let daily = json(&app, &format!("/stats/{code}/timeseries")).await;
    assert_eq!(daily["interval"], "day");
    let days = daily["points"].as_array().unwrap();
    assert!((30..=31).contains(&days.len()), "{}", days.len());
    let total: u64 = days
        .iter()
        .map(|p| p["human"].as_u64().unwrap() + p["bot"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 2);

    for bad in [
        "interval=minute".to_owned(),
        "from=yesterday".to_owned(),
        format!("from={to}&to={from}"),
        "interval=hour&from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z".to_owned(),
        "from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z".to_owned(),
        "bucket=hour".to_owned(),
    ] {
        let response = app.get(&format!("/stats/{code}/timeseries?{bad}")).await;
        assert_problem(response, 400, "invalid_range").await;
    }
    let response = app
        .get(&format!(
            "/stats/{code}/breakdown?from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z"
        ))
        .await;
    assert_problem(response, 400, "invalid_range").await;
    // Unknown codes answer as /stats does.
    assert_problem(
        app.get("/stats/nosuchcode/timeseries").await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        app.get("/stats/nosuchcode/breakdown").await,
        404,
        "not_found",
    )
    .await;
}
