//! Board decisions applied all-or-nothing, the concept studies and concepts they create,
//! and every status change of a study or concept over HTTP.

use diesel::RunQueryDsl;
use serde_json::json;

// `pub`: test files written before `support/` held these import them from here.
#[allow(unused_imports)]
pub use crate::support::{
    accepted_needs, decide_all, decide_with, get, interregional_item, prepare, snapshot,
    start_item, study_to, DECIDE, HELSE_MIDT, HELSE_NORD, HELSE_VEST, MANAGE, READ,
};
use portfolio_api::routes::budget_frames::Frame;
use portfolio_api::routes::concept_studies::Study;

use crate::support::{create_frame, pointers, read, wire, TestApp, HSO, OUS};

#[actix_web::test]
async fn a_decision_starts_studies_allocates_and_is_then_immutable() {
    let app = TestApp::new().await;
    let frame = create_frame(&app, 2023, "concept_studies", 10_000_000).await;
    let fid = frame["id"].as_str().expect("id");
    let needs = accepted_needs(&app, 2022, 4).await;
    let case = prepare(
        &app,
        vec![
            start_item(&needs[0].0, fid, 4_000_000, "Tidlig ultralyd"),
            interregional_item(&needs[1].0, fid, 3_000_000, "Nasjonalt genomsenter"),
            json!({"kind": "defer_need", "need_id": needs[2].0}),
            json!({"kind": "decline_need", "need_id": needs[3].0}),
        ],
    )
    .await;
    assert_eq!(case["status"], "draft");
    assert_eq!(case["items"].as_array().map(Vec::len), Some(4));
    // Nothing is applied by preparing.
    assert_eq!(app.count("concept_studies"), 0);

    // Only the board decides.
    let body = json!({"rationale": "r", "minutes_reference": "m", "outcomes": [{"outcome": "approved"}, {"outcome": "approved"}, {"outcome": "approved"}, {"outcome": "approved"}]});
    let path = format!(
        "/api/v1/decision-cases/{}",
        case["id"].as_str().expect("id")
    );
    app.post(&format!("{path}/decide"))
        .auth(MANAGE, Some(HSO))
        .header("If-Match", "\"v1\"")
        .json(&body)
        .send()
        .await
        .assert_problem(403);
    app.post(&format!("{path}/decide"))
        .auth(DECIDE, Some(HSO))
        .json(&body)
        .send()
        .await
        .assert_problem(428);
    // One outcome per item.
    let p = decide_with(&app, &case, vec![json!({"outcome": "approved"})])
        .await
        .assert_problem(422);
    assert_eq!(p["errors"][0]["pointer"], "/outcomes");
    // An amended budget only on an amended study start.
    let p = decide_with(
        &app,
        &case,
        vec![
            json!({"outcome": "amended"}),
            json!({"outcome": "approved"}),
            json!({"outcome": "approved", "amended_budget_nok": 5}),
            json!({"outcome": "approved"}),
        ],
    )
    .await
    .problem(422);
    assert_eq!(
        pointers(&p),
        [
            "/outcomes/0/amended_budget_nok",
            "/outcomes/2/amended_budget_nok"
        ]
    );
    assert_eq!(app.count("concept_studies"), 0);

    let r = decide_with(
        &app,
        &case,
        vec![
            json!({"outcome": "amended", "amended_budget_nok": 3_500_000, "note": "Redusert"}),
            json!({"outcome": "approved"}),
            json!({"outcome": "approved"}),
            json!({"outcome": "rejected", "note": "Behandles på nytt"}),
        ],
    )
    .await;
    r.assert_status(200);
    assert_eq!(r.header("etag").as_deref(), Some("\"v2\""));
    let decided = r.json();
    assert_eq!(decided["status"], "decided");
    assert_eq!(decided["minutes_reference"], "PS-sak 42/2022");
    assert_eq!(decided["items"][0]["outcome"], "amended");
    assert_eq!(decided["items"][0]["amended_budget_nok"], 3_500_000);
    assert_eq!(decided["items"][3]["outcome"], "rejected");
    let s0 = decided["items"][0]["created_id"]
        .as_str()
        .expect("study created")
        .to_owned();
    let s1 = decided["items"][1]["created_id"]
        .as_str()
        .expect("study created")
        .to_owned();
    assert!(decided["items"][2]["created_id"].is_null());

    let study = get(&app, &format!("/api/v1/concept-studies/{s0}")).await;
    assert_eq!(study["status"], "not_started");
    assert_eq!(study["allocated_nok"], 3_500_000);
    assert_eq!(study["spent_nok"], 0);
    assert_eq!(study["need"]["id"], needs[0].0.as_str());
    assert_eq!(study["need"]["reference"], needs[0].1.as_str());
    assert_eq!(study["need"]["status"], "study_started");
    assert_eq!(study["cycle_year"], 2022);
    assert_eq!(
        study["expected_completion"]["label"],
        "sensommer/tidlig høst 2023"
    );
    assert_eq!(study["expected_completion"]["from"], "2023-08-15");
    assert_eq!(study["interregional"], false);
    let inter = get(&app, &format!("/api/v1/concept-studies/{s1}")).await;
    assert_eq!(inter["interregional"], true);
    assert_eq!(inter["on_behalf_of"].as_array().map(Vec::len), Some(4));

    let f = get(&app, &format!("/api/v1/budget-frames/{fid}")).await;
    assert_eq!(f["allocated_nok"], 6_500_000);
    assert_eq!(f["remaining_nok"], 3_500_000);
    let allocations = get(&app, &format!("/api/v1/budget-frames/{fid}/allocations")).await;
    assert!(allocations["items"]
        .as_array()
        .expect("items")
        .iter()
        .all(|a| a["kind"] == "study"));

    // The need statuses changed with it (the rejected item left its need alone).
    let statuses: Vec<String> = {
        #[derive(diesel::QueryableByName)]
        struct S {
            #[diesel(sql_type = diesel::sql_types::Text)]
            status: String,
        }
        let ids: Vec<String> = needs.iter().map(|n| n.0.clone()).collect();
        diesel::sql_query(format!(
            "SELECT status FROM needs WHERE id::text IN ('{}') ORDER BY array_position(ARRAY['{}'], id::text)",
            ids.join("','"),
            ids.join("','")
        ))
        .load::<S>(&mut app.conn())
        .expect("needs")
        .into_iter()
        .map(|s| s.status)
        .collect()
    };
    assert_eq!(
        statuses,
        ["study_started", "study_started", "deferred", "accepted"]
    );

    // Filters.
    let l = get(&app, "/api/v1/concept-studies?year=2022&interregional=true").await;
    assert_eq!(l["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(l["items"][0]["title"], "Nasjonalt genomsenter");
    let l = get(
        &app,
        &format!("/api/v1/concept-studies?need_id={}", needs[0].0),
    )
    .await;
    assert_eq!(l["items"][0]["id"], s0.as_str());
    let l = get(&app, "/api/v1/concept-studies?status=not_started&limit=1").await;
    assert_eq!(l["items"].as_array().map(Vec::len), Some(1));
    let more = get(
        &app,
        &format!(
            "/api/v1/concept-studies?status=not_started&limit=1&cursor={}",
            l["next_cursor"].as_str().expect("cursor")
        ),
    )
    .await;
    assert_ne!(more["items"][0]["id"], l["items"][0]["id"]);
    assert!(
        get(&app, "/api/v1/concept-studies?year=2023").await["items"]
            .as_array()
            .expect("items")
            .is_empty()
    );
    app.get("/api/v1/concept-studies?status=bogus")
        .auth(READ, None)
        .send()
        .await
        .assert_problem(422);

    // Decided is final: no second decision, no revision.
    decide_with(&app, &decided, vec![json!({"outcome": "approved"}); 4])
        .await
        .problem_saying(409, "immutable");
    app.put(&path)
        .auth(MANAGE, Some(HSO))
        .header("If-Match", "\"v2\"")
        .json(&json!({"meeting_date": "2022-10-20", "title": "Ny", "items": [{"kind": "defer_need", "need_id": needs[3].0}]}))
        .send()
        .await
        .assert_problem(409);
    let listed = get(&app, "/api/v1/decision-cases?status=decided&year=2022").await;
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1));
}

