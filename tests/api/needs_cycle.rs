//! The yearly needs cycle over HTTP: cycles and phases, criteria sets, intake, first
//! assessment, scoring, ranking, closing the round and the funnel.

#![allow(dead_code)] // helpers shared with the scoring tests that follow

use serde_json::{json, Value};

use crate::support::{TestApp, AHUS, HSO, OUS, SYKEHUSPARTNER};

pub const OFFICE: &str = "portfolio:read portfolio:manage";
pub const READ: &str = "portfolio:read";
pub const SUBMIT: &str = "portfolio:read portfolio:submit";
pub const SCORE: &str = "portfolio:read portfolio:score";
pub const INNLANDET: &str = "983971709";

pub async fn open_cycle(app: &TestApp, year: i32) -> Value {
    app.post("/api/v1/cycles")
        .auth(OFFICE, Some(HSO))
        .json(&json!({ "year": year }))
        .send()
        .await
        .assert_status(201)
        .json()
}

pub async fn advance(app: &TestApp, year: i32, to: &str) -> Value {
    let c = app
        .get(&format!("/api/v1/cycles/{year}"))
        .auth(READ, None)
        .send()
        .await
        .assert_status(200)
        .json();
    app.post(&format!("/api/v1/cycles/{year}/phase"))
        .auth(OFFICE, Some(HSO))
        .header("If-Match", &format!("\"v{}\"", c["version"]))
        .json(&json!({ "to": to }))
        .send()
        .await
        .assert_status(200)
        .json()
}

pub fn criteria_body() -> Value {
    json!({"criteria": [
        {"code": "STRATEGI", "name": "Strategisk forankring", "kind": "screening", "weight": 1.0, "scale_min": 0, "scale_max": 1},
        {"code": "NYTTE", "name": "Pasientnytte", "kind": "prioritisation", "weight": 3.0, "scale_min": 1, "scale_max": 5,
         "scale_labels": [{"value": 1, "label": "Liten"}, {"value": 5, "label": "Svært stor"}]},
        {"code": "GEVINST", "name": "Økonomisk gevinst", "kind": "prioritisation", "weight": 1.0, "scale_min": 0, "scale_max": 10}
    ]})
}

/// Creates and adopts the criteria set of `year`.
pub async fn adopt_criteria(app: &TestApp, year: i32, body: &Value) {
    let set = app
        .put(&format!("/api/v1/cycles/{year}/criteria-set"))
        .auth(OFFICE, Some(HSO))
        .json(body)
        .send()
        .await
        .assert_status(201)
        .json();
    app.post(&format!("/api/v1/cycles/{year}/criteria-set/adopt"))
        .auth(OFFICE, Some(HSO))
        .header("If-Match", &format!("\"v{}\"", set["version"]))
        .send()
        .await
        .assert_status(200);
}

pub fn need_body(year: i32, title: &str) -> Value {
    json!({
        "cycle_year": year,
        "title": title,
        "description": "Data registreres i dag manuelt i flere kvalitetsregistre.",
        "expected_benefit": "Mindre dobbeltregistrering.",
        "origin": "professional_community",
        "estimated_study_cost_nok": 1_500_000,
        "contact_name": "Ola Nordmann",
        "contact_email": "ola@example.org"
    })
}

pub async fn report(app: &TestApp, org: &str, body: &Value) -> Value {
    app.post("/api/v1/needs")
        .auth(SUBMIT, Some(org))
        .json(body)
        .send()
        .await
        .assert_status(201)
        .json()
}

pub fn etag_of(v: &Value) -> String {
    format!("\"v{}\"", v["version"])
}

pub async fn assess(app: &TestApp, need: &Value, body: &Value) -> Value {
    app.post(&format!(
        "/api/v1/needs/{}/assessment",
        need["id"].as_str().unwrap_or("")
    ))
    .auth(OFFICE, Some(HSO))
    .header("If-Match", &etag_of(need))
    .json(body)
    .send()
    .await
    .assert_status(200)
    .json()
}

