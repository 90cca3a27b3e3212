//! Needs' capacity estimates and dependencies, and selection scenarios that respect them.

use serde_json::{json, Value};

use crate::support::score_on_one_criterion;
use crate::support::{with_costs, TestApp, HSO, MANAGE};

async fn set(app: &TestApp, need: &str, body: Value) -> crate::support::TestResponse {
    app.put(&format!("/api/v1/needs/{need}/dependencies"))
        .auth(MANAGE, Some(HSO))
        .header("If-Match", "\"v1\"")
        .json(&body)
        .send()
        .await
}

async fn solve(app: &TestApp, body: Value) -> Value {
    let r = app
        .post("/api/v1/cycles/2022/selection-scenarios")
        .auth(MANAGE, Some(HSO))
        .json(&body)
        .send()
        .await;
    r.assert_status(201);
    r.json()
}

fn selected(s: &Value) -> Vec<String> {
    s["result"]["selected"]
        .as_array()
        .expect("selected")
        .iter()
        .map(|v| v.as_str().expect("id").to_string())
        .collect()
}

#[actix_web::test]
async fn a_capacity_limit_is_respected_and_reported() {
    let app = TestApp::new().await;
    // Budget alone takes A + B (priority 180); capacity 10 allows only one of them with C.
    let n = with_costs(&app, 2022, &[1_000_000, 1_000_000, 1_000_000]);
    score_on_one_criterion(&app, 2022, &n, &[10, 8, 3]);
    let (a, b, c) = (&n[0].0, &n[1].0, &n[2].0);
    for (id, months) in [(a, 8), (b, 6), (c, 2)] {
        let r = set(
            &app,
            id,
            json!({"estimated_capacity_person_months": months, "dependencies": []}),
        )
        .await;
        r.assert_status(200);
        assert_eq!(r.json()["estimated_capacity_person_months"], months);
        assert_eq!(r.etag(), "\"v2\"");
    }
    let s = solve(
        &app,
        json!({"title": "Kapasitet", "budget_nok": 3_000_000, "capacity_person_months": 10}),
    )
    .await;
    assert_eq!(s["capacity_person_months"], 10);
    let res = &s["result"];
    assert_eq!(selected(&s), vec![a.clone(), c.clone()], "{res}");
    assert_eq!(res["total_load"], 10);
    assert_eq!(res["proven_optimal"], true);
    assert_eq!(res["gap"], 0.0);
    // Without the limit, all three fit.
    let s = solve(&app, json!({"title": "Uten", "budget_nok": 3_000_000})).await;
    assert_eq!(selected(&s).len(), 3);
    assert_eq!(s["result"]["total_load"], 16);
}

#[actix_web::test]
async fn requires_pulls_in_or_drops_and_excludes_never_both() {
    let app = TestApp::new().await;
    let n = with_costs(&app, 2022, &[2_000_000, 2_000_000, 2_000_000, 2_000_000]);
    score_on_one_criterion(&app, 2022, &n, &[10, 1, 9, 8]);
    let (a, b, c, d) = (&n[0].0, &n[1].0, &n[2].0, &n[3].0);
    // A requires the low-priority B; C and D exclude each other.
    set(
        &app,
        a,
        json!({"estimated_capacity_person_months": null, "dependencies": [{"kind": "requires", "other_need_id": b}]}),
    )
    .await
    .assert_status(200);
    set(
        &app,
        c,
        json!({"dependencies": [{"kind": "excludes", "other_need_id": d}]}),
    )
    .await
    .assert_status(200);
    // Budget for two: A alone is not possible without B; best is C (or D) + A needs B → C + D
    // would be 170 but excluded, so A + B (110) vs C + ... → C alone 90 + B 10 = 100; A + B wins.
    let s = solve(&app, json!({"title": "To", "budget_nok": 4_000_000})).await;
    let sel = selected(&s);
    assert_eq!(sel, vec![a.clone(), b.clone()], "{s}");
    assert_eq!(s["dependencies"].as_array().map(Vec::len), Some(2), "{s}");
    // Budget for three: A + B + C (200); never C and D together.
    let s = solve(&app, json!({"title": "Tre", "budget_nok": 6_000_000})).await;
    let sel = selected(&s);
    assert_eq!(sel, vec![a.clone(), b.clone(), c.clone()], "{s}");
    // Budget for one: A cannot come without B, so C is chosen.
    let s = solve(&app, json!({"title": "En", "budget_nok": 2_000_000})).await;
    assert_eq!(selected(&s), vec![c.clone()], "{s}");
    // Forcing B out drops A.
    let s = solve(
        &app,
        json!({"title": "Uten B", "budget_nok": 8_000_000, "forced_out": [{"need_id": b, "reason": "Ikke aktuelt"}]}),
    )
    .await;
    let sel = selected(&s);
    assert!(!sel.contains(a) && !sel.contains(b), "{s}");
    assert!(sel.contains(c) != sel.contains(d), "{s}");
}