#[actix_web::test]
async fn a_decision_that_exceeds_the_frame_changes_nothing_and_names_the_item() {
    let app = TestApp::new().await;
    let frame = create_frame(&app, 2023, "concept_studies", 5_000_000).await;
    let fid = frame["id"].as_str().expect("id");
    let needs = accepted_needs(&app, 2022, 4).await;
    let case = prepare(
        &app,
        vec![
            json!({"kind": "defer_need", "need_id": needs[3].0}),
            start_item(&needs[0].0, fid, 2_000_000, "A"),
            start_item(&needs[1].0, fid, 2_000_000, "B"),
            start_item(&needs[2].0, fid, 1_000_001, "C"),
        ],
    )
    .await;
    let before = snapshot(&app);
    let p = decide_with(&app, &case, vec![json!({"outcome": "approved"}); 4])
        .await
        .problem(409);
    let detail = &p.detail;
    assert!(
        detail.starts_with("item 3 (start_study for need"),
        "{detail}"
    );
    assert!(
        detail.contains("requested 1000001 NOK but only 1000000 NOK remain"),
        "{detail}"
    );
    assert!(detail.contains("concept_studies 2023"), "{detail}");
    assert_eq!(snapshot(&app), before, "a failed decision changes nothing");

    // Amending the budget down makes it fit.
    let r = decide_with(
        &app,
        &case,
        vec![
            json!({"outcome": "approved"}),
            json!({"outcome": "approved"}),
            json!({"outcome": "approved"}),
            json!({"outcome": "amended", "amended_budget_nok": 1_000_000}),
        ],
    )
    .await;
    r.assert_status(200);
    let f = get(&app, &format!("/api/v1/budget-frames/{fid}")).await;
    assert_eq!(
        (&f["allocated_nok"], &f["remaining_nok"]),
        (&json!(5_000_000), &json!(0))
    );

    // A later case over the same (now full) frame, or the same needs, fails as a whole.
    let others = accepted_needs(&app, 2022, 1).await;
    let case2 = prepare(
        &app,
        vec![
            json!({"kind": "decline_need", "need_id": others[0].0}),
            json!({"kind": "defer_need", "need_id": needs[0].0}),
        ],
    )
    .await;
    let before = snapshot(&app);
    let p = decide_with(&app, &case2, vec![json!({"outcome": "approved"}); 2])
        .await
        .problem(409);
    let detail = &p.detail;
    assert!(detail.starts_with("item 1 (defer_need"), "{detail}");
    assert!(detail.contains("'study_started' to 'deferred'"), "{detail}");
    assert_eq!(snapshot(&app), before);
}