pub fn accept_body() -> Value {
    json!({"decision": "accepted", "screening": [{"code": "STRATEGI", "value": 1}]})
}

#[actix_web::test]
async fn cycles_move_forward_one_recorded_step_at_a_time() {
    let app = TestApp::new().await;
    // Wrong role.
    app.post("/api/v1/cycles")
        .auth(SUBMIT, Some(OUS))
        .json(&json!({"year": 2022}))
        .send()
        .await
        .assert_problem(403);
    assert_eq!(app.count("cycles"), 0);
    let c = open_cycle(&app, 2022).await;
    assert_eq!(c["phase"], "intake");
    assert_eq!(c["phase_changes"][0]["to"], "intake");
    app.post("/api/v1/cycles")
        .auth(OFFICE, Some(HSO))
        .json(&json!({"year": 2022}))
        .send()
        .await
        .assert_problem(409);
    // Skipping a phase is a conflict naming the allowed next phase.
    let p = app
        .post("/api/v1/cycles/2022/phase")
        .auth(OFFICE, Some(HSO))
        .header("If-Match", "\"v1\"")
        .json(&json!({"to": "prioritisation"}))
        .send()
        .await
        .assert_problem(409);
    assert!(
        p["detail"]
            .as_str()
            .unwrap_or("")
            .contains("first_assessment"),
        "{p}"
    );
    // Missing and stale If-Match.
    app.post("/api/v1/cycles/2022/phase")
        .auth(OFFICE, Some(HSO))
        .json(&json!({"to": "first_assessment"}))
        .send()
        .await
        .assert_problem(428);
    app.post("/api/v1/cycles/2022/phase")
        .auth(OFFICE, Some(HSO))
        .header("If-Match", "\"v9\"")
        .json(&json!({"to": "first_assessment"}))
        .send()
        .await
        .assert_problem(412);
    app.post("/api/v1/cycles/2022/phase")
        .auth(OFFICE, Some(HSO))
        .header("If-Match", "\"v1\"")
        .json(&json!({"to": "bogus"}))
        .send()
        .await
        .assert_problem(422);
    let c = advance(&app, 2022, "first_assessment").await;
    assert_eq!(c["phase"], "first_assessment");
    let changes = c["phase_changes"].as_array().expect("changes");
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[1]["from"], "intake");
    assert_eq!(changes[1]["changed_by"], "test-user");
    assert_eq!(changes[1]["changed_by_org"], HSO);
    assert!(changes[1]["changed_at"].is_string());
    // Prioritisation needs an adopted criteria set.
    let p = app
        .post("/api/v1/cycles/2022/phase")
        .auth(OFFICE, Some(HSO))
        .header("If-Match", &etag_of(&c))
        .json(&json!({"to": "prioritisation"}))
        .send()
        .await
        .assert_problem(409);
    assert!(
        p["detail"].as_str().unwrap_or("").contains("criteria set"),
        "{p}"
    );
    app.get("/api/v1/cycles/1999")
        .auth(READ, None)
        .send()
        .await
        .assert_problem(404);
    let list = app
        .get("/api/v1/cycles")
        .auth(READ, None)
        .send()
        .await
        .assert_status(200)
        .json();
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
}

