//! Reference data ships with the product and is managed by the portfolio office.

use portfolio_api::routes::service_areas::ServiceAreaPage;
use serde_json::{json, Value};

use crate::support::{assert_needs_if_match, TestApp, HSO, MANAGE, OUS, READ};

async fn all_pages(app: &TestApp, first: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut url = first.to_owned();
    loop {
        let page: Value = app.get(&url).auth(READ, None).returns(200).await;
        items.extend(page["items"].as_array().expect("items").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => {
                let sep = if first.contains('?') { '&' } else { '?' };
                url = format!("{first}{sep}cursor={c}");
            }
            None => return items,
        }
    }
}

#[actix_web::test]
async fn the_fifteen_organisations_with_valid_numbers() {
    let app = TestApp::new().await;
    let orgs = all_pages(&app, "/api/v1/organisations?limit=4").await;
    assert_eq!(orgs.len(), 15);
    let count = |kind: &str| orgs.iter().filter(|o| o["kind"] == kind).count();
    assert_eq!(count("regional_health_authority"), 4);
    assert_eq!(count("health_trust"), 10);
    assert_eq!(count("it_partner"), 1);
    for o in &orgs {
        let n = o["org_number"].as_str().expect("number");
        assert!(
            portfolio_domain::organisation::OrgNumber::parse(n).is_ok(),
            "{n} fails the mod-11 check"
        );
    }
    let ous = orgs.iter().find(|o| o["org_number"] == OUS).expect("OUS");
    assert_eq!(ous["name"], "Oslo universitetssykehus HF");
    let trusts = app
        .get("/api/v1/organisations?kind=health_trust")
        .auth(READ, None)
        .send()
        .await
        .json();
    assert_eq!(trusts["items"].as_array().map(Vec::len), Some(10));
}

#[actix_web::test]
async fn the_sixteen_service_areas_of_2023() {
    let app = TestApp::new().await;
    let areas = all_pages(&app, "/api/v1/service-areas?year=2023&limit=5").await;
    assert_eq!(areas.len(), 16);
    assert_eq!(areas.iter().filter(|a| a["kind"] == "clinical").count(), 11);
    assert_eq!(
        areas
            .iter()
            .filter(|a| a["kind"] == "administrative")
            .count(),
        5
    );
    assert!(areas
        .iter()
        .any(|a| a["name"] == "Kurve, medikasjon og pasientmålinger"));
    let ids: std::collections::HashSet<_> = areas
        .iter()
        .map(|a| a["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(ids.len(), 16, "pages neither repeat nor skip");
}

#[actix_web::test]
async fn registering_an_organisation_checks_the_number() {
    let app = TestApp::new().await;
    app.post("/api/v1/organisations")
        .auth(MANAGE, Some(HSO))
        .json(&json!({"org_number": "923609017", "name": "Leverandør AS", "kind": "supplier"}))
        .refused_at(422, "/org_number")
        .await;
    let r = app
        .post("/api/v1/organisations")
        .auth(MANAGE, Some(HSO))
        .json(&json!({"org_number": "923609016", "name": "Leverandør AS", "kind": "supplier"}))
        .send()
        .await;
    r.assert_status(201);
    assert_eq!(
        r.header("location").as_deref(),
        Some("/api/v1/organisations/923609016")
    );
    app.post("/api/v1/organisations")
        .auth(MANAGE, Some(HSO))
        .json(&json!({"org_number": "923609016", "name": "Igjen AS", "kind": "supplier"}))
        .refused(409)
        .await;
}

#[actix_web::test]
async fn create_rename_and_retire_a_service_area() {
    let app = TestApp::new().await;
    let r = app
        .post("/api/v1/service-areas")
        .auth(MANAGE, Some(HSO))
        .json(&json!({"year": 2024, "name": "Mor og barn", "kind": "clinical"}))
        .send()
        .await;
    r.assert_status(201);
    let area = r.json();
    let id = area["id"].as_str().expect("id").to_owned();
    assert_eq!(r.header("etag").as_deref(), Some("\"v1\""));

    // Same name in the same year is a conflict.
    app.post("/api/v1/service-areas")
        .auth(MANAGE, Some(HSO))
        .json(&json!({"year": 2024, "name": "Mor og barn", "kind": "clinical"}))
        .refused(409)
        .await;

    let path = format!("/api/v1/service-areas/{id}");
    // Changes need If-Match: missing → 428, stale → 412.
    let rename = json!({"name": "Kvinne og barn"});
    assert_needs_if_match(|| app.patch(&path).auth(MANAGE, Some(HSO)).json(&rename), 7).await;
    let r = app
        .patch(&path)
        .auth(MANAGE, Some(HSO))
        .header("If-Match", "\"v1\"")
        .json(&json!({"name": "Kvinne og barn"}))
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.json()["name"], "Kvinne og barn");
    assert_eq!(r.header("etag").as_deref(), Some("\"v2\""));

    let r = app
        .post(&format!("{path}/retire"))
        .auth(MANAGE, Some(HSO))
        .header("If-Match", "\"v2\"")
        .send()
        .await;
    r.assert_status(200);
    assert!(r.json()["retired_at"].is_string());
    let listed = app
        .get("/api/v1/service-areas?year=2024")
        .auth(READ, None)
        .send()
        .await
        .json();
    assert_eq!(
        listed["items"].as_array().map(Vec::len),
        Some(0),
        "retired areas are hidden by default"
    );
    let listed = app
        .get("/api/v1/service-areas?year=2024&include_retired=true")
        .auth(READ, None)
        .send()
        .await
        .json();
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1));

    // Every change is in the audit trail with before and after.
    let audit = app.count("audit_log");
    assert_eq!(audit, 3);
}

#[actix_web::test]
async fn parallel_tests_do_not_see_each_others_data_a() {
    isolation_probe("Isolasjon A").await;
}

#[actix_web::test]
async fn parallel_tests_do_not_see_each_others_data_b() {
    isolation_probe("Isolasjon B").await;
}

async fn isolation_probe(name: &str) {
    let app = TestApp::new().await;
    for i in 0..5 {
        app.post("/api/v1/service-areas")
            .auth(MANAGE, Some(HSO))
            .json(&json!({"year": 2099, "name": format!("{name} {i}"), "kind": "administrative"}))
            .responds(201)
            .await;
        actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
        let listed = app
            .get("/api/v1/service-areas?year=2099")
            .auth(READ, None)
            .send()
            .await
            .json();
        let listed: ServiceAreaPage = serde_json::from_value(listed).expect("a ServiceAreaPage");
        let names: Vec<&str> = listed.items.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names.len(), i + 1, "saw another test's data: {names:?}");
        assert!(
            names.iter().all(|n| n.starts_with(name)),
            "saw another test's data: {names:?}"
        );
    }
}
