//! The web UI over real HTTP, below the browser: the headers every page carries (and that the
//! redirect never pays for), static files under hashed names, page or fragment for htmx, the
//! same-origin rule for forms, where a login may send someone, what someone else may not see,
//! escaping of what people type, and forms that explain each mistake.

use crate::common;

use common::{BASE_URL, TestApp};
use reqwest::Response;
use serde_json::json;
use url_shortener::domain::Role;
use url_shortener::http::page::CONTENT_SECURITY_POLICY;

use common::PASSWORD;

async fn page(app: &TestApp, cookie: Option<&str>, path: &str) -> Response {
    let mut request = app.client.get(app.url(path)).header("accept", "text/html");
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request.send().await.unwrap()
}

/// A form post from our own pages (a browser sends `Origin` with every POST).
async fn post_form(
    app: &TestApp,
    cookie: Option<&str>,
    path: &str,
    form: &[(&str, &str)],
) -> Response {
    let mut request = app
        .client
        .post(app.url(path))
        .header("origin", BASE_URL)
        .form(form);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request.send().await.unwrap()
}

fn header<'a>(response: &'a Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .map_or("", |v| v.to_str().unwrap())
}

fn location(response: &Response) -> &str {
    header(response, "location")
}

#[tokio::test]
async fn every_page_carries_the_security_headers_and_is_not_cached() {
    let app = TestApp::spawn().await;
    let ada = app.login_as("ada", Role::Admin).await;
    let code = app.create_link(&ada, "https://example.com/a").await;
    for (cookie, path) in [
        (None, "/"),
        (None, "/login"),
        (Some(ada.as_str()), "/links"),
        (Some(ada.as_str()), &*format!("/links/{code}")),
        (Some(ada.as_str()), "/keys"),
        (Some(ada.as_str()), "/account"),
        (Some(ada.as_str()), "/admin"),
        (None, "/no/such/page"),
        (None, "/s/unknown1"),
    ] {
        let response = page(&app, cookie, path).await;
        assert!(
            response.status() == 200 || response.status() == 404,
            "{path}: {}",
            response.status()
        );
        assert_eq!(
            header(&response, "content-security-policy"),
            CONTENT_SECURITY_POLICY,
            "{path}"
        );
        assert_eq!(
            header(&response, "x-content-type-options"),
            "nosniff",
            "{path}"
        );
        assert_eq!(
            header(&response, "referrer-policy"),
            "same-origin",
            "{path}"
        );
        assert_eq!(header(&response, "x-frame-options"), "DENY", "{path}");
        assert_eq!(header(&response, "cache-control"), "no-store", "{path}");
        assert!(
            header(&response, "content-type").starts_with("text/html"),
            "{path}"
        );
        let body = response.text().await.unwrap();
        assert!(body.starts_with("<!doctype html>"), "{path}");
        assert!(!body.contains("style=\""), "{path}: no inline style");
        assert!(!body.contains("<script>"), "{path}: no inline script");
        assert!(!body.contains("hx-on"), "{path}: no hx-on");
    }
    let csp = CONTENT_SECURITY_POLICY;
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"));
}

#[tokio::test]
async fn the_redirect_and_the_json_api_pay_nothing_for_the_ui() {
    let app = TestApp::spawn().await;
    let created = app.create("https://example.com/fast").await;
    let code = created["short_code"].as_str().unwrap();
    for path in [format!("/s/{code}"), format!("/stats/{code}")] {
        let response = app.client.get(app.url(&path)).send().await.unwrap();
        assert!(response.status().is_success() || response.status().is_redirection());
        for name in [
            "content-security-policy",
            "vary",
            "set-cookie",
            "x-frame-options",
        ] {
            assert!(
                response.headers().get(name).is_none(),
                "{path} carries {name}"
            );
        }
    }
}

