//! Interregional studies (issue 13, point 12): a study run by one region on behalf of the four,
//! and the correction of a study's interregional status with `If-Match`.

use serde_json::{json, Value};

use crate::support::fixtures::{
    accepted_needs, create_frame, decide_all, etag_of, get, id_of, start_item,
};
use crate::support::requests::{assert_needs_if_match, pointers};
use crate::support::{
    TestApp, DECIDE, HELSE_MIDT, HELSE_NORD, HELSE_VEST, HSO, MANAGE, OUS, READ, SUBMIT,
};

/// One regional study (not interregional) started by the board.
async fn regional_study(app: &TestApp) -> Value {
    let needs = accepted_needs(app, 2022, 1).await;
    let frame = create_frame(app, 2023, "concept_studies", 10_000_000).await;
    let case = decide_all(
        app,
        vec![start_item(
            &needs[0].0,
            &id_of(&frame),
            2_000_000,
            "Nasjonalt genomsenter",
        )],
    )
    .await;
    let study_id = case["items"][0]["created_id"].as_str().expect("a study");
    get(app, &format!("/api/v1/concept-studies/{study_id}")).await
}

#[actix_web::test]
async fn a_study_is_corrected_to_interregional_with_if_match() {
    let app = TestApp::new().await;
    let study = regional_study(&app).await;
    assert_eq!(study["interregional"], false);
    let path = format!("/api/v1/concept-studies/{}", id_of(&study));
    let four = json!([HSO, HELSE_VEST, HELSE_MIDT, HELSE_NORD]);
    let body = json!({"interregional": true, "on_behalf_of": four,
                      "reason": "Kjøres på vegne av de fire regionene"});

    // Without If-Match, with a stale one, or by a role that may not: nothing changes.
    assert_needs_if_match(|| app.patch(&path).auth(MANAGE, Some(HSO)).json(&body), 9).await;
    for (scopes, org) in [(READ, HSO), (SUBMIT, OUS), (DECIDE, HSO)] {
        app.patch(&path)
            .auth(scopes, Some(org))
            .header("If-Match", &etag_of(&study))
            .json(&body)
            .refused(403)
            .await;
    }
    assert_eq!(get(&app, &path).await, study, "nothing written");

    let corrected: Value = app
        .patch(&path)
        .auth(MANAGE, Some(HSO))
        .header("If-Match", &etag_of(&study))
        .json(&body)
        .returns(200)
        .await;
    assert_eq!(corrected["interregional"], true);
    assert_eq!(corrected["on_behalf_of"], four);
    assert_eq!(
        corrected["version"],
        study["version"].as_i64().expect("version") + 1
    );
    assert_eq!(
        corrected["allocated_nok"], study["allocated_nok"],
        "money untouched"
    );
    // Listed among the interregional studies; the change is in the feed.
    let page = get(&app, "/api/v1/concept-studies?interregional=true").await;
    assert_eq!(page["items"][0]["id"], study["id"]);
    let feed = get(&app, "/api/v1/events?entity_type=concept_study").await;
    assert!(
        feed["items"]
            .as_array()
            .expect("events")
            .iter()
            .any(|e| e["entity_id"] == study["id"] && e["action"] == "updated"),
        "{feed}"
    );

    // And back: no longer interregional clears the regions.
    let undone: Value = app
        .patch(&path)
        .auth(MANAGE, Some(HSO))
        .header("If-Match", &etag_of(&corrected))
        .json(&json!({"interregional": false, "reason": "Feilregistrert"}))
        .returns(200)
        .await;
    assert_eq!(undone["interregional"], false);
    assert_eq!(undone["on_behalf_of"], json!([]));
}

#[actix_web::test]
async fn an_interregional_correction_names_regional_authorities_once() {
    let app = TestApp::new().await;
    let study = regional_study(&app).await;
    let path = format!("/api/v1/concept-studies/{}", id_of(&study));
    for (body, expected) in [
        (
            json!({"interregional": true, "reason": "x"}),
            vec!["/on_behalf_of"],
        ),
        (
            json!({"interregional": true, "on_behalf_of": [HSO, OUS, HSO], "reason": "x"}),
            vec!["/on_behalf_of/1", "/on_behalf_of/2"],
        ),
        (
            json!({"interregional": false, "on_behalf_of": [HSO], "reason": "x"}),
            vec!["/on_behalf_of"],
        ),
        (
            json!({"on_behalf_of": [HSO], "reason": "x"}),
            vec!["/interregional"],
        ),
    ] {
        let p = app
            .patch(&path)
            .auth(MANAGE, Some(HSO))
            .header("If-Match", &etag_of(&study))
            .json(&body)
            .refused(422)
            .await;
        let mut ps = pointers(&p);
        ps.sort();
        assert_eq!(ps, expected, "{body}");
    }
    assert_eq!(get(&app, &path).await, study, "nothing written");
}

