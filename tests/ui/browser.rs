//! The web UI as a person uses it: a real headless Chromium clicks through the release binary
//! on SQLite, once with JavaScript (htmx swaps, no full reload) and once without (plain forms,
//! POST → 303 → GET). First-run setup from the link in the log, create a link, copy it, follow
//! it, see the click on its page, check its destination, edit it, create and revoke an API key,
//! create a user and an invite, log out and in, the new user cannot see the administrator's
//! link or pages, delete the link. With JavaScript every page passes axe-core with no serious
//! or critical violation, and each page is saved as a screenshot (wide and narrow) under
//! `<target>/ui-screenshots/`.

use crate::common;

use std::time::Duration;

use common::browser::{
    Driver, axe_violations, click, fill, free_port, screenshots, text_of, wait_for,
    wait_for_heading,
};
use common::fixture::Destination;
use common::process::{ServerProcess, start, temp_dir};
use fantoccini::{Client, Locator};

const ADMIN_PASSWORD: &str = "correct horse battery staple";
const BOB_PASSWORD: &str = "bob's long enough password";

/// Visitors of the first link: user agent and referrer.
const VISITORS: &[(&str, &str)] = &[
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
        "https://news.example.org/item?id=1",
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        "https://news.example.org/item?id=2",
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
        "https://blog.example.net/links",
    ),
    (
        "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
        "https://app.slack.example/",
    ),
];

/// The service for one run, and where its destinations live.
struct Site {
    server: ServerProcess,
    dir: std::path::PathBuf,
    base: String,
    destination: Destination,
}

async fn site(name: &str) -> Site {
    let dir = temp_dir(name);
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let base = format!("http://127.0.0.1:{port}");
    let server = start(
        &dir,
        &[
            ("URL_SHORTENER__SERVER__LISTEN", listen.as_str()),
            ("URL_SHORTENER__SERVER__BASE_URL", base.as_str()),
            // The destinations are the fixture on 127.0.0.2.
            (
                "URL_SHORTENER__SECURITY__ALLOW_PRIVATE_DESTINATIONS",
                "true",
            ),
            ("URL_SHORTENER__LINK_HEALTH__ENABLED", "true"),
            ("URL_SHORTENER__LINK_HEALTH__MIN_HOST_INTERVAL_MS", "0"),
        ],
    )
    .await;
    Site {
        server,
        dir,
        base,
        destination: Destination::start("127.0.0.2").await,
    }
}

