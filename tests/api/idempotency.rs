//! `Idempotency-Key` on every POST: a retried request happens once; its first answer is
//! replayed; the same key for another request is refused.

use diesel::RunQueryDsl;
use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::support::{Req, TestApp, AHUS, HSO, MANAGE, READ};

const AREAS: &str = "/api/v1/service-areas";

fn area(name: &str) -> Value {
    json!({"year": 2032, "name": name, "kind": "administrative"})
}

/// A POST of `body` to the service areas by `scopes` of `org`, under Idempotency-Key `key`.
fn keyed<'a>(app: &'a TestApp, scopes: &str, org: &str, key: &str, body: &Value) -> Req<'a> {
    app.post(AREAS)
        .auth(scopes, Some(org))
        .header("Idempotency-Key", key)
        .json(body)
}

#[actix_web::test]
async fn concurrent_retries_of_one_post_create_exactly_one_resource() {
    let app = TestApp::new().await;
    let before = app.count("service_areas");
    let body = area("Én gang");
    let sends = (0..8).map(|_| keyed(&app, MANAGE, HSO, "create-once-1", &body).send());
    let responses = join_all(sends).await;
    let mut created = Vec::new();
    for r in &responses {
        match r.status.as_u16() {
            201 => created.push(r.json()),
            409 => {
                let p = r.assert_problem(409);
                assert!(p["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("still being processed")));
            }
            other => panic!("unexpected {other}: {}", r.text()),
        }
    }
    assert!(!created.is_empty());
    assert!(created.iter().all(|c| c["id"] == created[0]["id"]));
    assert_eq!(
        app.count("service_areas"),
        before + 1,
        "exactly one resource"
    );
    assert_eq!(app.count("events"), 1, "and one change");

    // A later retry gets the first answer again, byte for byte, marked as replayed.
    let first = responses
        .iter()
        .find(|r| r.status == 201 && r.header("idempotent-replayed").is_none())
        .expect("the original answer");
    let again = keyed(&app, MANAGE, HSO, "create-once-1", &body)
        .send()
        .await;
    again.assert_status(201);
    assert_eq!(again.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(again.body, first.body);
    assert_eq!(again.header("location"), first.header("location"));
    assert_eq!(again.header("etag"), first.header("etag"));
    assert_eq!(
        again.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(app.count("service_areas"), before + 1);
}

#[actix_web::test]
async fn the_same_key_with_another_body_is_422_and_writes_nothing() {
    let app = TestApp::new().await;
    keyed(&app, MANAGE, HSO, "k-1", &area("Først"))
        .responds(201)
        .await;
    let n = app.count("service_areas");
    keyed(&app, MANAGE, HSO, "k-1", &area("Annet"))
        .refused_at(422, "/header/Idempotency-Key")
        .await;
    assert_eq!(app.count("service_areas"), n);
    // Another path with the same key is another request too.
    app.post("/api/v1/organisations")
        .auth(MANAGE, Some(HSO))
        .header("Idempotency-Key", "k-1")
        .json(&json!({"org_number": "923609016", "name": "Eksempel Leverandør AS", "kind": "supplier"}))
        .refused(422).await;
    assert_eq!(app.count("organisations"), 15);
}

#[actix_web::test]
async fn keys_are_scoped_per_caller() {
    let app = TestApp::new().await;
    keyed(&app, MANAGE, HSO, "shared", &area("HSØ"))
        .responds(201)
        .await;
    // Another organisation's caller may use the same key for its own request.
    let r = keyed(&app, MANAGE, AHUS, "shared", &area("Ahus"))
        .send()
        .await;
    r.assert_status(201);
    assert!(r.header("idempotent-replayed").is_none());
    assert_eq!(app.count("idempotent_requests"), 2);
}

#[actix_web::test]
async fn malformed_keys_are_422() {
    let app = TestApp::new().await;
    let long = "k".repeat(256);
    for key in ["has space", long.as_str(), "nøkkel"] {
        let r = keyed(&app, MANAGE, HSO, key, &area("Ugyldig")).send().await;
        let p = r.assert_problem(422);
        assert_eq!(p["errors"][0]["pointer"], "/header/Idempotency-Key");
    }
    assert_eq!(app.count("service_areas"), 16);
}

#[actix_web::test]
async fn refusals_and_validation_failures_are_not_stored_so_a_corrected_retry_runs() {
    let app = TestApp::new().await;
    // 403: the caller may get the permission; the retry runs again.
    keyed(&app, READ, HSO, "k-403", &area("Senere"))
        .refused(403)
        .await;
    let r = keyed(&app, MANAGE, HSO, "k-403", &area("Senere"))
        .send()
        .await;
    r.assert_status(201);
    assert!(r.header("idempotent-replayed").is_none());

    // A validation failure is not stored: the same key with a corrected body is processed.
    let bad = json!({"year": 1900, "name": "x", "kind": "clinical"});
    keyed(&app, MANAGE, HSO, "k-422", &bad).refused(422).await;
    let again = keyed(&app, MANAGE, HSO, "k-422", &bad).send().await;
    again.assert_problem(422);
    assert!(again.header("idempotent-replayed").is_none());
    let corrected = keyed(&app, MANAGE, HSO, "k-422", &area("Rettet"))
        .send()
        .await;
    corrected.assert_status(201);
    assert!(corrected.header("idempotent-replayed").is_none());
    // And from then on that answer is replayed.
    let replay = keyed(&app, MANAGE, HSO, "k-422", &area("Rettet"))
        .send()
        .await;
    replay.assert_status(201);
    assert_eq!(
        replay.header("idempotent-replayed").as_deref(),
        Some("true")
    );
    assert_eq!(replay.body, corrected.body);

    // Without a valid token nothing is stored: 401 as usual.
    app.post(AREAS)
        .header("Idempotency-Key", "k-401")
        .json(&area("Anonym"))
        .refused(401)
        .await;
    let stored: Vec<String> = {
        #[derive(diesel::QueryableByName)]
        struct K {
            #[diesel(sql_type = diesel::sql_types::Text)]
            key: String,
        }
        diesel::sql_query("SELECT key FROM idempotent_requests ORDER BY key")
            .load::<K>(&mut app.conn())
            .expect("keys")
            .into_iter()
            .map(|k| k.key)
            .collect()
    };
    assert_eq!(stored, vec!["k-403", "k-422"]);
}

#[actix_web::test]
async fn keys_older_than_the_retention_are_free_again() {
    let app = TestApp::new().await;
    keyed(&app, MANAGE, HSO, "old", &area("Gammel"))
        .responds(201)
        .await;
    diesel::sql_query("UPDATE idempotent_requests SET created_at = now() - interval '25 hours'")
        .execute(&mut app.conn())
        .expect("age the key");
    // Within 24 h this would be a 422; after, the key starts afresh.
    let r = keyed(&app, MANAGE, HSO, "old", &area("Ny")).send().await;
    r.assert_status(201);
    assert_eq!(r.json()["name"], "Ny");
}

#[actix_web::test]
async fn every_post_in_the_contract_documents_the_header() {
    let api = portfolio_api::app::contract_json();
    let mut posts = 0;
    for (path, item) in api["paths"].as_object().expect("paths") {
        if let Some(op) = item.get("post") {
            posts += 1;
            let params = op["parameters"].as_array().expect("parameters");
            assert!(
                params
                    .iter()
                    .any(|p| p["name"] == "Idempotency-Key" && p["in"] == "header"),
                "POST {path} lacks Idempotency-Key"
            );
            for code in ["409", "422"] {
                assert!(
                    op["responses"].get(code).is_some(),
                    "POST {path} lacks {code}"
                );
            }
        }
    }
    assert!(posts >= 3);
}