#[tokio::test]
async fn static_files_are_immutable_under_hashed_names() {
    let app = TestApp::spawn().await;
    let home = page(&app, None, "/").await.text().await.unwrap();
    for (kind, marker) in [
        ("text/css", "rel=\"stylesheet\" href=\""),
        ("text/javascript", "<script defer src=\""),
    ] {
        let start = home.find(marker).unwrap() + marker.len();
        let path = &home[start..start + home[start..].find('"').unwrap()];
        assert!(path.starts_with("/static/"), "{path}");
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert!(
            header(&response, "content-type").starts_with(kind),
            "{path}"
        );
        assert_eq!(
            header(&response, "cache-control"),
            "public, max-age=31536000, immutable"
        );
    }
    let stale = app
        .client
        .get(app.url("/static/app-0000000000000000.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 404);
}

#[tokio::test]
async fn htmx_gets_the_block_it_asks_for_and_a_plain_request_the_page() {
    let app = TestApp::spawn().await;
    let plain = page(&app, None, "/login").await;
    assert!(header(&plain, "vary").contains("HX-Request"));
    assert!(plain.text().await.unwrap().starts_with("<!doctype html>"));

    let boosted = app
        .client
        .get(app.url("/login"))
        .header("hx-request", "true")
        .header("hx-boosted", "true")
        .send()
        .await
        .unwrap();
    let body = boosted.text().await.unwrap();
    assert!(!body.contains("<!doctype"), "the page block only");
    assert!(
        body.starts_with("<title>Log in · url-shortener</title>"),
        "{body}"
    );
    assert!(body.contains("<main id=\"main\""));

    // The create form aims at its own block: the answer is that block with the result.
    let created = app
        .client
        .post(app.url("/"))
        .header("origin", BASE_URL)
        .header("hx-request", "true")
        .header("hx-target", "create")
        .form(&[
            ("url", "https://example.com/fragment"),
            ("alias", ""),
            ("expires", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 200);
    let body = created.text().await.unwrap();
    assert!(
        body.trim_start().starts_with("<section id=\"create\""),
        "{body}"
    );
    assert!(body.contains("id=\"short-url\">https://sho.rt/"), "{body}");
    assert!(body.contains("<svg role=\"img\""), "the QR code");

    // A history restore wants the whole page.
    let restore = app
        .client
        .get(app.url("/login"))
        .header("hx-request", "true")
        .header("hx-history-restore-request", "true")
        .send()
        .await
        .unwrap();
    assert!(restore.text().await.unwrap().starts_with("<!doctype html>"));
}

#[tokio::test]
async fn forms_are_refused_from_other_sites() {
    let app = TestApp::spawn().await;
    let ada = app.login_as("ada", Role::User).await;
    let key_form = [("name", "from elsewhere")];
    for (origin, site) in [
        (Some("https://evil.example"), None),
        (None, Some("cross-site")),
        (None, Some("same-site")),
        (None, None),
    ] {
        let mut request = app
            .client
            .post(app.url("/keys"))
            .header("cookie", &ada)
            .form(&key_form);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        if let Some(site) = site {
            request = request.header("sec-fetch-site", site);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 403, "{origin:?} {site:?}");
        assert!(response.text().await.unwrap().contains("Form refused"));
    }
    assert!(
        app.state.guards.keys.list().await.unwrap().is_empty(),
        "no key was made"
    );
    let ours = app
        .client
        .post(app.url("/keys"))
        .header("cookie", &ada)
        .header("sec-fetch-site", "same-origin")
        .form(&key_form)
        .send()
        .await
        .unwrap();
    assert_eq!(ours.status(), 201);

    // Before login: a login sent by another site is refused (login CSRF).
    let login = app
        .client
        .post(app.url("/login"))
        .header("sec-fetch-site", "cross-site")
        .form(&[("username", "ada"), ("password", PASSWORD), ("next", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 403);
    assert!(common::session_cookie(&login).is_none());
}

#[tokio::test]
async fn login_sends_people_back_only_to_pages_of_this_site() {
    let app = TestApp::spawn().await;
    app.login_as("ada", Role::User).await;
    let anonymous = page(&app, None, "/links?q=a").await;
    assert_eq!(anonymous.status(), 303);
    assert_eq!(location(&anonymous), "/login?next=%2Flinks%3Fq%3Da");

    for (next, expected) in [
        ("/links/abc", "/links/abc"),
        ("//evil.example/", "/links"),
        ("https://evil.example/", "/links"),
        ("/\\evil.example", "/links"),
        ("", "/links"),
    ] {
        let response = post_form(
            &app,
            None,
            "/login",
            &[("username", "ada"), ("password", PASSWORD), ("next", next)],
        )
        .await;
        assert_eq!(response.status(), 303, "{next}");
        assert_eq!(location(&response), expected, "{next}");
        let cookie = header(&response, "set-cookie");
        assert!(cookie.starts_with("__Host-session=") && cookie.contains("HttpOnly"));
    }
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_user_read_the_same_and_nothing_is_echoed() {
    let app = TestApp::spawn().await;
    app.login_as("ada", Role::User).await;
    let wrong = post_form(
        &app,
        None,
        "/login",
        &[
            ("username", "ada"),
            ("password", "not the password at all"),
            ("next", ""),
        ],
    )
    .await;
    assert_eq!(wrong.status(), 422);
    let wrong = wrong.text().await.unwrap();
    let unknown = post_form(
        &app,
        None,
        "/login",
        &[
            ("username", "nobody"),
            ("password", "not the password at all"),
            ("next", ""),
        ],
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(wrong.contains("The user name or password is wrong."));
    assert_eq!(wrong.replace("value=\"ada\"", "value=\"nobody\""), unknown);
    assert!(
        !wrong.contains("not the password at all"),
        "the password is never echoed"
    );
}

#[tokio::test]
async fn other_peoples_links_and_the_admin_pages_are_not_found() {
    let app = TestApp::spawn().await;
    let ada = app.login_as("ada", Role::Admin).await;
    let bob = app.login_as("bob", Role::User).await;
    let code = app.create_link(&ada, "https://example.com/ada").await;

    for path in [
        format!("/links/{code}"),
        format!("/links/{code}/delete"),
        "/admin".to_owned(),
    ] {
        let response = page(&app, Some(&bob), &path).await;
        assert_eq!(response.status(), 404, "{path}");
        assert!(response.text().await.unwrap().contains("Page not found"));
    }
    for path in [format!("/links/{code}/delete"), format!("/links/{code}")] {
        let response =
            post_form(&app, Some(&bob), &path, &[("url", "https://evil.example/")]).await;
        assert_eq!(response.status(), 404, "{path}");
    }
    let admin_post = post_form(
        &app,
        Some(&bob),
        "/admin/users",
        &[
            ("username", "mallory"),
            ("password", PASSWORD),
            ("role", "admin"),
        ],
    )
    .await;
    assert_eq!(admin_post.status(), 404);
    assert!(app.state.accounts.user_named("mallory").await.is_err());
    let redirect = app
        .client
        .get(app.url(&format!("/s/{code}")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        location(&redirect),
        "https://example.com/ada",
        "still there, unchanged"
    );

    // Bob's own list does not show it; the administrator reaches it.
    let list = page(&app, Some(&bob), "/links").await.text().await.unwrap();
    assert!(!list.contains(&code));
    let list = page(&app, Some(&ada), "/links").await.text().await.unwrap();
    assert!(list.contains(&code));
}

#[tokio::test]
async fn what_people_type_is_escaped() {
    let app = TestApp::spawn().await;
    let ada = app.login_as("ada", Role::Admin).await;
    app.state
        .accounts
        .create_user(
            "eve",
            PASSWORD,
            Some("<script>alert(1)</script>"),
            Role::User,
        )
        .await
        .unwrap();
    let admin = page(&app, Some(&ada), "/admin").await.text().await.unwrap();
    assert!(
        admin.contains("&#60;script&#62;alert(1)&#60;/script&#62;")
            || admin.contains("&lt;script&gt;"),
        "{admin}"
    );
    assert!(!admin.contains("<script>alert(1)"));

    let made = post_form(
        &app,
        Some(&ada),
        "/keys",
        &[("name", "\"><img src=x onerror=alert(1)>")],
    )
    .await;
    assert_eq!(made.status(), 201);
    let keys = made.text().await.unwrap();
    assert!(!keys.contains("<img src=x"), "{keys}");

    let search = page(
        &app,
        Some(&ada),
        "/links?q=%22%3E%3Cscript%3Ealert(1)%3C/script%3E",
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(!search.contains("<script>alert(1)"));
}

#[tokio::test]
async fn the_create_form_explains_each_mistake_and_keeps_what_was_typed() {
    let app = TestApp::spawn().await;
    let response = post_form(
        &app,
        None,
        "/",
        &[
            ("url", "ftp://example.com/file"),
            ("alias", "a"),
            ("expires", ""),
        ],
    )
    .await;
    assert_eq!(response.status(), 422);
    let body = response.text().await.unwrap();
    assert!(body.contains("value=\"ftp://example.com/file\""), "kept");
    assert!(body.contains("id=\"url-error\""), "{body}");
    assert!(body.contains("id=\"alias-error\""), "{body}");
    assert!(body.contains("aria-invalid=\"true\""));

    let first = post_form(
        &app,
        None,
        "/",
        &[
            ("url", "https://example.com/"),
            ("alias", "spring-sale"),
            ("expires", "86400"),
        ],
    )
    .await;
    assert_eq!(first.status(), 303);
    assert_eq!(location(&first), "/?created=spring-sale");
    let result = page(&app, None, "/?created=spring-sale")
        .await
        .text()
        .await
        .unwrap();
    assert!(result.contains("https://sho.rt/spring-sale"));
    let again = post_form(
        &app,
        None,
        "/",
        &[
            ("url", "https://example.com/"),
            ("alias", "spring-sale"),
            ("expires", ""),
        ],
    )
    .await;
    assert_eq!(again.status(), 422);
    assert!(again.text().await.unwrap().contains("This alias is taken"));
    let too_long = post_form(
        &app,
        None,
        "/",
        &[
            ("url", "https://example.com/"),
            ("alias", ""),
            ("expires", "999999999999"),
        ],
    )
    .await;
    assert_eq!(too_long.status(), 422);
}

#[tokio::test]
async fn without_anonymous_creation_the_home_page_asks_people_to_log_in() {
    let app = TestApp::builder()
        .settings(|s| s.auth.anonymous_create = Some(false))
        .spawn()
        .await;
    let home = page(&app, None, "/").await.text().await.unwrap();
    assert!(home.contains("needs an account"));
    assert!(!home.contains("action=\"/\""));
    let post = post_form(
        &app,
        None,
        "/",
        &[
            ("url", "https://example.com/"),
            ("alias", ""),
            ("expires", ""),
        ],
    )
    .await;
    assert_eq!(post.status(), 303);
    assert!(location(&post).starts_with("/login"));
}

#[tokio::test]
async fn a_password_change_ends_the_other_sessions_and_logging_out_everywhere_ends_all() {
    let app = TestApp::spawn().await;
    let first = app.login_as("ada", Role::User).await;
    let second = common::session_cookie(
        &app.client
            .post(app.url("/api/session"))
            .json(&json!({ "username": "ada", "password": PASSWORD }))
            .send()
            .await
            .unwrap(),
    )
    .unwrap();
    let mismatch = post_form(
        &app,
        Some(&first),
        "/account/password",
        &[
            ("current", PASSWORD),
            ("new", "a brand new passphrase"),
            ("new2", "something else"),
        ],
    )
    .await;
    assert_eq!(mismatch.status(), 422);
    let changed = post_form(
        &app,
        Some(&first),
        "/account/password",
        &[
            ("current", PASSWORD),
            ("new", "a brand new passphrase"),
            ("new2", "a brand new passphrase"),
        ],
    )
    .await;
    assert_eq!(changed.status(), 303);
    assert_eq!(location(&changed), "/account?done=password");
    assert_eq!(page(&app, Some(&first), "/account").await.status(), 200);
    assert_eq!(
        page(&app, Some(&second), "/account").await.status(),
        303,
        "the other session ended"
    );

    let everywhere = post_form(&app, Some(&first), "/account/sessions", &[]).await;
    assert_eq!(everywhere.status(), 303);
    assert!(header(&everywhere, "set-cookie").contains("Max-Age=0"));
    assert_eq!(page(&app, Some(&first), "/account").await.status(), 303);
}

#[tokio::test]
async fn administrators_list_and_search_every_link_and_nobody_else_can() {
    let app = TestApp::spawn().await;
    let ada = app.login_as("ada", Role::Admin).await;
    let bob = app.login_as("bob", Role::User).await;
    let bobs = app.create_link(&bob, "https://bob.example/page").await;
    let anonymous = app.create("https://spam.example/offer").await;
    let anonymous = anonymous["short_code"].as_str().unwrap().to_owned();
    for i in 0..30 {
        app.create_link(&ada, &format!("https://ada.example/{i}"))
            .await;
    }

    let all = page(&app, Some(&ada), "/admin/links").await;
    assert_eq!(all.status(), 200);
    let body = all.text().await.unwrap();
    assert!(body.contains("Next page"), "32 links, pages of 25");

    let search = page(&app, Some(&ada), "/admin/links?q=SPAM.example")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        search.contains(&format!("/links/{anonymous}\"")),
        "{search}"
    );
    assert!(search.contains("nobody"));
    assert!(!search.contains(&bobs));
    let search = page(&app, Some(&ada), "/admin/links?q=bob.example")
        .await
        .text()
        .await
        .unwrap();
    assert!(search.contains(&bobs) && search.contains("/links?owner=bob"));

    // Pages together hold every link once.
    let mut seen = 0;
    let mut path = "/admin/links".to_owned();
    loop {
        let body = page(&app, Some(&ada), &path).await.text().await.unwrap();
        let body = body.replace("&#38;", "&");
        seen += body.matches("data-label=\"Link\"").count();
        let Some(at) = body.find("href=\"/admin/links?q=&cursor=") else {
            break;
        };
        let start = at + "href=\"".len();
        path = body[start..start + body[start..].find('"').unwrap()].to_owned();
    }
    assert_eq!(seen, 32);

    assert_eq!(page(&app, Some(&bob), "/admin/links").await.status(), 404);
    assert_eq!(page(&app, None, "/admin/links").await.status(), 303);
}

#[tokio::test]
async fn an_administrator_disables_a_link_everywhere_and_enables_it_again() {
    let app = TestApp::spawn().await;
    let ada = app.login_as("ada", Role::Admin).await;
    let bob = app.login_as("bob", Role::User).await;
    let code = app.create_link(&bob, "https://bob.example/offer").await;
    let follow = || app.client.get(app.url(&format!("/s/{code}"))).send();
    assert_eq!(
        follow().await.unwrap().status(),
        302,
        "served, and now in the cache"
    );

    // Only an administrator may disable: the owner is refused over the API and the page.
    let by_owner = app
        .client
        .patch(app.url(&format!("/api/links/{code}")))
        .header("cookie", &bob)
        .header("origin", BASE_URL)
        .json(&json!({ "disabled": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(by_owner.status(), 403);
    let by_owner = post_form(
        &app,
        Some(&bob),
        &format!("/links/{code}/disable"),
        &[("action", "disable")],
    )
    .await;
    assert_eq!(by_owner.status(), 404);
    assert_eq!(follow().await.unwrap().status(), 302);

    let disabled = post_form(
        &app,
        Some(&ada),
        &format!("/links/{code}/disable"),
        &[("action", "disable")],
    )
    .await;
    assert_eq!(disabled.status(), 303);
    assert_eq!(location(&disabled), format!("/links/{code}?done=disabled"));
    assert_eq!(
        follow().await.unwrap().status(),
        404,
        "at once, cache or not"
    );
    assert_eq!(app.stats(&code).await.status(), 404);

    // The owner still sees it, marked, with its clicks.
    let mine: serde_json::Value = app
        .client
        .get(app.url(&format!("/api/links/{code}")))
        .header("cookie", &bob)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(mine["disabled_at"].is_string(), "{mine}");
    assert_eq!(mine["expired"], false);
    assert_eq!(
        mine["click_count"], 2,
        "both redirects before it was disabled"
    );
    let page_text = page(&app, Some(&bob), &format!("/links/{code}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page_text.contains("An administrator disabled this link"));
    assert!(
        !page_text.contains("Disable the link"),
        "the owner has no such button"
    );
    let list = page(&app, Some(&bob), "/links").await.text().await.unwrap();
    assert!(list.contains("badge disabled"));

    let enabled = app
        .client
        .patch(app.url(&format!("/api/links/{code}")))
        .header("cookie", &ada)
        .header("origin", BASE_URL)
        .json(&json!({ "disabled": false }))
        .send()
        .await
        .unwrap();
    assert_eq!(enabled.status(), 200);
    let body: serde_json::Value = enabled.json().await.unwrap();
    assert!(body["disabled_at"].is_null());
    assert_eq!(follow().await.unwrap().status(), 302, "redirects again");
}

#[tokio::test]
async fn the_account_forms_revoke_the_users_api_keys_only_when_the_box_is_ticked() {
    let app = TestApp::spawn().await;
    let cookie = app.login_as("ada", Role::User).await;
    let page_html = page(&app, Some(&cookie), "/account")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        page_html
            .matches(r#"name="revoke_keys" value="1" checked"#)
            .count(),
        2,
        "both forms offer it, ticked"
    );
    let key = |name: &'static str| {
        let (app, cookie) = (&app, &cookie);
        async move {
            let made: serde_json::Value = app
                .client
                .post(app.url("/api/keys"))
                .header("cookie", cookie)
                .header("origin", common::BASE_URL)
                .json(&json!({ "name": name }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            made["secret"].as_str().unwrap().to_owned()
        }
    };
    let works = |secret: String| {
        let app = &app;
        async move {
            app.client
                .get(app.url("/api/me"))
                .bearer_auth(secret)
                .send()
                .await
                .unwrap()
                .status()
                == 200
        }
    };
    let unticked = key("kept").await;
    let changed = post_form(
        &app,
        Some(&cookie),
        "/account/password",
        &[
            ("current", PASSWORD),
            ("new", "a brand new passphrase"),
            ("new2", "a brand new passphrase"),
        ],
    )
    .await;
    assert_eq!(changed.status(), 303);
    assert!(works(unticked.clone()).await, "no box, no revocation");
    let changed = post_form(
        &app,
        Some(&cookie),
        "/account/password",
        &[
            ("current", "a brand new passphrase"),
            ("new", PASSWORD),
            ("new2", PASSWORD),
            ("revoke_keys", "1"),
        ],
    )
    .await;
    assert_eq!(changed.status(), 303);
    assert!(!works(unticked).await);
    let last = key("last").await;
    let everywhere = post_form(
        &app,
        Some(&cookie),
        "/account/sessions",
        &[("revoke_keys", "1")],
    )
    .await;
    assert_eq!(everywhere.status(), 303);
    assert!(!works(last).await);
}