impl Site {
    /// The setup link the service logged at its first start.
    fn setup_url(&self) -> String {
        let logs = self.server.logs.lock().unwrap();
        logs.iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find_map(|e| e["setup_url"].as_str().map(str::to_owned))
            .expect("the first start logs a setup link")
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn destination(&self, path: &str) -> String {
        format!("http://127.0.0.2:{}{path}", self.destination.addr.port())
    }
}

/// Checks a page the way the test treats every page: with JavaScript, axe-core finds nothing
/// serious and the page is photographed.
async fn look(browser: &Client, javascript: bool, name: &str) {
    if !javascript {
        return;
    }
    let violations = axe_violations(browser).await;
    assert!(
        violations.is_empty(),
        "{name}: accessibility violations:\n{}",
        violations.join("\n")
    );
    screenshots(browser, name).await;
}

/// Marks the page so that a full reload would show: the mark lives in the window, which a
/// reload replaces and an htmx swap keeps.
async fn mark(browser: &Client) {
    browser
        .execute("window.__stayed = true; return true;", vec![])
        .await
        .unwrap();
}

/// With JavaScript, the page was not reloaded since [`mark`].
async fn assert_no_reload(browser: &Client, javascript: bool, step: &str) {
    if !javascript {
        return;
    }
    let stayed = browser
        .execute("return window.__stayed === true;", vec![])
        .await
        .unwrap();
    assert_eq!(stayed, true, "{step}: htmx swapped without a full reload");
}

/// Sends the form around `button` (a CSS selector) and, with JavaScript, checks that no full
/// reload happened once the page shows `heading`.
async fn send(browser: &Client, javascript: bool, button: &str, heading: &str) {
    if javascript {
        mark(browser).await;
    }
    click(browser, button).await;
    wait_for_heading(browser, heading).await;
    assert_no_reload(browser, javascript, heading).await;
}

/// Waits (at most 10 s) for the notice at the top of the page to say `text`: a form that
/// lands on the page it was sent from keeps its heading, so the notice is what shows it came.
async fn see_notice(browser: &Client, text: &str) {
    let mut seen = String::new();
    for _ in 0..100 {
        if let Ok(notice) = browser.find(Locator::Css("main .notice")).await
            && let Ok(got) = notice.text().await
        {
            if got.contains(text) {
                return;
            }
            seen = got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the notice says {text:?} within 10 s; it says {seen:?}");
}

async fn log_in(browser: &Client, javascript: bool, name: &str, password: &str, heading: &str) {
    fill(browser, "#username", name).await;
    fill(browser, "#password", password).await;
    send(browser, javascript, "form[action='/login'] button", heading).await;
}

async fn people_use_every_page(javascript: bool) {
    let site = site(if javascript { "ui-js" } else { "ui-nojs" }).await;
    let driver = Driver::start().await;
    let browser = driver.browser(javascript).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // First run: the setup link from the log makes the first administrator.
    browser.goto(&site.setup_url()).await.unwrap();
    wait_for_heading(&browser, "Set up url-shortener").await;
    look(&browser, javascript, "setup").await;
    fill(&browser, "#username", "ada").await;
    fill(&browser, "#display_name", "Ada Lovelace").await;
    fill(&browser, "#password", ADMIN_PASSWORD).await;
    fill(&browser, "#password2", ADMIN_PASSWORD).await;
    send(
        &browser,
        javascript,
        "form[action='/setup'] button",
        "Administration",
    )
    .await;
    see_notice(&browser, "Welcome").await;
    let session = browser
        .get_named_cookie("session")
        .await
        .unwrap()
        .value()
        .to_owned();

    // Create a link from the home page.
    click(&browser, "a.brand").await;
    wait_for_heading(&browser, "Shorten a link").await;
    look(&browser, javascript, "home").await;
    fill(&browser, "#url", &site.destination("/ok")).await;
    if javascript {
        mark(&browser).await;
    }
    click(&browser, "#create button[type=submit]").await;
    let short_url = wait_for(&browser, "#short-url").await.text().await.unwrap();
    assert_no_reload(&browser, javascript, "create").await;
    assert!(
        short_url.starts_with(&site.url("/")) && !short_url.contains("/s/"),
        "a short URL at the root: {short_url}"
    );
    let code = short_url.rsplit('/').next().unwrap().to_owned();
    look(&browser, javascript, "home-created").await;

    // Copy it: with JavaScript the button copies and says so; without, it is not shown (it
    // could not work).
    let copy = browser
        .find(Locator::Css("button[data-copy='short-url']"))
        .await
        .unwrap();
    if javascript {
        copy.click().await.unwrap();
        let mut copied = String::new();
        for _ in 0..50 {
            copied = text_of(&browser, "#create .copy-status").await;
            if !copied.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(copied, "Copied");
    } else {
        assert!(!copy.is_displayed().await.unwrap());
    }

    // Its preview says where it goes without going there, in a page axe finds nothing in.
    browser.goto(&format!("{short_url}+")).await.unwrap();
    wait_for_heading(&browser, "Where this link goes").await;
    assert_eq!(
        browser.current_url().await.unwrap().as_str(),
        format!("{short_url}+")
    );
    look(&browser, javascript, "preview").await;

    // Follow it: the browser lands on the destination.
    browser.goto(&short_url).await.unwrap();
    let landed = browser.current_url().await.unwrap();
    assert_eq!(landed.as_str(), site.destination("/ok"));

    // Visitors from elsewhere, so the pages have something to show: people on phones and
    // desktops from two sites, and a link-preview bot; and two more links of ada's.
    for (agent, referrer) in VISITORS {
        let response = http
            .get(&short_url)
            .header("user-agent", *agent)
            .header("referer", *referrer)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 302);
    }
    for path in ["/docs/getting-started", "/blog/2026/12/release-notes"] {
        let created = http
            .post(site.url("/shorten"))
            .header("cookie", format!("session={session}"))
            .header("origin", &site.base)
            .json(&serde_json::json!({ "long_url": site.destination(path) }))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
    }

    // See the click on the link's page.
    browser.goto(&site.url("/links")).await.unwrap();
    wait_for_heading(&browser, "My links").await;
    look(&browser, javascript, "links").await;
    if javascript {
        mark(&browser).await;
    }
    click(&browser, &format!("a[href='/links/{code}']")).await;
    wait_for_heading(&browser, &format!("Link {code}")).await;
    assert_no_reload(&browser, javascript, "link page").await;
    let all = 1 + VISITORS.len();
    assert_eq!(
        text_of(&browser, ".figures div:first-child dd").await,
        all.to_string()
    );
    assert!(
        text_of(&browser, "#referrers-heading + ul")
            .await
            .contains("news.example.org")
    );
    look(&browser, javascript, "link").await;

    // Check its destination now.
    if javascript {
        mark(&browser).await;
    }
    click(&browser, "#health button").await;
    let mut status = String::new();
    for _ in 0..100 {
        status = text_of(&browser, "#health .badge").await;
        if status == "healthy" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, "healthy");
    assert_no_reload(&browser, javascript, "check now").await;

    // Edit its destination.
    fill(&browser, "#url", &site.destination("/chain/0")).await;
    send(
        &browser,
        javascript,
        "#edit button[type=submit]",
        &format!("Link {code}"),
    )
    .await;
    see_notice(&browser, "Saved.").await;
    assert!(
        text_of(&browser, "p.destination")
            .await
            .contains("/chain/0")
    );
    let answer = http.get(&short_url).send().await.unwrap();
    assert_eq!(
        answer.headers()["location"].to_str().unwrap(),
        site.destination("/chain/0")
    );

    // Disable it (it answers 404 at once), then enable it again.
    send(
        &browser,
        javascript,
        "button[value='disable']",
        &format!("Link {code}"),
    )
    .await;
    see_notice(&browser, "answers 404 until").await;
    assert_eq!(http.get(&short_url).send().await.unwrap().status(), 404);
    send(
        &browser,
        javascript,
        "button[value='enable']",
        &format!("Link {code}"),
    )
    .await;
    see_notice(&browser, "it redirects again").await;
    assert_eq!(http.get(&short_url).send().await.unwrap().status(), 302);

    // Create an API key, use it, revoke it.
    click(&browser, "nav a[href='/keys']").await;
    wait_for_heading(&browser, "API keys").await;
    fill(&browser, "#name", "deploy script").await;
    send(
        &browser,
        javascript,
        "form[action='/keys'] button",
        "API keys",
    )
    .await;
    let secret = text_of(&browser, "#new-key").await;
    assert!(secret.starts_with("usk_"), "{secret}");
    look(&browser, javascript, "keys-created").await;
    let me = |key: String| {
        http.get(site.url("/api/me"))
            .header("authorization", format!("Bearer {key}"))
            .send()
    };
    assert_eq!(me(secret.clone()).await.unwrap().status(), 200);
    let mut secrets = vec![
        ADMIN_PASSWORD.to_owned(),
        BOB_PASSWORD.to_owned(),
        secret.clone(),
    ];
    send(
        &browser,
        javascript,
        "form[action$='/revoke'] button",
        "API keys",
    )
    .await;
    see_notice(&browser, "revoked").await;
    assert_eq!(me(secret).await.unwrap().status(), 401);
    look(&browser, javascript, "keys").await;

    // The account page.
    click(&browser, "nav a[href='/account']").await;
    wait_for_heading(&browser, "Your account").await;
    look(&browser, javascript, "account").await;

    // The administrator creates a user and an invite.
    click(&browser, "nav a[href='/admin']").await;
    wait_for_heading(&browser, "Administration").await;
    fill(&browser, "#username", "bob").await;
    fill(&browser, "#password", BOB_PASSWORD).await;
    send(
        &browser,
        javascript,
        "form[action='/admin/users'] button",
        "Administration",
    )
    .await;
    see_notice(&browser, "The account is created.").await;
    send(
        &browser,
        javascript,
        "form[action='/admin/invites'] button",
        "Administration",
    )
    .await;
    let invite = text_of(&browser, "#invite-url").await;
    assert!(invite.starts_with(&site.url("/invite/")), "{invite}");
    secrets.push(invite.rsplit('/').next().unwrap().to_owned());
    look(&browser, javascript, "admin").await;
    click(&browser, "a[href='/admin/links']").await;
    wait_for_heading(&browser, "All links").await;
    assert!(text_of(&browser, "#results").await.contains(&code));
    look(&browser, javascript, "admin-links").await;

    // Log out; bob logs in and sees neither the link nor the admin pages.
    send(
        &browser,
        javascript,
        "form[action='/logout'] button",
        "Log in",
    )
    .await;
    see_notice(&browser, "You are logged out.").await;
    look(&browser, javascript, "login").await;
    log_in(&browser, javascript, "bob", BOB_PASSWORD, "My links").await;
    assert!(text_of(&browser, "#results").await.contains("No links yet"));
    browser
        .goto(&site.url(&format!("/links/{code}")))
        .await
        .unwrap();
    wait_for_heading(&browser, "Page not found").await;
    look(&browser, javascript, "not-found").await;
    browser.goto(&site.url("/admin")).await.unwrap();
    wait_for_heading(&browser, "Page not found").await;
    assert!(
        browser
            .find(Locator::Css("nav a[href='/admin']"))
            .await
            .is_err()
    );
    browser.goto(&site.url("/links")).await.unwrap();
    wait_for_heading(&browser, "My links").await;
    send(
        &browser,
        javascript,
        "form[action='/logout'] button",
        "Log in",
    )
    .await;

    // Back as the administrator, straight to the link's page, and delete it.
    browser
        .goto(&site.url(&format!("/links/{code}")))
        .await
        .unwrap();
    wait_for_heading(&browser, "Log in").await;
    log_in(
        &browser,
        javascript,
        "ada",
        ADMIN_PASSWORD,
        &format!("Link {code}"),
    )
    .await;
    click(&browser, &format!("a[href='/links/{code}/delete']")).await;
    wait_for_heading(&browser, &format!("Delete {code}?")).await;
    look(&browser, javascript, "delete").await;
    send(&browser, javascript, "form button.danger", "My links").await;
    see_notice(&browser, "deleted").await;
    assert_eq!(http.get(&short_url).send().await.unwrap().status(), 404);
    browser.goto(&short_url).await.unwrap();
    wait_for_heading(&browser, "Link not found").await;
    look(&browser, javascript, "link-not-found").await;
    for cookie in browser.get_all_cookies().await.unwrap() {
        secrets.push(cookie.value().to_owned());
    }
    browser.close().await.unwrap();

    // Nothing secret reached the log or the database file: no password, key, invite token or
    // session id, and no visitor's address.
    let logs = site.server.logs.lock().unwrap().join("\n");
    let mut stored = Vec::new();
    for file in ["url-shortener.db", "url-shortener.db-wal"] {
        if let Ok(bytes) = std::fs::read(site.dir.join("data").join(file)) {
            stored.extend(bytes);
        }
    }
    let stored = String::from_utf8_lossy(&stored);
    assert!(!stored.is_empty(), "the database file was read");
    for secret in &secrets {
        assert!(!logs.contains(secret.as_str()), "the log holds a secret");
        assert!(
            !stored.contains(secret.as_str()),
            "the database holds a secret in clear"
        );
    }
    let requests: Vec<&str> = logs.lines().filter(|l| l.contains("\"route\"")).collect();
    assert!(requests.len() > 20, "one event per request");
    for line in requests {
        assert!(
            !line.contains("127.0.0."),
            "a request's event names no address: {line}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_use_every_page_with_javascript() {
    people_use_every_page(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_use_every_page_without_javascript() {
    people_use_every_page(false).await;
}

/// Sends `key` to whatever has the focus.
async fn press(browser: &Client, key: fantoccini::key::Key) {
    browser
        .active_element()
        .await
        .unwrap()
        .send_keys(&key)
        .await
        .unwrap();
}

/// What has the focus: its id, or its class when it has no id.
async fn focused(browser: &Client) -> String {
    browser
        .execute(
            "const e = document.activeElement; return e.id || e.className || e.tagName;",
            vec![],
        )
        .await
        .unwrap()
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_is_made_with_the_keyboard_alone() {
    use fantoccini::key::Key;
    let site = site("ui-keyboard").await;
    let driver = Driver::start().await;
    let browser = driver.browser(true).await;
    browser.goto(&site.url("/")).await.unwrap();
    wait_for_heading(&browser, "Shorten a link").await;

    // The first Tab reaches the skip link, which shows itself and has a visible outline.
    press(&browser, Key::Tab).await;
    assert_eq!(focused(&browser).await, "skip-link");
    let shown = browser
        .execute(
            "const e = document.activeElement, r = e.getBoundingClientRect();
             return r.left >= 0 && r.top >= 0 && getComputedStyle(e).outlineStyle !== 'none';",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        shown, true,
        "the focused skip link is on screen and outlined"
    );
    // Enter follows it to the content; the next Tab is the form's first field.
    press(&browser, Key::Enter).await;
    press(&browser, Key::Tab).await;
    assert_eq!(focused(&browser).await, "url");
    browser
        .active_element()
        .await
        .unwrap()
        .send_keys(&format!("{}{}", site.destination("/ok"), Key::Enter))
        .await
        .unwrap();
    let short_url = wait_for(&browser, "#short-url").await.text().await.unwrap();
    assert!(
        short_url.starts_with(&site.url("/")) && !short_url.contains("/s/"),
        "{short_url}"
    );
    browser.close().await.unwrap();
}