#[actix_web::test]
async fn a_need_requiring_a_non_candidate_is_not_a_candidate() {
    let app = TestApp::new().await;
    let n = with_costs(&app, 2022, &[1_000_000, 0]);
    score_on_one_criterion(&app, 2022, &n, &[10, 5]);
    let (a, b) = (&n[0].0, &n[1].0);
    set(
        &app,
        a,
        json!({"dependencies": [{"kind": "requires", "other_need_id": b}]}),
    )
    .await
    .assert_status(200);
    let s = solve(&app, json!({"title": "Kjede", "budget_nok": 5_000_000})).await;
    assert!(selected(&s).is_empty(), "{s}");
    let why: Vec<&str> = s["not_candidates"]
        .as_array()
        .expect("not_candidates")
        .iter()
        .filter(|v| v["need_id"] == *a)
        .map(|v| v["why"].as_str().expect("why"))
        .collect();
    assert_eq!(why.len(), 1, "{s}");
    assert!(why[0].starts_with("requires B-2022-"), "{s}");
}

#[actix_web::test]
async fn bad_dependencies_are_refused_all_at_once_and_nothing_changes() {
    let app = TestApp::new().await;
    let n = with_costs(&app, 2022, &[1_000_000]);
    let other_year = with_costs(&app, 2023, &[1_000_000]);
    let a = &n[0].0;
    let missing = "00000000-0000-4000-8000-00000000dead";
    let r = set(
        &app,
        a,
        json!({"estimated_capacity_person_months": 3, "dependencies": [
            {"kind": "requires", "other_need_id": a},
            {"kind": "excludes", "other_need_id": other_year[0].0},
            {"kind": "requires", "other_need_id": missing}
        ]}),
    )
    .await;
    let p = r.assert_problem(422);
    let pointers: Vec<&str> = p["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["pointer"].as_str().expect("pointer"))
        .collect();
    assert_eq!(
        pointers,
        vec![
            "/dependencies/0/other_need_id",
            "/dependencies/1/other_need_id",
            "/dependencies/2/other_need_id"
        ],
        "{p}"
    );
    // Nothing was written: the need is still at version 1 without dependencies.
    let r = app
        .get(&format!("/api/v1/needs/{a}/dependencies"))
        .auth(MANAGE, Some(HSO))
        .send()
        .await;
    r.assert_status(200);
    let body = r.json();
    assert_eq!(body["version"], 1);
    assert_eq!(body["estimated_capacity_person_months"], Value::Null);
    assert_eq!(body["dependencies"], json!([]));
    // A negative capacity is a 422 too, and a stale If-Match a 412.
    set(&app, a, json!({"estimated_capacity_person_months": -1}))
        .await
        .assert_problem(422);
    set(&app, a, json!({"estimated_capacity_person_months": 1}))
        .await
        .assert_status(200);
    set(&app, a, json!({"estimated_capacity_person_months": 2}))
        .await
        .assert_problem(412);
}
