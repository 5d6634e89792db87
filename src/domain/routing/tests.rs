//! The rules' matching, the limits and the stored form.

use super::*;

fn url(s: &str) -> LongUrl {
    LongUrl::from_trusted(s.to_owned())
}

fn rule(to: &str) -> Rule {
    Rule {
        device: vec![],
        country: vec![],
        language: vec![],
        query: None,
        to: url(to),
    }
}

fn country(c: &str) -> Country {
    Country::from_header(c.as_bytes()).unwrap()
}

#[test]
fn a_plain_link_stores_nothing_and_reads_back_plain() {
    assert!(Routing::default().is_plain());
    assert_eq!(Routing::default().to_stored(), None);
    assert_eq!(Routing::from_stored(None), Ok(Routing::default()));
    assert_eq!(Routing::from_stored(Some("")), Ok(Routing::default()));
}

#[test]
fn every_field_round_trips_through_the_stored_form() {
    let routing = Routing {
        redirect_status: Some(RedirectStatus::Permanent),
        forward_query: Some(true),
        forward_path: Some(false),
        rules: vec![
            Rule {
                device: vec![Platform::Ios, Platform::Tablet],
                country: vec![country("US"), country("ca")],
                language: vec!["en".into()],
                query: Some(QueryMatch {
                    name: "src".into(),
                    value: "qr code".into(),
                }),
                to: url("https://example.com/ios"),
            },
            rule("https://example.com/all"),
        ],
        crawlable: true,
    };
    let stored = routing.to_stored().unwrap();
    assert_eq!(Routing::from_stored(Some(&stored)), Ok(routing));
}

#[test]
fn unreadable_or_out_of_bounds_stored_text_is_an_error() {
    for text in [
        "{",
        r#"{"status":303}"#,
        r#"{"rules":[{"country":["USA"],"to":"https://e.com/"}]}"#,
        r#"{"rules":[{"language":["e1"],"to":"https://e.com/"}]}"#,
        r#"{"rules":[{"device":["fridge"],"to":"https://e.com/"}]}"#,
    ] {
        assert!(Routing::from_stored(Some(text)).is_err(), "{text}");
    }
    let many = format!(
        r#"{{"rules":[{}]}}"#,
        vec![r#"{"to":"https://e.com/"}"#; MAX_RULES + 1].join(",")
    );
    assert_eq!(
        Routing::from_stored(Some(&many)),
        Err(RoutingError::TooManyRules)
    );
}

#[test]
fn the_first_rule_that_matches_wins_and_every_condition_must_hold() {
    let routing = Routing {
        rules: vec![
            Rule {
                device: vec![Platform::Ios],
                country: vec![country("FR")],
                ..rule("https://example.com/ios-fr")
            },
            Rule {
                device: vec![Platform::Ios, Platform::Android],
                ..rule("https://example.com/phone-app")
            },
            Rule {
                language: vec!["de".into()],
                ..rule("https://example.com/de")
            },
            Rule {
                query: Some(QueryMatch {
                    name: "utm_source".into(),
                    value: "print ad".into(),
                }),
                ..rule("https://example.com/print")
            },
        ],
        ..Routing::default()
    };
    let ios = Platforms::of(&[Platform::Ios, Platform::Mobile]);
    let visit = |platforms, country: Option<&str>, lang, query| Visit {
        platforms,
        country: country.map(self::country),
        accept_language: lang,
        query,
    };
    assert_eq!(routing.pick(&visit(ios, Some("FR"), None, None)), Some(0));
    assert_eq!(routing.pick(&visit(ios, Some("DE"), None, None)), Some(1));
    assert_eq!(routing.pick(&visit(ios, None, None, None)), Some(1));
    let desktop = Platforms::of(&[Platform::Desktop]);
    assert_eq!(
        routing.pick(&visit(desktop, None, Some("fr-CH, de;q=0.7"), None)),
        Some(2)
    );
    assert_eq!(
        routing.pick(&visit(desktop, None, Some("fr, de;q=0"), None)),
        None,
        "a language refused with q=0 is not accepted"
    );
    assert_eq!(
        routing.pick(&visit(
            desktop,
            None,
            None,
            Some("a=1&utm_source=print%20ad")
        )),
        Some(3)
    );
    assert_eq!(
        routing.pick(&visit(desktop, None, None, Some("utm_source=print"))),
        None
    );
}

#[test]
fn limits_are_checked() {
    let mut routing = Routing {
        rules: vec![rule("https://e.com/"); MAX_RULES],
        ..Routing::default()
    };
    assert_eq!(routing.check(), Ok(()));
    routing.rules.push(rule("https://e.com/"));
    assert_eq!(routing.check(), Err(RoutingError::TooManyRules));
    let routing = Routing {
        rules: vec![Rule {
            query: Some(QueryMatch {
                name: String::new(),
                value: "x".into(),
            }),
            ..rule("https://e.com/")
        }],
        ..Routing::default()
    };
    assert_eq!(routing.check(), Err(RoutingError::Query(0)));
    assert_eq!(
        RedirectStatus::try_from(303),
        Err(RoutingError::Status(303))
    );
    assert_eq!(RedirectStatus::try_from(308), Ok(RedirectStatus::Permanent));
}