#[actix_web::test]
async fn criteria_set_is_editable_while_draft_and_frozen_once_adopted() {
    let app = TestApp::new().await;
    open_cycle(&app, 2023).await;
    let url = "/api/v1/cycles/2023/criteria-set";
    // Bad input: weight 0, duplicate code, bad code, empty scale, NUL, oversize.
    for (bad, pointer) in [
        (
            json!({"criteria": [{"code": "A", "name": "A", "kind": "prioritisation", "weight": 0.0, "scale_min": 1, "scale_max": 5}]}),
            "/criteria/0/weight",
        ),
        (
            json!({"criteria": [
            {"code": "A", "name": "A", "kind": "prioritisation", "weight": 1.0, "scale_min": 1, "scale_max": 5},
            {"code": "A", "name": "B", "kind": "prioritisation", "weight": 1.0, "scale_min": 1, "scale_max": 5}]}),
            "/criteria/1/code",
        ),
        (
            json!({"criteria": [{"code": "a-b", "name": "A", "kind": "prioritisation", "weight": 1.0, "scale_min": 1, "scale_max": 5}]}),
            "/criteria/0/code",
        ),
        (
            json!({"criteria": [{"code": "A", "name": "A", "kind": "prioritisation", "weight": 1.0, "scale_min": 5, "scale_max": 5}]}),
            "/criteria/0/scale_max",
        ),
        (
            json!({"criteria": [{"code": "A", "name": "A\u{0}", "kind": "prioritisation", "weight": 1.0, "scale_min": 1, "scale_max": 5}]}),
            "/criteria/0/name",
        ),
        (
            json!({"criteria": [{"code": "A", "name": "x".repeat(201), "kind": "prioritisation", "weight": 1.0, "scale_min": 1, "scale_max": 5}]}),
            "/criteria/0/name",
        ),
        (
            json!({"criteria": [{"code": "A", "name": "A", "kind": "other", "weight": 1.0, "scale_min": 1, "scale_max": 5}]}),
            "/criteria/0/kind",
        ),
    ] {
        let p = app
            .put(url)
            .auth(OFFICE, Some(HSO))
            .json(&bad)
            .send()
            .await
            .assert_problem(422);
        assert_eq!(p["errors"][0]["pointer"], pointer, "{p}");
    }
    // Wrong role.
    app.put(url)
        .auth(SCORE, Some(OUS))
        .json(&criteria_body())
        .send()
        .await
        .assert_problem(403);
    assert_eq!(app.count("criteria_sets"), 0);
    let set = app
        .put(url)
        .auth(OFFICE, Some(HSO))
        .json(&json!({"criteria": [
            {"code": "S", "name": "Screening", "kind": "screening", "weight": 1.0, "scale_min": 0, "scale_max": 1}]}))
        .send()
        .await
        .assert_status(201)
        .json();
    assert_eq!(set["status"], "draft");
    // Adopting without a prioritisation criterion is refused.
    app.post(&format!("{url}/adopt"))
        .auth(OFFICE, Some(HSO))
        .header("If-Match", &etag_of(&set))
        .send()
        .await
        .assert_problem(422);
    // Replacing a draft needs If-Match.
    app.put(url)
        .auth(OFFICE, Some(HSO))
        .json(&criteria_body())
        .send()
        .await
        .assert_problem(428);
    let set = app
        .put(url)
        .auth(OFFICE, Some(HSO))
        .header("If-Match", &etag_of(&set))
        .json(&criteria_body())
        .send()
        .await
        .assert_status(200)
        .json();
    assert_eq!(set["criteria"].as_array().map(Vec::len), Some(3));
    assert_eq!(set["criteria"][1]["scale_labels"][1]["label"], "Svært stor");
    let adopted = app
        .post(&format!("{url}/adopt"))
        .auth(OFFICE, Some(HSO))
        .header("If-Match", &etag_of(&set))
        .send()
        .await
        .assert_status(200)
        .json();
    assert_eq!(adopted["status"], "adopted");
    assert!(adopted["adopted_at"].is_string());
    // Frozen: no change, no second adoption.
    let audit_before = app.count("audit_log");
    let p = app
        .put(url)
        .auth(OFFICE, Some(HSO))
        .header("If-Match", &etag_of(&adopted))
        .json(&criteria_body())
        .send()
        .await
        .assert_problem(409);
    assert!(
        p["detail"].as_str().unwrap_or("").contains("adopted"),
        "{p}"
    );
    app.post(&format!("{url}/adopt"))
        .auth(OFFICE, Some(HSO))
        .header("If-Match", &etag_of(&adopted))
        .send()
        .await
        .assert_problem(409);
    assert_eq!(app.count("audit_log"), audit_before);
    let got = app
        .get(url)
        .auth(READ, None)
        .send()
        .await
        .assert_status(200)
        .json();
    assert_eq!(got, adopted);
}