/// A study the board starts in addition to the cycle's needs, on behalf of the four regions.
fn additional_item(frame: &str, budget: i64) -> Value {
    json!({"kind": "start_additional_study", "frame_id": frame, "budget_nok": budget,
           "title": "Verktøystøtte for nye metoder",
           "purpose": "Felles verktøy for metodevurderinger i de fire regionene",
           "responsible_org": HSO, "interregional": true,
           "on_behalf_of": [HSO, HELSE_VEST, HELSE_MIDT, HELSE_NORD]})
}

#[actix_web::test]
async fn the_board_starts_a_study_in_addition_to_the_needs() {
    let app = TestApp::new().await;
    let frame = create_frame(&app, 2023, "interregional", 5_000_000).await;
    let case = decide_all(&app, vec![additional_item(&id_of(&frame), 2_000_000)]).await;
    assert_eq!(
        case["items"][0]["proposal"]["kind"],
        "start_additional_study"
    );
    let study_id = case["items"][0]["created_id"].as_str().expect("a study");
    let study = get(&app, &format!("/api/v1/concept-studies/{study_id}")).await;
    assert!(study["need"].is_null(), "no need: {study}");
    assert_eq!(
        study["purpose"],
        "Felles verktøy for metodevurderinger i de fire regionene"
    );
    assert_eq!(study["interregional"], true);
    assert_eq!(
        study["on_behalf_of"],
        json!([HSO, HELSE_VEST, HELSE_MIDT, HELSE_NORD])
    );
    assert_eq!(study["cycle_year"], 2022, "the cycle of the board meeting");
    assert_eq!(study["status"], "not_started");
    assert_eq!(study["allocated_nok"], 2_000_000);
    let f = get(&app, &format!("/api/v1/budget-frames/{}", id_of(&frame))).await;
    assert_eq!(f["allocated_nok"], 2_000_000, "funded from the frame");
    // Audited and in the feed like every study the board starts.
    let feed = get(&app, "/api/v1/events?entity_type=concept_study").await;
    assert!(
        feed["items"]
            .as_array()
            .expect("events")
            .iter()
            .any(|e| e["entity_id"] == study_id && e["action"] == "created"),
        "{feed}"
    );
}

#[actix_web::test]
async fn an_additional_study_keeps_within_the_frame_with_the_other_studies() {
    let app = TestApp::new().await;
    let needs = accepted_needs(&app, 2022, 1).await;
    let frame = create_frame(&app, 2023, "concept_studies", 3_000_000).await;
    let fid = id_of(&frame);
    let case = crate::support::fixtures::prepare(
        &app,
        vec![
            start_item(&needs[0].0, &fid, 2_000_000, "Regional studie"),
            additional_item(&fid, 1_000_001),
        ],
    )
    .await;
    let before = crate::support::snapshot(&app);
    let r = crate::support::fixtures::decide_with(
        &app,
        &case,
        vec![
            json!({"outcome": "approved"}),
            json!({"outcome": "approved"}),
        ],
    )
    .await;
    let p = r.problem(409);
    assert!(p.detail.contains("item 1"), "{p:?}");
    assert_eq!(
        crate::support::snapshot(&app),
        before,
        "nothing was changed"
    );
    // Amended to fit, the whole decision applies.
    let r = crate::support::fixtures::decide_with(
        &app,
        &case,
        vec![
            json!({"outcome": "approved"}),
            json!({"outcome": "amended", "amended_budget_nok": 1_000_000}),
        ],
    )
    .await;
    r.assert_status(200);
    let f = get(&app, &format!("/api/v1/budget-frames/{fid}")).await;
    assert_eq!(f["allocated_nok"], 3_000_000);
}

#[actix_web::test]
async fn an_additional_study_is_checked_and_proposed_by_the_office_only() {
    let app = TestApp::new().await;
    let frame = create_frame(&app, 2023, "interregional", 5_000_000).await;
    let fid = id_of(&frame);
    let mut no_purpose = additional_item(&fid, 1_000_000);
    no_purpose["purpose"] = json!("  ");
    let mut not_regions = additional_item(&fid, 1_000_000);
    not_regions["on_behalf_of"] = json!([HSO, OUS]);
    let mut regional = additional_item(&fid, 1_000_000);
    regional["interregional"] = json!(false);
    for (item, expected) in [
        (no_purpose, "/items/0/purpose"),
        (not_regions, "/items/0/on_behalf_of/1"),
        (regional, "/items/0/on_behalf_of"),
    ] {
        let p = app
            .post("/api/v1/decision-cases")
            .auth(MANAGE, Some(HSO))
            .json(&json!({"meeting_date": "2022-10-20", "title": "Sak", "background": "", "items": [item]}))
            .refused(422)
            .await;
        assert!(pointers(&p).contains(&expected), "{expected}: {p:?}");
    }
    let body = json!({"meeting_date": "2022-10-20", "title": "Sak", "background": "",
                      "items": [additional_item(&fid, 1_000_000)]});
    for (scopes, org) in [(SUBMIT, OUS), (DECIDE, HSO), (READ, HSO)] {
        app.post("/api/v1/decision-cases")
            .auth(scopes, Some(org))
            .json(&body)
            .refused(403)
            .await;
    }
    assert_eq!(app.count("decision_cases"), 0, "nothing written");
}
