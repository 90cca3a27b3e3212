//! Screening criteria are pass/fail (issue 13, point 13): no weight, no scale; the first
//! assessment records pass or fail per screening criterion; accepting a need that fails one
//! needs a recorded override reason.

use serde_json::{json, Value};

use crate::support::fixtures::{
    adopt_criteria, advance, criteria_body, etag_of, get, id_of, need_body, open_cycle, report,
};
use crate::support::requests::pointers;
use crate::support::{TestApp, HSO, MANAGE, OUS, SUBMIT};

fn criteria_path(year: i32) -> String {
    format!("/api/v1/cycles/{year}/criteria-set")
}

#[actix_web::test]
async fn a_screening_criterion_has_no_weight_and_no_scale() {
    let app = TestApp::new().await;
    open_cycle(&app, 2022).await;
    let p = app
        .put(&criteria_path(2022))
        .auth(MANAGE, Some(HSO))
        .json(&json!({"criteria": [
            {"code": "STRATEGI", "name": "Strategisk forankring", "kind": "screening",
             "weight": 1.0, "scale_min": 0, "scale_max": 1},
            {"code": "NYTTE", "name": "Pasientnytte", "kind": "prioritisation", "scale_min": 1, "scale_max": 5}
        ]}))
        .refused(422)
        .await;
    let mut ps = pointers(&p);
    ps.sort();
    assert_eq!(
        ps,
        [
            "/criteria/0/scale_max",
            "/criteria/0/scale_min",
            "/criteria/0/weight",
            "/criteria/1/weight"
        ],
        "every problem at once: {p:?}"
    );
    assert_eq!(app.count("criteria_sets"), 0, "nothing written");

    adopt_criteria(&app, 2022, &criteria_body()).await;
    let set = get(&app, &criteria_path(2022)).await;
    let strategi = &set["criteria"][0];
    assert_eq!(strategi["kind"], "screening");
    for field in ["weight", "scale_min", "scale_max"] {
        assert!(strategi.get(field).is_none(), "{field} shown: {strategi}");
    }
    assert_eq!(
        set["criteria"][1]["weight"], 3.0,
        "prioritisation keeps its weight"
    );
}

/// A 2022 need in first assessment against the fixture set (STRATEGI screens it).
async fn need_in_first_assessment(app: &TestApp) -> Value {
    open_cycle(app, 2022).await;
    let need = report(app, OUS, &need_body(2022, "Strukturert journal for fødsel")).await;
    advance(app, 2022, "first_assessment").await;
    adopt_criteria(app, 2022, &criteria_body()).await;
    need
}

#[actix_web::test]
async fn accepting_a_need_that_fails_screening_needs_an_override_reason() {
    let app = TestApp::new().await;
    let need = need_in_first_assessment(&app).await;
    let url = format!("/api/v1/needs/{}/assessment", id_of(&need));
    let fail = json!([{"code": "STRATEGI", "result": "fail"}]);
    let pass = json!([{"code": "STRATEGI", "result": "pass"}]);
    for (body, pointer) in [
        // Fails screening and no reason to accept it anyway.
        (
            json!({"decision": "accepted", "screening": fail}),
            "/override_reason",
        ),
        // Nothing to override: every criterion passed, or the need is rejected.
        (
            json!({"decision": "accepted", "screening": pass, "override_reason": "Lovkrav"}),
            "/override_reason",
        ),
        (
            json!({"decision": "rejected", "reason": "Utenfor mandat", "screening": fail,
                   "override_reason": "Lovkrav"}),
            "/override_reason",
        ),
        // A result is pass or fail, and required.
        (
            json!({"decision": "accepted", "screening": [{"code": "STRATEGI"}]}),
            "/screening/0/result",
        ),
        (
            json!({"decision": "accepted", "screening": [{"code": "STRATEGI", "result": "maybe"}]}),
            "/screening/0/result",
        ),
    ] {
        let p = app
            .post(&url)
            .auth(MANAGE, Some(HSO))
            .header("If-Match", "\"v1\"")
            .json(&body)
            .refused(422)
            .await;
        assert_eq!(pointers(&p), [pointer], "{body}");
    }
    assert_eq!(
        get(&app, &format!("/api/v1/needs/{}", id_of(&need))).await,
        need,
        "nothing written"
    );

    // Only the portfolio office assesses.
    app.post(&url)
        .auth(SUBMIT, Some(OUS))
        .header("If-Match", "\"v1\"")
        .json(&json!({"decision": "accepted", "screening": fail, "override_reason": "Lovkrav"}))
        .refused(403)
        .await;

    let accepted: Value = app
        .post(&url)
        .auth(MANAGE, Some(HSO))
        .header("If-Match", "\"v1\"")
        .json(&json!({"decision": "accepted", "screening": fail,
                      "override_reason": "Nytt lovkrav; må utredes likevel"}))
        .returns(200)
        .await;
    assert_eq!(accepted["status"], "accepted");
    let a = &accepted["assessment"];
    assert_eq!(a["screening"], json!({"STRATEGI": "fail"}));
    assert_eq!(a["override_reason"], "Nytt lovkrav; må utredes likevel");

    // Reopening undoes the assessment, the override with it; the 0.1.0 form (`value`: 1 =
    // pass) is still understood.
    let reopened: Value = app
        .post(&format!("/api/v1/needs/{}/reopen", id_of(&need)))
        .auth(MANAGE, Some(HSO))
        .header("If-Match", &etag_of(&accepted))
        .json(&json!({"reason": "Ny vurdering"}))
        .returns(200)
        .await;
    assert!(reopened["assessment"].is_null(), "{reopened}");
    let again: Value = app
        .post(&url)
        .auth(MANAGE, Some(HSO))
        .header("If-Match", &etag_of(&reopened))
        .json(&json!({"decision": "accepted", "screening": [{"code": "STRATEGI", "value": 1}]}))
        .returns(200)
        .await;
    assert_eq!(
        again["assessment"]["screening"],
        json!({"STRATEGI": "pass"})
    );
    assert!(again["assessment"]["override_reason"].is_null());
}