#[actix_web::test]
async fn intake_reports_needs_for_own_organisation_only() {
    let app = TestApp::new().await;
    // No cycle yet.
    app.post("/api/v1/needs")
        .auth(SUBMIT, Some(OUS))
        .json(&need_body(2022, "Tidlig ultralyd"))
        .send()
        .await
        .assert_problem(404);
    open_cycle(&app, 2022).await;
    let r = app
        .post("/api/v1/needs")
        .auth(SUBMIT, Some(OUS))
        .json(&need_body(2022, "Tidlig ultralyd"))
        .send()
        .await;
    r.assert_status(201);
    let need = r.json();
    assert_eq!(need["reference"], "B-2022-001");
    assert_eq!(need["organisation_number"], OUS);
    assert_eq!(need["status"], "submitted");
    assert_eq!(r.header("etag").as_deref(), Some("\"v1\""));
    assert_eq!(
        r.header("location"),
        Some(format!(
            "/api/v1/needs/{}",
            need["id"].as_str().unwrap_or("")
        ))
    );

    // Denials, with nothing written.
    let mut other = need_body(2022, "For en annen");
    other["organisation_number"] = json!(AHUS);
    app.post("/api/v1/needs")
        .auth(SUBMIT, Some(OUS))
        .json(&other)
        .send()
        .await
        .assert_problem(403);
    app.post("/api/v1/needs")
        .auth(READ, Some(OUS))
        .json(&need_body(2022, "Uten rett"))
        .send()
        .await
        .assert_problem(403);
    // Bad input.
    let long = "x".repeat(10_001);
    for (patch, pointer) in [
        (json!({"title": ""}), "/title"),
        (json!({"title": "   "}), "/title"),
        (json!({"title": "a\u{0}b"}), "/title"),
        (json!({"title": "x".repeat(201)}), "/title"),
        (json!({"description": long}), "/description"),
        (json!({"origin": "rumour"}), "/origin"),
        (
            json!({"estimated_study_cost_nok": -1}),
            "/estimated_study_cost_nok",
        ),
        (json!({"contact_email": "not-an-email"}), "/contact_email"),
        (
            json!({"service_area_id": "00000000-0000-0000-0000-000000000000"}),
            "/service_area_id",
        ),
    ] {
        let mut body = need_body(2022, "Ugyldig");
        for (k, v) in patch.as_object().expect("object") {
            body[k] = v.clone();
        }
        let p = app
            .post("/api/v1/needs")
            .auth(SUBMIT, Some(OUS))
            .json(&body)
            .send()
            .await
            .assert_problem(422);
        assert_eq!(p["errors"][0]["pointer"], pointer, "{p}");
    }
    assert_eq!(app.count("needs"), 1);
    // The office may report for any organisation.
    let mut for_ahus = need_body(2022, "Fra kontoret");
    for_ahus["organisation_number"] = json!(AHUS);
    let n2 = app
        .post("/api/v1/needs")
        .auth(OFFICE, Some(HSO))
        .json(&for_ahus)
        .send()
        .await
        .assert_status(201)
        .json();
    assert_eq!(n2["reference"], "B-2022-002");
    assert_eq!(n2["organisation_number"], AHUS);

    // Get by id and by reference.
    let id = need["id"].as_str().unwrap_or("");
    let got = app
        .get(&format!("/api/v1/needs/{id}"))
        .auth(READ, None)
        .send()
        .await
        .assert_status(200)
        .json();
    assert_eq!(got, need);
    let by_ref = app
        .get("/api/v1/needs/by-reference/B-2022-001")
        .auth(READ, None)
        .send()
        .await
        .assert_status(200)
        .json();
    assert_eq!(by_ref, need);
    app.get("/api/v1/needs/by-reference/B-2022-17")
        .auth(READ, None)
        .send()
        .await
        .assert_problem(400);
    app.get("/api/v1/needs/by-reference/B-2022-099")
        .auth(READ, None)
        .send()
        .await
        .assert_problem(404);

    // Intake over: no more reports.
    advance(&app, 2022, "first_assessment").await;
    let p = app
        .post("/api/v1/needs")
        .auth(SUBMIT, Some(OUS))
        .json(&need_body(2022, "For sent"))
        .send()
        .await
        .assert_problem(409);
    assert!(
        p["detail"]
            .as_str()
            .unwrap_or("")
            .contains("'intake' phase"),
        "{p}"
    );
    assert_eq!(app.count("needs"), 2);
}