#[actix_web::test]
async fn preparing_checks_scopes_and_references_and_writes_nothing_when_refused() {
    let app = TestApp::new().await;
    let frame = create_frame(&app, 2023, "concept_studies", 5_000_000).await;
    let improvement = create_frame(&app, 2023, "improvement", 5_000_000).await;
    let fid = frame["id"].as_str().expect("id");
    let needs = accepted_needs(&app, 2022, 1).await;
    let n = needs[0].0.as_str();
    let before = snapshot(&app);
    let good = json!({"meeting_date": "2022-10-20", "title": "Sak", "items": [start_item(n, fid, 1, "T")]});
    for scopes in [READ, DECIDE, "portfolio:submit portfolio:score"] {
        app.post("/api/v1/decision-cases")
            .auth(scopes, Some(OUS))
            .json(&good)
            .send()
            .await
            .assert_problem(403);
    }
    let nobody = "00000000-0000-0000-0000-000000000001";
    for (item, pointer) in [
        (start_item(nobody, fid, 1, "T"), "/items/0/need_id"),
        (start_item(n, nobody, 1, "T"), "/items/0/frame_id"),
        (
            start_item(n, improvement["id"].as_str().expect("id"), 1, "T"),
            "/items/0/frame_id",
        ),
        (start_item(n, fid, 0, "T"), "/items/0/budget_nok"),
        (start_item(n, fid, 1, " "), "/items/0/title"),
        (
            json!({"kind": "start_study", "need_id": n, "frame_id": fid, "budget_nok": 1, "title": "T", "responsible_org": "123456789"}),
            "/items/0/responsible_org",
        ),
        (
            json!({"kind": "start_study", "need_id": n, "frame_id": fid, "budget_nok": 1, "title": "T", "responsible_org": OUS, "interregional": true, "on_behalf_of": [HSO]}),
            "/items/0/responsible_org",
        ),
        (
            json!({"kind": "start_study", "need_id": n, "frame_id": fid, "budget_nok": 1, "title": "T", "responsible_org": HSO, "interregional": true, "on_behalf_of": [OUS]}),
            "/items/0/on_behalf_of/0",
        ),
        (
            json!({"kind": "start_study", "need_id": n, "frame_id": fid, "budget_nok": 1, "title": "T", "responsible_org": HSO, "interregional": true}),
            "/items/0/on_behalf_of",
        ),
        (
            json!({"kind": "start_study", "need_id": n, "frame_id": fid, "budget_nok": 1, "title": "T", "responsible_org": HSO, "on_behalf_of": [HSO]}),
            "/items/0/on_behalf_of",
        ),
        (
            json!({"kind": "start_study", "need_id": n, "frame_id": fid, "budget_nok": 1, "title": "T", "responsible_org": HSO, "expected_completion": {"from": "2023-10-15", "to": "2023-08-15"}}),
            "/items/0/expected_completion/to",
        ),
        (
            json!({"kind": "pause_study", "study_id": nobody}),
            "/items/0/study_id",
        ),
        (
            json!({"kind": "change_concept_status", "concept_id": nobody, "to": "paused"}),
            "/items/0/concept_id",
        ),
        (
            json!({"kind": "change_concept_status", "concept_id": nobody, "to": "sleeping"}),
            "/items/0",
        ),
        (json!({"kind": "fire_everyone"}), "/items/0"),
    ] {
        let p = app
            .post("/api/v1/decision-cases")
            .auth(MANAGE, Some(HSO))
            .json(&json!({"meeting_date": "2022-10-20", "title": "Sak", "items": [item]}))
            .send()
            .await
            .problem(422);
        assert!(
            pointers(&p).iter().any(|e| e.starts_with(pointer)),
            "{item} → {p:?}"
        );
    }
    for body in [
        json!({"meeting_date": "2022-13-01", "title": "Sak", "items": [start_item(n, fid, 1, "T")]}),
        json!({"meeting_date": "2022-10-20", "title": "", "items": [start_item(n, fid, 1, "T")]}),
        json!({"meeting_date": "2022-10-20", "title": "Sak", "items": []}),
        json!({"meeting_date": "2022-10-20", "title": "Sak", "items": [start_item(n, fid, 1, "T")], "scenario_id": nobody}),
    ] {
        app.post("/api/v1/decision-cases")
            .auth(MANAGE, Some(HSO))
            .json(&body)
            .send()
            .await
            .assert_problem(422);
    }
    assert_eq!(snapshot(&app), before, "refused requests write nothing");

    // A draft can be revised (If-Match), then decided.
    let case = prepare(&app, vec![start_item(n, fid, 1, "T")]).await;
    let path = format!(
        "/api/v1/decision-cases/{}",
        case["id"].as_str().expect("id")
    );
    let revised = json!({"meeting_date": "2022-10-27", "title": "Revidert", "items": [json!({"kind": "defer_need", "need_id": n})]});
    app.put(&path)
        .auth(MANAGE, Some(HSO))
        .json(&revised)
        .send()
        .await
        .assert_problem(428);
    let r = app
        .put(&path)
        .auth(MANAGE, Some(HSO))
        .header("If-Match", "\"v1\"")
        .json(&revised)
        .send()
        .await;
    r.assert_status(200);
    let c = r.json();
    assert_eq!(c["title"], "Revidert");
    assert_eq!(c["items"][0]["proposal"]["kind"], "defer_need");
    assert_eq!(c["version"], 2);
    app.get(&format!("/api/v1/decision-cases/{nobody}"))
        .auth(READ, None)
        .send()
        .await
        .assert_problem(404);
}

