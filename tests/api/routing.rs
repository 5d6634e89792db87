//! Where a link sends people, over a real socket: its own redirect status, the visitor's query
//! string and path carried over (never to another host), rules by device, country, language and
//! query parameter (first match wins), `X-Robots-Tag`, and the fields in create, `PATCH` and the
//! answers. Bad settings are refused with the right code and make nothing.

use crate::common;

use common::{BASE_URL, TestApp, assert_problem};
use reqwest::Response;
use serde_json::{Value, json};
use url_shortener::domain::Role;

const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 \
     (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";

async fn created(app: &TestApp, body: Value) -> Value {
    let response = app.shorten(body.clone()).await;
    assert_eq!(response.status(), 201, "creating {body}");
    response.json().await.unwrap()
}

async fn visit(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut request = app.client.get(app.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

/// A path, the request's headers and where the visitor should be sent.
type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);

fn location(response: &Response) -> &str {
    response.headers()["location"].to_str().unwrap()
}

#[tokio::test]
async fn a_link_answers_with_its_own_status_until_it_is_set_back() {
    let app = TestApp::spawn().await;
    let owner = app.login_as("ada", Role::User).await;
    let response = app
        .client
        .post(app.url("/shorten"))
        .header("cookie", &owner)
        .header("origin", BASE_URL)
        .json(&json!({ "long_url": "https://example.com/moved", "redirect_status": 301 }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["redirect_status"], 301);
    let code = body["short_code"].as_str().unwrap().to_owned();
    let root = visit(&app, &format!("/{code}"), &[]).await;
    assert_eq!(root.status(), 301);
    assert_eq!(location(&root), "https://example.com/moved");
    assert_eq!(app.follow(&code).await.status(), 301);

    let patched = app
        .client
        .patch(app.url(&format!("/api/links/{code}")))
        .header("cookie", &owner)
        .header("origin", BASE_URL)
        .json(&json!({ "redirect_status": null }))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    let view: Value = patched.json().await.unwrap();
    assert_eq!(view["redirect_status"], Value::Null);
    assert_eq!(
        view["long_url"], "https://example.com/moved",
        "all else kept"
    );
    assert_eq!(visit(&app, &format!("/{code}"), &[]).await.status(), 302);
}

#[tokio::test]
async fn the_visitors_query_is_added_and_the_owners_tags_win() {
    let app = TestApp::spawn().await;
    let forwarding = created(
        &app,
        json!({ "long_url": "https://example.com/p?utm_source=print", "forward_query": true }),
    )
    .await;
    let code = forwarding["short_code"].as_str().unwrap();
    let response = visit(
        &app,
        &format!("/{code}?utm_source=spam&ref=news%20letter"),
        &[],
    )
    .await;
    assert_eq!(
        location(&response),
        "https://example.com/p?utm_source=print&ref=news+letter"
    );

    let plain = created(&app, json!({ "long_url": "https://example.com/q" })).await;
    let code = plain["short_code"].as_str().unwrap();
    let response = visit(&app, &format!("/{code}?ref=x"), &[]).await;
    assert_eq!(
        location(&response),
        "https://example.com/q",
        "not asked for"
    );

    // The operator's default applies to links that do not say.
    let app = TestApp::builder()
        .settings(|s| s.links.forward_query = true)
        .spawn()
        .await;
    let link = created(&app, json!({ "long_url": "https://example.com/d" })).await;
    let code = link["short_code"].as_str().unwrap();
    assert_eq!(link["forward_query"], Value::Null);
    let response = visit(&app, &format!("/{code}?ref=x"), &[]).await;
    assert_eq!(location(&response), "https://example.com/d?ref=x");
}

#[tokio::test]
async fn a_path_after_the_code_is_appended_only_where_the_link_forwards_it_and_stays_on_its_host() {
    let app = TestApp::spawn().await;
    let docs = created(
        &app,
        json!({ "long_url": "https://docs.example.com/v2/", "forward_path": true }),
    )
    .await;
    let code = docs["short_code"].as_str().unwrap().to_owned();
    for prefix in ["", "/s"] {
        let response = visit(&app, &format!("{prefix}/{code}/guide/intro"), &[]).await;
        assert_eq!(response.status(), 302);
        assert_eq!(
            location(&response),
            "https://docs.example.com/v2/guide/intro"
        );
    }
    // A visitor cannot walk the path to another host.
    for rest in [
        "..%2F..%2F%2Fevil.example",
        "/evil.example/x",
        "@evil.example/x",
    ] {
        let response = visit(&app, &format!("/{code}/{rest}"), &[]).await;
        assert_eq!(response.status(), 302, "{rest}");
        let to = location(&response);
        assert!(
            to.starts_with("https://docs.example.com/"),
            "{rest} went to {to}"
        );
    }

    let plain = created(&app, json!({ "long_url": "https://example.com/a" })).await;
    let code = plain["short_code"].as_str().unwrap();
    assert_problem(
        visit(&app, &format!("/{code}/more"), &[]).await,
        404,
        "not_found",
    )
    .await;
    let stats: Value = app.stats(code).await.json().await.unwrap();
    assert_eq!(stats["click_count"], 0, "a 404 counts no click");
    // The service's own names stay 404 under any path.
    assert_problem(
        visit(&app, "/api/no/such/thing", &[]).await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn rules_choose_by_device_country_language_and_query_and_the_first_match_wins() {
    let app = TestApp::builder()
        .settings(|s| s.clicks.country_header = Some("cf-ipcountry".to_owned()))
        .spawn()
        .await;
    let link = created(
        &app,
        json!({
            "long_url": "https://example.com/default",
            "rules": [
                { "device": ["ios"], "country": ["DE"], "to": "https://example.com/ios-de" },
                { "device": ["ios", "android"], "to": "https://apps.example.com/app" },
                { "language": ["fr"], "to": "https://example.com/fr" },
                { "query": { "name": "src", "value": "qr" }, "to": "https://example.com/qr" },
            ],
        }),
    )
    .await;
    assert_eq!(link["rules"].as_array().unwrap().len(), 4);
    let code = link["short_code"].as_str().unwrap().to_owned();
    let at = format!("/{code}");
    let cases: [Case<'_>; 6] = [
        (
            &at,
            &[("user-agent", IPHONE), ("cf-ipcountry", "de")],
            "https://example.com/ios-de",
        ),
        (
            &at,
            &[("user-agent", IPHONE), ("cf-ipcountry", "US")],
            "https://apps.example.com/app",
        ),
        (
            &at,
            &[
                ("user-agent", FIREFOX),
                ("accept-language", "fr-CH, en;q=0.5"),
            ],
            "https://example.com/fr",
        ),
        (
            &at,
            &[("user-agent", FIREFOX), ("accept-language", "en, fr;q=0")],
            "https://example.com/default",
        ),
        (
            &format!("{at}?src=qr"),
            &[("user-agent", FIREFOX)],
            "https://example.com/qr",
        ),
        (
            &at,
            &[("user-agent", FIREFOX)],
            "https://example.com/default",
        ),
    ];
    for (path, headers, expected) in cases {
        let response = visit(&app, path, headers).await;
        assert_eq!(location(&response), expected, "{path} {headers:?}");
    }
    // HEAD answers as GET would, counting nothing.
    let head = app
        .client
        .head(app.url(&at))
        .header("user-agent", IPHONE)
        .send()
        .await
        .unwrap();
    assert_eq!(location(&head), "https://apps.example.com/app");
    let stats: Value = app.stats(&code).await.json().await.unwrap();
    assert_eq!(
        stats["click_count"], 6,
        "every GET counted, whichever target served it"
    );
    let breakdown: Value = app
        .get(&format!("/stats/{code}/breakdown"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        breakdown["targets"],
        json!([
            { "target": "default", "clicks": 2 },
            { "target": "rule-1", "clicks": 1 },
            { "target": "rule-2", "clicks": 1 },
            { "target": "rule-3", "clicks": 1 },
            { "target": "rule-4", "clicks": 1 },
        ])
    );
    // A link without rules counts no target.
    let plain = created(&app, json!({ "long_url": "https://example.com/plain" })).await;
    let plain = plain["short_code"].as_str().unwrap();
    assert_eq!(visit(&app, &format!("/{plain}"), &[]).await.status(), 302);
    let breakdown: Value = app
        .get(&format!("/stats/{plain}/breakdown"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(breakdown["targets"], json!([]));
}

#[tokio::test]
async fn redirects_say_noindex_unless_the_link_is_crawlable() {
    let app = TestApp::spawn().await;
    let hidden = created(&app, json!({ "long_url": "https://example.com/h" })).await;
    let open = created(
        &app,
        json!({ "long_url": "https://example.com/o", "crawlable": true }),
    )
    .await;
    let code = hidden["short_code"].as_str().unwrap();
    let response = visit(&app, &format!("/{code}"), &[]).await;
    assert_eq!(response.headers()["x-robots-tag"], "noindex");
    let code = open["short_code"].as_str().unwrap();
    let response = visit(&app, &format!("/{code}"), &[]).await;
    assert!(!response.headers().contains_key("x-robots-tag"));
    assert_eq!(open["crawlable"], true);
}

#[tokio::test]
async fn bad_settings_are_refused_with_their_code_and_make_nothing() {
    let app = TestApp::spawn().await;
    let rule = json!({ "to": "https://example.com/r" });
    let cases = [
        (json!({ "redirect_status": 303 }), "invalid_routing"),
        (
            json!({ "rules": vec![rule.clone(); 21] }),
            "invalid_routing",
        ),
        (
            json!({ "rules": [{ "country": ["USA"], "to": "https://e.com/" }] }),
            "invalid_routing",
        ),
        (
            json!({ "rules": [{ "language": ["e1"], "to": "https://e.com/" }] }),
            "invalid_routing",
        ),
        (
            json!({ "rules": [{ "query": { "name": "", "value": "x" }, "to": "https://e.com/" }] }),
            "invalid_routing",
        ),
        (
            json!({ "rules": [{ "to": "ftp://e.com/" }] }),
            "unsupported_scheme",
        ),
        (
            json!({ "rules": [{ "to": "http://127.0.0.1/" }] }),
            "forbidden_destination",
        ),
        (
            json!({ "rules": [{ "device": ["fridge"], "to": "https://e.com/" }] }),
            "invalid_request",
        ),
        (json!({ "forward_query": "yes" }), "invalid_request"),
    ];
    for (fields, code) in cases {
        let mut body = json!({ "long_url": "https://example.com/x", "alias": "never-made" });
        body.as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        assert_problem(app.shorten(body).await, 400, code).await;
    }
    assert_problem(app.get("/never-made").await, 404, "not_found").await;
}

#[tokio::test]
async fn rules_are_replaced_whole_by_patch_and_shown_by_every_answer() {
    let app = TestApp::spawn().await;
    let owner = app.login_as("ada", Role::User).await;
    let code = app.create_link(&owner, "https://example.com/base").await;
    let patch = |body: Value| {
        app.client
            .patch(app.url(&format!("/api/links/{code}")))
            .header("cookie", &owner)
            .header("origin", BASE_URL)
            .json(&body)
            .send()
    };
    let response = patch(json!({
        "rules": [{ "device": ["ios"], "to": "https://apps.example.com/a" }],
        "forward_query": true,
    }))
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    let shown: Value = app
        .client
        .get(app.url(&format!("/api/links/{code}")))
        .header("cookie", &owner)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["rules"][0]["device"], json!(["ios"]));
    assert_eq!(shown["rules"][0]["to"], "https://apps.example.com/a");
    assert_eq!(shown["forward_query"], true);
    let response = visit(&app, &format!("/{code}?a=1"), &[("user-agent", IPHONE)]).await;
    assert_eq!(location(&response), "https://apps.example.com/a?a=1");

    // A bad patch changes nothing.
    assert_problem(
        patch(json!({ "long_url": "https://example.com/new", "redirect_status": 200 }))
            .await
            .unwrap(),
        400,
        "invalid_routing",
    )
    .await;
    let response = patch(json!({ "rules": [] })).await.unwrap();
    let view: Value = response.json().await.unwrap();
    assert_eq!(view["rules"], json!([]));
    assert_eq!(view["long_url"], "https://example.com/base");
    let response = visit(&app, &format!("/{code}"), &[("user-agent", IPHONE)]).await;
    assert_eq!(location(&response), "https://example.com/base");
}
