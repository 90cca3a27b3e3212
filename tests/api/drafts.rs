//! Drafts stay with those who prepare or decide them: a reader (`portfolio:read` only) finds
//! no draft decision case or draft criteria set, in lists or by id; the office and the board do.

use serde_json::json;

use crate::decisions::{accepted_needs, prepare, DECIDE, MANAGE, READ};
use crate::needs_cycle::{criteria_body, open_cycle};
use crate::support::{TestApp, HSO, OUS};

#[actix_web::test]
async fn readers_see_no_draft_cases_or_criteria_sets_the_office_and_board_do() {
    let app = TestApp::new().await;
    let needs = accepted_needs(&app, 2022, 1).await;
    let case = prepare(
        &app,
        vec![json!({"kind": "defer_need", "need_id": needs[0].0})],
    )
    .await;
    assert_eq!(case["status"], "draft");
    let case_path = format!(
        "/api/v1/decision-cases/{}",
        case["id"].as_str().expect("id")
    );

    open_cycle(&app, 2031).await;
    app.put("/api/v1/cycles/2031/criteria-set")
        .auth(MANAGE, Some(HSO))
        .json(&criteria_body())
        .send()
        .await
        .assert_status(201);
    let set_path = "/api/v1/cycles/2031/criteria-set";

    // The grid: who sees drafts.
    for (scopes, org, sees) in [
        (READ, Some(OUS), false),
        (READ, None, false),
        ("portfolio:read portfolio:submit", Some(OUS), false),
        ("portfolio:read portfolio:score", Some(OUS), false),
        (MANAGE, Some(HSO), true),
        (DECIDE, Some(HSO), true),
    ] {
        let who = format!("{scopes} / {org:?}");
        let r = app.get(&case_path).auth(scopes, org).send().await;
        if sees {
            r.assert_status(200);
            assert_eq!(r.json()["title"], case["title"], "{who}");
        } else {
            r.assert_problem(404);
            assert!(!r.text().contains("Porteføljestyremøte"), "{who}");
        }
        for list in [
            "/api/v1/decision-cases",
            "/api/v1/decision-cases?status=draft",
            "/api/v1/decision-cases?year=2022",
        ] {
            let r = app.get(list).auth(scopes, org).send().await;
            r.assert_status(200);
            let ids: Vec<_> = r.json()["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|c| c["id"].clone())
                .collect();
            assert_eq!(ids.contains(&case["id"]), sees, "{who}: {list}");
        }
        let r = app.get(set_path).auth(scopes, org).send().await;
        if sees {
            r.assert_status(200);
            assert_eq!(r.json()["status"], "draft", "{who}");
        } else {
            r.assert_problem(404);
            assert!(!r.text().contains("STRATEGI"), "{who}");
        }
    }
    // Once adopted, the set is every reader's.
    app.post("/api/v1/cycles/2031/criteria-set/adopt")
        .auth(MANAGE, Some(HSO))
        .header("If-Match", "\"v1\"")
        .send()
        .await
        .assert_status(200);
    let r = app.get(set_path).auth(READ, Some(OUS)).send().await;
    r.assert_status(200);
    assert_eq!(r.json()["status"], "adopted");
}