#[actix_web::test]
async fn study_and_concept_transitions_over_http() {
    let app = TestApp::new().await;
    let frame = create_frame(&app, 2023, "concept_studies", 10_000_000).await;
    let fid = frame["id"].as_str().expect("id");
    let needs = accepted_needs(&app, 2022, 5).await;
    let case = decide_all(
        &app,
        (0..5)
            .map(|i| start_item(&needs[i].0, fid, 1_000_000, &format!("Studie {i}")))
            .collect(),
    )
    .await;
    let s: Vec<String> = (0..5)
        .map(|i| {
            case["items"][i]["created_id"]
                .as_str()
                .expect("study")
                .to_owned()
        })
        .collect();

    // The portfolio office starts and completes; everything else it may not do.
    study_to(&app, &s[0], "completed")
        .await
        .problem_saying(409, "'not_started' to 'completed'");
    study_to(&app, &s[0], "paused")
        .await
        .problem_saying(409, "board decision");
    study_to(&app, &s[0], "not_started")
        .await
        .assert_problem(409);
    study_to(&app, &s[0], "in_progress")
        .await
        .assert_status(200);
    study_to(&app, &s[0], "in_progress")
        .await
        .assert_problem(409);
    study_to(&app, &s[0], "cancelled").await.assert_problem(409);
    study_to(&app, &s[0], "completed").await.assert_status(200);
    for to in ["in_progress", "paused", "cancelled", "not_started"] {
        study_to(&app, &s[0], to).await.assert_problem(409);
    }
    study_to(&app, &s[1], "in_progress")
        .await
        .assert_status(200);
    study_to(&app, &s[2], "in_progress")
        .await
        .assert_status(200);
    // Report spent on s[2] before it is cancelled: spent stays, the rest goes back.
    let st = get(&app, &format!("/api/v1/concept-studies/{}", s[2])).await;
    let spath = format!("/api/v1/concept-studies/{}", s[2]);
    app.patch(&spath)
        .auth(MANAGE, Some(HSO))
        .header("If-Match", &format!("\"v{}\"", st["version"]))
        .json(&json!({"spent_to_date_nok": 1_000_001, "reason": "Faktura"}))
        .send()
        .await
        .problem_saying(409, "exceed");
    app.patch(&spath)
        .auth(READ, Some(HSO))
        .header("If-Match", &format!("\"v{}\"", st["version"]))
        .json(&json!({"spent_to_date_nok": 1, "reason": "Faktura"}))
        .send()
        .await
        .assert_problem(403);
    let r = app
        .patch(&spath)
        .auth(MANAGE, Some(HSO))
        .header("If-Match", &format!("\"v{}\"", st["version"]))
        .json(&json!({"spent_to_date_nok": 400_000, "reason": "Faktura 1"}))
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.json()["spent_nok"], 400_000);
    assert_eq!(r.json()["unspent_nok"], 600_000);
    let v = r.json()["version"].clone();
    app.patch(&spath)
        .auth(MANAGE, Some(HSO))
        .header("If-Match", &format!("\"v{v}\""))
        .json(&json!({"spent_to_date_nok": 300_000, "reason": "Feil"}))
        .send()
        .await
        .assert_problem(409);
    let f = get(&app, &format!("/api/v1/budget-frames/{fid}")).await;
    assert_eq!(
        (&f["allocated_nok"], &f["spent_nok"]),
        (&json!(5_000_000), &json!(400_000))
    );

    // The board: in_progress → paused, not_started → paused, not_started → cancelled,
    // in_progress → cancelled (releases the unspent 600 000), a concept from the completed one.
    let case = decide_all(
        &app,
        vec![
            json!({"kind": "pause_study", "study_id": s[1]}),
            json!({"kind": "pause_study", "study_id": s[3]}),
            json!({"kind": "cancel_study", "study_id": s[4]}),
            json!({"kind": "cancel_study", "study_id": s[2]}),
            json!({"kind": "record_concept", "study_id": s[0], "title": "Tidlig ultralyd", "description": "Konsept"}),
        ],
    )
    .await;
    let concept = case["items"][4]["created_id"]
        .as_str()
        .expect("concept")
        .to_owned();
    for (i, want) in [
        (1, "paused"),
        (3, "paused"),
        (4, "cancelled"),
        (2, "cancelled"),
    ] {
        let study: Study = read(&app, &format!("/api/v1/concept-studies/{}", s[i])).await;
        assert_eq!(wire(&study.status), want, "study {i}");
    }
    let f: Frame = read(&app, &format!("/api/v1/budget-frames/{fid}")).await;
    assert_eq!(
        (f.allocated_nok, f.spent_nok, f.remaining_nok),
        (3_400_000, 400_000, 6_600_000),
        "cancelled studies gave back their unspent money"
    );
    let history = get(
        &app,
        &format!("/api/v1/budget-frames/{fid}/history?limit=200"),
    )
    .await;
    let released: Vec<i64> = history["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["action"] == "released")
        .map(|e| e["delta_nok"].as_i64().unwrap_or(0))
        .collect();
    assert_eq!(released, [-1_000_000, -600_000]);
    // A study's allocation cannot be released directly.
    let allocations = get(&app, &format!("/api/v1/budget-frames/{fid}/allocations")).await;
    let a = &allocations["items"][0];
    app.post(&format!(
        "/api/v1/budget-frames/{fid}/allocations/{}/release",
        a["id"].as_str().expect("id")
    ))
    .auth(MANAGE, Some(HSO))
    .header("If-Match", &format!("\"v{}\"", a["version"]))
    .json(&json!({"reason": "x"}))
    .send()
    .await
    .assert_problem(409);

    // Resume a paused one; other board changes that the state machine forbids.
    decide_all(
        &app,
        vec![json!({"kind": "resume_study", "study_id": s[1]})],
    )
    .await;
    let study: Study = read(&app, &format!("/api/v1/concept-studies/{}", s[1])).await;
    assert_eq!(wire(&study.status), "in_progress");
    for (item, needle) in [
        (
            json!({"kind": "resume_study", "study_id": s[1]}),
            "'in_progress' to 'in_progress'",
        ),
        (
            json!({"kind": "pause_study", "study_id": s[0]}),
            "'completed' to 'paused'",
        ),
        (
            json!({"kind": "cancel_study", "study_id": s[4]}),
            "'cancelled' to 'cancelled'",
        ),
        (
            json!({"kind": "resume_study", "study_id": s[4]}),
            "'cancelled' to 'in_progress'",
        ),
        (
            json!({"kind": "record_concept", "study_id": s[1], "title": "For tidlig"}),
            "completed study",
        ),
        (
            json!({"kind": "record_concept", "study_id": s[0], "title": "Igjen"}),
            "already has a concept",
        ),
        (
            json!({"kind": "change_concept_status", "concept_id": concept, "to": "active"}),
            "'active' to 'active'",
        ),
    ] {
        let c = prepare(&app, vec![item.clone()]).await;
        let before = snapshot(&app);
        let p = decide_with(&app, &c, vec![json!({"outcome": "approved"})])
            .await
            .problem(409);
        let d = &p.detail;
        assert!(
            d.starts_with("item 0 (") && d.contains(needle),
            "{item}: {d}"
        );
        assert_eq!(snapshot(&app), before, "{item}");
    }
    study_to(&app, &s[3], "in_progress")
        .await
        .assert_problem(409);

    // Concepts: active → paused → active → realised; realised is final.
    let cpath = format!("/api/v1/concepts/{concept}");
    let c = get(&app, &cpath).await;
    assert_eq!(c["status"], "active");
    assert_eq!(c["study_id"], s[0].as_str());
    assert_eq!(c["need"]["id"], needs[0].0.as_str());
    for to in ["paused", "active", "paused", "active", "realised"] {
        decide_all(
            &app,
            vec![json!({"kind": "change_concept_status", "concept_id": concept, "to": to})],
        )
        .await;
        assert_eq!(get(&app, &cpath).await["status"], to);
    }
    for to in ["active", "paused", "discontinued"] {
        let c = prepare(
            &app,
            vec![json!({"kind": "change_concept_status", "concept_id": concept, "to": to})],
        )
        .await;
        decide_with(&app, &c, vec![json!({"outcome": "approved"})])
            .await
            .assert_problem(409);
    }

    // Lineage both ways.
    let l = get(&app, &format!("/api/v1/needs/{}/lineage", needs[0].0)).await;
    assert_eq!(l["need"]["reference"], needs[0].1.as_str());
    assert_eq!(l["studies"][0]["id"], s[0].as_str());
    assert_eq!(l["studies"][0]["concept_id"], concept.as_str());
    assert_eq!(l["concepts"][0]["id"], concept.as_str());
    let study = get(&app, &format!("/api/v1/concept-studies/{}", s[0])).await;
    assert_eq!(study["concept_id"], concept.as_str());
    app.get("/api/v1/needs/00000000-0000-0000-0000-000000000000/lineage")
        .auth(READ, None)
        .send()
        .await
        .assert_problem(404);
    let l = get(&app, "/api/v1/concepts?status=realised").await;
    assert_eq!(l["items"].as_array().map(Vec::len), Some(1));
}
