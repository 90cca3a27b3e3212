//! No lost updates: strong ETags on every single resource, `If-Match` on every change.

use futures_util::future::join_all;
use serde_json::json;

use crate::support::{TestApp, HSO, MANAGE};

#[actix_web::test]
async fn a_stale_if_match_never_overwrites() {
    let app = TestApp::new().await;
    let list = app
        .get("/api/v1/service-areas?year=2023&limit=1")
        .auth(MANAGE, None)
        .send()
        .await
        .json();
    let id = list["items"][0]["id"].as_str().expect("id").to_owned();
    let path = format!("/api/v1/service-areas/{id}");
    let got = app.get(&path).auth(MANAGE, None).send().await;
    got.assert_status(200);
    let etag = got.header("etag").expect("ETag");
    assert_eq!(etag, "\"v1\"", "a strong ETag");

    // Two writers read v1 and both try to write: exactly one wins.
    let writes = ["Navn A", "Navn B"].map(|name| {
        app.patch(&path)
            .auth(MANAGE, Some(HSO))
            .header("If-Match", &etag)
            .json(&json!({"name": name}))
            .send()
    });
    let results = join_all(writes).await;
    let mut codes: Vec<u16> = results.iter().map(|r| r.status.as_u16()).collect();
    codes.sort();
    assert_eq!(codes, vec![200, 412]);
    let winner = results.iter().find(|r| r.status == 200).expect("winner");
    let loser = results.iter().find(|r| r.status == 412).expect("loser");
    loser.assert_problem(412);
    assert_eq!(winner.header("etag").as_deref(), Some("\"v2\""));

    // A third, stale write is refused and changes nothing.
    app.patch(&path)
        .auth(MANAGE, Some(HSO))
        .header("If-Match", "\"v1\"")
        .json(&json!({"name": "Navn C"}))
        .send()
        .await
        .assert_problem(412);
    // Without If-Match: 428.
    app.patch(&path)
        .auth(MANAGE, Some(HSO))
        .json(&json!({"name": "Navn D"}))
        .send()
        .await
        .assert_problem(428);
    let now = app.get(&path).auth(MANAGE, None).send().await;
    assert_eq!(now.json()["name"], winner.json()["name"]);
    assert_eq!(now.json()["version"], 2);
    assert_eq!(
        app.count("events"),
        1,
        "only the winning write was recorded"
    );
}

#[actix_web::test]
async fn every_change_operation_in_the_contract_takes_if_match() {
    // Every PUT/PATCH/DELETE on a single resource, and every POST action on one
    // (`/{id}/<action>` answering 200), declares If-Match, and so gets 412/428 documented.
    let api = portfolio_api::app::contract_json();
    for (path, item) in api["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            let on_one = path.contains('{');
            // A POST on `/{id}/<action>` that answers 200 changes that resource; one that
            // answers 201 creates a sub-resource (e.g. an allocation) and needs no If-Match.
            let action_on_one = method == "post"
                && !path.ends_with('}')
                && op["responses"].get("200").is_some()
                && op["responses"].get("201").is_none();
            let changes = matches!(method.as_str(), "put" | "patch" | "delete") || action_on_one;
            if !changes || !on_one {
                continue;
            }
            let has_if_match = op["parameters"].as_array().is_some_and(|ps| {
                ps.iter().any(|p| {
                    p["name"]
                        .as_str()
                        .is_some_and(|n| n.eq_ignore_ascii_case("if-match"))
                })
            });
            assert!(has_if_match, "{method} {path} lacks If-Match");
            for code in ["412", "428"] {
                assert!(
                    op["responses"].get(code).is_some(),
                    "{method} {path} lacks {code}"
                );
            }
        }
    }
}
