//! Where a link sends people (`domain::Routing`) on every store: saved with the link, read back
//! by every read (lookup, owner listing, scan), replaced and cleared alone, never on a missing or
//! deleted link, and never lost to a concurrent edit of the destination.

use std::sync::Arc;

use url_shortener::domain::{
    Country, LongUrl, Platform, QueryMatch, RedirectStatus, Routing, Rule, UrlRecord,
};

use super::repository::{Backend, at, code, dynamodb, memory, now, owned, postgres, redis, sqlite};

fn routing() -> Routing {
    Routing {
        redirect_status: Some(RedirectStatus::Permanent),
        forward_query: Some(true),
        forward_path: Some(false),
        rules: vec![
            Rule {
                device: vec![Platform::Ios, Platform::Tablet],
                country: vec![Country::from_header(b"US").unwrap()],
                language: vec!["en".to_owned()],
                query: Some(QueryMatch {
                    name: "src".to_owned(),
                    value: "print ad".to_owned(),
                }),
                to: LongUrl::from_trusted("https://apps.example.com/ios?x=1".to_owned()),
            },
            Rule {
                device: vec![],
                country: vec![],
                language: vec![],
                query: None,
                to: LongUrl::from_trusted("https://example.com/everyone-else".to_owned()),
            },
        ],
        crawlable: true,
    }
}

async fn routing_is_saved_and_read_back_by_every_read(b: Backend) {
    let routed = owned("routed-1", "u-r", now() - 1_000).routed(routing());
    let plain = owned("plain-1", "u-r", now() - 2_000);
    b.repo.save(&routed).await.unwrap();
    b.repo.save(&plain).await.unwrap();

    assert_eq!(b.found("routed-1").await, Some(routed.clone()));
    assert_eq!(
        b.found("plain-1").await.unwrap().routing,
        Routing::default()
    );
    let listed = b.repo.list_owned("u-r", None, 10).await.unwrap();
    assert_eq!(listed[0].routing, routing(), "listed with its routing");
    assert!(listed[1].routing.is_plain());
    let scan = b.repo.scan_links(None, 100).await.unwrap();
    let scanned: Vec<&UrlRecord> = scan
        .links
        .iter()
        .filter(|r| r.short_code.as_str() == "routed-1")
        .collect();
    assert_eq!(scanned[0].routing, routing(), "scanned with its routing");
}

async fn routing_is_replaced_and_cleared_keeping_the_rest(b: Backend) {
    let link = owned("reroute", "u-r", now() - 1_000);
    b.repo.save(&link).await.unwrap();

    assert!(
        b.repo
            .set_routing(&code("reroute"), &routing())
            .await
            .unwrap()
    );
    let found = b.found("reroute").await.unwrap();
    assert_eq!(found.routing, routing());
    assert_eq!(
        (found.long_url, found.owner, found.created_at),
        (link.long_url.clone(), link.owner.clone(), link.created_at),
        "all else kept"
    );

    assert!(
        b.repo
            .set_routing(&code("reroute"), &Routing::default())
            .await
            .unwrap()
    );
    assert_eq!(b.found("reroute").await, Some(link));

    assert!(
        !b.repo
            .set_routing(&code("nosuchlink"), &routing())
            .await
            .unwrap()
    );
    assert!(b.found("nosuchlink").await.is_none(), "nothing created");
    assert!(
        b.repo
            .delete_link(&code("reroute"), at(now()))
            .await
            .unwrap()
    );
    assert!(
        !b.repo
            .set_routing(&code("reroute"), &routing())
            .await
            .unwrap()
    );
    assert!(
        b.found("reroute").await.is_none(),
        "the tombstone stays one"
    );
}

/// A new destination and new routing written at the same moment (two editors, two
/// instances) both land: each write changes only its own fields.
async fn routing_and_destination_edited_at_once_both_land(b: Backend) {
    let repo = b.repo.clone();
    for round in 0..8 {
        let c = format!("race-{round}");
        repo.save(&owned(&c, "u-r", now() - 1_000)).await.unwrap();
        let new_url = LongUrl::from_trusted(format!("https://example.com/moved-{round}"));
        let (a, r) = (Arc::clone(&repo), Arc::clone(&repo));
        let (code_a, code_r, url) = (code(&c), code(&c), new_url.clone());
        let moved = tokio::spawn(async move { a.update_link(&code_a, &url, None).await });
        let routed = tokio::spawn(async move { r.set_routing(&code_r, &routing()).await });
        assert!(moved.await.unwrap().unwrap());
        assert!(routed.await.unwrap().unwrap());
        let found = b.found(&c).await.unwrap();
        assert_eq!(found.long_url, new_url, "round {round}");
        assert_eq!(found.routing, routing(), "round {round}");
    }
}

backends!(4;
    routing_is_saved_and_read_back_by_every_read,
    routing_is_replaced_and_cleared_keeping_the_rest,
    routing_and_destination_edited_at_once_both_land,
);
