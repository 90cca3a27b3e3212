//! One representative response per resource, pinned with insta (`tests/api/snapshots/`), so
//! a change to what clients receive shows up as a reviewed diff. Ids, times and hashes are
//! redacted (`support/snapshots.rs`). Each response is read into the API's own type first.

use portfolio_api::error::Problem;
use portfolio_api::routes::budget_frames::Frame;
use portfolio_api::routes::changelog::{AuditPage, EventPage};
use portfolio_api::routes::concept_studies::{Concept, Study};
use portfolio_api::routes::cycles::{CriteriaSet, Cycle};
use portfolio_api::routes::decision_cases::Case;
use portfolio_api::routes::delivery::DeliveryBatch;
use portfolio_api::routes::measures::Measure;
use portfolio_api::routes::prioritisation::{RankingResponse, ScoreSheet};
use portfolio_api::routes::tertial_reports::TertialReport;
use serde_json::json;

use crate::support::snapshots::pin;
use crate::support::{
    accepted_need, accepted_needs, advance, area, budget_frame, create_measure, decide_all, item,
    start_item, study_to, TestApp, AHUS, HSO, MANAGE, OUS, READ, SCORE, SYKEHUSPARTNER, SYNC,
};

#[actix_web::test]
async fn snapshot_of_a_cycle_its_criteria_a_need_a_score_sheet_and_the_ranking() {
    let app = TestApp::new().await;
    let need = accepted_need(&app, 2023, AHUS).await;
    pin("need", &need);
    advance(&app, 2023, "prioritisation").await;
    let sheet: ScoreSheet = app
        .put(&format!("/api/v1/needs/{}/scores/{OUS}", need.id))
        .auth(SCORE, Some(OUS))
        .json(&json!({"scores": [{"code": "NYTTE", "value": 4}, {"code": "GEVINST", "value": 7}]}))
        .returns(201)
        .await;
    pin("score_sheet", &sheet);
    let cycle: Cycle = app
        .get("/api/v1/cycles/2023")
        .auth(READ, None)
        .returns(200)
        .await;
    pin("cycle", &cycle);
    let criteria: CriteriaSet = app
        .get("/api/v1/cycles/2023/criteria-set")
        .auth(READ, None)
        .returns(200)
        .await;
    pin("criteria_set", &criteria);
    let ranking: RankingResponse = app
        .get("/api/v1/cycles/2023/ranking")
        .auth(READ, None)
        .returns(200)
        .await;
    pin("ranking", &ranking);
}

#[actix_web::test]
async fn snapshot_of_a_frame_a_decided_case_a_study_and_a_concept() {
    let app = TestApp::new().await;
    let frame = budget_frame(&app, 2023, 10_000_000).await;
    let fid = frame.id.to_string();
    let needs = accepted_needs(&app, 2022, 1).await;
    let case = decide_all(
        &app,
        vec![start_item(&needs[0].0, &fid, 1_000_000, "Tidlig ultralyd")],
    )
    .await;
    let study_id = case["items"][0]["created_id"].as_str().expect("study id");
    study_to(&app, study_id, "in_progress")
        .await
        .assert_status(200);
    study_to(&app, study_id, "completed")
        .await
        .assert_status(200);
    let case: Case = serde_json::from_value(decide_all(
        &app,
        vec![json!({"kind": "record_concept", "study_id": study_id, "title": "Tidlig ultralyd", "description": "Konsept"})],
    )
    .await)
    .expect("a Case");
    pin("decision_case", &case);
    let study: Study = app
        .get(&format!("/api/v1/concept-studies/{study_id}"))
        .auth(READ, None)
        .returns(200)
        .await;
    pin("concept_study", &study);
    let concept_id = case.items[0].created_id.expect("concept id");
    let concept: Concept = app
        .get(&format!("/api/v1/concepts/{concept_id}"))
        .auth(READ, None)
        .returns(200)
        .await;
    pin("concept", &concept);
    let frame: Frame = app
        .get(&format!("/api/v1/budget-frames/{fid}"))
        .auth(READ, None)
        .returns(200)
        .await;
    pin("budget_frame", &frame);
}

#[actix_web::test]
async fn snapshot_of_a_measure_a_delivery_batch_and_a_tertial_report() {
    let app = TestApp::new().await;
    let mor = area(&app, "Mor og barn");
    let m = create_measure(&app, &mor, "SP-1").await;
    let batch: DeliveryBatch = app
        .post("/api/v1/delivery-status/batches")
        .auth(SYNC, Some(SYKEHUSPARTNER))
        .json(&json!({"items": [item("SP-1", 40, "yellow", "2023-03-01T08:00:00Z")]}))
        .returns(201)
        .await;
    pin("delivery_batch", &batch);
    let measure: Measure = app
        .get(&format!(
            "/api/v1/measures/{}",
            m["id"].as_str().expect("id")
        ))
        .auth(READ, None)
        .returns(200)
        .await;
    pin("measure", &measure);
    let report: TertialReport = app
        .post("/api/v1/tertial-reports")
        .auth(MANAGE, Some(HSO))
        .json(&json!({"year": 2023, "tertial": 1}))
        .returns(201)
        .await;
    pin("tertial_report", &report);
}

#[actix_web::test]
async fn snapshot_of_an_event_an_audit_entry_and_a_problem() {
    let app = TestApp::new().await;
    app.post("/api/v1/service-areas")
        .auth(MANAGE, Some(HSO))
        .json(&json!({"year": 2032, "name": "Laboratorium", "kind": "administrative"}))
        .send()
        .await
        .assert_status(201);
    let events: EventPage = app
        .get("/api/v1/events?limit=1")
        .auth(READ, None)
        .returns(200)
        .await;
    pin("event", &events.items[0]);
    let audit: AuditPage = app
        .get("/api/v1/audit?limit=1")
        .auth(MANAGE, Some(HSO))
        .returns(200)
        .await;
    pin("audit_entry", &audit.items[0]);
    let problem: Problem = app
        .post("/api/v1/service-areas")
        .auth(MANAGE, Some(HSO))
        .json(&json!({"year": 1800, "name": "", "kind": "clinical"}))
        .send()
        .await
        .problem(422);
    pin("problem", &problem);
}