#[actix_web::test]
async fn fifty_concurrent_reports_get_fifty_consecutive_references() {
    let app = TestApp::new().await;
    open_cycle(&app, 2024).await;
    let orgs = [OUS, AHUS, INNLANDET];
    let requests = (0..50).map(|i| {
        app.post("/api/v1/needs")
            .auth(SUBMIT, Some(orgs[i % 3]))
            .json(&need_body(2024, &format!("Behov {i}")))
            .send()
    });
    let responses = futures_util::future::join_all(requests).await;
    let mut refs: Vec<String> = responses
        .iter()
        .map(|r| {
            r.assert_status(201);
            r.json()["reference"].as_str().unwrap_or("").to_owned()
        })
        .collect();
    refs.sort();
    let expected: Vec<String> = (1..=50).map(|i| format!("B-2024-{i:03}")).collect();
    assert_eq!(refs, expected);
    let c = app
        .get("/api/v1/cycles/2024")
        .auth(READ, None)
        .send()
        .await
        .json();
    assert_eq!(c["needs_reported"], 50);
}

#[actix_web::test]
async fn list_filters_and_pages() {
    let app = TestApp::new().await;
    open_cycle(&app, 2022).await;
    open_cycle(&app, 2023).await;
    let areas = app
        .get("/api/v1/service-areas?year=2023&limit=1")
        .auth(READ, None)
        .send()
        .await
        .json();
    let area = areas["items"][0]["id"].as_str().unwrap_or("").to_owned();
    for i in 0..5 {
        report(&app, OUS, &need_body(2022, &format!("Behov {i}"))).await;
    }
    let mut b = need_body(2023, "Kvalitetsregister 100% automatisk");
    b["origin"] = json!("users");
    b["service_area_id"] = json!(area);
    report(&app, AHUS, &b).await;
    let mut b = need_body(2023, "Noe annet");
    b["description"] = json!("Helt annen beskrivelse");
    b["expected_benefit"] = json!("Annen nytte");
    report(&app, OUS, &b).await;

    let app = &app;
    let list = |q: &str| {
        let url = format!("/api/v1/needs?{q}");
        async move {
            app.get(&url)
                .auth(READ, None)
                .send()
                .await
                .assert_status(200)
                .json()
        }
    };
    let refs = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|n| n["reference"].as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(refs(&list("year=2023").await), ["B-2023-001", "B-2023-002"]);
    assert_eq!(refs(&list("origin=users").await), ["B-2023-001"]);
    assert_eq!(
        refs(&list(&format!("organisation={AHUS}")).await),
        ["B-2023-001"]
    );
    assert_eq!(
        refs(&list(&format!("service_area={area}")).await),
        ["B-2023-001"]
    );
    assert_eq!(refs(&list("q=KVALITETSREG").await).len(), 6);
    assert_eq!(refs(&list("q=100%25").await), ["B-2023-001"]);
    assert_eq!(refs(&list("status=accepted").await).len(), 0);
    assert_eq!(refs(&list("status=submitted&year=2022").await).len(), 5);
    // Pages neither repeat nor skip.
    let mut seen = Vec::new();
    let mut url = "limit=3".to_owned();
    loop {
        let page = list(&url).await;
        seen.extend(refs(&page));
        match page["next_cursor"].as_str() {
            Some(c) => url = format!("limit=3&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7);
    assert_eq!(seen[0], "B-2022-001");
    assert_eq!(seen[6], "B-2023-002");
    // Bad filters.
    for q in [
        "status=bogus",
        "year=1",
        "cursor=nonsense",
        "limit=0",
        "origin=x",
    ] {
        app.get(&format!("/api/v1/needs?{q}"))
            .auth(READ, None)
            .send()
            .await
            .assert_problem(422);
    }
    app.get("/api/v1/needs")
        .auth(SCORE.replace("portfolio:read ", "").as_str(), Some(OUS))
        .send()
        .await
        .assert_problem(403);
}

#[actix_web::test]
async fn edit_and_withdraw_while_submitted() {
    let app = TestApp::new().await;
    open_cycle(&app, 2022).await;
    let need = report(&app, OUS, &need_body(2022, "Tidlig ultralyd")).await;
    let url = format!("/api/v1/needs/{}", need["id"].as_str().unwrap_or(""));
    // Another trust may not edit it.
    app.patch(&url)
        .auth(SUBMIT, Some(AHUS))
        .header("If-Match", "\"v1\"")
        .json(&json!({"title": "Kapret"}))
        .send()
        .await
        .assert_problem(403);
    app.patch(&url)
        .auth(SUBMIT, Some(OUS))
        .json(&json!({"title": "Uten If-Match"}))
        .send()
        .await
        .assert_problem(428);
    app.patch(&url)
        .auth(SUBMIT, Some(OUS))
        .header("If-Match", "\"v1\"")
        .json(&json!({"title": "x".repeat(201)}))
        .send()
        .await
        .assert_problem(422);
    let edited = app
        .patch(&url)
        .auth(SUBMIT, Some(OUS))
        .header("If-Match", "\"v1\"")
        .json(&json!({"title": "Tidlig ultralyd i svangerskapet", "contact_name": null}))
        .send()
        .await
        .assert_status(200)
        .json();
    assert_eq!(edited["title"], "Tidlig ultralyd i svangerskapet");
    assert_eq!(edited["contact_name"], Value::Null);
    assert_eq!(edited["contact_email"], "ola@example.org");
    assert_eq!(edited["version"], 2);
    // Stale.
    app.patch(&url)
        .auth(SUBMIT, Some(OUS))
        .header("If-Match", "\"v1\"")
        .json(&json!({"title": "Gammel"}))
        .send()
        .await
        .assert_problem(412);
    // Withdraw.
    app.post(&format!("{url}/withdraw"))
        .auth(SUBMIT, Some(AHUS))
        .header("If-Match", "\"v2\"")
        .json(&json!({}))
        .send()
        .await
        .assert_problem(403);
    let w = app
        .post(&format!("{url}/withdraw"))
        .auth(SUBMIT, Some(OUS))
        .header("If-Match", "\"v2\"")
        .json(&json!({"reason": "Dekkes nasjonalt"}))
        .send()
        .await
        .assert_status(200)
        .json();
    assert_eq!(w["status"], "withdrawn");
    assert_eq!(w["assessment"]["reason"], "Dekkes nasjonalt");
    app.post(&format!("{url}/withdraw"))
        .auth(SUBMIT, Some(OUS))
        .header("If-Match", "\"v3\"")
        .json(&json!({}))
        .send()
        .await
        .assert_problem(409);
    app.patch(&url)
        .auth(SUBMIT, Some(OUS))
        .header("If-Match", "\"v3\"")
        .json(&json!({"title": "Etter tilbaketrekking"}))
        .send()
        .await
        .assert_problem(409);
    let _ = SYKEHUSPARTNER;
}
